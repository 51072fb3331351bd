"""Exact path-dependent TreeSHAP with per-leaf subset tables.

The game
--------
For one tree and row ``x``, a leaf with value ``v`` whose path splits on the distinct players
``P`` (``d = |P|``) contributes ``v * prod_{j in S} o_j * prod_{j in P minus S} z_j`` to the
value of coalition ``S``, where ``z_j`` is the product of cover ratios along the edges of the
path at nodes splitting on ``j`` and ``o_j`` is 1 when ``x`` takes the path at every such node.
That is Lundberg et al.'s (2020) path-dependent game; merging repeated players into one slot
is exactly how a one-hot block (``groups``) becomes one player.

Why tables
----------
Because ``o_j`` is 0 or 1, a leaf's contribution to player ``i`` depends only on the set ``A``
of slots the row agrees with, and with ``K`` a subset-sum table of the leaf (see
``_plan_kernels.fill_tables``) it is ``(o_i - z_i) * (K[A + i] - K[A - i])``: O(d) per leaf and
row, against O(d^2) for the classic algorithm (Lundberg) and O(d) with heavier polynomial
arithmetic for Linear TreeShap (Yu et al., 2022). The price is ``2^d`` floats per leaf, paid
once (FastTreeSHAP v2's trade, with one table per leaf instead of one per (leaf, player)). Leaves
whose tables would exceed the memory budget are computed exactly without a table, in
O(d * |A|) per leaf, so the result never depends on the budget beyond rounding.

Sibling leaves
--------------
Two leaves under one node whose player is new on their path differ only in that node's slot,
which the row contradicts at exactly one of them: one table, indexed by the left leaf's agree
set, holds the pair's summed slot values (``_plan_kernels.sibling_pairs``, ``fill_pairs``).
The kernels then visit one entry instead of two leaves (on the benchmark XGBoost, 300 trees of
depth 6: 5,958 visits per row instead of 9,528, and 14 instead of 21 MB of tables). A pair's
two values are added before they reach the accumulator, which may change the last bit against
adding them one by one; every driver reads the same table, so one lead's values still equal
the batch's bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from ...exceptions import ParameterError
from ._ensemble import FLAG_CATEGORICAL, FLAG_ZERO_MISSING, TreeEnsemble
from ._mask_kernels import (
    KIND_DIRECT,
    KIND_PAIR,
    KIND_SUBSETS,
    KIND_VALUES,
    block_work,
    mask_block,
    mask_parallel,
    mask_rows,
)
from ._plan_kernels import fill_pairs, fill_tables, layout_trees, leaf_keep, sibling_pairs
from ._shap_kernels import shap_parallel, shap_serial

__all__ = ["TreeShapCore", "path_dependent_shap"]

FloatArray = npt.NDArray[np.float64]

#: Largest path (distinct players) that gets a subset table: 2^12 floats (32 KiB) per leaf.
#: Blocks of rows read a table once per block, so it pays up to here (LightGBM 63 leaves:
#: 1,530 -> 2,530 rows/s from 10 to 12); deeper tables cost memory faster than they save time.
MAX_TABLE_DEPTH = 12
#: Deepest path (distinct players) that gets a value table: 2^8 * 8 floats (16 KiB) per leaf.
MAX_VALUE_DEPTH = 8
#: Most distinct players on a path the one-word fail masks of the fast kernels can hold.
MAX_MASK_SLOTS = 63
#: Batches of fewer rows run row by row (the block kernel's set-up does not pay off).
_FEW_ROWS = 8
#: Most bytes of fail masks per block (nodes x rows x 8). They are streamed, so L3 will do;
#: what matters is that each leaf table is read once for as many rows as possible.
_BLOCK_BYTES = 8 * 2**20
#: Fewest rows per parallel block of the path-walking kernels.
_DEEP_BLOCK = 64
#: Subset tables above this size are prefetched by the single-row kernel (see ``mask_rows``):
#: about the last-level cache of a server core, beyond which one row's reads go to memory.
_PREFETCH_BYTES = 32 * 2**20


def _max_threads() -> int:
    """Size of numba's thread pool (``NUMBA_NUM_THREADS``), the most ``set_num_threads`` takes."""
    return int(vars(numba.config)["NUMBA_NUM_THREADS"])


