"""Which models the tree backend explains, and in which output space they add up natively.

Boosted ensembles (XGBoost, LightGBM, CatBoost, GradientBoosting, HistGradientBoosting) add
their trees in the margin, so their native space is log-odds for classifiers. Forests and
single trees of scikit-learn average leaf *probabilities*, so their native space is
probability: their log-odds is not a sum over trees and has no exact path-dependent
attribution.
"""

from __future__ import annotations

from typing import Any

from .._output import ModelKind
from ._base import OutputSpace

__all__ = [
    "catboost_non_float_features",
    "is_averaging_ensemble",
    "is_tree_model",
    "is_tree_subclass",
    "known_base_name",
    "tree_native_space",
]

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
    ("catboost", "CatBoost"),
    ("catboost", "CatBoostClassifier"),
    ("catboost", "CatBoostRegressor"),
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


def _keys(estimator: Any) -> list[tuple[str, str]]:
    """``(top-level module, class name)`` of the estimator's class and of every base class.

    Walking the MRO is ``isinstance`` without importing the libraries: a user's subclass of
    ``XGBClassifier`` (``class LeadScorer(XGBClassifier)``) is the model it extends.
    """
    return [(cls.__module__.split(".")[0], cls.__name__) for cls in type(estimator).__mro__]


def _first_known(estimator: Any) -> tuple[str, str] | None:
    for key in _keys(estimator):
        if key in _BOOSTERS or key in _AVERAGING:
            return key
    return None


def is_tree_subclass(estimator: Any) -> bool:
    """True for a user's subclass of a supported model (which may override its prediction)."""
    key = _first_known(estimator)
    return key is not None and key != _keys(estimator)[0]


def known_base_name(estimator: Any) -> str:
    """``module.ClassName`` of the supported model the estimator is (or extends)."""
    key = _first_known(estimator)
    return type(estimator).__name__ if key is None else ".".join(key)


def is_tree_model(estimator: Any) -> bool:
    """True for the tree ensembles the tree backend explains exactly (and their subclasses).

    A CatBoost model with categorical, text or embedding features is not: its splits on
    hashed categories and CTRs are not compiled (``method="catboost"`` explains it).
    """
    key = _first_known(estimator)
    if key is None:
        return False
    return key[0] != "catboost" or not catboost_non_float_features(estimator)


def catboost_non_float_features(estimator: Any) -> bool:
    """Whether a CatBoost model takes categorical, text or embedding features."""
    for getter in (
        "get_cat_feature_indices",
        "get_text_feature_indices",
        "get_embedding_feature_indices",
    ):
        method = getattr(estimator, getter, None)
        if not callable(method):
            continue
        try:
            if len(method()) > 0:
                return True
        except Exception:  # an unfitted model has no feature layout yet
            return False
    return False


def is_averaging_ensemble(estimator: Any) -> bool:
    """True for forests and single trees, whose classifier output is a probability."""
    return _first_known(estimator) in _AVERAGING


def tree_native_space(estimator: Any, kind: ModelKind) -> OutputSpace:
    if not kind.is_classifier:
        return "raw"
    return "probability" if is_averaging_ensemble(estimator) else "log_odds"
