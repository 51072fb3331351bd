"""Canonical JSON, the input digest and UTC timestamps of the audit log.

Canonical JSON is the byte string every hash of the log is computed over, so it must be one
function of the value. There are two versions, and every record says which one it was hashed
with (its ``canon`` field; a record without one is version 1):

* **Version 2** (current, :data:`CANON_VERSION`): the JSON Canonicalization Scheme of RFC 8785
  (written by ``_jcs``, byte for byte what the ``rfc8785`` package writes), so an auditor
  in any language with a JCS library can recompute the hashes. Numbers are IEEE-754
  doubles written as ECMAScript writes them (``2.0`` is ``2``, ``1e-07`` is ``1e-7``); keys
  are sorted by their UTF-16 code units.
* **Version 1** (records without a ``canon`` field, written before version 2): Python's
  ``json`` with sorted keys, floats in ``repr`` form. Kept only so those logs still verify.

Both: no whitespace, UTF-8 (not ``\\u`` escapes), NaN and infinity refused (JSON has no
spelling for them) rather than written as a token another JSON reader would reject.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import rfc8785

from ..exceptions import ParameterError
from ._jcs import jcs_dumps

__all__ = [
    "CANON_VERSION",
    "CANON_VERSIONS",
    "canonical_json",
    "canonical_json_trusted",
    "canonical_members",
    "canonical_members_trusted",
    "check_json",
    "input_digest",
    "join_members",
    "parse_utc",
    "plain_inputs",
    "plain_inputs_checked",
    "utc_text",
]

#: The canonical form new records are written in (RFC 8785).
CANON_VERSION = 2
#: Every version a stored record may declare.
CANON_VERSIONS = (1, 2)

_MAX_DEPTH = 64
_LEAF = frozenset({str, int, bool})
_PLAIN_KINDS = frozenset({float, str, bool, type(None)})
_STR_KIND = frozenset({str})
# RFC 8785 numbers are doubles. An int beyond 2**53 - 1 is accepted only if the double it
# denotes is written with exactly its digits (1e16 read back from a log is the int 10**16),
# so what is written reads back as the same int; any other is refused, never rounded.
_SAFE_INT = 2**53 - 1


def canonical_json(value: Any, version: int = CANON_VERSION) -> bytes:
    """The canonical JSON encoding of ``value`` (UTF-8 bytes) in canon ``version``.

    Accepts ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists/tuples and dicts with
    ``str`` keys, nested. Tuples encode as lists. ``json.loads`` of the result, encoded again,
    gives the same bytes. In version 2 an ``int`` beyond +-(2**53 - 1) must be written by
    RFC 8785 with its own digits (as ``10**16`` is; ``2**53 + 1`` is not).

    Raises
    ------
    ParameterError
        For any other type, a non-``str`` key, NaN/infinity, an int RFC 8785 would change
        (version 2) or a string that is not valid Unicode (a lone surrogate). The message names the
        path to the value, not the value.
    """
    _check_version(version)
    if not _plainly_valid(value, 0) and not _valid(value, 0, version):
        _check(value, "$", 0, version)  # raises, naming where
    return canonical_json_trusted(value, version)


def check_json(value: Any) -> None:
    """Raise as :func:`canonical_json` (current version) would for ``value``, without encoding
    it (a lone surrogate is found only when it is encoded)."""
    if not _plainly_valid(value, 0) and not _valid(value, 0, CANON_VERSION):
        _check(value, "$", 0, CANON_VERSION)


def canonical_json_trusted(value: Any, version: int = CANON_VERSION) -> bytes:
    """The canonical encoding of a value already known to be valid."""
    try:
        if version == 1:
            text = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
            return text.encode("utf-8")
        try:
            # The same bytes as rfc8785.dumps, a few times faster (see _jcs).
            return jcs_dumps(value)
        except rfc8785.IntegerDomainError:
            # Rare: an int beyond 2**53 that a double holds exactly (checked by _valid).
            return rfc8785.dumps(_big_ints_as_doubles(value))
    except (UnicodeEncodeError, rfc8785.CanonicalizationError):
        raise ParameterError(
            "A text value for the audit log is not valid Unicode (it holds a lone surrogate)."
        ) from None


def canonical_members(value: Mapping[str, Any], version: int = CANON_VERSION) -> dict[str, bytes]:
    """Each member of the object ``value`` as canonical bytes, checked as :func:`canonical_json`.

    With :func:`join_members` this gives ``canonical_json(value)``; sealing a record joins the
    members twice (without, then with its hash) but encodes each value once.
    """
    _check_version(version)
    if not isinstance(value, dict):
        raise ParameterError("Audit data for canonical members must be a dict.")
    if not _plainly_valid(value, 0) and not _valid(value, 0, version):
        _check(value, "$", 0, version)  # raises, naming where
    return canonical_members_trusted(value, version)


def canonical_members_trusted(
    value: Mapping[str, Any], version: int = CANON_VERSION
) -> dict[str, bytes]:
    """:func:`canonical_members` of a value already known to be valid."""
    return {key: canonical_json_trusted(item, version) for key, item in value.items()}


def join_members(members: Mapping[str, bytes], version: int = CANON_VERSION) -> bytes:
    """The canonical object of already-encoded members (keys sorted as ``version`` sorts)."""
    if version == 1:
        order = sorted(members)  # code points, as json.dumps(sort_keys=True)
    else:
        order = sorted(members, key=lambda key: key.encode("utf-16-be"))  # RFC 8785, 3.2.3
    parts = [_key_bytes(key, version) + members[key] for key in order]
    return b"{" + b",".join(parts) + b"}"


@functools.lru_cache(maxsize=1024)
def _key_bytes(key: str, version: int) -> bytes:
    # A record's keys are the same few names every time: encode each once per process.
    return canonical_json_trusted(key, version) + b":"


def _check_version(version: Any) -> None:
    if version not in CANON_VERSIONS or version.__class__ is not int:
        raise ParameterError(
            f"The audit log's canonical JSON version must be one of {list(CANON_VERSIONS)}. "
            f"Got {version!r} instead."
        )


def _big_ints_as_doubles(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INT:
        return float(value)
    if isinstance(value, list | tuple):
        return [_big_ints_as_doubles(item) for item in value]
    if isinstance(value, dict):
        return {key: _big_ints_as_doubles(item) for key, item in value.items()}
    return value


def _int_ok(value: int, version: int) -> bool:
    if version == 1 or -_SAFE_INT <= value <= _SAFE_INT:
        return True
    try:
        return rfc8785.dumps(float(value)) == str(value).encode("ascii")
    except (OverflowError, rfc8785.CanonicalizationError):
        return False


def _plainly_valid(value: Any, depth: int) -> bool:
    """True if ``value`` is made of the plain JSON types only, within every limit (either
    version). False does not mean invalid: :func:`_valid` then decides.

    The common case at a fraction of :func:`_valid`'s cost: one loop per container, exact
    classes, no call per leaf.
    """
    if depth > _MAX_DEPTH:
        return False
    cls = value.__class__
    if cls is dict:
        for key in value:
            if key.__class__ is not str:
                return False
        items: Any = value.values()
    elif cls is list or cls is tuple:
        items = value
    else:
        return _plainly_valid([value], depth - 1)
    for item in items:
        cls = item.__class__
        if cls is float:
            if item - item != 0.0:  # NaN or infinite (their difference is NaN)
                return False
        elif cls is str or cls is bool or item is None:
            continue
        elif cls is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                return False
        elif cls is dict or cls is list or cls is tuple:
            if not _plainly_valid(item, depth + 1):
                return False
        else:
            return False
    return True


def _valid(value: Any, depth: int, version: int) -> bool:
    """Whether ``value`` can be encoded: :func:`_check` without building paths (fast)."""
    if depth > _MAX_DEPTH:
        return False
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return _int_ok(value, version)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_valid(item, depth + 1, version) for item in value)
    if isinstance(value, dict):
        return all(
            key.__class__ is str and _valid(item, depth + 1, version) for key, item in value.items()
        )
    return False


def _check(value: Any, path: str, depth: int, version: int) -> None:
    # json.dumps alone would silently turn int keys into strings and accept NaN tokens, and
    # both break "decode then re-encode gives the same bytes", which the chain relies on.
    if depth > _MAX_DEPTH:
        raise ParameterError(f"Audit data nested deeper than {_MAX_DEPTH} levels at {path}.")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not _int_ok(value, version):
            raise ParameterError(
                f"Audit data at {path} is an integer beyond 2**53 that a JSON number (a "
                "double) cannot hold exactly. Pass it as a str."
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(
                f"Audit data at {path} is NaN or infinite; JSON cannot hold it. "
                "Pass None for a missing value."
            )
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", depth + 1, version)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(
                    f"Audit data at {path} has a key of type {type(key).__name__}; "
                    "keys must be str."
                )
            _check(item, f"{path}.{key}", depth + 1, version)
        return
    raise ParameterError(
        f"Audit data at {path} is of type {type(value).__name__}; use None, bool, int, float, "
        "str, list or dict."
    )


def plain_inputs(inputs: Any) -> dict[str, Any]:
    """A lead's raw values as a plain dict for the digest (and for storing, if asked).

    Takes a mapping of column -> value, a pandas Series or a one-row DataFrame. numpy scalars
    become Python numbers, missing values (``None``, NaN, ``pd.NA``, ``NaT``) become
    ``None`` (as in :class:`~explainscore.FeatureAttribution`), dates and times become ISO
    8601 text. Column names must be ``str``.
    """
    return plain_inputs_checked(inputs)[0]


def plain_inputs_checked(inputs: Any) -> tuple[dict[str, Any], bool]:
    """:func:`plain_inputs`, and whether the result is plainly valid canonical JSON already
    (str keys, finite floats, ints a double holds, text, None, bools): then it can be encoded
    without another check."""
    if inputs.__class__ is dict:
        # The common case, checked by C loops (a Python loop per value was most of the cost):
        # str keys, values of the plain classes, and every float finite: their sum is then
        # finite (NaN or infinity make it NaN or infinite; an overflow only sends it to the
        # loop below).
        kinds = set(map(type, inputs.values()))
        if kinds <= _PLAIN_KINDS and set(map(type, inputs)) <= _STR_KIND:
            if float not in kinds:
                return dict(inputs), True
            total = (
                sum(inputs.values())
                if len(kinds) == 1
                else sum([v for v in inputs.values() if v.__class__ is float])
            )
            if total - total == 0.0:
                return dict(inputs), True
    frame_rows = getattr(inputs, "shape", None)
    if frame_rows is not None and hasattr(inputs, "columns"):
        if inputs.shape[0] != 1:
            raise ParameterError(
                f"inputs for the audit log must be one lead; got {inputs.shape[0]} rows."
            )
        inputs = inputs.iloc[0]
    if hasattr(inputs, "to_dict") and not isinstance(inputs, Mapping):
        inputs = inputs.to_dict()
    if not isinstance(inputs, Mapping):
        raise ParameterError(
            "inputs for the audit log must be a mapping of column to value, a Series or a "
            f"one-row DataFrame; got {type(inputs).__name__}."
        )
    out: dict[str, Any] = {}
    plain = True
    for key, value in inputs.items():
        if key.__class__ is not str:
            if not isinstance(key, str):
                raise ParameterError(
                    "inputs for the audit log have a column name of type "
                    f"{type(key).__name__}; column names must be str."
                )
            plain = False
        cls = value.__class__
        # The common leaves inline (a call per value was most of the cost).
        if (
            (cls is float and value - value == 0.0)  # finite (NaN and inf give NaN)
            or cls is str
            or value is None
            or cls is bool
            or (cls is int and -_SAFE_INT <= value <= _SAFE_INT)
        ):
            out[key] = value
        else:
            out[key] = _plain_value(value, key)
            plain = False  # a numpy scalar, a date, a big int: let the full check look
    return out, plain


def _plain_value(value: Any, column: str) -> Any:
    cls = value.__class__
    if cls is float and math.isfinite(value):  # the common case first
        return value
    if value is None or cls in _LEAF or isinstance(value, bool | int | str):
        return value
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, list | tuple | dict):
        # numpy scalars (and 0-d arrays): the Python number they hold.
        with contextlib.suppress(TypeError, ValueError):
            value = item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ParameterError(
                f"inputs column {column!r} is infinite; the audit digest cannot hold it."
            )
        return value
    if _is_missing(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return str(isoformat())
    raise ParameterError(
        f"inputs column {column!r} holds a value of type {type(value).__name__}; use None, "
        "bool, int, float, str or a date/time."
    )


def _is_missing(value: Any) -> bool:
    # pd.NA and NaT without importing pandas: both compare unequal to themselves (NaT) or
    # refuse to be truth-tested (NA); their type names are stable public API.
    return type(value).__name__ in {"NAType", "NaTType"}


def input_digest(inputs: Any) -> str:
    """``"sha256:<hex>"`` over the canonical JSON (current version) of the lead's raw values.

    The same values give the same digest whatever the key order, so the digest links an audit
    record to the exact input without storing it. (A record written in canon version 1 holds
    a digest over the version-1 form.)
    """
    return "sha256:" + hashlib.sha256(canonical_json(plain_inputs(inputs))).hexdigest()


def utc_text(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for an aware datetime (fixed width, sorts as time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ParameterError("The audit log's clock must return timezone-aware datetimes.")
    if moment.tzinfo is not dt.UTC:
        moment = moment.astimezone(dt.UTC)
    if moment.year < 1000:  # strftime does not pad the year to four digits; isoformat does
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # isoformat: the same text for years from 1000 on, several times faster than strftime.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_utc(text: str) -> dt.datetime:
    """The aware datetime of a timestamp written by :func:`utc_text`."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
