"""The one split rule every compiled tree follows, and the decision pass the SHAP kernels
share (numba, inlined into them).

A *fail mask* is what the decision pass leaves at each node of a tree: one bit per path slot
(``p_slot``, see ``_plan_kernels``) whose split the row contradicts on the way down. Both
TreeSHAP cores read their leaves through it. Indices are cast to unsigned (``_U``): numba then
skips its negative-index wraparound test, which in these short loops of gathers costs as much
as the work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..._numba_cache import kernel_cache

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

__all__ = ["block_fail_masks", "fail_masks", "goes_left", "is_plain", "plain_left"]

_U = np.uint64

# LightGBM's kZeroThreshold is the float 1e-35f, compared as a double.
_ZERO = float(np.float32(1e-35))


@njit(cache=_CACHE, nogil=True)
def _special(x: float, threshold: float, fl: int, start: int, length: int, words: Any) -> bool:
    """Categorical and zero-as-missing nodes (kept out of line: they are rare)."""
    if np.isnan(x):
        return bool(fl & 1)
    if fl & 4:
        in_set = False
        if not ((fl & 16) and x < 0.0) and x > -2147483648.0 and x < 2147483648.0:
            c = int(x)  # truncates toward zero, as the libraries' casts do
            if c >= 0 and (c >> 5) < length:
                word = words[start + (c >> 5)]
                in_set = ((word >> np.uint32(c & 31)) & np.uint32(1)) != 0
        return bool(in_set == ((fl & 8) != 0))
    if x >= -_ZERO and x <= _ZERO:
        return bool(fl & 1)
    return bool(x <= threshold)


@njit(cache=_CACHE, nogil=True, inline="always")
def is_plain(fl: Any) -> bool:
    """Whether a node with flags ``fl`` is a plain numeric split (neither categorical nor
    zero-as-missing): the hot case, which the kernels test first and inline."""
    return bool((fl & 6) == 0)


@njit(cache=_CACHE, nogil=True, inline="always")
def plain_left(x: float, threshold: float, fl: Any) -> bool:
    """The rule of a plain numeric split. ``x != x`` only for NaN, which takes the default
    side; branch-free because this is the hot path of every kernel."""
    return bool((x <= threshold) | ((x != x) & ((fl & 1) != 0)))


@njit(cache=_CACHE, nogil=True, inline="always")
def goes_left(
    x: float,
    node: Any,
    threshold: Any,
    flags: Any,
    cat_start: Any,
    cat_len: Any,
    cat_words: Any,
) -> bool:
    """Whether value ``x`` takes the left child of ``node`` (see ``_ensemble`` for the rule)."""
    fl = flags[node]
    if is_plain(fl):
        return plain_left(x, threshold[node], fl)
    return bool(_special(x, threshold[node], fl, cat_start[node], cat_len[node], cat_words))


@njit(cache=_CACHE, nogil=True, inline="always")
def block_fail_masks(
    XT: Any,
    lo: Any,
    n_rows: Any,
    base: Any,
    n_internal: Any,
    nodes: Any,
    p_left: Any,
    p_right: Any,
    p_slot: Any,
    fail: Any,
) -> None:
    """Fail masks of the rows ``lo:lo + n_rows`` of ``XT`` (features x rows) at every node of
    one tree: ``fail[node - base, j]`` (uint64), for any kind of node (see
    :func:`fail_masks`)."""
    fail_masks(XT, lo, n_rows, base, n_internal, nodes, p_left, p_right, p_slot, fail, nodes[5])


@njit(cache=_CACHE, nogil=True, inline="always")
def fail_masks(
    XT: Any,
    lo: Any,
    n_rows: Any,
    base: Any,
    n_internal: Any,
    nodes: Any,
    p_left: Any,
    p_right: Any,
    p_slot: Any,
    fail: Any,
    special: Any,
) -> None:
    """Fail masks of the rows ``lo:lo + n_rows`` of ``XT`` (features x rows) at every node of
    one tree: ``fail[node - base, j]`` (uint64). Nodes outer, rows inner, so the loop over rows
    vectorises for plain numeric splits.

    ``special`` is the categorical bitset words (``nodes[5]``) when some node of the model is
    not a plain numeric split, else None: numba then drops the other rule at compile time
    (``special is None`` is decided by the argument's type), so a model with plain splits
    only never compiles :func:`_special`. The values are the same either way.
    """
    p_feature, p_threshold, p_flags, p_cat_start, p_cat_len, _cat_words = nodes
    one = _U(1)
    ulo = _U(lo)
    for j in range(n_rows):
        fail[0, j] = 0
    for gi in range(n_internal):
        g = _U(base + gi)
        xs = XT[_U(p_feature[g])]
        bit = one << _U(p_slot[g])
        fp = fail[_U(gi)]
        fl_ = fail[_U(p_left[g] - base)]
        fr_ = fail[_U(p_right[g] - base)]
        fl = p_flags[g]
        if special is None or is_plain(fl):
            th = p_threshold[g]
            for j in range(n_rows):
                go = _U(plain_left(xs[ulo + _U(j)], th, fl))
                f = fp[j]
                fl_[j] = f | (bit * (one - go))
                fr_[j] = f | (bit * go)
        else:
            for j in range(n_rows):
                x = xs[ulo + _U(j)]
                go = _U(goes_left(x, g, p_threshold, p_flags, p_cat_start, p_cat_len, special))
                f = fp[j]
                fl_[j] = f | (bit * (one - go))
                fr_[j] = f | (bit * go)
