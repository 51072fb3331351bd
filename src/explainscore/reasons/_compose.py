"""Reason composition: the score band, then the principal factors, strongest first, in budget.

A reason reads::

    High (0.82): Previous campaign outcome is success, which strongly raises the score;
    Contacted 3 times this campaign, which lowers the score.

Rules (each one tested):

- Factors are the columns with the largest |contribution|, at most ``max_factors``, in that
  order; a contribution of exactly zero is never named (the model did not use the column for
  this lead); hidden columns are never named.
- The direction word follows the sign; the strength word follows |contribution| with the
  documented cut-offs (:class:`~explainscore.reasons.StrengthCutoffs`), nothing else.
- The text never exceeds its budget: the next-best-action sentence goes first, then the
  "other factors" clause, then whole factors from the weakest. If not even one factor fits,
  the reason says so instead of cutting a word or a number.
- Same model, input and catalog: byte-identical text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._records import NextBestAction, ReasonCode
from ._catalog import Catalog, localize
from ._config import ReasonConfig
from ._format import format_number, format_value, special_text
from ._locales import LOCALES, Locale
from ._names import humanize

__all__ = ["ComposedReason", "ReasonWriter", "reason_code_stem"]

_SLUG = re.compile(r"[^A-Z0-9]+")


def reason_code_stem(feature: str) -> str:
    """Default code stem of a column: its name in capitals, other characters as ``_``."""
    stem = _SLUG.sub("_", humanize(feature).upper()).strip("_")
    return (stem or "FEATURE")[:40]


@dataclass(frozen=True)
class ComposedReason:
    """The parts of one reason, renderable to any budget."""

    band: str
    head: str
    factors: tuple[ReasonCode, ...]
    other: str | None
    action: str | None
    locale: Locale

    def render(self, max_length: int) -> tuple[str, tuple[ReasonCode, ...]]:
        """The reason text within ``max_length`` characters, and the codes it names."""
        loc = self.locale
        if not self.factors and self.other is None:
            return self.head + loc.no_factor + loc.end, ()
        # Drop the action sentence first, then the "other factors" clause, then whole
        # factors from the weakest: each try keeps more of the strongest content.
        n = len(self.factors)
        tries = [(n, self.other, self.action), (n, self.other, None)]
        tries += [(k, None, None) for k in range(n, 0, -1)]
        for k, other, action in tries:
            if k == 0 and other is None:
                continue
            text = self._join(self.factors[:k], other, action)
            if len(text) <= max_length:
                return text, self.factors[:k]
        text = self.head + loc.too_long.format(limit=max_length) + loc.end
        # A custom band label could make even that too long; the band and score always fit.
        return (text if len(text) <= max_length else self.head.rstrip(": ")), ()

    def _join(self, factors: Sequence[ReasonCode], other: str | None, action: str | None) -> str:
        parts = [f.text for f in factors] + ([other] if other else [])
        text = self.head + self.locale.joiner.join(parts) + self.locale.end
        return f"{text} {action}" if action else text


class ReasonWriter:
    """Writes reasons for one model: catalog, settings and output space fixed."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        config: ReasonConfig,
        feature_names: Sequence[str],
        output_space: str,
        probability: bool,
        raw_scale: float = 1.0,
        hidden: frozenset[str] = frozenset(),
        today: dt.date | None = None,
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.locale = LOCALES[config.locale]
        self.names = list(feature_names)
        self.probability = probability
        cut = config.strength_for(output_space)
        scale = raw_scale if output_space == "raw" and raw_scale > 0 else 1.0
        self._strong = cut.strong * scale
        self._slight = cut.slight * scale
        # Hidden: the catalog's ``show: false`` columns and any the caller adds (policy).
        hidden = hidden | catalog.hidden()
        self.hidden_mask = np.array([n in hidden for n in self.names], dtype=bool)
        self.today = today
        self._display = [
            localize(catalog.entry(n).display_name, self.locale.code) or humanize(n)
            for n in self.names
        ]
        self.display_names = list(self._display)
        self._stems = [catalog.entry(n).code or reason_code_stem(n) for n in self.names]

    # --- one factor -------------------------------------------------------------------------

    def _strength(self, contribution: float) -> str:
        strong, normal, slight = self.locale.strengths
        size = abs(contribution)
        if size >= self._strong:
            return strong
        if size < self._slight:
            return slight
        return normal

    def factor(self, j: int, value: Any, contribution: float) -> ReasonCode:
        loc = self.locale
        feature = self.names[j]
        entry = self.catalog.entry(feature)
        fact = special_text(entry, value, loc)
        if fact is None:
            phrases = entry.phrases.get(loc.code)
            if phrases is not None:
                template = phrases.up if contribution > 0 else phrases.down
            else:
                template = loc.default_phrase
            value_text = format_value(entry, value, loc, today=self.today)
            # Plain replacement, not str.format: catalog text may hold other braces.
            fact = template.replace("{name}", self._display[j]).replace("{value}", value_text)
        fact = fact[:1].upper() + fact[1:]
        up = contribution > 0
        direction = (loc.up if up else loc.down).format(strength=self._strength(contribution))
        return ReasonCode(
            code=f"{self._stems[j]}_{'UP' if up else 'DOWN'}",
            feature=feature,
            direction="up" if up else "down",
            contribution=float(contribution),
            text=loc.factor.format(phrase=fact, direction=direction),
        )

    # --- one lead ---------------------------------------------------------------------------

    def score_text(self, score: float) -> str:
        decimals = 2 if self.probability else None
        return format_number(score, self.locale, decimals=decimals)

    def compose(
        self,
        score: float,
        contributions: npt.NDArray[np.float64],
        values: Sequence[Any],
        action: NextBestAction | None = None,
    ) -> ComposedReason:
        cfg = self.config
        loc = self.locale
        band = cfg.bands.band(score, loc.band_labels)
        head = loc.head.format(band=band, score=self.score_text(score))
        shown = ~self.hidden_mask & (contributions != 0.0)
        if cfg.direction == "positive":
            shown &= contributions > 0
        elif cfg.direction == "negative":
            shown &= contributions < 0
        candidates = np.flatnonzero(shown)
        order = candidates[np.argsort(-np.abs(contributions[candidates]), kind="stable")]
        chosen = order[: cfg.max_factors]
        factors = tuple(self.factor(int(j), values[j], float(contributions[j])) for j in chosen)
        other = None
        if cfg.mention_hidden and self.hidden_mask.any():
            hidden_total = float(contributions[self.hidden_mask].sum())
            weakest = min((abs(f.contribution) for f in factors), default=0.0)
            if hidden_total != 0.0 and abs(hidden_total) >= weakest:
                other = loc.other_up if hidden_total > 0 else loc.other_down
        action_text = None
        if action is not None and cfg.next_best_action == "append":
            action_text = action.text
        return ComposedReason(band, head, factors, other, action_text, loc)
