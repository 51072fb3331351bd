"""Crash recovery of JSON Lines logs (torn final line, repair) and ``audit_verify_main``, the
function behind ``explainscore audit verify``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from explainscore.governance._audit import AuditLog, audit_verify_main


def _torn(path: Path, log: AuditLog, fill: Callable[..., None], n: int = 3) -> bytes:
    """Fill the log, then leave half a record at its end, as a crash mid-write would."""
    fill(log, n)
    line = path.read_bytes().split(b"\n")[-2]
    fragment = line[: len(line) // 2]
    with path.open("ab") as handle:
        handle.write(fragment)
    return fragment


def test_torn_final_line_is_reported_not_as_tampering(
    tmp_path: Path, fill: Callable[..., None]
) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    _torn(path, log, fill)
    result = log.verify()
    assert result.ok, result.problem
    assert result.torn_tail
    assert result.records == 3


def test_complete_record_missing_its_newline_is_a_torn_write(
    tmp_path: Path, fill: Callable[..., None]
) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    fill(log, 3)
    path.write_bytes(path.read_bytes()[:-1])
    result = log.verify()
    assert result.ok
    assert result.torn_tail
    assert result.head_seq == 2  # the record was never acknowledged


def test_append_cuts_a_torn_line_and_records_the_cut(
    tmp_path: Path, fill: Callable[..., None]
) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    fragment = _torn(path, log, fill)
    receipt = log.append({"event": "sign_off", "actor": "x"})
    assert receipt.seq == 5
    repair, sign_off = list(log.records())[-2:]
    assert repair["event"] == "log_repair"
    assert repair["details"] == {
        "discarded_bytes": len(fragment),
        "discarded_sha256": hashlib.sha256(fragment).hexdigest(),
    }
    assert sign_off["event"] == "sign_off"
    result = log.verify()
    assert result.ok
    assert not result.torn_tail


def test_repair(tmp_path: Path, fill: Callable[..., None]) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    fragment = _torn(path, log, fill)
    assert log.repair() == len(fragment)
    assert log.repair() == 0
    result = log.verify()
    assert result.ok
    assert not result.torn_tail
    assert result.records == 4
    sqlite_log = AuditLog(tmp_path / "a.db")
    fill(sqlite_log, 1)
    assert sqlite_log.repair() == 0  # a transaction commits whole or not at all


def test_torn_genesis(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"chain_id":"ab')
    log = AuditLog(path)
    result = log.verify()
    assert result.ok
    assert result.torn_tail
    assert result.records == 0
    log.append({"event": "sign_off"})
    assert [r["event"] for r in log.records()] == ["log_repair", "sign_off"]
    assert log.verify().ok


# -- audit_verify_main ------------------------------------------------------------------------


def test_cli_intact(audit_log: AuditLog, fill: Callable[..., None], capsys: Any) -> None:
    fill(audit_log, 3)
    assert audit_verify_main(str(audit_log.path)) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK:")
    assert "3 records" in out
    assert out.count("\n") == 1


def test_cli_tampered_names_the_record(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, capsys: Any
) -> None:
    fill(audit_log, 5)
    tamper.edit(4, lambda r: r.update(score=1.0))
    assert audit_verify_main(str(audit_log.path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED:")
    assert "at record 4" in out
    assert out.count("\n") == 1


def test_cli_checkpoint(
    audit_log: AuditLog, fill: Callable[..., None], tamper: Any, tmp_path: Path, capsys: Any
) -> None:
    fill(audit_log, 5)
    cp = tmp_path / "cp.json"
    audit_log.checkpoint().save(cp)
    assert audit_verify_main(str(audit_log.path), checkpoint=str(cp)) == 0
    assert "checkpoint matches" in capsys.readouterr().out
    tamper.write(tamper.read()[:3])
    assert audit_verify_main(str(audit_log.path)) == 0
    assert audit_verify_main(str(audit_log.path), checkpoint=str(cp)) == 1
    assert "at record 4" in capsys.readouterr().out.splitlines()[-1]


def test_cli_torn_tail_is_intact(tmp_path: Path, fill: Callable[..., None], capsys: Any) -> None:
    path = tmp_path / "a.jsonl"
    _torn(path, AuditLog(path), fill)
    assert audit_verify_main(str(path)) == 0
    assert "incomplete write" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["missing", "not-a-log", "bad-checkpoint", "missing-checkpoint"])
def test_cli_usage_errors(
    tmp_path: Path, fill: Callable[..., None], capsys: Any, what: str
) -> None:
    path = tmp_path / "a.db"
    fill(AuditLog(path), 1)
    checkpoint = None
    if what == "missing":
        path = tmp_path / "nope.db"
    elif what == "not-a-log":
        path = tmp_path / "notes.txt"
        path.write_text("hello\n")
    elif what == "bad-checkpoint":
        checkpoint = str(tmp_path / "cp.json")
        Path(checkpoint).write_text(json.dumps({"seq": "x"}))
    else:
        checkpoint = str(tmp_path / "none.json")
    assert audit_verify_main(str(path), checkpoint=checkpoint) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error" in captured.err
