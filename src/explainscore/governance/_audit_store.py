"""What the audit log asks of a storage backend (SQLite or JSON Lines)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ._audit_chain import ChainVerifier
from ._audit_models import AuditReceipt

__all__ = ["Clock", "Fields", "Store"]

Clock = Callable[[], dt.datetime]
#: Validated event fields (see ``event_fields``), or a function building them once the
#: details a purge or repair needs are known.
Fields = Mapping[str, Any]


class Store(Protocol):
    """A place that holds one chain. Every method is safe across threads and processes."""

    def exists(self) -> bool:
        """Whether the log file exists."""

    def append(self, batch: Sequence[Fields]) -> list[AuditReceipt]:
        """Add events under one hold of the write lock: read the head, number, hash, write,
        make durable once, then return (creating the log and its genesis record if needed).
        All or nothing."""

    def scan(self, verifier: ChainVerifier) -> bool:
        """Feed a consistent snapshot of the log to ``verifier``; True if it ends in a torn
        (incomplete) write."""

    def iter_records(self, lead_id: str | None) -> Iterator[dict[str, Any]]:
        """The event records, oldest first (only ``lead_id``'s if given)."""

    def purge(self, cutoff: dt.datetime, make_fields: Callable[[Mapping[str, Any]], Fields]) -> int:
        """Delete the oldest records up to the last one older than ``cutoff``, keep the
        anchor, append the purge event built by ``make_fields(details)``; the count."""

    def repair(self) -> int:
        """Remove an incomplete final write, recording that it did; the bytes removed."""

    def close(self) -> None:
        """Release the connection or file handles (the log can be used again after)."""
