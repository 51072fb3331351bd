"""Canonical JSON, the input digest and UTC timestamps of the audit log.

Canonical JSON is the byte string every hash of the log is computed over, so it must be one
function of the value: keys sorted, no whitespace, UTF-8 (not ``\\u`` escapes), floats in
Python's shortest round-trip ``repr`` form, integers as integers. NaN and infinity have no
JSON spelling and are refused rather than written as a non-standard token another JSON reader
would reject.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from ..exceptions import ParameterError

__all__ = [
    "canonical_json",
    "canonical_json_trusted",
    "input_digest",
    "parse_utc",
    "plain_inputs",
    "utc_text",
]

_MAX_DEPTH = 64
_LEAF = frozenset({str, int, bool})


def canonical_json(value: Any) -> bytes:
    """The canonical JSON encoding of ``value`` (UTF-8 bytes).

    Accepts ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists/tuples and dicts with
    ``str`` keys, nested. Tuples encode as lists. ``json.loads`` of the result gives the value
    back (tuples as lists), and encoding that again gives the same bytes.

    Raises
    ------
    ParameterError
        For any other type, a non-``str`` key, NaN/infinity or a string that is not valid
        Unicode (a lone surrogate). The message names the path to the value, not the value.
    """
    if not _valid(value, 0):
        _check(value, "$", 0)  # raises, naming where
    return canonical_json_trusted(value)


def canonical_json_trusted(value: Any) -> bytes:
    """The canonical encoding of a value already known to be valid."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterError(
            "A text value for the audit log is not valid Unicode (it holds a lone surrogate)."
        ) from None


def _valid(value: Any, depth: int) -> bool:
    """Whether ``value`` can be encoded: :func:`_check` without building paths (fast)."""
    if depth > _MAX_DEPTH:
        return False
    if value is None or value.__class__ in _LEAF or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_valid(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(key.__class__ is str and _valid(item, depth + 1) for key, item in value.items())
    return False


def _check(value: Any, path: str, depth: int) -> None:
    # json.dumps alone would silently turn int keys into strings and accept NaN tokens, and
    # both break "decode then re-encode gives the same bytes", which the chain relies on.
    if depth > _MAX_DEPTH:
        raise ParameterError(f"Audit data nested deeper than {_MAX_DEPTH} levels at {path}.")
    if value is None or isinstance(value, bool | int | str):
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
            _check(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(
                    f"Audit data at {path} has a key of type {type(key).__name__}; "
                    "keys must be str."
                )
            _check(item, f"{path}.{key}", depth + 1)
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
    for key, value in inputs.items():
        if not isinstance(key, str):
            raise ParameterError(
                f"inputs for the audit log have a column name of type {type(key).__name__}; "
                "column names must be str."
            )
        out[key] = _plain_value(value, key)
    return out


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
    """``"sha256:<hex>"`` over the canonical JSON of the lead's raw values.

    The same values give the same digest whatever the key order, so the digest links an audit
    record to the exact input without storing it.
    """
    return "sha256:" + hashlib.sha256(canonical_json(plain_inputs(inputs))).hexdigest()


def utc_text(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for an aware datetime (fixed width, sorts as time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ParameterError("The audit log's clock must return timezone-aware datetimes.")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> dt.datetime:
    """The aware datetime of a timestamp written by :func:`utc_text`."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