def _shapley_weights(max_d: int) -> FloatArray:
    """``w[d, s] = s! (d-1-s)! / d! = 1 / (d * C(d-1, s))`` for ``s < d``; zero elsewhere."""
    w = np.zeros((max_d + 1, max_d + 1), dtype=np.float64)
    for d in range(1, max_d + 1):
        for s in range(d):
            w[d, s] = 1.0 / (d * math.comb(d - 1, s))
    return w


def _check_groups(groups: Any, n_features: int) -> tuple[npt.NDArray[np.int32], int]:
    if groups is None:
        return np.arange(n_features, dtype=np.int32), n_features
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != n_features or not np.issubdtype(g.dtype, np.integer):
        raise ParameterError(
            f"groups must be a 1-D integer array with one entry per model column "
            f"({n_features}); got shape {g.shape} and dtype {g.dtype}."
        )
    if g.size and g.min() < 0:
        raise ParameterError("groups must hold player indices >= 0.")
    n_players = int(g.max()) + 1 if g.size else 0
    return g.astype(np.int32), n_players


def _internal_first(
    src: Any,
    p_left: Any,
    p_right: Any,
    p_parent: Any,
    p_slot: Any,
    p_ud: Any,
    p_ratio: Any,
    tree_node_start: Any,
) -> tuple[tuple[Any, ...], npt.NDArray[np.int64]]:
    """Renumber each tree's nodes: internal nodes first (still preorder, so parents precede
    children), then leaves. The per-row decision loop then runs over a dense range."""
    n = src.shape[0]
    tree_of = np.repeat(np.arange(len(tree_node_start) - 1), np.diff(tree_node_start))
    is_leaf = p_left < 0
    # Sort key: tree, then internal before leaf, then preorder position (stable sort).
    order = np.lexsort((np.arange(n), is_leaf, tree_of))
    new_of_old = np.empty(n, dtype=np.int32)
    new_of_old[order] = np.arange(n, dtype=np.int32)

    def remap(links: Any) -> Any:
        return np.where(links >= 0, new_of_old[np.maximum(links, 0)], -1).astype(np.int32)[order]

    tree_internal = np.bincount(tree_of[~is_leaf], minlength=len(tree_node_start) - 1)
    arrays = (
        src[order],
        remap(p_left),
        remap(p_right),
        remap(p_parent),
        p_slot[order],
        p_ud[order],
        p_ratio[order],
    )
    return arrays, tree_internal.astype(np.int64)


