"""JSON Lines storage of the audit chain: one record per line, exactly its canonical JSON.

Line 1 is the genesis record; after a purge, line 2 is the anchor
``{"kind":"anchor","purged_hash":...,"purged_through":N}``; then the event records.

Durability and concurrency:

- Every write holds an exclusive ``flock`` on the file (waiting up to ``busy_timeout``); the
  head is read, the record hashed and written, and the file ``fsync``-ed before the lock is
  released and the receipt returned. An append never reads the whole file: only its tail.
- Group commit (see ``_audit_group``): the appends queued by the threads of one process are
  written under one hold of the lock, in one ``write`` and one ``fsync``. The sync stays
  inside the lock, so at most the last write of the file is ever unsynced: a power loss can
  leave only a torn final line, never a hole before complete lines.
- A crash (power loss, ``kill -9``) can leave an incomplete last line. It was never
  acknowledged, since the fsync had not returned. Verification reports it as ``torn_tail``,
  not as tampering; the next append, or :meth:`repair`, cuts it off and records a
  ``log_repair`` event with its length and SHA-256 so the cut stays visible.
- A purge writes a new file and renames it over the old one; writers that opened the old
  file notice (the inode changed) and reopen.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from ._audit_canon import canonical_json, parse_utc, utc_text
from ._audit_chain import (
    ChainVerifier,
    PreparedEvent,
    make_event,
    new_genesis,
    prepare_event,
    seal,
    seal_prepared,
    sealed_hash_ok,
)
from ._audit_errors import AuditLogError
from ._audit_group import Commit, GroupCommitter, Outcome
from ._audit_models import AuditReceipt
from ._audit_store import Clock, Fields

__all__ = ["JsonlStore"]

_CHUNK = 1 << 16
_ANCHOR_KEYS = frozenset({"kind", "purged_through", "purged_hash"})


class JsonlStore:
    """The chain in a JSON Lines file at ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float,
        clock: Clock,
        repair_fields: Callable[[Mapping[str, Any]], Fields],
    ) -> None:
        self.path = path
        self._timeout = busy_timeout
        self._clock = clock
        self._repair_fields = repair_fields
        self._lock = threading.RLock()
        self._group = GroupCommitter()
        #: Counters for tests and benchmarks: records appended, locked writes, fsyncs.
        self.stats = {"appends": 0, "commits": 0, "syncs": 0, "shared_syncs": 0}

    # -- locking -----------------------------------------------------------------------------

    @contextmanager
    def _locked(self, *, exclusive: bool, create: bool = False) -> Iterator[int]:
        flags = (os.O_RDWR | os.O_APPEND if exclusive else os.O_RDONLY) | os.O_CLOEXEC
        if create:
            flags |= os.O_CREAT
        deadline = time.monotonic() + self._timeout
        with self._lock:
            while True:
                try:
                    fd = os.open(self.path, flags, 0o600)
                except FileNotFoundError:
                    raise AuditLogError(f"There is no audit log at {str(self.path)!r}.") from None
                except OSError as exc:
                    raise AuditLogError(f"Cannot open the audit log: {exc}") from None
                try:
                    self._flock(fd, exclusive, deadline)
                    same = self._is_current(fd)
                except BaseException:
                    os.close(fd)
                    raise
                if same:
                    break
                # A purge replaced the file while we waited: lock the new one instead.
                os.close(fd)
            try:
                yield fd
            finally:
                os.close(fd)  # closing releases the flock

    def _flock(self, fd: int, exclusive: bool, deadline: float) -> None:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, mode)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AuditLogError(
                        f"The audit log {str(self.path)!r} stayed locked for more than "
                        f"{self._timeout:g} s; nothing was written."
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)

    def _is_current(self, fd: int) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)

    # -- Store -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, batch: Sequence[Fields]) -> list[AuditReceipt]:
        # Encoded before the file lock: the lock covers only what needs the chain's head.
        prepared = [prepare_event(fields) for fields in batch]
        return self._group.submit(prepared, self._commit_group)

    def _commit_group(self, batches: list[Sequence[PreparedEvent]]) -> Commit:
        outcomes: list[Outcome] = []
        with self._locked(exclusive=True, create=True) as fd:
            seq, prev, _ = self._prepare(fd)
            lines: list[bytes] = []
            for batch in batches:
                # A caller's batch is built whole before anything is written: a bad event
                # keeps that batch out, and only that one.
                built: list[bytes] = []
                receipts: list[AuditReceipt] = []
                s, p = seq, prev
                try:
                    when = utc_text(self._clock())  # one time for the caller's batch
                    for event in batch:
                        p, raw = seal_prepared(event, s + 1, p, when)
                        s += 1
                        built.append(raw + b"\n")
                        receipts.append(AuditReceipt(seq=s, record_hash=p))
                except Exception as exc:
                    outcomes.append(exc)
                    continue
                seq, prev = s, p
                lines.extend(built)
                outcomes.append(receipts)
            if lines:
                self._write(fd, b"".join(lines))
            self.stats["commits"] += 1
            self.stats["appends"] += len(lines)
        return Commit(outcomes)

    def repair(self) -> int:
        with self._locked(exclusive=True) as fd:
            return self._prepare(fd)[2]

    def _prepare(self, fd: int) -> tuple[int, str, int]:
        """Under the write lock: cut a torn tail (recording it), create the genesis record if
        the file is empty; the head (seq, hash) and the number of bytes cut."""
        size = os.fstat(fd).st_size
        end, last = _tail(fd, size)
        cut = size - end
        fragment = b""
        # The head is checked before anything is changed: a damaged head stops here.
        head = None if last is None else self._head_of(last)
        if cut:
            fragment = os.pread(fd, cut, end)
            self._sync(lambda: os.ftruncate(fd, end), fd)
        if head is None:
            genesis, raw = new_genesis(self._clock())
            self._write(fd, raw + b"\n")
            _fsync_dir(self.path)  # the new file's directory entry must be durable too
            seq, prev = 0, str(genesis["hash"])
        else:
            seq, prev = head
        if cut:
            details = {
                "discarded_bytes": cut,
                "discarded_sha256": hashlib.sha256(fragment).hexdigest(),
            }
            record, raw = seal(
                make_event(self._repair_fields(details), seq + 1, prev, self._clock())
            )
            self._write(fd, raw + b"\n")
            seq, prev = seq + 1, str(record["hash"])
        return seq, prev, cut

    def _head_of(self, line: bytes) -> tuple[int, str]:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("kind") == "anchor":
            anchor = _anchor(line)
            if anchor is not None:
                return anchor
        # Never extend a chain whose head does not verify: the new record would vouch for it.
        elif isinstance(record, dict) and sealed_hash_ok(record):
            return int(record["seq"]), str(record["hash"])
        raise AuditLogError(
            f"The last record of the audit log {str(self.path)!r} is damaged; nothing was "
            "written. Run verify."
        )

    def _write(self, fd: int, data: bytes) -> None:
        start = os.fstat(fd).st_size

        def write() -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

        try:
            self._sync(write, fd)
        except AuditLogError:
            # Best effort: leave no partial line behind (the next append would cut it anyway).
            with suppress(OSError):
                os.ftruncate(fd, start)
            raise

    def _sync(self, action: Callable[[], object], fd: int) -> None:
        try:
            action()
            os.fsync(fd)
            self.stats["syncs"] += 1
        except OSError as exc:
            raise AuditLogError(
                f"Writing the audit log {str(self.path)!r} failed: {exc}; the record was not "
                "acknowledged."
            ) from None

    def _snapshot(self) -> tuple[BinaryIO, int, bytes]:
        """(file, end of the last complete line, bytes after it) under a shared lock.

        Reading the complete lines after the lock is released is safe: lines are only ever
        appended after them, a repair only cuts bytes after them, and a purge replaces the
        file by rename, leaving the open file as it was.
        """
        with self._locked(exclusive=False) as fd:
            size = os.fstat(fd).st_size
            end, _ = _tail(fd, size)
            fragment = os.pread(fd, size - end, end) if end < size else b""
            handle = os.fdopen(os.dup(fd), "rb")
        return handle, end, fragment

    def scan(self, verifier: ChainVerifier) -> bool:
        handle, end, fragment = self._snapshot()
        with handle:
            _scan_lines(_lines(handle, end), verifier)
        if not fragment:
            return False
        if _complete_with_junk(fragment):
            # Not a torn write: a complete record followed by bytes no writer produces.
            verifier.feed(fragment)
            return False
        return True

    def iter_records(self, lead_id: str | None) -> Iterator[dict[str, Any]]:
        handle, end, _ = self._snapshot()
        needle = None if lead_id is None else json.dumps(lead_id).encode()
        with handle:
            for i, line in enumerate(_lines(handle, end)):
                if i == 0 or (needle is not None and needle not in line):
                    continue
                record = json.loads(line)
                if record.get("kind") != "event":
                    continue
                if lead_id is None or record.get("lead_id") == lead_id:
                    yield record

    def purge(self, cutoff: dt.datetime, make_fields: Callable[[Mapping[str, Any]], Fields]) -> int:
        with self._locked(exclusive=True) as fd:
            seq, prev, _ = self._prepare(fd)
            end = os.fstat(fd).st_size
            with os.fdopen(os.dup(fd), "rb") as handle:
                verifier = ChainVerifier()
                _scan_lines(_lines(handle, end), verifier)
                verdict = verifier.finish()
                if not verdict.ok:
                    # Purging would delete the evidence; the log must be looked at first.
                    raise AuditLogError(
                        f"The audit log {str(self.path)!r} does not verify (first bad record "
                        f"{verdict.first_bad}); nothing was purged."
                    )
                handle.seek(0)
                last, count = _old_prefix(_lines(handle, end), cutoff)
                if last is None:
                    return 0
                details = {
                    "purged_through": last[0],
                    "purged_hash": last[1],
                    "purged_count": count,
                    "cutoff": utc_text(cutoff),
                }
                _, raw = seal(make_event(make_fields(details), seq + 1, prev, self._clock()))
                handle.seek(0)
                self._rewrite(handle, end, last, raw)
            return count

    def _rewrite(self, handle: BinaryIO, end: int, last: tuple[int, str], purge: bytes) -> None:
        anchor = canonical_json(
            {"kind": "anchor", "purged_through": last[0], "purged_hash": last[1]}
        )
        temp = self.path.with_name(self.path.name + ".purge-tmp")
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(out, "wb") as sink:
                for i, line in enumerate(_lines(handle, end)):
                    if i == 0:
                        sink.write(line + b"\n" + anchor + b"\n")
                        continue
                    record = json.loads(line)
                    if record.get("kind") == "event" and record["seq"] > last[0]:
                        sink.write(line + b"\n")
                sink.write(purge + b"\n")
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, self.path)
            _fsync_dir(self.path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise AuditLogError(
                f"Purging the audit log failed: {exc}; nothing was purged."
            ) from None

    def close(self) -> None:
        return None  # every operation opens and closes the file itself


def _tail(fd: int, size: int) -> tuple[int, bytes | None]:
    """(offset just past the last newline, the last complete line without it or None)."""
    data = b""
    start = size
    while start > 0:
        step = min(_CHUNK, start)
        start -= step
        data = os.pread(fd, step, start) + data
        last_nl = data.rfind(b"\n")
        if last_nl != -1 and (start == 0 or data.rfind(b"\n", 0, last_nl) != -1):
            break
    last_nl = data.rfind(b"\n")
    if last_nl == -1:
        return 0, None
    before = data.rfind(b"\n", 0, last_nl)
    return start + last_nl + 1, data[before + 1 : last_nl]


def _lines(handle: BinaryIO, end: int) -> Iterator[bytes]:
    """The complete lines in the first ``end`` bytes, without their newlines."""
    pos = handle.tell()
    while pos < end:
        line = handle.readline(end - pos)
        if not line:
            return
        pos += len(line)
        yield line[:-1] if line.endswith(b"\n") else line


def _scan_lines(lines: Iterator[bytes], verifier: ChainVerifier) -> None:
    first = next(lines, None)
    verifier.genesis(first)
    second = next(lines, None)
    if second is not None:
        if second.startswith(b'{"kind":"anchor"'):
            anchor = _anchor(second)
            if anchor is None:
                verifier.anchor(-1, "")  # reported as a damaged anchor
            else:
                verifier.anchor(*anchor)
        else:
            verifier.feed(second)
    for line in lines:
        verifier.feed(line)


def _anchor(line: bytes) -> tuple[int, str] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != _ANCHOR_KEYS:
        return None
    through, digest = data["purged_through"], data["purged_hash"]
    if canonical_json(data) != line or not isinstance(through, int) or not isinstance(digest, str):
        return None
    return through, digest


def _old_prefix(lines: Iterator[bytes], cutoff: dt.datetime) -> tuple[tuple[int, str] | None, int]:
    """The last record of the run of oldest records stamped before ``cutoff``, and how many."""
    last: tuple[int, str] | None = None
    count = 0
    for line in lines:
        record = json.loads(line)
        if record.get("kind") != "event":
            continue
        if parse_utc(record["time"]) >= cutoff:
            break
        last = (int(record["seq"]), str(record["hash"]))
        count += 1
    return last, count


def _complete_with_junk(fragment: bytes) -> bool:
    try:
        _, stop = json.JSONDecoder().raw_decode(fragment.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False  # a prefix of a record: what a crash mid-write leaves
    return stop < len(fragment.decode("utf-8"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
