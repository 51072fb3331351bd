"""Brute-force Shapley values of the path-dependent tree game, for small models only.

Written independently of the kernels: the split rule is re-implemented in plain Python from
the documented layout, and the game is evaluated for all 2^M coalitions at once by one
recursive pass per tree (each node returns a vector over coalitions):

    v_node(S) = v_child_taken_by_x(S)                          if player(node) in S
              = r_left * v_left(S) + r_right * v_right(S)     otherwise

with ``r = cover(child) / cover(node)`` (0.5 each when the node has no cover). The Shapley
value is then the weighted sum of marginal contributions over all coalitions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from explainscore.attribution.tree._ensemble import (
    FLAG_CAT_NEGATIVE_INVALID,
    FLAG_CAT_SET_LEFT,
    FLAG_CATEGORICAL,
    FLAG_DEFAULT_LEFT,
    FLAG_ZERO_MISSING,
    TreeEnsemble,
)

MAX_PLAYERS = 10


def goes_left(ens: TreeEnsemble, node: int, x: float) -> bool:
    """The documented split rule, in plain Python."""
    flags = int(ens.flags[node])
    if math.isnan(x):
        return bool(flags & FLAG_DEFAULT_LEFT)
    if flags & FLAG_CATEGORICAL:
        in_set = False
        negative_invalid = bool(flags & FLAG_CAT_NEGATIVE_INVALID) and x < 0
        if not negative_invalid and abs(x) < 2**31:
            c = int(x)
            words = ens.cat_words[ens.cat_start[node] : ens.cat_start[node] + ens.cat_len[node]]
            if 0 <= c < 32 * len(words):
                in_set = bool((int(words[c // 32]) >> (c % 32)) & 1)
        return in_set == bool(flags & FLAG_CAT_SET_LEFT)
    if flags & FLAG_ZERO_MISSING and abs(x) <= float(np.float32(1e-35)):
        return bool(flags & FLAG_DEFAULT_LEFT)
    return x <= float(ens.threshold[node])


def coalition_values(
    ens: TreeEnsemble, x: np.ndarray, player: np.ndarray, n_players: int, output: int
) -> np.ndarray:
    """v(S) for every coalition S (bit mask over players), shape (2^n_players,)."""
    masks = np.arange(2**n_players)
    member = ((masks[:, None] >> np.arange(n_players)[None, :]) & 1).astype(bool)

    def value(node: int) -> np.ndarray:
        left, right = int(ens.left[node]), int(ens.right[node])
        if left < 0:
            return np.full(masks.shape[0], float(ens.value[node, output]))
        v_left, v_right = value(left), value(right)
        cover = float(ens.cover[node])
        if cover > 0:
            r_left, r_right = ens.cover[left] / cover, ens.cover[right] / cover
        else:
            r_left = r_right = 0.5
        taken = v_left if goes_left(ens, node, float(x[ens.feature[node]])) else v_right
        return np.where(
            member[:, player[ens.feature[node]]], taken, r_left * v_left + r_right * v_right
        )

    total = np.full(masks.shape[0], float(ens.base_offset[output]))
    for t in range(ens.n_trees):
        if ens.tree_output[t] in (output, -1):
            total += value(int(ens.tree_start[t]))
    return total


def brute_force_shap(
    ens: TreeEnsemble, X: Any, *, groups: Any = None, output: int = 0
) -> tuple[np.ndarray, float]:
    """Exact Shapley values by enumerating all coalitions; returns (values, v(empty))."""
    rows = ens.prepare_input(X)
    player = np.arange(ens.n_features) if groups is None else np.asarray(groups)
    m = int(player.max()) + 1
    if m > MAX_PLAYERS:
        raise ValueError(f"brute force is limited to {MAX_PLAYERS} players; got {m}")
    masks = np.arange(2**m)
    sizes = np.array([bin(s).count("1") for s in masks])
    weight = np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) if s < m else 0.0
         for s in sizes]
    )  # fmt: skip
    out = np.zeros((rows.shape[0], m))
    empty = 0.0
    for r, x in enumerate(rows):
        v = coalition_values(ens, x, player, m, output)
        empty = float(v[0])
        for i in range(m):
            without = masks[(masks >> i) & 1 == 0]
            out[r, i] = float(np.sum(weight[without] * (v[without | (1 << i)] - v[without])))
    return out, empty
