"""The one split rule every compiled tree follows (numba, inlined into the kernels)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["goes_left", "is_plain", "plain_left"]

# LightGBM's kZeroThreshold is the float 1e-35f, compared as a double.
_ZERO = float(np.float32(1e-35))


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True, inline="always")
def is_plain(fl: Any) -> bool:
    """Whether a node with flags ``fl`` is a plain numeric split (neither categorical nor
    zero-as-missing): the hot case, which the kernels test first and inline."""
    return bool((fl & 6) == 0)


@njit(cache=True, nogil=True, inline="always")
def plain_left(x: float, threshold: float, fl: Any) -> bool:
    """The rule of a plain numeric split. ``x != x`` only for NaN, which takes the default
    side; branch-free because this is the hot path of every kernel."""
    return bool((x <= threshold) | ((x != x) & ((fl & 1) != 0)))


@njit(cache=True, nogil=True, inline="always")
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
