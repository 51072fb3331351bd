"""One lead's chart: a walk from a typical lead's score to this lead's, factor by factor.

The chart draws exactly the factors of the lead's reason, in the reason's order, labelled
with the reason's own words (so ``3,115 EUR`` and ``August``, never ``3115`` and ``aug``),
then one step for all other factors (hidden columns pooled there, never named), so the steps
end at the lead's score. Units: see :mod:`explainscore._plot_units`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _palette as pal
from ._plot_units import Units, resolve_units, to_units
from .exceptions import ExplanationError
from .reasons._locales import LOCALES

if TYPE_CHECKING:
    from ._records import LeadExplanation, ReasonCode

__all__ = ["LeadWalk", "factor_phrase", "lead_walk", "plot_lead"]

OTHERS = "All other factors"


@cache
def _affixes() -> dict[str, tuple[tuple[str, str], ...]]:
    """Per direction, every (before, after) the locales put around a factor's phrase, longest
    first (a reason code's text is ``before + phrase + after``)."""
    out: dict[str, list[tuple[str, str]]] = {"up": [], "down": []}
    for loc in LOCALES.values():
        for key, template in (("up", loc.up), ("down", loc.down)):
            for strength in loc.strengths:
                marked = loc.factor.format(
                    phrase="\0", direction=template.format(strength=strength)
                )
                before, _, after = marked.partition("\0")
                out[key].append((before, after))
    return {k: tuple(sorted(v, key=lambda p: -len(p[0]) - len(p[1]))) for k, v in out.items()}


def factor_phrase(code: ReasonCode) -> str:
    """The phrase of a reason code without its direction words: the reason's own words for
    the factor and the lead's value ("Average balance of 3,115 EUR")."""
    text = code.text
    for before, after in _affixes()[code.direction]:
        if text.startswith(before) and text.endswith(after) and len(text) > len(before + after):
            return text[len(before) : len(text) - len(after)]
    return text


@dataclass(frozen=True)
class LeadWalk:
    """The numbers a lead chart draws, in ``units``."""

    labels: tuple[str, ...]  # the reason's factors, then OTHERS when other columns moved it
    features: tuple[str | None, ...]  # raw column per step (None for OTHERS)
    steps: tuple[float, ...]
    start: float
    end: float
    units: Units


def lead_walk(record: LeadExplanation, *, space: str = "auto") -> LeadWalk:
    """The steps of ``record``'s chart: the reason's factors in order, then all the others."""
    if record.status != "ok" or record.base_value is None or record.score is None:
        raise ExplanationError("A paused lead has no score and no factors to draw.")
    units = resolve_units(record.output_space, space, "plot_lead")
    codes = record.reason_codes
    total = sum(a.contribution for a in record.attributions) + (record.other_contribution or 0.0)
    named = [c.contribution for c in codes]
    rest = total - sum(named)
    values = [*named]
    labels = [factor_phrase(c) for c in codes]
    features: list[str | None] = [c.feature for c in codes]
    # The rest is drawn unless nothing else moved the lead (every column named).
    if rest != 0.0 or not codes:
        values.append(rest)
        labels.append(OTHERS)
        features.append(None)
    steps, start, end = to_units(
        np.asarray([values], dtype=np.float64),
        np.asarray([record.base_value]),
        np.asarray([record.score]),
        record.output_space,
        units,
    )
    return LeadWalk(
        tuple(labels),
        tuple(features),
        tuple(float(v) for v in steps[0]),
        float(start[0]),
        float(end[0]),
        units,
    )


def _start_words(units: Units) -> tuple[str, str]:
    if units.key == "points":
        return "Typical lead", "This lead's score"
    if units.key == "log_odds":
        return "Base value (log-odds)", "This lead's log-odds"
    return "Base value", "This lead's output"


def plot_lead(
    record: LeadExplanation, *, space: str = "auto", ax: Any = None, title: bool = True
) -> Any:
    """Draw ``record``'s walk; see :func:`explainscore.plots.plot_lead`."""
    from .plots import _plt

    walk = lead_walk(record, space=space)
    plt = _plt()
    n = len(walk.steps)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5, 0.5 * (n + 2) + 1.5))
    else:
        fig = ax.figure
    first, last = _start_words(walk.units)
    # Rows top to bottom: the start, each step, the end. x: change from the start.
    y_start, y_end = n + 1, 0
    cum = np.concatenate([[0.0], np.cumsum(walk.steps)])
    moved = walk.end - walk.start
    span = max(float(np.max(np.abs(cum))), abs(moved), 1e-12)
    pad = 0.02 * span
    for i, step in enumerate(walk.steps):
        y = n - i
        left = cum[i]
        color = pal.UP if step > 0 else pal.DOWN
        if walk.features[i] is None:
            color = pal.NEUTRAL
        ax.barh(y, step, left=left, color=color, height=0.62)
        ax.plot([left, left], [y + 0.69, y - 0.31], color="#888", linewidth=0.7, linestyle=":")
        right = left + step
        ax.text(
            max(left, right) + pad,
            y,
            walk.units.text(step),
            va="center",
            ha="left",
            fontsize=9,
            color=color,
            fontweight="bold",
        )
    ax.barh(y_end, moved, color=pal.band_color(record.band), height=0.62)
    ax.plot(
        [moved, moved], [y_end + 0.69, y_end + 0.31], color="#888", linewidth=0.7, linestyle=":"
    )
    ax.text(
        max(0.0, moved) + pad,
        y_end,
        f"{walk.units.level(walk.end)} ({walk.units.text(moved)})",
        va="center",
        ha="left",
        fontsize=9,
        fontweight="bold",
    )
    ax.plot([0], [y_start], marker="D", color=pal.NEUTRAL, markersize=6)
    ax.text(pad * 2, y_start, walk.units.level(walk.start), va="center", ha="left", fontsize=9)
    ax.axvline(0.0, color="#444", linewidth=0.8)
    ticks = [first, *walk.labels, last]
    ax.set_yticks(np.arange(n + 1, -1, -1), ticks)
    low = min(float(np.min(cum)), moved, 0.0)
    high = max(float(np.max(cum)), moved, 0.0)
    ax.set_xlim(low - 0.08 * span, high + 0.3 * span)
    ax.set_ylim(-0.7, n + 1.7)
    ax.xaxis.set_major_formatter(_tick_formatter(walk.units))
    ax.set_xlabel(walk.units.axis)
    if title:
        score = "" if record.score is None else f" ({record.score:.2f})"
        ax.set_title(f"{record.band}{score}: why this lead got its score", loc="left", pad=20)
    _legend(ax)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _legend(ax: Any) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=pal.UP, label="raises the score"),
        Patch(color=pal.DOWN, label="lowers the score"),
    ]
    # Between the title and the plot: clear of the bars wherever the walk goes.
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2,
              fontsize=8, frameon=False, borderaxespad=0.1)  # fmt: skip


def _tick_formatter(units: Units) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: units.tick(value))
