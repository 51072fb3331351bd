"""Next best action: the catalog-allowed change that would raise a lead's score the most.

For every column the catalog marks actionable (and that may be shown), and every target value
it allows, the lead is re-scored with that one column changed and everything else kept. All
candidate rows of a batch are scored in one call to the model. The best change with a gain of
at least ``min_gain`` becomes the suggestion: "Booking a demo would raise the score to about
0.71." Hidden, blocked or non-actionable columns are never suggested.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._records import NextBestAction
from ._catalog import Catalog, localize
from ._format import format_number, format_value
from ._locales import Locale

__all__ = ["action_candidates", "choose_actions", "next_best_actions"]

ScoreFn = Callable[[pd.DataFrame], npt.NDArray[np.float64]]


def action_candidates(catalog: Catalog, allowed: Sequence[str]) -> list[tuple[str, Any]]:
    """The (column, target value) changes the catalog allows, in catalog order."""
    candidates: list[tuple[str, Any]] = []
    for feature in allowed:
        entry = catalog.entry(feature)
        if entry.actionable is None or not entry.show:
            continue
        candidates.extend((feature, target) for target in entry.actionable.targets)
    return candidates


def next_best_actions(
    frame: pd.DataFrame,
    scores: npt.NDArray[np.float64],
    *,
    catalog: Catalog,
    locale: Locale,
    score_rows: ScoreFn,
    allowed: Sequence[str],
    min_gain: float = 0.01,
) -> list[NextBestAction | None]:
    """One suggestion (or None) per row of ``frame``; see the module docstring."""
    n = len(frame)
    candidates = action_candidates(catalog, allowed)
    if not candidates or n == 0:
        return [None] * n
    changed = []
    for feature, target in candidates:
        rows = frame.copy()
        rows[feature] = pd.Series([target] * n, index=frame.index, dtype=frame[feature].dtype)
        changed.append(rows)
    new_scores = score_rows(pd.concat(changed, ignore_index=True)).reshape(len(candidates), n)
    # A lead already at the target value has nothing to gain from "changing" it.
    same = np.stack([(frame[f] == t).to_numpy(dtype=bool) for f, t in candidates])
    return choose_actions(
        candidates, new_scores, scores, same, catalog=catalog, locale=locale, min_gain=min_gain
    )


def choose_actions(
    candidates: Sequence[tuple[str, Any]],
    new_scores: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    same: npt.NDArray[np.bool_],
    *,
    catalog: Catalog,
    locale: Locale,
    min_gain: float = 0.01,
) -> list[NextBestAction | None]:
    """The best candidate per lead, from the re-scored rows (candidates x leads).

    ``same[c, i]`` marks a lead already at candidate ``c``'s target value.
    """
    n = scores.shape[0]
    best: list[NextBestAction | None] = [None] * n
    gains = new_scores - scores[None, :]
    gains[same] = -np.inf
    pick = np.argmax(gains, axis=0)  # first best on ties: catalog order decides
    for i in range(n):
        c = int(pick[i])
        gain = float(gains[c, i])
        if not gain >= min_gain:
            continue
        feature, target = candidates[c]
        entry = catalog.entry(feature)
        action = entry.actionable
        if action is None:  # pragma: no cover - filtered above
            continue
        phrase = localize(action.text, locale.code) or feature
        phrase = phrase.replace("{value}", format_value(entry, target, locale))
        new = float(new_scores[c, i])
        text = locale.next_best_action.format(
            action=phrase, score=format_number(new, locale, decimals=2)
        )
        best[i] = NextBestAction(
            feature=feature,
            target_value=target,
            action=phrase,
            new_score=new,
            gain=gain,
            text=text,
        )
    return best
