"""Reasons for a whole batch at once, byte-identical to :meth:`ReasonWriter.compose` per row.

The per-row writer spends its time in Python per factor. Here the work is organised by what
is shared: the principal factors of every row are picked with one stable argsort over
|attributions| (hidden, zero and off-direction columns masked); each column's values are
formatted together (numbers vectorised by numpy, other values once per distinct value); the
factor phrases of one column, direction and strength are filled by a single ``join`` of the
value texts with the template around them, then split; each reason is joined once. Reason
codes (pydantic records) are built when a record or export asks for them.

Whatever the bulk path cannot vouch for (a sentinel ``special_values`` column, an infinite
number, a template that names ``{value}`` twice or starts with it, a reason over its budget)
goes through the per-row code itself, so the text is the same by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._records import NextBestAction, ReasonCode, Rows
from ._format import format_number, format_value, special_text

if TYPE_CHECKING:
    from ._compose import ComposedReason, ReasonWriter

__all__ = ["BatchReasons", "compose_batch"]

_SEP = "\0"
#: Below this many rows, the per-row writer is faster than the bulk steps' fixed costs.
BULK_FROM = 48
_PLAIN = (float, int, str, bool, type(None))
_CACHED = frozenset(_PLAIN)


def _swap_separators(texts: list[str], decimal: str, thousands: str) -> list[str]:
    """``format_number``'s separator swap, on all texts in one pass (texts hold no newline)."""
    if decimal == "." and thousands == ",":
        return texts
    joined = "\n".join(texts).replace(",", _SEP).replace(".", decimal).replace(_SEP, thousands)
    return joined.split("\n") if texts else []


def _numbers_text(values: npt.NDArray[np.float64], decimals: int | None) -> list[str]:
    """``format_number`` of finite floats before the separator swap, vectorised by class."""
    if decimals is not None:
        spec = f",.{decimals}f"
        return [format(v, spec) for v in values.tolist()]
    out = np.empty(len(values), dtype=object)
    size = np.abs(values)
    whole = (values == np.trunc(values)) & (size < 1e15)
    big = ~whole & (size >= 100)
    mid = ~whole & ~big & (size >= 1)
    small = ~whole & ~big & ~mid
    if whole.any():
        out[whole] = [f"{int(v):,}" for v in values[whole].tolist()]
    if big.any():
        out[big] = [format(v, ",.0f") for v in values[big].tolist()]
    if mid.any():
        out[mid] = [format(v, ".3g") for v in values[mid].tolist()]
    if small.any():
        out[small] = [format(v, ".2g") for v in values[small].tolist()]
    texts: list[str] = out.tolist()
    return texts


