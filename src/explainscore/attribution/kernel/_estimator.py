"""The interface every estimator of the interventional game follows.

An estimator receives a game (``_game.InterventionalGame``), the leads, a budget and a seed,
and returns the values, their standard errors and the model evaluations it used, per lead. It
never calls the model itself. The same seed gives the same draws whatever the leads, so a
lead's values do not depend on the other leads in its batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._game import InterventionalGame

__all__ = ["Budget", "Estimate", "Estimator"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Budget:
    """How much an estimator may spend on one lead.

    Attributes
    ----------
    n_evaluations : int
        Most model evaluations (model rows) per lead, f(background) and f(x) included.
    target_std_error : float or None
        Stop a lead early once its largest standard error is at most this.
    """

    n_evaluations: int
    target_std_error: float | None = None


@dataclass(frozen=True)
class Estimate:
    """Shapley values of a batch of leads and what they cost.

    Attributes
    ----------
    values : ndarray of shape (n, M)
    base_values : ndarray of shape (n,)
    std_errors : ndarray of shape (n, M) or None
        None for exact estimators.
    n_evaluations : ndarray of int of shape (n,)
        Model evaluations used for each lead (one evaluation = one model row).
    exact : bool
    """

    values: FloatArray
    base_values: FloatArray
    std_errors: FloatArray | None
    n_evaluations: IntArray
    exact: bool


class Estimator(ABC):
    """One way of solving the game: which coalitions, and how values and errors follow."""

    #: The name given in ``method_options={"estimator": name}``.
    name: str
    #: True when the values are the exact Shapley values of the game.
    exact: bool
    #: How the values are obtained, in words, for the record's ``game``.
    description: str

    def minimum_evaluations(self, game: InterventionalGame) -> int:
        """Fewest model evaluations per lead the estimator can run with."""
        return 0

    @abstractmethod
    def estimate(
        self,
        game: InterventionalGame,
        X: np.ndarray[Any, Any],
        budget: Budget,
        seed: int,
    ) -> Estimate:
        """Values, standard errors and evaluations used, for the leads ``X``."""
