"""The hash chain: how a record is sealed, and how a stored chain is checked.

A record is a JSON object. Its hash is::

    SHA-256( b"explainscore.audit.v1\\0" + kind + b"\\0" + canonical_json(record - "hash") )

where ``kind`` is ``genesis`` (record 0, which carries the chain's random ``chain_id``) or
``event``. Every record holds ``prev_hash``, the hash of the record before it, so changing,
removing, reordering or inserting a record breaks a link or a hash at that point. The domain
tag keeps these hashes from ever equalling a hash computed for another purpose over the same
bytes; the kind keeps a genesis record from passing for an event.

``canonical_json`` is the version the record names in its ``canon`` field (2: RFC 8785; no
such field: version 1, the form of logs written before). The field is inside the hashed body,
so a record's version cannot be changed without breaking its hash.

Storage never changes the bytes: a stored record *is* its canonical JSON (with ``hash``), so
verification recomputes from exactly what is on disk and any edited byte shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ParameterError
from ._audit_canon import (
    CANON_VERSION,
    CANON_VERSIONS,
    canonical_json,
    canonical_json_trusted,
    canonical_members,
    join_members,
    parse_utc,
    utc_text,
)
from ._audit_models import FORMAT, Checkpoint, VerifyResult

__all__ = [
    "DOMAIN",
    "EVENT_KEYS",
    "ZERO_HASH",
    "ChainVerifier",
    "PreparedEvent",
    "make_event",
    "new_genesis",
    "prepare_event",
    "record_hash",
    "seal",
    "seal_event",
    "seal_prepared",
    "sealed_hash_ok",
]

DOMAIN = FORMAT.encode("ascii") + b"\0"
ZERO_HASH = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KINDS = frozenset({"genesis", "event"})
#: The optional key naming a record's canonical JSON version (absent: version 1).
CANON_KEY = "canon"
GENESIS_KEYS = frozenset({"kind", "seq", "prev_hash", "chain_id", "format", "time", "hash"})
#: Every event record has exactly these keys (``None`` where a field does not apply).
EVENT_KEYS = frozenset(
    {
        "kind",
        "seq",
        "time",
        "event",
        "prev_hash",
        "model_fingerprint",
        "policy_version",
        "input_digest",
        "inputs",
        "score",
        "attributions",
        "reason",
        "reason_codes",
        "explanation",
        "actor",
        "request_id",
        "lead_id",
        "links_to",
        "details",
        "hash",
    }
)


def record_hash(record: Mapping[str, Any]) -> str:
    """The chain hash of ``record`` (its ``hash`` key, if present, is left out)."""
    kind = record.get("kind")
    if kind not in _KINDS:
        raise ParameterError(f"Audit record kind must be one of {sorted(_KINDS)}.")
    body = {k: v for k, v in record.items() if k != "hash"}
    version = _canon_of(record)
    payload = DOMAIN + str(kind).encode("ascii") + b"\0" + canonical_json(body, version)
    return hashlib.sha256(payload).hexdigest()


def seal(record: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """``record`` with its ``hash``, and its canonical bytes as stored."""
    kind = record.get("kind")
    if kind not in _KINDS:
        raise ParameterError(f"Audit record kind must be one of {sorted(_KINDS)}.")
    version = _canon_of(record)
    # Each value is checked and encoded once, then joined without the hash (to hash) and
    # with it (to store): the same bytes as encoding the record twice.
    members = canonical_members({k: v for k, v in record.items() if k != "hash"}, version)
    body = join_members(members, version)
    digest = hashlib.sha256(DOMAIN + str(kind).encode("ascii") + b"\0" + body).hexdigest()
    sealed = dict(record)
    sealed["hash"] = digest
    members["hash"] = b'"' + digest.encode("ascii") + b'"'
    return sealed, join_members(members, version)


def _canon_of(record: Mapping[str, Any]) -> int:
    version = record.get(CANON_KEY, 1)
    if version.__class__ is not int or version not in CANON_VERSIONS:
        raise ParameterError(
            f"Audit record field {CANON_KEY!r} must be one of {list(CANON_VERSIONS)}."
        )
    return int(version)


def sealed_hash_ok(record: Mapping[str, Any]) -> bool:
    """Whether a stored record's own hash recomputes (used before extending a chain)."""
    try:
        return record.get("hash") == record_hash(record)
    except ParameterError:
        return False


