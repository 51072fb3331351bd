"""Exact Shapley values for linear models.

In the margin (log-odds for a logistic model, the prediction for a regressor) the
interventional game of a linear model is additive, so its Shapley values have the closed form
``coef_j * (x_j - mean_b(b_j))``, computed for a whole batch in one matrix expression, and a
raw column's value is the sum over the transformed columns it produced (exact: the game is
additive in them).

In probability space the game v(S) = mean_b sigmoid(base_b + sum_{p in S} d_bp) is not
additive. It is a function of sums, so every coalition's value is one matrix product
(masks @ d) and the exact Shapley values follow from enumerating all 2^M coalitions of the M
raw columns. That is exact and cheap up to ``max_exact_players`` (default 16) raw columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._params import check_int
from ..exceptions import UnsupportedModelError
from ._base import Attribution, Attributor, ExplainContext, FloatArray
from ._fold import fold_to_players

__all__ = ["LinearAttributor", "is_linear_model"]

_LINEAR = {
    "LogisticRegression",
    "LogisticRegressionCV",
    "LinearRegression",
    "Ridge",
    "RidgeCV",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "Lasso",
    "LassoCV",
    "LassoLars",
    "Lars",
    "ElasticNet",
    "ElasticNetCV",
    "SGDClassifier",
    "SGDRegressor",
    "BayesianRidge",
    "ARDRegression",
    "HuberRegressor",
    "LinearSVC",
    "LinearSVR",
    "PassiveAggressiveClassifier",
    "Perceptron",
    "QuantileRegressor",
    "TheilSenRegressor",
    "OrthogonalMatchingPursuit",
}


def is_linear_model(estimator: Any) -> bool:
    """True for scikit-learn models whose margin is ``X @ coef_ + intercept_``."""
    cls = type(estimator)
    return (
        cls.__module__.startswith("sklearn.")
        and cls.__name__ in _LINEAR
        and hasattr(estimator, "coef_")
    )


class LinearAttributor(Attributor):
    """Closed-form (margin) or enumerated (probability) interventional Shapley values."""

    name = "linear"

    def __init__(self, context: ExplainContext) -> None:
        self._context = context
        est = context.estimator
        coef = np.asarray(est.coef_, dtype=np.float64)
        intercept = np.atleast_1d(np.asarray(getattr(est, "intercept_", 0.0), dtype=np.float64))
        if coef.ndim == 1:
            coef = coef[None, :]
        if intercept.size == 1 and coef.shape[0] > 1:
            intercept = np.repeat(intercept, coef.shape[0])
        # Rows of coef are outputs; a binary classifier has one row, for class 1.
        self._coef = coef
        self._intercept = intercept
        self._binary = coef.shape[0] == 1 and context.target_class is not None
        self._target = context.target_class
        self._bg = np.asarray(context.background, dtype=np.float64)
        self._mean = self._bg.mean(axis=0)
        options = context.options or {}
        self._max_exact = check_int(
            options.get("max_exact_players", 16),
            "max_exact_players",
            "method='linear'",
            low=1,
            high=24,
        )
        if context.output_space == "probability":
            if context.n_players > self._max_exact:
                raise UnsupportedModelError(
                    f"Exact probability-space attributions of a linear model enumerate "
                    f"2^M coalitions; this model has M={context.n_players} raw columns, more "
                    f"than max_exact_players={self._max_exact}. Use output_space='log_odds' "
                    "(exact, closed form) or method='kernel' (sampled)."
                )
            self.game = "interventional game on the background rows, in probability"
        else:
            self.game = "interventional game on the background rows (closed form)"

    def _margin_weights(self) -> tuple[FloatArray, float]:
        """Weights and intercept of the explained margin (class 0 of a binary: negated)."""
        if self._coef.shape[0] == 1:
            sign = -1.0 if (self._binary and self._target == 0) else 1.0
            return sign * self._coef[0], sign * float(self._intercept[0])
        t = 0 if self._target is None else self._target
        return self._coef[t], float(self._intercept[t])

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        X = np.asarray(X, dtype=np.float64)
        if self._context.output_space == "probability":
            return self._probability(X)
        w, b = self._margin_weights()
        per_column = (X - self._mean) * w
        values = fold_to_players(per_column, self._context.groups, self._context.n_players)
        base = float(self._mean @ w + b)
        return Attribution(values, np.full(len(X), base), exact=True)

    def _probability(self, X: FloatArray) -> Attribution:
        from ._coalitions import all_masks, shapley_from_coalition_values

        ctx = self._context
        m = ctx.n_players
        masks = all_masks(m).astype(np.float64)  # (2^M, M)
        coef, icpt = self._coef, self._intercept  # (K, F), (K,)
        bg_margin = self._bg @ coef.T + icpt  # (B, K)
        values = np.empty((len(X), m))
        bases = np.empty(len(X))
        for i, x in enumerate(X):
            # d[b, p, k]: how much player p moves output k's margin from background row b to x.
            diff = (x[None, :] - self._bg)[:, :, None] * coef.T[None, :, :]  # (B, F, K)
            d = np.zeros((len(self._bg), m, coef.shape[0]))
            np.add.at(d.transpose(1, 0, 2), ctx.groups, diff.transpose(1, 0, 2))
            margins = bg_margin[None, :, :] + np.einsum("sp,bpk->sbk", masks, d)
            v = self._prob_of(margins).mean(axis=1)  # (2^M,)
            values[i] = shapley_from_coalition_values(v, m)
            bases[i] = v[0]
        return Attribution(values, bases, exact=True)

    def _prob_of(self, margins: FloatArray) -> FloatArray:
        """P(target) from margins of shape (..., K)."""
        if margins.shape[-1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-margins[..., 0]))
            return 1.0 - p1 if self._target == 0 else p1
        z = margins - margins.max(axis=-1, keepdims=True)
        e = np.exp(z)
        t = 0 if self._target is None else self._target
        prob: FloatArray = e[..., t] / e.sum(axis=-1)
        return prob
