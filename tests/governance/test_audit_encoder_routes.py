"""Each route the audit log's encoding can take gives the same bytes.

The encoder is ``orjson``'s, with the standard library's as the route for what ``orjson``
refuses (and when it is missing); a prepared event is cut from one encoding of the whole
record, with the run-by-run encoding as the route when a value holds the cutting marker;
a plain ``dict`` of inputs is checked by C loops, anything else value by value. These tests
hold each shortcut to its general route and to the ``rfc8785`` package.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import MappingProxyType
from typing import Any
from unittest import mock

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import json_values

from explainscore.exceptions import ParameterError
from explainscore.governance import _audit_chain, _jcs
from explainscore.governance._audit_canon import canonical_json_trusted, plain_inputs_checked
from explainscore.governance._audit_chain import make_event, prepare_event, seal, seal_event
from explainscore.governance._audit_events import EventRules, event_fields
from explainscore.governance._jcs import jcs_dumps

_RULES = EventRules(store_inputs=True, pseudonymize=None, allow_plain_ids=True)
_NOW = dt.datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=dt.UTC)


@contextmanager
def _standard_library_only() -> Iterator[None]:
    with mock.patch.object(_jcs, "_orjson_dumps", None):
        yield


def test_orjson_is_the_encoder() -> None:
    # A dependency: without it every append pays the standard encoder's set-up.
    assert _jcs._orjson_dumps is not None


@given(json_values())
@settings(max_examples=400, deadline=None)
def test_the_standard_library_route_gives_the_same_bytes(value: object) -> None:
    fast = jcs_dumps(value)
    with _standard_library_only():
        standard = jcs_dumps(value)
    assert fast == standard == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        [1e-5, 1e-6, 1e-7, 1e16, 1e20, 1e21, 1e22, -0.0, 2.0, 0.1, 5e-324],
        {"a": 1.5e-7, "b": [1e21, {"c": 123456789.0}], "d": -1e-6},
        {"pre-approved 1e-5 text": "2.0, not a number", "x": "1e+5]"},
        ["\x00\x1f\x7f", "\u2028", "é中😀", "\ue000", {"\U0001f600": 1, "\uff21": 2}],
        {"deep": [[[[{"a": [0.5, 1e-9]}]]]]},
        {"Zoë": 1.0, "中": [2.0, "x"], "a": "\uffff", "\U0001f600": "5e-3 units"},
        {"é": "a 3.0, b", "ü": 0.5},
    ],
)
def test_layouts_the_two_encoders_write_differently(value: Any) -> None:
    # orjson writes 1e-05 as 0.00001 and exponents without a leading zero: both routes must
    # still give RFC 8785's text.
    fast = jcs_dumps(value)
    with _standard_library_only():
        assert jcs_dumps(value) == fast
    assert fast == rfc8785.dumps(value)


def test_what_orjson_refuses_goes_to_the_standard_encoder() -> None:
    # An int beyond 64 bits that a double holds with the same digits: orjson refuses it.
    big = {"n": 10**20, "m": [0.5]}
    assert canonical_json_trusted(big) == rfc8785.dumps({"n": 1e20, "m": [0.5]})
    # A subclass of str orjson takes, and one of float it does not: written as their value.

    class Text(str):
        pass

    class Number(float):
        pass

    assert jcs_dumps([Text("a"), Number(0.25)]) == b'["a",0.25]'


def test_a_lone_surrogate_is_refused_on_every_route() -> None:
    for route in (nullcontext(), _standard_library_only()):
        with route, pytest.raises(ParameterError, match="lone surrogate"):
            canonical_json_trusted({"a": "x\ud800"})


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    return event_fields(event, _RULES)


def test_a_value_holding_the_marker_takes_the_run_by_run_route() -> None:
    # The marker is random per process; a value holding it on purpose must not move a cut.
    marker = _audit_chain._MARKER
    event = {
        "event": "explanation",
        "reason": marker,
        "actor": "a" + marker + "b",
        "details": {marker: marker},
        "inputs": {"x": marker},
    }
    fields = _fields(event)
    expected = seal(make_event(fields, 7, "ab" * 32, _NOW))
    assert seal_event(prepare_event(fields), 7, "ab" * 32, _NOW) == expected


@given(st.sampled_from(["reason", "actor", "request_id", "policy_version"]), st.text(max_size=8))
@settings(max_examples=100, deadline=None)
def test_text_next_to_a_cut_keeps_the_record_bytes(key: str, text: str) -> None:
    # Text that looks like the members around a cut ('"hash":', ',"time":', '}').
    for tricky in (text, '","hash":' + text, ',"time":"}' + text, "\\u0000" + text):
        fields = _fields({"event": "explanation", key: tricky})
        expected = seal(make_event(fields, 3, "cd" * 32, _NOW))
        assert seal_event(prepare_event(fields), 3, "cd" * 32, _NOW) == expected


_INPUT_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),  # NaN, infinities, and doubles whose sum overflows
    st.sampled_from([math.nan, math.inf, -math.inf, sys.float_info.max, -sys.float_info.max]),
    st.text(max_size=4),
    st.integers(-(2**60), 2**60),  # ints leave the C loops for the value-by-value check
)


@given(st.dictionaries(st.text(max_size=4), _INPUT_VALUES, max_size=10))
@settings(max_examples=500, deadline=None)
def test_a_plain_dict_of_inputs_is_judged_as_the_value_by_value_check_judges_it(
    inputs: dict[str, Any],
) -> None:
    # A mapping that is not a dict takes the value-by-value route.
    quick_outcome, slow_outcome = _judged(inputs), _judged(MappingProxyType(inputs))
    if isinstance(slow_outcome, str):  # refused (an infinite value): refused alike
        assert quick_outcome == slow_outcome
        return
    assert not isinstance(quick_outcome, str)
    (quick, quick_plain), (slow, slow_plain) = quick_outcome, slow_outcome
    assert quick_plain == slow_plain
    assert list(quick.items()) == list(slow.items()) or _same_with_nan(quick, slow)
    if quick_plain:
        assert all(not isinstance(v, float) or math.isfinite(v) for v in quick.values())


def _judged(inputs: Any) -> tuple[dict[str, Any], bool] | str:
    try:
        return plain_inputs_checked(inputs)
    except ParameterError as exc:
        return str(exc)


def _same_with_nan(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return list(a) == list(b) and all(
        x is y or x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a.values(), b.values(), strict=True)
    )


def test_finite_doubles_whose_sum_overflows_are_still_plain() -> None:
    big = sys.float_info.max
    plain, checked = plain_inputs_checked({"a": big, "b": big, "c": "x"})
    assert checked
    assert plain == {"a": big, "b": big, "c": "x"}
    assert plain_inputs_checked({"a": big, "b": big})[1]


def test_a_missing_double_leaves_the_quick_route_and_becomes_none() -> None:
    for inputs in ({"a": 0.5, "b": math.nan}, {"a": "x", "b": math.nan, "c": None}):
        plain, checked = plain_inputs_checked(inputs)
        assert not checked
        assert plain["b"] is None
        assert (plain, checked) == plain_inputs_checked(MappingProxyType(inputs))


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_an_infinite_double_is_refused_on_both_routes(bad: float) -> None:
    for inputs in ({"a": 0.5, "b": bad}, {"a": "x", "b": bad, "c": None}):
        assert _judged(inputs) == _judged(MappingProxyType(inputs))
        with pytest.raises(ParameterError, match="'b' is infinite"):
            plain_inputs_checked(inputs)


def test_a_key_that_is_not_text_is_still_refused() -> None:
    with pytest.raises(ParameterError, match="column name of type int"):
        plain_inputs_checked({1: 0.5})
