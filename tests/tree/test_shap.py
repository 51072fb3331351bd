"""Exactness of the TreeSHAP core: brute force, shap, native contributions, efficiency."""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pytest
import shap
import xgboost as xgb

from explainscore.attribution.tree import TreeShapCore, compile_ensemble, path_dependent_shap
from explainscore.attribution.tree import _shap as tree_shap_module
from explainscore.exceptions import InputError, ParameterError

from .bruteforce import brute_force_shap
from .cases import FACTORIES, get_case, make_data

GROUPS = np.array([0, 0, 1, 2, 2, 3])  # six columns -> four players, two merged blocks


def _rows(X: np.ndarray, n: int = 6) -> np.ndarray:
    """A few rows, NaN rows first when the case has any."""
    has_nan = np.isnan(X).any(axis=1)
    order = np.concatenate([np.flatnonzero(has_nan), np.flatnonzero(~has_nan)])
    return X[order[:n]]


def _outputs(n_outputs: int) -> list[int]:
    return [0] if n_outputs == 1 else [0, n_outputs - 1]


@pytest.mark.parametrize("budget", [256 * 2**20, 0], ids=["tables", "direct"])
@pytest.mark.parametrize("grouped", [False, True], ids=["columns", "groups"])
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_matches_brute_force(name: str, grouped: bool, budget: int) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    rows = _rows(X)
    groups = GROUPS if grouped else None
    for output in _outputs(ens.n_outputs):
        core = TreeShapCore(ens, groups=groups, output=output, memory_budget=budget)
        expected, base = brute_force_shap(ens, rows, groups=groups, output=output)
        got = core.shap_values(rows)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert core.expected_value == pytest.approx(base, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_efficiency(name: str) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    raw = ens.predict_raw(X)
    for output in range(ens.n_outputs):
        values, base = path_dependent_shap(ens, X, output=output)
        total = base + values.sum(axis=1)
        scale = max(1.0, float(np.abs(raw[:, output]).max()))
        np.testing.assert_allclose(total, raw[:, output], rtol=0, atol=1e-9 * scale)


def _shap_values(model: object, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shap's path-dependent values as (n, p, n_outputs) and expected values (n_outputs,)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        values = np.asarray(explainer.shap_values(X, check_additivity=False), dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    return values, np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))


# Cases shap explains on plain arrays (it rejects multiclass GradientBoosting and HGB, and
# needs a DataFrame for XGBoost's categorical splits).
SHAP_CASES = [
    "xgb-clf", "xgb-multi", "xgb-reg", "xgb-poisson", "xgb-booster", "lgb-clf", "lgb-multi",
    "lgb-reg", "lgb-cat", "lgb-zero", "dt-clf", "dt-reg", "rf-clf", "rf-multi", "rf-reg",
    "et-clf", "gb-clf", "gb-reg",
]  # fmt: skip


@pytest.mark.parametrize("name", SHAP_CASES)
def test_matches_shap(name: str) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    rows = X[:50]
    ref, ref_base = _shap_values(model, rows)
    tol = 1e-5 if name.startswith("xgb") else 1e-6
    assert ref.shape[2] == ens.n_outputs
    for output in range(ens.n_outputs):
        core = TreeShapCore(ens, output=output)
        np.testing.assert_allclose(core.shap_values(rows), ref[:, :, output], rtol=tol, atol=tol)
        assert core.expected_value == pytest.approx(ref_base[output], rel=tol, abs=tol)


@pytest.mark.parametrize("name", ["xgb-clf", "xgb-multi", "xgb-reg", "xgb-cat", "xgb-booster"])
def test_matches_xgboost_pred_contribs(name: str) -> None:
    model, X, _ = get_case(name)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    ens = compile_ensemble(model)
    rows = X[:50]
    if name == "xgb-cat":
        from .cases import _xgb_frame

        dmat = xgb.DMatrix(_xgb_frame(rows), enable_categorical=True)
    else:
        dmat = xgb.DMatrix(rows)
    contribs = booster.predict(dmat, pred_contribs=True)
    contribs = contribs.reshape(rows.shape[0], -1, rows.shape[1] + 1)
    for output in range(ens.n_outputs):
        core = TreeShapCore(ens, output=output)
        got = core.shap_values(rows)
        np.testing.assert_allclose(got, contribs[:, output, :-1], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            core.expected_value, contribs[:, output, -1], rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("name", ["lgb-clf", "lgb-multi", "lgb-reg", "lgb-cat", "lgb-zero"])
def test_matches_lightgbm_pred_contrib(name: str) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    rows = X[:50]
    contribs = np.asarray(model.predict(rows, pred_contrib=True))
    contribs = contribs.reshape(rows.shape[0], -1, rows.shape[1] + 1)
    for output in range(ens.n_outputs):
        core = TreeShapCore(ens, output=output)
        np.testing.assert_allclose(
            core.shap_values(rows), contribs[:, output, :-1], rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(
            core.expected_value, contribs[:, output, -1], rtol=1e-6, atol=1e-6
        )


def test_threads_give_identical_results() -> None:
    X, y, _ = make_data(30, n=1000, p=10, nan_rate=0.05)
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=16, verbose=-1, n_jobs=1).fit(X, y)
    core = TreeShapCore(compile_ensemble(model))
    one = core.shap_values(X, n_threads=1)
    two = core.shap_values(X, n_threads=2)
    assert np.array_equal(one, two)


def test_deep_forest_tables_and_direct_agree() -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, _, y = make_data(31, n=3000, nan_rate=0.05)
    model = RandomForestRegressor(4, random_state=0, n_jobs=1).fit(X, y)
    ens = compile_ensemble(model)
    tables = TreeShapCore(ens)
    direct = TreeShapCore(ens, memory_budget=0)
    assert tables.n_direct_leaves == 0
    assert direct.n_table_leaves == 0
    rows = X[:40]
    np.testing.assert_allclose(direct.shap_values(rows), tables.shap_values(rows), atol=1e-12)
    expected, _ = brute_force_shap(ens, rows[:3])
    np.testing.assert_allclose(direct.shap_values(rows[:3]), expected, rtol=1e-6, atol=1e-6)
    total = tables.expected_value + tables.shap_values(rows).sum(1)
    np.testing.assert_allclose(total, ens.predict_raw(rows)[:, 0], rtol=1e-9, atol=1e-12)


def test_partial_budget_mixes_leaf_kinds_with_equal_values() -> None:
    X, _, y = make_data(32, n=2000, p=8)
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=40, verbose=-1, n_jobs=1).fit(X, y)
    ens = compile_ensemble(model)
    full = TreeShapCore(ens)
    reference = full.shap_values(X[:50])
    kinds = set()
    for budget in np.geomspace(1024, full.nbytes, 12).astype(int):
        core = TreeShapCore(ens, memory_budget=int(budget))
        n_subsets = core.n_table_leaves - core.n_value_leaves
        kinds.add((core.n_value_leaves > 0, n_subsets > 0, core.n_direct_leaves > 0))
        for rows in (X[:50], X[:3]):  # block kernel and row kernel
            np.testing.assert_allclose(
                core.shap_values(rows), reference[: rows.shape[0]], rtol=0, atol=1e-12
            )
    assert any(direct and (values or subsets) for values, subsets, direct in kinds)
    assert any(values and subsets for values, subsets, _ in kinds)


def test_row_and_block_kernels_are_bitwise_identical() -> None:
    X, y, _ = make_data(33, n=600, p=10, nan_rate=0.05)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=5, n_jobs=1).fit(X, y)
    core = TreeShapCore(compile_ensemble(model))
    batch = core.shap_values(X)
    rows = np.vstack([core.shap_values(X[i : i + 1]) for i in range(0, 600, 37)])
    assert np.array_equal(rows, batch[::37])
    assert np.array_equal(core.shap_values(X, n_threads=2), batch)


def test_row_kernel_is_bitwise_the_block_kernel_for_every_leaf_kind() -> None:
    # The single-row kernel is compiled apart when no leaf lacks a table; both variants must
    # add the same floats in the same order as the block kernel.
    X, _, y = make_data(34, n=800, p=8, nan_rate=0.05)
    model = lgb.LGBMRegressor(n_estimators=12, num_leaves=40, verbose=-1, n_jobs=1).fit(X, y)
    ens = compile_ensemble(model)
    full = TreeShapCore(ens)
    for budget in (full.nbytes, full.nbytes // 3, 0):
        core = TreeShapCore(ens, memory_budget=budget)
        batch = core.shap_values(X[:64])
        for i in range(0, 64, 9):
            values, output = core.values_and_output(X[i : i + 1])
            assert np.array_equal(values[0], batch[i])
            np.testing.assert_allclose(output, ens.predict_raw(X[i : i + 1])[:, 0], atol=1e-12)
    assert full.n_direct_leaves == 0
    assert core.n_table_leaves == 0


def test_group_values_sum_column_values_only_when_blocks_never_share_a_path() -> None:
    # Grouped values are not the sum of column values in general, but they must add up.
    model, X, _ = get_case("xgb-reg")
    ens = compile_ensemble(model)
    core = TreeShapCore(ens, groups=GROUPS)
    values = core.shap_values(X)
    np.testing.assert_allclose(
        core.expected_value + values.sum(1), ens.predict_raw(X)[:, 0], rtol=1e-9, atol=1e-9
    )
    assert values.shape == (X.shape[0], 4)


def test_bad_parameters() -> None:
    model, X, _ = get_case("xgb-clf")
    ens = compile_ensemble(model)
    with pytest.raises(ParameterError, match="output"):
        TreeShapCore(ens, output=1)
    with pytest.raises(ParameterError, match="groups"):
        TreeShapCore(ens, groups=[0, 1])
    with pytest.raises(ParameterError, match="groups"):
        TreeShapCore(ens, groups=np.full(6, -1))
    core = TreeShapCore(ens)
    with pytest.raises(InputError, match="6 columns"):
        core.shap_values(X[:, :3])
    with pytest.raises(ParameterError, match="n_threads"):
        core.shap_values(X, n_threads=0)


def test_single_row_vector_input() -> None:
    model, X, _ = get_case("lgb-reg")
    core = TreeShapCore(compile_ensemble(model))
    np.testing.assert_array_equal(core.shap_values(X[3]), core.shap_values(X[3:4]))


def test_paths_longer_than_a_mask_use_the_path_walking_kernel() -> None:
    from explainscore.attribution.tree._builder import EnsembleBuilder

    # A chain 70 splits deep on 70 different columns: more players on one path than a
    # 64-bit fail mask holds.
    depth, n_features = 70, 72
    rng = np.random.default_rng(5)
    # Internal node k sits at 2k, its left leaf at 2k + 1, its right child at 2k + 2.
    n = 2 * depth + 1
    left = [i + 1 if i % 2 == 0 and i < n - 1 else -1 for i in range(n)]
    right = [i + 2 if i % 2 == 0 and i < n - 1 else -1 for i in range(n)]
    feature = [i // 2 if i % 2 == 0 and i < n - 1 else -1 for i in range(n)]
    threshold = [0.0] * n
    cover = [0.0] * n
    value = [0.0] * n
    weight = 1000.0
    for k in range(depth):
        cover[2 * k] = weight
        cover[2 * k + 1] = weight * 0.3
        value[2 * k + 1] = float(rng.normal())
        weight *= 0.7
    cover[n - 1] = weight
    value[n - 1] = float(rng.normal())
    builder = EnsembleBuilder(1)
    builder.add_tree(
        left=left, right=right, feature=feature, threshold=threshold,
        flags=[0] * n, cover=cover, value=value, output=0,
    )  # fmt: skip
    ens = builder.build(
        base_offset=[0.0], n_features=n_features, native_space="margin",
        float32_inputs=False, source="test.Chain",
    )  # fmt: skip
    X = np.abs(rng.normal(size=(12, n_features)))  # every split goes right ...
    X[np.arange(12), rng.integers(0, depth, size=12)] = -1.0  # ... but one
    core = TreeShapCore(ens)
    assert core.max_path_players == depth
    values = core.shap_values(X)
    total = core.expected_value + values.sum(1)
    # 1e-6, the project's bar: 70 nested Shapley weights lose a few digits (shap: 1e-7).
    np.testing.assert_allclose(total, ens.predict_raw(X)[:, 0], rtol=0, atol=1e-6)
    tree = {
        "children_left": np.array(left), "children_right": np.array(right),
        "children_default": np.array(left), "features": np.array(feature),
        "thresholds": np.array(threshold), "values": np.array(value)[:, None],
        "node_sample_weight": np.array(cover),
    }  # fmt: skip
    explainer = shap.TreeExplainer({"trees": [tree]}, feature_perturbation="tree_path_dependent")
    np.testing.assert_allclose(values, explainer.shap_values(X), rtol=0, atol=1e-6)
    assert np.array_equal(core.shap_values(X, n_threads=2), values)


def test_row_kernel_prefetching_changes_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tables beyond the cache make the single-row kernel prefetch; forced here on a small
    # model, with every leaf kind, the values must stay those of the block kernel, bit for bit.
    X, _, y = make_data(35, n=800, p=8, nan_rate=0.05)
    model = lgb.LGBMRegressor(n_estimators=12, num_leaves=40, verbose=-1, n_jobs=1).fit(X, y)
    ens = compile_ensemble(model)
    full_bytes = TreeShapCore(ens).nbytes
    monkeypatch.setattr(tree_shap_module, "_PREFETCH_BYTES", -1)
    for budget in (full_bytes, full_bytes // 3, 0):
        core = TreeShapCore(ens, memory_budget=budget)
        assert core._ahead is not None
        batch = core.shap_values(X[:64])
        for i in range(0, 64, 7):
            values, output = core.values_and_output(X[i : i + 1])
            assert np.array_equal(values[0], batch[i])
            np.testing.assert_allclose(output, ens.predict_raw(X[i : i + 1])[:, 0], atol=1e-12)
