"""Explaining CSV / Parquet files in chunks: constant memory, no row lost, no partial file.

Every input row ends up in exactly one of two files: the output (score, CRM fields and
attributions) or the rejects file (the row as read, with its line number, the column and the
problem that stopped it). A row the CSV reader cannot split into the header's fields (too
many or too few fields, bytes that are not UTF-8, a quote not closed) is rejected like a row
the model cannot take; a chunk whose every row is bad is rejected row by row. The summary
counts both files and checks that they add up to the rows read.

Both files are written to temporaries in their destination folders and renamed over the final
paths only when the whole input was read (rejects first, the output last): a failed, stopped or
killed run leaves any earlier output as it was and never a partial file at the final path.

Governance holds at this door as at the API: an input file with a column the policy blocks is
refused (not dropped: its values would otherwise reach the rejects file), an id column that is
hidden or blocked is refused, hidden columns are never written to either file, and the kill
switch stops a run before it starts or between chunks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from ._atomic_files import FrameWriter, write_atomically
from ._csv_reader import CsvRows, ParseProblem, grid_of, replace_undecodable, rows_to_frame
from ._inputs import HIDDEN
from ._progress import Console, Progress
from .exceptions import (
    ColumnTypeError,
    InputError,
    MissingColumnError,
    NonFiniteValueError,
    ParameterError,
    PolicyViolationError,
    ScoringPausedError,
)

__all__ = [
    "FileSummary",
    "explain_file",
    "process_kill_switch",
    "read_frame",
    "rejects_path_for",
    "write_atomically",
]

KILL_ENV = "EXPLAINSCORE_KILL_SWITCH"
KILL_FILE_ENV = "EXPLAINSCORE_KILL_SWITCH_FILE"


@dataclass(frozen=True)
class FileSummary:
    rows: int
    explained: int
    rejected: int
    seconds: float
    output: Path
    rejects: Path
    #: Missing values read in the numeric columns of explained rows, by column as it may be
    #: shown (hidden columns pooled under one name).
    missing_cells: dict[str, int] = field(default_factory=dict)

    @property
    def missing_note(self) -> str | None:
        """The notice that missing numeric cells were explained as missing, or None."""
        total = sum(self.missing_cells.values())
        if not total:
            return None
        parts = sorted(self.missing_cells.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{name!r}: {n:,}" for name, n in parts[:5])
        more = f" and {len(parts) - 5} more column(s)" if len(parts) > 5 else ""
        return (
            f"{total:,} empty (or NA) cell(s) in numeric columns were read as missing values "
            f"and explained as such ({shown}{more}); the model treats a missing value as it "
            "learned to. If a blank means zero in this file, fill it before running."
        )

    @property
    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"explained {self.explained:,} of {self.rows:,} rows, rejected {self.rejected:,} "
            f"(see {self.rejects}) in {self.seconds:.1f} s ({rate:,.0f} rows/s); "
            f"wrote {self.output}"
        )


def rejects_path_for(output: Path) -> Path:
    """``scored.csv`` -> ``scored.rejects.csv``."""
    return output.with_name(f"{output.stem}.rejects{output.suffix}")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".gz"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ParameterError(
        f"explainscore explain reads and writes .csv or .parquet files; got {path.name!r}."
    )


# --- the kill switch ---------------------------------------------------------------------


def process_kill_switch() -> str | None:
    """Which process-wide kill switch is engaged (a text for a message), or None.

    ``EXPLAINSCORE_KILL_SWITCH`` engages it with any value but "", "0", "false" or "off"; the
    file named by ``EXPLAINSCORE_KILL_SWITCH_FILE`` engages it by existing, whatever it holds.
    Checked before the model is even loaded.
    """
    from .governance._kill_switch import process_engaged, process_state

    return _source_text(process_state().source) if process_engaged() else None


def _kill_source(explained: Any) -> str | None:
    """Which kill switch stops ``explained`` now (the model's own or the process-wide one),
    as a text for a message, or None."""
    from .governance._kill_switch import combined_engaged

    if not combined_engaged(getattr(explained, "kill_switch", None)):
        return None
    return _source_text(explained._kill_state().source)


def _source_text(source: str | None) -> str:
    return {
        "env": f"the {KILL_ENV} environment variable",
        "file": f"a kill-switch file ({KILL_FILE_ENV} or the model's)",
        "api": "the model's kill switch",
    }.get(source or "", "the kill switch")


def _paused_error(source: str, *, started: bool) -> ScoringPausedError:
    when = "stopped" if started else "refused"
    return ScoringPausedError(
        f"explainscore explain {when}: scoring is paused by {source}. Nothing was written "
        "(an earlier output file is left as it was). Release the switch and run again."
    )


# --- governance at the file door ----------------------------------------------------------


class _Rules:
    """Which columns are blocked or hidden for this model, matched as the policy matches
    (any spelling: case, width, look-alike letters); the catalog's hidden columns too."""

    def __init__(self, explained: Any, engine: Any) -> None:
        from .governance._identity import skeleton

        self._skeleton = skeleton
        self.policy = getattr(explained, "policy", None)
        self._hidden = {skeleton(str(h)) for h in engine.catalog.hidden()}

    def blocked_entry(self, name: str) -> int | None:
        """The 1-based entry of the policy's blocked list that ``name`` matches, or None."""
        return None if self.policy is None else self.policy.blocked_entry(name)

    def secret(self, name: str) -> bool:
        """Whether ``name`` may not be written anywhere: hidden or blocked."""
        if self.policy is not None and self.policy.is_secret(name):
            return True
        return self._skeleton(name) in self._hidden

    def shown(self, name: str) -> str:
        return HIDDEN if self.secret(name) else name

    def refuse_blocked(
        self, columns: Sequence[str], source: str, *, allowed: Sequence[str] = ()
    ) -> None:
        for name in columns:
            if name in allowed:
                continue
            entry = self.blocked_entry(name)
            if entry is not None:
                assert self.policy is not None
                version = self.policy.version
                raise PolicyViolationError(
                    f"explainscore refused {source}: it has a column that policy version "
                    f"{version!r} blocks (blocked entry {entry}). Remove that column from the "
                    "file and run again: a blocked column may not be read, scored or written "
                    "anywhere. Nothing was written.",
                    policy_version=version,
                    entry=entry,
                )

    def refuse_id_columns(self, id_columns: Sequence[str]) -> None:
        for i, name in enumerate(id_columns, start=1):
            if self.secret(name):
                raise PolicyViolationError(
                    f"explainscore explain refused: --id-column number {i} names a column "
                    "that the model's policy or catalog hides or blocks, and id columns are "
                    "copied to the output. Choose another identifier column.",
                    policy_version=None if self.policy is None else self.policy.version,
                )

    def problem(self, column: str, problem: str) -> tuple[str, str]:
        """A reject's column and problem, with a hidden or blocked column never named."""
        if column == HIDDEN or not self.secret(column):
            return column, problem
        prefix = f"column {column!r} "
        if problem.startswith(prefix):
            return HIDDEN, f"{HIDDEN} {problem[len(prefix) :]}"
        return HIDDEN, f"{HIDDEN} holds a value the model cannot take"


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """Consecutive data rows: the parsed ones as a frame, and those that could not be read."""

    first_row: int
    count: int
    #: Parsed rows: the model's columns (numbers converted), index = data-row positions.
    frame: pd.DataFrame
    #: The id columns of the parsed rows, as read.
    ids: pd.DataFrame
    problems: list[ParseProblem] = field(default_factory=list)
    #: For a parsed row's position: its line number (None for Parquet) and the values of the
    #: columns kept in the rejects file.
    line_of: Callable[[int], int | None] = lambda _: None
    values_of: Callable[[int], list[Any]] = lambda _: []


class _CsvSource:
    def __init__(self, path: Path, *, sep: str, chunk_size: int) -> None:
        self.rows = CsvRows(path, sep=sep, chunk_size=chunk_size)
        self.columns = list(self.rows.header)
        self.has_lines = True
        # Progress is bytes read against the file's size: counting the rows first would
        # read the file twice. (A .gz file: compressed bytes against its compressed size.)
        self.total = path.stat().st_size
        self.in_bytes = True

    def close(self) -> None:
        self.rows.close()

    def position(self, rows: int) -> int:
        """How far into the file the reader is, in bytes (read-ahead included)."""
        handle: Any = getattr(self.rows, "_file", None)
        raw = getattr(getattr(handle, "buffer", None), "fileobj", None)  # gzip: the file below
        raw = raw if raw is not None else getattr(handle, "buffer", None)
        try:
            return int(raw.tell()) if raw is not None else 0
        except (OSError, ValueError):
            return 0

    def chunks(
        self, numeric: list[str], text: list[str], ids: Sequence[str], kept: list[int]
    ) -> Iterator[_Chunk]:
        header = self.columns
        for c in self.rows.chunks():
            index = pd.Index(c.positions, dtype=np.int64)
            grid = grid_of(c.rows, len(header))
            frame = rows_to_frame(grid, header, numeric=numeric, text=text, index=index)
            id_frame = rows_to_frame(grid, header, numeric=(), text=(), raw=ids, index=index)
            where = np.asarray(c.positions, dtype=np.int64)
            rows, lines = c.rows, c.lines

            def line_of(pos: int, where: Any = where, lines: list[int] = lines) -> int | None:
                return lines[int(np.searchsorted(where, pos))]

            def values_of(pos: int, where: Any = where, rows: list[list[str]] = rows) -> list[Any]:
                fields = rows[int(np.searchsorted(where, pos))]
                return [fields[i] for i in kept]

            yield _Chunk(c.first_row, c.count, frame, id_frame, c.problems, line_of, values_of)


class _ParquetSource:
    def __init__(self, path: Path, *, chunk_size: int) -> None:
        from ._optional import import_optional

        pq = import_optional("pyarrow.parquet", extra="files", purpose="Parquet input")
        self._file = pq.ParquetFile(path)
        self.columns = [str(n) for n in self._file.schema_arrow.names]
        self.chunk_size = chunk_size
        self.has_lines = False
        self.total = int(self._file.metadata.num_rows)
        self.in_bytes = False

    def close(self) -> None:
        self._file.close()

    def position(self, rows: int) -> int:
        """Rows read so far (the unit of ``total``)."""
        return rows

    def chunks(
        self, numeric: list[str], text: list[str], ids: Sequence[str], kept: list[int]
    ) -> Iterator[_Chunk]:
        model = [n for n in self.columns if n in set(numeric) | set(text)]
        names = [self.columns[i] for i in kept]
        wanted = list(dict.fromkeys([*model, *ids, *names]))
        start = 0
        # Only the columns that are used or kept for the rejects are read from the file.
        for batch in self._file.iter_batches(batch_size=self.chunk_size, columns=wanted):
            whole = batch.to_pandas()
            whole.index = pd.RangeIndex(start, start + len(whole))
            shown = whole[names]

            def values_of(pos: int, shown: pd.DataFrame = shown) -> list[Any]:
                return list(shown.loc[pos])

            yield _Chunk(start, len(whole), whole[model], whole[list(ids)], [],
                         lambda _: None, values_of)  # fmt: skip
            start += len(whole)


def _open_source(path: Path, *, sep: str, chunk_size: int) -> _CsvSource | _ParquetSource:
    if _kind(path) == "parquet":
        return _ParquetSource(path, chunk_size=chunk_size)
    return _CsvSource(path, sep=sep, chunk_size=chunk_size)


def _check_columns(columns: list[str], names: list[str], rules: _Rules, source: str) -> None:
    seen: set[str] = set()
    for i, c in enumerate(columns):
        if c in seen:
            raise InputError(
                f"{source} names one column twice (column {i + 1}). Give every column its own name."
            )
        seen.add(c)
    missing = [n for n in names if n not in seen]
    if missing:
        shown = list(dict.fromkeys(rules.shown(n) for n in missing))
        raise MissingColumnError(
            f"{source} lacks {', '.join(_quoted(n) for n in shown)}, which the model was built "
            "on. Add the column(s) (an empty cell is a missing value).",
            columns=shown,
        )


def _quoted(name: str) -> str:
    return name if name == HIDDEN else repr(name)


def read_frame(
    explained: Any, input_path: Path, *, sep: str, keep: Sequence[str]
) -> tuple[pd.DataFrame, int]:
    """The model's columns (converted) and the ``keep`` columns (as read) of a whole file,
    and how many rows could not be read (fairness audits use it).

    A column the policy blocks is refused unless it is one of ``keep`` (a fairness audit's
    sensitive columns are read, never passed to the model, and reported only as groups).
    """
    engine = explained._ensure_built()
    rules = _Rules(explained, engine)
    names = [str(n) for n in explained.feature_names_in_]
    numeric = [c.name for c in engine.schema.columns if c.kind == "numeric"]
    text = [c.name for c in engine.schema.columns if c.kind != "numeric"]
    source = _open_source(input_path, sep=sep, chunk_size=50_000)
    try:
        rules.refuse_blocked(source.columns, input_path.name, allowed=keep)
        _check_columns(source.columns, names, rules, input_path.name)
        frames, bad = [], 0
        extra = [k for k in keep if k in source.columns and k not in names]
        for chunk in source.chunks(numeric, text, extra, []):
            frames.append(pd.concat([chunk.frame, chunk.ids], axis=1))
            bad += len(chunk.problems)
    finally:
        source.close()
    if not frames:
        return pd.DataFrame(columns=[*names, *keep]), bad
    return pd.concat(frames), bad


# --- the run -------------------------------------------------------------------------------


@dataclass
class _Rejects:
    """The rejected rows of one chunk, gathered then written as one frame."""

    positions: list[int] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    values: list[list[Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, pos: int, line: int | None, values: list[Any], column: str, problem: str) -> None:
        self.positions.append(pos)
        self.lines.append(line)
        self.values.append(values)
        self.columns.append(column)
        self.problems.append(problem)

    def frame(self, kept: list[str], with_lines: bool) -> pd.DataFrame:
        order = np.argsort(self.positions, kind="stable")
        body = pd.DataFrame([self.values[i] for i in order], columns=kept, dtype=object)
        head: dict[str, Any] = {}
        if with_lines:
            head["line"] = [self.lines[i] for i in order]
        head["row"] = [self.positions[i] for i in order]
        frame = pd.concat([pd.DataFrame(head), body], axis=1)
        frame["reject_column"] = [self.columns[i] for i in order]
        frame["reject_problem"] = [self.problems[i] for i in order]
        return frame


def _parse_values(
    problem: ParseProblem, width: int, kept: list[int], aligned_only: bool
) -> list[Any]:
    """The kept columns' fields of a record that could not be parsed, when it is safe to
    write them: aligned to the header, or (when the file has no hidden column) by position."""
    fields = problem.fields
    if fields is None or (aligned_only and len(fields) != width):
        return [""] * len(kept)
    padded = replace_undecodable(fields) + [""] * max(0, width - len(fields))
    return [padded[i] for i in kept]


def _explain_rows(
    explained: Any, engine: Any, frame: pd.DataFrame
) -> tuple[Any, list[tuple[int, str, str]]]:
    """The batch for ``frame`` (or None) and the rejected rows as (position, column, problem).

    ``explain(on_error="skip")`` raises when no row of the frame is good (one column bad in
    every row, or every row missing a value): then every row is rejected with its own problem
    instead of the chunk stopping the job.
    """
    try:
        batch = explained.explain(frame, on_error="skip")
    except (ColumnTypeError, NonFiniteValueError) as exc:
        return None, _every_row_problems(engine.schema, frame, exc)
    index = frame.index
    return batch, [(int(index[r.row]), r.column, r.problem) for r in batch.rejected]


def _every_row_problems(
    schema: Any, frame: pd.DataFrame, exc: Exception
) -> list[tuple[int, str, str]]:
    index = frame.index
    try:
        validated = schema.validate(frame, where="explain")
    except ColumnTypeError as whole:
        # One column holds the wrong kind in every row: that is every row's problem.
        column = whole.column
        what = (
            "holds text where a number is expected"
            if "must hold numbers" in str(whole)
            else "holds a number where a category (text) is expected"
        )
        subject = HIDDEN if column == HIDDEN else f"column {column!r}"
        return [(int(i), column, f"{subject} {what}") for i in index]
    problems = validated.problems
    if len(problems) != len(frame):  # some rows are good: the error was about something else
        raise exc
    return [(int(index[p.row]), p.column, p.message) for _, p in sorted(problems.items())]


def _output_table(
    batch: Any, ids: pd.DataFrame, id_columns: Sequence[str], crm: str
) -> pd.DataFrame:
    table = batch.to_crm(crm)
    for name in reversed(id_columns):
        table.insert(0, name, ids.loc[table.index, name].to_numpy())
    contrib = pd.DataFrame(
        batch.attributions,
        index=table.index,
        columns=[f"contrib_{n}" for n in batch.feature_names],
    )
    hidden = [f"contrib_{h}" for h in batch.hidden if f"contrib_{h}" in contrib.columns]
    table = pd.concat([table, contrib.drop(columns=hidden)], axis=1)
    table.insert(len(id_columns), "row", table.index)
    return pd.DataFrame(table)


def explain_file(
    explained: Any,
    input_path: Path,
    output_path: Path,
    *,
    rejects_path: Path | None = None,
    chunk_size: int = 10_000,
    id_columns: tuple[str, ...] = (),
    crm_fields: str = "salesforce",
    sep: str = ",",
    progress: bool | None = None,
    stream: TextIO | None = None,
    console: Console | None = None,
) -> FileSummary:
    """Explain every row of ``input_path`` into ``output_path`` and the rejects file.

    Messages speak the command line's language (``--id-column``, ``--chunk-size``): this is
    the ``explainscore explain`` command's engine. ``progress`` (default: whether ``stream``
    is a terminal) draws a bar on ``stream``; ``console`` carries the ``-q``/``-v`` level
    (quiet: no bar and no notes; verbose: the stages and their timings too).
    """
    stream = sys.stderr if stream is None else stream
    console = Console(stream=stream) if console is None else console
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ParameterError(
            f"The --chunk-size option must be an int >= 1. Got {chunk_size!r} instead."
        )
    rejects_path = rejects_path or rejects_path_for(output_path)
    for p in (input_path, output_path, rejects_path):
        _kind(p)
    if output_path.resolve() == rejects_path.resolve():
        raise ParameterError("--output and --rejects name the same file; give two paths.")
    if input_path.resolve() in (output_path.resolve(), rejects_path.resolve()):
        raise ParameterError("--input and --output (or --rejects) name the same file.")
    engine = explained._ensure_built()
    rules = _Rules(explained, engine)
    rules.refuse_id_columns(id_columns)
    paused = _kill_source(explained)
    if paused is not None:
        raise _paused_error(paused, started=False)
    names = [str(n) for n in explained.feature_names_in_]
    numeric = [c.name for c in engine.schema.columns if c.kind == "numeric"]
    text = [c.name for c in engine.schema.columns if c.kind != "numeric"]
    source = _open_source(input_path, sep=sep, chunk_size=chunk_size)
    kind = "rows" if not source.in_bytes else "bytes"
    console.stage(
        f"reading {input_path.name} ({source.total:,} {kind}) in chunks of {chunk_size:,}"
    )
    shown = (stream.isatty() if progress is None else progress) and not console.quiet
    bar = Progress(stream, enabled=shown, total=source.total, in_bytes=source.in_bytes)
    try:
        summary = _run(explained, engine, rules, source, input_path, output_path,
                       rejects_path, names=names, numeric=numeric, text=text,
                       id_columns=id_columns, crm_fields=crm_fields, bar=bar,
                       console=console)  # fmt: skip
    finally:
        bar.close()
        source.close()
    note = summary.missing_note
    if note is not None:
        console.note(note)
    return summary


def _run(
    explained: Any,
    engine: Any,
    rules: _Rules,
    source: _CsvSource | _ParquetSource,
    input_path: Path,
    output_path: Path,
    rejects_path: Path,
    *,
    names: list[str],
    numeric: list[str],
    text: list[str],
    id_columns: tuple[str, ...],
    crm_fields: str,
    bar: Progress,
    console: Console,
) -> FileSummary:
    columns = source.columns
    rules.refuse_blocked(columns, input_path.name)
    _check_columns(columns, names, rules, input_path.name)
    missing_ids = [c for c in id_columns if c not in columns]
    if missing_ids:
        raise InputError(
            f"The --id-column {missing_ids[0]!r} is not a column of {input_path.name}."
        )
    kept = [i for i, c in enumerate(columns) if not rules.secret(c)]
    kept_names = [columns[i] for i in kept]
    # Rows that cannot be split into the header's fields are written by position only when
    # no field could be a hidden column's value.
    aligned_only = len(kept) != len(columns)
    width = len(columns)
    with_lines = source.has_lines
    out = FrameWriter(output_path, _kind(output_path))
    try:
        rej = FrameWriter(rejects_path, _kind(rejects_path))
    except BaseException:
        out.discard()
        raise
    # Missing values in the numeric columns of explained rows: told once, counted.
    used_numeric = [n for n in names if n in set(numeric)]
    missing = np.zeros(len(used_numeric), dtype=np.int64)
    rows = explained_n = rejected_n = 0
    start = time.perf_counter()
    columns_out: list[str] = []
    try:
        for chunk in source.chunks(numeric, text, id_columns, kept):
            paused = _kill_source(explained)
            if paused is not None:
                raise _paused_error(paused, started=True)
            rejects = _Rejects()
            for p in chunk.problems:
                values = _parse_values(p, width, kept, aligned_only)
                rejects.add(p.row, p.line, values, "", p.problem)
            if len(chunk.frame):
                batch, bad = _explain_rows(explained, engine, chunk.frame[names])
                if batch is not None:
                    if getattr(batch, "status", "ok") == "paused":
                        raise _paused_error(_kill_source(explained) or "the kill switch",
                                            started=True)  # fmt: skip
                    table = _output_table(batch, chunk.ids, id_columns, crm_fields)
                    if used_numeric:
                        cells = chunk.frame.loc[table.index, used_numeric]
                        missing += cells.isna().to_numpy().sum(axis=0)
                    out.write(table)
                    columns_out = list(table.columns)
                    explained_n += len(table)
                for pos, column, problem in bad:
                    shown, said = rules.problem(column, problem)
                    rejects.add(pos, chunk.line_of(pos), chunk.values_of(pos), shown, said)
            if rejects.positions:
                rej.write(rejects.frame(kept_names, with_lines))
                rejected_n += len(rejects.positions)
            rows += chunk.count
            bar.update(rows, source.position(rows))
            console.stage(f"{rows:,} rows read, {explained_n:,} explained, {rejected_n:,} rejected")
        if explained_n + rejected_n != rows:  # an invariant, checked loudly
            raise RuntimeError(
                f"{rows} rows read but {explained_n} explained and {rejected_n} rejected"
            )
        empty_rejects = [*(["line"] if with_lines else []), "row", *kept_names,
                         "reject_column", "reject_problem"]  # fmt: skip
        # The rejects file first, the output last: a complete output means a complete run.
        rej.commit(pd.DataFrame(columns=empty_rejects))
        out.commit(pd.DataFrame(columns=columns_out or ["row"]))
        console.stage(f"wrote {rejects_path.name} and {output_path.name}")
    except BaseException:
        out.discard()
        rej.discard()
        raise
    by_column: dict[str, int] = {}
    for name, n in zip(used_numeric, missing.tolist(), strict=True):
        if n:
            shown = rules.shown(name)
            by_column[shown] = by_column.get(shown, 0) + int(n)
    return FileSummary(rows, explained_n, rejected_n, time.perf_counter() - start,
                       output_path, rejects_path, by_column)  # fmt: skip
