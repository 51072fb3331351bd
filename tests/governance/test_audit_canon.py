"""Canonical JSON (Hypothesis): decoding and re-encoding gives the same bytes, the encoding
ignores key order, and what JSON cannot hold is refused."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explainscore.exceptions import ParameterError
from explainscore.governance._audit_canon import canonical_json, parse_utc, utc_text

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip(value: Any) -> None:
    raw = canonical_json(value)
    decoded = json.loads(raw)
    assert canonical_json(decoded) == raw
    assert _same(decoded, value)
    assert b"\n" not in raw  # one record, one line
    assert raw.decode("utf-8")  # UTF-8, never \\u-escaped non-ASCII


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), scalars, max_size=8), st.randoms())
def test_key_order_does_not_matter(value: dict[str, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(value)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_use_repr(x: float) -> None:
    assert canonical_json(x) == repr(x).encode()
    assert float(canonical_json(x)) == x


def _same(a: Any, b: Any) -> bool:
    # Tuples come back as lists; -0.0 == 0.0 but must keep its sign.
    if isinstance(b, float):
        return isinstance(a, float) and a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(b, list | tuple):
        return isinstance(a, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


def test_exact_form() -> None:
    assert canonical_json({"b": [1, 2.0, None], "a": "é", "c": True}) == (
        '{"a":"é","b":[1,2.0,null],"c":true}'.encode()
    )
    assert canonical_json((1, 0.1)) == b"[1,0.1]"


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), {1: "x"}, {"a": {1.5: 2}}, b"bytes", {1, 2}, "\ud800", object()],
)
def test_refused(value: Any) -> None:
    with pytest.raises(ParameterError):
        canonical_json(value)


def test_utc_text_is_fixed_width_utc() -> None:
    import datetime as dt

    moment = dt.datetime(2024, 5, 1, 14, 3, 2, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc_text(moment) == "2024-05-01T12:03:02.000005Z"
    assert parse_utc(utc_text(moment)) == moment
    with pytest.raises(ParameterError):
        utc_text(dt.datetime(2024, 5, 1))  # naive: refused
