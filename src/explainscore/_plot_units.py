"""The units a picture speaks: probability points for reps, log-odds or model units on request.

Shapley values of a classifier explained in log-odds add up exactly in log-odds, not in
probability. A picture for a rep converts them, per lead, by sharing the lead's whole move in
probability -- from the starting probability (the base value through the sigmoid) to its
score -- among its factors in proportion to their log-odds values::

    points_j = 100 * phi_j * (score - sigmoid(base)) / sum(phi)

So the steps add up exactly to ``score - starting probability`` and keep each factor's sign
and its share of the move, whatever order they are drawn in. The price: the same log-odds
value is worth more points for a lead near 50 % than for one near 5 % (the sigmoid is
steepest there), so a factor's points depend on the lead's other factors. Explanations
computed in probability need no conversion (points are the values times 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._params import check_choice

__all__ = ["Units", "resolve_units", "to_units"]

FloatArray = npt.NDArray[np.float64]

#: Below this |sum of log-odds| the factors cancel out: the secant slope of the sigmoid is
#: then its tangent (the score's float32 rounding would otherwise dominate the ratio).
_CANCELLED = 1e-4


@dataclass(frozen=True)
class Units:
    """How a picture shows contributions."""

    key: str  # "points", "log_odds" or "model"
    axis: str  # axis label words

    def text(self, value: float, *, signed: bool = True) -> str:
        """A value as tick or step text: ``+4.2 pts``, ``-0.31 log-odds``, ``+1,200``."""
        sign = "+" if signed else ""
        if self.key == "points":
            size = abs(value)
            digits = 2 if size < 0.095 else 1 if size < 9.95 else 0
            return f"{value:{sign},.{digits}f} pts"
        if self.key == "log_odds":
            return f"{value:{sign}.2f} log-odds"
        return f"{value:{sign},.3g}"

    def tick(self, value: float, *, signed: bool = True) -> str:
        """Axis tick text: as short as the tick itself (``+10 pts``, ``-2.5 pts``)."""
        if value == 0:
            return "0"
        sign = "+" if signed else ""
        if self.key == "points":
            return f"{value:{sign}g} pts"
        return f"{value:{sign}g}"

    def level(self, value: float) -> str:
        """A level on the walk (start, score): ``11.6%`` in points, the number otherwise."""
        if self.key == "points":
            return f"{value:.1f}%"
        return f"{value:,.3g}"


_AXES = {
    "points": "change in the score, in percentage points (pts)",
    "log_odds": "change in log-odds (for data scientists: +1 multiplies the odds by 2.7)",
    "probability": "change in the score, in percentage points (pts)",
    "raw": "change in the model's output, in its own units",
    "margin": "change in the model's margin (before its link), in its own units",
    "response": "change in the model's output, in its own units",
}


def resolve_units(output_space: str, space: str, where: str) -> Units:
    """The units a picture uses for ``space`` given the explanation's ``output_space``.

    ``space="auto"``: percentage points for classifiers (log-odds or probability
    explanations), the model's own units otherwise. ``"probability"`` needs a classifier;
    ``"log_odds"`` needs an explanation computed in log-odds.
    """
    check_choice(space, "space", where, ("auto", "probability", "log_odds"))
    classifier = output_space in ("log_odds", "probability")
    if space == "log_odds":
        if output_space != "log_odds":
            from ._params import param_error

            raise param_error(
                "space",
                where,
                f"'auto' or 'probability' for an explanation in {output_space!r} "
                "(log-odds pictures need output_space='log_odds')",
                space,
            )
        return Units("log_odds", _AXES["log_odds"])
    if space == "probability" and not classifier:
        from ._params import param_error

        raise param_error(
            "space",
            where,
            f"'auto' for an explanation in {output_space!r} (a regressor has no probability)",
            space,
        )
    if classifier:
        return Units("points", _AXES["points"])
    return Units("model", _AXES[output_space])


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|
    return out


def to_units(
    values: FloatArray,
    base_values: FloatArray,
    scores: FloatArray,
    output_space: str,
    units: Units,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Contributions, starting levels and end levels in ``units``.

    Parameters
    ----------
    values : ndarray of shape (n, m)
        Each lead's contributions in ``output_space``; every column of a row together adds up
        to the row's ``output - base``.
    base_values, scores : ndarray of shape (n,)

    Returns
    -------
    steps : ndarray of shape (n, m)
    start, end : ndarray of shape (n,)
        In points, ``start`` is the starting probability and ``end`` the score (x 100), and
        ``start + steps.sum(axis=1) == end`` to rounding.
    """
    values = np.asarray(values, dtype=np.float64)
    base = np.asarray(base_values, dtype=np.float64)
    if units.key != "points":
        end = base + values.sum(axis=1)
        return values.copy(), base.copy(), end
    score = 100.0 * np.asarray(scores, dtype=np.float64)
    if output_space == "probability":
        start = 100.0 * base
        steps = 100.0 * values
        return steps, start, start + steps.sum(axis=1)
    start = 100.0 * _sigmoid(base)
    total = values.sum(axis=1)
    cancelled = np.abs(total) < _CANCELLED
    safe = np.where(cancelled, 1.0, total)
    p0 = start / 100.0
    tangent = 100.0 * p0 * (1.0 - p0)
    ratio = np.where(cancelled, tangent, (score - start) / safe)
    steps = values * ratio[:, None]
    end = np.where(cancelled, start + steps.sum(axis=1), score)
    return steps, start, end
