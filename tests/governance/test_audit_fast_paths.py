"""The audit log's fast paths give exactly what the general routes give.

Each append used to walk its values several times (a check, an encoding, a second check, a
second encoding). The fast paths skip walks when a cheaper test shows they cannot change the
result; these tests hold them to the general routes (and to the ``rfc8785`` package) on
values built to trip the cheap tests: text that looks like numbers, integral and tiny
doubles, keys that sort differently in UTF-16, ints a double cannot hold, NaN, odd classes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import math
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import json_values

from explainscore.exceptions import ParameterError
from explainscore.governance._audit import AuditLog, AuditLogError
from explainscore.governance._audit_canon import (
    _big_ints_as_doubles,
    _plainly_valid,
    _valid,
    canonical_json,
    canonical_json_trusted,
    check_json,
    plain_inputs,
    plain_inputs_checked,
    utc_text,
)
from explainscore.governance._audit_chain import make_event, prepare_event, seal, seal_event
from explainscore.governance._audit_events import EventRules, event_fields
from explainscore.governance._jcs import _walked, jcs_dumps

# Text made of the characters the fast path looks for: a string can hold "e-", ".0," and
# quotes, backslashes and brackets around them, and must never be mistaken for a number.
_TRICKY_TEXT = st.text(
    st.sampled_from(list('e-+.0123,]}["\\:\x00 a\ue000\U0001f600é')), max_size=10
)
_DOUBLES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**6), 10**6).map(float),  # integral doubles: "2.0" in repr
    st.floats(-1e-3, 1e-3, allow_nan=False),  # exponents: "1e-07" in repr
    st.sampled_from([0.0, -0.0, 1e16, 1e21, 1e-7, 2.0**53, 5e-324, 1.7976931348623157e308]),
)
_TRICKY = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), _DOUBLES, _TRICKY_TEXT
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(_TRICKY_TEXT, children, max_size=5),
    ),
    max_leaves=25,
)


@given(_TRICKY)
@settings(max_examples=600, deadline=None)
def test_fast_encoding_is_rfc8785_on_tricky_values(value: Any) -> None:
    assert jcs_dumps(value) == rfc8785.dumps(value)
    assert jcs_dumps(value) == _walked(value)


@given(json_values())
@settings(max_examples=300, deadline=None)
def test_fast_encoding_is_the_walked_encoding(value: Any) -> None:
    assert jcs_dumps(value) == _walked(value)


def test_text_that_looks_like_a_number_to_fix_is_left_alone() -> None:
    value = {"a": "1.0,", "b": "x e-5 ]", "c": ['"2.0}"', 0.5], "d": 3.0, "e": 1e-7}
    assert jcs_dumps(value) == rfc8785.dumps(value)
    assert jcs_dumps({"a": "1.0,", "b": 0.25}) == b'{"a":"1.0,","b":0.25}'


# Values the general check refuses, or only just accepts: the quick check must never accept
# one the general check refuses.
_EDGY_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 2**53 too
    st.floats(),  # NaN and infinities too
    st.text(max_size=5),
    st.sampled_from([math.nan, math.inf, -math.inf, 2**53, 2**53 + 1, 10**16, 2**64]),
    st.sampled_from([b"bytes", dt.date(2026, 1, 1), object(), {1, 2}]),
)
_EDGY = st.recursive(
    _EDGY_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), children, max_size=4),
    ),
    max_leaves=15,
)


@given(_EDGY)
@settings(max_examples=600, deadline=None)
def test_the_quick_check_accepts_only_what_the_full_check_accepts(value: Any) -> None:
    if _plainly_valid(value, 0):
        assert _valid(value, 0, 1)
        assert _valid(value, 0, 2)
    refused: type[Exception] | None = None
    try:
        _check_the_long_way(value)
    except ParameterError:
        refused = ParameterError
    if refused:
        with pytest.raises(ParameterError):
            canonical_json(value)
        with pytest.raises(ParameterError):
            check_json(value)
    else:
        # rfc8785 refuses ints beyond 2**53 that a double holds exactly; the log writes them
        # as that double (the same digits).
        assert canonical_json(value) == rfc8785.dumps(_big_ints_as_doubles(value))
        check_json(value)


def _check_the_long_way(value: Any) -> None:
    from explainscore.governance._audit_canon import _check

    _check(value, "$", 0, 2)


def test_depth_limit_still_applies() -> None:
    deep: Any = 1.5
    for _ in range(70):
        deep = [deep]
    assert not _plainly_valid(deep, 0)
    with pytest.raises(ParameterError, match="deeper"):
        canonical_json(deep)


@given(
    st.dictionaries(
        st.text(max_size=4),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_infinity=False),
            st.text(max_size=4),
            st.sampled_from([dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, 5)]),
        ),
        max_size=8,
    )
)
@settings(max_examples=300, deadline=None)
def test_inputs_marked_plain_encode_alike_without_the_check(inputs: dict[str, Any]) -> None:
    plain, checked = plain_inputs_checked(inputs)
    assert plain == plain_inputs(inputs) or _has_nan(plain_inputs(inputs))
    if checked:
        assert _valid(plain, 0, 2)
        assert canonical_json_trusted(plain) == canonical_json(plain)
    else:
        with contextlib.suppress(ParameterError):  # a big int: refused, as before
            canonical_json(plain)


def _has_nan(values: dict[str, Any]) -> bool:
    return any(isinstance(v, float) and math.isnan(v) for v in values.values())


def test_inputs_with_a_big_int_are_refused_as_before() -> None:
    log_rules = EventRules(store_inputs=False, pseudonymize=None, allow_plain_ids=False)
    with pytest.raises(ParameterError, match=r"\$\.n is an integer beyond 2\*\*53"):
        event_fields({"event": "explanation", "inputs": {"n": 2**53 + 1}}, log_rules)


_MOMENTS = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)
).flatmap(
    lambda naive: st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(-dt.timedelta(hours=8)),
        ]
    ).map(lambda tz: naive.replace(tzinfo=tz))
)


@given(_MOMENTS)
@settings(max_examples=500, deadline=None)
def test_utc_text_is_strftime_text(moment: dt.datetime) -> None:
    assert utc_text(moment) == moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_EVENTS = st.fixed_dictionaries(
    {"event": st.sampled_from(["explanation", "sign_off", "kill_switch"])},
    optional={
        "score": _DOUBLES,
        "reason": _TRICKY_TEXT,
        "actor": _TRICKY_TEXT,
        "request_id": _TRICKY_TEXT,
        "model_fingerprint": _TRICKY_TEXT,
        "policy_version": _TRICKY_TEXT,
        "inputs": st.dictionaries(_TRICKY_TEXT, st.one_of(st.none(), _DOUBLES, _TRICKY_TEXT)),
        "attributions": st.lists(
            st.fixed_dictionaries({"feature": _TRICKY_TEXT, "contribution": _DOUBLES}),
            max_size=4,
        ),
        "reason_codes": st.lists(_TRICKY, max_size=3),
        "explanation": st.dictionaries(_TRICKY_TEXT, _TRICKY, max_size=4),
        "details": st.dictionaries(_TRICKY_TEXT, _TRICKY, max_size=3),
        "lead_id": st.one_of(st.integers(0, 10**6), st.text(min_size=1, max_size=6)),
        "links_to": st.integers(1, 6),
    },
)


@given(_EVENTS, st.booleans(), st.integers(1, 10**6), _MOMENTS)
@settings(max_examples=300, deadline=None)
def test_a_prepared_event_seals_to_the_bytes_of_the_general_route(
    event: dict[str, Any], store_inputs: bool, seq: int, now: dt.datetime
) -> None:
    rules = EventRules(store_inputs=store_inputs, pseudonymize=None, allow_plain_ids=True)
    fields = event_fields(event, rules)
    prev = f"{seq:064x}"[-64:]
    expected = seal(make_event(fields, seq + 6, prev, now))
    assert seal_event(prepare_event(fields), seq + 6, prev, now) == expected


def test_prepare_refuses_fields_it_does_not_know() -> None:
    rules = EventRules(store_inputs=False, pseudonymize=None, allow_plain_ids=False)
    fields = dict(event_fields({"event": "sign_off"}, rules), extra=1)
    with pytest.raises(ParameterError, match="exactly those"):
        prepare_event(fields)


def test_a_lone_surrogate_is_still_refused_before_anything_is_written(tmp_path: Path) -> None:
    # The check no longer encodes: the encoding, still before the write lock, finds it.
    log = AuditLog(tmp_path / "a.db")
    log.append({"event": "sign_off"})
    with pytest.raises(ParameterError, match="lone surrogate"):
        log.append({"event": "sign_off", "details": {"note": "bad \ud800 text"}})
    with pytest.raises(ParameterError, match="lone surrogate"):
        log.append_many([{"event": "sign_off"}, {"event": "sign_off", "reason": "\udfff"}])
    assert [r["seq"] for r in log.records()] == [1]


def test_logs_sharing_a_file_in_one_process_keep_one_chain(tmp_path: Path) -> None:
    # Each log remembers the head it wrote last and skips reading it while SQLite says no
    # other connection has committed since: interleaved writers must still see each other.
    path = tmp_path / "a.db"
    first, second = AuditLog(path), AuditLog(path, durability="os")
    receipts = []
    for i in range(12):
        log = first if i % 3 else second
        receipts.append(log.append({"event": "sign_off", "request_id": f"r{i}"}).seq)
    assert receipts == list(range(1, 13))
    assert first.verify().ok
    assert second.verify().ok


def test_an_edit_by_another_connection_is_seen_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = AuditLog(path)
    log.append({"event": "sign_off"})
    log.append({"event": "sign_off"})
    with sqlite3.connect(path) as db:
        (raw,) = db.execute("SELECT record FROM audit_records WHERE seq = 2").fetchone()
        db.execute(
            "UPDATE audit_records SET record = ? WHERE seq = 2",
            (raw.replace('"sign_off"', '"kill_switch"'),),
        )
    with pytest.raises(AuditLogError, match="damaged"):
        log.append({"event": "sign_off"})


def test_purge_then_append_continues_the_chain(tmp_path: Path) -> None:
    times = iter(dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=d) for d in range(99))
    log = AuditLog(tmp_path / "a.db", clock=lambda: next(times))
    for _ in range(4):
        log.append({"event": "sign_off"})
    assert log.purge(older_than_days=2) > 0
    receipt = log.append({"event": "sign_off"})
    result = log.verify()
    assert result.ok, result.problem
    assert receipt.seq == result.head_seq


def test_a_writer_holding_the_log_makes_others_wait_then_time_out(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    AuditLog(path).append({"event": "sign_off"})
    fd = os.open(str(path) + "-lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as another process inside its transaction
        log = AuditLog(path, busy_timeout=0.2)
        with pytest.raises(AuditLogError, match="busy"):
            log.append({"event": "sign_off"})
        released = threading.Timer(0.1, fcntl.flock, (fd, fcntl.LOCK_UN))
        released.start()
        waiting = AuditLog(path, busy_timeout=5.0)
        assert waiting.append({"event": "sign_off"}).seq == 2
        released.join()
    finally:
        os.close(fd)
    assert (os.stat(str(path) + "-lock").st_mode & 0o077) == 0
    assert AuditLog(path).verify().records == 2
