"""The one palette of every picture: direction, score bands, feature values, fairness flags.

Kept apart from the drawing code so the lead chart, the summary, the HTML card and the
fairness figure cannot drift apart: a band is the same colour wherever it appears. Plain hex
strings only, so importing this module needs no matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence

from .reasons._locales import LOCALES

__all__ = [
    "BAND_RAMP",
    "DOWN",
    "FLAG",
    "NEUTRAL",
    "REFERENCE",
    "UP",
    "VALUE_HIGH",
    "VALUE_LOW",
    "VALUE_NONE",
    "band_color",
    "band_colors",
]

#: Raises / lowers the score (bars, steps, reason arrows).
UP = "#1b7f3b"
DOWN = "#b3261e"
#: Totals, start and end of a walk, neutral bars.
NEUTRAL = "#5b6770"
#: Score bands, from the highest band to the lowest: one blue ramp, darker = higher score.
#: Blue is used for nothing else, so a band never reads as "raises" or "lowers".
BAND_RAMP = ("#0b3c6e", "#2f6fa8", "#6fa3d2", "#b7d2ea")
#: Feature values in the beeswarm, low to high (purple to orange: not a direction colour).
VALUE_LOW = "#5e3c99"
VALUE_HIGH = "#e66101"
#: A category or a missing value: no low or high.
VALUE_NONE = "#a6a6a6"
#: Fairness figure: a flagged group, and the reference group.
FLAG = DOWN
REFERENCE = BAND_RAMP[0]

# Label sets whose order is known without the data: every locale's High/Medium/Low and the
# A-D grades of ``ScoreBands.grades``.
_KNOWN: tuple[tuple[str, ...], ...] = (
    *(loc.band_labels for loc in LOCALES.values()),
    ("A", "B", "C", "D"),
)


def band_colors(labels: Sequence[str]) -> dict[str, str]:
    """Colour of each band, ``labels`` ordered from the highest band to the lowest.

    Two to four bands take the ramp's steps spread over its whole length; more bands reuse
    the darkest and lightest steps at the ends (the ramp has four steps).
    """
    n = len(labels)
    if n == 0:
        return {}
    if n == 1:
        return {labels[0]: BAND_RAMP[1]}
    last = len(BAND_RAMP) - 1
    return {
        label: BAND_RAMP[min(last, round(i * last / (n - 1)))] for i, label in enumerate(labels)
    }


def band_color(label: str, labels: Sequence[str] | None = None) -> str:
    """Colour of one band: by its rank in ``labels`` (highest first) when given, else by its
    rank in a known label set (High/Medium/Low in any locale, grades A-D), else neutral."""
    if labels is not None and label in labels:
        return band_colors(labels)[label]
    for known in _KNOWN:
        if label in known:
            return band_colors(known)[label]
    return NEUTRAL
