"""Numba kernels of TreeSHAP for paths of at most 63 distinct players (nearly every model).

Per tree and row, one pass over the internal nodes propagates a *fail mask* (the slots whose
split the row contradicts on the way down, one bit per slot). A leaf's agree set is then
``A = ~fail``, and its contribution to each slot comes from one of four kinds of entry:

* ``KIND_VALUES`` — a table of the ``d`` slot values for every ``A`` (``2^d * d`` floats): ``d``
  contiguous loads, no arithmetic;
* ``KIND_PAIR`` — two sibling leaves ``L`` and ``R`` (the next node) under a node ``g`` whose
  player is new on the path, so its slot is ``d - 1``: the row contradicts that slot at exactly
  one of them, so ``R``'s agree set is ``L``'s with bit ``d - 1`` flipped, and one table indexed
  by ``L``'s agree set holds the pair's sums ``V_L[A] + V_R[A ^ bit]`` (``2^d * d`` floats, as
  one leaf's). One visit and ``d`` loads instead of two leaves; on the benchmark XGBoost three
  leaves in four are in a pair. (When ``g`` repeats an ancestor's player the two agree sets
  can be equal; such siblings stay single leaves);
* ``KIND_SUBSETS`` — the subset-sum table ``K`` (``2^d`` floats): agreeing slot
  ``(1 - z_s)(K[A] - K[A - s])``, other slot ``z_s (K[A + s] - K[A])``, which is the same for
  every slot outside ``A`` (``-v * prod(z) * sum_{S within A} w(|S|) / prod_S z``), so it is
  computed once per leaf and row. Every leaf with a table has one (value and pair tables are
  built from it); the kernels read it for the leaves the memory budget left without values;
* ``KIND_DIRECT`` — no table: elementary symmetric polynomials of the agreeing slots' zero
  fractions, ``O(d * |A|)``.

The *entries* the kernels visit are the pairs and the single leaves. Each tree's value and
pair entries come first, then its other leaves, each group in preorder (``_shap._entries``): the
single-row kernel finds and prefetches the rows of the whole first group before it reads them.

Why accumulate per slot
-----------------------
Entries are visited in preorder within their group, so consecutive ones share the slots their
common ancestors introduced (``keep``; any order is exact, preorder shares the most). Values
are summed per slot in a small accumulator and written to the output only when the slot's
owner changes: one scattered write per internal node instead of one per (leaf, slot), which
removes the read-modify-write chains on the output.

Two drivers share the leaf code: :func:`mask_rows` walks rows one by one (the single-lead path)
and :func:`mask_block` walks a block of rows per node and per leaf with the input transposed
(features x rows), so the decision pass vectorises across rows. Both add the same values in the
same order, so a row's result does not depend on the driver, the block or the thread count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ..._numba_cache import kernel_cache
from ._decision import fail_masks, goes_left, is_plain, plain_left
from ._plan_kernels import direct_slot_values, disagree_value, prefetch, trailing_zeros

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

__all__ = [
    "KIND_DIRECT",
    "KIND_PAIR",
    "KIND_SUBSETS",
    "KIND_VALUES",
    "block_work",
    "mask_block",
    "mask_parallel",
    "mask_rows",
]

KIND_DIRECT = 0
KIND_SUBSETS = 1
KIND_VALUES = 2
KIND_PAIR = 3

#: Unsigned index cast (see ``mask_rows``).
_U = np.uint64
#: How many leaves ahead ``mask_rows`` prefetches subset-table entries, when it does. Measured
#: on one lead of the benchmark forests: 2 and 3 gave the same, 8 less.
_AHEAD = 2


@njit(cache=_CACHE, nogil=True, inline="always")
def _table_slots(
    a: Any, d: Any, fm: Any, sub: Any, so: Any, subsets: Any, slot_z: Any, r: Any
) -> None:
    """Add a table leaf's ``d`` slot values for agree mask ``a`` (fail mask ``fm``) to ``r``;
    unsigned indices throughout (see ``mask_rows``)."""
    one = _U(1)
    ka = subsets[sub + a]
    # Every slot the row contradicts gets the same value (``disagree_value``, at the lowest
    # such slot); when there is none, ``a`` is full and it is not used.
    s0 = min(_U(trailing_zeros((fm & ((one << d) - one)) | (one << d))), d - one)
    c = slot_z[so + s0] * (ka - subsets[sub + (a | (one << s0))])
    for s in range(d):
        sb = one << _U(s)
        inside = (1.0 - slot_z[so + _U(s)]) * (ka - subsets[sub + (a ^ sb)])
        r[_U(s)] += inside if a & sb else c


@njit(cache=_CACHE, nogil=True)
def _direct_leaf_into(
    a: Any,
    d: Any,
    so: Any,
    v: Any,
    slot_z: Any,
    weights: Any,
    e: Any,
    pre: Any,
    agree: Any,
    r: Any,
    j: Any,
) -> None:
    """Add one leaf's slot values for agree mask ``a`` to ``r[:d, j]`` without a table."""
    for s in range(d):
        agree[s] = (a >> s) & 1
    direct_slot_values(d, v, slot_z, so, agree, weights, e, pre, r, j)


