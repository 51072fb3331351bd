"""Exact Shapley values for linear models.

In the margin (log-odds for a logistic model, the prediction for a regressor, the decision
function of any other linear classifier) the interventional game of a linear model is
additive, so its Shapley values have the closed form ``coef_j * (x_j - mean_b(b_j))``, computed
for a whole batch in one matrix expression, and a raw column's value is the sum over the
transformed columns it produced (exact: the game is additive in them).

In probability space the game v(S) = mean_b P(margins(x_S, b_~S)) is not additive. ``P`` is
the model's own link from its decision margins to ``predict_proba`` (:data:`_LINKS`): a
sigmoid (binary logistic), a softmax (multinomial logistic), one-vs-rest sigmoids normalised
to sum to one (a multiclass ``SGDClassifier(loss="log_loss")``), or the clipped
``(clip(d, -1, 1) + 1) / 2`` of ``loss="modified_huber"``. Every coalition's margins are one
matrix product (masks @ d), and the exact Shapley values follow from enumerating all 2^M
coalitions of the M raw columns: exact and cheap up to ``max_exact_players`` (default 16).

Whichever space, the attributor first checks on the background rows that its closed form (or
link) reproduces the model's own output; a model whose output is not what its coefficients
say (an unknown link, a subclass overriding ``predict_proba``) is refused, pointing to
``method="kernel"``, rather than explained with the wrong game.

XGBoost's ``booster="gblinear"`` is linear too: its weights come from the booster's own JSON
model (``coef_`` of XGBoost's scikit-learn wrapper reads a text dump rounded to 6 digits and
reshapes a multiclass one in the wrong order),
its intercept (bias plus base score) from its margin at the zero row, and a missing value
contributes nothing, as in XGBoost's linear updater.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._output import ModelKind, library_of
from .._params import check_int
from ..exceptions import UnsupportedModelError
from ._base import Attribution, Attributor, ExplainContext, FloatArray, OutputSpace
from ._fold import fold_to_players

__all__ = ["LinearAttributor", "is_gblinear", "is_linear_model", "linear_native_space"]

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


def is_gblinear(estimator: Any) -> bool:
    """True for a fitted XGBoost model whose booster is ``gblinear``."""
    if library_of(estimator) != "xgboost" or not hasattr(estimator, "get_booster"):
        return False
    try:
        config = json.loads(estimator.get_booster().save_config())
    except Exception:  # not fitted: not ours to explain
        return False
    return bool(config["learner"]["gradient_booster"]["name"] == "gblinear")


def is_linear_model(estimator: Any) -> bool:
    """True for models whose margin is ``X @ coef_ + intercept_`` (scikit-learn, gblinear)."""
    cls = type(estimator)
    if cls.__module__.startswith("sklearn.") and cls.__name__ in _LINEAR:
        return hasattr(estimator, "coef_")
    return is_gblinear(estimator)


# --- links: decision margins (..., K) -> predict_proba (..., n_classes) ---------------------

LinkFn = Callable[[FloatArray], FloatArray]


def _expit(z: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):
        out: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return out


def _two_classes(p1: FloatArray) -> FloatArray:
    return np.stack([1.0 - p1, p1], axis=-1)


def _normalised(p: FloatArray) -> FloatArray:
    """Scores over classes divided by their sum; all-zero rows become uniform (as sklearn)."""
    total = p.sum(axis=-1, keepdims=True)
    zero = total == 0
    p = np.where(zero, 1.0, p)
    total = np.where(zero, p.shape[-1], total)
    out: FloatArray = p / total
    return out


def _sigmoid(m: FloatArray) -> FloatArray:
    return _two_classes(_expit(m[..., 0]))


def _softmax(m: FloatArray) -> FloatArray:
    e = np.exp(m - m.max(axis=-1, keepdims=True))
    out: FloatArray = e / e.sum(axis=-1, keepdims=True)
    return out


def _ovr(m: FloatArray) -> FloatArray:
    return _normalised(_expit(m))


def _modified_huber(m: FloatArray) -> FloatArray:
    p = (np.clip(m, -1.0, 1.0) + 1.0) / 2.0
    return _two_classes(p[..., 0]) if m.shape[-1] == 1 else _normalised(p)


#: How each linear classifier turns its decision margins into ``predict_proba``.
_LINKS: dict[str, LinkFn] = {
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "ovr": _ovr,
    "modified_huber": _modified_huber,
}


def probability_link(estimator: Any, n_outputs: int) -> str | None:
    """The name of the estimator's link in :data:`_LINKS`, or None when it is not known."""
    if is_gblinear(estimator):
        config = json.loads(estimator.get_booster().save_config())
        objective = str(config["learner"]["objective"]["name"])
        return {"binary:logistic": "sigmoid", "multi:softprob": "softmax"}.get(objective)
    loss = getattr(estimator, "loss", None)
    if loss == "modified_huber":
        return "modified_huber"
    name = type(estimator).__name__
    if name == "SGDClassifier" and loss == "log_loss":
        return "sigmoid" if n_outputs == 1 else "ovr"
    if name in ("LogisticRegression", "LogisticRegressionCV"):
        if n_outputs == 1:
            return "sigmoid"
        return "ovr" if getattr(estimator, "multi_class", None) == "ovr" else "softmax"
    return None


