"""Native categorical columns, end to end: XGBoost ``enable_categorical``, LightGBM on
``category`` columns, HistGradientBoosting ``categorical_features="from_dtype"``.

A categorical column is one player whose values are mapped to the model's own category codes.
Every case is checked against oracles explainscore did not compute:

* the path-dependent tree game against the boosters' native contributions (XGBoost
  ``pred_contribs`` on a categorical DMatrix, LightGBM ``pred_contrib``) or, for
  HistGradientBoosting (which has none), brute force over all coalitions;
* the interventional game (probability space, and the kernel's game) against brute-force
  Shapley values whose every coalition is scored by the library's own ``predict_proba`` on
  frames with the training dtype;
* efficiency against the model's own output, and ``explain_one`` (dict, Series, 1-row frame)
  against the batch row.

The explained rows are built to trouble the mapping: categories in another order than
training, missing categories, categories the model never saw, integer-valued categories, and
text as a CSV or a JSON request carries it. The many-category cases rebuild those of shap's
``tests/explainers/test_tree_categorical.py`` (more than 32 categories: multi-word bitsets,
missing routing) in this project's own code.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier

from explainscore import ExplainedModel
from explainscore.exceptions import ColumnTypeError, UnsupportedModelError

from .tree.bruteforce import brute_force_shap

#: Training categories, deliberately not sorted: the model's order is not the frame's.
COLORS = ("red", "green", "blue", "black", "white")
#: Integer-valued categories, negative and out of order (HistGradientBoosting reads ranks).
SIZES = (30, 10, 20, -5, 7)
COLUMNS = ["a", "b", "color", "size"]
TOL = 1e-6


def _training(n: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    color = rng.choice(COLORS, size=n)
    size = rng.choice(SIZES, size=n)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "color": pd.Categorical(color, categories=list(COLORS)),
            "size": pd.Categorical(size, categories=list(SIZES)),
        }
    )
    effect = {"red": 1.5, "green": -0.5, "blue": -1.2, "black": 0.8, "white": 0.0}
    score = X["a"] + np.array([effect[c] for c in color]) + np.where(size > 12, 0.9, -0.6)
    # Missing categories in training, so every library learns where missing goes.
    X.loc[rng.random(n) < 0.08, "color"] = np.nan
    X.loc[rng.random(n) < 0.08, "size"] = np.nan
    score = np.where(X["color"].isna(), score + 1.0, score)
    y = (score + 0.5 * rng.normal(size=n) > 0.2).astype(int)
    return X, y


MODELS: dict[str, Any] = {
    "xgboost": lambda: xgb.XGBClassifier(
        n_estimators=8,
        max_depth=3,
        enable_categorical=True,
        tree_method="hist",
        max_cat_to_onehot=1,
        n_jobs=1,
    ),
    "lightgbm": lambda: lgb.LGBMClassifier(
        n_estimators=8,
        num_leaves=8,
        min_child_samples=5,
        min_data_per_group=5,
        cat_smooth=1.0,
        max_cat_to_onehot=1,
        verbose=-1,
        n_jobs=1,
    ),
    "hist": lambda: HistGradientBoostingClassifier(
        max_iter=8, max_leaf_nodes=8, categorical_features="from_dtype", random_state=0
    ),
}


@functools.cache
def _fitted(library: str) -> tuple[Any, pd.DataFrame]:
    X, y = _training()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MODELS[library]().fit(X, y)
    return model, X


def _rows(scenario: str) -> pd.DataFrame:
    """Eight rows covering every category, in the form the scenario names."""
    color: list[Any] = ["red", "green", "blue", "black", "white", "red", "blue", "green"]
    size: list[Any] = [30, 10, 20, -5, 7, 7, 30, -5]
    a = np.linspace(-1.5, 1.5, 8)
    b = np.linspace(1.0, -1.0, 8)
    if scenario == "missing":
        color[1] = color[5] = None
        size[2] = size[5] = None
    if scenario == "unseen":
        color[1] = "purple"  # never seen in training
        size[2] = 99
    frame = pd.DataFrame({"a": a, "b": b, "color": color, "size": size})
    if scenario == "text":  # as a CSV or a JSON request carries them: text and numbers
        frame["size"] = frame["size"].astype(str)
        frame["color"] = frame["color"].astype(object)
        return frame
    cats = {
        # Another order than training, and categories training never had.
        "shuffled": ([*reversed(COLORS), "teal"], [99, *sorted(SIZES)]),
    }.get(scenario, ([*COLORS, "purple"], [*SIZES, 99]))
    frame["color"] = pd.Categorical(frame["color"], categories=cats[0])
    frame["size"] = pd.Categorical(frame["size"], categories=cats[1])
    return frame


def _as_training(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with the training dtypes, as a user would hand them to the library (an
    unseen category becomes missing, as ``set_categories`` makes it)."""
    out = frame.copy()
    size = pd.to_numeric(out["size"].astype(object), errors="coerce")
    color = out["color"].astype(object)
    out["color"] = pd.Categorical(color.where(color.isin(COLORS)), categories=list(COLORS))
    out["size"] = pd.Categorical(size.where(size.isin(SIZES)), categories=list(SIZES))
    return out


