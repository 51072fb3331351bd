"""Model -> :class:`TreeEnsemble`, through a table with one converter per library family.

The table is keyed by ``(top-level module, class name)``; a subclass of a supported model is
found by walking its MRO, so user subclasses of ``XGBClassifier`` and the like work too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...exceptions import UnsupportedModelError
from ._convert_catboost import convert_catboost
from ._convert_lightgbm import convert_lightgbm
from ._convert_sklearn import convert_sklearn_boosting, convert_sklearn_forest, convert_sklearn_hist
from ._convert_xgboost import convert_xgboost
from ._ensemble import TreeEnsemble

__all__ = ["CONVERTERS", "can_compile", "compile_ensemble"]

Converter = Callable[[Any], TreeEnsemble]

_SKLEARN_FOREST = (
    "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
    "ExtraTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor",
)  # fmt: skip

#: (top-level module, class name) -> converter.
CONVERTERS: dict[tuple[str, str], Converter] = {
    ("xgboost", "Booster"): convert_xgboost,
    ("xgboost", "XGBModel"): convert_xgboost,
    ("xgboost", "XGBClassifier"): convert_xgboost,
    ("xgboost", "XGBRegressor"): convert_xgboost,
    ("xgboost", "XGBRFClassifier"): convert_xgboost,
    ("xgboost", "XGBRFRegressor"): convert_xgboost,
    ("lightgbm", "Booster"): convert_lightgbm,
    ("lightgbm", "LGBMModel"): convert_lightgbm,
    ("lightgbm", "LGBMClassifier"): convert_lightgbm,
    ("lightgbm", "LGBMRegressor"): convert_lightgbm,
    **{("sklearn", name): convert_sklearn_forest for name in _SKLEARN_FOREST},
    ("sklearn", "GradientBoostingClassifier"): convert_sklearn_boosting,
    ("sklearn", "GradientBoostingRegressor"): convert_sklearn_boosting,
    ("sklearn", "HistGradientBoostingClassifier"): convert_sklearn_hist,
    ("sklearn", "HistGradientBoostingRegressor"): convert_sklearn_hist,
    ("catboost", "CatBoost"): convert_catboost,
    ("catboost", "CatBoostClassifier"): convert_catboost,
    ("catboost", "CatBoostRegressor"): convert_catboost,
}


def _find_converter(estimator: Any) -> Converter | None:
    for cls in type(estimator).__mro__:
        key = (cls.__module__.split(".")[0], cls.__name__)
        if key in CONVERTERS:
            return CONVERTERS[key]
    return None


def can_compile(estimator: Any) -> bool:
    """Whether ``estimator``'s type has a converter (it may still be unfitted or unsupported).

    Parameters
    ----------
    estimator : object
        Any model.

    Returns
    -------
    bool
    """
    return _find_converter(estimator) is not None


def compile_ensemble(estimator: Any) -> TreeEnsemble:
    """Compile a fitted tree model into the flat :class:`TreeEnsemble` layout.

    Parameters
    ----------
    estimator : object
        A fitted XGBoost, LightGBM, CatBoost or scikit-learn tree model (see ``CONVERTERS``).

    Returns
    -------
    TreeEnsemble
        Reproduces the library's own raw output (``predict_raw``).

    Raises
    ------
    UnsupportedModelError
        If no converter handles the model's type, or the model uses a feature the tree
        backend cannot reproduce exactly (linear leaves, input-dependent init, ...).
    """
    converter = _find_converter(estimator)
    if converter is None:
        cls = type(estimator)
        raise UnsupportedModelError(
            f"{cls.__module__}.{cls.__name__} is not a tree model the tree backend can "
            "compile; supported: XGBoost, LightGBM and CatBoost boosters, scikit-learn trees, "
            "forests and (Hist)GradientBoosting."
        )
    return converter(estimator)
