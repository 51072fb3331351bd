"""Output spaces of regressors with a link function (issue 15): ``margin`` and ``response``.

Every objective whose ``predict`` is a link of the summed trees (XGBoost ``count:poisson``,
``reg:gamma``, ``reg:tweedie``, ``reg:logistic``; LightGBM ``poisson``, ``gamma``,
``tweedie``, ``cross_entropy``, ``cross_entropy_lambda``; HistGradientBoosting
``loss="poisson"``) is explained in both spaces, each against an oracle explainscore did not
compute:

* ``margin`` (the default): the boosters' native contributions (``pred_contribs`` /
  ``pred_contrib``) and, for HistGradientBoosting, brute-force Shapley values of the
  path-dependent game; efficiency against the library's own margin.
* ``response`` (tree): the game is the per-background-row rescaling of shap's probability
  option with the regressor's own link. The oracle enumerates every coalition of hybrid rows
  ``x_S, b_~S`` through the library's own margin (``output_margin`` / ``raw_score`` /
  ``_raw_predict``), rescales each row's Shapley values by ``(f(m(x)) - f(m(b))) / (m(x) -
  m(b))`` written plainly, and averages. Efficiency against ``predict``. These are *not* the
  Shapley values of the response game ``mean_b f(margin(x_S, b_~S))``: that game is
  ``method="kernel"``'s, checked against a brute-force enumeration of ``predict``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression, PoissonRegressor

from explainscore import ExplainedModel
from explainscore.attribution.tree import compile_ensemble
from explainscore.exceptions import ParameterError, UnsupportedModelError

from .attribution.bruteforce import interventional_shapley
from .tree.bruteforce import brute_force_shap

N_FEATURES = 4
F32: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-6}  # float32 boosters
F64: dict[str, Any] = {"rtol": 1e-9, "atol": 1e-9}


def _data(seed: int = 3, n: int = 240) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    s = X[:, 0] + 0.8 * X[:, 1] * X[:, 2] - 0.5 * np.abs(X[:, 3])
    return {"X": X, "pos": np.exp(0.5 * s) + 0.05, "prob": 1.0 / (1.0 + np.exp(-s))}


_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "logistic": lambda m: 1.0 / (1.0 + np.exp(-m)),
    "softplus": lambda m: np.log1p(np.exp(m)),
}
_DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "logistic": lambda m: np.ones_like(m),  # shap's convention at equal margins: 1
    "softplus": lambda m: 1.0 / (1.0 + np.exp(-m)),
}


def _xgb(objective: str) -> Callable[[], Any]:
    return lambda: xgb.XGBRegressor(objective=objective, n_estimators=6, max_depth=3)


def _lgb(objective: str) -> Callable[[], Any]:
    return lambda: lgb.LGBMRegressor(
        objective=objective, n_estimators=6, num_leaves=6, min_child_samples=5, verbose=-1
    )


#: name -> (factory, target, link)
CASES: dict[str, tuple[Callable[[], Any], str, str]] = {
    "xgb-poisson": (_xgb("count:poisson"), "pos", "exp"),
    "xgb-gamma": (_xgb("reg:gamma"), "pos", "exp"),
    "xgb-tweedie": (_xgb("reg:tweedie"), "pos", "exp"),
    "xgb-logistic": (_xgb("reg:logistic"), "prob", "logistic"),
    "lgb-poisson": (_lgb("poisson"), "pos", "exp"),
    "lgb-gamma": (_lgb("gamma"), "pos", "exp"),
    "lgb-tweedie": (_lgb("tweedie"), "pos", "exp"),
    "lgb-xent": (_lgb("cross_entropy"), "prob", "logistic"),
    "lgb-xentlambda": (_lgb("cross_entropy_lambda"), "prob", "softplus"),
    "hgb-poisson": (
        lambda: HistGradientBoostingRegressor(loss="poisson", max_iter=6, max_depth=3),
        "pos",
        "exp",
    ),
}

_FITTED: dict[str, tuple[Any, np.ndarray]] = {}


def _fitted(name: str) -> tuple[Any, np.ndarray]:
    if name not in _FITTED:
        factory, target, _ = CASES[name]
        d = _data()
        _FITTED[name] = (factory().fit(d["X"], d[target]), d["X"])
    return _FITTED[name]


def _native_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """The library's own margin (before the link), shape (n,)."""
    if isinstance(model, xgb.XGBModel):
        out = model.predict(X, output_margin=True)
    elif isinstance(model, lgb.LGBMModel):
        out = model.predict(X, raw_score=True)
    else:
        out = model._raw_predict(X)
    return np.asarray(out, dtype=np.float64).reshape(-1)


