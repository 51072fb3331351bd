"""Multi-output models (issue 15): one target explained, chosen with ``target=``.

A regressor fitted on a 2-column ``y`` predicts one column per target. ``ExplainedModel``
explains one of them: ``target=k`` (default 0), exact for that column, against oracles
explainscore did not compute:

* XGBoost, default ``multi_strategy`` (one tree per target per round): its native
  ``pred_contribs`` per target, and efficiency against ``predict[:, k]``;
* XGBoost ``multi_strategy="multi_output_tree"`` (one tree with a vector leaf per round):
  XGBoost computes no contributions for it (checked: it raises), so brute-force Shapley
  values of the path-dependent game per target, and efficiency against ``predict[:, k]``;
* RandomForestRegressor with 2 targets (shap's multi-target forest test, rebuilt): shap's
  TreeExplainer per output and brute force;
* LinearRegression with 2 targets (linear backend): the brute-force interventional game of
  ``predict[:, k]``;
* MultiOutputRegressor wrapping boosters: ``method="kernel"`` (the wrapper is no tree model),
  exact against the brute-force interventional game of ``predict[:, k]``.

Multi-output *classifiers* are refused with a typed error that names the way forward.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import shap
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor

from explainscore import ExplainedModel
from explainscore.attribution.tree import compile_ensemble
from explainscore.exceptions import ParameterError, UnsupportedModelError

from .attribution.bruteforce import interventional_shapley
from .tree.bruteforce import brute_force_shap

F32: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-6}
F64: dict[str, Any] = {"rtol": 1e-9, "atol": 1e-9}


def _data(seed: int = 5, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    Y = np.c_[X[:, 0] + X[:, 1] * X[:, 2], 2.0 * X[:, 3] - X[:, 0] + 0.1 * rng.normal(size=n)]
    return X, Y


def _explain(model: Any, background: np.ndarray, rows: np.ndarray, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ExplainedModel(model, background=background, **kwargs)
        return em, em.explain(rows)


def _check_explain_one(em: Any, rows: np.ndarray, batch: Any) -> None:
    for i in (0, len(rows) - 1):
        one = em.explain_one(rows[i])
        assert one.output == pytest.approx(batch.outputs[i], rel=1e-12, abs=1e-12)
        assert one.base_value == pytest.approx(batch.base_values[i], rel=1e-12, abs=1e-12)
        assert one.reason == batch[i].reason


@pytest.mark.parametrize("target", [None, 0, 1])
def test_xgboost_multi_target_matches_native_contributions(target: int | None) -> None:
    X, Y = _data()
    model = xgb.XGBRegressor(n_estimators=8, max_depth=3).fit(X, Y)
    rows = X[:20]
    em, batch = _explain(model, X[:60], rows, target=target)
    k = 0 if target is None else target
    assert em.method_ == "tree"
    assert batch.output_space == "raw"
    predict = np.asarray(model.predict(rows), dtype=np.float64)[:, k]
    np.testing.assert_allclose(batch.outputs, predict, rtol=1e-6)
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(1), predict, **F32)
    contribs = model.get_booster().predict(xgb.DMatrix(rows), pred_contribs=True)
    assert contribs.shape == (len(rows), 2, 5)
    np.testing.assert_allclose(batch.attributions, contribs[:, k, :-1], **F32)
    np.testing.assert_allclose(batch.base_values, contribs[:, k, -1], **F32)
    _check_explain_one(em, rows, batch)


@pytest.mark.parametrize("target", [0, 1])
def test_xgboost_multi_output_tree(target: int) -> None:
    X, Y = _data()
    model = xgb.XGBRegressor(
        n_estimators=6, max_depth=3, multi_strategy="multi_output_tree", tree_method="hist"
    ).fit(X, Y)
    rows = X[:10]
    # What XGBoost itself does: no contributions for vector-leaf trees.
    with pytest.raises(xgb.core.XGBoostError, match="multi-target"):
        model.get_booster().predict(xgb.DMatrix(rows), pred_contribs=True)
    ens = compile_ensemble(model)
    np.testing.assert_allclose(
        ens.predict_raw(rows), model.predict(rows, output_margin=True), **F32
    )
    em, batch = _explain(model, X[:60], rows, target=target)
    predict = np.asarray(model.predict(rows), dtype=np.float64)[:, target]
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(1), predict, **F32)
    brute, empty = brute_force_shap(ens, rows[:5], output=target)
    np.testing.assert_allclose(batch.attributions[:5], brute, **F64)
    np.testing.assert_allclose(batch.base_values[0], empty, **F64)
    _check_explain_one(em, rows, batch)


@pytest.mark.parametrize("target", [0, 1])
def test_random_forest_two_targets_matches_shap_and_brute_force(target: int) -> None:
    X, Y = _data()
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(X, Y)
    rows = X[:15]
    em, batch = _explain(model, X[:60], rows, target=target)
    predict = model.predict(rows)[:, target]
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(1), predict, **F64)
    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(rows))  # (n, features, targets)
    np.testing.assert_allclose(batch.attributions, values[:, :, target], **F64)
    np.testing.assert_allclose(batch.base_values, explainer.expected_value[target], **F64)
    brute, _ = brute_force_shap(compile_ensemble(model), rows[:4], output=target)
    np.testing.assert_allclose(batch.attributions[:4], brute, **F64)
    _check_explain_one(em, rows, batch)


@pytest.mark.parametrize("target", [0, 1])
def test_linear_regression_two_targets(target: int) -> None:
    X, Y = _data()
    model = LinearRegression().fit(X, Y)
    bg, rows = X[:40], X[40:45]
    em, batch = _explain(model, bg, rows, target=target)
    assert em.method_ == "linear"
    for i, x in enumerate(rows):
        phi, empty = interventional_shapley(lambda A: model.predict(A)[:, target], x, bg)
        np.testing.assert_allclose(batch.attributions[i], phi, **F64)
        np.testing.assert_allclose(batch.base_values[i], empty, **F64)
    _check_explain_one(em, rows, batch)


def test_multi_output_regressor_of_boosters_is_explained_by_the_kernel() -> None:
    X, Y = _data()
    model = MultiOutputRegressor(xgb.XGBRegressor(n_estimators=5, max_depth=3)).fit(X, Y)
    bg, rows = X[:25], X[30:33]
    em, batch = _explain(model, bg, rows, target=1)
    assert em.method_ == "kernel"
    assert batch.exact
    for i, x in enumerate(rows):
        phi, empty = interventional_shapley(lambda A: model.predict(A)[:, 1], x, bg)
        np.testing.assert_allclose(batch.attributions[i], phi, **F32)
        np.testing.assert_allclose(batch.base_values[i], empty, **F32)
    # The first estimator is XGBoost itself: explaining it alone takes the tree backend.
    em0, _ = _explain(model.estimators_[0], bg, rows)
    assert em0.method_ == "tree"


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [2, -1, "first", True, 0.5])
def test_target_out_of_range_uses_the_parameter_template(bad: Any) -> None:
    X, Y = _data()
    model = LinearRegression().fit(X, Y)
    with pytest.raises(ParameterError, match=r"^The 'target' parameter of ExplainedModel must be"):
        _explain(model, X[:20], X[:2], target=bad)


def test_target_on_a_classifier_points_to_target_class() -> None:
    X, Y = _data()
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y[:, 0] > 0)
    with pytest.raises(ParameterError, match="use target_class"):
        _explain(model, X[:20], X[:2], target=1)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: RandomForestClassifier(n_estimators=3, random_state=0),
        lambda: MultiOutputClassifier(RandomForestClassifier(n_estimators=3, random_state=0)),
    ],
)
def test_multi_output_classifiers_are_refused_with_a_way_forward(factory: Any) -> None:
    X, Y = _data()
    model = factory().fit(X, (Y > 0).astype(int))
    with pytest.raises(UnsupportedModelError, match=r"one classifier per target"):
        _explain(model, X[:20], X[:2])
