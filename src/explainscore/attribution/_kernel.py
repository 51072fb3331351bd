"""Model-agnostic Shapley values of the interventional game over the raw columns.

v(S) = mean over background rows b of f(x_S, b_~S): the model's output when the columns in S
take the lead's values and the others a background row's. ``base_value`` = v(empty) =
mean f(background), and v(all) = f(x), so the values add up to the output exactly.

Two estimators, chosen with ``method_options={"estimator": ...}``:

* ``"exact"``: all 2^M coalitions x all background rows of many leads are evaluated in one
  vectorized call per chunk (chunks sized to ``memory_budget``), and the Shapley values follow
  from one weighted sum per player. Cost: 2^M x n_background model evaluations per lead.
* ``"sampling"``: stratified permutation sampling of the background game. The Shapley value is
  linear in the game, so phi = mean over rows b of phi_b, where phi_b is the Shapley value of
  the one-row game v_b(S) = f(x_S, b_~S). Each sampled permutation is walked against ONE
  background row (M - 1 model evaluations: the empty and full coalitions are f(b) and f(x)),
  permutations come in antithetic pairs (a permutation and its reverse, on the same row), and
  the pairs are spread evenly over the background rows, at least two per row. The estimate is
  the mean over rows of each row's mean over its pairs:

  - **Exact efficiency by construction.** A walk's marginal contributions telescope to
    f(x) - f(b), so each row's mean adds up to f(x) - f(b) and the mean over rows to
    f(x) - mean f(background) = f(x) - base_value, to rounding. No adjustment is made.
  - **Unbiased, with an honest standard error.** Pairs are independent draws within their row's
    stratum, so ``std_errors`` is the stratified standard error
    sqrt(sum_b s_b^2 / n_b) / n_background, with s_b^2 the variance of the pair contributions
    of row b and n_b their number.
  - **Why this design** (measured on an MLP over 12 raw columns, see
    ``benchmarks/bench_kernel.py``): walking one row per permutation instead of averaging
    every coalition over all rows is no worse per evaluation unless different rows'
    contributions along the same permutation are negatively correlated on average, and gave
    1.6-4x smaller errors at equal evaluations on four leads; spreading the rows evenly
    removes the between-row variance, which dominates otherwise (the rows' own Shapley values
    differ about twice as much as one row's permutation draws). Antithetic pairs are exact for
    games with interactions of order two at most. Enumerating the smallest and largest
    coalitions exactly, a KernelSHAP-style paired regression on the same draws, balancing
    positions across rows, a link-space additive control variate and allocating draws to rows
    by their variance were no better on that model, so they were left out.

``"auto"`` (the default) enumerates up to ``max_exact_players`` players (default 12) and samples
beyond. Every draw depends only on ``random_state``, so the same seed gives the same values and
a lead's values do not depend on the other leads in its batch.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .._params import _show
from ..exceptions import ParameterError
from ._base import Attribution, Attributor, ExplainContext, FloatArray
from ._coalitions import (
    all_masks,
    random_permutations,
    shapley_from_coalition_values,
    stratified_rows,
)

__all__ = ["KernelAttributor"]

_WHERE = "method='kernel'"
_ESTIMATORS = ("auto", "exact", "sampling")
#: Enumeration above this many players would need over a million coalitions per row.
_MAX_ENUMERATED = 20
_DEFAULT_SAMPLES = 4096


def _option_error(name: str, expected: str, got: Any) -> ParameterError:
    # The one parameter-error template (explainscore._params), naming an option of the method.
    return ParameterError(
        f"The {name!r} option of {_WHERE} must be {expected}. Got {_show(got)} instead."
    )


def _int_option(
    options: dict[str, Any], name: str, default: int, *, low: int, high: int | None = None
) -> int:
    value = options.get(name, default)
    expected = f"an int in [{low}, {'inf)' if high is None else f'{high}]'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _option_error(name, expected, value)
    if int(value) < low or (high is not None and int(value) > high):
        raise _option_error(name, expected, value)
    return int(value)


class KernelAttributor(Attributor):
    """Exact (enumerated) or sampled interventional Shapley values for any model.

    Parameters
    ----------
    context : ExplainContext
        The model's value function, background rows and column groups; its ``options``
        (``method_options``) are listed in the notes.

    Notes
    -----
    Options:

    * ``estimator`` : {"auto", "exact", "sampling"}, default "auto". ``"auto"`` enumerates up
      to ``max_exact_players`` players and samples beyond.
    * ``max_exact_players`` : int in [1, 20], default 12.
    * ``n_samples`` : int >= 2, default 4096. Sampled permutations (an odd number is rounded
      up to whole pairs), each walked against one background row: about
      ``n_samples * (M - 1)`` model evaluations per lead. At least two antithetic pairs per
      background row are drawn (``4 * n_background`` permutations).
    * ``n_permutations`` : int >= 2, optional. Older spelling, read as
      ``n_samples = n_permutations * n_background``: the same number of model evaluations as
      that many permutations each evaluated on every background row, as before.
    * ``memory_budget`` : int >= 1 MiB, default 256 MiB. Bytes of hybrid rows built at once.
    """

    name = "kernel"

    def __init__(self, context: ExplainContext) -> None:
        self._context = context
        options = dict(context.options or {})
        self._max_exact = _int_option(options, "max_exact_players", 12, low=1, high=20)
        estimator = options.get("estimator", "auto")
        if not isinstance(estimator, str) or estimator not in _ESTIMATORS:
            choices = ", ".join(repr(name) for name in _ESTIMATORS)
            raise _option_error("estimator", f"one of {choices}", estimator)
        self._budget = _int_option(options, "memory_budget", 256 * 2**20, low=1 << 20)
        self._bg = np.asarray(context.background)
        n_bg = len(self._bg)
        m = context.n_players
        if "n_samples" in options and "n_permutations" in options:
            raise ParameterError(
                f"The 'n_permutations' option of {_WHERE} is the older spelling of "
                "'n_samples'; give one of them. Got both instead."
            )
        if "n_permutations" in options:
            n_samples = n_bg * _int_option(options, "n_permutations", 256, low=2)
        else:
            n_samples = _int_option(options, "n_samples", _DEFAULT_SAMPLES, low=2)
        if estimator == "exact" and m > _MAX_ENUMERATED:
            raise ParameterError(
                f"The 'estimator' option of {_WHERE} must be 'auto' or 'sampling' for {m} "
                f"players (enumeration is limited to {_MAX_ENUMERATED} players). "
                "Got 'exact' instead."
            )
        self.exact = estimator == "exact" or (estimator == "auto" and m <= self._max_exact)
        # Column-level masks: a column follows its player.
        self._groups = np.asarray(context.groups, dtype=np.intp)
        if self.exact:
            self.game = "interventional game on the background rows, exact enumeration"
            self._masks = all_masks(m)
            return
        self.game = "interventional game on the background rows, stratified permutation sampling"
        n_pairs = max(math.ceil(n_samples / 2), 2 * n_bg)
        rng = np.random.default_rng(context.random_state)
        rows = stratified_rows(n_bg, n_pairs, rng)  # (P,) background row of each pair
        forward = random_permutations(m, n_pairs, rng)  # (P, M) position of each player
        # Pairs grouped by row (their permutations are i.i.d., so the order is immaterial):
        # each row's pairs are then one contiguous segment, summed with one reduceat.
        by_row = np.argsort(rows, kind="stable")
        self._rows = rows[by_row]
        forward = forward[by_row]
        counts = np.bincount(self._rows, minlength=n_bg)
        self._counts = counts.astype(np.float64)
        self._segments = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        # Side 1 of a pair walks the reverse order: position p becomes M - 1 - p.
        self._positions = np.stack([forward, m - 1 - forward], axis=1)  # (P, 2, M)
        # The smallest integer type keeps the per-call coalition masks cheap to build.
        # Stored column-major, (F, P, 2), as the hybrid rows are built column by column.
        small = np.min_scalar_type(m)
        col_positions = np.moveaxis(self._positions[:, :, self._groups], 2, 0)
        self._col_positions = np.ascontiguousarray(col_positions, dtype=small)
        self._f_background: FloatArray | None = None

    # ---------------------------------------------------------------- exact enumeration

    def _coalition_values(self, X: np.ndarray[Any, Any], masks: np.ndarray[Any, Any]) -> FloatArray:
        """v(S) for every lead and coalition: shape (n, n_coalitions).

        Leads are batched, and coalitions blocked when one lead alone would not fit, so that
        the hybrid rows of one call stay within ``memory_budget``. Hybrid rows are built
        column by column (column-major): several times cheaper than a row-major ``np.where``,
        and the layout a pandas DataFrame keeps, so the model's input frame needs no transpose.
        """
        n = len(X)
        n_coal = len(masks)
        bg = self._bg
        n_bg, n_cols = bg.shape
        col_masks = masks[:, self._groups]  # (C, F)
        per_coalition = n_bg * n_cols * 8
        block = min(n_coal, max(1, int(self._budget // per_coalition)))
        chunk = max(1, int(self._budget // (per_coalition * n_coal)))
        out = np.empty((n, n_coal), dtype=np.float64)
        f = self._context.value_function
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
                values = np.asarray(f(hybrid.reshape(n_cols, -1).T), dtype=np.float64)
                v = values.reshape(c, last - first, n_bg).mean(axis=2)
                out[start : start + c, first:last] = v
        return out

    # ---------------------------------------------------------------- sampling

    def _background_values(self) -> FloatArray:
        """f(b) for every background row: the start of every walk, evaluated once."""
        if self._f_background is None:
            f = self._context.value_function
            self._f_background = np.asarray(f(self._bg), dtype=np.float64).reshape(-1)
        return self._f_background

    def _walk_values(self, xs: np.ndarray[Any, Any]) -> tuple[FloatArray, FloatArray]:
        """Model outputs along every walk, for a chunk of leads.

        Returns the outputs at the inner coalitions (the first k players, k = 1 .. M-1) of
        both sides of every pair, shape (c, P, 2, M - 1), and f(x) of each lead, shape (c,),
        which ends every walk. Pairs are processed in blocks so that the hybrid rows of one
        call stay within ``memory_budget``; all leads of the chunk share each call, and the
        leads themselves are scored in the first. Hybrid rows are built column by column
        (column-major): several times cheaper than a row-major ``np.where``, and the layout a
        pandas DataFrame keeps, so the model's input frame is built without a transpose.
        """
        c, n_cols = xs.shape
        n_pairs = len(self._rows)
        m = self._context.n_players
        steps = np.arange(1, m, dtype=self._col_positions.dtype)
        per_pair = 2 * (m - 1) * n_cols * 8 * c
        block = max(1, int(self._budget // max(per_pair, 1)))
        inner = np.empty((c, n_pairs, 2, m - 1), dtype=np.float64)
        f_x = np.empty(c, dtype=np.float64)
        f = self._context.value_function
        for start in range(0, n_pairs, block):
            stop = min(start + block, n_pairs)
            q = stop - start
            n_rows = c * q * 2 * (m - 1)
            leads = c if start == 0 else 0
            flat = np.empty((n_cols, n_rows + leads), dtype=self._bg.dtype)
            hybrid = flat[:, :n_rows].reshape(n_cols, c, q, 2, m - 1)
            # Column j is in the coalition of step k when its player comes before position k.
            in_coalition = self._col_positions[:, start:stop, :, None] < steps  # (F, q, 2, M-1)
            rows = self._bg[self._rows[start:stop]]  # (q, F)
            for j in range(n_cols):
                column = hybrid[j]  # (c, q, 2, M - 1)
                column[...] = rows[None, :, j, None, None]
                np.copyto(column, xs[:, j, None, None, None], where=in_coalition[j][None])
            if leads:
                flat[:, n_rows:] = xs.T
            values = np.asarray(f(flat.T), dtype=np.float64).reshape(-1)
            inner[:, start:stop] = values[:n_rows].reshape(c, q, 2, m - 1)
            if leads:
                f_x[:] = values[n_rows:]
        return inner, f_x

    def _sample(self, X: np.ndarray[Any, Any]) -> Attribution:
        n = len(X)
        m = self._context.n_players
        n_bg = len(self._bg)
        f_bg = self._background_values()
        counts = self._counts
        rows = self._rows
        values = np.empty((n, m), dtype=np.float64)
        std_errors = np.empty((n, m), dtype=np.float64)
        n_pairs = len(rows)
        # Leads per chunk: the pair contributions (c, P, 2, M) are the largest array kept.
        per_lead = n_pairs * 2 * (m + 1) * 8 * 3
        chunk = max(1, int(self._budget // max(per_lead, 1)))
        positions = self._positions[None]  # (1, P, 2, M)
        for start in range(0, n, chunk):
            xs = X[start : start + chunk]
            c = len(xs)
            inner, f_x = self._walk_values(xs)
            walks = np.concatenate(
                [
                    np.broadcast_to(f_bg[rows][None, :, None, None], (c, n_pairs, 2, 1)),
                    inner,
                    np.broadcast_to(f_x[:, None, None, None], (c, n_pairs, 2, 1)),
                ],
                axis=3,
            )  # (c, P, 2, M + 1): v_b of the first k players, k = 0 .. M
            gains = np.diff(walks, axis=3)  # gain of the player at each position
            per_player = np.take_along_axis(gains, np.broadcast_to(positions, gains.shape), 3)
            pairs = per_player.mean(axis=2)  # (c, P, M): one draw per antithetic pair
            # Stratified mean: each background row's mean over its pairs, then the mean over
            # rows. Every row has at least two pairs, so each row's variance is estimable.
            segments = self._segments
            row_means = np.add.reduceat(pairs, segments, axis=1) / counts[None, :, None]
            deviations = pairs - row_means[:, rows]
            squares = np.add.reduceat(deviations**2, segments, axis=1)
            row_variances = squares / (counts[None, :, None] - 1.0)
            values[start : start + c] = row_means.mean(axis=1)
            variance = (row_variances / counts[None, :, None]).sum(axis=1) / n_bg**2
            std_errors[start : start + c] = np.sqrt(variance)
        base = np.full(n, f_bg.mean(), dtype=np.float64)
        return Attribution(values=values, base_values=base, exact=False, std_errors=std_errors)

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        X = np.asarray(X, dtype=self._bg.dtype)
        m = self._context.n_players
        if self.exact:
            v = self._coalition_values(X, self._masks)
            values = shapley_from_coalition_values(v, m)
            return Attribution(values=values, base_values=v[:, 0].copy(), exact=True)
        return self._sample(X)
