"""A deliberately naive reference: exact interventional Shapley values by the formula.

Loops over every subset with itertools; used as the oracle for the model-agnostic and linear
backends on small problems.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np


def interventional_shapley(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    background: np.ndarray,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """phi (M,) and v(empty) of v(S) = mean_b f(x_S, b_~S), players = groups of columns."""
    n_cols = len(x)
    groups = np.arange(n_cols) if groups is None else np.asarray(groups)
    m = int(groups.max()) + 1

    def value(coalition: frozenset[int]) -> float:
        rows = background.copy()
        for j in range(n_cols):
            if groups[j] in coalition:
                rows[:, j] = x[j]
        return float(np.mean(f(rows)))

    cache: dict[frozenset[int], float] = {}

    def v(s: frozenset[int]) -> float:
        if s not in cache:
            cache[s] = value(s)
        return cache[s]

    phi = np.zeros(m)
    for j in range(m):
        others = [p for p in range(m) if p != j]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                phi[j] += weight * (v(s | {j}) - v(s))
    return phi, v(frozenset())
