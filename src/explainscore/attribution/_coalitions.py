"""Coalition machinery shared by the model-agnostic and linear backends.

Coalitions of M players are indexed by integers: bit ``j`` of index ``s`` says whether player
``j`` is in coalition ``s``. ``all_masks(M)[s]`` is that coalition as booleans. The sampler's
draws (random permutations, background rows spread evenly over them) are made here from a
random generator alone, so they never depend on the rows being explained.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "all_masks",
    "random_permutations",
    "shapley_from_coalition_values",
    "stratified_rows",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


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


def random_permutations(n_players: int, n_permutations: int, rng: np.random.Generator) -> IntArray:
    """Uniformly random orders of the players, as the position of each player.

    Returns
    -------
    ndarray of int of shape (P, M)
        ``positions[p, j]`` is the position (0 to M - 1) of player ``j`` in permutation ``p``.
        The same generator state gives the same permutations.
    """
    # The ranks of i.i.d. uniforms are a uniformly random permutation, drawn in one call.
    order = np.argsort(rng.random((n_permutations, n_players)), axis=1)
    return np.argsort(order, axis=1).astype(np.intp)


def stratified_rows(n_rows: int, n_draws: int, rng: np.random.Generator) -> IntArray:
    """Which row each of ``n_draws`` draws uses, every row used as equally often as possible.

    Draw ``p`` uses row ``order[p % n_rows]`` of a seeded random order, so each row is used
    ``n_draws // n_rows`` or one more times. A mean over rows then has no between-row sampling
    error: only the variation within each row's draws remains.
    """
    order = rng.permutation(n_rows)
    return order[np.arange(n_draws) % n_rows].astype(np.intp)
