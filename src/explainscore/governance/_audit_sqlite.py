"""SQLite storage of the audit chain.

One table of records (the canonical JSON of each, plus copies of ``seq``, ``time``,
``lead_id`` and ``hash`` as indexed columns) and one of metadata (the purge anchor).

Durability and concurrency:

- WAL journal with ``synchronous=FULL``: a commit is on disk before it returns, and readers
  never block the writer.
- An append reads the head, hashes and inserts inside one ``BEGIN IMMEDIATE`` transaction:
  SQLite lets one such transaction run at a time across all processes, so two writers can
  never both extend the same head (fork the chain). Others wait up to ``busy_timeout``.
- ``secure_delete`` is on, so purged records are overwritten, not just unlinked, and the WAL
  is checkpointed and truncated after a purge.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ._audit_canon import parse_utc
from ._audit_chain import ChainVerifier, make_event, new_genesis, seal, sealed_hash_ok
from ._audit_errors import AuditLogError
from ._audit_models import AuditReceipt
from ._audit_store import Clock, Fields

__all__ = ["SqliteStore"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_records (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        lead_id TEXT,
        hash TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_records_lead ON audit_records (lead_id) "
    "WHERE lead_id IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_PAGE = 500
_INHERITED: list[sqlite3.Connection] = []


class SqliteStore:
    """The chain in an SQLite database at ``path``."""

    def __init__(self, path: Path, *, busy_timeout: float, clock: Clock) -> None:
        self.path = path
        self._timeout = busy_timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._ready = False

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross a fork: the child would share the parent's file locks.
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None:
            # Inherited from the parent: closing it here could disturb the parent's WAL
            # state, so it is only set aside, never closed or used.
            _INHERITED.append(self._conn)
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=self._timeout,
                isolation_level=None,  # we issue BEGIN / COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock
            )
            conn.text_factory = bytes  # records are verified byte for byte, not decoded first
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            raise AuditLogError(f"Cannot open the audit log {str(self.path)!r}: {exc}") from None
        self._conn, self._pid, self._ready = conn, os.getpid(), False
        return conn

    def _writable(self) -> sqlite3.Connection:
        if not self.path.exists():
            # Owner-only from the start (SQLite gives its -wal and -shm files the same mode).
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        conn = self._connect()
        if not self._ready:
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            with self._transaction(conn, immediate=True):
                for statement in _SCHEMA:
                    conn.execute(statement)
            self._ready = True
        return conn

    def _readable(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise AuditLogError(f"There is no audit log at {str(self.path)!r}.")
        conn = self._connect()
        try:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError:
            raise AuditLogError(f"{str(self.path)!r} is not an SQLite audit log.") from None
        if not {b"audit_records", b"audit_meta"} <= tables:
            raise AuditLogError(f"{str(self.path)!r} is not an explainscore audit log.")
        return conn

    def _retry(self, action: Callable[[], object]) -> None:
        # Switching to WAL needs a moment of exclusive access, which the busy handler does not
        # always wait for (another process may be creating the same log right now).
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise AuditLogError(f"The audit log {str(self.path)!r}: {exc}") from None
                time.sleep(0.01)

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, *, immediate: bool) -> Iterator[None]:
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise AuditLogError(
                f"The audit log {str(self.path)!r} is busy or locked ({exc}); nothing was written."
            ) from None
        try:
            yield
        except BaseException:
            _rollback(conn)
            raise
        if not immediate:
            _rollback(conn)  # a read snapshot has nothing to commit
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise AuditLogError(f"The audit log {str(self.path)!r}: commit failed: {exc}") from None

    # -- Store -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, batch: Sequence[Fields]) -> list[AuditReceipt]:
        with self._lock:
            conn = self._writable()
            with self._transaction(conn, immediate=True):
                return [self._append_in(conn, fields) for fields in batch]

    def _append_in(self, conn: sqlite3.Connection, fields: Fields) -> AuditReceipt:
        seq, prev = self._head(conn)
        record, raw = seal(make_event(fields, seq + 1, prev, self._clock()))
        conn.execute(
            "INSERT INTO audit_records (seq, time, lead_id, hash, record) VALUES (?, ?, ?, ?, ?)",
            (record["seq"], record["time"], record["lead_id"], record["hash"], raw.decode()),
        )
        return AuditReceipt(seq=record["seq"], record_hash=record["hash"])

    def _head(self, conn: sqlite3.Connection) -> tuple[int, str]:
        """(seq, hash) that the next record follows; creates the genesis record if needed."""
        row = conn.execute(
            "SELECT seq, record FROM audit_records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            genesis, raw = new_genesis(self._clock())
            conn.execute(
                "INSERT INTO audit_records (seq, time, lead_id, hash, record) "
                "VALUES (0, ?, NULL, ?, ?)",
                (genesis["time"], genesis["hash"], raw.decode()),
            )
            return 0, str(genesis["hash"])
        seq, text = int(row[0]), bytes(row[1])
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        # Never extend a chain whose head does not verify: the new record would vouch for it.
        if not isinstance(record, dict) or not sealed_hash_ok(record) or record["seq"] != seq:
            raise AuditLogError(
                f"The last record ({seq}) of the audit log {str(self.path)!r} is damaged; "
                "nothing was written. Run verify."
            )
        anchor = self._anchor(conn)
        if anchor is not None and anchor[0] < 0:
            raise AuditLogError(
                f"The purge anchor of the audit log {str(self.path)!r} is damaged; nothing was "
                "written. Run verify."
            )
        if anchor is not None and anchor[0] > seq:
            return anchor
        return seq, str(record["hash"])

    def _anchor(self, conn: sqlite3.Connection) -> tuple[int, str] | None:
        meta = dict(
            conn.execute(
                "SELECT key, value FROM audit_meta WHERE key IN ('purged_through', 'purged_hash')"
            ).fetchall()
        )
        if not meta:
            return None
        try:
            return int(meta[b"purged_through"]), meta[b"purged_hash"].decode("ascii")
        except (KeyError, ValueError, UnicodeDecodeError):
            return -1, ""  # damaged: verify reports it, _head refuses to follow it

    def scan(self, verifier: ChainVerifier) -> bool:
        with self._lock:
            conn = self._readable()
            # One read transaction: a snapshot, however many writers append meanwhile.
            with self._transaction(conn, immediate=False):
                self._scan_in(conn, verifier)
        return False

    def _scan_in(self, conn: sqlite3.Connection, verifier: ChainVerifier) -> None:
        try:
            self._scan_rows(conn, verifier)
        except sqlite3.DatabaseError as exc:
            # SQLite keeps no checksums: an edited page usually reads back as edited records,
            # but a damaged page structure stops the scan. That is a verdict, not a crash.
            verifier.unreadable(f"the database file is damaged here ({exc})")

    def _scan_rows(self, conn: sqlite3.Connection, verifier: ChainVerifier) -> None:
        row = conn.execute("SELECT record FROM audit_records WHERE seq = 0").fetchone()
        verifier.genesis(None if row is None else bytes(row[0]))
        anchor = self._anchor(conn)
        if anchor is not None:
            verifier.anchor(*anchor)
        rows = conn.execute(
            "SELECT seq, time, lead_id, hash, record FROM audit_records WHERE seq > 0 ORDER BY seq"
        )
        for seq, when, lead, digest, record in rows:
            verifier.feed(
                bytes(record),
                {"seq": seq, "time": _text(when), "lead_id": _text(lead), "hash": _text(digest)},
            )

    def iter_records(self, lead_id: str | None) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            # Pages by sequence number rather than one open cursor, so a slow consumer never
            # holds a read transaction (and the WAL) open.
            with self._lock:
                conn = self._readable()
                if lead_id is None:
                    rows = conn.execute(
                        "SELECT seq, record FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?",
                        (after, _PAGE),
                    ).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT seq, record FROM audit_records WHERE seq > ? AND lead_id = ? "
                        "ORDER BY seq LIMIT ?",
                        (after, lead_id, _PAGE),
                    ).fetchall()
            for seq, record in rows:
                after = int(seq)
                yield json.loads(bytes(record))
            if len(rows) < _PAGE:
                return

    def purge(self, cutoff: dt.datetime, make_fields: Callable[[Mapping[str, Any]], Fields]) -> int:
        with self._lock:
            conn = self._writable()
            with self._transaction(conn, immediate=True):
                verifier = ChainVerifier()
                self._scan_in(conn, verifier)
                verdict = verifier.finish()
                if not verdict.ok:
                    # Purging would delete the evidence; the log must be looked at first.
                    raise AuditLogError(
                        f"The audit log {str(self.path)!r} does not verify (first bad record "
                        f"{verdict.first_bad}); nothing was purged."
                    )
                last: tuple[int, str] | None = None
                rows = conn.execute(
                    "SELECT seq, time, hash FROM audit_records WHERE seq > 0 ORDER BY seq"
                )
                for seq, when, digest in rows:
                    if parse_utc(_text(when) or "") >= cutoff:
                        break
                    last = (int(seq), _text(digest) or "")
                rows.close()
                if last is None:
                    return 0
                count = conn.execute(
                    "DELETE FROM audit_records WHERE seq > 0 AND seq <= ?", (last[0],)
                ).rowcount
                conn.executemany(
                    "INSERT OR REPLACE INTO audit_meta (key, value) VALUES (?, ?)",
                    [("purged_through", str(last[0])), ("purged_hash", last[1])],
                )
                details = {
                    "purged_through": last[0],
                    "purged_hash": last[1],
                    "purged_count": count,
                    "cutoff": cutoff.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
                self._append_in(conn, make_fields(details))
            # Push the purge into the main file and empty the WAL, which still held old pages.
            self._retry(lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
            return count

    def repair(self) -> int:
        return 0  # a transaction either committed or left no trace: nothing to repair

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            elif self._conn is not None:
                _INHERITED.append(self._conn)
            self._conn = None


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back on its own (after some errors); that is fine.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
