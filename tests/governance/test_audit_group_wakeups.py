"""The group committer on its own: every caller is woken exactly when its batch is written,
or named leader, and gets its own outcome; no caller waits forever.

A waiting caller blocks on a bare lock that is released once (not on an ``Event``); these
tests drive many threads through it with a fake store that records each group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from explainscore.governance._audit_group import Commit, GroupCommitter
from explainscore.governance._audit_models import AuditReceipt


class _FakeStore:
    """Numbers each batch's items in commit order; can fail chosen groups or syncs."""

    def __init__(self, *, fail_every: int = 0, fail_sync_every: int = 0) -> None:
        self.seq = 0
        self.groups: list[list[Sequence[Any]]] = []
        self.synced: list[object] = []
        self._fail_every = fail_every
        self._fail_sync_every = fail_sync_every
        self._inside = threading.Lock()

    def commit(self, batches: list[Sequence[Any]]) -> Commit:
        # Two groups never overlap: the committer runs one leader at a time.
        assert self._inside.acquire(blocking=False), "two leaders at once"
        try:
            self.groups.append(batches)
            time.sleep(0.0002)  # as a transaction would: other callers queue meanwhile
            if self._fail_every and len(self.groups) % self._fail_every == 0:
                raise OSError("disk full")
            outcomes: list[list[AuditReceipt] | BaseException] = []
            for batch in batches:
                if batch and batch[0] == "bad":
                    outcomes.append(ValueError("bad batch"))
                    continue
                receipts = []
                for _ in batch:
                    self.seq += 1
                    receipts.append(AuditReceipt(seq=self.seq, record_hash="0" * 64))
                outcomes.append(receipts)
            return Commit(outcomes, self.seq)
        finally:
            self._inside.release()

    def sync(self, token: object) -> None:
        self.synced.append(token)
        if self._fail_sync_every and len(self.synced) % self._fail_sync_every == 0:
            raise OSError("fsync failed")


def _run(n_threads: int, per_thread: int, store: _FakeStore, committer: GroupCommitter,
         *, sync: bool) -> list[list[Any]]:  # fmt: skip
    results: list[list[Any]] = [[] for _ in range(n_threads)]
    start = threading.Barrier(n_threads)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            batch = ["bad"] if (t + i) % 17 == 0 else [f"{t}-{i}"] * (1 + (t + i) % 3)
            try:
                out: Any = committer.submit(batch, store.commit, store.sync if sync else None)
            except (ValueError, OSError) as exc:
                out = exc
            results[t].append((batch, out))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a caller was never woken"
    return results


@pytest.mark.parametrize("sync", [False, True])
def test_every_caller_gets_its_own_receipts_once(sync: bool) -> None:
    store, committer = _FakeStore(), GroupCommitter()
    results = _run(8, 150, store, committer, sync=sync)
    seen: list[int] = []
    for per_thread in results:
        for batch, out in per_thread:
            if batch == ["bad"]:
                assert isinstance(out, ValueError)
                continue
            assert isinstance(out, list)
            assert len(out) == len(batch)
            seqs = [r.seq for r in out]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # a batch is consecutive
            seen.extend(seqs)
    # Every committed number went to exactly one caller.
    assert sorted(seen) == list(range(1, store.seq + 1))
    committed = sum(len(b) for g in store.groups for b in g if b != ["bad"])
    assert committed == store.seq
    # Groups formed: callers queued during a commit were written together.
    assert len(store.groups) < sum(len(r) for r in results)
    if sync:
        assert store.synced


def test_a_failed_commit_or_sync_fails_its_whole_group_and_nobody_hangs() -> None:
    store, committer = _FakeStore(fail_every=5, fail_sync_every=7), GroupCommitter()
    results = _run(6, 100, store, committer, sync=True)
    failures = sum(isinstance(out, OSError) for r in results for _, out in r)
    successes = [out for r in results for _, out in r if isinstance(out, list)]
    assert failures > 0
    assert successes
    assert all(len({r.seq for r in out}) == len(out) for out in successes)


def test_callers_queued_behind_a_leader_are_written_together_in_queue_order() -> None:
    # The first caller leads at once; two more queue while its commit runs. The first to
    # queue is named leader at the hand-over (its lock released once) and writes both.
    store, committer = _FakeStore(), GroupCommitter()
    entered, release = threading.Event(), threading.Event()

    def slow_commit(batches: list[Sequence[Any]]) -> Commit:
        if not entered.is_set():
            entered.set()
            release.wait(10)
        return store.commit(batches)

    outcomes: dict[str, Any] = {}

    def call(name: str, commit: Any) -> None:
        try:
            outcomes[name] = committer.submit([name], commit)
        except BaseException as exc:
            outcomes[name] = exc

    first = threading.Thread(target=call, args=("a", slow_commit))
    first.start()
    assert entered.wait(10)
    others = [threading.Thread(target=call, args=(n, store.commit)) for n in ("b", "c")]
    for thread in others:
        thread.start()
    while len(committer._queue) < 2:
        threading.Event().wait(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(10)
        assert not thread.is_alive()
    assert {n: [r.seq for r in outcomes[n]] for n in "abc"} == {"a": [1], "b": [2], "c": [3]}
    assert store.groups == [[["a"]], [["b"], ["c"]]]