def _margin_is_log_odds(estimator: Any) -> bool:
    """Whether the decision margin is a log-odds (not so for modified Huber's margin)."""
    return getattr(estimator, "loss", None) != "modified_huber"


def linear_native_space(estimator: Any, kind: ModelKind) -> OutputSpace:
    """Log-odds for a classifier whose margin is one, raw for regressors and the others."""
    if kind.is_classifier and kind.has_proba and _margin_is_log_odds(estimator):
        return "log_odds"
    return "raw"


# --- coefficients ---------------------------------------------------------------------------


def _gblinear_parts(estimator: Any, n_features: int) -> tuple[FloatArray, FloatArray]:
    """Weights (K, F) from the booster's JSON model and the intercept (K,) as its zero-row
    margin (bias plus base score, whatever the objective's base-score convention)."""
    doc = json.loads(bytes(estimator.get_booster().save_raw("json")))
    # Full float32 precision (the text dump rounds to 6 digits), feature-major:
    # weights[f * K + k], then the K biases.
    weights = np.asarray(doc["learner"]["gradient_booster"]["model"]["weights"], np.float64)
    n_out = weights.size // (n_features + 1)
    coef = weights[: n_features * n_out].reshape(n_features, n_out).T
    rows = _named_rows(estimator, np.zeros((1, n_features)))
    margin = np.asarray(estimator.predict(rows, output_margin=True), dtype=np.float64)
    return coef, margin.reshape(-1)


