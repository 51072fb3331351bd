"""Numba kernels that lay out the TreeSHAP plan: preorder nodes, path slots and leaf tables.

Vocabulary (see :mod:`._shap` for the algorithm):

* a *player* is what ``groups`` maps a column to; several nodes of one path may split on the
  same player, and the game treats them as one;
* the *slot* of an internal node is the position of its player among the distinct players of
  the path from the root to it (order of first appearance), so every leaf below it agrees on it;
* ``ud[node]`` is the number of distinct players strictly above the node, ``d`` for a leaf;
* ``ratio[node]`` is ``cover[node] / cover[parent]``, the probability of taking that edge when
  the parent's player is absent from the coalition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from ..._numba_cache import kernel_cache

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

try:  # LLVM's cttz; numba has shipped it since 0.40, but it is not public API.
    from numba.cpython.unsafe.numbers import trailing_zeros as _cttz
except ImportError:  # pragma: no cover - depends on the numba version

    @njit(cache=_CACHE, nogil=True, inline="always")
    def _cttz(x: int) -> int:
        n = 0
        while not (x >> n) & 1:
            n += 1
        return n


#: Index of the lowest set bit (typed ``Any``: mypy sees the intrinsic's compiler signature).
trailing_zeros: Any = _cttz


# numba's code-generation helpers, typed ``Any`` (numba ships no annotations for them).
_item_pointer: Any = cgutils.get_item_pointer
_llvm_function: Any = cgutils.get_or_insert_function


@intrinsic
def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """LLVM's ``prefetch`` of ``array[index]`` (read, keep in every cache level); numba does
    not expose it. A hint only: no value is read, so a wrong address cannot fault."""
    sig = types.void(array, index)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = _item_pointer(
            context, builder, aryty, ary, [args[1]], wraparound=False, boundscheck=False
        )
        if getattr(ptr.type, "is_opaque", False):  # LLVM 15+: one pointer type
            name = "llvm.prefetch.p0"
        else:  # typed pointers (older llvmlite): the intrinsic takes i8*
            ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
            name = "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = _llvm_function(builder.module, fnty, name)
        # rw=0 (read), locality=3 (keep in all levels), cache type=1 (data)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


#: Ask the memory system for ``array[index]`` ahead of its use (typed ``Any`` as above).
prefetch: Any = _prefetch

__all__ = [
    "direct_slot_values",
    "disagree_value",
    "fill_pairs",
    "fill_tables",
    "layout_trees",
    "leaf_keep",
    "path_factors",
    "prefetch",
    "sibling_pairs",
    "trailing_zeros",
]


def layout_trees(
    left: Any, right: Any, feature: Any, cover: Any, tree_start: Any, trees: Any, player: Any
) -> tuple[Any, ...]:
    """Lay the selected trees out in preorder, with parents, slots, ``ud`` and edge ratios.

    Returns ``(src, p_left, p_right, p_parent, p_slot, p_ud, p_ratio, tree_node_start)``;
    ``src`` maps each plan node to its ensemble node and child/parent links are plan indices.

    The arrays are allocated here, in numpy, and filled by a kernel: every ``np.empty`` or
    ``np.full`` of a new dtype inside a kernel makes numba compile its implementation on an
    empty cache (about a quarter of a second each), which this keeps off the cold start.
    """
    sizes = tree_start[trees + 1] - tree_start[trees]
    total = int(sizes.sum())
    max_depth = max(1, int(sizes.max())) if sizes.size else 1
    out = (
        np.empty(total, dtype=np.int32),  # src
        np.full(total, -1, dtype=np.int32),  # p_left
        np.full(total, -1, dtype=np.int32),  # p_right
        np.full(total, -1, dtype=np.int32),  # p_parent
        np.full(total, -1, dtype=np.int32),  # p_slot
        np.zeros(total, dtype=np.int32),  # p_ud
        np.ones(total, dtype=np.float64),  # p_ratio
        np.zeros(trees.shape[0] + 1, dtype=np.int64),  # tree_node_start
    )
    # Rows: the explicit stack of (ensemble node, plan parent, depth), then the current
    # ancestors' players and slots.
    work = np.empty((5, max_depth + 2), dtype=np.int64)
    _layout_into(left, right, feature, cover, tree_start, trees, player, out, work)
    return out


@njit(cache=_CACHE, nogil=True)
def _layout_into(
    left: Any,
    right: Any,
    feature: Any,
    cover: Any,
    tree_start: Any,
    trees: Any,
    player: Any,
    out: Any,
    work: Any,
) -> None:
    """The kernel of :func:`layout_trees`: fills ``out`` (its arrays, as initialised there)."""
    src, p_left, p_right, p_parent, p_slot, p_ud, p_ratio, tree_node_start = out
    stack_node = work[0]
    stack_parent = work[1]
    stack_depth = work[2]
    path_player = work[3]
    path_slot = work[4]
    pos = 0
    for ti in range(trees.shape[0]):
        t = trees[ti]
        tree_node_start[ti] = pos
        top = 0
        stack_node[0] = tree_start[t]
        stack_parent[0] = -1
        stack_depth[0] = 0
        while top >= 0:
            node = stack_node[top]
            parent = stack_parent[top]
            dep = stack_depth[top]
            top -= 1
            me = pos
            pos += 1
            src[me] = node
            if parent >= 0:
                p_parent[me] = parent
                if p_left[parent] < 0:
                    p_left[parent] = me
                else:
                    p_right[parent] = me
                pc = cover[src[parent]]
                p_ratio[me] = cover[node] / pc if pc > 0 else 0.5
                # Distinct players above me: my parent's count, plus its player if new.
                p_ud[me] = p_ud[parent] + (1 if p_slot[parent] == p_ud[parent] else 0)
            if left[node] < 0:
                continue
            pl = player[feature[node]]
            slot = p_ud[me]
            for a in range(dep):
                if path_player[a] == pl:
                    slot = path_slot[a]
                    break
            p_slot[me] = slot
            path_player[dep] = pl
            path_slot[dep] = slot
            # Right pushed first so the left subtree comes next: preorder, left before right.
            top += 1
            stack_node[top] = right[node]
            stack_parent[top] = me
            stack_depth[top] = dep + 1
            top += 1
            stack_node[top] = left[node]
            stack_parent[top] = me
            stack_depth[top] = dep + 1
    tree_node_start[trees.shape[0]] = pos


# Inlined into its callers, as is ``_subset_table``: compiled apart, each small helper is
# one more numba pipeline on an empty cache (together about 0.2 s of ``fill_tables``).
@njit(cache=_CACHE, nogil=True, inline="always")
def path_factors(
    leaf: int, d: int, p_parent: Any, p_slot: Any, p_ratio: Any, p_player: Any, z: Any, who: Any
) -> None:
    """Per-slot zero fractions ``z`` and players ``who`` of the path to ``leaf``."""
    for s in range(d):
        z[s] = 1.0
    c = leaf
    while p_parent[c] >= 0:
        p = p_parent[c]
        s = p_slot[p]
        z[s] *= p_ratio[c]
        who[s] = p_player[p]
        c = p


@njit(cache=_CACHE, nogil=True, inline="always")
def _subset_table(d: int, v: float, z: Any, weights: Any, K: Any, off: int) -> None:
    """``K[off + C] = v * sum over non-empty S within C of w(|S|-1, d) * prod_{P minus S} z``."""
    size = 1 << d
    # prod over slots outside S, built from the full set downwards (no divisions).
    K[off + size - 1] = 1.0
    for mask in range(size - 2, -1, -1):
        b = 0
        while (mask >> b) & 1:
            b += 1
        K[off + mask] = K[off + (mask | (1 << b))] * z[b]
    for mask in range(size):
        k = 0
        m = mask
        while m:
            k += m & 1
            m >>= 1
        K[off + mask] = v * weights[d, k - 1] * K[off + mask] if k > 0 else 0.0
    # Sum over subsets (zeta transform): K[C] = sum of g[S] for S within C.
    for s in range(d):
        bit = 1 << s
        for mask in range(size):
            if mask & bit:
                K[off + mask] += K[off + (mask ^ bit)]


@njit(cache=_CACHE, nogil=True)
def direct_slot_values(
    d: int,
    v: float,
    z: Any,
    zo: int,
    agree: Any,
    weights: Any,
    e: Any,
    pre: Any,
    r: Any,
    j: int,
) -> None:
    """Add a leaf's value for each of its ``d`` slots to ``r[:d, j]``, without a table.

    ``z[zo:zo + d]`` are the slots' zero fractions and ``agree[s]`` says whether the row takes
    the path at slot ``s``. Exact in ``O(d * |A|)`` from the elementary symmetric polynomials
    of the agreeing slots' zero fractions (the leaves too deep for a table).
    """
    # e_k: elementary symmetric polynomials of z over the agreeing slots.
    e[0] = 1.0
    m = 0
    run = 1.0
    for s in range(d):
        pre[s] = run
        zs = z[zo + s]
        if agree[s]:
            m += 1
            e[m] = 0.0
            for k in range(m, 0, -1):
                e[k] += zs * e[k - 1]
        else:
            run *= zs
    z_out = run
    w = weights[d]
    s0 = 0.0
    for k in range(m + 1):
        s0 += w[m - k] * e[k]
    suffix = 1.0
    for s in range(d - 1, -1, -1):
        zs = z[zo + s]
        if agree[s]:
            # e_k of A without s by forward deflation (stable: 0 <= z <= 1).
            ep = 1.0
            s1 = w[m - 1]
            for k in range(1, m):
                ep = e[k] - zs * ep
                s1 += w[m - 1 - k] * ep
            r[s, j] += v * (1.0 - zs) * z_out * s1
        else:
            r[s, j] -= v * zs * pre[s] * suffix * s0
            suffix *= zs


@njit(cache=_CACHE, nogil=True, inline="always")
def disagree_value(a: int, dis: int, ka: float, sub: int, so: int, K: Any, slot_z: Any) -> float:
    """The value of every slot outside the agree set ``a`` (``dis`` != 0, its complement).

    ``z_s (K[A + s] - K[A])`` is the same for every such ``s``; it is always taken at the
    lowest one, so every kernel gets the same float.
    """
    s0 = trailing_zeros(dis)
    return float(slot_z[so + s0] * (ka - K[sub + (a | (1 << s0))]))


def fill_tables(
    leaves: Any,
    leaf_d: Any,
    leaf_kind: Any,
    leaf_table: Any,
    leaf_sub: Any,
    leaf_slot: Any,
    p_parent: Any,
    p_slot: Any,
    p_ratio: Any,
    p_player: Any,
    p_value: Any,
    weights: Any,
    slot_z: Any,
    slot_player: Any,
    tables: Any,
    subsets: Any,
) -> float:
    """Fill every leaf's slot arrays and tables; return the expected value.

    Every table leaf (kind >= 1) has its subset table ``K`` in ``subsets`` (see
    :func:`_subset_table`), indexed by the bit mask of slots; single rows read it because it is
    small. Kind 2 (values) also has, in ``tables``, the ``d`` slot values for every agree mask
    ``A``: ``(1 - z_s)(K[A] - K[A - s])`` for ``s`` in ``A`` and ``z_s (K[A + s] - K[A])``
    otherwise, which blocks of rows read with no arithmetic. (The scratch arrays are
    allocated here, not in the kernel: see :func:`layout_trees`.)
    """
    max_d = max(1, int(leaf_d.max())) if leaf_d.size else 1
    z = np.empty(max_d, dtype=np.float64)
    who = np.empty(max_d, dtype=np.int32)
    expected = _fill_tables(
        leaves, leaf_d, leaf_kind, leaf_table, leaf_sub, leaf_slot, p_parent, p_slot,
        p_ratio, p_player, p_value, weights, slot_z, slot_player, tables, subsets, z, who,
    )  # fmt: skip
    return float(expected)


@njit(cache=_CACHE, nogil=True)
def _fill_tables(
    leaves: Any,
    leaf_d: Any,
    leaf_kind: Any,
    leaf_table: Any,
    leaf_sub: Any,
    leaf_slot: Any,
    p_parent: Any,
    p_slot: Any,
    p_ratio: Any,
    p_player: Any,
    p_value: Any,
    weights: Any,
    slot_z: Any,
    slot_player: Any,
    tables: Any,
    subsets: Any,
    z: Any,
    who: Any,
) -> float:
    """The kernel of :func:`fill_tables`; ``z`` and ``who`` are scratch of ``max(leaf_d)``."""
    expected = 0.0
    for i in range(leaves.shape[0]):
        leaf = leaves[i]
        d = leaf_d[i]
        path_factors(leaf, d, p_parent, p_slot, p_ratio, p_player, z, who)
        v = p_value[leaf]
        reach = v
        for s in range(d):
            reach *= z[s]
        expected += reach
        so = leaf_slot[i]
        for s in range(d):
            slot_z[so + s] = z[s]
            slot_player[so + s] = who[s]
        if leaf_kind[i] == 0:
            continue
        sub = leaf_sub[i]
        _subset_table(d, v, z, weights, subsets, sub)
        if leaf_kind[i] == 2:
            off = leaf_table[i]
            full = (1 << d) - 1
            for a in range(1 << d):
                ka = subsets[sub + a]
                dis = full & ~a
                c = disagree_value(a, dis, ka, sub, so, subsets, slot_z) if dis else 0.0
                for s in range(d):
                    inside = (1.0 - z[s]) * (ka - subsets[sub + (a ^ (1 << s))])
                    tables[off + a * d + s] = inside if (a >> s) & 1 else c
    return expected


def sibling_pairs(leaves: Any, leaf_d: Any, leaf_kind: Any, p_parent: Any, p_ud: Any) -> Any:
    """Which leaves begin a *pair*: the leaf at index ``i`` and its right sibling at ``i + 1``,
    both leaves with value tables (kind 2), under a node whose player is new on the path (it
    adds one to the distinct players above it, ``ud``), so its slot is ``d - 1``.

    Such siblings differ only in that last slot: the row contradicts it at exactly one of
    them, so the right leaf's agree set is the left one's with bit ``d - 1`` flipped and one
    table indexed by the left leaf's agree set holds both (:func:`fill_pairs`). A node whose
    player repeats an ancestor's does not qualify: when the row contradicts that ancestor the
    two agree sets are equal, and the pair would need one more index bit.
    """
    n = leaves.shape[0]
    if n < 2:
        return np.zeros(n, dtype=bool)
    parent = p_parent[leaves]
    pair = np.zeros(n, dtype=bool)
    # Preorder, left before right: two sibling leaves are adjacent nodes, the left one first.
    # The first leaf of a pair is never the second of another (a node has two children).
    pair[:-1] = (
        (parent[:-1] == parent[1:])
        & (leaves[:-1] + 1 == leaves[1:])
        & (leaf_kind[:-1] == 2)
        & (leaf_kind[1:] == 2)
        & (p_ud[np.maximum(parent[:-1], 0)] == leaf_d[:-1] - 1)
    )
    return pair


def fill_pairs(
    first: Any, pair_off: Any, leaf_d: Any, leaf_sub: Any, leaf_slot: Any, slot_z: Any,
    subsets: Any, tables: Any,
) -> None:  # fmt: skip
    """Fill the table of each pair whose left leaf is ``first[i]`` (an index into the leaf
    arrays; the right leaf is the next) at ``tables[pair_off[i]:]``: for every agree set ``A``
    of the left leaf, the ``d`` sums ``V_L[A][s] + V_R[A ^ (1 << d - 1)][s]``, where ``V`` is a
    leaf's slot values, the same floats a kind-2 table holds (:func:`fill_tables`). Needs both
    leaves' subset tables and zero fractions, filled first."""
    _fill_pairs(first, pair_off, leaf_d, leaf_sub, leaf_slot, slot_z, subsets, tables)


