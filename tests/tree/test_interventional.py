"""Exactness of the interventional tree core: shap, brute force, the probability formula.

The brute-force references enumerate every coalition of hybrid rows ``x_S, b_~S`` and ask a
model for their margins, so they share nothing with the kernels but the model: either the
library itself (where categorical splits and missing values are at stake) or the compiled
ensemble's plain tree walk (``predict_raw``, float64, checked against every library by
``test_compile``). shap is matched where its reading of the trees is right: XGBoost,
LightGBM and GradientBoosting with numeric splits and NaN. It is not for LightGBM categorical,
zero-as-missing and no-missing splits, XGBoost categorical splits (it refuses them) and
HistGradientBoosting (its interventional values disagree with the library's own output even
without NaN or categories), so those are checked against the library by brute force.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numba
import numpy as np
import pytest
import shap
import xgboost as xgb

from explainscore.attribution.tree import (
    InterventionalTreeCore,
    compile_ensemble,
    interventional_shap,
)
from explainscore.exceptions import InputError, ParameterError, UnsupportedModelError

from .cases import FACTORIES, get_case, make_data

GROUPS = np.array([0, 0, 1, 2, 2, 3])  # six columns -> four players, two merged blocks
BINARY = ["xgb-clf", "xgb-cat", "lgb-clf", "lgb-cat", "gb-clf", "hgb-clf"]


def _split(X: np.ndarray, n_rows: int, n_bg: int) -> tuple[np.ndarray, np.ndarray]:
    """Leads (rows with NaN first, when there are any) and background rows, disjoint."""
    has_nan = np.isnan(X[:200]).any(axis=1)
    order = np.concatenate([np.flatnonzero(has_nan), np.flatnonzero(~has_nan)])
    return X[order[:n_rows]], X[200 : 200 + n_bg]


def _sigmoid(m: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-m))


def _row_games(
    margin: Callable[[np.ndarray], np.ndarray], x: np.ndarray, bg: np.ndarray, groups: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Per background row, the Shapley values of ``m_b(S) = margin(x_S, b_~S)`` by
    enumeration (shape (n_bg, n_players)), and ``m(b)``."""
    player = np.arange(x.shape[0]) if groups is None else np.asarray(groups)
    m = int(player.max()) + 1
    masks = np.arange(2**m)
    member = ((masks[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    hybrid = np.where(member[None, :, player], x[None, None, :], bg[:, None, :])
    games = margin(hybrid.reshape(-1, x.shape[0])).reshape(bg.shape[0], masks.shape[0])
    sizes = member.sum(axis=1)
    weight = np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) if s < m else 0.0
         for s in sizes]
    )  # fmt: skip
    phi = np.zeros((bg.shape[0], m))
    for i in range(m):
        without = masks[~member[:, i]]
        phi[:, i] = ((games[:, without | (1 << i)] - games[:, without]) * weight[without]).sum(1)
    return phi, games[:, 0]


def _rescale(mx: float, mb: np.ndarray) -> np.ndarray:
    """shap's per-row factor, written plainly: 1 where the margins are equal."""
    same = mx == mb
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = (_sigmoid(np.full_like(mb, mx)) - _sigmoid(mb)) / (mx - mb)
    return np.where(same, 1.0, factor)


def _outputs(n_outputs: int) -> list[int]:
    return [0] if n_outputs == 1 else [0, n_outputs - 1]


# --- brute force ---------------------------------------------------------------------------


@pytest.mark.parametrize("grouped", [False, True], ids=["columns", "groups"])
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_margin_matches_brute_force(name: str, grouped: bool) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    rows, bg = _split(X, 4, 12)
    groups = GROUPS if grouped else None
    for output in _outputs(ens.n_outputs):
        core = InterventionalTreeCore(ens, bg, groups=groups, output=output, output_space="margin")
        got = core.shap_values(rows)
        margin = lambda A: ens.predict_raw(A)[:, output]  # noqa: B023, E731
        for k, x in enumerate(ens.prepare_input(rows)):
            phi, m_b = _row_games(margin, x, ens.prepare_input(bg), groups)
            np.testing.assert_allclose(got[k], phi.mean(axis=0), rtol=0, atol=1e-9)
        assert core.expected_value == pytest.approx(float(np.mean(m_b)), abs=1e-12)


