"""Converter settings that used to be misread (issue 15), each against an independent oracle.

Oracles: the boosters' own contributions (XGBoost ``pred_contribs=True``, LightGBM
``pred_contrib=True``) and margins (``output_margin=True`` / ``raw_score=True``), which the
compiled core must reproduce to 1e-5 (the boosters sum float32 leaves), and brute-force
Shapley values over all coalitions of the path-dependent game (``bruteforce.py``), to 1e-9.
Every setting also checks efficiency: base + sum of values = the model's margin.

Cases rebuilt (in our own code) from XGBoost's ``tests/python/test_shap.py``: the 5-feature,
100-row random model with ``gamma=2`` and ``base_score=1``, whose trees keep deleted nodes.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from explainscore import ExplainedModel
from explainscore.attribution._tree_support import is_averaging_ensemble, is_tree_model
from explainscore.attribution.tree import TreeShapCore, compile_ensemble
from explainscore.exceptions import UnsupportedModelError

from .bruteforce import brute_force_shap

# The boosters add float32 leaves in float32 (XGBoost) or report float32-rounded values.
F32 = {"rtol": 1e-5, "atol": 1e-5}
N_BRUTE = 5


def _data(seed: int = 0, n: int = 300, p: int = 5) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    s = X[:, 0] + 0.8 * X[:, 1] * X[:, 2] - 0.5 * np.abs(X[:, 3]) + 0.2 * rng.normal(size=n)
    return {
        "X": X,
        "reg": s,
        "bin": (s > np.median(s)).astype(int),
        "multi": np.digitize(s, np.quantile(s, [1 / 3, 2 / 3])),
        "pos": np.exp(0.4 * s) + 0.05,
        "prob": 1.0 / (1.0 + np.exp(-s)),
    }


def _check_core(ens: Any, X: np.ndarray, contribs: np.ndarray, margin: np.ndarray) -> None:
    """Core values = native contributions, base = native bias, base + sum = margin, and the
    values are the brute-force Shapley values of the path-dependent game.

    ``contribs`` has shape (n, n_outputs, n_features + 1), the bias last; ``margin`` (n,
    n_outputs)."""
    np.testing.assert_allclose(ens.predict_raw(X), margin, **F32)
    for k in range(ens.n_outputs):
        core = TreeShapCore(ens, output=k)
        values = core.shap_values(X)
        np.testing.assert_allclose(values, contribs[:, k, :-1], **F32)
        np.testing.assert_allclose(core.expected_value, contribs[0, k, -1], **F32)
        np.testing.assert_allclose(core.expected_value + values.sum(axis=1), margin[:, k], **F32)
        brute, empty = brute_force_shap(ens, X[:N_BRUTE], output=k)
        np.testing.assert_allclose(values[:N_BRUTE], brute, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(core.expected_value, empty, rtol=1e-9, atol=1e-9)


def _xgb_native(booster: Any, X: np.ndarray, missing: float = np.nan) -> tuple[Any, Any]:
    dm = xgb.DMatrix(X, missing=missing)
    n, p = X.shape
    contribs = np.asarray(booster.predict(dm, pred_contribs=True), dtype=np.float64)
    margin = np.asarray(booster.predict(dm, output_margin=True), dtype=np.float64)
    return contribs.reshape(n, -1, p + 1), margin.reshape(n, -1)


def _lgb_native(booster: Any, X: np.ndarray) -> tuple[Any, Any]:
    n, p = X.shape
    contribs = np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)
    margin = np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)
    return contribs.reshape(n, -1, p + 1), margin.reshape(n, -1)


def _explain(model: Any, X: np.ndarray, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ExplainedModel(model, background=X, **kwargs)
        return em, em.explain(X)


# --- 1. XGBoost trees with deleted nodes ------------------------------------------------------


def _deleted_nodes_model(tree_method: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """XGBoost's own test_shap case: gamma=2 prunes splits after growing them."""
    rng = np.random.RandomState(0)
    X = rng.randn(100, 5)
    y = rng.randn(100)
    params = {
        "max_depth": 5, "base_score": 1.0, "eta": 0.1, "gamma": 2.0,
        "tree_method": tree_method,
    }  # fmt: skip
    booster = xgb.train(params, xgb.DMatrix(X, label=y), 10)
    return booster, X, y


