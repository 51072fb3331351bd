"""Saving and loading explained models in safe formats.

A saved model is a directory::

    manifest.json     format version, library versions, fingerprint, schema, settings
    model.skops       the fitted model (skops: no pickle; XGBoost / LightGBM boosters inside
                      it are stored through their own serialisation)
    background.json   the background rows
    catalog.json      the reason catalog      policy.json  the policy (if any)
    card.json         the model card (if any)

Loading never executes code from the file: skops builds only the object types explainscore
allows (scikit-learn, NumPy, XGBoost and LightGBM models); any other type is refused with a
message listing it, unless ``trust=True``. Pickle and joblib files are refused unless the caller
passes ``trust=True`` for that one file. The fingerprint is the SHA-256 of the model file; a
model file changed after saving is refused, and a model card signs off exactly that digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from ._optional import import_optional
from ._version import __version__
from .exceptions import ExplainScoreError, ExplainScoreWarning, ParameterError

__all__ = ["ModelFileError", "VersionMismatchWarning", "load", "save"]

FORMAT_VERSION = 1
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".jbl")
#: Types skops may build on load, besides the ones it trusts itself (scikit-learn, NumPy).
_ALLOWED_PREFIXES = ("xgboost.core.Booster", "xgboost.sklearn.", "lightgbm.basic.Booster",
                     "lightgbm.sklearn.", "collections.OrderedDict")  # fmt: skip


class ModelFileError(ExplainScoreError, ValueError):
    """A saved model cannot be loaded: missing, truncated, corrupted, changed or unsafe."""


class VersionMismatchWarning(ExplainScoreWarning):
    """The model was saved with other library versions than the ones installed now."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int
    explainscore_version: str
    library_versions: dict[str, str]
    created_at: str
    model_file: str
    model_sha256: str
    feature_names: list[str]
    params: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def save(explained: Any, path: str | Path, *, overwrite: bool = False) -> Path:
    """Save a fitted :class:`~explainscore.ExplainedModel` to the directory ``path``.

    Returns the directory. The model's fingerprint becomes the SHA-256 of ``model.skops``.
    """
    from ._model import ExplainedModel
    from .governance._card import library_versions

    if not isinstance(explained, ExplainedModel) or not hasattr(explained, "model_"):
        raise ParameterError(
            "The 'explained' parameter of save must be a fitted ExplainedModel "
            "(call fit or explain first)."
        )
    sio = import_optional("skops.io", extra="skops", purpose="explainscore.save")
    target = Path(path)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ParameterError(
            f"save refused: {target} exists and is not empty; pass overwrite=True to replace."
        )
    target.mkdir(parents=True, exist_ok=True)
    model_path = target / "model.skops"
    sio.dump(explained.model_, model_path)
    explained.background_.to_json(target / "background.json", orient="split", index=False)
    from .reasons._catalog import as_catalog

    (target / "catalog.json").write_text(
        as_catalog(explained.catalog).model_dump_json(indent=1), encoding="utf-8"
    )
    if explained.policy is not None:
        (target / "policy.json").write_text(explained.policy.model_dump_json(indent=1))
    if explained.card is not None:
        explained.card.save(target / "card.json")
    params = {
        "top_k": explained.top_k,
        "method": explained.method,
        "output_space": explained.output_space,
        "target_class": _jsonable(explained.target_class),
        "n_background": explained.n_background,
        "random_state": explained.random_state,
        "model_version": explained.model_version,
        "method_options": dict(explained.method_options or {}),
        "reasons": None if explained.reasons is None else explained.reasons.model_dump(),
        "dtypes": {c: str(t) for c, t in explained.background_.dtypes.items()},
    }
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        explainscore_version=__version__,
        library_versions=library_versions(),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        model_file=model_path.name,
        model_sha256=_sha256(model_path),
        feature_names=[str(f) for f in explained.feature_names_in_],
        params=params,
    )
    (target / "manifest.json").write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    return target


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def load(
    path: str | Path,
    *,
    trust: bool = False,
    on_version_mismatch: Literal["warn", "error"] = "warn",
    require_sign_off: bool = False,
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
        a pickle. Only for files you made yourself or received from someone you trust.
    on_version_mismatch : {"warn", "error"}, default="warn"
        What to do when the saving library versions differ from the installed ones.
    require_sign_off : bool, default=False
        Refuse a model whose card (``card.json``) does not sign off its fingerprint.
    **overrides
        ExplainedModel parameters to set on the loaded model (``audit_log``, ``kill_switch``,
        ``review`` ...).

    Returns
    -------
    ExplainedModel
    """
    from ._model import ExplainedModel

    target = Path(path)
    if target.suffix.lower() in _PICKLE_SUFFIXES:
        return _load_pickle(target, trust=trust)
    if not target.is_dir():
        raise ModelFileError(f"No saved model at {target}: expected a directory from save().")
    manifest = _read_manifest(target)
    model_path = target / manifest.model_file
    if not model_path.is_file():
        raise ModelFileError(f"The saved model at {target} has no {manifest.model_file}.")
    digest = _sha256(model_path)
    if digest != manifest.model_sha256:
        raise ModelFileError(
            f"{model_path.name} changed after it was saved (its SHA-256 differs from the "
            "manifest's); refusing to load it. Save the model again from its source."
        )
    _check_versions(manifest, on_version_mismatch)
    model = _load_skops(model_path, trust=trust)
    background = _read_background(target / "background.json", manifest)
    from .governance._card import ModelCard
    from .governance._policy import Policy
    from .reasons._catalog import Catalog

    catalog = Catalog.model_validate_json((target / "catalog.json").read_text(encoding="utf-8"))
    policy = (
        Policy.model_validate_json((target / "policy.json").read_text(encoding="utf-8"))
        if (target / "policy.json").exists()
        else None
    )
    card = ModelCard.load(target / "card.json") if (target / "card.json").exists() else None
    params = dict(manifest.params)
    params.pop("dtypes", None)
    from .reasons._config import ReasonConfig

    reasons = params.pop("reasons")
    explained = ExplainedModel(
        model,
        background=background,
        catalog=catalog,
        policy=policy,
        card=card,
        require_sign_off=require_sign_off,
        reasons=None if reasons is None else ReasonConfig.model_validate(reasons),
        **params,
    )
    for name, value in overrides.items():
        setattr(explained, name, value)
    explained._build_from_file(model, background, fingerprint=digest)
    return explained


def _read_manifest(target: Path) -> Manifest:
    path = target / "manifest.json"
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"The saved model at {target} has no manifest.json.") from exc
    except (ValidationError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(
            f"{path} is not a valid explainscore manifest (truncated or corrupted)."
        ) from exc


def _check_versions(manifest: Manifest, policy: str) -> None:
    from .governance._card import library_versions

    now = library_versions()
    diffs = [
        f"{name} {saved} -> {now.get(name, 'not installed')}"
        for name, saved in sorted(manifest.library_versions.items())
        if now.get(name) != saved
    ]
    if not diffs:
        return
    message = "The model was saved with other library versions: " + "; ".join(diffs) + "."
    if policy == "error":
        raise ModelFileError(message + " Refusing to load (on_version_mismatch='error').")
    warnings.warn(message, VersionMismatchWarning, stacklevel=3)


def _load_skops(path: Path, *, trust: bool) -> Any:
    sio = import_optional("skops.io", extra="skops", purpose="explainscore.load")
    try:
        untrusted = list(sio.get_untrusted_types(file=path))
    except Exception as exc:
        raise ModelFileError(f"{path.name} is not a readable skops file ({exc}).") from exc
    refused = [t for t in untrusted if not t.startswith(_ALLOWED_PREFIXES)]
    if refused and not trust:
        raise ModelFileError(
            f"{path.name} would build object types explainscore does not allow: "
            f"{', '.join(sorted(refused))}. Load it with trust=True only if you trust its "
            "source (the CLI: --trust)."
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise ModelFileError(f"{path.name} could not be loaded ({type(exc).__name__}).") from exc


def _read_background(path: Path, manifest: Manifest) -> pd.DataFrame:
    try:
        frame = pd.read_json(path, orient="split", dtype=False)
    except (ValueError, FileNotFoundError) as exc:
        raise ModelFileError(f"{path} is missing or not valid background data.") from exc
    dtypes: dict[str, str] = manifest.params.get("dtypes", {})
    for col, dtype in dtypes.items():
        if col in frame.columns and dtype.startswith(("int", "float", "bool")):
            frame[col] = frame[col].astype(np.dtype(dtype))
    return frame[manifest.feature_names]


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


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