@pytest.mark.parametrize("name", ["hgb-clf", "hgb-multi", "lgb-cat", "lgb-zero", "lgb-nomissing"])
def test_categories_and_missing_values_match_the_library(name: str) -> None:
    """Hybrid rows scored by the library itself: its own categorical and missing-value rules."""
    model, X, native = get_case(name)
    ens = compile_ensemble(model)
    rows, bg = _split(X, 3, 10)
    for output in _outputs(ens.n_outputs):
        core = InterventionalTreeCore(ens, bg, output=output, output_space="margin")
        got = core.shap_values(rows)
        for k, x in enumerate(rows):
            phi, _ = _row_games(lambda A: native(A)[:, output], x, bg, None)  # noqa: B023
            np.testing.assert_allclose(got[k], phi.mean(axis=0), rtol=0, atol=1e-9)


def test_xgboost_categorical_splits_match_the_library() -> None:
    # XGBoost's own margins are float32, so the reference is only float32-exact.
    model, X, native = get_case("xgb-cat")
    ens = compile_ensemble(model)
    rows, bg = _split(X, 3, 10)
    for space in ("margin", "probability"):
        core = InterventionalTreeCore(ens, bg, output_space=space)
        got = core.shap_values(rows)
        for k, x in enumerate(rows):
            phi, m_b = _row_games(lambda A: native(A)[:, 0], x, bg, None)
            if space == "probability":
                mx = float(native(x[None, :])[0, 0])
                phi = phi * _rescale(mx, m_b)[:, None]
            np.testing.assert_allclose(got[k], phi.mean(axis=0), rtol=0, atol=1e-5)


# --- the probability option ----------------------------------------------------------------