def _entries(
    tabled: npt.NDArray[np.bool_], second: npt.NDArray[np.bool_], tree_leaf_start: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The mask kernels' entries: one per pair (its left leaf) or single leaf, each tree's
    entries with a value or pair table (``tabled``) first, then its other leaves, each group
    in preorder. Returns the entries' indices into the leaf arrays and each tree's first entry.

    The single-row kernel prefetches the rows of the whole first group before it reads them
    (see ``mask_rows``); the block kernel follows the same order, so both add the same floats
    in the same order. Any order of a tree's leaves is exact: ``leaf_keep`` works out the
    slots two consecutive entries share from their common ancestor.
    """
    tree = np.repeat(np.arange(tree_leaf_start.shape[0] - 1), np.diff(tree_leaf_start))
    e = np.flatnonzero(~second)
    order = np.lexsort((e, ~tabled[e], tree[e]))
    e = e[order].astype(np.int64)
    return e, np.searchsorted(tree[e], np.arange(tree_leaf_start.shape[0])).astype(np.int64)


@dataclass(frozen=True)
class TreeLayout:
    """One output's trees in the kernels' layout: preorder with each tree's internal nodes
    first, node links and path slots, leaves and their path depth (distinct players)."""

    trees: npt.NDArray[np.int64]
    src: Any
    p_left: Any
    p_right: Any
    p_parent: Any
    p_slot: Any
    p_ud: Any
    p_ratio: Any
    tree_node_start: Any
    tree_internal: npt.NDArray[np.int64]
    p_player: Any
    p_value: Any
    leaves: Any
    leaf_d: Any
    tree_leaf_start: npt.NDArray[np.int64]
    #: Feature, threshold, flags and categorical arrays per node, as the decision reads them.
    node_arrays: tuple[Any, Any, Any, Any, Any, Any]


def tree_layout(ensemble: TreeEnsemble, output: int, player: Any) -> TreeLayout:
    """Lay out the trees of ``output`` (and those shared by every output) for the kernels;
    ``player`` maps each model column to its player."""
    trees = np.flatnonzero((ensemble.tree_output == output) | (ensemble.tree_output < 0)).astype(
        np.int64
    )
    (src, p_left, p_right, p_parent, p_slot, p_ud, p_ratio, tree_node_start) = layout_trees(
        ensemble.left, ensemble.right, ensemble.feature, ensemble.cover,
        ensemble.tree_start, trees, player,
    )  # fmt: skip
    (src, p_left, p_right, p_parent, p_slot, p_ud, p_ratio), tree_internal = _internal_first(
        src, p_left, p_right, p_parent, p_slot, p_ud, p_ratio, tree_node_start
    )
    is_internal = p_left >= 0
    feat = np.where(is_internal, ensemble.feature[src], 0).astype(np.int32)
    leaves = np.flatnonzero(~is_internal).astype(np.int32)
    tree_of_leaf = np.searchsorted(tree_node_start, leaves, side="right") - 1
    return TreeLayout(
        trees=trees,
        src=src,
        p_left=p_left,
        p_right=p_right,
        p_parent=p_parent,
        p_slot=p_slot,
        p_ud=p_ud,
        p_ratio=p_ratio,
        tree_node_start=tree_node_start,
        tree_internal=tree_internal,
        p_player=np.where(is_internal, player[feat], -1).astype(np.int32),
        p_value=np.ascontiguousarray(ensemble.value[src, output]),
        leaves=leaves,
        leaf_d=np.ascontiguousarray(p_ud[leaves]),
        tree_leaf_start=np.searchsorted(tree_of_leaf, np.arange(len(trees) + 1)).astype(np.int64),
        node_arrays=(
            feat,
            np.ascontiguousarray(ensemble.threshold[src]),
            np.ascontiguousarray(ensemble.flags[src]),
            np.ascontiguousarray(ensemble.cat_start[src]),
            np.ascontiguousarray(ensemble.cat_len[src]),
            ensemble.cat_words,
        ),
    )


class TreeShapCore:
    """Precomputed exact path-dependent TreeSHAP for one ensemble, output and grouping.

    Parameters
    ----------
    ensemble : TreeEnsemble
        A compiled model (:func:`compile_ensemble`).
    groups : array-like of int of shape (n_features,), optional
        ``groups[j]`` is the player of model column ``j``; columns sharing a player (a one-hot
        block) are one player of the game. Default: each column is its own player.
    output : int, default 0
        Which output (class) to explain.
    memory_budget : int, default 256 MiB
        Bytes the per-leaf tables may take. Leaves that do not fit are computed exactly
        without a table (slower, same values).

    Attributes
    ----------
    expected_value : float
        The value of the empty coalition (cover-weighted mean output), the base value.
    n_players : int
        Number of players (columns of the returned values).
    nbytes : int
        Bytes held by the precomputation.
    n_table_leaves, n_direct_leaves : int
        Leaves with and without a table.
    n_value_leaves : int
        Table leaves whose slot values are tabled themselves (the fastest kind), alone or in a
        pair.
    n_pairs : int
        Pairs of sibling value leaves that share one table of their summed values (see
        ``_mask_kernels``): the kernels visit them once.
    """

    def __init__(
        self,
        ensemble: TreeEnsemble,
        *,
        groups: Any = None,
        output: int = 0,
        memory_budget: int = 256 * 2**20,
    ) -> None:
        if not 0 <= int(output) < ensemble.n_outputs:
            raise ParameterError(
                f"output must be in [0, {ensemble.n_outputs}) for {ensemble.source}; got {output}."
            )
        if memory_budget < 0:
            raise ParameterError(f"memory_budget must be >= 0 bytes; got {memory_budget}.")
        self.ensemble = ensemble
        self.output = int(output)
        player, self.n_players = _check_groups(groups, ensemble.n_features)
        lay = tree_layout(ensemble, self.output, player)
        p_left, p_right, p_parent, p_slot = lay.p_left, lay.p_right, lay.p_parent, lay.p_slot
        p_ratio, p_player, p_value = lay.p_ratio, lay.p_player, lay.p_value
        tree_node_start, tree_internal = lay.tree_node_start, lay.tree_internal
        leaves, leaf_d, tree_leaf_start = lay.leaves, lay.leaf_d, lay.tree_leaf_start
        max_d = int(leaf_d.max()) if leaf_d.size else 0
        self.max_path_players = max_d
        # Fail masks are one 64-bit word: deeper paths use the path-walking kernels.
        self._masks = max_d <= MAX_MASK_SLOTS
        #: Leaf values in a library's dtype (``shap_values_and_margin``), made on first use.
        self._library_leaves: dict[np.dtype[Any], npt.NDArray[Any]] = {}
        kind = self._leaf_kinds(leaf_d, memory_budget, values=self._masks)
        # Sibling leaves merged into one table (the mask kernels only; see ``_mask_kernels``).
        if self._masks:
            paired = sibling_pairs(leaves, leaf_d, kind, p_parent, lay.p_ud)
        else:
            paired = np.zeros(leaves.shape[0], dtype=bool)
        second = np.concatenate(([False], paired[:-1])) if leaves.size else paired
        # The leaves of a pair keep their subset tables (the pair's table is built from
        # them); their values live in the pair's table only.
        own = np.where(paired | second, KIND_SUBSETS, kind).astype(np.int8)
        sub = kind != KIND_DIRECT
        val = own == KIND_VALUES
        sub_sizes = np.where(sub, np.left_shift(1, leaf_d.astype(np.int64)), 0)
        val_sizes = np.where(val, np.left_shift(1, leaf_d.astype(np.int64)) * leaf_d, 0)
        pair_sizes = np.where(paired, np.left_shift(1, leaf_d.astype(np.int64)) * leaf_d, 0)
        leaf_sub = np.where(sub, np.cumsum(sub_sizes) - sub_sizes, -1).astype(np.int64)
        leaf_table = np.where(val, np.cumsum(val_sizes) - val_sizes, -1).astype(np.int64)
        # Pair tables follow the single leaves' value tables in the same array.
        pair_table = int(val_sizes.sum()) + np.cumsum(pair_sizes) - pair_sizes
        leaf_table = np.where(paired, pair_table, leaf_table).astype(np.int64)
        slot_sizes = leaf_d.astype(np.int64)
        leaf_slot = (np.cumsum(slot_sizes) - slot_sizes).astype(np.int64)
        tables = np.zeros(int(val_sizes.sum() + pair_sizes.sum()), dtype=np.float64)
        subsets = np.zeros(int(sub_sizes.sum()), dtype=np.float64)
        slot_z = np.zeros(int(slot_sizes.sum()), dtype=np.float64)
        slot_player = np.zeros(int(slot_sizes.sum()), dtype=np.int32)
        weights = _shapley_weights(max(max_d, 1))
        expected = fill_tables(
            leaves, leaf_d, own, leaf_table, leaf_sub, leaf_slot, p_parent, p_slot, p_ratio,
            p_player, p_value, weights, slot_z, slot_player, tables, subsets,
        )  # fmt: skip
        first = np.flatnonzero(paired).astype(np.int64)
        fill_pairs(first, leaf_table[first], leaf_d, leaf_sub, leaf_slot, slot_z, subsets, tables)
        self.expected_value = float(expected + ensemble.base_offset[self.output])
        self.n_value_leaves = int((kind == KIND_VALUES).sum())
        self.n_table_leaves = int(sub.sum())
        self.n_direct_leaves = int(leaves.shape[0] - self.n_table_leaves)
        self.n_pairs = int(first.shape[0])
        node_arrays = lay.node_arrays
        if self._masks:
            e, tree_entry_start = _entries(paired | (kind == KIND_VALUES), second, tree_leaf_start)
            e_leaves = leaves[e]
            keep = leaf_keep(e_leaves, tree_entry_start, p_parent, p_slot)
            e_kind = np.where(paired, KIND_PAIR, kind).astype(np.int8)[e]
            self._plan: tuple[Any, ...] = (
                *node_arrays, p_left, p_right, p_slot, p_value, tree_node_start, tree_internal,
                tree_entry_start, e_leaves, leaf_d[e], e_kind, leaf_table[e], leaf_sub[e],
                leaf_slot[e], keep, slot_z, slot_player, tables, subsets, weights,
            )  # fmt: skip
        else:
            self._plan = (
                *node_arrays, p_left, p_right, p_parent, p_slot, p_ratio, p_player, p_value,
                tree_node_start, tree_internal, tree_leaf_start, leaves, leaf_d, leaf_sub,
                leaf_slot, slot_z, slot_player, subsets, weights,
            )  # fmt: skip
        # The kernels are compiled apart for ensembles without direct leaves (None): the
        # single-row kernel would lose a tenth of its time to the leaf-kind test, and numba
        # never compiles the direct leaves' code (seconds on an empty cache) for a model
        # that has none.
        self._direct_weights = weights if self.n_direct_leaves else None
        # Likewise the rule of categorical and zero-as-missing splits, for models with
        # plain numeric splits only (XGBoost and scikit-learn on numeric columns).
        flags = node_arrays[2][p_left >= 0]
        special = np.any(flags & (FLAG_CATEGORICAL | FLAG_ZERO_MISSING))
        self._special = node_arrays[5] if special else None
        # Likewise its prefetches, which pay only when the tables do not fit in the cache.
        self._ahead = subsets if subsets.nbytes > _PREFETCH_BYTES else None
        counts = np.diff(tree_node_start)
        self._max_nodes = int(counts.max()) if counts.size else 1
        self._max_d = max_d
        self.nbytes = int(sum(a.nbytes for a in self._plan))

    @staticmethod
    def _leaf_kinds(leaf_d: npt.NDArray[np.int32], budget: int, *, values: bool) -> Any:
        """Kind of each leaf under the memory budget.

        Subset tables (``2^d`` floats) go first, shallow paths first, up to
        ``MAX_TABLE_DEPTH``; what budget is left upgrades shallow paths to value tables
        (``2^d * d`` more floats, the fastest kernel for blocks of rows), up to
        ``MAX_VALUE_DEPTH``. Every choice
        gives the same values; only speed and memory differ.
        """
        kind = np.full(leaf_d.shape[0], KIND_DIRECT, dtype=np.int8)
        counts = np.bincount(leaf_d, minlength=MAX_TABLE_DEPTH + 1) if leaf_d.size else None
        if counts is None:
            return kind
        used = 0
        sub_depth = -1
        for d in range(MAX_TABLE_DEPTH + 1):
            cost = int(counts[d]) * (8 << d)
            if used + cost > budget:
                break
            used += cost
            sub_depth = d
        kind[leaf_d <= sub_depth] = KIND_SUBSETS
        for d in range(1, min(sub_depth, MAX_VALUE_DEPTH) + 1) if values else ():
            extra = int(counts[d]) * (8 << d) * d
            if used + extra > budget:
                break
            used += extra
            kind[leaf_d == d] = KIND_VALUES
        return kind

    def shap_values(self, X: Any, *, n_threads: int = 1) -> FloatArray:
        """Exact Shapley values of the path-dependent game for each row.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Rows in the model's input space.
        n_threads : int, default 1
            Numba threads for batches; the values do not depend on it.

        Returns
        -------
        ndarray of float64 of shape (n_rows, n_players)
            ``expected_value + values.sum(1)`` equals the explained output.
        """
        return self._values(self.ensemble.prepare_input(X), n_threads, None)[0]

    def shap_values_and_margin(
        self, X: Any, *, dtype: Any, base: Any, n_threads: int = 1
    ) -> tuple[FloatArray, npt.NDArray[Any]]:
        """:meth:`shap_values` and, from the same pass, each row's margin summed as the
        model's library sums it: ``base`` plus the value of the leaf the row reaches in each
        tree, added tree after tree in ``dtype`` (see ``_library_scores``).

        Returns
        -------
        values : ndarray of float64 of shape (n_rows, n_players)
        margin : ndarray of ``dtype`` of shape (n_rows,)
        """
        leaf = self._library_leaves.get(np.dtype(dtype))
        if leaf is None:
            # The explained output's leaf values, in plan order, in the library's dtype
            # (exact: they are that dtype's numbers to begin with).
            leaf = np.ascontiguousarray(self._plan[9], dtype=dtype)
            self._library_leaves[np.dtype(dtype)] = leaf
        rows = self.ensemble.prepare_input(X)
        sums = np.full(rows.shape[0], base, dtype=dtype)
        values, _ = self._values(rows, n_threads, (leaf, sums))
        return values, sums

    def _values(
        self, rows: FloatArray, n_threads: int, scored: Any
    ) -> tuple[FloatArray, FloatArray | None]:
        """Values of prepared rows; ``scored`` as in ``mask_block`` (None: no margins)."""
        if n_threads < 1:
            raise ParameterError(f"n_threads must be >= 1; got {n_threads}.")
        if not self._masks:
            if scored is not None:
                # The path-walking kernels keep no fail masks to read the reached leaves
                # from: the margins come from a walk of the trees (node order, not plan's).
                from ._library_scores import walk_sums

                sums = scored[1]
                node_leaf = np.ascontiguousarray(self.ensemble.value[:, self.output], sums.dtype)
                walk_sums(self.ensemble, rows, node_leaf, sums)
            return self._deep_values(rows, n_threads), None
        n = rows.shape[0]
        if n < _FEW_ROWS:
            return self._few_rows(rows, scored=scored)
        # Rows innermost: features x rows in, players x rows out.
        XT = np.ascontiguousarray(rows.T)
        outT = np.zeros((self.n_players, n), dtype=np.float64)
        threads = min(n_threads, _max_threads())
        block = max(16, min(256, _BLOCK_BYTES // (8 * self._max_nodes)))
        # Give every thread at least one block, but keep blocks big enough to vectorise.
        block = max(16, min(block, -(-n // threads)))
        if threads == 1:
            # The same blocks in turn, without the parallel driver: a process that explains
            # on one thread never compiles numba's parallel loop (tens of seconds on an
            # empty cache); the values are the same (each block owns its columns).
            plan, direct, special = self._plan, self._direct_weights, self._special
            work = block_work(self._max_nodes, self._max_d, min(n, block))
            for lo in range(0, n, block):
                mask_block(XT, outT, lo, min(n, lo + block), plan, direct, special, work, scored)
            return np.ascontiguousarray(outT.T), None
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            mask_parallel(
                XT, outT, self._plan, self._max_nodes, self._max_d, block,
                self._direct_weights, self._special, scored,
            )  # fmt: skip
        finally:
            numba.set_num_threads(previous)
        return np.ascontiguousarray(outT.T), None

    def values_and_output(self, X: Any) -> tuple[FloatArray, FloatArray]:
        """Shapley values and the explained raw output of a few rows, in one pass.

        The single-lead path: the output comes from the leaves the rows reach during the same
        pass over the trees, so the lead is not walked through the ensemble twice.

        Returns
        -------
        values : ndarray of float64 of shape (n_rows, n_players)
        output : ndarray of float64 of shape (n_rows,)
            ``ensemble.predict_raw(X)[:, output]``.
        """
        rows = self.ensemble.prepare_input(X)
        if not self._masks:
            values = self._deep_values(rows, 1)
            return values, self.ensemble.predict_raw(rows)[:, self.output]
        return self._few_rows(rows)

    def _few_rows(
        self, rows: FloatArray, *, prefetch: bool | None = None, scored: Any = None
    ) -> tuple[FloatArray, FloatArray]:
        """Row by row (``mask_rows``). ``prefetch`` forces the prefetching variant on or off
        (``explainscore warmup`` compiles both); None chooses by the tables' size."""
        out = np.zeros((rows.shape[0], self.n_players), dtype=np.float64)
        reached = np.full(rows.shape[0], self.ensemble.base_offset[self.output])
        plan, direct, special = self._plan, self._direct_weights, self._special
        ahead = self._ahead if prefetch is None else (plan[23] if prefetch else None)  # subsets
        mask_rows(
            rows, out, reached, plan, self._max_nodes, self._max_d, direct, ahead, special, scored
        )
        return out, reached

    def _deep_values(self, rows: FloatArray, n_threads: int) -> FloatArray:
        """Path-walking kernels for paths with more distinct players than a mask holds."""
        out = np.zeros((rows.shape[0], self.n_players), dtype=np.float64)
        if n_threads == 1 or rows.shape[0] <= _DEEP_BLOCK:
            shap_serial(rows, out, self._plan, self._max_nodes, self._max_d)
            return out
        previous = numba.get_num_threads()
        numba.set_num_threads(min(n_threads, _max_threads()))
        try:
            # One contiguous block per thread: each thread then streams every tree's tables
            # once for all its rows instead of once per small block.
            n_used = numba.get_num_threads()
            block = max(_DEEP_BLOCK, -(-rows.shape[0] // n_used))
            shap_parallel(rows, out, self._plan, self._max_nodes, self._max_d, block)
        finally:
            numba.set_num_threads(previous)
        return out


def path_dependent_shap(
    ensemble: TreeEnsemble,
    X: Any,
    *,
    groups: Any = None,
    output: int = 0,
    n_threads: int = 1,
    memory_budget: int = 256 * 2**20,
) -> tuple[FloatArray, float]:
    """Exact Shapley values of the path-dependent tree game (one call, no reuse).

    Parameters
    ----------
    ensemble : TreeEnsemble
        A compiled model (:func:`compile_ensemble`).
    X : array-like of shape (n_rows, n_features)
        Rows in the model's input space.
    groups : array-like of int of shape (n_features,), optional
        Player of each model column (see :class:`TreeShapCore`).
    output : int, default 0
        Which output (class) to explain.
    n_threads : int, default 1
        Numba threads.
    memory_budget : int, default 256 MiB
        Bytes the precomputed tables may take.

    Returns
    -------
    values : ndarray of float64 of shape (n_rows, n_players)
    expected_value : float
        ``expected_value + values.sum(1) == ensemble.predict_raw(X)[:, output]``.
    """
    core = TreeShapCore(ensemble, groups=groups, output=output, memory_budget=memory_budget)
    return core.shap_values(X, n_threads=n_threads), core.expected_value
