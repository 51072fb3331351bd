"""Shapley axioms and invariances: dummy, symmetry, DataFrame vs array, seeds (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from xgboost import XGBRegressor

from explainscore import ExplainedModel

from .strategies import small_classification_data, small_regression_data

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(small_regression_data())
def test_frame_and_array_inputs_agree_and_add_up(data) -> None:
    X, y = data
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    for model in (DecisionTreeRegressor(max_depth=4, random_state=0), LinearRegression()):
        em = ExplainedModel(model).fit(frame, y)
        a = em.explain(frame)
        b = em.explain(X)  # the same rows as an array, columns in the model's order
        np.testing.assert_array_equal(a.attributions, b.attributions)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_allclose(
            a.base_values + a.attributions.sum(1), em.model_.predict(frame), atol=1e-6
        )
        # a model fitted on the array gives the same explanation up to float round-off
        c = ExplainedModel(model).fit(X, y).explain(X)
        np.testing.assert_allclose(a.attributions, c.attributions, rtol=0, atol=1e-9)


@SETTINGS
@given(small_classification_data())
def test_classifier_outputs_add_up_in_log_odds(data) -> None:
    X, y = data
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(X, y)
    batch = em.explain(X)
    margin = em.model_.decision_function(X)
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(1), margin, atol=1e-6)


def test_dummy_column_gets_exactly_zero() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] + 2 * X[:, 1] ** 2
    X_train = X.copy()
    X_train[:, 2] = 0.0  # column 2 never varies in training: no tree splits on it
    for model in (
        DecisionTreeRegressor(max_depth=5, random_state=0),
        XGBRegressor(n_estimators=20, max_depth=3),
    ):
        em = ExplainedModel(model, background=X_train).fit(X_train, y)
        batch = em.explain(X)  # column 2 varies here
        assert np.all(batch.attributions[:, 2] == 0.0)
    lasso = ExplainedModel(Lasso(alpha=0.5)).fit(X, X[:, 0] * 3)
    assert lasso.model_.coef_[3] == 0.0
    assert np.all(lasso.explain(X).attributions[:, 3] == 0.0)


def test_symmetric_columns_get_equal_values() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=(200, 1))
    X = np.hstack([base, base, rng.normal(size=(200, 1))])
    y = 3 * base[:, 0] + X[:, 2]
    em = ExplainedModel(LinearRegression()).fit(X, y)
    # minimum-norm least squares splits the duplicated effect equally
    batch = em.explain(X[:20])
    np.testing.assert_allclose(batch.attributions[:, 0], batch.attributions[:, 1], atol=1e-9)


def test_same_seed_same_output_and_different_seed_different_background() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    runs = [
        ExplainedModel(model, background=X, n_background=50, random_state=s).explain(X[:10])
        for s in (1, 1, 2)
    ]
    np.testing.assert_array_equal(runs[0].attributions, runs[1].attributions)
    lr = LogisticRegression().fit(X, y)
    a = ExplainedModel(lr, background=X, n_background=50, random_state=1).explain(X[:10])
    b = ExplainedModel(lr, background=X, n_background=50, random_state=1).explain(X[:10])
    c = ExplainedModel(lr, background=X, n_background=50, random_state=2).explain(X[:10])
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.array_equal(a.base_values, c.base_values)


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_records_list_top_k_strongest(top_k: int) -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(100, 4))
    em = ExplainedModel(LinearRegression(), top_k=top_k).fit(X, X @ [1.0, -2.0, 0.5, 3.0])
    for rec, row in zip(em.explain(X[:10]), em.explain(X[:10]).attributions, strict=True):
        expected = np.argsort(-np.abs(row), kind="stable")[:top_k]
        assert [a.feature for a in rec.attributions] == [f"x{j}" for j in expected]