@njit(cache=_CACHE, nogil=True)
def mask_rows(
    X: Any,
    out: Any,
    reached: Any,
    plan: Any,
    max_nodes: int,
    max_d: int,
    direct: Any,
    ahead: Any,
    special: Any,
    scored: Any = None,
) -> None:
    """Add the Shapley values of every row of ``X`` (rows x features) to ``out``, and the
    value of the leaf each row reaches in each tree to ``reached`` (the prediction, for free:
    it is the leaf whose fail mask is empty). ``plan`` is ``TreeShapCore``'s arrays.

    Indices are cast to unsigned: numba then skips its negative-index wraparound test, which
    on these short loops of gathers cost half the time of a single lead.

    ``direct`` is the Shapley weights when some leaf has no table, else None; ``ahead`` is
    the subset tables when they are too big for the cache, else None. A leaf without a value
    table reads ``d + 1`` scattered entries of its subset table, which for one row come from
    memory when the tables do not fit in the cache: the kernel then prefetches the entries
    ``_AHEAD`` leaves before it reads them, so the misses overlap (one forest lead: 2.9 ->
    2.3 ms). When the tables fit, these prefetches only cost instructions (one XGBoost lead:
    124 -> 151 µs), so None compiles them out. ``special`` is the categorical bitset words
    when some node is not a plain numeric split, else None (see ``_decision.fail_masks``).
    None of them changes a value; each None also keeps numba from compiling the code it
    leaves out. ``scored`` is
    as in :func:`mask_block`.
    """
    (
        p_feature,
        p_threshold,
        p_flags,
        p_cat_start,
        p_cat_len,
        _cat_words,  # passed as ``special``
        p_left,
        p_right,
        p_slot,
        p_value,
        tree_node_start,
        tree_internal,
        tree_leaf_start,
        leaves,
        leaf_d,
        leaf_kind,
        leaf_table,
        leaf_sub,
        leaf_slot,
        leaf_keep,
        slot_z,
        slot_player,
        tables,
        subsets,
        _weights,  # passed as ``direct``
    ) = plan
    fail = np.zeros(max_nodes, dtype=np.uint64)
    prow = np.zeros(max_nodes, dtype=np.uint64)
    r = np.zeros(max_d + 1, dtype=np.float64)
    r2 = r.reshape((max_d + 1, 1))  # the same memory, as the direct leaves write it
    e = np.empty(max_d + 2, dtype=np.float64)
    pre = np.empty(max_d + 1, dtype=np.float64)
    slot_agree = np.empty(max_d + 1, dtype=np.uint8)
    zero = _U(0)
    one = _U(1)
    for i in range(X.shape[0]):
        x = X[i]
        o = out[i]
        got = reached[i]
        for t in range(tree_node_start.shape[0] - 1):
            base = tree_node_start[t]
            # The decision pass of one row (``block_fail_masks`` for a block). Written out:
            # as an inlined function it measured 12% slower on one XGBoost lead (147 against
            # 131 µs), the path this kernel exists for.
            fail[0] = 0
            for gi in range(tree_internal[t]):
                g = _U(base + gi)
                xv = x[_U(p_feature[g])]
                fl = p_flags[g]
                if special is None or is_plain(fl):
                    gl = plain_left(xv, p_threshold[g], fl)
                else:
                    gl = goes_left(xv, g, p_threshold, p_flags, p_cat_start, p_cat_len, special)
                bit = one << _U(p_slot[g])
                f = fail[_U(gi)]
                left = zero - _U(gl)  # all ones when the row goes left
                # Branch-free: the child the row does not take records the contradiction.
                fail[_U(p_left[g] - base)] = f | (bit & ~left)
                fail[_U(p_right[g] - base)] = f | (bit & left)
            pd = 0
            pso = zero
            lfi = tree_leaf_start[t]
            last = tree_leaf_start[t + 1]
            # The tree's value-table entries come first (pairs and single leaves, in
            # preorder; see ``_shap``). One pass finds the row of ``d`` values each reads and
            # prefetches it, so the misses of the whole tree overlap; the next adds them
            # (one lead of the benchmark XGBoost: 318 -> 247 µs against reading every leaf's
            # subset table; without the prefetch pass, 8-20% slower than that).
            first = lfi
            while lfi < last and leaf_kind[_U(lfi)] >= KIND_VALUES:
                lf = _U(lfi)
                d = _U(leaf_d[lf])
                a = ((one << d) - one) & ~fail[_U(leaves[lf]) - _U(base)]
                row = _U(leaf_table[lf]) + a * d
                prefetch(tables, row)
                prow[_U(lfi - first)] = row
                lfi += 1
            for pi in range(first, lfi):
                lf = _U(pi)
                for s in range(leaf_keep[lf], pd):
                    o[_U(slot_player[pso + _U(s)])] += r[_U(s)]
                    r[_U(s)] = 0.0
                leaf = _U(leaves[lf])
                d = _U(leaf_d[lf])
                so = _U(leaf_slot[lf])
                fm = fail[leaf - _U(base)]
                got += p_value[leaf] * (fm == zero)
                if scored is not None and fm == zero:
                    scored[1][i] += scored[0][leaf]
                if leaf_kind[lf] == KIND_PAIR:
                    # Its right leaf is the next node (the row reaches at most one of them);
                    # a test, not arithmetic, so a single leaf never reads past its tree.
                    fr = fail[leaf + one - _U(base)]
                    got += p_value[leaf + one] * (fr == zero)
                    if scored is not None and fr == zero:
                        scored[1][i] += scored[0][leaf + one]
                row = prow[_U(pi - first)]
                for s in range(d):
                    r[_U(s)] += tables[row + _U(s)]
                pd = leaf_d[lf]
                pso = so
            # Then the leaves that read subset tables, or none (``direct``), in preorder.
            for li in range(lfi, last):
                lf = _U(li)
                if ahead is not None and li + _AHEAD < last:
                    # Every entry ``_table_slots`` will read: K[A] and K[A ^ s] for each slot.
                    nf = lf + _U(_AHEAD)
                    nd = _U(leaf_d[nf])
                    na = ((one << nd) - one) & ~fail[_U(leaves[nf]) - _U(base)]
                    nsub = _U(leaf_sub[nf])
                    if leaf_kind[nf] != KIND_DIRECT:
                        prefetch(ahead, nsub + na)
                        for s in range(nd):
                            prefetch(ahead, nsub + (na ^ (one << _U(s))))
                for s in range(leaf_keep[lf], pd):
                    o[_U(slot_player[pso + _U(s)])] += r[_U(s)]
                    r[_U(s)] = 0.0
                leaf = _U(leaves[lf])
                d = _U(leaf_d[lf])
                so = _U(leaf_slot[lf])
                fm = fail[leaf - _U(base)]
                got += p_value[leaf] * (fm == zero)
                if scored is not None and fm == zero:
                    scored[1][i] += scored[0][leaf]
                full = (one << d) - one
                a = full & ~fm
                if direct is None or leaf_kind[lf] != KIND_DIRECT:
                    _table_slots(a, d, fm, _U(leaf_sub[lf]), so, subsets, slot_z, r)
                else:
                    _direct_leaf_into(
                        np.int64(a), np.int64(d), np.int64(so), p_value[leaf], slot_z, direct,
                        e, pre, slot_agree, r2, 0,
                    )  # fmt: skip
                pd = leaf_d[lf]
                pso = so
            for s in range(pd):
                o[_U(slot_player[pso + _U(s)])] += r[_U(s)]
                r[_U(s)] = 0.0
        reached[i] = got


