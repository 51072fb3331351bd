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
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._records import NextBestAction, ReasonCode
from ._catalog import Catalog, localize
from ._config import ReasonConfig
from ._format import format_number, format_value, special_text
from ._locales import LOCALES, Locale
from ._names import humanize

if TYPE_CHECKING:
    import pandas as pd

    from ._bulk import BatchReasons

__all__ = ["ComposedReason", "ReasonWriter", "reason_code_stem"]

_SLUG = re.compile(r"[^A-Z0-9]+")


def reason_code_stem(feature: str) -> str:
    """Default code stem of a column: its name in capitals, other characters as ``_``."""
    stem = _SLUG.sub("_", humanize(feature).upper()).strip("_")
    return (stem or "FEATURE")[:40]


def _template(text: str) -> tuple[str, bool]:
    """A phrase template with its first letter capitalized, and whether the phrase still needs
    capitalizing once the value is in (when the template starts with the value)."""
    if text.startswith("{value}"):
        return text, True
    return text[:1].upper() + text[1:], False


def _split(template: str, field: str, **others: str) -> tuple[str, str]:
    """The text before and after ``{field}`` in ``template.format(field=..., **others)``.

    Locale templates name each field once; the split is checked, so that ``before + text +
    after`` is exactly what ``str.format`` gives for any ``text``.
    """
    marked = template.format(**{field: "\0"}, **others)
    before, sep, after = marked.partition("\0")
    if not sep or "\0" in after or any("\0" in v for v in others.values()):
        raise ValueError(f"a locale template must name {{{field}}} once: {template!r}")
    return before, after


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
        #: The spread of the raw output the strengths are scaled by (``_compiled`` keeps it).
        self.raw_scale = raw_scale
        cut = config.strength_for(output_space)
        own_units = output_space in ("raw", "margin", "response")
        scale = raw_scale if own_units and raw_scale > 0 else 1.0
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
        # Everything a factor needs that does not depend on the lead, prepared once: reasons
        # are written per lead (the single-lead lane is timed in microseconds).
        self._entries = [catalog.entry(n) for n in self.names]
        self._hidden = self.hidden_mask.tolist()
        self._any_hidden = bool(self.hidden_mask.any())
        loc = self.locale
        # Phrase templates by (lowers, raises), like codes and direction words below, with
        # ``{name}`` replaced first, as ``factor`` always did (a display name holding
        # "{value}" reads the same), and capitalized when the first letter is not the value's
        # (capitalizing the first letter before or after inserting the value is then the same).
        self._templates: list[tuple[tuple[str, bool], tuple[str, bool]]] = []
        for entry, display in zip(self._entries, self._display, strict=True):
            phrases = entry.phrases.get(loc.code)
            down, up = (
                (phrases.down, phrases.up)
                if phrases is not None
                else (loc.default_phrase, loc.default_phrase)
            )
            pair = [_template(t.replace("{name}", display)) for t in (down, up)]
            self._templates.append((pair[0], pair[1]))
        # Columns whose values are plain numbers with an optional unit (``format_value``'s
        # "auto" and "number" formats): their decimals and localized unit.
        self._numbers: list[tuple[int | None, str | None] | None] = [
            (e.decimals, localize(e.unit, loc.code)) if e.format in ("auto", "number") else None
            for e in self._entries
        ]
        self._codes = [(f"{stem}_DOWN", f"{stem}_UP") for stem in self._stems]
        # The reason's head around the score, by band label (``loc.head`` split at the score).
        bands = config.score_bands
        labels = bands.labels if bands.labels is not None else loc.band_labels
        self._heads = {
            label: _split(loc.head, "score", band=label) for label in labels if "\0" not in label
        }
        # The factor text around the phrase, by (lowers, raises) and strength (strong,
        # normal, slight): ``loc.factor`` with its direction filled in, split at the phrase.
        self._around = tuple(
            tuple(
                _split(loc.factor, "phrase", direction=direction.format(strength=s))
                for s in loc.strengths
            )
            for direction in (loc.down, loc.up)
        )
        # A factor's whole text around its value, by column, direction and strength: one
        # join per factor. None where the template does not name the value exactly once or
        # starts with it (capitalized after it is in): ``factor`` then builds it in steps.
        self._pieces: list[tuple[tuple[tuple[str, str], ...] | None, ...]] = []
        for column_templates in self._templates:
            by_direction: list[tuple[tuple[str, str], ...] | None] = []
            for raises, (template, capitalize) in enumerate(column_templates):
                parts = template.split("{value}")
                by_direction.append(
                    None
                    if capitalize or len(parts) != 2
                    else tuple((b + parts[0], parts[1] + a) for b, a in self._around[raises])
                )
            self._pieces.append(tuple(by_direction))

    # --- one factor -------------------------------------------------------------------------

    def _strength(self, contribution: float) -> int:
        """Index of the strength word: 0 strong, 1 normal, 2 slight."""
        size = abs(contribution)
        if size >= self._strong:
            return 0
        if size < self._slight:
            return 2
        return 1

    def factor(self, j: int, value: Any, contribution: float) -> ReasonCode:
        loc = self.locale
        entry = self._entries[j]
        up = contribution > 0
        fact = special_text(entry, value, loc) if entry.special_values else None
        if fact is None:
            number = self._numbers[j]
            if number is not None and type(value) in (float, int) and value == value:
                # What ``format_value`` gives a non-missing number in these formats.
                text = format_number(float(value), loc, decimals=number[0])
                value_text = f"{text} {number[1]}" if number[1] else text
            else:
                value_text = format_value(entry, value, loc, today=self.today)
            pieces = self._pieces[j][up]
            if pieces is not None:  # the steps below, joined in advance
                before, after = pieces[self._strength(contribution)]
                return ReasonCode._trusted(
                    self._codes[j][up],
                    self.names[j],
                    up,
                    float(contribution),
                    before + value_text + after,
                )
            template, capitalize = self._templates[j][up]
            # Plain replacement, not str.format: catalog text may hold other braces.
            fact = template.replace("{value}", value_text)
            if capitalize:
                fact = fact[:1].upper() + fact[1:]
        else:
            fact = fact[:1].upper() + fact[1:]
        before, after = self._around[up][self._strength(contribution)]
        return ReasonCode._trusted(
            self._codes[j][up], self.names[j], up, float(contribution), before + fact + after
        )

    # --- a batch ----------------------------------------------------------------------------

    def compose_batch(
        self,
        scores: npt.NDArray[np.float64],
        contributions: npt.NDArray[np.float64],
        frame: pd.DataFrame,
        actions: Sequence[NextBestAction | None],
    ) -> BatchReasons:
        """Every row's reason at once: ``reasons[i]``, ``bands[i]``, ``codes[i]`` and
        ``composed[i]`` are what ``compose`` and ``render(max_length)`` give for row ``i``
        (``frame`` holds the rows' raw values, in ``feature_names`` order)."""
        from ._bulk import compose_batch

        return compose_batch(self, scores, contributions, frame, actions)

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
        *,
        order: Sequence[int] | None = None,
    ) -> ComposedReason:
        """The reason's parts for one lead.

        ``order`` is every column index by decreasing |contribution|, ties in column order
        (``argsort(-abs(contributions), kind="stable")``), when the caller has it already.
        """
        cfg = self.config
        loc = self.locale
        band = cfg.score_bands.band(score, loc.band_labels)
        around = self._heads.get(band)
        if around is None:  # pragma: no cover - a label holding the split marker itself
            head = loc.head.format(band=band, score=self.score_text(score))
        else:
            head = around[0] + self.score_text(score) + around[1]
        if order is None:
            order = (-np.abs(contributions)).argsort(kind="stable").tolist()
        # The strongest shown, non-zero columns in the configured direction: a stable sort of
        # all columns restricted to these is their own stable sort.
        values_ = contributions.tolist()
        hidden = self._hidden
        direction = cfg.direction
        chosen: list[int] = []
        for j in order:
            c = values_[j]
            if (
                hidden[j]
                or c == 0.0
                or (direction == "positive" and not c > 0)
                or (direction == "negative" and not c < 0)
            ):
                continue
            chosen.append(j)
            if len(chosen) == cfg.max_factors:
                break
        factors = tuple(self.factor(j, values[j], float(values_[j])) for j in chosen)
        other = None
        if cfg.mention_hidden and self._any_hidden:
            hidden_total = float(contributions[self.hidden_mask].sum())
            weakest = min((abs(f.contribution) for f in factors), default=0.0)
            if hidden_total != 0.0 and abs(hidden_total) >= weakest:
                other = loc.other_up if hidden_total > 0 else loc.other_down
        action_text = None
        if action is not None and cfg.next_best_action == "append":
            action_text = action.text
        return ComposedReason(band, head, factors, other, action_text, loc)
