"""Policy: features that must never be used (blocked) or never be named to a rep (hidden).

A :class:`Policy` fails closed: wrapping or fitting a model whose inputs include a blocked
feature raises :class:`~explainscore.exceptions.PolicyViolationError` — also when the feature
reaches the model through a Pipeline's ColumnTransformer, whose output names are checked too.

Error messages never name a blocked or hidden feature (a message may be logged where the
policy itself must not be readable); they name the policy version and the entry's position in
the blocked list instead, which is enough for the policy's owner to act.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..exceptions import ParameterError, PolicyViolationError

__all__ = ["Policy"]


class Policy(BaseModel):
    """Which features a model may not use and which it may use but never show.

    Parameters
    ----------
    blocked : tuple of str
        Raw columns that must never be a model input (health, ethnicity, religion, age
        where not allowed, ...). Matching is case-insensitive.
    hidden : tuple of str
        Raw columns a model may use but that are never named in reasons, reason codes, CRM
        exports, audit record text or error messages.
    version : str
        Recorded with every explanation and audit record.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "1"
    blocked: tuple[str, ...] = Field(default=())
    hidden: tuple[str, ...] = Field(default=())

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Load a policy from a ``.json``, ``.yaml`` or ``.yml`` file."""
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() in (".yaml", ".yml"):
            from .._optional import import_optional

            data = import_optional("yaml", extra="yaml", purpose="a YAML policy").safe_load(text)
        else:
            data = json.loads(text)
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ParameterError(f"The policy is not valid: {where}: {err['msg']}") from exc

    def _blocked_index(self, name: str) -> int | None:
        key = name.lower()
        for i, blocked in enumerate(self.blocked):
            b = blocked.lower()
            # Transformed names look like "num__age" or "cat__job_admin.": a blocked raw
            # column counts when it is one of the "__"-separated parts, or a part's prefix
            # followed by the encoder's "_" separator.
            parts = key.split("__")
            if key == b or any(p == b or p.startswith(b + "_") for p in parts[1:]):
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

    def is_blocked(self, name: str) -> bool:
        return self._blocked_index(name) is not None
