"""Folding per-column values onto players (the raw columns they came from)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import FloatArray

__all__ = ["fold_to_players"]


def fold_to_players(values: FloatArray, groups: np.ndarray[Any, Any], n_players: int) -> FloatArray:
    """Sum the columns of ``values`` (n, n_columns) that belong to the same player.

    Sums preserve the efficiency property exactly, and for a game that is additive across a
    player's columns (a linear model) the sum is that player's exact Shapley value.
    """
    if values.shape[1] == n_players and np.array_equal(groups, np.arange(n_players)):
        return values
    out = np.zeros((values.shape[0], n_players), dtype=np.float64)
    np.add.at(out.T, groups, values.T)
    return out
