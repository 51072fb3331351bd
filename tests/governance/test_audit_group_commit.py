"""Group commit: concurrent appends share one transaction and one sync, lose nothing
acknowledged when the writer is killed, and never fork or break the chain."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from explainscore.exceptions import ParameterError
from explainscore.governance._audit import AuditLog

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")

SETTINGS = [("sqlite", "full"), ("sqlite", "os"), ("jsonl", "full")]
ROUNDS = 10


def _name(backend: str) -> str:
    return "audit.jsonl" if backend == "jsonl" else "audit.db"


def _open(path: Path | str, durability: str) -> AuditLog:
    return AuditLog(path, durability=durability)  # type: ignore[arg-type]


def _hold_first_commit(log: AuditLog, others: int) -> None:
    """Test hook: the first transaction waits until ``others`` callers have queued behind
    it, so the next one must take them all at once (no timing involved)."""
    store = log._store
    group = store._group  # type: ignore[attr-defined]
    commit = store._commit_group  # type: ignore[attr-defined]
    first = [True]

    def held(batches: list[Sequence[Any]]) -> Any:
        if first[0]:
            first[0] = False
            deadline = time.monotonic() + 30
            while len(group._queue) < others and time.monotonic() < deadline:
                time.sleep(0.001)
        return commit(batches)

    store._commit_group = held  # type: ignore[attr-defined]


def _run_threads(target: Callable[[int], None], n: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize(("backend", "durability"), SETTINGS)
def test_appends_queued_together_share_one_transaction_and_one_sync(
    tmp_path: Path, backend: str, durability: str
) -> None:
    log = _open(tmp_path / _name(backend), durability)
    _hold_first_commit(log, others=3)
    receipts: dict[int, Any] = {}

    def work(i: int) -> None:
        receipts[i] = log.append({"event": "explanation", "request_id": f"r{i}"})

    _run_threads(work, 4)
    stats = log._store.stats  # type: ignore[attr-defined]
    assert stats["appends"] == 4
    assert stats["commits"] == 2  # the first alone, then the other three together
    assert sorted(r.seq for r in receipts.values()) == [1, 2, 3, 4]
    if durability == "full":
        assert 1 <= stats["syncs"] <= 3  # jsonl: genesis, then one per transaction
    else:
        assert stats["syncs"] == 0
    result = log.verify()
    assert result.ok, result.problem
    assert result.records == 4
    by_request = {r["request_id"]: (r["seq"], r["hash"]) for r in log.records()}
    for i, receipt in receipts.items():
        assert by_request[f"r{i}"] == (receipt.seq, receipt.record_hash)


@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_an_invalid_batch_fails_alone_in_its_group(tmp_path: Path, backend: str) -> None:
    log = AuditLog(tmp_path / _name(backend))
    _hold_first_commit(log, others=3)
    outcomes: dict[int, Any] = {}

    def work(i: int) -> None:
        # Thread 1 names a record that cannot exist before its own: only it is refused.
        event: dict[str, Any] = {"event": "review_decision", "request_id": f"r{i}"}
        if i == 1:
            event["links_to"] = 10**6
        try:
            outcomes[i] = log.append_many([event, {"event": "explanation"}])
        except ParameterError as exc:
            outcomes[i] = exc

    _run_threads(work, 4)
    assert isinstance(outcomes[1], ParameterError)
    written = [o for i, o in outcomes.items() if i != 1]
    assert sorted(r.seq for batch in written for r in batch) == list(range(1, 7))
    for batch in written:
        assert batch[1].seq == batch[0].seq + 1  # a caller's batch stays consecutive
    result = log.verify()
    assert result.ok, result.problem
    assert result.records == 6
    assert "r1" not in {r["request_id"] for r in log.records()}


@pytest.mark.parametrize(("backend", "durability"), SETTINGS)
def test_threads_appending_at_once_make_one_chain(
    tmp_path: Path, backend: str, durability: str
) -> None:
    log = _open(tmp_path / _name(backend), durability)
    n = 40

    def work(t: int) -> None:
        for i in range(n):
            log.append({"event": "explanation", "request_id": f"{t}-{i}"})

    _run_threads(work, 4)
    result = log.verify()
    assert result.ok, result.problem
    assert result.records == 4 * n
    records = list(log.records())
    assert [r["seq"] for r in records] == list(range(1, 4 * n + 1))
    assert sorted(r["request_id"] for r in records) == sorted(
        f"{t}-{i}" for t in range(4) for i in range(n)
    )
    stats = log._store.stats  # type: ignore[attr-defined]
    assert stats["appends"] == 4 * n
    assert stats["commits"] <= 4 * n


def _threaded_appender(path: str, durability: str, worker: int, n: int, start: Any) -> None:
    log = _open(path, durability)
    start.wait()

    def work(t: int) -> None:
        for i in range(n):
            log.append({"event": "explanation", "request_id": f"{worker}-{t}-{i}"})

    _run_threads(work, 2)
    log.close()


@pytest.mark.parametrize(("backend", "durability"), SETTINGS)
def test_processes_with_threads_appending_at_once_make_one_chain(
    tmp_path: Path, backend: str, durability: str
) -> None:
    path = str(tmp_path / _name(backend))
    n = 25
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_threaded_appender, args=(path, durability, w, n, start))
        for w in range(2)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    log = _open(path, durability)
    result = log.verify()
    assert result.ok, result.problem
    assert result.records == 2 * 2 * n
    records = list(log.records())
    assert [r["seq"] for r in records] == list(range(1, 4 * n + 1))
    assert sorted(r["request_id"] for r in records) == sorted(
        f"{w}-{t}-{i}" for w in range(2) for t in range(2) for i in range(n)
    )


def _threaded_writer_child(path: str, durability: str, out: int) -> None:
    """Append from 3 threads forever, reporting each acknowledged sequence number."""
    try:
        log = _open(path, durability)

        def work(t: int) -> None:
            while True:
                receipt = log.append({"event": "explanation", "actor": f"t{t}"})
                os.write(out, f"{receipt.seq}\n".encode())  # one small write: atomic

        threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os._exit(1)


def _kill_round(path: str, durability: str, rng: random.Random) -> set[int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(read)
        _threaded_writer_child(path, durability, write)
    os.close(write)
    data = os.read(read, 64)  # the first acknowledgement: the writers are in their loops
    time.sleep(rng.uniform(0.0, 0.05))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    while chunk := os.read(read, 1 << 16):
        data += chunk
    os.close(read)
    return {int(x) for x in data.split(b"\n")[:-1]}


@pytest.mark.parametrize(("backend", "durability"), SETTINGS)
def test_kill_9_during_group_commits_loses_no_acknowledged_record(
    tmp_path: Path, backend: str, durability: str
) -> None:
    path = str(tmp_path / _name(backend))
    rng = random.Random(16)
    acked: set[int] = set()
    for _ in range(ROUNDS):
        acked |= _kill_round(path, durability, rng)
        result = _open(path, durability).verify()
        assert result.ok, result.problem  # a torn final JSON line is allowed (never acked)
        assert max(acked) <= result.head_seq
    log = _open(path, durability)
    stored = {r["seq"] for r in log.records()}
    assert acked <= stored
    assert len(acked) >= ROUNDS
    log.append({"event": "sign_off", "actor": "after the crashes"})
    result = log.verify()
    assert result.ok, result.problem
    assert not result.torn_tail


def test_a_sync_is_skipped_only_for_records_already_synced(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    sync_file = tmp_path / "audit.db-sync"
    log = AuditLog(path)
    log.append({"event": "explanation"})
    stats = log._store.stats  # type: ignore[attr-defined]
    assert stats["syncs"] == 1
    state = sync_file.read_bytes()
    assert state.endswith(b" 00000000000000000001\n")
    assert sync_file.stat().st_mode & 0o077 == 0

    # A state ahead of the log (a backup restored, say) is stale: it must not skip a sync.
    sync_file.write_bytes(state[:65] + b"%020d\n" % 10**9)
    log.append({"event": "explanation"})
    assert stats["syncs"] == 2
    assert sync_file.read_bytes().endswith(b" 00000000000000000002\n")
    log.close()

    # Another chain at the same path (the log replaced): the old state says nothing about it.
    for p in tmp_path.glob("audit.db*"):
        if p != sync_file:
            p.unlink()
    sync_file.write_bytes(state[:65] + b"%020d\n" % 5)
    fresh = AuditLog(path)
    fresh.append({"event": "explanation"})
    assert fresh._store.stats["syncs"] == 1  # type: ignore[attr-defined]
    assert fresh._store.stats["shared_syncs"] == 0  # type: ignore[attr-defined]
    assert fresh.verify().ok


def test_durability_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="durability"):
        AuditLog(tmp_path / "a.db", durability="fast")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="durability"):
        AuditLog(tmp_path / "a.jsonl", durability="os")
    log = AuditLog(tmp_path / "a.db", durability="os")
    assert log.durability == "os"
    assert AuditLog(tmp_path / "b.db").durability == "full"
    log.append({"event": "explanation"})
    assert log._store.stats["syncs"] == 0  # type: ignore[attr-defined]
    assert not (tmp_path / "a.db-sync").exists()
    assert log.verify().ok