@njit(cache=_CACHE, nogil=True, inline="always")
def _slot_value(a: int, s: int, ka: float, c: float, sub: int, z: float, K: Any) -> float:
    """Slot ``s``'s value of a leaf for agree set ``a`` (``ka = K[a]``, ``c`` the value of a
    slot outside ``a``), the float :func:`_fill_tables` stores."""
    if (a >> s) & 1:
        return float((1.0 - z) * (ka - K[sub + (a ^ (1 << s))]))
    return c


@njit(cache=_CACHE, nogil=True)
def _fill_pairs(
    first: Any, pair_off: Any, leaf_d: Any, leaf_sub: Any, leaf_slot: Any, slot_z: Any,
    subsets: Any, tables: Any,
) -> None:  # fmt: skip
    """The kernel of :func:`fill_pairs`."""
    for i in range(first.shape[0]):
        lf = first[i]
        d = leaf_d[lf]
        full = (1 << d) - 1
        top = 1 << (d - 1)
        off = pair_off[i]
        sl, sr = leaf_sub[lf], leaf_sub[lf + 1]
        ol, orr = leaf_slot[lf], leaf_slot[lf + 1]
        for a in range(1 << d):
            b = a ^ top  # the right leaf's agree set
            kl = subsets[sl + a]
            kr = subsets[sr + b]
            cl = disagree_value(a, full & ~a, kl, sl, ol, subsets, slot_z) if a != full else 0.0
            cr = disagree_value(b, full & ~b, kr, sr, orr, subsets, slot_z) if b != full else 0.0
            for s in range(d):
                vl = _slot_value(a, s, kl, cl, sl, slot_z[ol + s], subsets)
                vr = _slot_value(b, s, kr, cr, sr, slot_z[orr + s], subsets)
                tables[off + a * d + s] = vl + vr


