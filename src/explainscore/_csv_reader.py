"""Reading a CSV file of leads row by row, so that one bad row never stops the file.

pandas' CSV reader stops the whole file at the first row it cannot parse (too many fields,
bytes that are not UTF-8) and fills a row with too few fields with NaN. This reader uses
Python's :mod:`csv` module over a stream decoded with ``errors="surrogateescape"`` and sorts
every record into a parsed row or a :class:`ParseProblem` with its physical line number:

- a record with more or fewer fields than the header;
- a record holding bytes that are not valid UTF-8 (the decoder turned them into lone
  surrogates, which no valid UTF-8 text contains);
- a record the :mod:`csv` module refuses (a quote not closed before the end of the file, a
  character after a closing quote, a field over the module's size limit). Such a record may
  span several physical lines; its first line is rejected and parsing starts again on the
  line after it, so the rows after a stray quote are still read.

Blank lines are skipped, as pandas skips them: they are not rows. Problem texts name line
numbers and counts, never a value: a lead's values may be personal data.

Fields are turned into the model's columns with a vectorised float conversion, and a cell
that does not parse as a number stays *text*, so validation rejects its row with the column
named rather than the reader turning a word into a missing value.
"""

from __future__ import annotations

import csv
import gzip
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from .exceptions import EmptyInputError, InputError, ParameterError

__all__ = [
    "NA_STRINGS",
    "CsvChunk",
    "CsvRows",
    "ParseProblem",
    "grid_of",
    "replace_undecodable",
    "rows_to_frame",
]

#: Cells read as missing: pandas' ``read_csv`` defaults, so a file means what it meant before.
NA_STRINGS = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip
_NA_LIST = sorted(NA_STRINGS)
# pandas' default true/false spellings, for columns the model was fitted on as booleans.
_TRUE = frozenset({"True", "TRUE", "true"})
_FALSE = frozenset({"False", "FALSE", "false"})
# Lines the reader may parse a second time after a broken record (see ``chunks``); past
# this budget a broken record is rejected whole, so a hostile file cannot make it quadratic.
_REPARSE_BUDGET = 5_000_000
# How far the line buffer kept for that re-parse may lag behind the parser.
_SYNC_EVERY = 4096


@dataclass(frozen=True)
class ParseProblem:
    """A record that could not be read as a row of the header's columns.

    Attributes
    ----------
    line : int
        The record's first physical line in the file (1-based, the header is line 1).
    row : int
        The record's position among the data rows (0-based, as the output's ``row``).
    fields : list of str or None
        The fields as read, bad bytes replaced by U+FFFD, or None when the record could not
        be split into fields.
    problem : str
        What is wrong, without any value.
    """

    line: int
    row: int
    fields: list[str] | None
    problem: str


@dataclass
class CsvChunk:
    """Up to ``chunk_size`` consecutive data rows: the parsed ones and the problems."""

    first_row: int
    count: int
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)


def replace_undecodable(fields: Iterable[str]) -> list[str]:
    """The fields with every byte that was not UTF-8 shown as U+FFFD, never as the byte."""
    return [
        f if f.isascii() else f.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        for f in fields
    ]