@pytest.mark.parametrize("tree_method", ["exact", "approx", "hist"])
def test_xgboost_deleted_nodes(tree_method: str) -> None:
    booster, X, _ = _deleted_nodes_model(tree_method)
    doc = json.loads(bytes(booster.save_raw("json")))
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    deleted = sum(int(t["tree_param"]["num_deleted"]) for t in trees)
    if tree_method == "exact":
        assert deleted > 0  # the case really exercises deleted nodes
    ens = compile_ensemble(booster)
    _check_core(ens, X, *_xgb_native(booster, X))
    # Through the public API, on the same raw columns.
    _, batch = _explain(booster, X)
    contribs, margin = _xgb_native(booster, X)
    np.testing.assert_allclose(batch.attributions, contribs[:, 0, :-1], **F32)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), margin[:, 0], **F32
    )


def test_xgboost_deleted_nodes_sklearn_wrapper() -> None:
    _, X, y = _deleted_nodes_model("exact")
    model = xgb.XGBRegressor(
        n_estimators=10, max_depth=5, learning_rate=0.1, gamma=2.0, base_score=1.0,
        tree_method="exact",
    ).fit(X, y)  # fmt: skip
    _check_core(compile_ensemble(model), X, *_xgb_native(model.get_booster(), X))
    _, batch = _explain(model, X)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), model.predict(X), **F32
    )


# --- 2. XGBoost base_score in every objective ----------------------------------------------

XGB_OBJECTIVES: list[tuple[str, str, dict[str, Any]]] = [
    ("binary:logistic", "bin", {}),
    ("binary:logistic", "bin", {"base_score": 0.3}),
    ("binary:logitraw", "bin", {}),
    ("binary:logitraw", "bin", {"base_score": 0.3}),
    ("reg:logistic", "prob", {}),
    ("multi:softprob", "multi", {"num_class": 3}),
    ("multi:softmax", "multi", {"num_class": 3}),
    ("reg:squarederror", "reg", {}),
    ("reg:squarederror", "reg", {"base_score": 2.5}),
    ("reg:absoluteerror", "reg", {}),
    ("reg:pseudohubererror", "reg", {}),
    ("count:poisson", "pos", {}),
    ("count:poisson", "pos", {"base_score": 2.0}),
    ("reg:gamma", "pos", {}),
    ("reg:tweedie", "pos", {"tweedie_variance_power": 1.3}),
    ("survival:cox", "pos", {}),
    ("rank:pairwise", "multi", {}),
    ("rank:ndcg", "multi", {}),
]


@pytest.mark.parametrize(
    ("objective", "target", "extra"),
    XGB_OBJECTIVES,
    ids=[f"{o}-{'-'.join(f'{k}={v}' for k, v in e.items())}" for o, _, e in XGB_OBJECTIVES],
)
def test_xgboost_base_score_every_objective(objective: str, target: str, extra: dict) -> None:
    d = _data(1)
    X = d["X"]
    dm = xgb.DMatrix(X, label=d[target])
    if objective.startswith("rank:"):
        dm.set_group([50] * 6)
    params = {"objective": objective, "max_depth": 3, **extra}
    booster = xgb.train(params, dm, 8)
    ens = compile_ensemble(booster)
    _check_core(ens, X, *_xgb_native(booster, X))


def test_xgboost_logitraw_public_api() -> None:
    d = _data(2)
    X = d["X"]
    model = xgb.XGBClassifier(objective="binary:logitraw", n_estimators=20, max_depth=3)
    model.fit(X, d["bin"])
    em, batch = _explain(model, X)
    assert em.method_ == "tree"
    assert em.output_space_ == "log_odds"
    contribs, margin = _xgb_native(model.get_booster(), X)
    np.testing.assert_allclose(batch.attributions, contribs[:, 0, :-1], **F32)
    np.testing.assert_allclose(batch.base_values, contribs[:, 0, -1], **F32)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), margin[:, 0], **F32
    )


