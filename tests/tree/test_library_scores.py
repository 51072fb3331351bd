"""Scores from the compiled trees in the library's own arithmetic equal the library's bit for bit.

The oracle is the library itself (``predict_proba`` and its margin) on rows the scorer never
saw at build time; the scorer is used by ``explain`` only after it matched on the background.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from explainscore import ExplainedModel
from explainscore.attribution.tree import compile_ensemble
from explainscore.attribution.tree._library_scores import library_scores

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


def _data(n: int, seed: int, *, missing: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 2] = np.round(X[:, 2], 1)  # repeated values: rows on split thresholds
    if missing:
        X[rng.random(X.shape) < 0.1] = np.nan
    logit = X[:, 0] - 0.5 * X[:, 1] + np.nan_to_num(X[:, 2]) ** 2 - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(X, columns=[f"c{i}" for i in range(6)]), y


def _bits(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


CLASSIFIERS = {
    "xgb": lambda: xgb.XGBClassifier(n_estimators=60, max_depth=4, n_jobs=1, random_state=0),
    "xgb-base-score": lambda: xgb.XGBClassifier(
        n_estimators=40, max_depth=3, base_score=0.3, n_jobs=1, random_state=1
    ),
    "xgb-sentinel": lambda: xgb.XGBClassifier(
        n_estimators=40, max_depth=3, missing=-999.0, n_jobs=1, random_state=2
    ),
    "lgb": lambda: lgb.LGBMClassifier(n_estimators=60, num_leaves=15, verbose=-1, random_state=0),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
@pytest.mark.parametrize("target_class", [None, 0])
@pytest.mark.parametrize("space", ["auto", "probability"])
def test_classifier_scores_equal_library(name: str, target_class: Any, space: str) -> None:
    X, y = _data(3000, 0, missing=True)
    if name == "xgb-sentinel":
        X = X.fillna(-999.0)
    model = CLASSIFIERS[name]().fit(X[:2000], y[:2000])
    em = ExplainedModel(
        model, background=X[:200], target_class=target_class, output_space=space
    ).fit(X[:2000], y[:2000])
    assert em.engine_.library is not None
    batch = em.explain(X[2000:])
    t = 1 if target_class is None else target_class
    assert np.array_equal(batch.scores, _bits(model.predict_proba(X[2000:])[:, t]))
    if space == "probability":
        expected = _bits(model.predict_proba(X[2000:])[:, t])
    else:
        margin = _bits(model.predict(X[2000:], **_margin_kw(model)))
        expected = margin if t == 1 else -margin
    assert np.array_equal(batch.outputs, expected)
    # Efficiency still holds against the library's own outputs.
    total = batch.base_values + batch.attributions.sum(axis=1)
    assert np.max(np.abs(total - batch.outputs)) < 1e-5


def _margin_kw(model: Any) -> dict[str, Any]:
    return {"output_margin": True} if isinstance(model, xgb.XGBModel) else {"raw_score": True}


@pytest.mark.parametrize(
    "factory",
    [
        lambda: xgb.XGBRegressor(n_estimators=60, max_depth=4, n_jobs=1, random_state=0),
        lambda: lgb.LGBMRegressor(n_estimators=60, num_leaves=15, verbose=-1, random_state=0),
    ],
    ids=["xgb", "lgb"],
)
def test_regressor_predictions_equal_library(factory: Any) -> None:
    X, _ = _data(3000, 1, missing=True)
    target = X["c0"].fillna(0) * 3 + np.nan_to_num(X["c2"]) ** 2
    model = factory().fit(X[:2000], target[:2000])
    em = ExplainedModel(model, background=X[:200]).fit(X[:2000], target[:2000])
    assert em.engine_.library is not None
    batch = em.explain(X[2000:])
    assert np.array_equal(batch.scores, _bits(model.predict(X[2000:])))
    assert np.array_equal(batch.outputs, _bits(model.predict(X[2000:])))


def test_pipeline_with_one_hot_equals_library(bank: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = bank
    cats = [c for c in X.columns if X[c].dtype == object]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), cats)], remainder="passthrough"
    )
    pipe = make_pipeline(
        pre, xgb.XGBClassifier(n_estimators=80, max_depth=4, n_jobs=1, random_state=0)
    ).fit(X[:3000], y[:3000])
    em = ExplainedModel(pipe, background=X[:100]).fit(X[:3000], y[:3000])
    assert em.engine_.library is not None
    batch = em.explain(X[3000:])
    assert np.array_equal(batch.scores, _bits(pipe.predict_proba(X[3000:])[:, 1]))


def test_native_categories_equal_library() -> None:
    X, y = _data(2000, 3)
    X["kind"] = pd.Categorical(np.random.default_rng(3).choice(["a", "b", "c", "d"], len(X)))
    model = xgb.XGBClassifier(
        n_estimators=40, max_depth=3, enable_categorical=True, tree_method="hist", n_jobs=1
    ).fit(X[:1500], y[:1500])
    em = ExplainedModel(model, background=X[:100]).fit(X[:1500], y[:1500])
    batch = em.explain(X[1500:])
    assert np.array_equal(batch.scores, _bits(model.predict_proba(X[1500:])[:, 1]))


def test_unknown_arithmetic_keeps_the_library() -> None:
    """Objectives whose arithmetic is not recorded (here DART's per-tree weights, a softmax)
    get no scorer; explain still reports the library's own numbers."""
    X, y = _data(1500, 4)
    dart = xgb.XGBClassifier(
        booster="dart", n_estimators=20, max_depth=3, rate_drop=0.2, n_jobs=1, random_state=0
    ).fit(X, y)
    assert compile_ensemble(dart).library_dtype == ""
    em = ExplainedModel(dart, background=X[:100]).fit(X, y)
    assert em.engine_.library is None
    assert np.array_equal(em.explain(X[:300]).scores, _bits(dart.predict_proba(X[:300])[:, 1]))
    y3 = np.digitize(X["c0"], [-0.5, 0.5])
    multi = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, y3)
    assert compile_ensemble(multi).library_dtype == ""


