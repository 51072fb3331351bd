"""Writers of one audit log take turns: an ``flock`` of ``<log>-lock`` around each transaction.

SQLite keeps two transactions from writing at once by itself, but a writer that finds its
lock taken sleeps 1, 2, 5, 10... ms between tries, about ten times as long as a group's
transaction holds the lock: processes appending at once spent most of their time asleep.
An ``flock`` is handed to the next writer the moment it is released. Writers that do not
take it (another program, an older explainscore) are still kept out by SQLite's lock: the
turn only orders explainscore's own.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._audit_errors import AuditLogError

__all__ = ["WriterTurn"]

_FIRST_WAIT, _LONGEST_WAIT = 2e-5, 1e-3  # seconds between tries while another writer holds it


class WriterTurn:
    """The turn of one process's writers on the log at ``path`` (``<path>-lock``).

    The descriptor is this process's own: after a fork the child opens its own (an inherited
    one would share the parent's lock).
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path.with_name(path.name + "-lock")
        self._log = path
        self._timeout = timeout
        self._fd = -1
        self._pid = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for the turn (at most ``timeout`` seconds, then :class:`AuditLogError`)."""
        fd = self.take()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def take(self) -> int:
        """:meth:`hold` without the context manager (whose own cost showed on every append):
        wait for the turn and return the descriptor to pass to :meth:`give`."""
        fd = self._file()
        delay, deadline = _FIRST_WAIT, 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if not deadline:
                    deadline = now + self._timeout
                elif now > deadline:
                    raise AuditLogError(
                        f"The audit log {str(self._log)!r} is busy (another writer held it "
                        f"for {self._timeout:g} s); nothing was written."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, _LONGEST_WAIT)
        return fd

    @staticmethod
    def give(fd: int) -> None:
        """End the turn taken by :meth:`take`."""
        fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int:
        if self._pid != os.getpid():
            if self._fd >= 0:
                os.close(self._fd)  # inherited: the parent's stays open, its lock with it
            self._fd, self._pid = -1, os.getpid()
        if self._fd < 0:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise AuditLogError(
                    f"Cannot open the lock file of the audit log {str(self._log)!r}: {exc}"
                ) from None
        return self._fd

    def close(self) -> None:
        """Close this process's descriptor (the turn can be taken again afterwards)."""
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0
