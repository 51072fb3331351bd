"""Exact enumeration: all 2^M coalitions on all background rows.

Cost: 2^M x n_background model evaluations per lead. The Shapley values follow from one
weighted sum per player (``_coalitions.shapley_from_coalition_values``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._coalitions import all_masks, shapley_from_coalition_values
from ._estimator import Budget, Estimate, Estimator
from ._game import InterventionalGame

__all__ = ["ExactEstimator"]


class ExactEstimator(Estimator):
    """Every coalition enumerated; ``exact=True`` and no standard errors."""

    name = "exact"
    exact = True
    description = "exact enumeration"

    def minimum_evaluations(self, game: InterventionalGame) -> int:
        return (1 << game.n_players) * game.n_background

    def estimate(
        self,
        game: InterventionalGame,
        X: np.ndarray[Any, Any],
        budget: Budget,
        seed: int,
    ) -> Estimate:
        m = game.n_players
        v = game.coalition_values(X, all_masks(m))
        values = shapley_from_coalition_values(v, m)
        used = np.full(len(X), self.minimum_evaluations(game), dtype=np.int64)
        return Estimate(
            values=values,
            base_values=v[:, 0].copy(),
            std_errors=None,
            n_evaluations=used,
            exact=True,
        )
