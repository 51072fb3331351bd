"""Retention: purge deletes the oldest records, keeps the rest verifiable from a purge anchor
covered by the chain, and really removes the data; tampering with the anchor shows."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from explainscore.governance._audit import AuditLog, AuditLogError

KEY = b"test-pseudonym-key-0123456789abcdef"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(log_path: Path, clock: Clock) -> AuditLog:
    return AuditLog(log_path, pseudonym_key=KEY, clock=clock)


def _fill_days(log: AuditLog, clock: Clock, days: list[int], per_day: int = 3) -> None:
    for day in days:
        clock.now = T0 + dt.timedelta(days=day)
        for i in range(per_day):
            log.append(
                {"event": "explanation", "lead_id": f"lead-{day}-{i}", "reason": f"day{day:03d}"}
            )


def _stored(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_purge_keeps_the_log_verifiable(log: AuditLog, clock: Clock) -> None:
    _fill_days(log, clock, [0, 10, 20])
    before = log.checkpoint()
    clock.now = T0 + dt.timedelta(days=25)
    assert log.purge(older_than_days=12, actor="dpo@example.com") == 6
    result = log.verify()
    assert result.ok, result.problem
    assert (result.anchor_seq, result.records, result.head_seq) == (6, 4, 10)
    records = list(log.records())
    assert [r["seq"] for r in records] == [7, 8, 9, 10]
    purge = records[-1]
    assert purge["event"] == "purge"
    assert purge["actor"] == "dpo@example.com"
    assert purge["details"]["purged_through"] == 6
    assert purge["details"]["purged_count"] == 6
    # A checkpoint from before the purge still verifies (its record was not purged) ...
    assert log.verify(before).checkpoint_checked
    log.append({"event": "sign_off", "actor": "after"})
    assert log.verify(before).ok
    assert log.verify().head_seq == 11


def test_checkpoint_at_or_before_the_anchor(log: AuditLog, clock: Clock) -> None:
    _fill_days(log, clock, [0])
    early = log.checkpoint()  # seq 3
    _fill_days(log, clock, [10])
    clock.now = T0 + dt.timedelta(days=30)
    assert log.purge(older_than_days=25) == 3
    at_anchor = log.verify(early)
    assert at_anchor.ok
    assert at_anchor.checkpoint_checked  # seq 3 is the anchor: its hash is kept
    clock.now = T0 + dt.timedelta(days=50)
    assert log.purge(older_than_days=15) == 4  # 4..6 and the first purge event (7)
    result = log.verify(early)
    assert result.ok, result.problem
    assert not result.checkpoint_checked  # purged since: only the length can be checked


def test_purge_all_then_continue(log: AuditLog, clock: Clock) -> None:
    _fill_days(log, clock, [0])
    clock.now = T0 + dt.timedelta(days=1)
    assert log.purge(older_than_days=0) == 3
    assert [r["seq"] for r in log.records()] == [4]
    log.append({"event": "explanation"})
    assert log.verify().ok


def test_purge_of_nothing_writes_nothing(log: AuditLog, clock: Clock) -> None:
    _fill_days(log, clock, [0])
    assert log.purge(older_than_days=30) == 0
    result = log.verify()
    assert (result.records, result.anchor_seq) == (3, None)


def test_purge_stops_at_the_first_newer_record(log: AuditLog, clock: Clock) -> None:
    _fill_days(log, clock, [0, 20, 0])  # the clock went back for the third batch
    clock.now = T0 + dt.timedelta(days=30)
    assert log.purge(older_than_days=15) == 3
    assert log.verify().ok


def test_purged_data_is_gone_from_disk(log_path: Path, log: AuditLog, clock: Clock) -> None:
    _fill_days(log, clock, [0, 40])
    old_pseudonym = log.pseudonym("lead-0-1").encode()
    assert b"day000" in _stored(log_path)
    assert old_pseudonym in _stored(log_path)
    clock.now = T0 + dt.timedelta(days=50)
    assert log.purge(older_than_days=30) == 3
    log.close()
    data = _stored(log_path)
    assert b"day000" not in data
    assert old_pseudonym not in data
    assert b"day040" in data
    assert log.subject_access("lead-0-1") == []
    assert len(log.subject_access("lead-40-1")) == 1


def test_a_damaged_log_is_not_purged(log: AuditLog, clock: Clock, tamper: Any) -> None:
    _fill_days(log, clock, [0, 10])
    tamper.edit(2, lambda r: r.update(reason="changed"))
    clock.now = T0 + dt.timedelta(days=30)
    with pytest.raises(AuditLogError, match="first bad record 2"):
        log.purge(older_than_days=5)
    assert len(tamper.read()) == 6


def _set_anchor(path: Path, backend: str, through: int | None, digest: str | None) -> None:
    if backend == "sqlite":
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM audit_meta")
            if through is not None:
                db.execute("INSERT INTO audit_meta VALUES ('purged_through', ?)", (str(through),))
                db.execute("INSERT INTO audit_meta VALUES ('purged_hash', ?)", (digest,))
        return
    lines = path.read_bytes().split(b"\n")[:-1]
    lines = [ln for ln in lines if not ln.startswith(b'{"kind":"anchor"')]
    if through is not None:
        anchor = {"kind": "anchor", "purged_hash": digest, "purged_through": through}
        lines.insert(1, json.dumps(anchor, sort_keys=True, separators=(",", ":")).encode())
    path.write_bytes(b"".join(ln + b"\n" for ln in lines))


def test_anchor_tampering_is_caught(
    log_path: Path, backend: str, log: AuditLog, clock: Clock, tamper: Any
) -> None:
    _fill_days(log, clock, [0, 10, 20])
    clock.now = T0 + dt.timedelta(days=25)
    log.purge(older_than_days=12)
    anchor_hash = log.verify().head_hash
    records = tamper.read()
    purge = json.loads(records[-1])
    assert purge["details"]["purged_through"] == 6
    digest = purge["details"]["purged_hash"]
    assert anchor_hash != digest

    _set_anchor(log_path, backend, None, None)  # anchor removed: records 1..6 look deleted
    result = log.verify()
    assert not result.ok
    assert result.first_bad == 1

    # Records 7 and 8 deleted too, the anchor moved to hide it: the purge event disagrees.
    forged = json.loads(records[1])["hash"]
    _set_anchor(log_path, backend, 8, forged)
    tamper.write(records[2:])
    result = log.verify()
    assert not result.ok
    assert result.first_bad == 9
    assert "does not match purge event" in str(result.problem)

    _set_anchor(log_path, backend, 6, "0" * 64)  # wrong hash: record 7 no longer links
    tamper.write(records)
    result = log.verify()
    assert not result.ok
    assert result.first_bad == 7

    _set_anchor(log_path, backend, 6, digest)
    assert log.verify().ok


def test_purge_parameters(log: AuditLog, clock: Clock) -> None:
    from explainscore.exceptions import ParameterError

    _fill_days(log, clock, [0])
    with pytest.raises(ParameterError):
        log.purge(older_than_days=-1)
    with pytest.raises(ParameterError):
        log.purge(older_than_days="30")  # type: ignore[arg-type]
