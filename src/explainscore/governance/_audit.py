"""A tamper-evident audit log of explanations and governance events.

>>> log = AuditLog("audit.db", pseudonym_key="EXPLAINSCORE_AUDIT_KEY")  # doctest: +SKIP
>>> log.record_explanation(explanation, inputs=row, lead_id="L-1042")   # doctest: +SKIP
AuditReceipt(seq=1, record_hash='9f2c...')
>>> log.verify().ok                                                      # doctest: +SKIP
True

Each record holds the hash of the one before it (see ``docs/audit-log.md`` for the exact
format), so any edit, deletion, reordering or insertion shows in :meth:`AuditLog.verify`;
a :class:`Checkpoint` kept elsewhere also exposes a truncated or wholly rewritten log.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._params import check_choice, check_number
from ..exceptions import ExplainScoreError, ParameterError
from ._audit_chain import ChainVerifier
from ._audit_errors import AuditLogError
from ._audit_events import EVENT_TYPES, EventRules, event_fields, explanation_event
from ._audit_jsonl import JsonlStore
from ._audit_models import AuditReceipt, Checkpoint, VerifyResult
from ._audit_sqlite import SqliteStore
from ._audit_store import Fields, Store
from ._pseudonym import Pseudonymizer, resolve_key

if TYPE_CHECKING:
    from .._records import LeadExplanation

__all__ = [
    "EVENT_TYPES",
    "AuditLog",
    "AuditLogError",
    "AuditReceipt",
    "Checkpoint",
    "VerifyResult",
    "audit_verify_main",
]

Backend = Literal["sqlite", "jsonl"]
Durability = Literal["full", "os"]
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".jsonlines"})
_SQLITE_MAGIC = b"SQLite format 3\0"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditLog:
    """An append-only, hash-chained log of explanations and governance events.

    Parameters
    ----------
    path : str or path-like
        The log file. Created on the first append.
    backend : {"sqlite", "jsonl"}, optional
        Storage. By default an existing file's content decides, then the suffix:
        ``.jsonl``/``.ndjson`` give JSON Lines, anything else SQLite.
    pseudonym_key : bytes or str, optional
        Key for lead-id pseudonyms (HMAC-SHA256): the key itself as bytes, or the name of an
        environment variable holding it. At least 16 bytes. Keep it outside the log.
    allow_plain_ids : bool, default=False
        Without a key, lead ids are refused (raw ids are personal data). Set this only if the
        ids are not personal data: they are then stored as ``"plain:<id>"``.
    store_inputs : bool, default=False
        Store the lead's raw input values (and the value beside each attribution). By default
        only their SHA-256 digest is stored.
    busy_timeout : float, default=30.0
        Seconds to wait for another writer before raising :class:`AuditLogError`.
    clock : callable, optional
        Returns the current time as an aware datetime; for tests and replays.
    durability : {"full", "os"}, default="full"
        When an append is acknowledged. ``"full"``: once its records are synced to disk (a
        power loss loses nothing acknowledged). ``"os"`` (SQLite only): once they are
        committed to the operating system (a killed process loses nothing acknowledged; a
        power loss can lose the last acknowledged records, never a record before them, and
        never breaks the chain). See ``docs/audit-log.md``.

    Notes
    -----
    Safe to share between threads, and to use from several processes at once (each opens
    the file itself). Appends from concurrent threads are *group-committed*: written in one
    transaction with one sync, each caller returning once its own records are durable.
    Every method raises :class:`AuditLogError` when the file cannot be used, and
    :class:`~explainscore.exceptions.ParameterError` for invalid arguments.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        backend: Backend | None = None,
        pseudonym_key: bytes | str | None = None,
        allow_plain_ids: bool = False,
        store_inputs: bool = False,
        busy_timeout: float = 30.0,
        clock: Callable[[], dt.datetime] | None = None,
        durability: Durability = "full",
    ) -> None:
        self.path = Path(path)
        self.backend: Backend = _backend_for(self.path, backend)
        timeout = check_number(busy_timeout, "busy_timeout", "AuditLog", low=0.0)
        self.durability: Durability = (
            "os" if check_choice(durability, "durability", "AuditLog", ("full", "os")) == "os"
            else "full"
        )  # fmt: skip
        if self.durability == "os" and self.backend == "jsonl":
            raise ParameterError(
                "The 'durability' parameter of AuditLog must be 'full' for a JSON Lines log "
                "(it syncs every write); 'os' needs the SQLite backend."
            )
        key = resolve_key(pseudonym_key)
        self._pseudonym = None if key is None else Pseudonymizer(key)
        self._rules = EventRules(
            store_inputs=bool(store_inputs),
            pseudonymize=self._pseudonym,
            allow_plain_ids=bool(allow_plain_ids),
        )
        self._clock = clock or _utc_now
        self._store: Store
        if self.backend == "jsonl":
            self._store = JsonlStore(
                self.path, busy_timeout=timeout, clock=self._clock, repair_fields=_repair_fields
            )
        else:
            self._store = SqliteStore(
                self.path, busy_timeout=timeout, clock=self._clock, durability=self.durability
            )

    def __repr__(self) -> str:
        key = "None" if self._pseudonym is None else repr(self._pseudonym.key_id)
        return f"AuditLog({str(self.path)!r}, backend={self.backend!r}, key_id={key})"

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connection (the log can still be used afterwards)."""
        self._store.close()

    # -- writing -----------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any]) -> AuditReceipt:
        """Append one event and return its receipt once it is durable.

        Parameters
        ----------
        event : dict
            ``event`` (the type, e.g. ``"kill_switch_engaged"``) is required. Optional record
            fields: ``actor``, ``request_id``, ``reason``, ``reason_codes``, ``score``,
            ``attributions``, ``model_fingerprint``, ``policy_version``, ``inputs`` (digested;
            stored only with ``store_inputs``), ``input_digest``, ``lead_id`` (pseudonymized),
            ``links_to`` (an earlier sequence number), ``explanation``, ``details`` (a dict).
            Any other key is stored under ``details``: never put personal data there.

        Returns
        -------
        AuditReceipt
            ``seq`` and ``record_hash`` of the new record.
        """
        return self._store.append([event_fields(event, self._rules)])[0]

    def append_many(self, events: Iterable[Mapping[str, Any]]) -> list[AuditReceipt]:
        """Append several events at once: one lock, one transaction, one ``fsync``.

        Much faster than a loop of :meth:`append` for a batch (each append waits for the
        disk). All or nothing: if any event is invalid, none is written. The records are
        consecutive.

        Parameters
        ----------
        events : iterable of dict
            As for :meth:`append`.

        Returns
        -------
        list of AuditReceipt
            In the order of ``events``.
        """
        batch = [event_fields(event, self._rules) for event in events]
        return self._store.append(batch) if batch else []

    def record_explanation(
        self,
        explanation: LeadExplanation,
        *,
        inputs: Any = None,
        lead_id: Any = None,
        actor: str | None = None,
        request_id: str | None = None,
        policy_version: str | None = None,
        reason_codes: Sequence[Any] | None = None,
    ) -> AuditReceipt:
        """Append an ``explanation`` event for one lead.

        Parameters
        ----------
        explanation : LeadExplanation
            Its score, attributions (feature and contribution; the lead's values only with
            ``store_inputs``), reason, fingerprint and explanation metadata are recorded.
        inputs : mapping, Series or one-row DataFrame, optional
            The lead's raw values: their digest is recorded (the values only with
            ``store_inputs``).
        lead_id : str or int, optional
            Recorded as a keyed pseudonym; refused without ``pseudonym_key``.
        actor, request_id : str, optional
            Who asked, and the request's id.
        policy_version : str, optional
            Default: the explanation's own ``policy_version``.
        reason_codes : list, optional
            Default: the explanation's own reason codes.

        Returns
        -------
        AuditReceipt
        """
        event = explanation_event(
            explanation,
            inputs=inputs,
            lead_id=lead_id,
            actor=actor,
            request_id=request_id,
            policy_version=policy_version,
            reason_codes=reason_codes,
        )
        return self.append(event)

    def record_explanations(
        self,
        explanations: Sequence[LeadExplanation],
        *,
        inputs: Sequence[Any] | None = None,
        lead_ids: Sequence[Any] | None = None,
        actor: str | None = None,
        request_id: str | None = None,
        policy_version: str | None = None,
    ) -> list[AuditReceipt]:
        """:meth:`record_explanation` for a batch, written at once (see :meth:`append_many`).

        Parameters
        ----------
        explanations : sequence of LeadExplanation
        inputs, lead_ids : sequence, optional
            One entry per explanation (an entry may be None).
        actor, request_id, policy_version : str, optional
            Shared by the whole batch.

        Returns
        -------
        list of AuditReceipt
            One per explanation, in order.
        """
        n = len(explanations)
        for name, column in (("inputs", inputs), ("lead_ids", lead_ids)):
            if column is not None and len(column) != n:
                raise ParameterError(
                    f"The {name!r} parameter of AuditLog.record_explanations must have one "
                    f"entry per explanation ({n}); got {len(column)}."
                )
        events = [
            explanation_event(
                explanation,
                inputs=None if inputs is None else inputs[i],
                lead_id=None if lead_ids is None else lead_ids[i],
                actor=actor,
                request_id=request_id,
                policy_version=policy_version,
                reason_codes=None,
            )
            for i, explanation in enumerate(explanations)
        ]
        return self.append_many(events)

    def purge(self, *, older_than_days: float, actor: str | None = None) -> int:
        """Delete the oldest records, those stamped more than ``older_than_days`` ago.

        Only a run of records from the start of the log is deleted (stopping at the first
        newer one), so the rest still forms one chain. The sequence number and hash of the
        last deleted record are kept as the log's *anchor*, and a ``purge`` event naming
        them (and ``actor``) is appended, so the anchor is itself covered by the chain.
        The log is verified first; a log that does not verify is not purged.

        Returns
        -------
        int
            The number of records deleted.
        """
        days = check_number(older_than_days, "older_than_days", "AuditLog.purge", low=0.0)
        if actor is not None and not isinstance(actor, str):
            raise ParameterError("The 'actor' parameter of AuditLog.purge must be a str.")
        if not self._store.exists():
            raise AuditLogError(f"There is no audit log at {str(self.path)!r}.")
        cutoff = self._clock() - dt.timedelta(days=days)

        def make_fields(details: Mapping[str, Any]) -> Fields:
            event = {
                "event": "purge",
                "actor": actor,
                "reason": f"retention: records older than {days:g} days deleted",
                "details": dict(details, older_than_days=days),
            }
            return event_fields(event, self._rules, internal=True)

        return self._store.purge(cutoff, make_fields)

    def repair(self) -> int:
        """Cut an incomplete final line left by a crash (JSON Lines; SQLite needs none).

        The cut is recorded as a ``log_repair`` event with the length and SHA-256 of the
        bytes removed. Appending does the same by itself.

        Returns
        -------
        int
            The number of bytes removed (0: nothing to repair).
        """
        return self._store.repair()

    # -- reading -----------------------------------------------------------------------------

    def records(self, *, lead_id: Any = None, event: str | None = None) -> Iterator[dict[str, Any]]:
        """The event records as stored (dicts), oldest first.

        Parameters
        ----------
        lead_id : str or int, optional
            Only this lead's records (the id is pseudonymized with the log's key to match).
        event : str, optional
            Only events of this type.
        """
        wanted = None if lead_id is None else self.pseudonym(lead_id)
        for record in self._store.iter_records(wanted):
            if event is None or record.get("event") == event:
                yield record

    def subject_access(self, lead_id: Any) -> list[dict[str, Any]]:
        """Every record about one lead, for a data-subject access request (GDPR art. 15).

        The lead id is pseudonymized with the log's key and matched; the raw id is not in the
        log. Records written under a different key (see the ``key_id`` part of the stored
        pseudonym) cannot be found with this one.
        """
        return list(self.records(lead_id=lead_id))

    def pseudonym(self, lead_id: Any) -> str:
        """The ``lead_id`` field this log stores for ``lead_id``."""
        if self._pseudonym is not None:
            return self._pseudonym(lead_id)
        fields = event_fields({"event": "lookup", "lead_id": lead_id}, self._rules)
        return str(fields["lead_id"])

    def verify(self, checkpoint: Checkpoint | str | os.PathLike[str] | None = None) -> VerifyResult:
        """Check the whole chain (and the checkpoint, if given).

        Parameters
        ----------
        checkpoint : Checkpoint or path, optional
            A checkpoint taken earlier (or the JSON file it was saved to). Also detects a
            truncated tail, a log rewritten up to the checkpoint, and a different chain.

        Returns
        -------
        VerifyResult
            ``ok``, ``records``, ``first_bad`` and ``problem``, and more; never raises for a
            damaged log, only for one that cannot be read at all.
        """
        cp = _load_checkpoint(checkpoint)
        verifier = ChainVerifier(cp)
        torn = self._store.scan(verifier)
        return verifier.finish(torn_tail=torn)

    def checkpoint(self) -> Checkpoint:
        """The current head of the chain, to store outside the log.

        The log is verified first (a full read), so a checkpoint never vouches for a damaged
        chain.

        Raises
        ------
        AuditLogError
            The log does not verify, or has no genesis record yet.
        """
        verdict = self.verify()
        if not verdict.ok:
            raise AuditLogError(
                f"The audit log {str(self.path)!r} does not verify (first bad record "
                f"{verdict.first_bad}); no checkpoint taken."
            )
        if verdict.chain_id is None or verdict.head_hash is None:
            raise AuditLogError(f"The audit log {str(self.path)!r} has no records yet.")
        return Checkpoint(
            chain_id=verdict.chain_id,
            seq=verdict.head_seq,
            head_hash=verdict.head_hash,
            time=self._clock().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )


def _repair_fields(details: Mapping[str, Any]) -> Fields:
    event = {
        "event": "log_repair",
        "reason": "an incomplete final write left by a crash was removed",
        "details": dict(details),
    }
    return event_fields(event, EventRules(False, None, False), internal=True)


def _backend_for(path: Path, backend: str | None) -> Backend:
    if backend is not None:
        choice = check_choice(backend, "backend", "AuditLog", ("sqlite", "jsonl"))
        return "jsonl" if choice == "jsonl" else "sqlite"
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except OSError:
        head = b""
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(b"{"):
        return "jsonl"
    return "jsonl" if path.suffix.lower() in _JSONL_SUFFIXES else "sqlite"


def _load_checkpoint(value: Checkpoint | str | os.PathLike[str] | None) -> Checkpoint | None:
    if value is None or isinstance(value, Checkpoint):
        return value
    if isinstance(value, str | os.PathLike):
        return Checkpoint.load(value)
    raise ParameterError(
        "The 'checkpoint' parameter of AuditLog.verify must be a Checkpoint or the path of "
        f"one, not {type(value).__name__}."
    )


def audit_verify_main(path: str, *, checkpoint: str | None = None) -> int:
    """``explainscore audit verify LOG [--checkpoint FILE]``: print a one-line verdict.

    Returns
    -------
    int
        0 the log is intact; 1 it is not (the line names the first bad sequence number);
        2 usage: no such log, not an audit log, or an unreadable checkpoint.
    """
    where = "explainscore audit verify"
    if not Path(path).is_file():
        print(f"{where}: error: no audit log at {path!r}", file=sys.stderr)
        return 2
    try:
        result = AuditLog(path).verify(checkpoint)
    except ExplainScoreError as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return 2
    if result.ok:
        span = (
            f"records {result.head_seq - result.records + 1}..{result.head_seq}"
            if result.records
            else "no records"
        )
        extra = ""
        if checkpoint is not None:
            extra += (
                ", checkpoint matches"
                if result.checkpoint_checked
                else (", checkpoint length matches (its record was purged)")
            )
        if result.torn_tail:
            extra += "; the last line is an incomplete write from a crash (never acknowledged)"
        print(f"OK: {path} is intact: {result.records} records ({span}){extra}")
        return 0
    at = "" if result.first_bad is None else f" at record {result.first_bad}"
    print(f"FAILED: {path} is not intact{at}: {result.problem}")
    return 1