def block_work(max_nodes: int, max_d: int, rows: int) -> tuple[Any, ...]:
    """Scratch arrays of :func:`mask_block` for blocks of up to ``rows`` rows.

    Allocated in numpy rather than in the kernel: each array-creation call of a new dtype in
    a kernel makes numba compile its implementation on an empty cache (a quarter of a second
    each), and one allocation serves every block of a batch. :func:`_block_work` is the same
    inside numba, for the parallel driver (one per block).
    """
    return (
        np.empty((max_nodes, rows), dtype=np.uint64),  # fail masks
        np.empty(rows, dtype=np.uint64),  # agree masks
        np.empty(rows, dtype=np.float64),  # K[A]
        np.empty(rows, dtype=np.float64),  # value of a slot outside A
        np.empty((max_d + 1, rows), dtype=np.float64),  # per-slot accumulator
        np.empty(max_d + 2, dtype=np.float64),  # direct leaves: e_k
        np.empty(max_d + 1, dtype=np.float64),  # direct leaves: prefix products
        np.empty(max_d + 1, dtype=np.uint8),  # direct leaves: agree flags
    )


@njit(cache=_CACHE, nogil=True)
def _block_work(max_nodes: int, max_d: int, rows: int) -> Any:
    """:func:`block_work` in numba (the parallel driver allocates one per block)."""
    return (
        np.empty((max_nodes, rows), dtype=np.uint64),
        np.empty(rows, dtype=np.uint64),
        np.empty(rows, dtype=np.float64),
        np.empty(rows, dtype=np.float64),
        np.empty((max_d + 1, rows), dtype=np.float64),
        np.empty(max_d + 2, dtype=np.float64),
        np.empty(max_d + 1, dtype=np.float64),
        np.empty(max_d + 1, dtype=np.uint8),
    )