@pytest.mark.parametrize("grouped", [False, True], ids=["columns", "groups"])
@pytest.mark.parametrize("name", BINARY)
def test_probability_is_the_rescaled_per_row_margin_values(name: str, grouped: bool) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    rows, bg = _split(X, 4, 12)
    groups = GROUPS if grouped else None
    core = InterventionalTreeCore(ens, bg, groups=groups, output_space="probability")
    got = core.shap_values(rows)
    margin = lambda A: ens.predict_raw(A)[:, 0]  # noqa: E731
    bg_in = ens.prepare_input(bg)
    for k, x in enumerate(ens.prepare_input(rows)):
        phi, m_b = _row_games(margin, x, bg_in, groups)
        mx = float(margin(x[None, :])[0])
        expected = (phi * _rescale(mx, m_b)[:, None]).mean(axis=0)
        np.testing.assert_allclose(got[k], expected, rtol=0, atol=1e-9)
    assert core.expected_value == pytest.approx(float(np.mean(_sigmoid(margin(bg_in)))), abs=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_probability_adds_up_exactly(name: str) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    core = InterventionalTreeCore(ens, X[-40:], groups=GROUPS)
    values, output = core.values_and_output(X)
    np.testing.assert_allclose(core.expected_value + values.sum(1), output, rtol=0, atol=1e-9)
    np.testing.assert_allclose(output, _sigmoid(ens.predict_raw(X)[:, 0]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(core.predict(X), output)


def test_probability_is_not_the_shapley_value_of_the_probability_game() -> None:
    """The docs say so plainly; here is a lead where the two differ."""
    model, X, _ = get_case("xgb-clf")
    ens = compile_ensemble(model)
    rows, bg = _split(X, 1, 8)
    got = InterventionalTreeCore(ens, bg).shap_values(rows)[0]
    x, bg_in = ens.prepare_input(rows)[0], ens.prepare_input(bg)
    # Shapley values of v(S) = mean_b sigmoid(m(x_S, b_~S)): enumerate with the sigmoid inside.
    phi, _ = _row_games(lambda A: _sigmoid(ens.predict_raw(A)[:, 0]), x, bg_in, None)
    game = phi.mean(axis=0)
    np.testing.assert_allclose(game.sum(), got.sum(), rtol=0, atol=1e-12)  # both add up ...
    assert np.abs(game - got).max() > 1e-4  # ... to different splits


def test_equal_margins_follow_shap() -> None:
    """A background row with the lead's margin but other leaves: shap keeps that row's
    margin values unscaled (factor 1); so do we."""
    from explainscore.attribution.tree._builder import EnsembleBuilder

    builder = EnsembleBuilder(1)
    for feature in (0, 1):
        # x0 <= 0 -> 1.0 else 0.0; x1 <= 0 -> 0.0 else 1.0
        values = [0.0, 1.0, 0.0] if feature == 0 else [0.0, 0.0, 1.0]
        builder.add_tree(
            left=[1, -1, -1], right=[2, -1, -1], feature=[feature, -1, -1],
            threshold=[0.0, 0.0, 0.0], flags=[0, 0, 0], cover=[2.0, 1.0, 1.0],
            value=values, output=0,
        )  # fmt: skip
    ens = builder.build(
        base_offset=[0.0], n_features=2, native_space="margin", float32_inputs=False,
        source="test.TwoStumps",
    )  # fmt: skip
    x = np.array([[-1.0, -1.0]])  # margin 1 + 0
    bg = np.array([[1.0, 1.0]])  # margin 0 + 1
    values = InterventionalTreeCore(ens, bg).shap_values(x)
    np.testing.assert_array_equal(values, [[1.0, -1.0]])
    trees = [
        {
            "children_left": np.array([1, -1, -1]), "children_right": np.array([2, -1, -1]),
            "children_default": np.array([1, -1, -1]), "features": np.array([f, -2, -2]),
            "thresholds": np.zeros(3), "values": np.array(v)[:, None],
            "node_sample_weight": np.array([2.0, 1.0, 1.0]),
        }
        for f, v in ((0, [0.0, 1.0, 0.0]), (1, [0.0, 0.0, 1.0]))
    ]  # fmt: skip
    explainer = shap.TreeExplainer(
        {"trees": trees, "tree_output": "log_odds", "objective": "binary_crossentropy"},
        data=bg, feature_perturbation="interventional", model_output="probability",
    )  # fmt: skip
    np.testing.assert_allclose(explainer.shap_values(x, check_additivity=False), values)


# --- shap ----------------------------------------------------------------------------------

#: Binary classifiers whose trees shap reads right (NaN in the XGBoost and LightGBM cases).
SHAP_PROBABILITY = ["xgb-clf", "xgb-booster-clf", "lgb-clf", "gb-clf"]
SHAP_MARGIN = [
    "xgb-clf", "xgb-multi", "xgb-reg", "xgb-poisson", "xgb-booster", "lgb-clf", "lgb-multi",
    "lgb-reg", "gb-clf", "gb-reg", "rf-clf", "rf-multi",
]  # fmt: skip


def _xgb_booster_clf() -> tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    X, y, _ = make_data(14, nan_rate=0.1)
    booster = xgb.train(
        {"max_depth": 3, "nthread": 1, "objective": "binary:logistic"},
        xgb.DMatrix(X, label=y),
        num_boost_round=8,
    )
    return booster, X, lambda A: booster.predict(xgb.DMatrix(A), output_margin=True)[:, None]


def _model(name: str) -> tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    return _xgb_booster_clf() if name == "xgb-booster-clf" else get_case(name)


def _shap(model: Any, bg: np.ndarray, rows: np.ndarray, space: str) -> tuple[np.ndarray, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(
            model, data=bg, feature_perturbation="interventional", model_output=space
        )
        values = np.asarray(explainer.shap_values(rows, check_additivity=False))
    if values.ndim == 2:
        values = values[:, :, None]
    return values, np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))


@pytest.mark.parametrize("name", SHAP_PROBABILITY)
def test_probability_matches_shap(name: str) -> None:
    model, X, native = _model(name)
    ens = compile_ensemble(model)
    rows, bg = _split(X, 60, 50)
    ref, ref_base = _shap(model, bg, rows, "probability")
    core = InterventionalTreeCore(ens, bg)
    tol = 1e-5 if ens.float32_inputs else 1e-6
    np.testing.assert_allclose(core.shap_values(rows), ref[:, :, 0], rtol=0, atol=tol)
    assert core.expected_value == pytest.approx(ref_base[0], abs=tol)
    base = float(np.mean(_sigmoid(native(bg)[:, 0])))
    assert core.expected_value == pytest.approx(base, abs=tol)


@pytest.mark.parametrize("name", SHAP_MARGIN)
def test_margin_matches_shap(name: str) -> None:
    model, X, native = _model(name)
    ens = compile_ensemble(model)
    rows, bg = _split(X, 60, 50)
    ref, _ = _shap(model, bg, rows, "raw")
    assert ref.shape[2] == ens.n_outputs
    tol = 1e-5 if ens.float32_inputs else 1e-6
    # The base is checked against the library, not shap: shap's expected value for the last
    # class of the XGBoost multiclass case is not the mean margin (its values do not add up).
    base = native(bg).mean(axis=0)
    for output in range(ens.n_outputs):
        core = InterventionalTreeCore(ens, bg, output=output, output_space="margin")
        np.testing.assert_allclose(core.shap_values(rows), ref[:, :, output], rtol=0, atol=tol)
        assert core.expected_value == pytest.approx(base[output], abs=tol)


# --- threads, batches, errors --------------------------------------------------------------


@pytest.mark.parametrize("space", ["probability", "margin"])
def test_threads_batches_and_single_rows_are_bitwise_identical(space: str) -> None:
    X, y, _ = make_data(40, n=900, p=10, nan_rate=0.05)
    model = lgb.LGBMClassifier(n_estimators=25, num_leaves=16, verbose=-1, n_jobs=1).fit(X, y)
    core = InterventionalTreeCore(compile_ensemble(model), X[-60:], output_space=space)
    leads = X[:500]
    one = core.shap_values(leads, n_threads=1)
    previous = numba.get_num_threads()
    try:
        for threads in (2, 3):
            assert np.array_equal(core.shap_values(leads, n_threads=threads), one)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        assert np.array_equal(core.shap_values(leads, n_threads=1), one)
    finally:
        numba.set_num_threads(previous)
    # Single rows and small batches take the lead-by-lead way through the leaves.
    rows = np.vstack([core.shap_values(leads[i]) for i in range(0, 500, 41)])
    assert np.array_equal(rows, one[::41])
    assert np.array_equal(core.shap_values(leads[3:10]), one[3:10])
    assert np.array_equal(core.shap_values(leads[5:70]), one[5:70])


def test_one_call_function_and_empty_input() -> None:
    model, X, _ = get_case("lgb-clf")
    ens = compile_ensemble(model)
    core = InterventionalTreeCore(ens, X[-30:], groups=GROUPS)
    values, base = interventional_shap(ens, X[:20], X[-30:], groups=GROUPS)
    assert np.array_equal(values, core.shap_values(X[:20]))
    assert base == core.expected_value
    assert core.shap_values(X[:0]).shape == (0, 4)
    assert core.n_players == 4
    assert core.n_background == 30
    assert core.nbytes > 0
    assert 0 < core.n_groups <= 30 * int((ens.left < 0).sum())


def test_refusals() -> None:
    multi, X, _ = get_case("xgb-multi")
    ens = compile_ensemble(multi)
    with pytest.raises(UnsupportedModelError, match="softmax"):
        InterventionalTreeCore(ens, X[:10])
    InterventionalTreeCore(ens, X[:10], output=2, output_space="log_odds")  # margins are fine
    forest, Xf, _ = get_case("rf-clf")
    with pytest.raises(UnsupportedModelError, match="averaged"):
        InterventionalTreeCore(compile_ensemble(forest), Xf[:10])
    model, X, _ = get_case("xgb-clf")
    ens = compile_ensemble(model)
    with pytest.raises(ParameterError, match="output_space"):
        InterventionalTreeCore(ens, X[:10], output_space="odds")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="output"):
        InterventionalTreeCore(ens, X[:10], output=1)
    with pytest.raises(ParameterError, match="groups"):
        InterventionalTreeCore(ens, X[:10], groups=[0, 1])
    with pytest.raises(InputError, match="at least one row"):
        InterventionalTreeCore(ens, X[:0])
    with pytest.raises(InputError, match="6 columns"):
        InterventionalTreeCore(ens, X[:10, :3])
    core = InterventionalTreeCore(ens, X[:10])
    with pytest.raises(InputError, match="6 columns"):
        core.shap_values(X[:5, :4])
    with pytest.raises(ParameterError, match="n_threads"):
        core.shap_values(X[:5], n_threads=0)


def test_paths_longer_than_a_mask_are_refused() -> None:
    from explainscore.attribution.tree._builder import EnsembleBuilder

    depth = 70  # a chain of splits on 70 different columns
    n = 2 * depth + 1
    inner = [i % 2 == 0 and i < n - 1 for i in range(n)]
    builder = EnsembleBuilder(1)
    builder.add_tree(
        left=[i + 1 if k else -1 for i, k in enumerate(inner)],
        right=[i + 2 if k else -1 for i, k in enumerate(inner)],
        feature=[i // 2 if k else -1 for i, k in enumerate(inner)],
        threshold=[0.0] * n, flags=[0] * n, cover=[1.0] * n,
        value=[0.0 if k else 1.0 for k in inner], output=0,
    )  # fmt: skip
    ens = builder.build(
        base_offset=[0.0], n_features=depth, native_space="margin", float32_inputs=False,
        source="test.Chain",
    )  # fmt: skip
    with pytest.raises(UnsupportedModelError, match="70 distinct players"):
        InterventionalTreeCore(ens, np.zeros((2, depth)), output_space="margin")


# --- ExplainedModel ------------------------------------------------------------------------


def _frame(X: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])


@pytest.mark.parametrize("name", ["xgb-clf", "lgb-clf", "gb-clf", "hgb-clf"])
def test_explained_model_uses_the_core_in_probability_space(name: str) -> None:
    from sklearn.base import clone

    from explainscore import ExplainedModel

    model, X, _ = get_case(name)
    y = (X[:, 0] + np.nan_to_num(X[:, 1]) > 0).astype(int)
    frame = _frame(X)
    em = ExplainedModel(clone(model), output_space="probability", n_background=40).fit(frame, y)
    attributor = em.engine_.attributor
    core = attributor.interventional
    assert core is not None
    assert attributor.core is None
    assert "not the Shapley value of the probability game" in attributor.game
    batch = em.explain(frame.iloc[:30])
    assert batch.exact
    fitted = em.model_
    bg = em.background_.to_numpy(dtype=np.float64)
    expected = InterventionalTreeCore(compile_ensemble(fitted), bg).shap_values(X[:30])
    np.testing.assert_array_equal(batch.attributions, expected)
    p1 = fitted.predict_proba(frame.iloc[:30])[:, 1]
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(1), p1, atol=1e-6)
    # Class 0 is the mirror image: P(0) = 1 - P(1).
    em0 = ExplainedModel(
        clone(model), output_space="probability", n_background=40, target_class=0
    ).fit(frame, y)
    batch0 = em0.explain(frame.iloc[:30])
    np.testing.assert_array_equal(batch0.attributions, -batch.attributions)
    np.testing.assert_allclose(batch0.base_values, 1.0 - batch.base_values, rtol=0, atol=1e-15)