# --- 3. XGBoost missing sentinel -----------------------------------------------------------


@pytest.mark.parametrize("sentinel", [-999.0, 0.0, 1.5])
def test_xgboost_missing_sentinel(sentinel: float) -> None:
    d = _data(3)
    rng = np.random.default_rng(3)
    X = d["X"].copy()
    X[rng.random(X.shape) < 0.2] = sentinel
    model = xgb.XGBClassifier(missing=sentinel, n_estimators=15, max_depth=4).fit(X, d["bin"])
    ens = compile_ensemble(model)
    assert ens.missing_value == sentinel
    booster = model.get_booster()
    contribs, margin = _xgb_native(booster, X, missing=sentinel)
    # The oracle really treats the sentinel as missing (a NaN matrix gives the same margin).
    X_nan = np.where(np.equal(X, sentinel), np.nan, X)
    np.testing.assert_allclose(_xgb_native(booster, X_nan)[1], margin, rtol=0, atol=0)
    np.testing.assert_allclose(model.predict(X, output_margin=True), margin[:, 0], rtol=0, atol=0)
    _check_core(ens, X, contribs, margin)
    em, batch = _explain(model, X)
    assert em.method_ == "tree"
    np.testing.assert_allclose(batch.attributions, contribs[:, 0, :-1], **F32)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), margin[:, 0], **F32
    )
    # The single-lead path goes through the same row preparation.
    one = em.explain_one(X[0])
    np.testing.assert_allclose(one.output, margin[0, 0], **F32)


def test_xgboost_raw_booster_has_no_sentinel() -> None:
    d = _data(4)
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(d["X"], label=d["reg"]), 5)
    assert np.isnan(compile_ensemble(booster).missing_value)


# --- 4. LightGBM random forest and init score in every objective ------------------------

LGB_OBJECTIVES: list[tuple[str, str, dict[str, Any]]] = [
    ("binary", "bin", {}),
    ("binary", "bin", {"boost_from_average": False}),
    ("multiclass", "multi", {"num_class": 3}),
    ("multiclassova", "multi", {"num_class": 3}),
    ("regression", "reg", {}),
    ("regression_l1", "reg", {}),
    ("huber", "reg", {}),
    ("quantile", "reg", {"alpha": 0.3}),
    ("poisson", "pos", {}),
    ("gamma", "pos", {}),
    ("tweedie", "pos", {}),
    ("cross_entropy", "prob", {}),
    ("cross_entropy_lambda", "prob", {}),
]
RF = {"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7, "feature_fraction": 0.8}


@pytest.mark.parametrize("rf", [False, True], ids=["gbdt", "rf"])
@pytest.mark.parametrize(
    ("objective", "target", "extra"),
    LGB_OBJECTIVES,
    ids=[f"{o}-{'-'.join(f'{k}={v}' for k, v in e.items())}" for o, _, e in LGB_OBJECTIVES],
)
def test_lightgbm_init_score_every_objective(
    objective: str, target: str, extra: dict, rf: bool
) -> None:
    d = _data(5)
    X = d["X"]
    params = {"objective": objective, "num_leaves": 7, "verbose": -1, **extra}
    if rf:
        params.update(RF)
    booster = lgb.train(params, lgb.Dataset(X, label=d[target]), 8)
    ens = compile_ensemble(booster)
    contribs, raw = _lgb_native(booster, X)
    # LightGBM's raw score and contributions of a random forest are the sum of its trees;
    # the model (predict) uses their mean, which is the compiled margin.
    scale = 8.0 if rf else 1.0
    assert ens.raw_score_scale == scale
    _check_core(ens, X, contribs / scale, raw / scale)


@pytest.mark.parametrize("target", ["bin", "multi"])
def test_lightgbm_rf_margin_is_the_models_log_odds(target: str) -> None:
    d = _data(6)
    X = d["X"]
    model = lgb.LGBMClassifier(
        boosting_type="rf", subsample=0.7, subsample_freq=1, n_estimators=12, verbose=-1
    ).fit(X, d[target])
    ens = compile_ensemble(model)
    margin = ens.predict_raw(X)
    proba = model.predict_proba(X)
    if target == "bin":
        np.testing.assert_allclose(1.0 / (1.0 + np.exp(-margin[:, 0])), proba[:, 1], rtol=1e-12)
    else:
        soft = np.exp(margin - margin.max(axis=1, keepdims=True))
        np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True), proba, rtol=1e-12)


