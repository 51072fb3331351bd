"""Saving and loading explained models as signed, verifiable bundles.

A saved model is a directory (a *bundle*)::

    manifest.json     format version, library versions, settings, and every file below
                      with its SHA-256 and size
    model.skops       the fitted model (skops: no pickle; XGBoost / LightGBM boosters inside
                      it are stored through their own serialisation)
    background.json   the schema, the input profile and, depending on the method, nothing
                      more, a k-means summary, or (opt-in) the raw background rows
    catalog.json      the reason catalog      policy.json  the policy (if any)
    card.json         the model card (if any; the one file not in the manifest)

The bundle's fingerprint is ``"sha256:" + sha256(canonical manifest JSON)``; since the
manifest lists the digest of every other file, it covers the model, the policy, the catalog,
the reason settings and the background together. A loaded model's ``model_fingerprint_`` is
that fingerprint, and a model card signs it off.

:func:`load` trusts nothing it reads. Before the model file is unpacked it checks every file
against the manifest (a changed, missing or unlisted file is refused), and with
``require_sign_off=True`` verifies the card's sign-off over the fingerprint. The model file is
then checked against size limits and a closed allow-list of exact types
(``explainscore._safe_skops``) before skops builds anything. Pickle and joblib files are
refused unless the caller passes ``trust=True`` for that one file. Every refusal is a
:class:`ModelFileError` (or :class:`~explainscore.exceptions.NotSignedOffError`) naming the
file, type or limit, never quoting the file's content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._reference import (
    BackgroundStorage,
    ReferenceDocument,
    needs_rows,
    reference_document,
    reference_rows,
)
from ._safe_skops import LIMITS, ModelFileError, load_model_file
from ._version import __version__
from .exceptions import ExplainScoreWarning, NotSignedOffError, ParameterError

if TYPE_CHECKING:
    from .governance._keys import Keyring

__all__ = ["ModelFileError", "VersionMismatchWarning", "load", "save"]

#: Bundle format: 2 lists every file with its digest (format 1 covered only the model file).
FORMAT_VERSION: Literal[2] = 2
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".jbl")
_MODEL_FILE: Literal["model.skops"] = "model.skops"
#: The compiled form (``_compiled.COMPILED_FILE``; named here so reading it imports nothing).
COMPILED_FILE_NAME = "compiled.npz"
_MANIFEST = "manifest.json"
_CARD = "card.json"
#: Files a bundle may list, with the most bytes each may hold.
_FILE_LIMITS: Mapping[str, int] = {
    _MODEL_FILE: LIMITS.max_file_bytes,
    "background.json": 64 << 20,
    "catalog.json": 8 << 20,
    "policy.json": 8 << 20,
    # The engine without scikit-learn (``_compiled``), for the command line.
    COMPILED_FILE_NAME: LIMITS.max_file_bytes,
}
_REQUIRED = frozenset({_MODEL_FILE, "background.json", "catalog.json"})
_MAX_MANIFEST = 8 << 20
#: ``load`` overrides that change only how the model runs, not what it says or shows: they
#: keep the sign-off. Every other ExplainedModel parameter voids it.
RUNTIME_OVERRIDES = frozenset(
    {"audit_log", "kill_switch", "review", "review_queue", "on_pause", "top_k"}
)


def _content_overrides() -> frozenset[str]:
    """Parameters whose change rebuilds what the model says or shows (the engine's own list,
    less the two that govern the door rather than the model): overriding one voids the
    sign-off."""
    from ._engine import ENGINE_PARAMS

    return ENGINE_PARAMS - {"require_sign_off", "trusted_keys"}


_STORAGE_CHOICES = ("auto", "none", "summary", "raw")


class VersionMismatchWarning(ExplainScoreWarning):
    """The model was saved with other library versions than the ones installed now."""


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Params(BaseModel):
    """The ExplainedModel settings a bundle carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int
    method: str
    output_space: str
    target_class: str | int | float | bool | None
    #: The output column of a multi-output regressor (absent in bundles before it existed).
    target: int | None = None
    n_background: int
    random_state: int
    model_version: str | None
    method_options: dict[str, Any]
    reasons: dict[str, Any] | None
    #: The score bands derived from the training scores (used when ``reasons`` sets none);
    #: absent in bundles saved before bands were derived, which keep the fixed 0.5 / 0.2.
    score_bands: dict[str, Any] | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[2]
    explainscore_version: str
    library_versions: dict[str, str]
    created_at: str
    model_file: Literal["model.skops"]
    feature_names: list[str]
    params: Params
    background_storage: BackgroundStorage
    files: dict[str, FileEntry]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def bundle_fingerprint(manifest: Mapping[str, Any]) -> str:
    """``"sha256:" + sha256(canonical JSON of the manifest)``: what a model card signs."""
    return "sha256:" + _digest(_canonical(manifest))