def _native_contribs(model: Any, X: np.ndarray) -> np.ndarray | None:
    """Native path-dependent contributions (values, then the bias), or None."""
    if isinstance(model, xgb.XGBModel):
        return np.asarray(model.get_booster().predict(xgb.DMatrix(X), pred_contribs=True))
    if isinstance(model, lgb.LGBMModel):
        return np.asarray(model.predict(X, pred_contrib=True), dtype=np.float64)
    return None


def _explain(model: Any, background: np.ndarray, rows: np.ndarray, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ExplainedModel(model, background=background, **kwargs)
        return em, em.explain(rows)


def _rescaled_row_games(
    margin: Callable[[np.ndarray], np.ndarray], link: str, x: np.ndarray, bg: np.ndarray
) -> np.ndarray:
    """The response game's tree values by enumeration: per background row ``b``, the Shapley
    values of ``m_b(S) = margin(x_S, b_~S)`` times ``(f(m(x)) - f(m(b))) / (m(x) - m(b))``
    (``f'`` at equal margins), averaged over the rows."""
    m = x.shape[0]
    total = np.zeros(m)
    mx = float(margin(x[None, :])[0])
    f, df = _LINKS[link], _DERIVATIVES[link]
    for b in bg:
        hybrids = {}
        for size in range(m + 1):
            for s in itertools.combinations(range(m), size):
                row = b.copy()
                row[list(s)] = x[list(s)]
                hybrids[frozenset(s)] = row
        keys = list(hybrids)
        values = dict(zip(keys, margin(np.array([hybrids[k] for k in keys])), strict=True))
        phi = np.zeros(m)
        for j in range(m):
            others = [p for p in range(m) if p != j]
            for size in range(m):
                w = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                for s in itertools.combinations(others, size):
                    fs = frozenset(s)
                    phi[j] += w * (values[fs | {j}] - values[fs])
        mb = float(values[frozenset()])
        if mx == mb:
            factor = float(df(np.array([mb]))[0])
        else:
            factor = float((f(np.array([mx])) - f(np.array([mb])))[0] / (mx - mb))
        total += phi * factor
    out: np.ndarray = total / len(bg)
    return out


# --- margin ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_margin_is_the_default_and_matches_native_contributions(name: str) -> None:
    model, X = _fitted(name)
    rows = X[:20]
    em, batch = _explain(model, X[:80], rows)
    assert em.output_space_ == "margin"
    assert batch.output_space == "margin"
    assert em.method_ == "tree"
    assert batch.exact
    margin = _native_margin(model, rows)
    np.testing.assert_allclose(batch.outputs, margin, **F32)
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(axis=1), margin, **F32)
    # The score a rep sees stays the model's prediction.
    np.testing.assert_allclose(batch.scores, model.predict(rows), rtol=1e-6)
    native = _native_contribs(model, rows)
    if native is not None:
        np.testing.assert_allclose(batch.attributions, native[:, :-1], **F32)
        np.testing.assert_allclose(batch.base_values, native[:, -1], **F32)
    brute, empty = brute_force_shap(compile_ensemble(model), rows[:4])
    np.testing.assert_allclose(batch.attributions[:4], brute, **F64)
    np.testing.assert_allclose(batch.base_values[0], empty, **F64)


@pytest.mark.parametrize("name", ["xgb-poisson", "lgb-gamma", "hgb-poisson"])
def test_explicit_margin_equals_auto(name: str) -> None:
    model, X = _fitted(name)
    _, auto = _explain(model, X[:60], X[:5])
    _, explicit = _explain(model, X[:60], X[:5], output_space="margin")
    np.testing.assert_array_equal(auto.attributions, explicit.attributions)


