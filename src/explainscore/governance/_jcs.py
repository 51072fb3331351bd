"""RFC 8785 (JSON Canonicalization Scheme) at the speed of a C JSON encoder.

The audit log hashes every record's RFC 8785 form. The ``rfc8785`` package writes it in pure
Python, about 1 ms for one explanation record (40 inputs, attributions, reason codes): more
than the rest of an audited ``explain_one``. This module gives the same bytes from one call
of a C encoder (see below), and only where the text shows one is needed, one walk that
rewrites the few values where Python's JSON and RFC 8785 differ:

* **Numbers.** RFC 8785 writes a double as ECMAScript's ``Number.prototype.toString``
  does; Python writes ``repr``. Both take the shortest digits that read back to the same
  double, so they differ only in layout: ECMAScript writes integral values without ``.0``
  (``2``, ``-0`` as ``0``), fixed notation from 1e-6 to 1e21 (Python: from 1e-4 to 1e16)
  and exponents without padding (``1e-7``, not ``1e-07``). Integral doubles below 2**53 are
  handed over as ints (the same digits); doubles in Python's fixed range are left alone (the
  same text); every other double is laid out here from ``repr``'s digits and put in place of
  a placeholder string after encoding.
* **Keys** are sorted by UTF-16 code units; Python sorts by code points. The two orders
  differ only between a key holding a character beyond U+FFFF and one holding U+E000-U+FFFF
  at the same place. Objects with such keys are rare enough to hand to ``rfc8785`` itself.
* **Strings** need nothing: with ``ensure_ascii=False`` both escape exactly ``"``, ``\\``
  and the control characters, with the same short forms (``\\n``, ...) and lower-case
  ``\\u00xx`` for the rest.

The encoder is ``orjson``'s when it is installed (a dependency: measured 10 to 12 times
faster than ``json.dumps`` on an explanation record of 1.8 kB and on 40 inputs, 2.7 against
26 to 32 microseconds), else the standard library's. Both write the same text for valid
values: sorted keys (code points), UTF-8, the escapes above, and doubles in their shortest
round-trip digits (``orjson`` lays some out differently, e.g. ``0.00001`` for ``1e-05``;
the check in :func:`jcs_dumps` sends every double either could lay out unlike RFC 8785 to
the walk). What ``orjson`` refuses (an
int beyond 64 bits, a lone surrogate, a subclass it does not know) goes to the standard one.

Values must be valid already (finite floats, str keys, ints RFC 8785 can write, no lone
surrogates): the audit log checks them before encoding (``_audit_canon``). The tests compare
every byte with the ``rfc8785`` package over generated values.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

_orjson_dumps: Callable[..., bytes] | None
try:
    from orjson import OPT_SORT_KEYS as _SORT_KEYS
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - a dependency; the standard library does the same
    _orjson_dumps, _SORT_KEYS = None, 0

__all__ = ["es_number", "jcs_dumps"]

#: Doubles Python's ``repr`` already writes as ECMAScript does (fixed notation, a fraction).
_FIXED_LOW, _FIXED_HIGH = 1e-4, 1e16
_EXACT_INT = 2.0**53
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode
# Keys holding characters from U+E000 up may sort differently by UTF-16 code units: in
# UTF-8, their lead bytes are EE and EF (up to U+FFFF) and F0-F4 (beyond); no other byte
# of UTF-8 text is as high.
_BELOW_HIGH_LEAD = bytes(range(0xEE))
# What the C encoder writes for a number RFC 8785 lays out otherwise: an exponent ("1e-07",
# "1e+16") or an integral value ("2.0"), followed inside an array or object by "," "]" or "}".
_MARKS = (b"e-", b"e+", b".0,", b".0]", b".0}")
_DIGITS = frozenset(b"0123456789")


class _NeedsPackageError(Exception):
    """An object whose keys Python and RFC 8785 would sort differently."""


def es_number(x: float) -> str:
    """``x`` (a finite double) as ECMAScript's ``Number.prototype.toString`` writes it."""
    if x == 0.0:
        return "0"
    sign = "-" if x < 0 else ""
    text = repr(abs(x))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # Where the decimal point falls, counted from the first significant digit.
    point = len(whole) + exponent - (len(whole + fraction) - len((whole + fraction).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    e = point - 1
    exp = ("+" if e > 0 else "-") + str(abs(e))
    if k == 1:
        return sign + digits + "e" + exp
    return sign + digits[0] + "." + digits[1:] + "e" + exp


def jcs_dumps(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value`` (already validated: see the module docstring)."""
    cls = value.__class__
    if cls is str or cls is int or cls is bool or value is None:
        return _encoded(value)  # a key, a hash, a name: no walk needed
    if cls is float:
        return _float_text(value).encode("ascii")
    # Most values need no walk at all: the C encoder writes every double in its shortest
    # round-trip digits, which is RFC 8785's text unless it uses an exponent (always signed:
    # "1e-07", "1e+16"; orjson "1e-7") or writes an integral value ("2.0"). If the text
    # holds none of these marks after a digit (a superset: a string may hold them too) and
    # no character that could sort a key differently, it is the answer.
    data = _encoded(value)
    if _plain_layout(data):
        return data
    return _walked(value)


def _plain_layout(data: bytes) -> bool:
    """Whether ``data`` (the C encoder's text of an array or object) is RFC 8785's already."""
    for mark in _MARKS:
        # Found by bytes.find (a regular expression over every byte cost more than the
        # encoding); only a digit before a mark makes a number of it: English is full of
        # "e-" ("pre-approved"). A container's text starts with a bracket, so at > 0.
        at = data.find(mark)
        while at > 0:
            if data[at - 1] in _DIGITS:
                return False
            at = data.find(mark, at + 1)
    # Every byte below EE deleted: what is left is a high lead byte (one C loop).
    return data.isascii() or not data.translate(None, _BELOW_HIGH_LEAD)


def _encoded(value: Any) -> bytes:
    """``value`` as the C encoder writes it: sorted keys, UTF-8, shortest doubles."""
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(value, option=_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError: what it does not take, json.dumps may
            pass
    return _encode(value).encode("utf-8")


def _walked(value: Any) -> bytes:
    """The general route: doubles rewritten before encoding, rare key orders by ``rfc8785``."""
    numbers: list[str] = []
    try:
        prepared = _prepare(value, numbers)
    except _NeedsPackageError:
        import rfc8785

        return rfc8785.dumps(value)
    text = _encode(prepared)
    if numbers:
        tag = numbers.pop()
        text = re.sub(f'"\\\\u0000{tag}([0-9]+)"', lambda m: numbers[int(m[1])], text)
    return text.encode("utf-8")


def _float_text(x: float) -> str:
    if x.is_integer() and abs(x) < _EXACT_INT:
        return str(int(x))
    return es_number(x)


def _prepare(value: Any, numbers: list[str]) -> Any:
    cls = value.__class__
    if cls is float:
        return _number(value, numbers)
    if cls is dict:
        out = {}
        for key, item in value.items():
            if not key.isascii() and any(ord(c) >= 0xE000 for c in key):
                raise _NeedsPackageError
            # Leaves inline (a call per leaf was most of the walk's cost).
            kind = item.__class__
            if kind is float:
                out[key] = _number(item, numbers)
            elif kind is str or kind is int or kind is bool or item is None:
                out[key] = item
            else:
                out[key] = _prepare(item, numbers)
        return out
    if cls is list or cls is tuple:
        return [_prepare(item, numbers) for item in value]
    if cls is str or cls is int or cls is bool or value is None:
        return value
    # Subclasses (an IntEnum, a str subclass; numpy floats are refused before): as their base.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _number(float(value), numbers)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return _prepare(dict(value), numbers)
    if isinstance(value, list | tuple):
        return [_prepare(item, numbers) for item in value]
    raise TypeError(f"{cls.__name__} is not a JSON value")


def _number(x: float, numbers: list[str]) -> Any:
    if x.is_integer():
        if -_EXACT_INT < x < _EXACT_INT:
            return int(x)  # the same digits, without ".0" (and -0.0 as 0)
    elif _FIXED_LOW <= x < _FIXED_HIGH or -_FIXED_HIGH < x <= -_FIXED_LOW:
        return x  # repr's text is ECMAScript's here (an integral one would end in ".0")
    # A placeholder string replaced by the number after encoding. Its tag (random: no text
    # value can equal a placeholder by chance) is drawn once per call and kept last.
    if not numbers:
        numbers.append(secrets.token_hex(8))
    tag = numbers.pop()
    numbers.append(es_number(x))
    numbers.append(tag)
    return f"\x00{tag}{len(numbers) - 2}"
