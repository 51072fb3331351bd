"""The fast RFC 8785 encoder against the ``rfc8785`` package, byte for byte."""

from __future__ import annotations

import math
import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import json_values

from explainscore.governance._jcs import es_number, jcs_dumps


@given(json_values())
@settings(max_examples=400, deadline=None)
def test_same_bytes_as_the_reference_package(value: object) -> None:
    assert jcs_dumps(value) == rfc8785.dumps(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=2000, deadline=None)
def test_every_double_is_written_as_ecmascript_writes_it(x: float) -> None:
    assert es_number(x).encode() == rfc8785.dumps(x)
    assert jcs_dumps([x]) == rfc8785.dumps([x])


@pytest.mark.parametrize(
    "x",
    [
        0.0, -0.0, 1.0, -2.0, 0.1, 1e-7, 1e-6, 1.5e-6, 9.99e-7, 1e-4, 3.2e-5, 1e16, 1e21, 1e20,
        1.5e21, 2.0**53, 2.0**53 + 2, 2.0**60, 5e-324, 1.7976931348623157e308, 123456789.125,
    ],
)  # fmt: skip
def test_the_boundaries_of_each_layout(x: float) -> None:
    assert jcs_dumps({"v": x, "w": [-x]}) == rfc8785.dumps({"v": x, "w": [-x]})


def test_bit_patterns_across_the_exponent_range() -> None:
    # One double per binary exponent (and its neighbours): every layout boundary is crossed.
    for bits in range(0, 0x7FF0_0000_0000_0000, 0x0010_0000_0000_0000):
        for delta in (0, 1, 0x000F_FFFF_FFFF_FFFF):
            x = struct.unpack("<d", struct.pack("<Q", bits + delta))[0]
            if math.isfinite(x):
                assert jcs_dumps(x) == rfc8785.dumps(x), x


def test_keys_sorted_by_utf16_code_units() -> None:
    # U+FF21 sorts after U+1F600 by code point, before it by UTF-16 code units.
    value = {"\U0001f600": 1, "\uff21": 2, "a": {"\U0001f600b": 0.5, "\ue000": 3}}
    assert jcs_dumps(value) == rfc8785.dumps(value)


def test_text_that_looks_like_a_placeholder_is_kept() -> None:
    value = {"a": "\x00abc0", "b": 1e-7, "c": ["\x00", 2.5e-5]}
    assert jcs_dumps(value) == rfc8785.dumps(value)


def test_control_characters_and_non_ascii_text() -> None:
    value = ["\b\f\n\r\t\x01\x1f\x7f", "\u2028\u2029", 'quote " and \\ backslash', "é中😀"]
    assert jcs_dumps(value) == rfc8785.dumps(value)
