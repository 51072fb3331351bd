"""Which models the tree backend explains, and in which output space they add up natively.

Boosted ensembles (XGBoost, LightGBM, GradientBoosting, HistGradientBoosting) add their trees
in the margin, so their native space is log-odds for classifiers. Forests and single trees of
scikit-learn average leaf *probabilities*, so their native space is probability: their
log-odds is not a sum over trees and has no exact path-dependent attribution.
"""

from __future__ import annotations

from typing import Any

from .._output import ModelKind
from ._base import OutputSpace

__all__ = ["is_tree_model", "tree_native_space"]

_BOOSTERS = {
    ("xgboost", "XGBClassifier"),
    ("xgboost", "XGBRegressor"),
    ("xgboost", "XGBRFClassifier"),
    ("xgboost", "XGBRFRegressor"),
    ("xgboost", "Booster"),
    ("lightgbm", "LGBMClassifier"),
    ("lightgbm", "LGBMRegressor"),
    ("lightgbm", "Booster"),
    ("sklearn", "GradientBoostingClassifier"),
    ("sklearn", "GradientBoostingRegressor"),
    ("sklearn", "HistGradientBoostingClassifier"),
    ("sklearn", "HistGradientBoostingRegressor"),
}
_AVERAGING = {
    ("sklearn", "DecisionTreeClassifier"),
    ("sklearn", "DecisionTreeRegressor"),
    ("sklearn", "ExtraTreeClassifier"),
    ("sklearn", "ExtraTreeRegressor"),
    ("sklearn", "RandomForestClassifier"),
    ("sklearn", "RandomForestRegressor"),
    ("sklearn", "ExtraTreesClassifier"),
    ("sklearn", "ExtraTreesRegressor"),
}


def _key(estimator: Any) -> tuple[str, str]:
    cls = type(estimator)
    return cls.__module__.split(".")[0], cls.__name__


def is_tree_model(estimator: Any) -> bool:
    """True for the tree ensembles the tree backend explains exactly."""
    key = _key(estimator)
    return key in _BOOSTERS or key in _AVERAGING


def is_averaging_ensemble(estimator: Any) -> bool:
    """True for forests and single trees, whose classifier output is a probability."""
    return _key(estimator) in _AVERAGING


def tree_native_space(estimator: Any, kind: ModelKind) -> OutputSpace:
    if not kind.is_classifier:
        return "raw"
    return "probability" if is_averaging_ensemble(estimator) else "log_odds"
