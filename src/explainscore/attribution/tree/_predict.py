"""Prediction kernels: walk every tree of a compiled ensemble (to verify compilation, and to
score rows in the library's own arithmetic, see ``_library_scores``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..._numba_cache import kernel_cache
from ._decision import goes_left, is_plain, plain_left

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

__all__ = ["library_logistic_kernel", "library_sum_kernel", "predict_kernel"]


@njit(cache=_CACHE, nogil=True)
def predict_kernel(
    X: Any,
    left: Any,
    right: Any,
    feature: Any,
    threshold: Any,
    flags: Any,
    cat_start: Any,
    cat_len: Any,
    cat_words: Any,
    value: Any,
    tree_start: Any,
    tree_output: Any,
    out: Any,
) -> None:
    """Add every tree's leaf value to ``out`` (which holds the base offset on entry)."""
    n_out = value.shape[1]
    for i in range(X.shape[0]):
        for t in range(tree_start.shape[0] - 1):
            node = tree_start[t]
            while left[node] >= 0:
                x = X[i, feature[node]]
                if goes_left(x, node, threshold, flags, cat_start, cat_len, cat_words):
                    node = left[node]
                else:
                    node = right[node]
            k = tree_output[t]
            if k >= 0:
                out[i, k] += value[node, k]
            else:
                for j in range(n_out):
                    out[i, j] += value[node, j]


#: Rows per block of ``library_sum_kernel``: a tree's nodes stay in cache while a block of
#: rows walks it.
_BLOCK = 64


@njit(cache=_CACHE, nogil=True)
def library_sum_kernel(
    X: Any,
    left: Any,
    right: Any,
    feature: Any,
    threshold: Any,
    flags: Any,
    cat_start: Any,
    cat_len: Any,
    cat_words: Any,
    leaf: Any,
    tree_start: Any,
    out: Any,
) -> None:
    """Add one output's trees to ``out`` in the library's own arithmetic.

    ``leaf`` (one value per node) and ``out`` (holding the base on entry) have the dtype the
    library sums in, float32 for XGBoost: each addition then rounds as the library's does,
    tree by tree in the library's order, so the sum is its margin bit for bit. Blocks of rows
    walk one tree after another (each row still adds its trees in order).
    """
    n = X.shape[0]
    node = np.empty(_BLOCK, dtype=np.int64)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        for t in range(tree_start.shape[0] - 1):
            node[: hi - lo] = tree_start[t]
            # The rows of the block step down the tree together, one level per sweep: their
            # steps do not depend on each other, so their loads overlap (one row walked to
            # its leaf at a time is a chain of dependent loads).
            moving = True
            while moving:
                moving = False
                for j in range(hi - lo):
                    g = node[j]
                    child = left[g]
                    if child >= 0:
                        x = X[lo + j, feature[g]]
                        fl = flags[g]
                        if is_plain(fl):
                            gl = plain_left(x, threshold[g], fl)
                        else:
                            gl = goes_left(x, g, threshold, flags, cat_start, cat_len, cat_words)
                        node[j] = child if gl else right[g]
                        moving = True
            for j in range(hi - lo):
                out[lo + j] += leaf[node[j]]


@njit(cache=_CACHE, nogil=True)
def library_logistic_kernel(margin: Any, one: Any, out: Any) -> None:
    """``1 / (1 + exp(-m))`` in the dtype of ``margin`` and ``one`` (a scalar 1 of that
    dtype: float32 calls the C library's ``expf``, as XGBoost's sigmoid does), widened into
    ``out``."""
    for i in range(margin.shape[0]):
        out[i] = one / (one + np.exp(-margin[i]))