def test_lightgbm_rf_public_api() -> None:
    d = _data(7)
    X = d["X"]
    reg = lgb.LGBMRegressor(boosting_type="rf", subsample=0.7, subsample_freq=1, n_estimators=10)
    reg.set_params(verbose=-1).fit(X, d["reg"])
    em, batch = _explain(reg, X)
    assert (em.method_, em.output_space_) == ("tree", "raw")
    contribs, _ = _lgb_native(reg.booster_, X)
    np.testing.assert_allclose(batch.attributions, contribs[:, 0, :-1] / 10, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), reg.predict(X), rtol=1e-9, atol=1e-9
    )
    clf = lgb.LGBMClassifier(boosting_type="rf", subsample=0.7, subsample_freq=1, n_estimators=10)
    clf.set_params(verbose=-1).fit(X, d["bin"])
    em, batch = _explain(clf, X[:40], output_space="probability")
    assert em.method_ == "tree"
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), clf.predict_proba(X[:40])[:, 1],
        rtol=1e-9, atol=1e-9,
    )  # fmt: skip


def test_lightgbm_rf_log_odds_is_the_mean_of_the_trees() -> None:
    """The model's log-odds is the mean of its trees (predict_proba is its logistic), while
    raw_score=True and pred_contrib return sums: both are divided by the number of trees."""
    d = _data(7)
    X = d["X"]
    clf = lgb.LGBMClassifier(boosting_type="rf", subsample=0.7, subsample_freq=1, n_estimators=10)
    clf.set_params(verbose=-1).fit(X, d["bin"])
    em, batch = _explain(clf, X)
    assert (em.method_, em.output_space_) == ("tree", "log_odds")
    contribs, _ = _lgb_native(clf.booster_, X)
    np.testing.assert_allclose(batch.attributions, contribs[:, 0, :-1] / 10, rtol=1e-9, atol=1e-9)
    proba = 1.0 / (1.0 + np.exp(-(batch.base_values + batch.attributions.sum(axis=1))))
    np.testing.assert_allclose(proba, clf.predict_proba(X)[:, 1], rtol=1e-9, atol=1e-12)


# --- 5. Raw LightGBM Booster and user subclasses ------------------------------------------


@pytest.mark.parametrize(
    ("objective", "target", "extra"),
    [("binary", "bin", {}), ("multiclass", "multi", {"num_class": 3}), ("regression", "reg", {})],
)
def test_lightgbm_raw_booster(objective: str, target: str, extra: dict) -> None:
    d = _data(8)
    X = d["X"]
    params = {"objective": objective, "num_leaves": 7, "verbose": -1, **extra}
    booster = lgb.train(params, lgb.Dataset(X, label=d[target]), 10)
    assert is_tree_model(booster)
    em, batch = _explain(booster, X)
    assert em.method_ == "tree"
    contribs, raw = _lgb_native(booster, X)
    k = contribs.shape[1] - 1  # the explained output: class 1, the last class, or the only one
    np.testing.assert_allclose(batch.attributions, contribs[:, k, :-1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), raw[:, k], rtol=1e-9, atol=1e-9
    )


def test_lightgbm_raw_booster_ranking_is_refused() -> None:
    d = _data(8)
    data = lgb.Dataset(d["X"], label=d["multi"], group=[50] * 6)
    booster = lgb.train({"objective": "lambdarank", "verbose": -1}, data, 3)
    with pytest.raises(UnsupportedModelError, match="method='kernel'"):
        _explain(booster, d["X"])


class LeadScorerXGB(xgb.XGBClassifier):
    """A user's subclass, as lead-scoring teams write them."""


class LeadScorerLGBM(lgb.LGBMClassifier):
    """A user's subclass, as lead-scoring teams write them."""


