"""A stable SHA-256 fingerprint of a fitted model, recorded with every explanation."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

__all__ = ["model_fingerprint"]


def model_fingerprint(model: Any) -> str:
    """``"sha256:<hex>"`` of the model's serialized state.

    XGBoost and LightGBM models are hashed through their own text/JSON dumps, which are
    deterministic; other models through their pickle bytes (only *writing* a pickle, which is
    safe). Two fits with the same data and seed give the same fingerprint.
    """
    digest = hashlib.sha256()
    digest.update(type(model).__module__.encode() + b"." + type(model).__qualname__.encode())
    digest.update(b"\0")
    digest.update(_state_bytes(model))
    return "sha256:" + digest.hexdigest()


def _state_bytes(model: Any) -> bytes:
    module = type(model).__module__.split(".")[0]
    if module == "xgboost":
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        return bytes(booster.save_raw("json"))
    if module == "lightgbm":
        booster = getattr(model, "booster_", model)
        return str(booster.model_to_string()).encode()
    return pickle.dumps(model, protocol=5)
