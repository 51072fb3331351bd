"""Prediction kernel: walks every tree of a compiled ensemble (used to verify compilation)."""

from __future__ import annotations

from typing import Any

from numba import njit

from ..._numba_cache import kernel_cache
from ._decision import goes_left

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

__all__ = ["predict_kernel"]


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