def make_event(
    fields: Mapping[str, Any], seq: int, prev_hash: str, now: dt.datetime
) -> dict[str, Any]:
    """The unsealed event record numbered ``seq`` after ``prev_hash`` (``fields`` from
    :func:`~._audit_events.event_fields`)."""
    links_to = fields.get("links_to")
    if links_to is not None and links_to >= seq:
        raise ParameterError(
            f"links_to must name an earlier record; this record will be number {seq}."
        )
    record = dict(fields)
    record.update(kind="event", seq=seq, prev_hash=prev_hash, time=utc_text(now))
    record[CANON_KEY] = CANON_VERSION
    return record


#: What only the chain's head decides, in the order the keys sort (RFC 8785 order; every
#: key of a record is ASCII, so code points and UTF-16 code units sort them alike).
_PLACE_KEYS = ("hash", "prev_hash", "seq", "time")
_FIXED = {"kind": "event", CANON_KEY: CANON_VERSION}


def _runs_of_keys() -> tuple[frozenset[str], ...]:
    runs: list[set[str]] = [set()]
    for key in sorted(EVENT_KEYS | {CANON_KEY}, key=lambda key: key.encode("utf-16-be")):
        if key in _PLACE_KEYS:
            runs.append(set())
        else:
            runs[-1].add(key)
    return tuple(frozenset(run) for run in runs)


#: The record's other keys, cut into the runs between those four. The format fixes them:
#: ``actor``..``explanation``, ``hash``, ``input_digest``..``policy_version``,
#: ``prev_hash``, ``reason``..``score``, ``seq``, ``time``.
_RUNS = _runs_of_keys()
if len(_RUNS) != 5 or not all(_RUNS[:3]) or any(_RUNS[3:]):  # pragma: no cover
    raise ImportError("The audit record keys no longer fit the sealing layout.")
_FIELD_KEYS = frozenset().union(*_RUNS) - frozenset(_FIXED)
_EVENT_DOMAIN = DOMAIN + b"event\0"
_MARKER = "\x00" + secrets.token_hex(16)
_MARK = b'"\\u0000' + _MARKER[1:].encode("ascii") + b'"'  # the marker as JSON writes it
_MARKERS = dict.fromkeys(_PLACE_KEYS, _MARKER)


@dataclass(frozen=True)
class PreparedEvent:
    """An event's fields, checked and encoded once, before it has a place in the chain.

    Encoding is most of the cost of an append. A store prepares events before it takes its
    write lock, so the lock (held across processes) covers only what depends on the chain's
    head: the sequence number, the previous hash, the time and the hash itself.

    The record's canonical JSON is ``head`` + the hash member + ``middle`` + the previous
    hash + ``tail`` + the sequence number and time (its members sorted: see ``_RUNS``), so
    sealing only joins bytes.
    """

    fields: Mapping[str, Any]
    head: bytes  # '{' and the members before "hash", with the comma after them
    middle: bytes  # the members between "hash" and "prev_hash", up to prev_hash's value
    tail: bytes  # the members between "prev_hash" and "seq", up to seq's value


def prepare_event(fields: Mapping[str, Any]) -> PreparedEvent:
    """Encode ``fields``, which :func:`~._audit_events.event_fields` has checked value by
    value already (walking them again cost a fifth of an audited ``explain_one``)."""
    if fields.keys() != _FIELD_KEYS:
        raise ParameterError("Audit event fields must be exactly those event_fields returns.")
    # One encoder call for the whole record: the four members the chain's head decides hold
    # markers (random per process: no value can hold one by chance), and the record is cut
    # at them. The members are sorted, so each run of the others is in place as it is.
    pieces = canonical_json_trusted({**fields, **_FIXED, **_MARKERS}, CANON_VERSION).split(_MARK)
    # {run 0,"hash":~,run 1,"prev_hash":~,run 2,"seq":~,"time":~}
    if len(pieces) == 5 and pieces[3] == b',"time":' and pieces[4] == b"}":
        return PreparedEvent(fields, head=pieces[0][:-7], middle=pieces[1][1:], tail=pieces[2])
    # A value held the marker after all (it would have to be written on purpose): the same
    # bytes one run at a time.
    values = {**fields, **_FIXED}
    first, second, third = (
        canonical_json_trusted({key: values[key] for key in run}, CANON_VERSION)[1:-1]
        for run in _RUNS[:3]
    )
    return PreparedEvent(
        fields,
        head=b"{" + first + b",",
        middle=second + b',"prev_hash":',
        tail=b"," + third + b',"seq":',
    )


