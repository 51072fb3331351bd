"""Coalition machinery shared by the model-agnostic and linear backends.

Coalitions of M players are indexed by integers: bit ``j`` of index ``s`` says whether player
``j`` is in coalition ``s``. ``all_masks(M)[s]`` is that coalition as booleans.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["all_masks", "permutation_masks", "shapley_from_coalition_values"]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def all_masks(n_players: int) -> BoolArray:
    """Every coalition of ``n_players`` players, shape (2^M, M), row ``s`` = bits of ``s``."""
    idx = np.arange(1 << n_players, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n_players, dtype=np.int64)[None, :]) & 1).astype(bool)


def shapley_from_coalition_values(values: FloatArray, n_players: int) -> FloatArray:
    """Exact Shapley values from the values of all 2^M coalitions.

    Parameters
    ----------
    values : ndarray of shape (..., 2^M)
        ``values[..., s]`` is v of coalition ``s`` (bit ``j`` of ``s``: player ``j`` in it).
    n_players : int

    Returns
    -------
    ndarray of shape (..., M)
        phi_j = sum over S without j of |S|! (M-|S|-1)! / M! * (v(S + j) - v(S)).
    """
    m = n_players
    idx = np.arange(1 << m, dtype=np.int64)
    size = np.zeros(1 << m, dtype=np.int64)
    for j in range(m):
        size += (idx >> j) & 1
    weights = np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)]
    )
    out = np.empty((*values.shape[:-1], m), dtype=np.float64)
    for j in range(m):
        without = idx[((idx >> j) & 1) == 0]
        gains = values[..., without | (1 << j)] - values[..., without]
        out[..., j] = gains @ weights[size[without]]
    return out


def permutation_masks(n_players: int, n_permutations: int, seed: int) -> BoolArray:
    """Coalitions along antithetic random permutations, shape (P, M + 1, M).

    ``result[p, k]`` holds the first ``k`` players of permutation ``p``; permutations come in
    pairs (a permutation and its reverse), which lowers the variance of the estimate without
    bias. The same seed gives the same permutations.
    """
    rng = np.random.default_rng(seed)
    half = n_permutations // 2
    perms = np.array([rng.permutation(n_players) for _ in range(half)], dtype=np.int64)
    perms = np.concatenate([perms, perms[:, ::-1]], axis=0)
    masks = np.zeros((len(perms), n_players + 1, n_players), dtype=bool)
    for k in range(1, n_players + 1):
        masks[:, k, :] = masks[:, k - 1, :]
        masks[np.arange(len(perms)), k, perms[:, k - 1]] = True
    return masks
