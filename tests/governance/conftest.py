"""Fixtures for the audit-log tests: a log per backend, and a tamperer that edits the stored
records directly (as someone with write access to the file would)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from explainscore.governance._audit import AuditLog

AUDIT_KEY = b"test-pseudonym-key-0123456789abcdef"
BACKENDS = ("sqlite", "jsonl")


class Tamperer:
    """Reads and rewrites a log's event records as raw bytes, bypassing AuditLog.

    For SQLite a rewrite renumbers the ``seq`` column by position and copies the other
    columns from each record, so only the records themselves tell the story: the strongest
    attacker short of recomputing hashes.
    """

    def __init__(self, path: Path, backend: str) -> None:
        self.path = path
        self.backend = backend

    def read(self) -> list[bytes]:
        """The event records, in storage order."""
        if self.backend == "jsonl":
            lines = self.path.read_bytes().split(b"\n")[:-1]
            return [ln for ln in lines[1:] if not ln.startswith(b'{"kind":"anchor"')]
        with sqlite3.connect(self.path) as db:
            db.text_factory = bytes
            rows = db.execute("SELECT record FROM audit_records WHERE seq > 0 ORDER BY seq")
            return [bytes(r[0]) for r in rows]

    def write(self, records: list[bytes]) -> None:
        """Replace the event records with ``records`` (the genesis and anchor are kept)."""
        if self.backend == "jsonl":
            lines = self.path.read_bytes().split(b"\n")[:-1]
            keep = [ln for ln in lines if b'"kind":"genesis"' in ln or b'"kind":"anchor"' in ln]
            self.path.write_bytes(b"".join(ln + b"\n" for ln in keep + records))
            return
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.text_factory = bytes
            old = db.execute(
                "SELECT time, lead_id, hash FROM audit_records WHERE seq > 0 ORDER BY seq"
            ).fetchall()
            db.execute("BEGIN")
            db.execute("DELETE FROM audit_records WHERE seq > 0")
            first = 1 + _anchor_seq(db)
            for i, raw in enumerate(records):
                try:
                    rec = json.loads(raw)
                    cols = (rec["time"], rec["lead_id"], rec["hash"])
                except (ValueError, KeyError, TypeError):
                    cols = old[min(i, len(old) - 1)]
                try:
                    value: str | bytes = raw.decode("utf-8")
                except UnicodeDecodeError:
                    value = raw
                db.execute(
                    "INSERT INTO audit_records (seq, time, lead_id, hash, record) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (first + i, *cols, value),
                )
            db.execute("COMMIT")
        finally:
            db.close()

    def edit(self, k: int, change: Callable[[dict[str, object]], None]) -> None:
        """Change record ``k``'s fields in place (canonical form kept, hash not updated)."""
        records = self.read()
        i = self.index(k)
        rec = json.loads(records[i])
        change(rec)
        records[i] = canonical(rec)
        self.write(records)

    def index(self, k: int) -> int:
        """Position of record ``k`` in :meth:`read`."""
        for i, raw in enumerate(self.read()):
            if json.loads(raw)["seq"] == k:
                return i
        raise KeyError(k)


def _anchor_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM audit_meta WHERE key = 'purged_through'").fetchone()
    return 0 if row is None else int(row[0])


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fill(log: AuditLog, n: int) -> None:
    """Append ``n`` small explanation events."""
    for i in range(n):
        log.append(
            {
                "event": "explanation",
                "score": 0.25 + i / 1000,
                "reason": f"Reason {i}",
                "inputs": {"age": 30 + i, "job": "admin."},
                "model_fingerprint": "sha256:" + "ab" * 32,
                "actor": "test",
            }
        )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def log_path(tmp_path: Path, backend: str) -> Path:
    return tmp_path / ("audit.jsonl" if backend == "jsonl" else "audit.db")


@pytest.fixture
def audit_log(log_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(log_path, pseudonym_key=AUDIT_KEY)
    yield log
    log.close()


@pytest.fixture(name="fill")
def fill_fixture() -> Callable[[AuditLog, int], None]:
    return fill


@pytest.fixture(name="canonical")
def canonical_fixture() -> Callable[[object], bytes]:
    return canonical


@pytest.fixture
def tamper(log_path: Path, backend: str) -> Tamperer:
    return Tamperer(log_path, backend)