def seal_prepared(event: PreparedEvent, seq: int, prev_hash: str, time: str) -> tuple[str, bytes]:
    """The hash and the stored bytes of ``event`` numbered ``seq`` after ``prev_hash`` at
    ``time`` (``utc_text`` of the append's time): the bytes :func:`seal` gives for
    ``make_event(event.fields, ...)``, joined from the prepared parts."""
    links_to = event.fields.get("links_to")
    if links_to is not None and links_to >= seq:
        raise ParameterError(
            f"links_to must name an earlier record; this record will be number {seq}."
        )
    # Encoded, not pasted: a previous hash read from a damaged anchor could hold anything.
    rest = (
        event.middle
        + canonical_json_trusted(prev_hash, CANON_VERSION)
        + event.tail
        + str(seq).encode("ascii")
        + b',"time":'
        + canonical_json_trusted(time, CANON_VERSION)
        + b"}"
    )
    digest = hashlib.sha256(_EVENT_DOMAIN + event.head + rest).hexdigest()  # without "hash"
    return digest, event.head + b'"hash":"' + digest.encode("ascii") + b'",' + rest


def seal_event(
    event: PreparedEvent, seq: int, prev_hash: str, now: dt.datetime
) -> tuple[dict[str, Any], bytes]:
    """``seal(make_event(event.fields, seq, prev_hash, now))``, from the encoded fields."""
    record = make_event(event.fields, seq, prev_hash, now)
    digest, stored = seal_prepared(event, seq, prev_hash, record["time"])
    record["hash"] = digest
    return record, stored


def new_genesis(now: dt.datetime) -> tuple[dict[str, Any], bytes]:
    """Record 0 of a new chain, with a fresh random ``chain_id``."""
    return seal(
        {
            "kind": "genesis",
            "seq": 0,
            "prev_hash": ZERO_HASH,
            "chain_id": secrets.token_hex(16),
            "format": FORMAT,
            "time": utc_text(now),
            CANON_KEY: CANON_VERSION,
        }
    )


class _BadRecordError(Exception):
    """One failed check inside :class:`ChainVerifier` (never escapes it)."""