class _Cells:
    """The batch's values of the chosen cells, as the per-row path reads them (``plain_cell``
    of ``frame.to_numpy(dtype=object)``); float columns are read as one float array."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._objects: npt.NDArray[Any] | None = None
        floats = [j for j, dtype in enumerate(frame.dtypes) if dtype == np.float64]
        self._float_at = {j: k for k, j in enumerate(floats)}
        self._floats = frame.iloc[:, floats].to_numpy(dtype=np.float64) if floats else None

    def floats(self, j: int, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64] | None:
        """Column ``j``'s values at ``rows`` when it is a float column (Python floats when
        boxed, as ``to_numpy(dtype=object)`` gives them), else None."""
        k = self._float_at.get(j)
        return None if k is None or self._floats is None else self._floats[rows, k]

    def column(self, j: int, rows: npt.NDArray[np.intp]) -> list[Any]:
        floats = self.floats(j, rows)
        if floats is not None:
            return floats.tolist()  # type: ignore[no-any-return]
        if self._objects is None:
            self._objects = self.frame.to_numpy(dtype=object)
        from .._row_encoder import plain_cell

        cells = self._objects[rows, j].tolist()
        return [v if type(v) in _PLAIN else plain_cell(v) for v in cells]


class _Lazy(Sequence[Any]):
    """A read-only list whose items are built on first access (and kept)."""

    def __init__(self, n: int, make: Callable[[int], Any]) -> None:
        self._items: list[Any] = [None] * n
        self._made = [False] * n
        self._make = make

    def __len__(self) -> int:
        return len(self._items)

    def _get(self, i: int) -> Any:
        if not self._made[i]:
            self._items[i] = self._make(i)
            self._made[i] = True
        return self._items[i]

    @overload
    def __getitem__(self, i: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        if isinstance(i, slice):
            return [self._get(k) for k in range(*i.indices(len(self)))]
        i = int(i)  # numpy integers too
        n = len(self)
        if not -n <= i < n:
            raise IndexError("index out of range")
        return self._get(i % n)


class _CodeRows(_Lazy):
    """The rows' reason codes, built on access, and their strings by rank without building
    them (``code_columns``: what a table of ``reason_code_1..k`` columns needs)."""

    def __init__(
        self,
        n: int,
        make: Callable[[int], Any],
        columns: Callable[[int], tuple[list[list[str | None]], list[list[str | None]]]],
    ) -> None:
        super().__init__(n, make)
        self.code_columns = columns

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self._get(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} items, built on access>"


@dataclass(frozen=True)
class BatchReasons:
    """A batch's reasons: ``reasons[i]``, ``bands[i]``, ``codes[i]`` and ``composed[i]`` are
    what ``compose(...)`` and ``render(max_length)`` give for row ``i``."""

    reasons: list[str]
    bands: list[str]
    codes: Rows[tuple[ReasonCode, ...]]
    composed: Rows[ComposedReason]


def _per_row(
    writer: ReasonWriter,
    scores: npt.NDArray[np.float64],
    contributions: npt.NDArray[np.float64],
    frame: pd.DataFrame,
    actions: Sequence[NextBestAction | None],
) -> BatchReasons:
    from .._row_encoder import plain_cell

    rows = [[plain_cell(v) for v in r] for r in frame.to_numpy(dtype=object)]
    composed = [
        writer.compose(float(scores[i]), contributions[i], rows[i], actions[i])
        for i in range(len(rows))
    ]
    rendered = [c.render(writer.config.max_length) for c in composed]
    return BatchReasons(
        reasons=[text for text, _ in rendered],
        bands=[c.band for c in composed],
        codes=[codes for _, codes in rendered],
        composed=composed,
    )


class BulkReasons:
    """The reasons of a batch: texts and bands now, codes and parts on access.

    ``reasons[i]`` and ``bands[i]`` are what ``compose(...).render(max_length)`` gives for row
    ``i``; ``codes[i]`` the codes it names; ``composed[i]`` the row's ``ComposedReason``.
    """

    def __init__(
        self,
        writer: ReasonWriter,
        *,
        heads: list[str],
        bands: list[str],
        starts: list[int],
        cols: list[int],
        ups: list[bool],
        contributions: list[float],
        texts: list[str],
        others: list[str | None],
        actions: list[str | None],
    ) -> None:
        self._writer = writer
        self._heads = heads
        self.bands = bands
        self._starts = starts
        self._cols = cols
        self._ups = ups
        self._contributions = contributions
        self._texts = texts
        self._others = others
        self._actions = actions
        n = len(heads)
        self.factors = _Lazy(n, self._factors)
        self.composed = _Lazy(n, self._composed)
        loc = writer.locale
        limit = writer.config.max_length
        joiner, end = loc.joiner, loc.end
        bounds = list(pairwise(starts))
        if any(o is not None for o in others) or any(actions):
            reasons = []
            for i, (s, e) in enumerate(bounds):
                parts = texts[s:e]
                if others[i] is not None:
                    parts.append(others[i])  # type: ignore[arg-type]
                text = heads[i] + joiner.join(parts) + end
                reasons.append(f"{text} {actions[i]}" if actions[i] else text)
        else:
            reasons = [
                h + joiner.join(texts[s:e]) + end for h, (s, e) in zip(heads, bounds, strict=True)
            ]
        kept = [e - s for s, e in bounds]
        for i, (s, e) in enumerate(bounds):
            if s == e and others[i] is None:
                reasons[i] = heads[i] + loc.no_factor + end
        for i in [i for i, text in enumerate(reasons) if len(text) > limit]:
            # Over budget: drop content the per-row way.
            reasons[i], codes = self.composed[i].render(limit)
            kept[i] = len(codes)
        self.reasons: list[str] = reasons
        self._kept = kept
        self.codes = _CodeRows(n, self._codes, self._code_columns)

    def _factors(self, i: int) -> tuple[ReasonCode, ...]:
        w = self._writer
        out = []
        for f in range(self._starts[i], self._starts[i + 1]):
            j, up = self._cols[f], self._ups[f]
            out.append(
                ReasonCode._trusted(
                    w._codes[j][up], w.names[j], up, self._contributions[f], self._texts[f]
                )
            )
        return tuple(out)

    def _composed(self, i: int) -> ComposedReason:
        from ._compose import ComposedReason

        return ComposedReason(
            self.bands[i],
            self._heads[i],
            self.factors[i],
            self._others[i],
            self._actions[i],
            self._writer.locale,
        )

    def _codes(self, i: int) -> tuple[ReasonCode, ...]:
        factors: tuple[ReasonCode, ...] = self.factors[i]
        return factors[: self._kept[i]]

    def _code_columns(self, k: int) -> tuple[list[list[str | None]], list[list[str | None]]]:
        """Each row's first ``k`` codes and texts, rank by rank, from the arrays the records
        are built from (the same strings as ``codes[i][r].code`` / ``.text``)."""
        n = len(self._kept)
        codes: list[list[str | None]] = [[None] * n for _ in range(k)]
        texts: list[list[str | None]] = [[None] * n for _ in range(k)]
        stems, cols, ups, phrases = self._writer._codes, self._cols, self._ups, self._texts
        for i in range(n):
            start = self._starts[i]
            for r in range(min(k, self._kept[i])):
                f = start + r
                codes[r][i] = stems[cols[f]][ups[f]]
                texts[r][i] = phrases[f]
        return codes, texts


def _heads(writer: ReasonWriter, scores: npt.NDArray[np.float64]) -> tuple[list[str], list[str]]:
    cfg, loc = writer.config, writer.locale
    cuts = cfg.score_bands
    labels = cuts.labels if cuts.labels is not None else loc.band_labels
    index = np.full(len(scores), len(labels) - 1, dtype=np.intp)
    for k in reversed(range(min(len(cuts.thresholds), len(labels)))):
        index[scores >= cuts.thresholds[k]] = k
    bands: list[str] = np.asarray(labels, dtype=object)[index].tolist()
    values = scores.tolist()
    if writer.probability and np.isfinite(scores).all():
        texts = _swap_separators([format(v, ",.2f") for v in values], loc.decimal, loc.thousands)
    else:
        texts = [writer.score_text(v) for v in values]
    heads = []
    for band, text in zip(bands, texts, strict=True):
        around = writer._heads.get(band)
        if around is None:  # pragma: no cover - a label holding the split marker itself
            heads.append(loc.head.format(band=band, score=text))
        else:
            heads.append(around[0] + text + around[1])
    return bands, heads


def _value_texts(
    writer: ReasonWriter, j: int, cells: _Cells, rows: npt.NDArray[np.intp]
) -> list[tuple[bool, str]]:
    """Per value: (is the whole phrase a sentinel's words, the text)."""
    loc = writer.locale
    entry = writer._entries[j]
    number = writer._numbers[j]
    floats = cells.floats(j, rows) if number is not None and not entry.special_values else None
    if floats is not None and number is not None:
        # A float column in a plain number format: finite values vectorised, NaN is
        # "missing" (``format_value``), infinities take the per-value path below.
        finite = np.isfinite(floats)
        texts = _swap_separators(
            _numbers_text(floats[finite], number[0]), loc.decimal, loc.thousands
        )
        if number[1]:
            texts = [f"{t} {number[1]}" for t in texts]
        out: list[tuple[bool, str] | None] = [None] * len(floats)
        for k, t in zip(np.flatnonzero(finite).tolist(), texts, strict=True):
            out[k] = (False, t)
        missing = (False, loc.missing)
        for k in np.flatnonzero(np.isnan(floats)).tolist():
            out[k] = missing
        if all(o is not None for o in out):
            return out  # type: ignore[return-value]
        values: list[Any] = floats.tolist()
    else:
        values = cells.column(j, rows)
        out = [None] * len(values)
    if number is not None and not entry.special_values:
        fast = [
            k
            for k, v in enumerate(values)
            if type(v) in (float, int) and v == v and abs(v) != float("inf")
        ]
        if fast:
            floats = np.array([float(values[k]) for k in fast], dtype=np.float64)
            texts = _swap_separators(_numbers_text(floats, number[0]), loc.decimal, loc.thousands)
            unit = number[1]
            for k, t in zip(fast, texts, strict=True):
                out[k] = (False, f"{t} {unit}" if unit else t)
    cache: dict[Any, tuple[bool, str]] = {}
    for k, v in enumerate(values):
        if out[k] is not None:
            continue
        # Cached per distinct value of the types whose equal values read the same (not
        # -0.0 and 0.0, NaN, or timestamps in other time zones).
        key: Any = None
        kind = type(v)
        if kind in _CACHED and not (kind is float and (v == 0.0 or v != v)):
            key = (kind, v)
            hit = cache.get(key)
            if hit is not None:
                out[k] = hit
                continue
        fact = special_text(entry, v, loc) if entry.special_values else None
        if fact is not None:
            made = (True, fact[:1].upper() + fact[1:])
        elif number is not None and type(v) in (float, int) and v == v:
            text = format_number(float(v), loc, decimals=number[0])
            made = (False, f"{text} {number[1]}" if number[1] else text)
        else:
            made = (False, format_value(entry, v, loc, today=writer.today))
        if key is not None:
            cache[key] = made
        out[k] = made
    return out  # type: ignore[return-value]


def compose_batch(
    writer: ReasonWriter,
    scores: npt.NDArray[np.float64],
    contributions: npt.NDArray[np.float64],
    frame: pd.DataFrame,
    actions: Sequence[NextBestAction | None],
) -> BatchReasons:
    """Every row's reason, as ``writer.compose(...).render(max_length)`` gives it."""
    cfg, loc = writer.config, writer.locale
    n = contributions.shape[0]
    if n < BULK_FROM:
        return _per_row(writer, scores, contributions, frame, actions)
    scores = np.asarray(scores, dtype=np.float64)
    bands, heads = _heads(writer, scores)

    # The principal factors: each row's stable order by decreasing |contribution|, restricted
    # to the shown, non-zero columns in the configured direction, the first max_factors.
    order = (-np.abs(contributions)).argsort(axis=1, kind="stable")
    valid = (contributions != 0.0) & ~writer.hidden_mask[None, :]
    if cfg.direction == "positive":
        valid &= contributions > 0
    elif cfg.direction == "negative":
        valid &= contributions < 0
    ranked = np.take_along_axis(valid, order, axis=1)
    chosen = ranked & (np.cumsum(ranked, axis=1) <= cfg.max_factors)
    rows, pos = np.nonzero(chosen)
    cols = order[rows, pos]
    contrib = contributions[rows, cols]
    counts = chosen.sum(axis=1)
    starts = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(counts, out=starts[1:])
    ups = contrib > 0
    size = np.abs(contrib)
    strength = np.where(size >= writer._strong, 0, np.where(size < writer._slight, 2, 1))

    # Factor texts by column, direction and strength: one stable sort by that key makes each
    # group a slice; a column's values are formatted together, each group's phrases filled
    # by one join.
    texts: list[str] = [""] * len(cols)
    cells = _Cells(frame)
    key = cols * 6 + ups * 3 + strength
    by = np.argsort(key, kind="stable")
    sorted_key = key[by]
    runs = [0, *(np.flatnonzero(np.diff(sorted_key)) + 1).tolist(), len(by)]
    by_list = by.tolist()
    column, first = -1, 0
    values: list[tuple[bool, str]] = []
    for p, q in pairwise(runs):
        if p == q:
            continue
        j, rest = divmod(int(sorted_key[p]), 6)
        up, s = divmod(rest, 3)
        if j != column:  # a new column: its values at every factor it names
            end = int(np.searchsorted(sorted_key, (j + 1) * 6))
            column, first = j, p
            values = _value_texts(writer, j, cells, rows[by[p:end]])
        template, capitalize = writer._templates[j][up]
        parts = template.split("{value}")
        before, after = writer._around[up][s]
        picked = values[p - first : q - first]
        plain = [t for special, t in picked if not special]
        filled: list[str] | None = None
        if len(plain) == len(picked) and len(parts) == 2 and not capitalize:
            head, tail = before + parts[0], parts[1] + after
            filled = (head + (tail + _SEP + head).join(plain) + tail).split(_SEP)
            if len(filled) != len(plain):  # a value text holding the separator
                filled = None
        if filled is None:
            filled = []
            for special, t in picked:
                if not special:
                    t = t.join(parts)
                    if capitalize:
                        t = t[:1].upper() + t[1:]
                filled.append(before + t + after)
        for f, text in zip(by_list[p:q], filled, strict=True):
            texts[f] = text

    # "Other factors" when hidden columns outweigh the weakest named factor.
    others: list[str | None] = [None] * n
    if cfg.mention_hidden and writer._any_hidden:
        hidden_totals = np.ascontiguousarray(contributions[:, writer.hidden_mask]).sum(axis=1)
        sizes = size.tolist()
        start_list = starts.tolist()
        for i, total in enumerate(hidden_totals.tolist()):
            if total == 0.0:
                continue
            weakest = min(sizes[start_list[i] : start_list[i + 1]], default=0.0)
            if abs(total) >= weakest:
                others[i] = loc.other_up if total > 0 else loc.other_down
    action_texts: list[str | None] = [None] * n
    if cfg.next_best_action == "append":
        action_texts = [a.text if a is not None else None for a in actions]
    bulk = BulkReasons(
        writer,
        heads=heads,
        bands=bands,
        starts=starts.tolist(),
        cols=cols.tolist(),
        ups=ups.tolist(),
        contributions=contrib.tolist(),
        texts=texts,
        others=others,
        actions=action_texts,
    )
    return BatchReasons(bulk.reasons, bulk.bands, bulk.codes, bulk.composed)
