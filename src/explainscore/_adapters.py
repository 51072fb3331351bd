"""Adapters that give non-scikit-learn model objects the estimator interface.

A raw ``xgboost.Booster`` has no ``predict_proba`` or ``classes_``. It is turned into the
equivalent ``XGBClassifier`` / ``XGBRegressor`` through XGBoost's own JSON model format (no
pickle involved), chosen by its objective, so the rest of explainscore sees one interface.
A raw ``lightgbm.Booster`` likewise becomes the ``LGBMClassifier`` / ``LGBMRegressor`` that
predicts the same: a copy of the booster (through LightGBM's text model format) in the fitted
state ``fit`` leaves, with classes ``0..K-1`` as LightGBM's own labels are.
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


def _is_lgb_booster(model: Any) -> bool:
    cls = type(model)
    return cls.__module__.startswith("lightgbm") and cls.__name__ == "Booster"


_LGB_CLASSIFIERS = {"binary", "multiclass", "multiclassova"}
_LGB_REGRESSORS = {
    "regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma",
    "tweedie", "cross_entropy", "cross_entropy_lambda",
}  # fmt: skip


def _lgb_header(text: str) -> dict[str, str]:
    """``key=value`` lines of a LightGBM text model before its first tree."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    return header


def _from_lgb_booster(booster: Any) -> Any:
    import lightgbm as lgb
    import numpy as np

    text = booster.model_to_string()
    header = _lgb_header(text)
    objective = header.get("objective", "").split(" ")[0]
    way_forward = (
        "explainscore explains classifiers and regressors; train it through "
        "lightgbm.LGBMClassifier / LGBMRegressor, or wrap it in a scikit-learn estimator "
        "with predict and use method='kernel'."
    )
    if objective in _LGB_CLASSIFIERS:
        model: Any = lgb.LGBMClassifier(objective=objective)
    elif objective in _LGB_REGRESSORS:
        model = lgb.LGBMRegressor(objective=objective)
    else:
        raise UnsupportedModelError(
            f"LightGBM Booster with objective {objective or 'custom'!r} is not a classifier "
            f"or regressor explainscore knows; {way_forward}"
        )
    copy = lgb.Booster(model_str=text)
    n_features = int(copy.num_feature())
    names = list(copy.feature_name())
    try:
        model._Booster = copy
        model._n_features = n_features
        model._n_features_in = n_features
        model._fitted_with_feature_names = names != [f"Column_{i}" for i in range(n_features)]
        model._evals_result = {}
        model._best_iteration = copy.best_iteration
        model._best_score = {}
        model._objective = objective
        if objective in _LGB_CLASSIFIERS:
            n_classes = max(int(header.get("num_class", "1")), 2)
            labels = np.arange(n_classes)
            from sklearn.preprocessing import LabelEncoder

            model._le = LabelEncoder().fit(labels)
            model._classes = model._le.classes_
            model._n_classes = n_classes
            model._class_map = {int(c): int(c) for c in labels}
        model.fitted_ = True
        # The wrapper must predict exactly what the booster predicts.
        probe = np.zeros((2, n_features))
        probe[1] = np.nan
        ok = np.array_equal(
            np.asarray(model.predict(probe, raw_score=True)),
            np.asarray(booster.predict(probe, raw_score=True)),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnsupportedModelError(
            f"This LightGBM version's Booster could not be given the scikit-learn interface "
            f"({exc}); {way_forward}"
        ) from None
    if not ok:
        raise UnsupportedModelError(
            f"The scikit-learn view of this LightGBM Booster does not predict what the Booster "
            f"does; {way_forward}"
        )
    return model


#: (applies?, adapter) pairs, tried in order.
_ADAPTERS: list[tuple[Callable[[Any], bool], Callable[[Any], Any]]] = [
    (_is_xgb_booster, _from_xgb_booster),
    (_is_lgb_booster, _from_lgb_booster),
]


def adapt_model(model: Any) -> Any:
    """Return ``model`` itself, or its scikit-learn compatible equivalent."""
    for applies, adapter in _ADAPTERS:
        if applies(model):
            return adapter(model)
    return model
