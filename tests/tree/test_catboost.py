"""CatBoost (issue 15): numeric models compiled into the tree core, categorical ones explained
by CatBoost's own TreeSHAP values on the raw columns, each against independent oracles.

Oracles:

* CatBoost's margin ``predict(prediction_type="RawFormulaVal")``, which the compiled ensemble
  must reproduce (leaf values are doubles, inputs are rounded to float32 like CatBoost's
  borders, so agreement is to rounding: measured <= 2e-15; asserted 1e-9);
* CatBoost's own ``get_feature_importance(type="ShapValues")`` (``shap_calc_type="Regular"``,
  path-dependent TreeSHAP over the oblivious trees), to 1e-9;
* brute-force Shapley values over all coalitions: of the compiled ensemble's path-dependent
  game (``bruteforce.py``), and, for categorical models, of the raw-column game re-derived
  here from CatBoost's JSON export and ``calc_leaf_indexes`` alone;
* for probability space, per-background-row interventional Shapley values of CatBoost's
  margin by enumeration (``tests/attribution/bruteforce.py``), rescaled as documented.

Every case also checks efficiency: base + sum of values = the model's output.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from explainscore import ExplainedModel
from explainscore._output import inspect_model
from explainscore.attribution.tree import TreeShapCore, compile_ensemble
from explainscore.exceptions import UnsupportedModelError

from ..attribution.bruteforce import interventional_shapley
from .bruteforce import brute_force_shap

catboost = pytest.importorskip("catboost")

EXACT = {"rtol": 1e-9, "atol": 1e-9}
N_BRUTE = 6


@pytest.fixture(autouse=True)
def _train_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CatBoost writes its training logs (catboost_info/) to the working directory.
    monkeypatch.chdir(tmp_path)


def _numeric(seed: int = 0, n: int = 300, p: int = 5, nan: float = 0.1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[rng.random(X.shape) < nan] = np.nan
    x = np.nan_to_num(X)
    s = x[:, 0] + x[:, 1] * x[:, 2] - 0.7 * np.isnan(X[:, 3]) + 0.2 * rng.normal(size=n)
    return {
        "X": X,
        "reg": s,
        "bin": (s > np.median(s)).astype(int),
        "multi": np.digitize(s, np.quantile(s, [1 / 3, 2 / 3])),
        "w": rng.random(n) + 0.5,
    }


def _raw(model: Any, X: Any) -> np.ndarray:
    out = np.asarray(model.predict(X, prediction_type="RawFormulaVal"), dtype=np.float64)
    return out.reshape(len(X), -1)


def _native_shap(model: Any, X: Any, cat: list[int] | None = None) -> np.ndarray:
    """CatBoost's ShapValues as (n, n_outputs, n_features + 1), the base last."""
    pool = catboost.Pool(X, cat_features=cat)
    sv = np.asarray(model.get_feature_importance(pool, type="ShapValues"), dtype=np.float64)
    return sv[:, None, :] if sv.ndim == 2 else sv


def _explain(model: Any, X: Any, **kwargs: Any) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ExplainedModel(model, background=X, **kwargs)
        return em, em.explain(X)


# --- 1. numeric models: the compiled oblivious trees ----------------------------------------

NUMERIC_CASES = {
    "rmse": ("CatBoostRegressor", {}, "reg"),
    "logloss": ("CatBoostClassifier", {}, "bin"),
    "multiclass": ("CatBoostClassifier", {"loss_function": "MultiClass"}, "multi"),
    "nan_max": ("CatBoostClassifier", {"nan_mode": "Max"}, "bin"),
    "weighted": ("CatBoostRegressor", {}, "reg"),
    "no_bias": ("CatBoostRegressor", {"boost_from_average": False}, "reg"),
}


@pytest.mark.parametrize("case", sorted(NUMERIC_CASES))
def test_compiled_oblivious_trees_match_catboost(case: str) -> None:
    cls_name, params, target = NUMERIC_CASES[case]
    data = _numeric()
    X = data["X"]
    model = getattr(catboost, cls_name)(iterations=15, depth=4, verbose=0, random_seed=0, **params)
    model.fit(X, data[target], sample_weight=data["w"] if case == "weighted" else None)
    ens = compile_ensemble(model)
    margin = _raw(model, X)
    np.testing.assert_allclose(ens.predict_raw(X), margin, **EXACT)
    native = _native_shap(model, X)
    assert ens.n_outputs == native.shape[1]
    for k in range(ens.n_outputs):
        core = TreeShapCore(ens, output=k)
        values = core.shap_values(X)
        np.testing.assert_allclose(values, native[:, k, :-1], **EXACT)
        np.testing.assert_allclose(core.expected_value, native[0, k, -1], **EXACT)
        np.testing.assert_allclose(core.expected_value + values.sum(axis=1), margin[:, k], **EXACT)
        brute, empty = brute_force_shap(ens, X[:N_BRUTE], output=k)
        np.testing.assert_allclose(values[:N_BRUTE], brute, **EXACT)
        np.testing.assert_allclose(core.expected_value, empty, **EXACT)


