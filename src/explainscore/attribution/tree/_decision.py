"""The one split rule every compiled tree follows (numba, inlined into the kernels)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["goes_left"]

# LightGBM's kZeroThreshold is the float 1e-35f, compared as a double.
_ZERO = float(np.float32(1e-35))


@njit(cache=True, inline="always", nogil=True)
def goes_left(
    x: float,
    node: int,
    threshold: Any,
    flags: Any,
    cat_start: Any,
    cat_len: Any,
    cat_words: Any,
) -> bool:
    """Whether value ``x`` takes the left child of ``node`` (see ``_ensemble`` for the rule)."""
    fl = flags[node]
    if np.isnan(x):
        return bool(fl & 1)
    if fl & 4:
        in_set = False
        if not ((fl & 16) and x < 0.0) and x > -2147483648.0 and x < 2147483648.0:
            c = int(x)  # truncates toward zero, as the libraries' casts do
            if c >= 0 and (c >> 5) < cat_len[node]:
                word = cat_words[cat_start[node] + (c >> 5)]
                in_set = ((word >> np.uint32(c & 31)) & np.uint32(1)) != 0
        return bool(in_set == ((fl & 8) != 0))
    if (fl & 2) and x >= -_ZERO and x <= _ZERO:
        return bool(fl & 1)
    return bool(x <= threshold[node])
