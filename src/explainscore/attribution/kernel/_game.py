"""The interventional game over the raw columns: the only place the model is called.

v(S) = sum over background rows b of w_b f(x_S, b_~S): the model's output when the columns of
the players in S take the lead's values and the others a background row's, weighted by the
row's weight (1 / n_background each, unless the background was summarised into weighted
rows, see ``_background.py``). ``base_value`` = v(empty) = sum_b w_b f(b) and v(all) = f(x).

Estimators never call the model themselves: they ask the game for the outputs they need and
the game builds the hybrid rows and scores them in as few ``predict`` calls as the memory
budget allows, batching coalitions, background rows and leads together. Hybrid rows are built
column by column (column-major): several times cheaper than a row-major ``np.where``, and the
layout a pandas DataFrame keeps, so the model's input frame needs no transpose.

One *evaluation* is one model row: a coalition on one background row, for one lead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["InterventionalGame"]

FloatArray = npt.NDArray[np.float64]
ValueFunction = Callable[[np.ndarray[Any, Any]], FloatArray]


class InterventionalGame:
    """Coalition values of the interventional game, by batched model calls.

    Parameters
    ----------
    value_function : callable
        ``value_function(rows) -> ndarray (n,)``, the model output for raw rows.
    background : ndarray of shape (n_background, n_columns)
        Background rows (any dtype the model takes, object included).
    groups : ndarray of int of shape (n_columns,)
        The player each column belongs to; a column follows its player.
    weights : ndarray of shape (n_background,), optional
        Row weights, summing to one; equal weights when omitted.
    memory_budget : int
        Bytes of hybrid rows built at once (8 bytes per cell are assumed).
    """

    def __init__(
        self,
        value_function: ValueFunction,
        background: np.ndarray[Any, Any],
        groups: npt.NDArray[np.intp],
        *,
        weights: FloatArray | None = None,
        memory_budget: int = 256 * 2**20,
    ) -> None:
        self.value_function = value_function
        self.background = np.asarray(background)
        self.groups = np.asarray(groups, dtype=np.intp)
        self.n_players = int(self.groups.max()) + 1 if len(self.groups) else 0
        n_bg = len(self.background)
        if weights is None:
            weights = np.full(n_bg, 1.0 / n_bg)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.memory_budget = int(memory_budget)
        self._f_background: FloatArray | None = None

    @property
    def n_background(self) -> int:
        return len(self.background)

    def _call(self, columns: np.ndarray[Any, Any]) -> FloatArray:
        """Score a column-major block of hybrid rows, shape (n_columns, n_rows)."""
        return np.asarray(self.value_function(columns.T), dtype=np.float64).reshape(-1)

    def background_values(self) -> FloatArray:
        """f(b) for every background row, evaluated once and kept."""
        if self._f_background is None:
            self._f_background = np.asarray(
                self.value_function(self.background), dtype=np.float64
            ).reshape(-1)
        return self._f_background

    def base_value(self) -> float:
        """v(empty) = sum_b w_b f(b)."""
        return float(self.weights @ self.background_values())

    def coalition_values(self, X: np.ndarray[Any, Any], masks: npt.NDArray[np.bool_]) -> FloatArray:
        """v(S) for every lead and coalition (weighted over all rows): shape (n, n_coalitions).

        Leads are batched, and coalitions blocked when one lead alone would not fit, so that
        the hybrid rows of one call stay within ``memory_budget``.
        """
        n = len(X)
        n_coal = len(masks)
        bg = self.background
        n_bg, n_cols = bg.shape
        col_masks = masks[:, self.groups]  # (C, F)
        per_coalition = n_bg * n_cols * 8
        block = min(n_coal, max(1, self.memory_budget // per_coalition))
        chunk = max(1, self.memory_budget // (per_coalition * n_coal))
        out = np.empty((n, n_coal), dtype=np.float64)
        for start in range(0, n, chunk):
            xs = X[start : start + chunk]  # (c, F)
            c = len(xs)
            for first in range(0, n_coal, block):
                last = min(first + block, n_coal)
                hybrid = np.empty((n_cols, c, last - first, n_bg), dtype=bg.dtype)
                for j in range(n_cols):
                    column = hybrid[j]  # (c, C, B): the background's values, x's where j in S
                    column[...] = bg[:, j]
                    column[:, col_masks[first:last, j]] = xs[:, j, None, None]
                values = self._call(hybrid.reshape(n_cols, -1))
                out[start : start + c, first:last] = (
                    values.reshape(c, last - first, n_bg) @ self.weights
                )
        return out

    def walk_values(
        self,
        xs: np.ndarray[Any, Any],
        rows: npt.NDArray[np.intp],
        positions: np.ndarray[Any, Any],
    ) -> FloatArray:
        """Model outputs along permutation walks, each against one background row.

        Parameters
        ----------
        xs : ndarray of shape (c, n_columns)
            Leads; every walk is taken for every lead.
        rows : ndarray of int of shape (q,)
            The background row of each walk group.
        positions : ndarray of int of shape (q, s, M)
            ``positions[p, k, j]``: position of player j in walk k of group p.

        Returns
        -------
        ndarray of shape (c, q, s, M - 1)
            f at the inner coalitions (the first k players, k = 1 .. M - 1) of each walk;
            the empty and full coalitions, f(b) and f(x), are not evaluated here.
        """
        c, n_cols = xs.shape
        q, s, m = positions.shape
        small = np.min_scalar_type(m)
        # Column-major positions (F, q, s): a column follows its player.
        col_positions = np.moveaxis(positions[:, :, self.groups], 2, 0).astype(small)
        steps = np.arange(1, m, dtype=small)
        per_walk = s * (m - 1) * n_cols * 8 * c
        block = max(1, self.memory_budget // max(per_walk, 1))
        out = np.empty((c, q, s, m - 1), dtype=np.float64)
        for start in range(0, q, block):
            stop = min(start + block, q)
            b = stop - start
            hybrid = np.empty((n_cols, c, b, s, m - 1), dtype=self.background.dtype)
            # Column j is in the coalition of step k when its player comes before position k.
            inside = col_positions[:, start:stop, :, None] < steps  # (F, b, s, M - 1)
            walk_rows = self.background[rows[start:stop]]  # (b, F)
            for j in range(n_cols):
                column = hybrid[j]
                column[...] = walk_rows[None, :, j, None, None]
                np.copyto(column, xs[:, j, None, None, None], where=inside[j][None])
            values = self._call(hybrid.reshape(n_cols, -1))
            out[:, start:stop] = values.reshape(c, b, s, m - 1)
        return out

    def lead_values(self, X: np.ndarray[Any, Any]) -> FloatArray:
        """f(x) of every lead: v of the full coalition."""
        return np.asarray(self.value_function(X), dtype=np.float64).reshape(-1)