def test_missing_values_follow_nan_mode() -> None:
    """NaN at predict time, in a column that had NaN in training and in one that had none,
    goes where CatBoost sends it under nan_mode Min and Max."""
    data = _numeric(nan=0.0)
    X = data["X"].copy()
    X[::5, 1] = np.nan  # column 1 has NaN in training, column 0 does not
    test = X[:40].copy()
    test[::3, 0] = np.nan
    test[1::3, 1] = np.nan
    for mode in ("Min", "Max"):
        model = catboost.CatBoostRegressor(
            iterations=15, depth=4, verbose=0, random_seed=0, nan_mode=mode
        ).fit(X, data["reg"])
        ens = compile_ensemble(model)
        np.testing.assert_allclose(ens.predict_raw(test), _raw(model, test), **EXACT)
        core = TreeShapCore(ens)
        np.testing.assert_allclose(
            core.shap_values(test), _native_shap(model, test)[:, 0, :-1], **EXACT
        )


@pytest.mark.parametrize("policy", ["Depthwise", "Lossguide"])
def test_non_symmetric_trees(policy: str) -> None:
    """Depthwise / Lossguide trees are compiled node by node: the margin is CatBoost's and
    the values are the brute-force path-dependent Shapley values and add up. (CatBoost
    1.2's own ShapValues for these trees do not add up to its prediction when a node has an
    empty child, so they are not an oracle here.)"""
    data = _numeric()
    X = data["X"]
    extra = {"max_leaves": 12} if policy == "Lossguide" else {}
    model = catboost.CatBoostClassifier(
        iterations=10, depth=4, verbose=0, random_seed=0, grow_policy=policy,
        loss_function="MultiClass", **extra,
    ).fit(X, data["multi"])  # fmt: skip
    ens = compile_ensemble(model)
    margin = _raw(model, X)
    np.testing.assert_allclose(ens.predict_raw(X), margin, **EXACT)
    for k in range(3):
        core = TreeShapCore(ens, output=k)
        values = core.shap_values(X)
        np.testing.assert_allclose(core.expected_value + values.sum(axis=1), margin[:, k], **EXACT)
        brute, _ = brute_force_shap(ens, X[:N_BRUTE], output=k)
        np.testing.assert_allclose(values[:N_BRUTE], brute, **EXACT)


# --- 2. through ExplainedModel: spaces, kinds, one lead, Pipelines ---------------------------


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])


def test_regressor_is_a_regressor_in_raw_space() -> None:
    data = _numeric()
    X = _frame(data["X"])
    model = catboost.CatBoostRegressor(iterations=15, depth=4, verbose=0, random_seed=0)
    model.fit(X, data["reg"])
    assert list(model.classes_) == []  # the reason it used to be taken for a classifier
    assert not inspect_model(model).is_classifier
    em, batch = _explain(model, X)
    assert (em.method_, em.output_space_, batch.exact) == ("tree", "raw", True)
    np.testing.assert_allclose(batch.attributions, _native_shap(model, X)[:, 0, :-1], **EXACT)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), model.predict(X), **EXACT
    )
    one = em.explain_one(X.iloc[3].to_dict())
    np.testing.assert_allclose(
        [a.contribution for a in one.attributions],
        [batch.attributions[3, em.feature_names_in_.tolist().index(a.feature)]
         for a in one.attributions],
        **EXACT,
    )  # fmt: skip
    assert one.output == pytest.approx(float(batch.outputs[3]), abs=1e-12)


def test_binary_classifier_log_odds_by_default_and_class_zero() -> None:
    data = _numeric()
    X = _frame(data["X"])
    model = catboost.CatBoostClassifier(iterations=15, depth=4, verbose=0, random_seed=0)
    model.fit(X, data["bin"])
    em, batch = _explain(model, X)
    assert (em.method_, em.output_space_) == ("tree", "log_odds")
    native = _native_shap(model, X)[:, 0, :]
    np.testing.assert_allclose(batch.attributions, native[:, :-1], **EXACT)
    np.testing.assert_allclose(batch.outputs, _raw(model, X)[:, 0], **EXACT)
    _, zero = _explain(model, X, target_class=0)
    np.testing.assert_allclose(zero.attributions, -native[:, :-1], **EXACT)
    np.testing.assert_allclose(
        zero.base_values + zero.attributions.sum(axis=1), -_raw(model, X)[:, 0], **EXACT
    )