# --- response -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_response_is_the_rescaled_interventional_game(name: str) -> None:
    model, X = _fitted(name)
    link = CASES[name][2]
    bg, rows = X[100:108], X[:3]
    em, batch = _explain(model, bg, rows, output_space="response")
    assert em.output_space_ == "response"
    assert batch.output_space == "response"
    assert batch.exact
    predict = np.asarray(model.predict(rows), dtype=np.float64)
    # Efficiency: base + sum is predict, exactly (the rescaling adds up per background row).
    np.testing.assert_allclose(batch.outputs, predict, rtol=1e-6)
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(axis=1), predict, **F32)
    base = np.mean(_LINKS[link](_native_margin(model, bg)))
    np.testing.assert_allclose(batch.base_values, base, **F32)
    for k, x in enumerate(rows):
        expected = _rescaled_row_games(lambda A: _native_margin(model, A), link, x, bg)
        np.testing.assert_allclose(batch.attributions[k], expected, **F32)


def test_raw_on_a_link_regressor_is_its_response() -> None:
    model, X = _fitted("xgb-poisson")
    em, raw = _explain(model, X[:40], X[:4], output_space="raw")
    _, response = _explain(model, X[:40], X[:4], output_space="response")
    assert em.output_space_ == "response"
    assert raw.output_space == "response"
    np.testing.assert_array_equal(raw.attributions, response.attributions)


def test_response_is_not_the_shapley_value_of_the_response_game() -> None:
    """The kernel computes the response game's Shapley values; the tree's rescaled values
    add up to the same prediction but are another attribution."""
    model, X = _fitted("xgb-poisson")
    bg, rows = X[100:110], X[:2]
    _, kernel = _explain(model, bg, rows, method="kernel", output_space="response")
    _, tree = _explain(model, bg, rows, output_space="response")
    assert kernel.output_space == "response"
    assert kernel.exact
    for k, x in enumerate(rows):
        phi, empty = interventional_shapley(lambda A: model.predict(A), x, bg)
        np.testing.assert_allclose(kernel.attributions[k], phi, **F32)
        np.testing.assert_allclose(kernel.base_values[k], empty, **F32)
    np.testing.assert_allclose(kernel.base_values + kernel.attributions.sum(1), tree.outputs, **F32)
    assert not np.allclose(kernel.attributions, tree.attributions, rtol=1e-3, atol=1e-4)


