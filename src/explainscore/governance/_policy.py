"""Policy: features that must never be used (blocked) or never be named to a rep (hidden).

A :class:`Policy` fails closed: wrapping or fitting a model whose inputs include a blocked
feature raises :class:`~explainscore.exceptions.PolicyViolationError` — also when the feature
reaches the model through a Pipeline's ColumnTransformer, whose output names are checked too,
and when the model's columns have no names at all (then nothing can be checked).

Names are compared the way a person reads them, after
:func:`~explainscore.governance._identity.skeleton`: Unicode NFKC, case folding, invisible
characters removed, white space trimmed, and look-alike characters (a Cyrillic "a" U+0430, a
full-width "A" U+FF21) mapped to one letter. So ``hidden=["ZIP_CODE"]`` hides ``zip_code``, and
a blocked ``age`` is refused as ``" age"``, ``"age "``, in full-width letters or with a
Cyrillic "a". Two different columns that merely look alike are both blocked (or hidden): the
policy errs on the side of refusing.

Error messages never name a blocked or hidden feature (a message may be logged where the
policy itself must not be readable); they name the policy version and the entry's position in
the blocked list instead, which is enough for the policy's owner to act.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..exceptions import ParameterError, PolicyViolationError
from ._identity import skeleton

__all__ = ["Policy"]

#: A policy file larger than this is refused unread (a policy is a few lines).
_MAX_FILE_BYTES = 1 << 20


class Policy(BaseModel):
    """Which features a model may not use and which it may use but never show.

    Parameters
    ----------
    blocked : tuple of str
        Raw columns that must never be a model input (health, ethnicity, religion, age
        where not allowed, ...). Matched after Unicode NFKC, case folding, trimming and
        mapping look-alike characters, as a column or as a part of a transformed column name
        (``num__age``, ``cat__age_40-49``).
    hidden : tuple of str
        Raw columns a model may use but that are never named in reasons, reason codes, CRM
        exports, audit record text or error messages. Matched like ``blocked`` names.
    version : str
        Recorded with every explanation and audit record.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "1"
    blocked: tuple[str, ...] = Field(default=())
    hidden: tuple[str, ...] = Field(default=())

    @field_validator("blocked", "hidden")
    @classmethod
    def _named(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for i, name in enumerate(names):
            if not skeleton(name):
                # An entry that is only spaces or invisible characters would match nothing.
                raise ValueError(f"entry {i + 1} is empty; every entry must name a column")
        return names

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Load a policy from a ``.json``, ``.yaml`` or ``.yml`` file.

        Raises
        ------
        ParameterError
            The file is missing, too large, not JSON / YAML, or not a valid policy (the
            message names the file and the field, never the file's text).
        """
        p = Path(path)
        try:
            if p.stat().st_size > _MAX_FILE_BYTES:
                raise ParameterError(
                    f"The policy file {p.name!r} is larger than {_MAX_FILE_BYTES} bytes; a "
                    "policy lists column names and a version."
                )
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError(
                f"The policy file {p.name!r} cannot be read as UTF-8 text "
                f"({type(exc).__name__}). Check the path and the file."
            ) from None
        try:
            if p.suffix.lower() in (".yaml", ".yml"):
                from .._optional import import_optional

                yaml = import_optional("yaml", extra="yaml", purpose="a YAML policy")
                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except ParameterError:
            raise
        except Exception:  # JSON and YAML parse errors quote the text: none of it is echoed
            kind = "YAML" if p.suffix.lower() in (".yaml", ".yml") else "JSON"
            raise ParameterError(
                f"The policy file {p.name!r} is not valid {kind}. Write it as "
                '{"version": "1", "blocked": [...], "hidden": [...]}.'
            ) from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        """Validate a mapping (``version``, ``blocked``, ``hidden``) into a policy."""
        if not isinstance(data, Mapping):
            raise ParameterError(
                "The policy is not valid: it must be a mapping with 'version', 'blocked' and "
                f"'hidden'. Got a {type(data).__name__} instead."
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ParameterError(f"The policy is not valid: {where}: {err['msg']}") from None

    # --- matching --------------------------------------------------------------------------

    def _blocked_index(self, name: str) -> int | None:
        key = skeleton(name)
        # Transformed names look like "num__age" or "cat__job_admin.": a blocked raw column
        # counts when it is one of the "__"-separated parts, or a part's prefix followed by
        # the encoder's "_" separator. Each part is compared after its own trimming, so
        # "num__ age" (a column " age" through a transformer) is caught too.
        parts = [skeleton(p) for p in key.split("__")[1:]] if "__" in key else []
        for i, b in enumerate(_skeletons(self.blocked)):
            if key == b or any(p == b or p.startswith(b + "_") for p in parts):
                return i
        return None

    def check_inputs(self, names: Iterable[str], *, where: str) -> None:
        """Raise :class:`PolicyViolationError` when any name is (or encodes) a blocked feature."""
        for name in names:
            index = self._blocked_index(str(name))
            if index is not None:
                raise PolicyViolationError(
                    f"{where} refused: an input of the model is blocked by policy version "
                    f"{self.version!r} (blocked entry {index + 1}). Remove that column from "
                    "the model's inputs and retrain; blocked features may not be used at all.",
                    policy_version=self.version,
                    entry=index + 1,
                )

    def check_named(self, named: bool, *, where: str) -> None:
        """Refuse a model whose columns have no names when this policy lists any feature.

        A model fitted on an array knows its columns as ``x0, x1, ...``: no blocked or hidden
        name can be matched against them, so the policy could not be enforced (fail closed).
        """
        if named or not (self.blocked or self.hidden):
            return
        raise PolicyViolationError(
            f"{where} refused: the model's columns have no names (it was fitted on an array, "
            f"so they are known only as x0, x1, ...), and policy version {self.version!r} "
            "lists blocked or hidden features that cannot be checked without them. Name the "
            "columns: fit the model on a pandas DataFrame with named columns, or pass "
            "background= as a DataFrame whose columns name the model's inputs in order.",
            policy_version=self.version,
        )

    def blocked_entry(self, name: str) -> int | None:
        """The 1-based position of the blocked entry ``name`` matches, or None."""
        index = self._blocked_index(name)
        return None if index is None else index + 1

    def is_blocked(self, name: str) -> bool:
        """Whether ``name`` is, or encodes, a blocked feature (any spelling of it)."""
        return self._blocked_index(name) is not None

    def is_hidden(self, name: str) -> bool:
        """Whether ``name`` is a hidden feature (any spelling of it)."""
        return bool(self.hidden) and skeleton(name) in _skeleton_set(self.hidden)

    def is_secret(self, name: str) -> bool:
        """Whether ``name`` may not be written in any output: hidden or blocked."""
        return self.is_hidden(name) or self.is_blocked(name)


@functools.lru_cache(maxsize=256)
def _skeletons(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(skeleton(n) for n in names)


@functools.lru_cache(maxsize=256)
def _skeleton_set(names: Sequence[str]) -> frozenset[str]:
    return frozenset(_skeletons(names))