def test_explained_model_matches_shap_where_shap_reads_the_trees() -> None:
    from explainscore import ExplainedModel

    X, y, _ = make_data(41, n=600, nan_rate=0.05)
    frame = _frame(X)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1)
    em = ExplainedModel(model, output_space="probability", n_background=50).fit(frame, y)
    batch = em.explain(frame.iloc[:50])
    ref, ref_base = _shap(
        em.model_, em.background_.to_numpy(dtype=np.float64), X[:50], "probability"
    )
    np.testing.assert_allclose(batch.attributions, ref[:, :, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(batch.base_values, ref_base[0], rtol=0, atol=1e-5)


def test_explained_model_refuses_what_does_not_add_up_in_probability() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    from explainscore import ExplainedModel

    X, y, _ = make_data(42, n=300)
    frame = _frame(X)
    # predict_proba is sigmoid(2 * margin) under the exponential loss.
    exponential = GradientBoostingClassifier(loss="exponential", n_estimators=5, max_depth=2)
    with pytest.raises(UnsupportedModelError, match="logistic of its summed tree margin"):
        ExplainedModel(exponential, output_space="probability", n_background=20).fit(frame, y)
    X3, y3, _ = make_data(43, n=300, n_classes=3)
    multi = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1)
    with pytest.raises(UnsupportedModelError, match="method='kernel'"):
        ExplainedModel(multi, output_space="probability", n_background=20).fit(_frame(X3), y3)
