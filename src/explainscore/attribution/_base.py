"""The contract between :class:`~explainscore.ExplainedModel` and an attribution backend.

A backend receives an :class:`ExplainContext` — everything it may know about the model, the
background data and the game to solve — and returns an :class:`Attributor`, which turns a batch
of rows (in the backend's input space) into an :class:`Attribution`: one Shapley value per
*player*, where the players are the raw columns the business knows. Backends that work on a
Pipeline's transformed columns receive ``groups``, the raw column each transformed column came
from, and return values per raw column.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Attribution",
    "Attributor",
    "ExplainContext",
    "InputSpace",
    "OutputSpace",
]

#: See ``explainscore._output``: ``margin`` and ``response`` name a regressor's margin (before
#: its link) and its ``predict`` (the link applied), when it has a link.
OutputSpace = Literal["log_odds", "probability", "raw", "margin", "response"]
#: ``"model"``: the final estimator's own inputs (a Pipeline's transformed matrix, float64).
#: ``"raw"``: the raw columns the user passes (a 2-D object or float array, one column each).
InputSpace = Literal["model", "raw"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExplainContext:
    """Everything a backend may use to build an attributor for one model.

    Attributes
    ----------
    estimator : object
        The fitted estimator whose output is explained: the final step of a Pipeline for
        backends with ``input_space == "model"``, the whole model for ``"raw"`` backends.
    background : ndarray of shape (n_background, n_inputs)
        Background rows in the backend's input space. The reference distribution of the
        interventional game, and the source of the base value.
    groups : ndarray of int of shape (n_inputs,)
        ``groups[j]`` is the player (raw column index) input column ``j`` belongs to.
    player_names : list of str
        Names of the players, the raw columns, in order.
    output_space : {"log_odds", "probability", "raw", "margin", "response"}
        The space in which attributions must add up to the model output.
    target_class : int or None
        Column of ``predict_proba`` / the class margin explained; for a multi-output
        regressor, the output column explained (``ExplainedModel(target=...)``); None for a
        regressor with one output.
    value_function : callable
        ``value_function(X) -> ndarray (n,)``: the model output in ``output_space`` for rows
        ``X`` in the backend's input space. Model-agnostic backends call only this.
    random_state : int
        Seed for backends that sample. The same seed gives identical output.
    options : dict
        Backend-specific options (such as ``max_exact_players`` or ``n_samples``).
    """

    estimator: Any
    background: np.ndarray[Any, Any]
    groups: npt.NDArray[np.intp]
    player_names: list[str]
    output_space: OutputSpace
    target_class: int | None
    value_function: Callable[[np.ndarray[Any, Any]], FloatArray]
    random_state: int = 0
    options: dict[str, Any] | None = None

    @property
    def n_players(self) -> int:
        return len(self.player_names)


@dataclass(frozen=True)
class Attribution:
    """Shapley values of a batch of rows.

    Attributes
    ----------
    values : ndarray of shape (n_rows, n_players)
        One value per row and player (raw column).
    base_values : ndarray of shape (n_rows,)
        The game's value of the empty coalition for each row.
    exact : bool
        True when the values are the exact Shapley values of the stated game; False for
        sampling and surrogate methods.
    std_errors : ndarray of shape (n_rows, n_players) or None
        Standard errors of sampled values; None for exact methods.
    library_margin : ndarray of shape (n_rows,) or None
        The model's own margin of each row, summed in the library's arithmetic during the
        same pass (tree models whose scores :mod:`.tree._library_scores` reproduces); None
        otherwise.
    """

    values: FloatArray
    base_values: FloatArray
    exact: bool
    std_errors: FloatArray | None = None
    library_margin: np.ndarray[Any, Any] | None = None


class Attributor(ABC):
    """A backend fitted to one model: turns rows into Shapley values."""

    #: Short name reported in every explanation (``"tree"``, ``"linear"``, ...).
    name: str
    #: The game the values are exact for, in words, for records and docs.
    game: str

    @abstractmethod
    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        """Shapley values for ``X`` (rows in the backend's input space)."""
