"""Sibling leaves merged into one table (``KIND_PAIR``): which siblings pair, what their table
holds, and that every driver still gives one lead the batch's values bit for bit.

Two leaves under a node whose player is new on their path share one table of their summed slot
values; siblings under a node that repeats an ancestor's player stay single leaves (see
``_mask_kernels``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explainscore.attribution.tree import TreeShapCore, compile_ensemble
from explainscore.attribution.tree import _shap as shap_module
from explainscore.attribution.tree._builder import EnsembleBuilder, bitset_from_categories
from explainscore.attribution.tree._ensemble import (
    FLAG_CAT_SET_LEFT,
    FLAG_CATEGORICAL,
    FLAG_ZERO_MISSING,
)
from explainscore.attribution.tree._library_scores import walk_sums
from explainscore.attribution.tree._mask_kernels import (
    KIND_PAIR,
    block_work,
    mask_block,
    mask_parallel,
)

from ..tree.bruteforce import brute_force_shap
from ..tree.cases import get_case

N_FEATURES = 6
#: Columns 1 and 2 as one player: tree A's node 2 then repeats its parent's player.
GROUPS = np.array([0, 1, 1, 2, 3, 4])

# Depth 3, preorder: internal nodes 0, 1, 2, 5, 8, 9, 12; every other node is a leaf.
_LEFT = [1, 2, 3, -1, -1, 6, -1, -1, 9, 10, -1, -1, 13, -1, -1]
_RIGHT = [8, 5, 4, -1, -1, 7, -1, -1, 12, 11, -1, -1, 14, -1, -1]
#: Tree A's features. Bottom nodes: 2 splits on a new column (a pair), 5 repeats the root's
#: column and 9 its parent's (single leaves), 12 on a new column with a categorical split (a
#: pair); node 8 reads zero as missing.
_FEATURES_A = {0: 0, 1: 1, 2: 2, 5: 0, 8: 3, 9: 3, 12: 4}
#: Tree B: a leaf beside an internal node whose two leaves pair: 0 -> (leaf 1, node 2 -> 3, 4).
_LEFT_B = [1, -1, 3, -1, -1]
_RIGHT_B = [2, -1, 4, -1, -1]


def _covers(left: list[int], right: list[int], rng: Any) -> np.ndarray:
    cover = np.zeros(len(left))
    for node in range(len(left) - 1, -1, -1):
        if left[node] < 0:
            cover[node] = rng.integers(5, 50)
        else:
            cover[node] = cover[left[node]] + cover[right[node]]
    return cover


def _pair_ensemble(seed: int = 0, *, random_trees: int = 3) -> Any:
    """Two copies each of trees A and B (6 pairs, 4 under ``GROUPS``), then random trees."""
    rng = np.random.default_rng(seed)
    builder = EnsembleBuilder(1)
    for _ in range(2):
        feature = np.full(15, -1)
        for node, col in _FEATURES_A.items():
            feature[node] = col
        flags = np.where(np.arange(15) % 2 == 0, 1, 0)  # NaN goes left on some nodes
        flags[12] |= FLAG_CATEGORICAL | FLAG_CAT_SET_LEFT
        flags[8] |= FLAG_ZERO_MISSING
        builder.add_tree(
            left=_LEFT, right=_RIGHT, feature=feature, threshold=rng.normal(size=15),
            flags=flags, cover=_covers(_LEFT, _RIGHT, rng), value=rng.normal(size=15),
            output=0, categories={12: bitset_from_categories([0, 2])},
        )  # fmt: skip
        builder.add_tree(
            left=_LEFT_B, right=_RIGHT_B, feature=[5, -1, 1, -1, -1],
            threshold=rng.normal(size=5), flags=np.zeros(5, dtype=int),
            cover=_covers(_LEFT_B, _RIGHT_B, rng), value=rng.normal(size=5), output=0,
        )  # fmt: skip
    for _ in range(random_trees):
        feature = np.where(np.array(_LEFT) >= 0, rng.integers(0, N_FEATURES, 15), -1)
        builder.add_tree(
            left=_LEFT, right=_RIGHT, feature=feature, threshold=rng.normal(size=15),
            flags=np.zeros(15, dtype=int), cover=_covers(_LEFT, _RIGHT, rng),
            value=rng.normal(size=15), output=0,
        )  # fmt: skip
    return builder.build(
        base_offset=[0.1],
        n_features=N_FEATURES,
        native_space="margin",
        float32_inputs=False,
        source="test",
    )


def _rows(n: int = 60, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, N_FEATURES))
    rows[::2, 4] = np.floor(np.abs(rows[::2, 4]) * 3)  # category codes 0, 1, 2, ...
    rows[::3, 3] = 0.0  # zero, which node 8 reads as missing
    rows[::5, 2] = np.nan
    return rows


def _unpaired(ensemble: Any, monkeypatch: Any, **kwargs: Any) -> TreeShapCore:
    """The same core with no pair merged (every value leaf keeps its own table)."""
    with monkeypatch.context() as m:
        m.setattr(shap_module, "sibling_pairs", lambda leaves, *a: np.zeros(leaves.size, bool))
        return TreeShapCore(ensemble, **kwargs)


def test_siblings_pair_only_under_a_new_player() -> None:
    ens = _pair_ensemble(random_trees=0)
    assert TreeShapCore(ens).n_pairs == 6
    # Columns 1 and 2 one player: tree A's node 2 repeats its parent's, tree B's does not.
    assert TreeShapCore(ens, groups=GROUPS).n_pairs == 4
    # Pairs need value tables: none without them.
    assert TreeShapCore(ens, memory_budget=0).n_pairs == 0


def test_a_pair_table_holds_its_two_leaves_values(monkeypatch: Any) -> None:
    # For the left leaf's agree set A, the pair's row is V_left[A] + V_right[A ^ top], where
    # V are the very floats each leaf's own value table holds.
    ens = _pair_ensemble()
    paired = TreeShapCore(ens)
    single = _unpaired(ens, monkeypatch)
    assert single.n_pairs == 0
    assert paired.n_pairs > 6
    p, q = paired._plan, single._plan
    own_table = {int(leaf): int(off) for leaf, off in zip(q[13], q[16], strict=True)}
    checked = 0
    for leaf, d, kind, off in zip(p[13], p[14], p[15], p[16], strict=True):
        if kind != KIND_PAIR:
            continue
        size = (1 << int(d)) * int(d)
        left = q[22][own_table[int(leaf)] :][:size].reshape(-1, d)
        right = q[22][own_table[int(leaf) + 1] :][:size].reshape(-1, d)
        flipped = np.arange(1 << int(d)) ^ (1 << (int(d) - 1))
        expected = left + right[flipped]
        got = p[22][int(off) :][:size].reshape(-1, d)
        assert np.array_equal(got.view(np.uint64), expected.view(np.uint64))
        checked += 1
    assert checked == paired.n_pairs
    assert paired.nbytes < single.nbytes


@pytest.mark.parametrize("groups", [None, GROUPS], ids=["columns", "groups"])
@pytest.mark.parametrize("budget", [256 * 2**20, 3000, 0], ids=["values", "partial", "none"])
def test_pairs_are_exact(groups: Any, budget: int, monkeypatch: Any) -> None:
    ens = _pair_ensemble()
    rows = _rows()
    core = TreeShapCore(ens, groups=groups, memory_budget=budget)
    values = core.shap_values(rows)
    exact, base = brute_force_shap(ens, rows[:6], groups=groups)
    np.testing.assert_allclose(values[:6], exact, rtol=1e-6, atol=1e-6)
    assert core.expected_value == pytest.approx(base, rel=1e-9, abs=1e-12)
    predicted = ens.predict_raw(rows)[:, 0]
    np.testing.assert_allclose(values.sum(1) + core.expected_value, predicted, rtol=0, atol=1e-9)
    # Merging changes only the order of two additions: the last bits, at most.
    single = _unpaired(ens, monkeypatch, groups=groups, memory_budget=budget)
    np.testing.assert_allclose(values, single.shap_values(rows), rtol=0, atol=1e-12)


def _every_driver(core: TreeShapCore, rows: np.ndarray) -> list[np.ndarray]:
    """One model's values from every driver, block size and thread count."""
    results = [core.shap_values(rows), core.shap_values(rows, n_threads=2)]
    results.append(np.vstack([core.values_and_output(rows[i : i + 1])[0] for i in range(20)]))
    prepared = core.ensemble.prepare_input(rows)  # what the kernels take
    for prefetch in (False, True):
        results.append(core._few_rows(prepared[:20], prefetch=prefetch)[0])
    plan, direct, special = core._plan, core._direct_weights, core._special
    XT = np.ascontiguousarray(prepared.T)
    for block in (1, 7, 32, rows.shape[0]):
        outT = np.zeros((core.n_players, rows.shape[0]))
        work = block_work(core._max_nodes, core._max_d, block)
        for lo in range(0, rows.shape[0], block):
            mask_block(XT, outT, lo, min(rows.shape[0], lo + block), plan, direct, special, work)
        results.append(np.ascontiguousarray(outT.T))
    outT = np.zeros((core.n_players, rows.shape[0]))
    mask_parallel(XT, outT, plan, core._max_nodes, core._max_d, 16, direct, special)
    results.append(np.ascontiguousarray(outT.T))
    return results