# --- saving --------------------------------------------------------------------------------


def save(
    explained: Any,
    path: str | Path,
    *,
    overwrite: bool = False,
    background: Literal["auto", "none", "summary", "raw"] = "auto",
) -> Path:
    """Save a fitted :class:`~explainscore.ExplainedModel` to the directory ``path``.

    Parameters
    ----------
    explained : ExplainedModel
        A fitted model (``fit`` called, or a prefit model explained once).
    path : str or Path
        The bundle directory. Created if needed.
    overwrite : bool, default=False
        Replace the bundle files of an existing directory (a directory holding other files
        is refused).
    background : {"auto", "none", "summary", "raw"}, default="auto"
        What the bundle keeps of the background rows. ``"auto"``: nothing beyond the schema
        for path-dependent tree explanations, a k-means summary for the methods that average
        over background rows. ``"none"`` is only possible for the former. ``"raw"`` stores
        the rows themselves (they are training data: leads' personal data); the manifest, the
        loaded model's ``background_storage_`` and its model card then say so.

    Returns
    -------
    Path
        The directory. Its fingerprint (what a model card signs) is the loaded model's
        ``model_fingerprint_``.
    """
    from ._compiled import COMPILED_FILE, compiled_bytes
    from ._lib_versions import library_versions
    from ._model import ExplainedModel
    from ._optional import import_optional
    from .reasons._catalog import as_catalog

    if not isinstance(explained, ExplainedModel) or not hasattr(explained, "model_"):
        raise ParameterError(
            "The 'explained' parameter of save must be a fitted ExplainedModel "
            "(call fit or explain first)."
        )
    if background not in _STORAGE_CHOICES:
        raise ParameterError(
            "The 'background' parameter of save must be one of "
            f"{', '.join(repr(c) for c in _STORAGE_CHOICES)}. Got {background!r} instead."
        )
    storage: BackgroundStorage
    rows_needed = needs_rows(explained)
    if background == "auto":
        storage = "summary" if rows_needed else "none"
    elif background == "none" and rows_needed:
        raise ParameterError(
            f"save(background='none') refused: method={explained.method_!r} in "
            f"output_space={explained.output_space_!r} averages over background rows. Use "
            "background='summary' (default) or 'raw'."
        )
    else:
        storage = background
    sio = import_optional("skops.io", extra="skops", purpose="explainscore.save")
    target = Path(path)
    _prepare_directory(target, overwrite=overwrite)

    files: dict[str, bytes] = {_MODEL_FILE: sio.dumps(explained.model_)}
    document = reference_document(explained, storage, random_state=explained.random_state)
    files["background.json"] = document.model_dump_json(indent=1).encode("utf-8")
    files["catalog.json"] = as_catalog(explained.catalog).model_dump_json(indent=1).encode()
    if explained.policy is not None:
        files["policy.json"] = explained.policy.model_dump_json(indent=1).encode("utf-8")
    compiled = compiled_bytes(explained)
    if compiled is not None:
        files[COMPILED_FILE] = compiled
    params = Params(
        top_k=explained.top_k,
        method=explained.method,
        output_space=explained.output_space,
        target_class=_jsonable(explained.target_class),
        target=None if explained.target is None else int(explained.target),
        n_background=explained.n_background,
        random_state=explained.random_state,
        model_version=explained.model_version,
        method_options=dict(explained.method_options or {}),
        reasons=None if explained.reasons is None else explained.reasons.model_dump(mode="json"),
        score_bands=explained._default_bands.model_dump(mode="json"),
    )
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        explainscore_version=__version__,
        library_versions=library_versions(),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        model_file=_MODEL_FILE,
        feature_names=[str(f) for f in explained.feature_names_in_],
        params=params,
        background_storage=storage,
        files={
            name: FileEntry(sha256=_digest(data), size=len(data)) for name, data in files.items()
        },
    )
    for name, data in files.items():
        (target / name).write_bytes(data)
    if explained.card is not None:
        explained.card.save(target / _CARD)
    # The manifest last: a save that stops half way leaves no loadable bundle.
    (target / _MANIFEST).write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    return target