def _is_clean(text: str) -> bool:
    """Whether ``text`` holds no lone surrogate (no byte that was not valid UTF-8)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _open_text(path: Path) -> TextIO:
    # "utf-8-sig" drops a byte-order mark; newline="" is what the csv module needs to read
    # quoted line breaks and to count physical lines.
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def csv_separator(sep: str) -> str:
    """The one-character delimiter for ``--sep`` (``\\t`` typed literally means a tab)."""
    value = "\t" if sep == "\\t" else sep
    if not isinstance(value, str) or len(value) != 1 or value in '"\r\n':
        raise ParameterError(
            "The --sep option must be one character other than a quote or a line break "
            f"(use '\\t' for a tab). Got {sep!r} instead."
        )
    return value


class CsvRows:
    """A CSV file read as a header and chunks of rows; see the module docstring.

    Parameters
    ----------
    path : Path
        A ``.csv`` (or ``.txt``, ``.gz``) file with a header line.
    sep : str
        The field delimiter (one character).
    chunk_size : int
        Data rows per chunk, parsed and rejected together.
    """

    def __init__(self, path: Path, *, sep: str, chunk_size: int) -> None:
        self.path = path
        self.chunk_size = chunk_size
        self._dialect = {"delimiter": csv_separator(sep), "strict": True}
        self._file = _open_text(path)
        try:
            self._header_lines, self.header = self._read_header()
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_header(self) -> tuple[int, list[str]]:
        reader = csv.reader(self._file, **self._dialect)  # type: ignore[arg-type]
        name = self.path.name
        try:
            header: list[str] = []
            while not header:  # blank lines before the header are skipped
                header = next(reader)
        except StopIteration:
            raise EmptyInputError(
                f"{name} is empty: it has no header line naming the columns."
            ) from None
        except csv.Error:
            raise InputError(
                f"The header line of {name} cannot be read as CSV (a quote is not closed, or "
                "a field is too long). Check the file and the --sep option."
            ) from None
        if not _is_clean("".join(header)):
            raise InputError(
                f"The header line of {name} holds bytes that are not valid UTF-8. Save the "
                "file as UTF-8 and run again."
            )
        seen: dict[str, int] = {}
        for i, column in enumerate(header):
            if column in seen:
                raise InputError(
                    f"The header of {name} names one column twice (fields {seen[column] + 1} "
                    f"and {i + 1}). Give every column its own name."
                )
            seen[column] = i
        return reader.line_num, header

    def chunks(self) -> Iterator[CsvChunk]:
        """The data rows in chunks of ``chunk_size``, each row parsed or a problem."""
        width = len(self.header)
        size = self.chunk_size
        raw: Iterator[str] = iter(self._file)
        pending: Iterator[str] = iter(())
        base = self._header_lines  # physical lines before the current reader's first line
        budget = _REPARSE_BUDGET
        row = 0  # data rows read so far
        chunk = CsvChunk(first_row=0, count=0)
        rows, lines, positions = chunk.rows, chunk.lines, chunk.positions
        while True:
            # ``kept`` trails the parser so that a broken record's lines can be read again.
            feed, kept = itertools.tee(itertools.chain(pending, raw))
            reader = csv.reader(feed, **self._dialect)  # type: ignore[arg-type]
            synced = last = 0  # lines dropped from ``kept``; reader.line_num after a record
            for_next = reader.__next__
            while True:
                try:
                    fields = for_next()
                except StopIteration:
                    if row > chunk.first_row:
                        chunk.count = row - chunk.first_row
                        yield _sift_undecodable(chunk)
                    return
                except csv.Error as exc:
                    end = reader.line_num
                    deque(itertools.islice(kept, last - synced), maxlen=0)
                    broken = list(itertools.islice(kept, end - last))
                    chunk.problems.append(
                        ParseProblem(base + last + 1, row, None, _csv_problem(str(exc)))
                    )
                    row += 1
                    # Parse again from the line after the broken record's first line: a
                    # stray quote must not swallow the rows that follow it.
                    rest = broken[1:]
                    budget -= len(rest)
                    if budget < 0:
                        rest = []
                    pending = iter(rest + list(pending))
                    base += last + 1 if budget >= 0 else end
                    if row - chunk.first_row == size:
                        chunk.count = size
                        yield _sift_undecodable(chunk)
                        chunk = CsvChunk(first_row=row, count=0)
                        rows, lines, positions = chunk.rows, chunk.lines, chunk.positions
                    break
                n = reader.line_num
                if fields:  # a blank line is not a row
                    if len(fields) == width:
                        rows.append(fields)
                        lines.append(base + last + 1)
                        positions.append(row)
                    else:
                        chunk.problems.append(_field_count(base + last + 1, row, fields, width))
                    row += 1
                    if row - chunk.first_row == size:
                        chunk.count = size
                        yield _sift_undecodable(chunk)
                        chunk = CsvChunk(first_row=row, count=0)
                        rows, lines, positions = chunk.rows, chunk.lines, chunk.positions
                last = n
                if last - synced >= _SYNC_EVERY:
                    deque(itertools.islice(kept, last - synced), maxlen=0)
                    synced = last


def _field_count(line: int, row: int, fields: list[str], width: int) -> ParseProblem:
    what = "more" if len(fields) > width else "fewer"
    return ParseProblem(
        line,
        row,
        replace_undecodable(fields),
        f"the row has {len(fields)} fields, {what} than the header's {width}",
    )


def _csv_problem(error: str | None) -> str:
    text = (error or "").lower()
    if "unexpected end of data" in text:
        return (
            "a quoted field starts on this line and is not closed before the end of the file; "
            "the lines after it were read again as rows"
        )
    if "field larger than field limit" in text:
        return (
            "a field is longer than the CSV reader's limit (a quote is probably not closed); "
            "the lines after this one were read again as rows"
        )
    if "expected after" in text:
        return "a quoted field is followed by other characters before the separator"
    return "the row cannot be read as CSV"


def _sift_undecodable(chunk: CsvChunk) -> CsvChunk:
    """Move rows holding bytes that were not UTF-8 from the parsed rows to the problems."""
    if _is_clean("".join(map("".join, chunk.rows))):  # one C-speed check for the usual chunk
        return chunk
    keep = [i for i, r in enumerate(chunk.rows) if _is_clean("".join(r))]
    bad = sorted(set(range(len(chunk.rows))) - set(keep))
    for i in bad:
        chunk.problems.append(
            ParseProblem(
                chunk.lines[i],
                chunk.positions[i],
                replace_undecodable(chunk.rows[i]),
                "the row holds bytes that are not valid UTF-8",
            )
        )
    chunk.problems.sort(key=lambda p: p.row)
    chunk.rows = [chunk.rows[i] for i in keep]
    chunk.lines = [chunk.lines[i] for i in keep]
    chunk.positions = [chunk.positions[i] for i in keep]
    return chunk


def grid_of(rows: list[list[str]], width: int) -> np.ndarray[Any, Any]:
    """The parsed rows of a chunk as a 2-D object array (one column per header field)."""
    return np.array(rows, dtype=object).reshape(len(rows), width)


def rows_to_frame(
    grid: np.ndarray[Any, Any],
    header: list[str],
    *,
    numeric: Iterable[str],
    text: Iterable[str],
    raw: Iterable[str] = (),
    index: Any = None,
) -> pd.DataFrame:
    """A frame of the wanted columns of ``grid`` (see :func:`grid_of`).

    ``numeric`` columns become float64 (missing cells NaN); a column with a cell that is not
    a number becomes an object column holding the numbers and that cell's text, so validation
    rejects the row. ``text`` columns hold the strings as read, with missing cells None.
    ``raw`` columns (identifiers) hold the strings exactly as read.
    """
    position = {name: i for i, name in enumerate(header)}
    index = pd.RangeIndex(len(grid)) if index is None else pd.Index(index)
    data: dict[str, pd.Series[Any]] = {}
    # Explicit dtypes: pandas would otherwise spend time turning text into its string dtype.
    for name in numeric:
        values = _numbers(grid[:, position[name]])
        data[name] = pd.Series(values, index=index, dtype=values.dtype, copy=False)
    for name in text:
        column = _text(grid[:, position[name]])
        data[name] = pd.Series(column, index=index, dtype=object, copy=False)
    for name in raw:
        if name not in data:
            data[name] = pd.Series(grid[:, position[name]], index=index, dtype=object)
    return pd.DataFrame(data, copy=False)


def _missing(values: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return pd.Series(values, dtype=object).isin(_NA_LIST).to_numpy(dtype=bool)


def _numbers(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    try:  # the usual column: every cell a number, parsed in C
        return values.astype(np.float64)
    except (TypeError, ValueError):
        pass
    missing = _missing(values)
    present = values[~missing]
    out = np.full(len(values), np.nan)
    try:
        out[~missing] = present.astype(np.float64)
        return out
    except (TypeError, ValueError):
        pass
    # A cell that is not a number: keep it as text so validation rejects that row by column.
    mixed = out.astype(object)
    for i in np.flatnonzero(~missing):
        mixed[i] = _number_or_text(values[i])
    return mixed


def _number_or_text(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        if cell in _TRUE:
            return 1.0
        if cell in _FALSE:
            return 0.0
        return cell


def _text(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if NA_STRINGS.isdisjoint(values):  # a set look-up per cell, in C: the usual column
        return values
    missing = _missing(values)
    out = values.copy()
    out[missing] = None
    return out