def _assert_same_bits(results: list[np.ndarray]) -> None:
    first = results[0]
    for other in results[1:]:
        n = other.shape[0]
        assert np.array_equal(first[:n].view(np.uint64), other.view(np.uint64))


@pytest.mark.parametrize("budget", [256 * 2**20, 3000, 0], ids=["values", "partial", "none"])
def test_one_lead_equals_the_batch_bit_for_bit(budget: int) -> None:
    # Pairs (one with a categorical split), repeated-player siblings, single value leaves,
    # subset-only and table-less leaves, depending on the budget.
    core = TreeShapCore(_pair_ensemble(), memory_budget=budget)
    assert core._special is not None
    _assert_same_bits(_every_driver(core, _rows(70)))


@pytest.mark.parametrize("name", ["xgb-clf", "lgb-cat", "rf-reg"])
def test_one_lead_equals_the_batch_on_library_models(name: str) -> None:
    model, X, _ = get_case(name)
    ens = compile_ensemble(model)
    full = TreeShapCore(ens)
    assert full.n_pairs > 0
    # A budget that leaves the deeper leaves without value tables (some without any table).
    partial = TreeShapCore(ens, memory_budget=full.nbytes // 4)
    assert partial.n_value_leaves < partial.n_table_leaves
    for core in (full, partial):
        rows = X[:70]
        results = _every_driver(core, rows)
        _assert_same_bits(results)
        total = results[0].sum(1) + core.expected_value
        np.testing.assert_allclose(total, ens.predict_raw(rows)[:, 0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_margins_add_one_leaf_per_tree_in_order(dtype: Any) -> None:
    # A pair's right leaf counts once, in its tree's turn: the library's margin, bit for bit.
    ens = _pair_ensemble()
    rows = _rows(40)
    core = TreeShapCore(ens)
    expected = np.full(rows.shape[0], dtype(0.1), dtype=dtype)
    walk_sums(ens, ens.prepare_input(rows), ens.value[:, 0].astype(dtype), expected)
    batch = core.shap_values_and_margin(rows, dtype=dtype, base=dtype(0.1))[1]
    one = [
        core.shap_values_and_margin(rows[i : i + 1], dtype=dtype, base=dtype(0.1))[1]
        for i in range(40)
    ]
    two = core.shap_values_and_margin(rows, dtype=dtype, base=dtype(0.1), n_threads=2)[1]
    for got in (batch, np.concatenate(one), two):
        assert got.dtype == dtype
        assert np.array_equal(got, expected)
    # And the prediction that comes with a lead's values, from the same pass.
    output = np.concatenate([core.values_and_output(rows[i : i + 1])[1] for i in range(40)])
    np.testing.assert_allclose(output, ens.predict_raw(rows)[:, 0], rtol=0, atol=1e-12)
