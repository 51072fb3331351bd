"""The linear backend plays the model's own game, in every output space (issue 15, item 7).

Oracle: brute-force Shapley values over all coalitions of the interventional game on the
background (``tests/attribution/bruteforce.py``), evaluated with the model's *own* output
(``predict_proba``, ``decision_function``, XGBoost's ``output_margin``) on hybrid rows. The
backend never calls that oracle: it computes from coefficients and a link.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainscore import ExplainedModel
from explainscore.exceptions import UnsupportedModelError

from .attribution.bruteforce import interventional_shapley

COLS = ["a", "b", "c", "d"]


def _data(n: int = 160, seed: int = 0, scale: float = 2.0) -> tuple[pd.DataFrame, Any, Any]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(scale=scale, size=(n, 4)), columns=COLS)
    y2 = (X.a + 0.5 * X.b - 0.3 * X.c + rng.normal(size=n) > 0).astype(int)
    y3 = np.digitize(X.a - X.c + rng.normal(size=n), [-1.0, 1.0])
    return X, y2, y3


def _oracle(
    f: Callable[[pd.DataFrame], np.ndarray], x: pd.Series, bg: pd.DataFrame
) -> tuple[np.ndarray, float]:
    """Brute-force Shapley values of v(S) = mean_b f(x_S, b_~S) over the raw columns."""
    cols = list(bg.columns)

    def g(rows: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(rows, columns=cols)
        for c in cols:
            if pd.api.types.is_numeric_dtype(bg[c]):
                frame[c] = frame[c].astype(bg[c].dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(f(frame), dtype=np.float64)

    numeric = all(pd.api.types.is_numeric_dtype(bg[c]) for c in cols)
    arr = bg.to_numpy(dtype=np.float64 if numeric else object)
    return interventional_shapley(g, x.to_numpy(dtype=arr.dtype), arr)


def _assert_exact(
    em: ExplainedModel,
    f: Callable[[pd.DataFrame], np.ndarray],
    X: pd.DataFrame,
    tol: float,
) -> float:
    """Every explained row equals brute force; efficiency holds; returns the worst error."""
    rows = X.iloc[:4]
    ex = em.explain(rows)
    assert ex.exact
    bg = em.background_
    worst = 0.0
    for i in range(len(rows)):
        phi, base = _oracle(f, rows.iloc[i], bg)
        worst = max(worst, float(np.abs(ex.attributions[i] - phi).max()))
        worst = max(worst, abs(float(ex.base_values[i]) - base))
    assert worst <= tol, worst
    total = ex.base_values + ex.attributions.sum(axis=1)
    np.testing.assert_allclose(total, f(rows), atol=tol, rtol=0)
    return worst


# --- SGDClassifier(loss="modified_huber") ---------------------------------------------------


def test_modified_huber_probability_is_its_own_predict_proba_game() -> None:
    X, y2, _ = _data()
    model = SGDClassifier(loss="modified_huber", alpha=0.1, random_state=0).fit(X, y2)
    d = model.decision_function(X)
    assert (np.abs(d) > 1).any()
    assert (np.abs(d) < 1).any()
    em = ExplainedModel(model, background=X.iloc[:40], output_space="probability")
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 1], X.iloc[40:], 1e-12)
    assert em.method_ == "linear"


def test_modified_huber_class_zero_probability() -> None:
    X, y2, _ = _data(seed=3)
    model = SGDClassifier(loss="modified_huber", alpha=0.1, random_state=0).fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:30], output_space="probability", target_class=0)
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 0], X.iloc[30:], 1e-12)


def test_modified_huber_multiclass_probability_normalises_clipped_scores() -> None:
    X, _, y3 = _data(seed=1)
    model = SGDClassifier(loss="modified_huber", alpha=0.1, random_state=0).fit(X, y3)
    for target in model.classes_:
        em = ExplainedModel(
            model, background=X.iloc[:30], output_space="probability", target_class=target
        )
        t = list(model.classes_).index(target)
        _assert_exact(em, lambda F, t=t: model.predict_proba(F)[:, t], X.iloc[30:], 1e-12)


def test_modified_huber_auto_space_is_its_decision_function() -> None:
    X, y2, _ = _data()
    model = SGDClassifier(loss="modified_huber", alpha=0.1, random_state=0).fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:40])
    _assert_exact(em, model.decision_function, X.iloc[40:], 1e-10)
    assert em.output_space_ == "raw"  # not called a log-odds: it is not one


def test_modified_huber_log_odds_is_refused_with_one_way_forward() -> None:
    X, y2, _ = _data()
    model = SGDClassifier(loss="modified_huber", alpha=0.1, random_state=0).fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:40], output_space="log_odds")
    with pytest.raises(UnsupportedModelError) as info:
        em.explain(X.iloc[:2])
    message = str(info.value)
    assert "output_space='raw'" in message
    assert "bug" not in message
    em.set_params(output_space="raw")  # the way forward works, exactly
    _assert_exact(em, model.decision_function, X.iloc[40:], 1e-10)


def test_modified_huber_probability_behind_a_pipeline_with_one_hot() -> None:
    X, y2, _ = _data()
    X = X.assign(region=np.where(X.d > 0.5, "north", np.where(X.d < -0.5, "south", "east")))
    X = X.drop(columns="d")
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b", "c"]), ("cat", OneHotEncoder(), ["region"])]
    )
    model = make_pipeline(pre, SGDClassifier(loss="modified_huber", alpha=0.1, random_state=0)).fit(
        X, y2
    )
    em = ExplainedModel(model, background=X.iloc[:25], output_space="probability")
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 1], X.iloc[25:], 1e-12)
    assert em.method_ == "linear"


# --- one-vs-rest multiclass ------------------------------------------------------------------


def test_sgd_ovr_multiclass_probability_is_normalised_one_vs_rest() -> None:
    X, _, y3 = _data(seed=2)
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X, y3)
    for t in range(3):
        em = ExplainedModel(
            model, background=X.iloc[:30], output_space="probability", target_class=t
        )
        _assert_exact(em, lambda F, t=t: model.predict_proba(F)[:, t], X.iloc[30:], 1e-12)
        assert em.method_ == "linear"


def test_sgd_ovr_multiclass_log_odds_is_each_binary_decision_function() -> None:
    X, _, y3 = _data(seed=2)
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X, y3)
    for t in range(3):
        em = ExplainedModel(model, background=X.iloc[:30], target_class=t)
        _assert_exact(em, lambda F, t=t: model.decision_function(F)[:, t], X.iloc[30:], 1e-10)
        assert em.output_space_ == "log_odds"


def test_multinomial_logistic_probability_is_a_softmax_game() -> None:
    X, _, y3 = _data(seed=4)
    model = LogisticRegression(max_iter=1000).fit(X, y3)
    em = ExplainedModel(model, background=X.iloc[:30], output_space="probability", target_class=1)
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 1], X.iloc[30:], 1e-12)


def test_one_vs_rest_wrapper_is_explained_exactly_by_enumeration() -> None:
    X, _, y3 = _data(seed=5)
    model = OneVsRestClassifier(LogisticRegression()).fit(X, y3)
    em = ExplainedModel(model, background=X.iloc[:20], target_class=2)
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 2], X.iloc[20:], 1e-12)
    assert (em.method_, em.output_space_) == ("kernel", "probability")


# --- XGBoost gblinear ------------------------------------------------------------------------


def _gblinear(objective: str, y: Any, X: pd.DataFrame, **params: Any) -> Any:
    xgb = pytest.importorskip("xgboost")
    cls = xgb.XGBRegressor if objective.startswith("reg:") else xgb.XGBClassifier
    model = cls(booster="gblinear", objective=objective, n_estimators=30, n_jobs=1, **params)
    return model.fit(X, y)


def _margin(model: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    def f(F: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(F, output_margin=True), dtype=np.float64)

    return f


def test_gblinear_binary_log_odds_and_probability() -> None:
    X, y2, _ = _data(seed=6)
    model = _gblinear("binary:logistic", y2, X)
    em = ExplainedModel(model, background=X.iloc[:30])
    assert (em.explain(X.iloc[:1]).explainer, em.output_space_) == ("linear", "log_odds")
    _assert_exact(em, _margin(model), X.iloc[30:], 1e-5)
    em.set_params(output_space="probability")
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 1], X.iloc[30:], 1e-5)


def test_gblinear_multiclass_reads_the_booster_weights() -> None:
    X, _, y3 = _data(seed=7)
    model = _gblinear("multi:softprob", y3, X)
    for t in range(3):
        em = ExplainedModel(model, background=X.iloc[:30], target_class=t)
        _assert_exact(em, lambda F, t=t: _margin(model)(F)[:, t], X.iloc[30:], 1e-5)
        em.set_params(output_space="probability")
        _assert_exact(em, lambda F, t=t: model.predict_proba(F)[:, t], X.iloc[30:], 1e-5)


def test_gblinear_regressor_and_missing_values() -> None:
    X, _, _ = _data(seed=8)
    X.iloc[::5, 1] = np.nan  # a missing value contributes nothing to gblinear's margin
    y = 2 * X.a.fillna(0) - X.c + 0.5
    model = _gblinear("reg:squarederror", y, X)
    em = ExplainedModel(model, background=X.iloc[:30])
    rows = pd.concat([X.iloc[[30]].assign(b=np.nan), X.iloc[31:]])
    _assert_exact(em, lambda F: model.predict(F).astype(np.float64), rows, 1e-5)


def test_gblinear_missing_sentinel_contributes_nothing() -> None:
    X, y2, _ = _data(seed=9)
    X.iloc[::4, 0] = -999.0
    model = _gblinear("binary:logistic", y2, X, missing=-999.0)
    em = ExplainedModel(model, background=X.iloc[:30])
    _assert_exact(em, _margin(model), X.iloc[30:], 1e-5)


def test_gblinear_with_a_link_regressor_is_refused_towards_kernel() -> None:
    X, y2, _ = _data(seed=10)
    model = _gblinear("reg:logistic", y2.astype(float), X)
    em = ExplainedModel(model, background=X.iloc[:20])
    with pytest.raises(UnsupportedModelError) as info:
        em.explain(X.iloc[:2])
    assert "method='kernel'" in str(info.value)
    em.set_params(method="kernel")  # the way forward: the model's own predict, enumerated
    _assert_exact(em, lambda F: model.predict(F).astype(np.float64), X.iloc[20:], 1e-5)