@pytest.mark.parametrize("cls", [LeadScorerXGB, LeadScorerLGBM])
def test_subclasses_take_the_tree_backend(cls: type) -> None:
    d = _data(9)
    X = d["X"]
    kwargs = {"verbose": -1} if issubclass(cls, lgb.LGBMModel) else {}
    model = cls(n_estimators=10, max_depth=3, **kwargs).fit(X, d["bin"])
    assert is_tree_model(model)
    assert not is_averaging_ensemble(model)
    em, batch = _explain(model, X)
    assert em.method_ == "tree"
    assert batch.output_space == "log_odds"
    if isinstance(model, xgb.XGBModel):
        contribs, margin = _xgb_native(model.get_booster(), X)
    else:
        contribs, margin = _lgb_native(model.booster_, X)
    np.testing.assert_allclose(batch.attributions, contribs[:, 0, :-1], **F32)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), margin[:, 0], **F32
    )


# --- Link-function regressors: refused with a way forward, never "a bug" -------------------


_LINK_REGRESSORS: dict[str, tuple[Any, str]] = {
    "xgb-poisson": (lambda: xgb.XGBRegressor(objective="count:poisson"), "pos"),
    "xgb-gamma": (lambda: xgb.XGBRegressor(objective="reg:gamma"), "pos"),
    "xgb-tweedie": (lambda: xgb.XGBRegressor(objective="reg:tweedie"), "pos"),
    "xgb-logistic": (lambda: xgb.XGBRegressor(objective="reg:logistic"), "prob"),
    "lgb-poisson": (lambda: lgb.LGBMRegressor(objective="poisson", verbose=-1), "pos"),
    "lgb-gamma": (lambda: lgb.LGBMRegressor(objective="gamma", verbose=-1), "pos"),
    "lgb-tweedie": (lambda: lgb.LGBMRegressor(objective="tweedie", verbose=-1), "pos"),
    "lgb-xent": (lambda: lgb.LGBMRegressor(objective="cross_entropy", verbose=-1), "prob"),
    "hgb-poisson": (lambda: HistGradientBoostingRegressor(loss="poisson", max_iter=5), "pos"),
}


@pytest.mark.parametrize("name", sorted(_LINK_REGRESSORS))
def test_link_regressors_margin_exact(name: str) -> None:
    factory, target = _LINK_REGRESSORS[name]
    d = _data(10)
    X = d["X"]
    model = factory()
    if not name.startswith("hgb"):
        model.set_params(n_estimators=5)
    model.fit(X, d[target])
    ens = compile_ensemble(model)
    assert ens.link != "identity"
    if name.startswith("xgb"):
        _check_core(ens, X, *_xgb_native(model.get_booster(), X))
    elif name.startswith("lgb"):
        _check_core(ens, X, *_lgb_native(model.booster_, X))
    else:
        raw = model._raw_predict(X)
        np.testing.assert_allclose(ens.predict_raw(X), raw, rtol=1e-12, atol=1e-12)
        core = TreeShapCore(ens)
        values = core.shap_values(X)
        np.testing.assert_allclose(core.expected_value + values.sum(axis=1), raw[:, 0], rtol=1e-9)
        brute, _ = brute_force_shap(ens, X[:N_BRUTE])
        np.testing.assert_allclose(values[:N_BRUTE], brute, rtol=1e-9, atol=1e-9)
    # Explained in margin space by default (tests/test_output_spaces.py covers both spaces).
    _, batch = _explain(model, X)
    assert batch.output_space == "margin"


class OverridingForest(RandomForestRegressor):
    """A subclass that changes the prediction: its trees no longer add up to its output."""

    def predict(self, X: Any) -> Any:
        return 2.0 * super().predict(X) + 1.0


def test_subclass_overriding_its_prediction_is_refused_with_a_way_forward() -> None:
    d = _data(11)
    X = d["X"]
    model = OverridingForest(n_estimators=5, max_depth=3, random_state=0).fit(X, d["reg"])
    assert is_tree_model(model)
    with pytest.raises(UnsupportedModelError, match="method='kernel'"):
        _explain(model, X)
    _, batch = _explain(model, X[:20], method="kernel")
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), model.predict(X[:20]), atol=1e-9
    )
