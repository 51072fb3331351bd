"""The first version of reason composition: principal factors, strongest first, in budget.

A reason reads ``"Score 0.82: Previous campaign outcome is success (raises); Contacts this
campaign is 3 (lowers)."``: the score, then the ``top_k`` factors by |contribution| with the
lead's value and the direction. Factors with a contribution of exactly zero are never named
(the model did not use them for this lead). A reason never exceeds ``max_length``
characters: whole factors are dropped from the end until it fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._names import FeatureNamer, format_number

__all__ = ["compose_reasons"]


def _factor(namer: FeatureNamer, feature: str, value: Any, contribution: float) -> str:
    direction = "raises" if contribution > 0 else "lowers"
    return f"{namer.name(feature)} is {namer.value(feature, value)} ({direction})"


def compose_reasons(
    *,
    scores: npt.NDArray[np.float64],
    attributions: npt.NDArray[np.float64],
    data_rows: Sequence[Sequence[Any]],
    feature_names: Sequence[str],
    top: npt.NDArray[np.intp],
    namer: FeatureNamer,
    max_length: int,
    probability: bool,
) -> list[str]:
    """One reason string per row; see the module docstring.

    ``max_length`` must leave room for the fixed fallback sentence (at least 60 characters;
    the public API validates it).
    """
    reasons = []
    for i, order in enumerate(top):
        s = float(scores[i])
        head = f"Score {s:.2f}" if probability else f"Score {format_number(s)}"
        factors = [
            _factor(namer, feature_names[j], data_rows[i][j], float(attributions[i, j]))
            for j in order
            if attributions[i, j] != 0.0
        ]
        if not factors:
            reasons.append(f"{head}: no factor moved it from the base value.")
            continue
        text = ""
        for n in range(len(factors), 0, -1):
            text = f"{head}: " + "; ".join(factors[:n]) + "."
            if len(text) <= max_length:
                break
        else:
            text = f"{head}: the principal factors are too long to show in {max_length} characters."
        reasons.append(text)
    return reasons
