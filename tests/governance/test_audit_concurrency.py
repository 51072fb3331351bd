"""Several processes appending at once never fork the chain; a writer killed at any moment
loses no acknowledged record and leaves a log that verifies."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from explainscore.governance._audit import AuditLog

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")

K, M = 4, 50
ROUNDS = 10


def _name(backend: str) -> str:
    return "audit.jsonl" if backend == "jsonl" else "audit.db"


def _appender(path: str, worker: int, start: object) -> None:
    log = AuditLog(path)
    start.wait()  # type: ignore[attr-defined]  # all workers race from the same moment
    for i in range(M):
        log.append({"event": "explanation", "actor": f"w{worker}", "request_id": f"{worker}-{i}"})
    log.close()


@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_processes_appending_at_once_make_one_chain(tmp_path: Path, backend: str) -> None:
    # The log does not exist yet: creating it is part of the race.
    path = str(tmp_path / _name(backend))
    ctx = mp.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_appender, args=(path, w, start)) for w in range(K)]
    for p in workers:
        p.start()
    start.set()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0] * K
    log = AuditLog(path)
    result = log.verify()
    assert result.ok, result.problem
    assert result.records == K * M
    records = list(log.records())
    assert [r["seq"] for r in records] == list(range(1, K * M + 1))
    assert sorted(r["request_id"] for r in records) == sorted(
        f"{w}-{i}" for w in range(K) for i in range(M)
    )


def test_threads_share_one_log(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.db")

    def work(t: int) -> None:
        for i in range(20):
            log.append({"event": "explanation", "request_id": f"{t}-{i}"})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = log.verify()
    assert result.ok
    assert result.records == 80


def _writer_child(path: str, out: int) -> None:
    """Append forever, reporting each acknowledged sequence number on ``out``."""
    try:
        log = AuditLog(path)
        while True:
            receipt = log.append({"event": "explanation", "score": 0.5, "actor": "writer"})
            os.write(out, f"{receipt.seq}\n".encode())
    finally:
        os._exit(1)


def _kill_round(path: str, rng: random.Random) -> set[int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(read)
        _writer_child(path, write)
    os.close(write)
    data = os.read(read, 64)  # wait for the first acknowledgement: the child is in its loop
    time.sleep(rng.uniform(0.0, 0.05))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    while chunk := os.read(read, 1 << 16):
        data += chunk
    os.close(read)
    # Only whole lines were acknowledged (a line cut by the kill was not).
    return {int(x) for x in data.split(b"\n")[:-1]}


@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_kill_9_mid_append_loses_no_acknowledged_record(tmp_path: Path, backend: str) -> None:
    path = str(tmp_path / _name(backend))
    rng = random.Random(20240)
    acked: set[int] = set()
    for _ in range(ROUNDS):
        acked |= _kill_round(path, rng)
        result = AuditLog(path).verify()
        # A torn final line is allowed (never acknowledged); anything else is not.
        assert result.ok, result.problem
        assert max(acked) <= result.head_seq
    log = AuditLog(path)
    stored = {r["seq"] for r in log.records()}
    assert acked <= stored
    assert len(acked) >= ROUNDS
    log.append({"event": "sign_off", "actor": "after the crashes"})
    result = log.verify()
    assert result.ok, result.problem
    assert not result.torn_tail


@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_a_log_opened_before_fork_works_in_parent_and_child(tmp_path: Path, backend: str) -> None:
    log = AuditLog(tmp_path / _name(backend))
    log.append({"event": "explanation", "actor": "parent"})
    ctx = mp.get_context("fork")
    child = ctx.Process(target=lambda: log.append({"event": "explanation", "actor": "child"}))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    log.append({"event": "explanation", "actor": "parent"})
    result = log.verify()
    assert result.ok, result.problem
    assert [r["actor"] for r in log.records()] == ["parent", "child", "parent"]


@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_purge_while_others_append(tmp_path: Path, backend: str) -> None:
    path = str(tmp_path / _name(backend))
    log = AuditLog(path)
    log.append({"event": "explanation"})
    ctx = mp.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_appender, args=(path, w, start)) for w in range(2)]
    for p in workers:
        p.start()
    start.set()
    purges = 0
    while any(p.is_alive() for p in workers):
        purges += log.purge(older_than_days=0, actor="dpo") > 0
        time.sleep(0.01)
    for p in workers:
        p.join(30)
    assert [p.exitcode for p in workers] == [0, 0]
    result = log.verify()
    assert result.ok, result.problem
    assert result.head_seq == 1 + 2 * M + purges
    assert result.records == result.head_seq - (result.anchor_seq or 0)


@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_new_logs_are_owner_only(tmp_path: Path, backend: str) -> None:
    path = tmp_path / _name(backend)
    AuditLog(path).append({"event": "explanation"})
    assert path.stat().st_mode & 0o077 == 0
