"""Explaining CSV / Parquet files in chunks: constant memory, no row silently lost.

Every input row ends up in exactly one of two files: the output (score, CRM fields and
attributions) or the rejects file (the row as read, with the column and problem that stopped
it). The summary counts both and checks they add up to the rows read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .exceptions import InputError, ParameterError

__all__ = ["FileSummary", "explain_file", "rejects_path_for"]


@dataclass(frozen=True)
class FileSummary:
    rows: int
    explained: int
    rejected: int
    seconds: float
    output: Path
    rejects: Path

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


def _chunks(path: Path, size: int, text_columns: list[str], sep: str) -> Iterator[pd.DataFrame]:
    if _kind(path) == "parquet":
        from ._optional import import_optional

        pq = import_optional("pyarrow.parquet", extra="files", purpose="Parquet input")
        # Keep the file object alive (and closed at the end) while its batches are read.
        with pq.ParquetFile(path) as source:
            for batch in source.iter_batches(batch_size=size):
                yield batch.to_pandas()
        return
    # Text columns are read as text in every chunk, so a chunk whose codes look numeric
    # ("01", "1") is not silently turned into numbers.
    yield from pd.read_csv(
        path, chunksize=size, sep=sep, dtype=dict.fromkeys(text_columns, str), keep_default_na=True
    )


class _Progress:
    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.start = time.perf_counter()

    def update(self, rows: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.stream.write(f"\r{rows:,} rows  {rows / elapsed:,.0f} rows/s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


class _Writer:
    """Appends frames to a CSV or Parquet file, chunk by chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = _kind(path)
        self._parquet: Any = None
        self._started = False
        if path.exists():
            path.unlink()

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            frame.to_csv(self.path, mode="a", header=not self._started, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self._started = True

    def close(self, empty: pd.DataFrame) -> None:
        if not self._started:
            self.write(empty)
        if self._parquet is not None:
            self._parquet.close()


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
) -> FileSummary:
    """Explain every row of ``input_path`` into ``output_path`` and the rejects file."""
    stream = sys.stderr if stream is None else stream
    rejects_path = rejects_path or rejects_path_for(output_path)
    names = [str(n) for n in explained.feature_names_in_]
    engine = explained._ensure_built()
    text_columns = [c.name for c in engine.schema.columns if c.kind == "categorical"]
    out = _Writer(output_path)
    rej = _Writer(rejects_path)
    bar = _Progress(stream, stream.isatty() if progress is None else progress)
    rows = explained_n = rejected_n = 0
    start = time.perf_counter()
    columns_out: list[str] = []
    try:
        for chunk in _chunks(input_path, chunk_size, text_columns, sep):
            missing_ids = [c for c in id_columns if c not in chunk.columns]
            if missing_ids:
                raise InputError(f"The id column(s) {missing_ids} are not in {input_path.name}.")
            chunk.index = pd.RangeIndex(rows, rows + len(chunk))
            batch = explained.explain(chunk[names] if _has(chunk, names) else chunk,
                                      on_error="skip") if len(chunk) else None  # fmt: skip
            if batch is not None:
                table = batch.to_crm(crm_fields)
                for name in reversed(id_columns):
                    table.insert(0, name, chunk.loc[table.index, name].to_numpy())
                contrib = pd.DataFrame(
                    batch.attributions,
                    index=table.index,
                    columns=[f"contrib_{n}" for n in batch.feature_names],
                )
                hidden = [f"contrib_{h}" for h in batch.hidden]
                table = pd.concat([table, contrib.drop(columns=hidden)], axis=1)
                table.insert(len(id_columns), "row", table.index)
                out.write(table)
                columns_out = list(table.columns)
                explained_n += len(table)
                bad = batch.rejected
                if bad:
                    positions = [rows + r.row for r in bad]
                    rejected = chunk.loc[positions].copy()
                    rejected.insert(0, "row", positions)
                    rejected["reject_column"] = [r.column for r in bad]
                    rejected["reject_problem"] = [r.problem for r in bad]
                    rej.write(_drop_hidden(rejected, batch.hidden))
                    rejected_n += len(bad)
            rows += len(chunk)
            bar.update(rows)
    except InputError:
        raise
    finally:
        bar.close()
        out.close(pd.DataFrame(columns=columns_out or ["row"]))
        rej.close(pd.DataFrame(columns=["row", "reject_column", "reject_problem"]))
    if explained_n + rejected_n != rows:  # pragma: no cover - an invariant, checked loudly
        raise RuntimeError(
            f"{rows} rows read but {explained_n} explained and {rejected_n} rejected"
        )
    return FileSummary(rows, explained_n, rejected_n, time.perf_counter() - start,
                       output_path, rejects_path)  # fmt: skip


def _has(chunk: pd.DataFrame, names: list[str]) -> bool:
    return all(n in chunk.columns for n in names)


def _drop_hidden(frame: pd.DataFrame, hidden: frozenset[str]) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c in hidden])
