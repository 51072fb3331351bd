"""Adapters that give non-scikit-learn model objects the estimator interface.

A raw ``xgboost.Booster`` has no ``predict_proba`` or ``classes_``. It is turned into the
equivalent ``XGBClassifier`` / ``XGBRegressor`` through XGBoost's own JSON model format (no
pickle involved), chosen by its objective, so the rest of explainscore sees one interface.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .exceptions import UnsupportedModelError

__all__ = ["adapt_model"]


def _is_xgb_booster(model: Any) -> bool:
    cls = type(model)
    return cls.__module__.startswith("xgboost") and cls.__name__ == "Booster"


def _from_xgb_booster(booster: Any) -> Any:
    import xgboost as xgb

    raw = booster.save_raw("json")
    config = json.loads(booster.save_config())
    objective = str(config["learner"]["objective"]["name"])
    if objective.startswith(("binary:", "multi:")):
        model = xgb.XGBClassifier()
    elif objective.startswith(("reg:", "count:", "survival:")):
        model = xgb.XGBRegressor()
    else:
        raise UnsupportedModelError(
            f"XGBoost Booster with objective {objective!r} is not a classifier or regressor "
            "explainscore knows; wrap it in XGBClassifier or XGBRegressor yourself."
        )
    model.load_model(bytearray(raw))
    return model


#: (applies?, adapter) pairs, tried in order.
_ADAPTERS: list[tuple[Callable[[Any], bool], Callable[[Any], Any]]] = [
    (_is_xgb_booster, _from_xgb_booster),
]


def adapt_model(model: Any) -> Any:
    """Return ``model`` itself, or its scikit-learn compatible equivalent."""
    for applies, adapter in _ADAPTERS:
        if applies(model):
            return adapter(model)
    return model