def test_multiclass_explains_the_target_class_margin() -> None:
    data = _numeric()
    X = _frame(data["X"])
    model = catboost.CatBoostClassifier(
        iterations=15, depth=4, verbose=0, random_seed=0, loss_function="MultiClass"
    ).fit(X, data["multi"])
    native = _native_shap(model, X)
    for target in (0, 2):
        em, batch = _explain(model, X, target_class=target)
        assert em.output_space_ == "log_odds"
        np.testing.assert_allclose(batch.attributions, native[:, target, :-1], **EXACT)
        np.testing.assert_allclose(batch.base_values, native[:, target, -1], **EXACT)


def test_binary_probability_is_rescaled_interventional() -> None:
    """Probability space: per background row b, the exact Shapley values of CatBoost's margin
    game m_b(S) = margin(x_S, b_~S) (by enumeration), times (p(x) - p(b)) / (m(x) - m(b)),
    averaged over b; they add up to predict_proba exactly."""
    data = _numeric(n=200, p=4)
    X = _frame(data["X"])
    model = catboost.CatBoostClassifier(iterations=10, depth=4, verbose=0, random_seed=0)
    model.fit(X, data["bin"])
    background = X.iloc[:8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ExplainedModel(model, background=background, output_space="probability")
        rows = X.iloc[20:24]
        batch = em.explain(rows)
    assert em.method_ == "tree"
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1),
        model.predict_proba(rows)[:, 1],
        **EXACT,
    )

    def margin(Z: np.ndarray) -> np.ndarray:
        return _raw(model, Z)[:, 0]

    bg = background.to_numpy()
    for r, x in enumerate(rows.to_numpy()):
        m_x = margin(x[None])[0]
        p_x = 1.0 / (1.0 + math.exp(-m_x))
        expected = np.zeros(X.shape[1])
        for b in bg:
            phi, _ = interventional_shapley(margin, x, b[None])
            m_b = margin(b[None])[0]
            p_b = 1.0 / (1.0 + math.exp(-m_b))
            slope = (p_x - p_b) / (m_x - m_b) if abs(m_x - m_b) > 1e-12 else p_x * (1 - p_x)
            expected += slope * phi / len(bg)
        np.testing.assert_allclose(batch.attributions[r], expected, **EXACT)


def test_behind_a_pipeline() -> None:
    data = _numeric()
    X = _frame(data["X"])
    pipe = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), list(X.columns))])),
        ("model", catboost.CatBoostClassifier(iterations=15, depth=4, verbose=0, random_seed=0)),
    ]).fit(X, data["bin"])  # fmt: skip
    em, batch = _explain(pipe, X)
    assert (em.method_, em.output_space_) == ("tree", "log_odds")
    Z = pipe[:-1].transform(X)
    # One transformed column per raw column: the raw values are CatBoost's on Z.
    np.testing.assert_allclose(batch.attributions, _native_shap(pipe[-1], Z)[:, 0, :-1], **EXACT)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), _raw(pipe[-1], Z)[:, 0], **EXACT
    )


def test_unfitted_model_is_refused_with_a_way_forward() -> None:
    with pytest.raises(UnsupportedModelError, match="fit it"):
        compile_ensemble(catboost.CatBoostClassifier(iterations=2))


# --- 3. categorical features: CatBoost's own values, on the raw columns ----------------------


def _leads(seed: int = 0, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "visits": rng.normal(size=n),
        "tenure": rng.normal(size=n),
        "channel": rng.choice(["web", "event", "partner"], n),
        "industry": rng.choice(["retail", "bank", "health", "tech", "media", "energy"], n),
    })  # fmt: skip
    s = (
        X.visits + (X.channel == "web") + (X.industry == "bank") * X.tenure
        + 0.8 * ((X.channel == "event") & (X.industry.isin(["tech", "media"])))
        + 0.3 * rng.normal(size=n)
    )  # fmt: skip
    return X, (s > 0.6).astype(int).to_numpy()


