"""The chain: every kind of tampering is caught, at the right sequence number, on both
backends; checkpoints catch truncation, rewrites and a different chain."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from explainscore.governance._audit import AuditLog, Checkpoint, VerifyResult
from explainscore.governance._audit_chain import DOMAIN, record_hash

N = 6


def _bad(result: VerifyResult, seq: int | None) -> None:
    assert not result.ok
    assert result.first_bad == seq, result.problem
    assert result.problem


def test_intact_log_verifies(audit_log: AuditLog, fill: Callable[..., None]) -> None:
    fill(audit_log, N)
    result = audit_log.verify()
    assert result.ok, result.problem
    assert (result.records, result.head_seq, result.first_bad) == (N, N, None)
    seqs = [r["seq"] for r in audit_log.records()]
    assert seqs == list(range(1, N + 1))


def test_empty_log_verifies(audit_log: AuditLog, fill: Callable[..., None]) -> None:
    fill(audit_log, 1)
    assert audit_log.verify().ok


@pytest.mark.parametrize("k", [1, 3, N])
def test_changed_field_names_k(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, k: int
) -> None:
    fill(audit_log, N)
    tamper.edit(k, lambda r: r.update(score=0.99))
    _bad(audit_log.verify(), k)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(reason="Approved"),
        lambda r: r.update(actor="someone else"),
        lambda r: r.update(time="2020-01-01T00:00:00.000000Z"),
        lambda r: r.update(prev_hash="0" * 64),
        lambda r: r.update(hash="f" * 64),
        lambda r: r.update(seq=99),
        lambda r: r.pop("actor"),
        lambda r: r.update(extra=1),
    ],
)
def test_any_field_change_names_k(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, change: Callable[..., None]
) -> None:
    fill(audit_log, N)
    tamper.edit(3, change)
    _bad(audit_log.verify(), 3)


def test_every_byte_flip_names_k(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, backend: str
) -> None:
    fill(audit_log, 4)
    if backend == "jsonl":
        # Every byte of record 2's line, its newline included, on the raw file.
        data = tamper.path.read_bytes()
        start = data.index(b"\n", data.index(b"\n") + 1) + 1
        stop = data.index(b"\n", start)
        for pos in range(start, stop + 1):
            tamper.path.write_bytes(data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :])
            result = audit_log.verify()
            assert not result.ok, pos
            assert result.first_bad == 2, (pos, result)
        tamper.path.write_bytes(data)
    else:
        original = tamper.read()
        raw = original[1]
        for pos in range(0, len(raw), 3):  # SQLite rewrites are slower: every third byte
            flipped = raw[:pos] + bytes([raw[pos] ^ 0x01]) + raw[pos + 1 :]
            tamper.write([original[0], flipped, *original[2:]])
            result = audit_log.verify()
            assert not result.ok, pos
            assert result.first_bad == 2, (pos, result)
        tamper.write(original)
    assert audit_log.verify().ok


def test_last_byte_flip_of_last_line_is_tampering_not_a_torn_write(
    tmp_path: Path, fill: Callable[..., None]
) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    fill(log, 3)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + b" ")
    result = log.verify()
    assert not result.torn_tail
    _bad(result, 3)


@pytest.mark.parametrize("k", [1, 3, N])
def test_deleted_record_names_k(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, k: int
) -> None:
    fill(audit_log, N)
    records = tamper.read()
    del records[k - 1]
    tamper.write(records)
    result = audit_log.verify()
    if k == N:
        # Dropping the last record is truncation: only a checkpoint shows it.
        assert result.ok
        assert result.head_seq == N - 1
    else:
        _bad(result, k)


def test_sql_delete_without_renumbering(tmp_path: Path, fill: Callable[..., None]) -> None:
    path = tmp_path / "a.db"
    log = AuditLog(path)
    fill(log, N)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM audit_records WHERE seq = 2")
    _bad(log.verify(), 2)


@pytest.mark.parametrize(
    ("column", "value"),
    [("hash", "e" * 64), ("lead_id", "hmac-sha256:x"), ("time", "2000-01-01T00:00:00.000000Z")],
)
def test_sql_column_edit_is_caught(
    tmp_path: Path, fill: Callable[..., None], column: str, value: str
) -> None:
    path = tmp_path / "a.db"
    log = AuditLog(path)
    fill(log, N)
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE audit_records SET {column} = ? WHERE seq = 4", (value,))
    _bad(log.verify(), 4)


def test_sql_swapped_numbers_are_caught(tmp_path: Path, fill: Callable[..., None]) -> None:
    path = tmp_path / "a.db"
    log = AuditLog(path)
    fill(log, N)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit_records SET seq = -3 WHERE seq = 3")
        db.execute("UPDATE audit_records SET seq = 3 WHERE seq = 4")
        db.execute("UPDATE audit_records SET seq = 4 WHERE seq = -3")
    _bad(log.verify(), 3)


@pytest.mark.parametrize("k", [1, 3, N - 1])
def test_reordered_records_name_k(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, k: int
) -> None:
    fill(audit_log, N)
    records = tamper.read()
    records[k - 1], records[k] = records[k], records[k - 1]
    tamper.write(records)
    _bad(audit_log.verify(), k)


@pytest.mark.parametrize("k", [1, 3, N])
def test_duplicated_record_is_caught_at_the_copy(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, k: int
) -> None:
    fill(audit_log, N)
    records = tamper.read()
    records.insert(k, records[k - 1])
    tamper.write(records)
    result = audit_log.verify()
    _bad(result, k + 1)
    assert f"record {k} appears again" in str(result.problem)


def _forged(after: dict[str, object], canonical: Callable[[object], bytes]) -> bytes:
    """A well-formed record that links to ``after`` and has a correct hash of its own."""
    rec = dict(after)
    rec.update(seq=int(after["seq"]) + 1, prev_hash=after["hash"], reason="forged")
    rec["hash"] = record_hash(rec)
    return canonical(rec)


@pytest.mark.parametrize("k", [1, 3, N])
def test_inserted_record_is_caught(
    audit_log: AuditLog,
    fill: Callable[..., None],
    tamper: Any,
    canonical: Callable[[object], bytes],
    k: int,
) -> None:
    fill(audit_log, N)
    records = tamper.read()
    # A naive insertion (a copy of record k edited, hash not recomputed) fails at once ...
    naive = json.loads(records[k - 1])
    naive.update(seq=k + 1, reason="inserted")
    tamper.write([*records[:k], canonical(naive), *records[k:]])
    _bad(audit_log.verify(), k + 1)
    # ... a well-formed one (correct link and hash) where the real record k + 1 follows it.
    tamper.write([*records[:k], _forged(json.loads(records[k - 1]), canonical), *records[k:]])
    result = audit_log.verify()
    if k == N:
        assert result.ok  # appended, not inserted: indistinguishable from a real append
    else:
        _bad(result, k + 2)


def test_rehashed_edit_is_caught_at_the_next_link(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any
) -> None:
    fill(audit_log, N)

    def rehash(r: dict[str, object]) -> None:
        r["score"] = 0.99
        r["hash"] = record_hash(r)

    tamper.edit(3, rehash)
    result = audit_log.verify()
    _bad(result, 4)
    assert "record 3 was rewritten" in str(result.problem)


def test_hash_is_domain_separated_sha256(audit_log: AuditLog, fill: Callable[..., None]) -> None:
    fill(audit_log, 2)
    rec = next(audit_log.records())
    body = {k: v for k, v in rec.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(b"explainscore.audit.v1\0event\0" + text.encode()).hexdigest()
    assert DOMAIN == b"explainscore.audit.v1\0"
    assert rec["hash"] == expected
    assert hashlib.sha256(text.encode()).hexdigest() != expected


# -- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trips_as_json(
    audit_log: AuditLog, fill: Callable[..., None], tmp_path: Path
) -> None:
    fill(audit_log, 3)
    cp = audit_log.checkpoint()
    assert (cp.seq, cp.head_hash) == (3, audit_log.verify().head_hash)
    assert Checkpoint.from_json(cp.to_json()) == cp
    cp.save(tmp_path / "cp.json")
    assert Checkpoint.load(tmp_path / "cp.json") == cp
    fill(audit_log, 2)
    result = audit_log.verify(tmp_path / "cp.json")
    assert result.ok
    assert result.checkpoint_checked
    assert result.records == 5


def test_truncation_is_caught_with_a_checkpoint(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any
) -> None:
    fill(audit_log, N)
    cp = audit_log.checkpoint()
    records = tamper.read()
    tamper.write(records[:-2])
    assert audit_log.verify().ok  # without the checkpoint a clean cut looks like a short log
    result = audit_log.verify(cp)
    _bad(result, N - 1)
    assert "truncated" in str(result.problem)


def test_truncation_to_nothing_is_caught(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any
) -> None:
    fill(audit_log, 2)
    cp = audit_log.checkpoint()
    tamper.write([])
    _bad(audit_log.verify(cp), 1)


def test_full_rewrite_is_caught_with_a_checkpoint(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, canonical: Callable[..., bytes]
) -> None:
    fill(audit_log, N)
    cp = audit_log.checkpoint()
    records = [json.loads(r) for r in tamper.read()]
    # Edit record 2 and recompute every hash after it: the chain alone looks fine.
    records[1]["score"] = 0.99
    for i in range(1, N):
        if i > 1:
            records[i]["prev_hash"] = records[i - 1]["hash"]
        records[i]["hash"] = record_hash(records[i])
    tamper.write([canonical(r) for r in records])
    assert audit_log.verify().ok
    result = audit_log.verify(cp)
    _bad(result, N)
    assert "rewritten" in str(result.problem)


def test_checkpoint_of_another_chain_is_refused(
    audit_log: AuditLog, fill: Callable[..., None], tmp_path: Path, backend: str
) -> None:
    fill(audit_log, 3)
    other = AuditLog(tmp_path / f"other.{'jsonl' if backend == 'jsonl' else 'db'}")
    fill(other, 3)
    result = audit_log.verify(other.checkpoint())
    assert not result.ok
    assert result.first_bad is None
    assert "different chain" in str(result.problem)


def test_tampered_genesis_is_caught(tmp_path: Path, fill: Callable[..., None]) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    fill(log, 2)
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"time":"2', b'"time":"1', 1)
    path.write_bytes(b"\n".join(lines))
    _bad(log.verify(), 0)


def test_checkpoint_refuses_a_damaged_log(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any
) -> None:
    from explainscore.governance._audit import AuditLogError

    fill(audit_log, 3)
    tamper.edit(2, lambda r: r.update(score=0.0))
    with pytest.raises(AuditLogError, match="first bad record 2"):
        audit_log.checkpoint()


def test_append_refuses_to_extend_a_damaged_head(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any
) -> None:
    from explainscore.governance._audit import AuditLogError

    fill(audit_log, 3)
    tamper.edit(3, lambda r: r.update(score=0.0))
    with pytest.raises(AuditLogError, match="damaged"):
        audit_log.append({"event": "sign_off"})


def _checkpointed_db(path: Path, fill: Callable[..., None], n: int) -> None:
    """An SQLite log of ``n`` records with everything in the main file (WAL emptied)."""
    log = AuditLog(path)
    fill(log, n)
    log.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _stored_record(path: Path, seq: int) -> bytes:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT record FROM audit_records WHERE seq = ?", (seq,)).fetchone()
    return str(row[0]).encode()


def test_raw_byte_flip_in_the_sqlite_file_names_k(
    tmp_path: Path, fill: Callable[..., None]
) -> None:
    path = tmp_path / "a.db"
    _checkpointed_db(path, fill, N)
    record = _stored_record(path, 3)
    data = path.read_bytes()
    at = data.index(record)
    for offset in (5, len(record) // 2, len(record) - 3):
        flipped = bytearray(data)
        flipped[at + offset] ^= 0x01
        path.write_bytes(bytes(flipped))
        _bad(AuditLog(path).verify(), 3)
    path.write_bytes(data)
    assert AuditLog(path).verify().ok


def test_damaged_sqlite_pages_are_a_verdict_not_a_crash(
    tmp_path: Path, fill: Callable[..., None]
) -> None:
    path = tmp_path / "a.db"
    _checkpointed_db(path, fill, 300)
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    page = data.index(_stored_record(path, 150)) // page_size * page_size
    data[page : page + 12] = b"\xff" * 12  # the b-tree page header
    path.write_bytes(bytes(data))
    result = AuditLog(path).verify()
    assert not result.ok
    assert result.first_bad is not None
    assert result.first_bad <= 150


def test_an_event_prepared_before_the_lock_seals_to_the_same_bytes() -> None:
    # Stores encode an event's fields before they take the write lock (prepare_event) and
    # add only the chain's place under it (seal_event): the bytes are seal(make_event(...))'s.
    import datetime as dt

    from explainscore.governance._audit_chain import (
        make_event,
        prepare_event,
        seal,
        seal_event,
    )
    from explainscore.governance._audit_events import EventRules, event_fields

    rules = EventRules(store_inputs=True, pseudonymize=None, allow_plain_ids=True)
    event = {
        "event": "explanation",
        "score": 0.125,
        "reason": "Medium (0.13): é, 😀 and a tiny 3.2e-05",
        "inputs": {"a": 1.0, "b": None, "c": "x", "d": 2.5e-7, "e": 1e21},
        "lead_id": "L-1",
        "details": {"nested": [1, 2.0, {"k": -0.0}]},
    }
    fields = event_fields(event, rules)
    now = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    expected = seal(make_event(fields, 7, "ab" * 32, now))
    assert seal_event(prepare_event(fields), 7, "ab" * 32, now) == expected