def _prepare_directory(target: Path, *, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ParameterError(f"save refused: {target} exists and is not a directory.")
    existing = sorted(p.name for p in target.iterdir()) if target.exists() else []
    if existing and not overwrite:
        raise ParameterError(
            f"save refused: {target} exists and is not empty; pass overwrite=True to replace."
        )
    ours = {*_FILE_LIMITS, _MANIFEST, _CARD}
    foreign = [name for name in existing if name not in ours]
    if foreign:
        raise ParameterError(
            f"save refused: {target} holds {len(foreign)} file(s) that are not part of an "
            "explainscore bundle; overwrite=True replaces only a bundle. Choose another "
            "directory."
        )
    target.mkdir(parents=True, exist_ok=True)
    for name in existing:
        (target / name).unlink()


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# --- loading -------------------------------------------------------------------------------


def load(
    path: str | Path,
    *,
    trust: bool = False,
    on_version_mismatch: Literal["warn", "error"] = "warn",
    require_sign_off: bool = False,
    trusted_keys: Keyring | str | Path | None = None,
    **overrides: Any,
) -> Any:
    """Load an explained model saved with :func:`save`.

    Parameters
    ----------
    path : str or Path
        The saved directory (or, with ``trust=True``, a pickle/joblib file of an
        ExplainedModel).
    trust : bool, default=False
        Allow this one file to build object types outside explainscore's allow-list, or to be
        a pickle. Only for files you made yourself or received from someone you trust: a
        trusted file can run any code. The bundle checks and size limits still apply.
    on_version_mismatch : {"warn", "error"}, default="warn"
        What to do when the saving library versions differ from the installed ones.
    require_sign_off : bool, default=False
        Refuse a bundle whose card (``card.json``) carries no sign-off that verifies, with a
        key in ``trusted_keys``, for the bundle's fingerprint. Checked before the model file
        is unpacked.
    trusted_keys : Keyring, str, Path or None, default=None
        The approvers' public keys (a keyring file); None reads the file named by the
        ``EXPLAINSCORE_TRUSTED_KEYS`` environment variable.
    **overrides
        ExplainedModel parameters to set on the loaded model. Runtime ones (``audit_log``,
        ``kill_switch``, ``review``, ``review_queue``, ``on_pause``, ``top_k``) keep the
        sign-off. Any other (``catalog``, ``policy``, ``reasons``, ``method``,
        ``output_space``, ``background``, ...) changes what the model says or shows, so it
        voids the sign-off: refused with ``require_sign_off=True``, and otherwise the loaded
        model has no card (``signed_off_`` is False).

    Returns
    -------
    ExplainedModel
        With ``model_fingerprint_`` the bundle fingerprint and ``background_storage_`` one of
        ``"none"``, ``"summary"``, ``"raw"``.

    Raises
    ------
    ModelFileError
        A file is missing, changed, unlisted, corrupted, too large, or would build a type
        outside the allow-list.
    NotSignedOffError
        ``require_sign_off=True`` and the card does not verify, or an override voids it.
    """
    target = Path(path)
    if target.suffix.lower() in _PICKLE_SUFFIXES:
        if require_sign_off:
            # A pickle has no manifest for a card to sign, and unpickling would run its code
            # before any check: a production door takes signed bundles only.
            raise NotSignedOffError(
                f"explainscore.load refused: {target.name} is a pickle/joblib file, which "
                "cannot carry a sign-off. Save the model with explainscore.save and have the "
                "bundle signed off (explainscore card, explainscore sign-off); for development "
                "only, load without require_sign_off and with trust=True."
            )
        return _load_pickle(target, trust=trust)
    if not target.is_dir():
        raise ModelFileError(f"No saved model at {target}: expected a directory from save().")
    bundle = _open_bundle(
        target,
        overrides,
        require_sign_off=require_sign_off,
        trusted_keys=trusted_keys,
        on_version_mismatch=on_version_mismatch,
    )
    return _full_model(
        bundle,
        trust=trust,
        require_sign_off=require_sign_off,
        trusted_keys=trusted_keys,
        overrides=overrides,
    )


@dataclass(frozen=True)
class _Bundle:
    """A saved directory after every check that runs before the model file is unpacked."""

    manifest: Manifest
    data: Mapping[str, bytes]  # every listed file, its digest checked
    fingerprint: str
    card: Any
    side: Mapping[str, Any]  # catalog, policy, background
    content: set[str]  # the overrides that change what the model says


def _open_bundle(
    target: Path,
    overrides: Mapping[str, Any],
    *,
    require_sign_off: bool,
    trusted_keys: Keyring | str | Path | None,
    on_version_mismatch: str,
) -> _Bundle:
    """Manifest, listed files and their digests, the sign-off, versions and side files."""
    content = _check_overrides(overrides)
    raw_manifest, manifest = _read_manifest(target)
    data = _read_listed_files(target, manifest)
    fingerprint = bundle_fingerprint(raw_manifest)
    card = _read_card(target)
    if require_sign_off:
        _check_sign_off(card, fingerprint, content, trusted_keys)
    _check_versions(manifest, on_version_mismatch)
    return _Bundle(manifest, data, fingerprint, card, _read_side_files(data), content)


def _full_model(
    bundle: _Bundle,
    *,
    trust: bool,
    require_sign_off: bool,
    trusted_keys: Keyring | str | Path | None,
    overrides: Mapping[str, Any],
) -> Any:
    """The ExplainedModel of an opened bundle: ``model.skops`` unpacked from the bytes
    whose digest was checked (never read again from the directory)."""
    model = load_model_file(bundle.data[_MODEL_FILE], name=_MODEL_FILE, trust=trust)
    return _assemble(
        model,
        bundle.manifest,
        bundle.side,
        card=None if bundle.content else bundle.card,
        fingerprint=bundle.fingerprint,
        require_sign_off=require_sign_off,
        trusted_keys=trusted_keys,
        overrides=overrides,
    )


def load_for_batch(
    path: str | Path,
    *,
    trust: bool = False,
    require_sign_off: bool = False,
    trusted_keys: Keyring | str | Path | None = None,
    **overrides: Any,
) -> Any:
    """:func:`load`, or the bundle's compiled form (``_compiled``) when it has one and the
    overrides keep it (``top_k``, ``catalog``): what ``explainscore explain`` runs.

    The same checks as :func:`load` run first (manifest, every file's digest, the sign-off,
    library versions); then no scikit-learn is imported unless a row needs the full model.
    """
    target = Path(path)
    if (
        target.suffix.lower() in _PICKLE_SUFFIXES
        or not target.is_dir()
        or not set(overrides) <= {"top_k", "catalog"}
    ):
        return load(target, trust=trust, require_sign_off=require_sign_off,
                    trusted_keys=trusted_keys, **overrides)  # fmt: skip
    bundle = _open_bundle(
        target,
        overrides,
        require_sign_off=require_sign_off,
        trusted_keys=trusted_keys,
        on_version_mismatch="warn",
    )

    def full() -> Any:
        return _full_model(
            bundle,
            trust=trust,
            require_sign_off=require_sign_off,
            trusted_keys=trusted_keys,
            overrides=overrides,
        )

    if COMPILED_FILE_NAME not in bundle.manifest.files:
        return full()
    from ._compiled import open_compiled
    from ._params import check_int
    from .reasons._catalog import as_catalog

    top_k = overrides.get("top_k", bundle.manifest.params.top_k)
    check_int(top_k, "top_k", "ExplainedModel", low=1)
    catalog = as_catalog(overrides["catalog"]) if "catalog" in overrides else bundle.side["catalog"]
    # An override that changes what the model says voids its card (as ``load`` does).
    card = None if bundle.content else bundle.card
    fingerprint = bundle.fingerprint
    signed_off = require_sign_off or (
        card is not None and card.is_signed_off(fingerprint, keyring=trusted_keys)
    )
    version = bundle.manifest.params.model_version or fingerprint.split(":")[1][:12]
    return open_compiled(
        bundle.data[COMPILED_FILE_NAME],
        catalog=catalog,
        policy=bundle.side["policy"],
        fingerprint=fingerprint,
        version=version,
        top_k=top_k,
        signed_off=signed_off,
        full=full,  # the bytes already checked: a fallback reads nothing again
    )


def _check_sign_off(
    card: Any, fingerprint: str, content: set[str], trusted_keys: Keyring | str | Path | None
) -> None:
    """Refuse a bundle whose sign-off does not verify, or that an override voids."""
    if content:
        raise NotSignedOffError(
            "explainscore.load refused: the override(s) "
            f"{', '.join(repr(n) for n in sorted(content))} change what the signed model "
            "says or shows, which voids its sign-off. Save the changed model and have it "
            "signed off, or load without require_sign_off (development only). Overrides "
            f"that keep the sign-off: {', '.join(sorted(RUNTIME_OVERRIDES))}."
        )
    from .governance._card import check_signed_off

    # Before the model file is unpacked: an unsigned bundle runs nothing of its own.
    check_signed_off(card, fingerprint, where="explainscore.load", keyring=trusted_keys)


def _check_overrides(overrides: Mapping[str, Any]) -> set[str]:
    unknown = sorted(set(overrides) - RUNTIME_OVERRIDES - _content_overrides())
    if unknown:
        raise ParameterError(
            f"load got unknown override(s) {', '.join(repr(str(u)) for u in unknown)}. It "
            "takes the ExplainedModel parameters "
            f"{', '.join(sorted(RUNTIME_OVERRIDES | _content_overrides()))}."
        )
    return set(overrides) & _content_overrides()


def _read_bounded(path: Path, limit: int, label: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (no symlink, no device)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise ModelFileError(f"The saved model at {path.parent} has no {label}.") from None
    except OSError as exc:
        raise ModelFileError(f"{label} cannot be read ({exc.strerror}).") from None
    if not _is_regular(info.st_mode):
        raise ModelFileError(
            f"{label} in {path.parent} is not a regular file (a link or a device); refusing it."
        )
    if info.st_size > limit:
        raise ModelFileError(f"{label} is larger than {limit} bytes; refusing to load it.")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ModelFileError(f"{label} cannot be read ({exc.strerror}).") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"{label} is larger than {limit} bytes; refusing to load it.")
    return data


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _read_manifest(target: Path) -> tuple[dict[str, Any], Manifest]:
    raw = _read_bounded(target / _MANIFEST, _MAX_MANIFEST, _MANIFEST)
    try:
        document = json.loads(raw)
    except (RecursionError, UnicodeDecodeError, ValueError):
        raise ModelFileError(
            f"{_MANIFEST} in {target} is not a valid explainscore manifest (truncated or "
            "corrupted)."
        ) from None
    version = document.get("format_version") if isinstance(document, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version < FORMAT_VERSION:
        raise ModelFileError(
            f"The saved model at {target} uses bundle format {version}, whose fingerprint "
            "covers only the model file, not its policy, catalog and settings. explainscore "
            f"{__version__} loads format {FORMAT_VERSION} only: save the model again with "
            "explainscore.save (from its source, or after loading it with the explainscore "
            "version that wrote it), then have the new bundle signed off."
        )
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError:
        raise ModelFileError(
            f"{_MANIFEST} in {target} is not a valid explainscore manifest (truncated or "
            "corrupted)."
        ) from None
    unknown = sorted(set(manifest.files) - set(_FILE_LIMITS))
    missing = sorted(_REQUIRED - set(manifest.files))
    if unknown or missing:
        raise ModelFileError(
            f"{_MANIFEST} in {target} lists files a bundle does not hold, or lacks "
            f"{', '.join(missing) or 'none'}; it is not a manifest explainscore.save wrote."
        )
    return document, manifest


def _read_listed_files(target: Path, manifest: Manifest) -> dict[str, bytes]:
    """Every listed file, checked against its size and digest; unlisted files refused."""
    allowed = {*manifest.files, _MANIFEST, _CARD}
    try:
        present = sorted(entry.name for entry in os.scandir(target))
    except OSError as exc:
        raise ModelFileError(f"{target} cannot be listed ({exc.strerror}).") from None
    extra = [name for name in present if name not in allowed]
    if extra:
        raise ModelFileError(
            f"The saved model at {target} holds {len(extra)} file(s) its manifest does not "
            f"list ({_names(extra)}); refusing to load it. A bundle holds only the files "
            "explainscore.save wrote (and card.json): remove the others, or save again."
        )
    data: dict[str, bytes] = {}
    for name, entry in sorted(manifest.files.items()):
        if name not in present:
            raise ModelFileError(
                f"The saved model at {target} has no {name}, which its manifest lists; the "
                "bundle was changed after it was saved. Save the model again."
            )
        content = _read_bounded(target / name, _FILE_LIMITS[name], name)
        if len(content) != entry.size or _digest(content) != entry.sha256:
            raise ModelFileError(
                f"{name} changed after it was saved (its size or SHA-256 differs from the "
                "manifest's); refusing to load the bundle. Save the model again from its "
                "source."
            )
        data[name] = content
    return data


def _names(names: list[str]) -> str:
    from ._safe_skops import _shown

    shown = [_shown(n) if n.isprintable() else "(an unprintable name)" for n in names[:5]]
    return ", ".join(shown) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _read_card(target: Path) -> Any:
    path = target / _CARD
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None  # before the import: a bundle without a card never loads the card code
    if not _is_regular(info.st_mode):
        raise ModelFileError(f"{_CARD} in {target} is not a regular file; refusing it.")
    from .governance._card import ModelCard

    return ModelCard.load(path)


def _read_side_files(data: Mapping[str, bytes]) -> dict[str, Any]:
    """Catalog, policy and background, parsed; a malformed one is a typed error."""
    from .governance._policy import Policy
    from .reasons._catalog import Catalog

    side: dict[str, Any] = {
        "catalog": _parse(Catalog, data["catalog.json"], "catalog.json", "reason catalog"),
        "policy": None,
        "background": _parse(
            ReferenceDocument, data["background.json"], "background.json", "background"
        ),
    }
    if "policy.json" in data:
        side["policy"] = _parse(Policy, data["policy.json"], "policy.json", "policy")
    return side


def _parse(model: type[BaseModel], raw: bytes, name: str, what: str) -> Any:
    try:
        return model.model_validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        raise ModelFileError(
            f"{name} is not a valid explainscore {what} (fields missing or malformed); the "
            "bundle is corrupted. Save the model again."
        ) from None


def _assemble(
    model: Any,
    manifest: Manifest,
    side: Mapping[str, Any],
    *,
    card: Any,
    fingerprint: str,
    require_sign_off: bool,
    trusted_keys: Any,
    overrides: Mapping[str, Any],
) -> Any:
    from ._model import ExplainedModel
    from .reasons._config import ReasonConfig, ScoreBands

    document: ReferenceDocument = side["background"]
    if [c.name for c in document.columns] != manifest.feature_names:
        raise ModelFileError(
            "background.json does not describe the manifest's columns; the bundle is "
            "corrupted. Save the model again."
        )
    try:
        rows, reference = reference_rows(document)
    except (ValueError, TypeError, OverflowError):
        raise ModelFileError(
            "background.json holds rows that do not fit its columns; the bundle is "
            "corrupted. Save the model again."
        ) from None
    params = manifest.params
    try:
        reasons = None if params.reasons is None else ReasonConfig.model_validate(params.reasons)
        saved = params.score_bands
        bands = ScoreBands() if saved is None else ScoreBands.model_validate(saved)
    except ValidationError:
        raise ModelFileError(
            f"{_MANIFEST} holds reason settings that are not valid; save the model again."
        ) from None
    # background=None: the stored rows (a summary, or rows synthesized from the profile) are
    # what this model was prepared with, not rows a clone should be refitted with.
    explained = ExplainedModel(
        model,
        background=None,
        top_k=params.top_k,
        method=params.method,
        output_space=params.output_space,
        target_class=params.target_class,
        target=params.target,
        n_background=params.n_background,
        catalog=side["catalog"],
        reasons=reasons,
        model_version=params.model_version,
        policy=side["policy"],
        card=card,
        require_sign_off=require_sign_off,
        trusted_keys=trusted_keys,
        method_options=params.method_options,
        random_state=params.random_state,
    )
    for name, value in overrides.items():
        setattr(explained, name, value)
    if "background" in overrides:
        explained._build_from_file(
            model, overrides["background"], fingerprint=fingerprint, default_bands=bands
        )
    else:
        explained._build_from_file(
            model, rows, fingerprint=fingerprint, reference=reference, default_bands=bands
        )
        if document.storage == "none" and needs_rows(explained):
            raise ParameterError(
                f"This bundle stores no background rows (its method needed none), but "
                f"method={explained.method_!r} in output_space={explained.output_space_!r} "
                "averages over background rows. Pass background=rows to load, or save the "
                "model with background='summary'."
            )
    explained.background_storage_ = manifest.background_storage
    return explained


_VERSION_TEXT = re.compile(r"[A-Za-z0-9_.+-]{1,40}")


def _check_versions(manifest: Manifest, policy: str) -> None:
    from ._lib_versions import library_versions

    now = library_versions()
    diffs: list[str] = []
    for name, saved in sorted(manifest.library_versions.items()):
        if now.get(name) == saved:
            continue
        if _VERSION_TEXT.fullmatch(name) and _VERSION_TEXT.fullmatch(saved):
            diffs.append(f"{name} {saved} -> {now.get(name, 'not installed')}")
        elif "(an entry that is not a library version)" not in diffs:
            diffs.append("(an entry that is not a library version)")
    if not diffs:
        return
    message = "The model was saved with other library versions: " + "; ".join(diffs) + "."
    if policy == "error":
        raise ModelFileError(message + " Refusing to load (on_version_mismatch='error').")
    warnings.warn(message, VersionMismatchWarning, stacklevel=3)


def _load_pickle(path: Path, *, trust: bool) -> Any:
    from ._model import ExplainedModel

    if not trust:
        raise ModelFileError(
            f"{path.name} is a pickle/joblib file, which can run any code when loaded. "
            "explainscore refuses it unless you pass trust=True for this file (the CLI: "
            "--trust-pickle); prefer explainscore.save, which writes a safe format."
        )
    import joblib

    obj = joblib.load(path)
    if not isinstance(obj, ExplainedModel):
        raise ModelFileError(f"{path.name} does not hold an ExplainedModel.")
    return obj
