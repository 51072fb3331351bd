"""Boundary validation of explainscore's own parameters, with one message template.

Every public function validates its parameters once, here, and raises
:class:`~explainscore.exceptions.ParameterError` with the template::

    The 'top_k' parameter of explain must be an int in [1, 15]. Got 0 instead.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

from .exceptions import ParameterError

__all__ = ["check_choice", "check_int", "check_number", "param_error"]


def param_error(name: str, where: str, expected: str, got: Any) -> ParameterError:
    """Build the one message every parameter error uses."""
    return ParameterError(
        f"The {name!r} parameter of {where} must be {expected}. Got {_show(got)} instead."
    )


def _show(value: Any) -> str:
    # Parameters are explainscore's own settings, never lead data, so showing them is safe.
    # Long reprs are cut so that a DataFrame passed by mistake does not flood the message.
    text = repr(value)
    if len(text) > 60:
        text = f"an object of type {type(value).__name__}"
    return text


def check_int(
    value: Any, name: str, where: str, *, low: int | None = None, high: int | None = None
) -> int:
    """Return ``value`` as an int if it is an integer within [low, high], else raise."""
    lo = "-inf" if low is None else str(low)
    hi = "inf" if high is None else str(high)
    expected = f"an int in [{lo}, {hi}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise param_error(name, where, expected, value)
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise param_error(name, where, expected, value)
    return number


def check_number(
    value: Any,
    name: str,
    where: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a float if it is a real number within the bounds, else raise."""
    left = "(" if low_open else "["
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    expected = f"a number in {left}{lo}, {hi}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise param_error(name, where, expected, value)
    v = float(value)
    if v != v:  # NaN
        raise param_error(name, where, expected, value)
    if low is not None and (v < low or (low_open and v == low)):
        raise param_error(name, where, expected, value)
    if high is not None and v > high:
        raise param_error(name, where, expected, value)
    return v


def check_choice(value: Any, name: str, where: str, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise."""
    options = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str) or value not in choices:
        raise param_error(name, where, f"one of {options}", value)
    return value