@njit(cache=_CACHE, nogil=True)
def mask_block(
    XT: Any,
    outT: Any,
    lo: int,
    hi: int,
    plan: Any,
    direct: Any,
    special: Any,
    work: Any,
    scored: Any = None,
) -> None:
    """Add the values of rows ``lo:hi`` to ``outT`` (players x rows); ``XT`` is features x
    rows. Trees outer, then nodes or leaves, rows innermost: the decision pass is a
    vectorisable loop over contiguous rows and a tree's tables stay in cache for the block.

    ``direct`` and ``special`` are as in :func:`mask_rows`: None leaves the code of leaves
    without a table, and of nodes that are not plain numeric splits, out of the compiled
    kernel (most models have neither; the values do not change). ``work`` is
    :func:`block_work` for at least ``hi - lo`` rows (its contents do not matter).

    ``scored`` is None, or ``(leaf, sums)``: each plan node's leaf value and the rows' sums,
    both in the dtype the model's library adds its trees in; the value of the leaf each row
    reaches (the one whose fail mask is empty) is added to its sum, tree after tree, which is
    the library's own margin bit for bit (see ``_library_scores``)."""
    nodes = plan[:6]
    (
        _p_feature,
        _p_threshold,
        _p_flags,
        _p_cat_start,
        _p_cat_len,
        _cat_words,
        p_left,
        p_right,
        p_slot,
        p_value,
        tree_node_start,
        tree_internal,
        tree_leaf_start,
        leaves,
        leaf_d,
        leaf_kind,
        leaf_table,
        leaf_sub,
        leaf_slot,
        leaf_keep,
        slot_z,
        slot_player,
        tables,
        subsets,
        _weights,  # passed as ``direct``
    ) = plan
    B = hi - lo
    # Every fail mask the block reads is written first in the same tree (parents precede
    # children); the accumulator starts at zero and is zero again after each tree.
    fail, agree, k_a, c_dis, r, e, pre, slot_agree = work
    for s in range(r.shape[0]):
        for j in range(B):
            r[s, j] = 0.0
    one = np.uint64(1)
    ulo = _U(lo)
    for t in range(tree_node_start.shape[0] - 1):
        base = tree_node_start[t]
        fail_masks(XT, lo, B, base, tree_internal[t], nodes, p_left, p_right, p_slot, fail, special)
        pd = 0
        pso = 0
        for lf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
            for s in range(leaf_keep[lf], pd):
                dst = outT[slot_player[pso + s]]
                rs = r[s]
                for j in range(B):
                    dst[ulo + _U(j)] += rs[j]
                    rs[j] = 0.0
            leaf = leaves[lf]
            d = leaf_d[lf]
            full = (1 << d) - 1
            kind = leaf_kind[lf]
            off = leaf_table[lf]
            sub = leaf_sub[lf]
            so = leaf_slot[lf]
            v = p_value[leaf]
            fleaf = fail[leaf - base]
            if scored is not None:
                lv = scored[0][leaf]
                sums = scored[1]
                for j in range(B):
                    if fleaf[j] == 0:
                        sums[ulo + _U(j)] += lv
                if kind == KIND_PAIR:  # the right leaf, the next node
                    lv = scored[0][leaf + 1]
                    fright = fail[leaf + 1 - base]
                    for j in range(B):
                        if fright[j] == 0:
                            sums[ulo + _U(j)] += lv
            if kind >= KIND_VALUES:  # values, or a pair
                # The common case, spelt out so the loop carries no dispatch. A pair's table
                # is indexed by its left leaf's agree set, as a single leaf's.
                for j in range(B):
                    agree[j] = _U(off) + (_U(full) & ~fleaf[j]) * _U(d)
                for s in range(d):
                    rs = r[s]
                    for j in range(B):
                        rs[j] += tables[agree[j] + _U(s)]
            elif kind == KIND_SUBSETS:
                # Slots outer, rows inner: the row loop vectorises (with gathers). The values
                # are those of ``mask_rows``, bit for bit.
                for j in range(B):
                    a = full & ~np.int64(fleaf[j])
                    agree[j] = _U(a)
                    ka = subsets[_U(sub + a)]
                    k_a[j] = ka
                    dis = full & ~a
                    c_dis[j] = disagree_value(a, dis, ka, sub, so, subsets, slot_z) if dis else 0.0
                for s in range(d):
                    keep_z = 1.0 - slot_z[so + s]
                    sbit = one << _U(s)
                    usub = _U(sub)
                    rs = r[s]
                    for j in range(B):
                        a = agree[j]
                        inside = keep_z * (k_a[j] - subsets[usub + (a ^ sbit)])
                        rs[j] += inside if a & sbit else c_dis[j]
            elif direct is not None:  # KIND_DIRECT
                for j in range(B):
                    a = full & ~np.int64(fleaf[j])
                    _direct_leaf_into(a, d, so, v, slot_z, direct, e, pre, slot_agree, r, j)
            pd = d
            pso = so
        for s in range(pd):
            dst = outT[slot_player[pso + s]]
            rs = r[s]
            for j in range(B):
                dst[ulo + _U(j)] += rs[j]
                rs[j] = 0.0


@njit(cache=_CACHE, nogil=True, parallel=True)
def mask_parallel(
    XT: Any,
    outT: Any,
    plan: Any,
    max_nodes: int,
    max_d: int,
    block: int,
    direct: Any,
    special: Any,
    scored: Any = None,
) -> None:
    """Blocks of ``block`` rows across numba's threads; each block owns its output columns
    (``direct``, ``special`` and ``scored`` as in :func:`mask_block`)."""
    n = XT.shape[1]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        hi = min(n, lo + block)
        work = _block_work(max_nodes, max_d, hi - lo)
        mask_block(XT, outT, lo, hi, plan, direct, special, work, scored)