def _cat_model(X: pd.DataFrame, y: np.ndarray, **params: Any) -> Any:
    settings: dict[str, Any] = {
        "iterations": 20, "depth": 4, "verbose": 0, "random_seed": 0,
        "cat_features": ["channel", "industry"], "one_hot_max_size": 3,
    }  # fmt: skip
    return catboost.CatBoostClassifier(**{**settings, **params}).fit(X, y)


def _split_columns(model: Any, tmp: Path) -> tuple[dict[str, Any], list[int]]:
    """The JSON export, and the raw column read by each binary feature (split_index): the
    float borders, then the one-hot values, then each CTR's borders, in the export's order."""
    path = tmp / "model.json"
    model.save_model(str(path), format="json")
    doc = json.loads(path.read_text())
    info = doc["features_info"]
    flat_of_cat = {
        c["feature_index"]: c["flat_feature_index"] for c in info["categorical_features"]
    }
    cols: list[int] = []
    for f in info.get("float_features", []):
        cols += [f["flat_feature_index"]] * len(f["borders"])
    for c in info["categorical_features"]:
        cols += [c["flat_feature_index"]] * len(c.get("values", []))
    for ctr in info.get("ctrs", []):
        (element,) = ctr["elements"]
        cols += [flat_of_cat[element["cat_feature_index"]]] * len(ctr["borders"])
    return doc, cols


def _tree_game(
    split_cols: list[int], values: np.ndarray, weights: np.ndarray, leaf_x: int, coalition: int
) -> float:
    """v(coalition) of one oblivious tree for the lead that falls in leaf ``leaf_x``."""

    def cover(d: int, fixed: int) -> float:
        # Training weight of the node below the splits above level d: the leaves agreeing
        # with ``fixed`` on every bit above d.
        high = ~((1 << (d + 1)) - 1)
        return float(sum(w for leaf, w in enumerate(weights) if leaf & high == fixed))

    def walk(d: int, fixed: int) -> float:
        if d < 0:
            return float(values[fixed])
        if coalition >> split_cols[d] & 1:
            return walk(d - 1, fixed | (leaf_x & (1 << d)))
        total = cover(d, fixed)
        out = 0.0
        for child in (fixed, fixed | (1 << d)):
            share = cover(d - 1, child)
            if share > 0:
                out += share / total * walk(d - 1, child)
        return out

    return walk(len(split_cols) - 1, 0)


def _brute_force_raw_columns(model: Any, X: pd.DataFrame, tmp: Path) -> tuple[np.ndarray, float]:
    """Shapley values of the path-dependent game over the raw columns, by enumeration: each
    oblivious tree walked from its last split to its first; at a split on a column in the
    coalition follow the lead's answer (from calc_leaf_indexes), else average both children
    weighted by their share of the node's training weight (children without weight, whose
    leaves are 0, are skipped)."""
    doc, cols = _split_columns(model, tmp)
    scale, (bias,) = doc["scale_and_bias"]
    trees = doc["oblivious_trees"]
    leaves = np.asarray(model.calc_leaf_indexes(catboost.Pool(X, cat_features=[2, 3])))
    m = X.shape[1]
    out = np.zeros((len(X), m))
    empty = 0.0
    for r in range(len(X)):
        v = np.full(2**m, float(bias))
        for t, tree in enumerate(trees):
            split_cols = [cols[s["split_index"]] for s in tree["splits"]]
            values = np.asarray(tree["leaf_values"])
            weights = np.asarray(tree["leaf_weights"], dtype=float)

            for s in range(2**m):
                v[s] += scale * _tree_game(split_cols, values, weights, int(leaves[r, t]), s)
        empty = float(v[0])
        for i in range(m):
            for s in range(2**m):
                if s >> i & 1:
                    continue
                k = bin(s).count("1")
                w = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
                out[r, i] += w * (v[s | 1 << i] - v[s])
    return out, empty


def test_categorical_model_uses_catboost_values_on_raw_columns(tmp_path: Path) -> None:
    X, y = _leads()
    model = _cat_model(X, y, max_ctr_complexity=1)
    doc, _ = _split_columns(model, tmp_path)
    kinds = {s["split_type"] for t in doc["oblivious_trees"] for s in t["splits"]}
    assert {"OneHotFeature", "OnlineCtr", "FloatFeature"} <= kinds  # every split kind is used
    em, batch = _explain(model, X.iloc[:60])
    assert (em.method_, em.output_space_, batch.exact) == ("catboost", "log_odds", True)
    rows = X.iloc[:N_BRUTE]
    brute, empty = _brute_force_raw_columns(model, rows, tmp_path)
    np.testing.assert_allclose(batch.attributions[:N_BRUTE], brute, **EXACT)
    np.testing.assert_allclose(batch.base_values[:N_BRUTE], empty, **EXACT)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), _raw(model, X.iloc[:60])[:, 0], **EXACT
    )
    # One lead equals the batch, and reasons show the category label.
    one = em.explain_one(X.iloc[2].to_dict())
    by_name = dict(zip(em.feature_names_in_, batch.attributions[2], strict=True))
    for a in one.attributions:
        assert a.contribution == pytest.approx(by_name[a.feature], abs=1e-12)
    shown = {a.feature: a.value for a in one.attributions}
    if "channel" in shown:
        assert shown["channel"] == X.channel.iloc[2]
    assert X.industry.iloc[2] in " ".join(batch.reasons[2:3]) or "industry" not in shown