def leaf_keep(leaves: Any, tree_leaf_start: Any, p_parent: Any, p_slot: Any) -> Any:
    """For each leaf, how many leading slots it shares with the previous leaf of its tree.

    Those are the slots introduced at or above the two leaves' deepest common ancestor, so
    their players are the same for both; the kernels keep accumulating into them. (Arrays
    allocated here, not in the kernel: see :func:`layout_trees`.)
    """
    keep = np.zeros(leaves.shape[0], dtype=np.int32)
    mark = np.zeros(p_parent.shape[0], dtype=np.int8)
    _leaf_keep_into(leaves, tree_leaf_start, p_parent, p_slot, keep, mark)
    return keep


@njit(cache=_CACHE, nogil=True)
def _leaf_keep_into(
    leaves: Any, tree_leaf_start: Any, p_parent: Any, p_slot: Any, keep: Any, mark: Any
) -> None:
    """The kernel of :func:`leaf_keep`: fills ``keep``; ``mark`` (zeros, one per node) is
    scratch and is left as it was found."""
    for t in range(tree_leaf_start.shape[0] - 1):
        for lf in range(tree_leaf_start[t] + 1, tree_leaf_start[t + 1]):
            c = leaves[lf - 1]
            while c >= 0:
                mark[c] = 1
                c = p_parent[c]
            lca = p_parent[leaves[lf]]
            while mark[lca] == 0:
                lca = p_parent[lca]
            k = 0
            a = lca
            while a >= 0:
                k = max(k, p_slot[a] + 1)
                a = p_parent[a]
            keep[lf] = k
            c = leaves[lf - 1]
            while c >= 0:
                mark[c] = 0
                c = p_parent[c]
