"""SQLite storage of the audit chain.

One table of records (the canonical JSON of each, plus copies of ``seq``, ``time``,
``lead_id`` and ``hash`` as indexed columns) and one of metadata (the purge anchor).

Durability and concurrency:

- Group commit (see ``_audit_group``): the appends queued by the threads of one process
  are written by one ``BEGIN IMMEDIATE`` transaction, which reads the head, numbers, hashes
  and inserts them all. SQLite lets one such transaction run at a time across all
  processes, so two writers can never both extend the same head (fork the chain). Others
  wait up to ``busy_timeout``: explainscore's writers queue on an ``flock`` of
  ``<log>-lock`` first (handed over at once, where SQLite's wait sleeps for milliseconds).
  The head is read again only when SQLite's ``data_version`` shows that another connection
  committed since this one's last commit; otherwise it is the record this one wrote last.
- WAL journal with ``synchronous=NORMAL``: a commit writes the WAL but does not sync it.
  With ``durability="full"`` the committer then syncs the WAL file itself, outside the write
  lock, under an ``flock`` on ``<log>-sync``; that file remembers (per chain) the sequence
  number through which the log is known to be on disk, so one ``fsync`` covers every
  transaction committed before it, from any process, and a caller whose records are already
  covered returns without syncing. With ``durability="os"`` a commit in the OS's page cache
  is acknowledged (survives ``kill -9``, not a power loss).
- Readers never block the writer.
- ``secure_delete`` is on, so purged records are overwritten, not just unlinked, and the WAL
  is checkpointed and truncated after a purge.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ._audit_canon import parse_utc, utc_text
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
from ._audit_turn import WriterTurn

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
_INSERT = "INSERT INTO audit_records (seq, time, lead_id, hash, record) VALUES (?, ?, ?, ?, ?)"
_SYNC_STATE = 86  # bytes: 64 hex digits of the genesis hash, a space, 20 digits, a newline


class SqliteStore:
    """The chain in an SQLite database at ``path``."""

    def __init__(
        self, path: Path, *, busy_timeout: float, clock: Clock, durability: str = "full"
    ) -> None:
        self.path = path
        self._timeout = busy_timeout
        self._clock = clock
        self._full = durability == "full"
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._ready = False
        self._genesis: str | None = None
        self._last: tuple[int, bytes, str] | None = None  # (seq, bytes, hash) written last
        # (data_version, seq, hash) after this connection's last commit: while no other
        # connection has committed since (SQLite's data_version is unchanged), the head is
        # the record this connection wrote last and needs no reading.
        self._known: tuple[int, int, str] | None = None
        # The sync step has its own connection (to read the committed head) and lock: it
        # runs without the write lock, so other processes commit meanwhile.
        self._sync_lock = threading.Lock()
        self._sync_conn: sqlite3.Connection | None = None
        self._sync_fd = -1
        self._sync_pid = 0
        # Writers of this log (any process) take turns before their transaction.
        self._turn = WriterTurn(path, busy_timeout)
        self._dir_synced = False
        self._group = GroupCommitter()
        #: Counters for tests and benchmarks: records appended, transactions, fsyncs, and
        #: sync steps that found their records already synced (by another thread or process).
        self.stats = {"appends": 0, "commits": 0, "syncs": 0, "shared_syncs": 0}

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
            # NORMAL: a commit writes the WAL without syncing it; "full" syncs it after the
            # commit (see _sync), once for a whole group. The database file and the WAL
            # header are still synced at checkpoints, so a crash never corrupts the log.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            raise AuditLogError(f"Cannot open the audit log {str(self.path)!r}: {exc}") from None
        self._conn, self._pid, self._ready = conn, os.getpid(), False
        self._genesis, self._last, self._known = None, None, None
        return conn

    def _writable(self) -> sqlite3.Connection:
        if self._ready and self._conn is not None and self._pid == os.getpid():
            return self._conn  # set up already
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
        self._begin(conn, immediate=immediate)
        try:
            yield
        except BaseException:
            _rollback(conn)
            raise
        if not immediate:
            _rollback(conn)  # a read snapshot has nothing to commit
            return
        self._commit(conn)

    def _begin(self, conn: sqlite3.Connection, *, immediate: bool = True) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise AuditLogError(
                f"The audit log {str(self.path)!r} is busy or locked ({exc}); nothing was written."
            ) from None

    def _commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise AuditLogError(f"The audit log {str(self.path)!r}: commit failed: {exc}") from None

    # -- Store -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, batch: Sequence[Fields]) -> list[AuditReceipt]:
        # Encoded before the write lock: the lock covers only what needs the chain's head.
        prepared = [prepare_event(fields) for fields in batch]
        return self._group.submit(prepared, self._commit_group, self._sync if self._full else None)

    def _commit_group(self, batches: list[Sequence[PreparedEvent]]) -> Commit:
        """One transaction for every queued batch: read the head once, chain them all."""
        outcomes: list[Outcome] = []
        with self._lock:
            conn = self._writable()
            known, self._known = self._known, None  # set again only once this commits
            # The turn and the transaction by hand, not as context managers: on an append of
            # a few hundred microseconds their own cost showed.
            turn = self._turn.take()
            try:
                self._begin(conn)
                try:
                    version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                    if known is not None and known[0] == version:
                        seq, prev = known[1], known[2]
                    else:
                        seq, prev = self._head(conn)
                    rows: list[tuple[Any, ...]] = []
                    for batch in batches:
                        try:
                            built, seq, prev = self._build(batch, seq, prev)
                        except Exception as exc:
                            outcomes.append(exc)
                            continue
                        rows.extend(row for row, _ in built)
                        outcomes.append([receipt for _, receipt in built])
                    if len(rows) == 1:
                        conn.execute(_INSERT, rows[0])
                    elif rows:
                        conn.executemany(_INSERT, rows)
                    if self._genesis is None:
                        first = conn.execute(
                            "SELECT hash FROM audit_records WHERE seq = 0"
                        ).fetchone()
                        self._genesis = None if first is None else _text(first[0])
                except BaseException:
                    _rollback(conn)
                    raise
                self._commit(conn)
            finally:
                self._turn.give(turn)
            if rows:
                last = rows[-1]
                self._last = (int(last[0]), str(last[4]).encode(), str(last[3]))
            self._known = (version, seq, prev)
            self.stats["commits"] += 1
            self.stats["appends"] += len(rows)
            return Commit(outcomes, (self._genesis, seq))

    def _build(
        self, batch: Sequence[PreparedEvent], seq: int, prev: str
    ) -> tuple[list[tuple[tuple[Any, ...], AuditReceipt]], int, str]:
        built = []
        for event in batch:
            when = utc_text(self._clock())
            prev, raw = seal_prepared(event, seq + 1, prev, when)
            seq += 1
            row = (seq, when, event.fields["lead_id"], prev, raw.decode())
            built.append((row, AuditReceipt(seq=seq, record_hash=prev)))
        return built, seq, prev

    # -- the sync step (durability="full") ---------------------------------------------------

    def _sync(self, token: object) -> None:
        """Make the log durable through the sequence number in ``token``: one ``fsync`` of
        the WAL, unless a sync (in any process) that started after it was committed has
        already covered it."""
        genesis, seq = _sync_token(token)
        if self._sync_pid not in (0, os.getpid()):
            self._sync_lock = threading.Lock()  # a parent's thread may have held it at the fork
        try:
            with self._sync_lock:
                fd = self._sync_file()
                fcntl.flock(fd, fcntl.LOCK_EX)  # held only for one fsync by anyone
                try:
                    # Everything committed up to the head read now is in the WAL (or in the
                    # database file, synced by the checkpoint that moved it): one fsync after
                    # this read covers all of it, whoever committed it.
                    head = max(seq, self._committed_head())
                    if self._synced_through(fd, genesis, head) >= seq:
                        self.stats["shared_syncs"] += 1
                        return
                    self._fsync_wal()
                    self.stats["syncs"] += 1
                    state = f"{genesis or '-' * 64} {head:020d}\n".encode("ascii")
                    os.pwrite(fd, state, 0)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except (OSError, sqlite3.Error) as exc:
            raise AuditLogError(
                f"Syncing the audit log {str(self.path)!r} failed ({exc}); the records were "
                "not acknowledged."
            ) from None

    def _sync_file(self) -> int:
        if self._sync_pid != os.getpid():
            # Not shared with a parent process: an inherited descriptor shares its flock.
            if self._sync_fd >= 0:
                os.close(self._sync_fd)  # the parent's stays open, and its lock with it
            if self._sync_conn is not None:
                _INHERITED.append(self._sync_conn)
            self._sync_fd, self._sync_conn, self._dir_synced = -1, None, False
            self._sync_pid = os.getpid()
        if self._sync_fd < 0:
            name = self.path.with_name(self.path.name + "-sync")
            self._sync_fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._sync_fd

    def _synced_through(self, fd: int, genesis: str | None, head: int) -> int:
        state = os.pread(fd, _SYNC_STATE, 0)
        if genesis is None or len(state) != _SYNC_STATE or state[:64] != genesis.encode():
            return -1  # another chain (the log was replaced), or no sync yet
        try:
            done = int(state[65:85])
        except ValueError:
            return -1
        # Ahead of the log itself: the state is stale (say a backup was restored). Ignore it.
        return done if done <= head else -1

    def _committed_head(self) -> int:
        if self._sync_conn is None:
            self._sync_conn = sqlite3.connect(
                str(self.path), timeout=self._timeout, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
        row = self._sync_conn.execute("SELECT max(seq) FROM audit_records").fetchone()
        return -1 if row is None or row[0] is None else int(row[0])

    def _fsync_wal(self) -> None:
        # Only the WAL is opened here, never the database file: closing a descriptor of a
        # file drops every POSIX lock this process holds on it, SQLite's included. (SQLite
        # keeps its WAL locks in the -shm file, not in the WAL.)
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            # The last connection closed, checkpointed everything into the database file,
            # synced it and deleted the WAL: what was committed is on disk already.
            fd = -1
        if fd >= 0:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if not self._dir_synced:
            # The WAL (and the log) were created by this or another process: their names
            # in the directory must be durable too, once.
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self._dir_synced = True

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
        if self._last is not None and self._last[0] == seq and self._last[1] == text:
            # The very bytes this connection wrote and sealed last: no need to hash them again.
            head_hash = self._last[2]
        else:
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            # Never extend a chain whose head does not verify: the new record would vouch
            # for it.
            if not isinstance(record, dict) or not sealed_hash_ok(record) or record["seq"] != seq:
                raise AuditLogError(
                    f"The last record ({seq}) of the audit log {str(self.path)!r} is damaged; "
                    "nothing was written. Run verify."
                )
            head_hash = str(record["hash"])
        anchor = self._anchor(conn)
        if anchor is not None and anchor[0] < 0:
            raise AuditLogError(
                f"The purge anchor of the audit log {str(self.path)!r} is damaged; nothing was "
                "written. Run verify."
            )
        if anchor is not None and anchor[0] > seq:
            return anchor
        return seq, head_hash

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
            self._known = None  # the purge moves the head with no data_version change
            with self._turn.hold(), self._transaction(conn, immediate=True):
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
                receipt = self._append_in(conn, make_fields(details))
                genesis = conn.execute("SELECT hash FROM audit_records WHERE seq = 0").fetchone()
            if self._full:
                self._sync((_text(genesis[0]), receipt.seq))
            # Push the purge into the main file and empty the WAL, which still held old pages.
            self._retry(lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
            return count

    def repair(self) -> int:
        return 0  # a transaction either committed or left no trace: nothing to repair

    def __del__(self) -> None:
        # Python's sqlite3 connections sit in reference cycles of their own, so without this
        # they stay open until the cycle collector runs, and a process forked meanwhile
        # inherits them: if the child's collector then closed one, SQLite could take it for
        # the last connection and checkpoint and delete the WAL under a live writer.
        with suppress(Exception):
            here = os.getpid()
            if self._pid in (0, here) and self._sync_pid in (0, here):
                self.close()  # nothing else can hold the locks of an unreferenced store
            else:
                # Inherited through a fork: never closed here, and no lock taken (a parent's
                # thread may have held one at the fork).
                _INHERITED.extend(c for c in (self._conn, self._sync_conn) if c is not None)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            elif self._conn is not None:
                _INHERITED.append(self._conn)
            self._conn = None
            self._turn.close()
        with self._sync_lock:
            if self._sync_pid == os.getpid():
                if self._sync_conn is not None:
                    self._sync_conn.close()
                if self._sync_fd >= 0:
                    os.close(self._sync_fd)
            elif self._sync_conn is not None:
                _INHERITED.append(self._sync_conn)
            self._sync_conn, self._sync_fd, self._sync_pid = None, -1, 0


def _sync_token(token: object) -> tuple[str | None, int]:
    """(genesis hash, last sequence number) of a committed group."""
    assert isinstance(token, tuple)
    genesis, seq = token
    return (None if genesis is None else str(genesis)), int(seq)


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
