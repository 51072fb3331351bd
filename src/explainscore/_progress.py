"""What the command line tells a person while it works: a progress bar, notes, timings.

Everything here goes to stderr, never into an output file or stdout (a command's stdout may be
piped into another program). How much is said follows the global ``-q`` / ``-v`` flags:

* ``-q`` (quiet, level -1): errors only; no bar, no notes, no summary line.
* default (level 0): a progress bar on a terminal, notes worth acting on, the summary.
* ``-v`` (verbose, level 1): also the stages of the run and how long each took.

The bar is drawn by ``tqdm``, imported only when a bar is shown (stderr is a terminal and the
run lasts long enough to need one), so piped and scripted runs never import it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

__all__ = ["QUIET", "VERBOSE", "Console", "Progress"]

QUIET = -1
NORMAL = 0
VERBOSE = 1
#: Seconds before the bar appears: a run shorter than this never shows one.
BAR_DELAY = 0.5
#: Seconds between two redraws of the bar (tqdm's ``mininterval``).
REDRAW_INTERVAL = 0.2


class Console:
    """Notes and stage timings on stderr, at the run's verbosity.

    Parameters
    ----------
    verbosity : int
        ``QUIET`` (-1), 0 or ``VERBOSE`` (1).
    stream : TextIO, optional
        Where to write; stderr by default.
    """

    def __init__(self, verbosity: int = NORMAL, stream: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self.stream = sys.stderr if stream is None else stream
        self._start = time.perf_counter()

    @property
    def quiet(self) -> bool:
        """Whether only errors are to be shown."""
        return self.verbosity <= QUIET

    def note(self, message: str) -> None:
        """Something the user may want to act on (shown unless ``-q``)."""
        if self.verbosity > QUIET:
            self.stream.write(f"explainscore: note: {message}\n")
            self.stream.flush()

    def stage(self, message: str) -> None:
        """A step of the run with the time since the start (shown with ``-v`` only)."""
        if self.verbosity >= VERBOSE:
            elapsed = time.perf_counter() - self._start
            self.stream.write(f"explainscore: [{elapsed:7.2f} s] {message}\n")
            self.stream.flush()


class Progress:
    """A progress bar with total, rate and time left, or nothing.

    ``total`` is in the units ``done`` is counted in: bytes of a CSV file (reading position
    against file size: counting its rows first would read the file twice), or rows of a
    Parquet file (its metadata knows). The bar always shows rows and rows per second.

    Parameters
    ----------
    stream : TextIO
        Where the bar is drawn (stderr).
    enabled : bool
        Whether to draw at all (a terminal, and not ``-q``).
    total : int or None
        The size of the whole job in ``done`` units; ``None`` when unknown (no time left).
    in_bytes : bool
        Whether ``done`` and ``total`` count bytes rather than rows.
    """

    def __init__(self, stream: TextIO, *, enabled: bool, total: int | None, in_bytes: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.total = total if total else None
        self.in_bytes = in_bytes
        self._bar: Any = None
        self._start = time.perf_counter()

    def update(self, rows: int, done: int) -> None:
        """Record progress: ``rows`` rows handled, ``done`` units of ``total``."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self._start
        if self._bar is None and elapsed < BAR_DELAY:
            return
        text = f"{rows:,} rows, {rows / max(elapsed, 1e-9):,.0f} rows/s"
        done = min(done, self.total or done)
        if self._bar is None:
            self._bar = self._open(text, done)  # its first frame already shows this point
            return
        self._bar.set_description_str(text, refresh=False)
        self._bar.update(max(0, done - self._bar.n))

    def _open(self, text: str, done: int) -> Any:
        import importlib

        tqdm: Any = importlib.import_module("tqdm").tqdm  # no type stubs: used as Any

        # Percent and time left come from the total; rows and rows/s are written by us (the
        # description), so the byte count of a CSV is never shown as if it were rows.
        bar_format = (
            "{percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}]"
            if self.total
            else "{desc} [{elapsed}]"
        )
        return tqdm(
            total=self.total,
            desc=text,
            file=self.stream,
            bar_format=bar_format,
            # Follow the terminal's size; a terminal that reports none (0 x 0, as some CI
            # ptys do; tqdm then draws nothing) gets 100 x 24 rather than no bar at all.
            dynamic_ncols=_width(self.stream) is None,
            ncols=_width(self.stream),
            nrows=None if _width(self.stream) is None else 24,
            mininterval=REDRAW_INTERVAL,
            leave=False,
            initial=done,
        )

    def close(self) -> None:
        """Remove the bar (the summary line follows it)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _width(stream: TextIO) -> int | None:
    """``None`` when ``stream`` is a terminal that knows its width, else a fixed width."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 100
    return None if columns > 0 else 100