def _margin(library: str, model: Any, frame: pd.DataFrame) -> np.ndarray:
    rows = _as_training(frame)
    if library == "xgboost":
        return np.asarray(model.predict(rows, output_margin=True), dtype=np.float64)
    if library == "lightgbm":
        return np.asarray(model.predict(rows, raw_score=True), dtype=np.float64)
    return np.asarray(model.decision_function(rows), dtype=np.float64)


def _native_contributions(library: str, model: Any, frame: pd.DataFrame) -> np.ndarray | None:
    rows = _as_training(frame)
    if library == "xgboost":
        dmat = xgb.DMatrix(rows, enable_categorical=True)
        return np.asarray(model.get_booster().predict(dmat, pred_contribs=True))
    if library == "lightgbm":
        return np.asarray(model.predict(rows, pred_contrib=True))
    return None


def _frame(rows: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["a"] = frame["a"].astype(float)
    frame["b"] = frame["b"].astype(float)
    return frame


def _coalitions(x: np.ndarray, background: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Every background row with every coalition S of x's columns put in: (n_bg * 2^m) rows
    of raw labels, coalition S = the bits of its index."""
    m = len(x)
    masks = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(bool)
    rows = np.where(masks[None, :, :], x[None, None, :], background[:, None, :])
    return _frame(rows.reshape(-1, m)), m


def _shapley(v: np.ndarray, m: int) -> np.ndarray:
    """Shapley values (..., m) of coalition values v (..., 2^m), by the formula."""
    sets = np.arange(2**m)
    sizes = np.array([bin(s).count("1") for s in sets])
    phi = np.zeros((*v.shape[:-1], m))
    for i in range(m):
        without = sets[(sets >> i) & 1 == 0]
        w = np.array(
            [
                math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
                for k in sizes[without]
            ]
        )
        phi[..., i] = ((v[..., without | (1 << i)] - v[..., without]) * w).sum(axis=-1)
    return phi


def _oracle(library: str, model: Any, explainer: str, x: np.ndarray, bg: np.ndarray) -> Any:
    """Brute-force values and base of one row, every coalition scored by the library.

    ``kernel``: the probability game v(S) = mean_b P(x_S, b_~S). ``probability``: per
    background row the margin game's Shapley values, rescaled by (P(x) - P(b)) / (m(x) -
    m(b)) (1 at equal margins), averaged (docs/explainers.md).
    """
    rows, m = _coalitions(x, bg)
    proba = model.predict_proba(_as_training(rows))[:, 1].reshape(len(bg), 2**m)
    if explainer == "kernel":
        v = proba.mean(axis=0)
        return _shapley(v, m), v[0]
    margin = _margin(library, model, rows).reshape(len(bg), 2**m)
    phi = _shapley(margin, m)
    gap = margin[:, -1] - margin[:, 0]
    safe = np.where(gap == 0, 1.0, gap)
    factor = np.where(gap == 0, 1.0, (proba[:, -1] - proba[:, 0]) / safe)
    return (phi * factor[:, None]).mean(axis=0), proba[:, 0].mean()


def _explainer(library: str, explainer: str) -> ExplainedModel:
    model, X = _fitted(library)
    options: dict[str, Any] = {"tree": {}, "probability": {"output_space": "probability"}}.get(
        explainer, {"method": "kernel"}
    )
    return ExplainedModel(model, background=X.iloc[:24], n_background=24, **options)


def _expected_ok(library: str, scenario: str) -> bool:
    """XGBoost refuses a category it was not trained on; the others read it as missing."""
    return not (library == "xgboost" and scenario == "unseen")


SCENARIOS = ("shuffled", "missing", "unseen", "text")
EXPLAINERS = ("tree", "probability", "kernel")


@pytest.mark.parametrize("explainer", EXPLAINERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("library", list(MODELS))
def test_native_categories_are_exact(library: str, scenario: str, explainer: str) -> None:
    model, _ = _fitted(library)
    em = _explainer(library, explainer)
    rows = _rows(scenario)
    if not _expected_ok(library, scenario):
        with pytest.raises(ColumnTypeError, match="not trained on") as info:
            em.explain(rows)
        assert info.value.column == "color"
        assert "on_error='skip'" in str(info.value)
        batch = em.explain(rows, on_error="skip")
        assert [r.row for r in batch.rejected] == [1, 2]
        assert {r.column for r in batch.rejected} == {"color", "size"}
        rows = rows.drop(index=[1, 2]).reset_index(drop=True)
        for c in ("color", "size"):
            rows[c] = rows[c].cat.remove_unused_categories()
    batch = em.explain(rows)
    values, base, outputs = batch.attributions, batch.base_values, batch.outputs

    # Efficiency against the model's own output, in the explained space.
    np.testing.assert_allclose(base + values.sum(axis=1), outputs, atol=TOL, rtol=0)
    if explainer == "tree":
        np.testing.assert_allclose(outputs, _margin(library, model, rows), atol=TOL, rtol=0)
        native = _native_contributions(library, model, rows)
        if native is not None:
            np.testing.assert_allclose(values, native[:, :-1], atol=TOL, rtol=0)
            np.testing.assert_allclose(base, native[:, -1], atol=TOL, rtol=0)
        else:
            ens = em.engine_.attributor.core.ensemble
            codes = em.engine_.schema.model_array(em.engine_.schema.to_frame(rows, where="t"))
            brute, empty = brute_force_shap(ens, codes)
            np.testing.assert_allclose(values, brute, atol=TOL, rtol=0)
            np.testing.assert_allclose(base, empty, atol=TOL, rtol=0)
    else:
        proba = model.predict_proba(_as_training(rows))[:, 1]
        np.testing.assert_allclose(outputs, proba, atol=TOL, rtol=0)
        bg = em.background_.to_numpy(dtype=object)
        for i, x in enumerate(rows.to_numpy(dtype=object)):
            phi, empty = _oracle(library, model, explainer, x, bg)
            np.testing.assert_allclose(values[i], phi, atol=TOL, rtol=0)
            assert base[i] == pytest.approx(empty, abs=TOL)

    # One lead, three ways, equals its batch row (and the reason shows labels, not codes).
    # Every row as a dict on the tree path (the lane's), two rows through the slower games;
    # the first two as a Series and a 1-row frame too.
    for i in range(len(rows) if explainer == "tree" else 2):
        record = rows.iloc[i].to_dict()
        for one in (record, rows.iloc[i], rows.iloc[[i]])[: 3 if i < 2 else 1]:
            lead = em.explain_one(one, top_k=4)
            got = {a.feature: a.contribution for a in lead.attributions}
            want = dict(zip(COLUMNS, values[i], strict=True))
            assert got == pytest.approx(want, abs=1e-12)
            assert lead.output == pytest.approx(outputs[i], abs=1e-5)  # float32 scores
            shown = {a.feature: a.value for a in lead.attributions}
            assert shown["color"] in (*COLORS, "purple", None)
        assert batch.reasons[i] == em.explain_one(record).reason


@pytest.mark.parametrize("library", list(MODELS))
def test_unseen_category_is_read_as_the_library_reads_it(library: str) -> None:
    """LightGBM and HistGradientBoosting read an unseen category as missing (the row's
    values equal the missing row's); XGBoost refuses it, naming the column."""
    em = _explainer(library, "tree")
    unseen, missing = _rows("text").iloc[[0]], _rows("text").iloc[[0]]
    unseen["color"], missing["color"] = "purple", None
    if library == "xgboost":
        with pytest.raises(ColumnTypeError, match="'color' holds a category") as info:
            em.explain_one(unseen.iloc[0].to_dict())
        assert "Map those values" in str(info.value)
        return
    a, b = em.explain(unseen), em.explain(missing)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert a.data["color"].iloc[0] == "purple"  # the record keeps what the lead holds


@pytest.mark.parametrize("library", list(MODELS))
def test_single_lead_lane_takes_known_categories(library: str) -> None:
    """The fast lane codes a known category itself, and leaves missing or unseen ones to
    the batch path (same record either way)."""
    em = _explainer(library, "tree")
    em.explain(_rows("text").iloc[:1])
    lane = em.engine_.lane
    assert lane is not None
    assert lane.codes is not None
    known = _rows("text").iloc[0].to_dict()
    assert lane.accept(known) is not None
    assert lane.accept({**known, "color": None}) is None
    assert lane.accept({**known, "color": "purple"}) is None
    # Integer categories given as text (a CSV) or as numbers read the same.
    assert lane.accept({**known, "size": "30"})[1].tolist() == lane.accept(known)[1].tolist()


@pytest.mark.parametrize("library", ["xgboost", "lightgbm", "hist"])
def test_training_order_comes_from_the_model(library: str) -> None:
    """Categories read off the model, in the model's order: XGBoost's stored categories
    (compared with its public ``get_categories``), LightGBM's ``pandas_categorical``,
    HistGradientBoosting's encoder."""
    model, _ = _fitted(library)
    em = _explainer(library, "tree")
    em.explain(_rows("text").iloc[:1])
    specs = {c.name: c.categories for c in em.engine_.schema.columns}
    assert specs["a"] is None
    assert specs["b"] is None
    if library == "xgboost":
        cats = model.get_booster().get_categories(export_to_arrow=True).to_arrow()
        stored = {name: arr.to_pylist() for name, arr in cats if arr is not None}
        assert list(specs["color"].labels) == stored["color"] == list(COLORS)
        assert list(specs["size"].labels) == stored["size"] == list(SIZES)
    elif library == "lightgbm":
        assert [list(specs[c].labels) for c in ("color", "size")] == (
            model.booster_.pandas_categorical
        )
    else:
        assert list(specs["color"].labels) == sorted(COLORS)
        assert list(specs["size"].labels) == sorted(SIZES)
        # -5 is no small non-negative code: the compiled trees read ranks.
        assert specs["size"].codes == tuple(float(r) for r in range(len(SIZES)))


def _many_categories(n_categories: int, *, missing: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """shap's categorical training data, as a pandas category column: 12 rows of each
    category, a target set by the category (mod 5) and a small continuous effect."""
    codes = np.tile(np.arange(n_categories), 12)
    cont = np.linspace(-1.0, 1.0, codes.size)
    y = 3.0 * np.isin(codes % 5, [0, 2]) + 0.2 * cont
    cat = pd.Categorical(codes, categories=list(range(n_categories)))
    X = pd.DataFrame({"cat": cat, "cont": cont})
    if missing:
        X.loc[::13, "cat"] = np.nan
        y[::13] = 8.0
    return X, y


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("n_categories", [8, 33, 300])
def test_many_categories_lightgbm_and_xgboost(n_categories: int, missing: bool) -> None:
    """More than 32 categories (multi-word bitsets) and missing routing, for both boosters,
    against their native contributions."""
    X, y = _many_categories(n_categories, missing=missing)
    lgbm = lgb.LGBMRegressor(
        n_estimators=4,
        max_depth=3,
        num_leaves=8,
        min_child_samples=1,
        min_data_per_group=1,
        max_cat_to_onehot=1,
        cat_smooth=0,
        cat_l2=0,
        learning_rate=0.3,
        verbose=-1,
        n_jobs=1,
    ).fit(X, y)
    xgbm = xgb.XGBRegressor(
        n_estimators=4,
        max_depth=3,
        enable_categorical=True,
        tree_method="hist",
        max_cat_to_onehot=1,
        learning_rate=0.3,
        n_jobs=1,
    ).fit(X, y)
    pick = [0, min(32, n_categories - 1), n_categories - 1, 13, 26]
    rows = X.iloc[pick].reset_index(drop=True)
    for model, native in (
        (lgbm, lambda r: lgbm.predict(r, pred_contrib=True)),
        (
            xgbm,
            lambda r: xgbm.get_booster().predict(
                xgb.DMatrix(r, enable_categorical=True), pred_contribs=True
            ),
        ),
    ):
        em = ExplainedModel(model, background=X.iloc[:40], n_background=40)
        batch = em.explain(rows)
        want = np.asarray(native(rows))
        tol = 1e-5 if model is xgbm else TOL  # XGBoost sums its contributions in float32
        np.testing.assert_allclose(batch.attributions, want[:, :-1], atol=tol, rtol=0)
        np.testing.assert_allclose(
            batch.base_values + batch.attributions.sum(axis=1), batch.outputs, atol=TOL, rtol=0
        )
        # As a JSON request carries it: an integer category as a plain int.
        lead = em.explain_one({"cat": int(pick[1]), "cont": float(rows["cont"][1])}, top_k=2)
        got = {a.feature: a.contribution for a in lead.attributions}
        assert got == pytest.approx(
            dict(zip(["cat", "cont"], batch.attributions[1], strict=True)), abs=1e-12
        )


def test_integer_categories_are_not_refused_as_text() -> None:
    """An integer-valued category column is a category column: no "must hold text"."""
    model, X = _fitted("lightgbm")
    em = ExplainedModel(model, background=X.iloc[:24])
    batch = em.explain(_rows("shuffled"))
    assert batch.data["size"].tolist()[:3] == [30, 10, 20]
    assert "Size is 30" in batch.reasons[0] or "Size" not in batch.reasons[0]


def test_lightgbm_background_without_category_dtype_is_refused_with_a_way_forward() -> None:
    model, X = _fitted("lightgbm")
    plain = X.iloc[:24].astype({"color": object, "size": float})
    with pytest.raises(UnsupportedModelError, match="Pass background rows with the training"):
        ExplainedModel(model, background=plain).explain(_rows("text"))


def test_fit_with_native_categories_explains_exactly() -> None:
    """``ExplainedModel(...).fit`` on a frame with category columns."""
    X, y = _training()
    em = ExplainedModel(
        xgb.XGBClassifier(
            n_estimators=5, max_depth=3, enable_categorical=True, max_cat_to_onehot=1, n_jobs=1
        ),
        n_background=30,
    ).fit(X, y)
    rows = _rows("missing")
    batch = em.explain(rows)
    want = em.model_.get_booster().predict(
        xgb.DMatrix(_as_training(rows), enable_categorical=True), pred_contribs=True
    )
    np.testing.assert_allclose(batch.attributions, want[:, :-1], atol=TOL, rtol=0)
    np.testing.assert_allclose(em.predict_proba(rows), em.model_.predict_proba(_as_training(rows)))
