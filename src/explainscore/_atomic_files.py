"""Output files that appear whole or not at all.

A file is written to a temporary beside its final path (a unique hidden name, created with
``O_EXCL``), synced, and renamed over the final path only on :meth:`commit`; :meth:`discard`
removes it. A failed or stopped run therefore leaves any earlier file exactly as it was, and
never a partial file at the final path (``kill -9`` may leave a temporary, nothing more).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FrameWriter", "Temporary", "write_atomically"]


class Temporary:
    """A new file beside ``final``, renamed over it by :meth:`commit` or removed by
    :meth:`discard`. Its name is unique (pid and random), so concurrent runs never meet."""

    def __init__(self, final: Path) -> None:
        self.final = final
        folder = final.parent if str(final.parent) else Path(".")
        if not folder.is_dir():
            raise FileNotFoundError(2, "No such directory", str(folder))
        while True:
            name = f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            self.path = folder / name
            try:
                # O_EXCL: never reuse or follow an existing file; the mode is the usual one
                # (0666 less the umask), as the final file would have had.
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            break
        self.handle: io.BufferedWriter | None = os.fdopen(fd, "wb")

    def commit(self) -> None:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.handle = None
        os.replace(self.path, self.final)
        with contextlib.suppress(OSError):  # best effort: make the rename itself durable
            dir_fd = os.open(self.final.parent if str(self.final.parent) else ".", os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):
                self.handle.close()
            self.handle = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary renamed over it on success."""
    tmp = Temporary(path)
    try:
        assert tmp.handle is not None
        tmp.handle.write(text.encode("utf-8"))
        tmp.commit()
    except BaseException:
        tmp.discard()
        raise


class FrameWriter:
    """Appends frames to a CSV or Parquet temporary, chunk by chunk; commit renames it.

    ``kind`` is ``"csv"`` (``.gz``: compressed) or ``"parquet"``.
    """

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._tmp = Temporary(path)
        self._text: io.TextIOWrapper | None = None
        self._gzip: gzip.GzipFile | None = None
        self._parquet: Any = None
        self.started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            if self._text is None:
                raw: Any = self._tmp.handle
                if self.path.suffix.lower() == ".gz":
                    self._gzip = gzip.GzipFile(fileobj=raw, mode="wb")
                    raw = self._gzip
                self._text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            frame.to_csv(self._text, header=not self.started, index=False, lineterminator="\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._tmp.handle, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self.started = True

    def commit(self, empty: pd.DataFrame) -> None:
        if not self.started:
            self.write(empty)
        if self._text is not None:
            self._text.flush()
            self._text.detach()  # keep the file open for the fsync in commit
        if self._gzip is not None:
            self._gzip.close()  # writes the gzip trailer; the file itself stays open
        if self._parquet is not None:
            self._parquet.close()
        self._tmp.commit()

    def discard(self) -> None:
        # Close the layers first, so that nothing flushes into a closed file later.
        for layer in (self._parquet, self._text, self._gzip):
            if layer is not None:
                with contextlib.suppress(Exception):
                    layer.close()
        self._tmp.discard()