def test_a_scorer_that_disagrees_is_refused() -> None:
    """The build-time check, not the recorded arithmetic, decides: a base margin a few units
    in the last place off is found again; one far off, or leaf values one part in a million
    off, and the scorer is refused."""
    from dataclasses import replace

    X, y = _data(1500, 5)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1).fit(X, y)
    ens = compile_ensemble(model)
    rows = ens.prepare_input(X.to_numpy())
    expected = (
        _bits(model.predict_proba(X)[:, 1]),
        _bits(model.predict(X, output_margin=True)),
    )
    kwargs: dict[str, Any] = {
        "classifier": True,
        "n_classes": 2,
        "target": None,
        "space": "log_odds",
        "reference": rows,
    }
    found = library_scores(ens, expected=expected, **kwargs)
    assert found is not None

    def shifted(ulps: int) -> float:
        b = np.float32(found.ensemble.library_base[0])
        for _ in range(ulps):
            b = np.nextafter(b, np.float32(1))
        return float(b)

    near = library_scores(replace(ens, library_base=(shifted(2),)), expected=expected, **kwargs)
    assert near is not None
    assert near.ensemble.library_base == found.ensemble.library_base
    far = replace(ens, library_base=(shifted(20),))
    assert library_scores(far, expected=expected, **kwargs) is None
    scaled = replace(ens, value=ens.value * (1 + 1e-6))
    assert library_scores(scaled, expected=expected, **kwargs) is None


@pytest.mark.parametrize("name", ["xgb", "lgb"])
@pytest.mark.parametrize("target_class", [None, 0])
def test_one_lead_equals_the_batch_bit_for_bit(name: str, target_class: Any) -> None:
    """explain_one's fast lane sums the margin in the library's arithmetic in its own pass:
    its score and output are the batch's (and the library's) exactly, for every input form."""
    X, y = _data(1200, 6, missing=True)
    model = CLASSIFIERS[name]().fit(X[:1000], y[:1000])
    em = ExplainedModel(model, background=X[:100], target_class=target_class).fit(
        X[:1000], y[:1000]
    )
    leads = X[1000:1040]
    batch = em.explain(leads)
    lane = em.engine_.lane
    assert lane is not None
    assert lane.library is not None
    for i, (_, row) in enumerate(leads.iterrows()):
        for form in (row.to_dict(), row, leads.iloc[[i]], row.to_numpy()):
            one = em.explain_one(form)
            assert one.score == batch.scores[i]
            assert one.output == batch.outputs[i]
            assert np.array_equal(
                [a.contribution for a in one.attributions],
                [batch[i].attributions[k].contribution for k in range(len(one.attributions))],
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_margins_do_not_depend_on_the_driver(dtype: Any) -> None:
    """Row by row, one block after another, or numba's parallel blocks: every row adds its
    trees in the same order, so the margins are the same bits as a walk of the trees."""
    from explainscore.attribution.tree import TreeShapCore
    from explainscore.attribution.tree._library_scores import walk_sums

    X, y = _data(700, 8, missing=True)
    model = xgb.XGBClassifier(n_estimators=50, max_depth=5, n_jobs=1).fit(X, y)
    ens = compile_ensemble(model)
    core = TreeShapCore(ens)
    rows = ens.prepare_input(X.to_numpy())
    base = dtype(0.125)
    walked = np.full(len(rows), base, dtype=dtype)
    walk_sums(ens, rows, np.ascontiguousarray(ens.value[:, 0], dtype=dtype), walked)
    few_values, few = core.shap_values_and_margin(rows[:5], dtype=dtype, base=base)
    one_values, one = core.shap_values_and_margin(rows, dtype=dtype, base=base)
    two_values, two = core.shap_values_and_margin(rows, dtype=dtype, base=base, n_threads=2)
    assert few.dtype == one.dtype == two.dtype == np.dtype(dtype)
    assert np.array_equal(few, walked[:5])
    assert np.array_equal(one, walked)
    assert np.array_equal(two, walked)
    # The values are those of the pass without margins, bit for bit.
    assert np.array_equal(one_values, core.shap_values(rows))
    assert np.array_equal(two_values, core.shap_values(rows, n_threads=2))
    assert np.array_equal(few_values, core.shap_values(rows[:5]))


def test_margins_of_paths_too_deep_for_a_mask() -> None:
    """Paths with more players than a fail mask holds are explained by the path-walking
    kernels; their margins then come from a walk of the trees, with the same values."""
    from explainscore._warmup import _deep_ensemble
    from explainscore.attribution.tree import TreeShapCore

    ens = _deep_ensemble(66)
    core = TreeShapCore(ens)
    rows = np.random.default_rng(0).normal(size=(20, 66))
    values, margin = core.shap_values_and_margin(rows, dtype=np.float32, base=np.float32(0.5))
    assert np.array_equal(values, core.shap_values(rows))
    expected = np.float32(0.5) + ens.predict_raw(rows)[:, 0].astype(np.float32)  # one tree
    assert np.array_equal(margin, expected)