class ChainVerifier:
    """Checks a stored chain fed to it in storage order, one record at a time.

    Usage: :meth:`genesis`, then :meth:`anchor` if the log has been purged, then :meth:`feed`
    for each stored event record, then :meth:`finish`. The first failure is kept; later
    records are only counted.
    """

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self._checkpoint = checkpoint
        self._chain_id: str | None = None
        self._genesis_hash: str | None = None
        self._anchor: tuple[int, str] | None = None
        self._prev: str | None = None
        self._expected = 1
        self._head_seq = 0
        self._records = 0
        self._first_bad: int | None = None
        self._problem: str | None = None
        self._last_purge: tuple[int, Any] | None = None
        self._at_checkpoint: str | None = None

    @property
    def failed(self) -> bool:
        """Whether a check has failed already."""
        return self._problem is not None

    def _fail(self, seq: int | None, problem: str) -> None:
        if self._problem is None:
            self._first_bad = seq
            self._problem = problem

    def unreadable(self, problem: str) -> None:
        """The storage itself failed where the next record should be (a damaged file)."""
        self._fail(self._expected, problem)

    def genesis(self, raw: bytes | None) -> None:
        """Check record 0 (``None``: the log has no records at all yet)."""
        if raw is None:
            return
        try:
            record = _parse(raw, "the genesis record (0)")
            if _keys(record) != GENESIS_KEYS or record.get("kind") != "genesis":
                raise _BadRecordError("the genesis record (0) does not have the genesis fields")
            if record["format"] != FORMAT:
                raise _BadRecordError(
                    f"the genesis record names format {record['format']!r}, not {FORMAT}"
                )
            if record["seq"] != 0 or record["prev_hash"] != ZERO_HASH:
                raise _BadRecordError("the genesis record (0) has a wrong number or link")
            if not sealed_hash_ok(record):
                raise _BadRecordError(
                    "the genesis record (0) was modified (its hash does not match)"
                )
            chain_id = record["chain_id"]
            if not isinstance(chain_id, str):
                raise _BadRecordError("the genesis record (0) has no valid chain id")
        except _BadRecordError as exc:
            self._fail(0, str(exc))
            return
        self._chain_id = chain_id
        self._genesis_hash = str(record["hash"])
        self._prev = self._genesis_hash

    def anchor(self, purged_through: int, purged_hash: str) -> None:
        """Start after a purge: records up to ``purged_through`` were deleted on purpose."""
        if (
            not isinstance(purged_through, int)
            or isinstance(purged_through, bool)
            or purged_through < 1
            or not isinstance(purged_hash, str)
            or not _HEX64.fullmatch(purged_hash)
        ):
            self._fail(1, "the purge anchor is damaged")
            return
        self._anchor = (purged_through, purged_hash)
        self._expected = purged_through + 1
        self._head_seq = purged_through
        self._prev = purged_hash

    def feed(self, raw: bytes, stored: Mapping[str, Any] | None = None) -> None:
        """Check the next stored record.

        ``stored`` holds copies of record fields kept beside it for lookups (SQLite columns);
        each must equal the record's own field, so editing a column alone also shows.
        """
        self._records += 1
        if self.failed:
            return
        expected = self._expected
        try:
            self._check_event(raw, expected, stored or {})
        except _BadRecordError as exc:
            self._fail(expected, str(exc))

    def _check_event(self, raw: bytes, e: int, stored: Mapping[str, Any]) -> None:
        if self._prev is None:
            raise _BadRecordError("the log has event records but no genesis record")
        record = _parse(raw, f"record {e}")
        if _keys(record) != EVENT_KEYS or record.get("kind") != "event":
            raise _BadRecordError(
                f"record {e} does not have the event fields (edited, or not a record)"
            )
        # Self-consistency first: a record whose hash no longer matches its own content was
        # edited in place, whatever else is wrong with it.
        if not sealed_hash_ok(record):
            raise _BadRecordError(f"record {e} was modified (its hash does not match its content)")
        seq = record["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise _BadRecordError(f"record {e} has no valid sequence number")
        if seq > e:
            missing = f"record {e} is" if seq == e + 1 else f"records {e}..{seq - 1} are"
            raise _BadRecordError(
                f"{missing} missing or out of order (found record {seq} where record {e} belongs)"
            )
        if seq < e:
            raise _BadRecordError(
                f"record {seq} appears again where record {e} belongs (duplicated or reordered)"
            )
        for key, value in stored.items():
            if record[key] != value:
                raise _BadRecordError(f"record {e}'s stored {key} column differs from the record")
        if record["prev_hash"] != self._prev:
            before = self._link_name(e)
            raise _BadRecordError(
                f"record {e} does not link to {before} ({before} was rewritten, or record {e} "
                "was inserted)"
            )
        links_to = record["links_to"]
        if links_to is not None and (
            not isinstance(links_to, int) or isinstance(links_to, bool) or not 1 <= links_to < e
        ):
            raise _BadRecordError(f"record {e} links to a record that cannot precede it")
        if not isinstance(record["time"], str) or not _is_time(record["time"]):
            raise _BadRecordError(f"record {e} has no valid time")
        if record["event"] == "purge":
            self._last_purge = (e, record["details"])
        self._prev = str(record["hash"])
        if self._checkpoint is not None and e == self._checkpoint.seq:
            self._at_checkpoint = self._prev
        self._head_seq = e
        self._expected = e + 1

    def _link_name(self, e: int) -> str:
        if self._anchor is not None and e == self._anchor[0] + 1:
            return f"the purge anchor (record {self._anchor[0]})"
        if e == 1:
            return "the genesis record"
        return f"record {e - 1}"

    def finish(self, *, torn_tail: bool = False) -> VerifyResult:
        """The verdict, after the purge-anchor and checkpoint checks."""
        if not self.failed:
            self._check_anchor()
        checked = False
        if not self.failed and self._checkpoint is not None:
            checked = self._check_checkpoint(self._checkpoint)
        ok = not self.failed
        return VerifyResult(
            ok=ok,
            records=self._records,
            first_bad=None if ok else self._first_bad,
            problem=self._problem,
            head_seq=self._head_seq,
            head_hash=self._prev,
            chain_id=self._chain_id,
            anchor_seq=None if self._anchor is None else self._anchor[0],
            torn_tail=torn_tail,
            checkpoint_checked=checked,
        )

    def _check_anchor(self) -> None:
        # The anchor sits outside the chain (it replaces the purged records), so it is trusted
        # only if the last purge event, which is inside the chain, names the same record/hash.
        expected: tuple[Any, Any] | None = None
        if self._last_purge is not None:
            details = self._last_purge[1]
            if isinstance(details, dict):
                expected = (details.get("purged_through"), details.get("purged_hash"))
            else:
                expected = (None, None)
        if expected == self._anchor or (expected is None and self._anchor is None):
            return
        start = 1 if self._anchor is None else self._anchor[0] + 1
        if self._anchor is None:
            problem = "a purge event is recorded but the log has no purge anchor"
        elif self._last_purge is None:
            problem = f"the purge anchor (record {self._anchor[0]}) has no purge event behind it"
        else:
            problem = (
                f"the purge anchor (record {self._anchor[0]}) does not match purge event "
                f"{self._last_purge[0]}"
            )
        self._fail(start, problem)

    def _check_checkpoint(self, cp: Checkpoint) -> bool:
        if self._chain_id is None:
            self._fail(min(cp.seq, 1), "the log is empty but the checkpoint is of a chain")
            return False
        if cp.chain_id != self._chain_id:
            self._fail(None, "the checkpoint is from a different chain (or the log was replaced)")
            return False
        if self._head_seq < cp.seq:
            self._fail(
                self._head_seq + 1,
                f"the log ends at record {self._head_seq} but the checkpoint covers record "
                f"{cp.seq}: the tail was truncated",
            )
            return False
        if cp.seq == 0:
            seen: str | None = self._genesis_hash
        elif self._anchor is not None and cp.seq == self._anchor[0]:
            seen = self._anchor[1]
        elif self._anchor is not None and cp.seq < self._anchor[0]:
            return False  # purged since: only the length could be checked
        else:
            seen = self._at_checkpoint
        if seen != cp.head_hash:
            self._fail(
                cp.seq,
                f"record {cp.seq} differs from the checkpoint: the log was rewritten at or "
                f"before record {cp.seq}",
            )
            return False
        return True


def _parse(raw: bytes, name: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadRecordError(f"{name} is not valid UTF-8") from None
    try:
        record = json.loads(text)
    except ValueError:
        raise _BadRecordError(f"{name} is not valid JSON") from None
    if not isinstance(record, dict):
        raise _BadRecordError(f"{name} is not a JSON object")
    try:
        version = _canon_of(record)
    except ParameterError:
        raise _BadRecordError(f"{name} names an unknown canonical JSON version") from None
    try:
        canonical = canonical_json(record, version)
    except ParameterError:
        raise _BadRecordError(f"{name} holds a value JSON cannot hold (NaN or infinity)") from None
    # Canonical form is unique, so any edit that keeps the meaning (spacing, key order, number
    # spelling) still shows: the stored bytes must be exactly the canonical ones.
    if canonical != raw:
        raise _BadRecordError(f"{name} is not in canonical form (edited outside the log)")
    return record


def _keys(record: Mapping[str, Any]) -> set[str]:
    """The record's keys without the optional canon version."""
    return set(record).difference((CANON_KEY,))


def _is_time(text: str) -> bool:
    try:
        parse_utc(text)
    except ValueError:
        return False
    return True
