"""CatBoost's own exact TreeSHAP values, for CatBoost models with categorical features.

CatBoost turns a categorical column into one-hot splits on hashed categories
(``one_hot_max_size``) and into CTRs (target statistics per category, looked up in tables the
model stores). When every CTR reads *one* categorical column, each split of the model depends
on exactly one raw column, and CatBoost's ``get_feature_importance(type="ShapValues")`` (its
default ``shap_calc_type="Regular"``) is the exact path-dependent TreeSHAP of Lundberg et al.
(2020) with the raw columns as players: an absent column is integrated out along the training
weights of the leaves, each oblivious tree walked from its last split to its first (the tree
backend compiles numeric CatBoost models in the same order, so the two games are the same).
The values add up to ``predict(prediction_type="RawFormulaVal")``: the log-odds of a
classifier, the margin of a regressor.

A model whose CTRs *combine* columns (``max_ctr_complexity > 1``, CatBoost's default when
there are several categorical columns) has splits that read several raw columns at once;
CatBoost shares such a split's value equally between its columns, which is not a Shapley value
of a game on the raw columns. Such models are left to ``method="kernel"`` (see
:func:`supports_catboost`), as are text and embedding features.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnsupportedModelError
from ._base import Attribution, Attributor, ExplainContext

__all__ = ["CatBoostAttributor", "supports_catboost"]

_GAME = (
    "path-dependent tree game over the raw columns (categorical columns one player each), by "
    "CatBoost's own exact TreeSHAP (ShapValues), in the margin (RawFormulaVal)"
)


def _is_catboost(estimator: Any) -> bool:
    return any(c.__module__.split(".")[0] == "catboost" for c in type(estimator).__mro__)


def _single_column_ctrs(estimator: Any) -> bool:
    """True when every CTR of the model reads the value of one categorical column."""
    from .tree._convert_catboost import catboost_model_json

    info = catboost_model_json(estimator).get("features_info", {})
    if info.get("text_features") or info.get("embedding_features"):
        return False
    return all(
        len(ctr.get("elements", [])) == 1
        and ctr["elements"][0].get("combination_element") == "cat_feature_value"
        for ctr in info.get("ctrs", [])
    )


def supports_catboost(model: Any) -> bool:
    """Whether CatBoost's own values are the exact raw-column Shapley values for ``model``.

    A bare, fitted CatBoost model with categorical features whose splits each read one raw
    column (one-hot splits and single-column CTRs). Numeric-only models go to the tree
    backend (explainscore's compiled core); models with combined CTRs, text or embedding
    features to ``method="kernel"``.
    """
    if not _is_catboost(model):
        return False
    from ._tree_support import catboost_non_float_features

    try:
        return catboost_non_float_features(model) and _single_column_ctrs(model)
    except Exception:  # an unfitted or broken model is refused elsewhere
        return False


class CatBoostAttributor(Attributor):
    """CatBoost's exact path-dependent TreeSHAP values on the raw columns."""

    name = "catboost"
    game = _GAME

    def __init__(self, context: ExplainContext) -> None:
        from .._optional import import_optional

        self._catboost = import_optional("catboost", extra="catboost", purpose="method='catboost'")
        est = context.estimator
        name = type(est).__name__
        if not supports_catboost(est):
            raise UnsupportedModelError(
                f"{name} is not a CatBoost model whose splits each read one raw column (its "
                "CTRs combine categorical columns, or it has text or embedding features), so "
                "CatBoost's values are not Shapley values of the raw columns. Use "
                "method='kernel' (exact Shapley values up to 12 raw columns)."
            )
        if context.output_space == "probability":
            raise UnsupportedModelError(
                f"CatBoost's TreeSHAP values of {name} add up to its log-odds, not its "
                "probability. Use output_space='log_odds' (exact), or method='kernel' for the "
                "probability."
            )
        self._context = context
        self._est = est
        self._cat = [int(i) for i in est.get_cat_feature_indices()]
        names = getattr(est, "feature_names_", None)
        self._names = list(names) if names is not None else list(context.player_names)
        classes = getattr(est, "classes_", None)
        n_classes = 0 if classes is None else len(classes)
        self._binary = n_classes == 2
        self._target = 1 if context.target_class is None else int(context.target_class)
        self._check_adds_up(context)

    def _pool(self, X: np.ndarray[Any, Any]) -> Any:
        """The rows as a CatBoost Pool: numeric columns as float, categories as given."""
        frame = pd.DataFrame(np.asarray(X, dtype=object), columns=self._names)
        for j, col in enumerate(self._names):
            if j not in self._cat:
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
        return self._catboost.Pool(frame, cat_features=self._cat)

    def _values(self, X: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        raw = np.asarray(
            self._est.get_feature_importance(self._pool(X), type="ShapValues"), dtype=np.float64
        )
        if raw.ndim == 3:
            # MultiClass: (n, n_classes, n_features + 1), one margin per class.
            raw = raw[:, self._target, :]
        values, base = raw[:, :-1], raw[:, -1]
        if self._binary and self._target == 0:
            # The single binary margin is class 1's log-odds; class 0's is its negative.
            values, base = -values, -base
        return np.ascontiguousarray(values), np.ascontiguousarray(base)

    def _check_adds_up(self, context: ExplainContext) -> None:
        """Refuse an output space the margin values do not add up to (a regressor's
        ``predict`` with a link, such as Poisson or Tweedie), naming the way forward."""
        rows = np.asarray(context.background, dtype=object)[:16]
        values, base = self._values(rows)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            expected = np.asarray(context.value_function(rows), dtype=np.float64).reshape(-1)
        total = base + values.sum(axis=1)
        if np.allclose(total, expected, rtol=1e-6, atol=1e-6):
            return
        raise UnsupportedModelError(
            f"{type(self._est).__name__}'s output in {context.output_space!r} space is not "
            "its summed trees (RawFormulaVal), to which CatBoost's values add up. Use "
            "output_space='margin', or method='kernel' for this output."
        )

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        values, base = self._values(X)
        return Attribution(values=values, base_values=base, exact=True)
