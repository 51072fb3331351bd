"""Numba kernels of the per-row TreeSHAP computation (see :mod:`._shap` for the maths).

For each row and tree, one pass over the internal nodes (preorder) records the direction the
row takes at every node and propagates a *fail mask*: the bits of the slots whose split the
row contradicts on the way down. At a leaf with ``d`` path players, ``A`` (the slots the row
agrees with everywhere) is then ``~fail``, and the leaf adds to each of its players

    i in A:      (1 - z_i) * (K[A] - K[A without i])
    i not in A:  -z_i * (K[A with i] - K[A])

from its precomputed table ``K`` (``_plan_kernels.fill_tables``). Leaves without a table (too
deep for the memory budget) are computed exactly from elementary symmetric polynomials of the
zero fractions, in ``O(d * |A|)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ..._numba_cache import kernel_cache
from ._decision import goes_left
from ._plan_kernels import direct_slot_values, path_factors

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

__all__ = ["shap_parallel", "shap_serial"]


@njit(cache=_CACHE, nogil=True)
def _leaf_direct(
    i: int,
    leaf: int,
    d: int,
    base: int,
    dirs: Any,
    p_left: Any,
    p_parent: Any,
    p_slot: Any,
    p_ratio: Any,
    p_player: Any,
    v: float,
    weights: Any,
    z: Any,
    who: Any,
    agree: Any,
    e: Any,
    pre: Any,
    rbuf: Any,
    out: Any,
) -> None:
    """Exact contribution of one leaf without a table (any depth)."""
    path_factors(leaf, d, p_parent, p_slot, p_ratio, p_player, z, who)
    for s in range(d):
        agree[s] = 1
    c = leaf
    while p_parent[c] >= 0:
        p = p_parent[c]
        went_left = p_left[p] == c
        if dirs[p - base] != went_left:
            agree[p_slot[p]] = 0
        c = p
    direct_slot_values(d, v, z, 0, agree, weights, e, pre, rbuf, 0)
    for s in range(d):
        out[i, who[s]] += rbuf[s, 0]
        rbuf[s, 0] = 0.0


@njit(cache=_CACHE, nogil=True)
def shap_block(
    X: Any,
    lo: int,
    hi: int,
    out: Any,
    p_feature: Any,
    p_threshold: Any,
    p_flags: Any,
    p_cat_start: Any,
    p_cat_len: Any,
    cat_words: Any,
    p_left: Any,
    p_right: Any,
    p_parent: Any,
    p_slot: Any,
    p_ratio: Any,
    p_player: Any,
    p_value: Any,
    tree_node_start: Any,
    tree_internal: Any,
    tree_leaf_start: Any,
    leaves: Any,
    leaf_d: Any,
    leaf_table: Any,
    leaf_slot: Any,
    slot_z: Any,
    slot_player: Any,
    tables: Any,
    weights: Any,
    max_nodes: int,
    max_d: int,
) -> None:
    """Add the Shapley values of rows ``lo:hi`` of ``X`` to ``out`` (trees outer, rows inner,
    so one tree's tables stay in cache across the block)."""
    fail = np.zeros(max_nodes, dtype=np.uint64)
    dirs = np.zeros(max_nodes, dtype=np.bool_)
    z = np.empty(max_d + 1, dtype=np.float64)
    who = np.empty(max_d + 1, dtype=np.int32)
    agree = np.empty(max_d + 1, dtype=np.uint8)
    e = np.empty(max_d + 2, dtype=np.float64)
    pre = np.empty(max_d + 1, dtype=np.float64)
    rbuf = np.zeros((max_d + 1, 1), dtype=np.float64)
    one = np.uint64(1)
    for t in range(tree_node_start.shape[0] - 1):
        base = tree_node_start[t]
        # Internal nodes come first in each tree (preorder among themselves), then leaves.
        end = base + tree_internal[t]
        for i in range(lo, hi):
            fail[0] = 0
            for g in range(base, end):
                x = X[i, p_feature[g]]
                gl = goes_left(x, g, p_threshold, p_flags, p_cat_start, p_cat_len, cat_words)
                dirs[g - base] = gl
                s = p_slot[g]
                bit = (one << np.uint64(s)) if s < 64 else np.uint64(0)
                f = fail[g - base]
                # Branch-free: the child the row does not take records the contradiction.
                go = np.uint64(gl)
                fail[p_left[g] - base] = f | (bit * (one - go))
                fail[p_right[g] - base] = f | (bit * go)
            for lf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
                leaf = leaves[lf]
                d = leaf_d[lf]
                off = leaf_table[lf]
                if off < 0:
                    _leaf_direct(
                        i, leaf, d, base, dirs, p_left, p_parent, p_slot, p_ratio, p_player,
                        p_value[leaf], weights, z, who, agree, e, pre, rbuf, out,
                    )  # fmt: skip
                    continue
                a = ((1 << d) - 1) & ~np.int64(fail[leaf - base])
                ka = tables[off + a]
                so = leaf_slot[lf]
                for s in range(d):
                    # Agreeing slot: (1 - z) (K[A] - K[A - s]); other: z (K[A] - K[A + s]).
                    zs = slot_z[so + s]
                    inside = (a >> s) & 1
                    coef = zs + inside * (1.0 - 2.0 * zs)
                    out[i, slot_player[so + s]] += coef * (ka - tables[off + (a ^ (1 << s))])


@njit(cache=_CACHE, nogil=True)
def shap_serial(X: Any, out: Any, plan: Any, max_nodes: int, max_d: int) -> None:
    """All rows of ``X`` on the calling thread."""
    # mypy sees numba's Dispatcher, not the kernel's signature, and cannot count ``*plan``.
    shap_block(X, 0, X.shape[0], out, *plan, max_nodes, max_d)  # type: ignore[call-arg]


@njit(cache=_CACHE, nogil=True, parallel=True)
def shap_parallel(X: Any, out: Any, plan: Any, max_nodes: int, max_d: int, block: int) -> None:
    """Rows in blocks of ``block`` across numba's threads. Each row's sum runs in the same
    order as in ``shap_serial``, so results are bitwise identical."""
    n = X.shape[0]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        hi = min(n, lo + block)
        shap_block(X, lo, hi, out, *plan, max_nodes, max_d)  # type: ignore[call-arg]