def _named_rows(estimator: Any, X: FloatArray) -> Any:
    """``X`` as the estimator was fitted: under its column names when it has them (XGBoost
    refuses an unnamed array from a model fitted on a DataFrame)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or len(names) != X.shape[1]:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=[str(n) for n in names])


def linear_parts(estimator: Any, n_features: int) -> tuple[FloatArray, FloatArray]:
    """``(coef, intercept)`` of shape (K, F) and (K,): one row per output margin."""
    if is_gblinear(estimator):
        return _gblinear_parts(estimator, n_features)
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    intercept = np.atleast_1d(np.asarray(getattr(estimator, "intercept_", 0.0), dtype=np.float64))
    if coef.ndim == 1:
        coef = coef[None, :]
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])
    return coef, intercept


def _absent_value(estimator: Any) -> float | None:
    """The input value gblinear treats as absent (contributing nothing), else None."""
    if not is_gblinear(estimator):
        return None
    missing = estimator.get_params().get("missing", np.nan)
    return float("nan") if missing is None else float(missing)


class LinearAttributor(Attributor):
    """Closed-form (margin) or enumerated (probability) interventional Shapley values."""

    name = "linear"

    def __init__(self, context: ExplainContext) -> None:
        self._context = context
        est = context.estimator
        self._absent = _absent_value(est)
        self._bg = self._clean(np.asarray(context.background, dtype=np.float64))
        coef, intercept = linear_parts(est, self._bg.shape[1])
        # Rows of coef are outputs; a binary classifier has one row, for class 1.
        self._coef = coef
        self._intercept = intercept
        self._binary = coef.shape[0] == 1 and context.target_class is not None
        self._target = context.target_class
        self._mean = self._bg.mean(axis=0)
        self._float32 = library_of(est) == "xgboost"
        options = context.options or {}
        self._max_exact = check_int(
            options.get("max_exact_players", 16),
            "max_exact_players",
            "method='linear'",
            low=1,
            high=24,
        )
        name = type(est).__name__
        self._link: LinkFn | None = None
        if context.output_space == "probability":
            link = probability_link(est, coef.shape[0])
            if link is None:
                raise UnsupportedModelError(
                    f"method='linear' does not know how {name} turns its decision function "
                    "into probabilities; use method='kernel' (the probability game, "
                    "evaluated with the model's own predict_proba)."
                )
            if context.n_players > self._max_exact:
                raise UnsupportedModelError(
                    f"Exact probability-space attributions of a linear model enumerate "
                    f"2^M coalitions; this model has M={context.n_players} raw columns, more "
                    f"than max_exact_players={self._max_exact}. Use output_space='log_odds' "
                    "(exact, closed form) or method='kernel' (sampled)."
                )
            self._link = _LINKS[link]
            self.game = "interventional game on the background rows, in probability"
        else:
            if context.output_space == "log_odds" and not _margin_is_log_odds(est):
                raise UnsupportedModelError(
                    f"The decision function of {name}(loss='modified_huber') is not a "
                    "log-odds (its probability is (clip(d, -1, 1) + 1) / 2); use "
                    "output_space='raw' to explain the decision function."
                )
            self.game = "interventional game on the background rows (closed form)"
        self._verify()

    def _clean(self, X: FloatArray) -> FloatArray:
        """gblinear's absent inputs (NaN or its ``missing`` sentinel) contribute nothing: 0."""
        if self._absent is None:
            return X
        absent = np.isnan(X) if self._absent != self._absent else self._absent == X
        return np.where(absent, 0.0, X)

    def _own_output(self, X: FloatArray) -> FloatArray:
        """What the attributions add up to, computed from the coefficients (and link)."""
        if self._link is None:
            w, b = self._margin_weights()
            out: FloatArray = X @ w + b
            return out
        return self._prob_of(X @ self._coef.T + self._intercept)

    def _verify(self) -> None:
        """Refuse a model whose output is not its coefficients' (and link's) on the background.

        The values are exact for the linear game; this makes sure the model plays it.
        """
        ctx = self._context
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an array for a model fitted on named columns
            rows = _named_rows(ctx.estimator, np.asarray(ctx.background, dtype=np.float64))
            model_out = np.asarray(ctx.value_function(rows), dtype=np.float64)
        if model_out.shape != (len(self._bg),):
            return  # a multi-output model: which output is explained is decided elsewhere
        ours = self._own_output(self._bg)
        tol = (1e-5 if self._float32 else 1e-8) * np.maximum(1.0, np.abs(model_out))
        if not np.all(np.abs(ours - model_out) <= tol):
            raise UnsupportedModelError(
                f"The {ctx.output_space} output of {type(ctx.estimator).__name__} is not what "
                "its coefficients give (through a known link), which is what method='linear' "
                "explains; use method='kernel', which evaluates the model itself."
            )

    def _margin_weights(self) -> tuple[FloatArray, float]:
        """Weights and intercept of the explained margin (class 0 of a binary: negated)."""
        if self._coef.shape[0] == 1:
            sign = -1.0 if (self._binary and self._target == 0) else 1.0
            return sign * self._coef[0], sign * float(self._intercept[0])
        t = 0 if self._target is None else self._target
        return self._coef[t], float(self._intercept[t])

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        X = self._clean(np.asarray(X, dtype=np.float64))
        if self._link is not None:
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
        """P(target) from margins of shape (..., K), through the model's own link."""
        assert self._link is not None
        t = 1 if self._target is None else self._target
        prob: FloatArray = self._link(margins)[..., t]
        return prob