def test_categorical_regressor_and_multiclass(tmp_path: Path) -> None:
    X, y = _leads(1)
    reg = catboost.CatBoostRegressor(
        iterations=15, depth=4, verbose=0, random_seed=0, cat_features=[2, 3],
        max_ctr_complexity=1,
    ).fit(X, y + X.visits.to_numpy())  # fmt: skip
    em, batch = _explain(reg, X.iloc[:50])
    assert (em.method_, em.output_space_) == ("catboost", "raw")
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), reg.predict(X.iloc[:50]), **EXACT
    )
    multi = catboost.CatBoostClassifier(
        iterations=15, depth=4, verbose=0, random_seed=0, cat_features=[2, 3],
        max_ctr_complexity=1, loss_function="MultiClass",
    ).fit(X, np.digitize(X.visits, [-0.5, 0.5]))  # fmt: skip
    _, batch = _explain(multi, X.iloc[:50], target_class=2)
    native = _native_shap(multi, X.iloc[:50], cat=[2, 3])
    np.testing.assert_allclose(batch.attributions, native[:, 2, :-1], **EXACT)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), _raw(multi, X.iloc[:50])[:, 2], **EXACT
    )


def test_combined_ctrs_go_to_kernel_and_method_catboost_refuses(tmp_path: Path) -> None:
    X, y = _leads()
    model = _cat_model(X, y, max_ctr_complexity=2, iterations=60, one_hot_max_size=1)
    path = tmp_path / "m.json"
    model.save_model(str(path), format="json")
    ctrs = json.loads(path.read_text())["features_info"]["ctrs"]
    assert any(len(c["elements"]) > 1 for c in ctrs)  # the model really combines columns
    em, batch = _explain(model, X.iloc[:40])
    assert em.method_ == "kernel"
    assert batch.exact
    for method in ("catboost", "tree"):
        # The way forward is method="auto", which picks the kernel (exact here).
        with pytest.raises(UnsupportedModelError, match="method='auto'"):
            _explain(model, X.iloc[:40], method=method)


def test_categorical_probability_is_refused_with_a_way_forward() -> None:
    X, y = _leads()
    model = _cat_model(X, y, max_ctr_complexity=1)
    for method in ("auto", "catboost"):
        with pytest.raises(
            UnsupportedModelError, match=r"output_space='log_odds'.*method='kernel'"
        ):
            _explain(model, X.iloc[:40], output_space="probability", method=method)
    # The way forward works: the kernel's exact probability game on the 4 raw columns.
    _, batch = _explain(model, X.iloc[:40], output_space="probability", method="kernel")
    assert batch.exact
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1),
        model.predict_proba(X.iloc[:40])[:, 1],
        **EXACT,
    )


def test_poisson_regressor_margin_and_response() -> None:
    """A link regressor: its trees add up to the margin (RawFormulaVal, the default space);
    ``response`` (its predict, exp of the margin) adds up exactly too."""
    data = _numeric(nan=0.0)
    X = _frame(data["X"])
    y = np.random.default_rng(0).poisson(np.exp(0.5 * data["X"][:, 0]))
    model = catboost.CatBoostRegressor(
        iterations=10, depth=4, verbose=0, random_seed=0, loss_function="Poisson"
    ).fit(X, y)
    assert compile_ensemble(model).link == "exp"
    em, batch = _explain(model, X.iloc[:50])
    assert (em.method_, em.output_space_) == ("tree", "margin")
    np.testing.assert_allclose(
        batch.attributions, _native_shap(model, X.iloc[:50])[:, 0, :-1], **EXACT
    )
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), _raw(model, X.iloc[:50])[:, 0], **EXACT
    )
    em, batch = _explain(model, X.iloc[:50], output_space="response")
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), model.predict(X.iloc[:50]), **EXACT
    )
