"""Model-agnostic Shapley values of the interventional game over the raw columns.

v(S) = mean over background rows b of f(x_S, b_~S): the model's output when the columns in S
take the lead's values and the others a background row's. ``base_value`` = v(empty) =
mean f(background), and v(all) = f(x), so the values add up to the output exactly.

* **Exact enumeration** up to ``max_exact_players`` players (default 12): all 2^M coalitions x
  all background rows of many leads are evaluated in one vectorized call per chunk (chunks
  sized to ``memory_budget``), and the Shapley values follow from one weighted sum per player.
  Cost: 2^M x n_background model evaluations per lead.
* **Sampling** beyond: antithetic permutation sampling (``n_permutations`` permutations, in
  pairs with their reverses). Every permutation's marginal contributions sum to
  f(x) - v(empty), so efficiency stays exact; ``std_errors`` report each value's standard error
  across the permutation pairs. The permutations depend only on ``random_state``, so a lead's
  values do not depend on the other leads in its batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._params import check_int
from ._base import Attribution, Attributor, ExplainContext, FloatArray
from ._coalitions import all_masks, permutation_masks, shapley_from_coalition_values

__all__ = ["KernelAttributor"]

_WHERE = "method='kernel'"


class KernelAttributor(Attributor):
    """Exact (enumerated) or sampled interventional Shapley values for any model."""

    name = "kernel"

    def __init__(self, context: ExplainContext) -> None:
        self._context = context
        options = context.options or {}
        self._max_exact = check_int(
            options.get("max_exact_players", 12), "max_exact_players", _WHERE, low=1, high=20
        )
        self._n_perm = check_int(
            options.get("n_permutations", 256), "n_permutations", _WHERE, low=2
        )
        budget = check_int(
            options.get("memory_budget", 256 * 2**20), "memory_budget", _WHERE, low=1 << 20
        )
        self._budget = budget
        self._bg = np.asarray(context.background)
        m = context.n_players
        self.exact = m <= self._max_exact
        if self.exact:
            self.game = "interventional game on the background rows, exact enumeration"
            self._masks = all_masks(m)
        else:
            self.game = "interventional game on the background rows, permutation sampling"
            self._masks = permutation_masks(
                m, self._n_perm + self._n_perm % 2, context.random_state
            )
        # Column-level masks: a column follows its player.
        self._groups = np.asarray(context.groups, dtype=np.intp)

    def _coalition_values(self, X: np.ndarray[Any, Any], masks: np.ndarray[Any, Any]) -> FloatArray:
        """v(S) for every lead and coalition: shape (n, n_coalitions)."""
        n = len(X)
        n_coal = len(masks)
        bg = self._bg
        n_bg, n_cols = bg.shape
        col_masks = masks[:, self._groups]  # (C, F)
        per_lead = n_coal * n_bg * n_cols * 8
        chunk = max(1, int(self._budget // max(per_lead, 1)))
        out = np.empty((n, n_coal), dtype=np.float64)
        f = self._context.value_function
        for start in range(0, n, chunk):
            xs = X[start : start + chunk]  # (c, F)
            hybrid = np.where(
                col_masks[None, :, None, :], xs[:, None, None, :], bg[None, None, :, :]
            )  # (c, C, B, F)
            flat = hybrid.reshape(-1, n_cols)
            values = np.asarray(f(flat), dtype=np.float64).reshape(len(xs), n_coal, n_bg)
            out[start : start + len(xs)] = values.mean(axis=2)
        return out

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        X = np.asarray(X, dtype=self._bg.dtype)
        m = self._context.n_players
        if self.exact:
            v = self._coalition_values(X, self._masks)
            values = shapley_from_coalition_values(v, m)
            return Attribution(values=values, base_values=v[:, 0].copy(), exact=True)
        n_perm, steps, _ = self._masks.shape
        v = self._coalition_values(X, self._masks.reshape(-1, m)).reshape(len(X), n_perm, steps)
        # The player added at step k of permutation p.
        added = np.argmax(self._masks[:, 1:, :] & ~self._masks[:, :-1, :], axis=2)  # (P, M)
        gains = np.diff(v, axis=2)  # (n, P, M), in permutation order
        per_perm = np.zeros_like(gains)
        rows = np.arange(n_perm)[:, None]
        per_perm[:, rows, added] = gains
        values = per_perm.mean(axis=1)
        # Antithetic pairs (p, p + P/2) are averaged first: pairs are independent draws.
        half = n_perm // 2
        pairs = 0.5 * (per_perm[:, :half] + per_perm[:, half:])
        std_errors = pairs.std(axis=1, ddof=1) / np.sqrt(half)
        base = v[:, 0, 0].copy()
        return Attribution(values=values, base_values=base, exact=False, std_errors=std_errors)