def test_kernel_margin_is_the_margin_game() -> None:
    model, X = _fitted("lgb-tweedie")
    bg, rows = X[100:110], X[:2]
    _, batch = _explain(model, bg, rows, method="kernel", output_space="margin")
    assert batch.output_space == "margin"
    assert batch.exact
    for k, x in enumerate(rows):
        phi, empty = interventional_shapley(lambda A: _native_margin(model, A), x, bg)
        np.testing.assert_allclose(batch.attributions[k], phi, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(batch.base_values[k], empty, rtol=1e-9, atol=1e-9)


def test_glm_margin_through_the_kernel() -> None:
    """scikit-learn's PoissonRegressor: margin = X @ coef_ + intercept_ (its linear
    predictor), response = predict = exp(margin)."""
    d = _data()
    model = PoissonRegressor(alpha=1e-3).fit(d["X"], d["pos"])
    bg, rows = d["X"][100:130], d["X"][:3]
    em, margin = _explain(model, bg, rows)
    assert em.output_space_ == "margin"
    eta = rows @ model.coef_ + model.intercept_
    np.testing.assert_allclose(margin.base_values + margin.attributions.sum(1), eta, **F64)
    # The margin is linear: its interventional values are coef_j (x_j - mean_b b_j).
    np.testing.assert_allclose(
        margin.attributions, (rows - bg.mean(axis=0)) * model.coef_, rtol=1e-9, atol=1e-9
    )
    _, response = _explain(model, bg, rows, output_space="response")
    np.testing.assert_allclose(
        response.base_values + response.attributions.sum(1), np.exp(eta), rtol=1e-9
    )


@pytest.mark.parametrize("space", ["margin", "response"])
@pytest.mark.parametrize("name", ["xgb-poisson", "lgb-xent", "hgb-poisson"])
def test_explain_one_equals_the_batch_row(name: str, space: str) -> None:
    model, X = _fitted(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ExplainedModel(model, background=X[:50], output_space=space)
        batch = em.explain(X[:6])
        for i in (0, 5):
            one = em.explain_one(X[i])
            assert one.output_space == space
            assert one.output == pytest.approx(batch.outputs[i], rel=1e-12)
            assert one.base_value == pytest.approx(batch.base_values[i], rel=1e-12)
            row = batch[i]
            assert [a.feature for a in one.attributions] == [a.feature for a in row.attributions]
            np.testing.assert_allclose(
                [a.contribution for a in one.attributions],
                [a.contribution for a in row.attributions],
                rtol=1e-12,
                atol=1e-12,
            )
            assert one.reason == row.reason


# --- names resolved per model, and refusals ------------------------------------------------


def test_classifier_margin_is_log_odds_and_response_is_probability() -> None:
    d = _data()
    y = (d["prob"] > 0.5).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=3).fit(d["X"], y)
    bg, rows = d["X"][:60], d["X"][:5]
    em, margin = _explain(model, bg, rows, output_space="margin")
    _, log_odds = _explain(model, bg, rows, output_space="log_odds")
    assert em.output_space_ == "log_odds"
    assert margin.output_space == "log_odds"
    np.testing.assert_array_equal(margin.attributions, log_odds.attributions)
    em, response = _explain(model, bg, rows, output_space="response")
    _, proba = _explain(model, bg, rows, output_space="probability")
    assert em.output_space_ == "probability"
    np.testing.assert_array_equal(response.attributions, proba.attributions)


@pytest.mark.parametrize("space", ["margin", "response", "raw"])
@pytest.mark.parametrize(
    "factory", [lambda: RandomForestRegressor(n_estimators=3, random_state=0), LinearRegression]
)
def test_regressor_without_a_link_has_one_space_raw(factory: Any, space: str) -> None:
    d = _data()
    model = factory().fit(d["X"], d["pos"])
    em, batch = _explain(model, d["X"][:40], d["X"][:4], output_space=space)
    assert em.output_space_ == "raw"
    assert batch.output_space == "raw"
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(1), model.predict(d["X"][:4]), rtol=1e-9
    )


def test_unknown_output_space_uses_the_parameter_template() -> None:
    model, X = _fitted("xgb-poisson")
    with pytest.raises(ParameterError) as err:
        _explain(model, X[:20], X[:2], output_space="link")
    assert str(err.value) == (
        "The 'output_space' parameter of ExplainedModel must be one of 'auto', 'log_odds', "
        "'probability', 'raw', 'margin', 'response'. Got 'link' instead."
    )


@pytest.mark.parametrize("space", ["probability", "log_odds"])
def test_classifier_space_on_a_regressor_is_refused_with_a_way_forward(space: str) -> None:
    model, X = _fitted("lgb-poisson")
    with pytest.raises(UnsupportedModelError, match="output_space='margin' or 'response'"):
        _explain(model, X[:20], X[:2], output_space=space)


class _OpaqueRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A regressor from no library explainscore knows: its link cannot be read."""

    def fit(self, X: Any, y: Any) -> _OpaqueRegressor:
        self.inner_ = LinearRegression().fit(X, np.log(y))
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X: Any) -> Any:
        return np.exp(self.inner_.predict(X))


def test_margin_of_an_opaque_regressor_is_refused_and_raw_works() -> None:
    d = _data()
    model = _OpaqueRegressor().fit(d["X"], d["pos"])
    with pytest.raises(UnsupportedModelError, match="output_space='raw'"):
        _explain(model, d["X"][:20], d["X"][:2], output_space="margin")
    em, batch = _explain(model, d["X"][:20], d["X"][:2])
    assert batch.output_space == "raw"
    assert em.method_ == "kernel"
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(1), model.predict(d["X"][:2]), rtol=1e-9
    )
