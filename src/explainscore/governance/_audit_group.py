"""Group commit: appends from concurrent threads share one transaction and one sync.

A caller queues its batch and waits. One of the waiting callers at a time is the *leader*:
it takes every batch queued so far, has the store write them all in one transaction (each
batch numbered and chained after the one before it), makes them durable (one ``fsync``,
which another process may already have done), hands the leadership to the first caller
queued meanwhile and acknowledges every caller of the group. A caller returns only once
its own records are durable.

The batch of one caller stays all or nothing: a batch that cannot be built (an invalid
``links_to``) fails alone, the others of its group are written. A failed transaction or sync
fails the whole group: none of its callers is acknowledged.
"""

from __future__ import annotations

import os
import threading
from _thread import LockType
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._audit_models import AuditReceipt

__all__ = ["Commit", "GroupCommitter", "Outcome"]

#: What one caller gets back: its receipts, or the error that kept its batch out.
Outcome = list[AuditReceipt] | BaseException


@dataclass
class Commit:
    """What the store's transaction returns: one outcome per batch, in order, and what the
    sync step needs to know (the store's own token, e.g. the last sequence number)."""

    outcomes: list[Outcome]
    token: object = None


@dataclass(eq=False)
class _Request:
    batch: Sequence[Any]
    # Only a caller that has to wait needs one: a caller that leads at once never waits. A
    # bare lock, taken once when made: the waiter blocks taking it again, and the one release
    # it ever gets (named leader, or its records done) lets it go. (threading.Event costs
    # several times as much per wake-up: a Condition and Python code on both sides.)
    wake: LockType | None = None
    lead: bool = False
    done: bool = False
    outcome: Outcome | None = None


class GroupCommitter:
    """Leader/follower group commit for one store in one process.

    The store passes its ``commit`` and ``sync`` functions with each call rather than
    keeping them here: a committer holding its store's bound methods would make a reference
    cycle, and a store kept alive by the cycle collector could be inherited by a forked child
    and closed there (see ``_INHERITED`` in ``_audit_sqlite``).
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # After a fork the child starts with no leader and an empty queue: the parent's
        # threads, and whatever they were waiting for, do not exist in the child.
        self._pid = os.getpid()
        self._mutex = threading.Lock()
        self._queue: list[_Request] = []
        self._leading = False

    def submit(
        self,
        batch: Sequence[Any],
        commit: Callable[[list[Sequence[Any]]], Commit],
        sync: Callable[[object], None] | None = None,
    ) -> list[AuditReceipt]:
        """Queue ``batch``, wait until it is durable and return its receipts (or raise).

        ``commit(batches) -> Commit`` writes the batches of a group in one transaction
        (raising fails every batch of the group); ``sync(token)`` then makes it durable,
        called without the store's write lock, so other processes commit meanwhile
        (``None``: the commit is enough).
        """
        if self._pid != os.getpid():
            self._reset()
        req = _Request(batch)
        with self._mutex:
            self._queue.append(req)
            if not self._leading:
                self._leading = req.lead = True
            else:
                req.wake = threading.Lock()
                req.wake.acquire()
        try:
            if not req.lead:
                assert req.wake is not None  # made above for every caller that waits
                req.wake.acquire()  # released once: named leader, or done
            if not req.done:
                self._lead(req, commit, sync)
        except BaseException:
            # Interrupted while waiting: a caller named leader must still lead its group,
            # or everyone queued behind it would wait forever.
            if req.lead and not req.done:
                self._lead(req, commit, sync)
            raise
        outcome = req.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _lead(
        self,
        leader: _Request,
        commit: Callable[[list[Sequence[Any]]], Commit],
        sync: Callable[[object], None] | None,
    ) -> None:
        with self._mutex:
            group, self._queue = self._queue, []
        token: object = None
        try:
            result = commit([req.batch for req in group])
            outcomes, token = result.outcomes, result.token
        except BaseException as exc:
            outcomes = [exc] * len(group)
        if sync is not None and any(not isinstance(o, BaseException) for o in outcomes):
            try:
                sync(token)
            except BaseException as exc:
                outcomes = [o if isinstance(o, BaseException) else exc for o in outcomes]
        # Only now the next leader starts: whoever queued during this transaction and sync
        # is in its group. (Starting its transaction during the sync would commit a group
        # of one that the sync in progress cannot cover: with writers that wait for their
        # acknowledgement, that halves the group per sync.)
        self._hand_over()
        for req, outcome in zip(group, outcomes, strict=True):
            req.outcome, req.done = outcome, True
            if req.wake is not None and req is not leader:
                req.wake.release()

    def _hand_over(self) -> None:
        with self._mutex:
            if self._queue:
                nxt = self._queue[0]
                nxt.lead = True
                if nxt.wake is not None:
                    nxt.wake.release()
            else:
                self._leading = False
