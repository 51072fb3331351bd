"""Refusals: the answers other than 200 that a handler raises, and how they are worded.

Every refusal names the parameter, column or place that is wrong and what to do, never a value
the caller sent nor a column the model hides (see ``ErrorBody`` in ``_schemas``).
"""

from __future__ import annotations

import re
from typing import Any

from ..exceptions import (
    ColumnTypeError,
    InputError,
    MissingColumnError,
    NonFiniteValueError,
    UnexpectedColumnError,
)
from ._scoring import HIDDEN, shown_name

__all__ = [
    "RefusalError",
    "input_refusal",
    "location",
    "refusal_body",
    "rejected",
    "unnamed",
]

#: Parts of a validation error's location that are the schema's own names; anything else in a
#: location (a key the caller made up) is shown as '*', never echoed.
_SCHEMA_FIELDS = frozenset({"instances", "parameters", "top_k"})
#: An unexpected column the caller sent is named back only when it looks like a column name
#: (no markup, no control characters, not a paragraph); otherwise it is this.
_PLAIN_KEY = re.compile(r"[\w .-]{1,64}")
_NOT_SHOWN = "a column whose name is not shown"


class RefusalError(Exception):
    """An answer other than 200, raised inside a handler and rendered by one function."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.extra = extra


def refusal_body(exc: RefusalError, request_id: str) -> dict[str, Any]:
    """The ``ErrorBody`` of a refusal (fields that are None are left out)."""
    body: dict[str, Any] = {"error": exc.error, "request_id": request_id}
    body.update({k: v for k, v in exc.extra.items() if v is not None})
    return body


def input_refusal(exc: InputError, hidden: frozenset[str]) -> RefusalError:
    """The 422 for a column-level input problem the model raised."""
    extra: dict[str, Any] = {}
    # The exception's attributes already say "a hidden column" for a hidden one (the model's
    # errors promise it); the model's hidden set is applied again here, so a body cannot name
    # one whatever the exception carries.
    if isinstance(exc, ColumnTypeError | NonFiniteValueError):
        extra["column"] = shown_name(exc.column, hidden)
    if isinstance(exc, MissingColumnError | UnexpectedColumnError):
        columns = [shown_name(c, hidden) for c in exc.columns]
        if isinstance(exc, UnexpectedColumnError):
            # These names are the caller's keys: shown back only when they are plain names.
            columns = [c if _PLAIN_KEY.fullmatch(c) else _NOT_SHOWN for c in columns]
            extra["columns"] = columns
            extra["column"] = columns[0] if columns else None
            return RefusalError(
                422,
                f"{len(columns)} column(s) of the instances are not columns the model was "
                f"built on ({', '.join(_quoted(c) for c in columns[:10])}); drop them (keep "
                "identifiers in your own index). GET /v1/models/{name} lists the columns.",
                **extra,
            )
        extra["columns"] = columns
        extra["column"] = columns[0] if columns else None
    # explainscore's messages name columns and positions, never values.
    return RefusalError(422, unnamed(str(exc), hidden), **extra)


def _quoted(column: str) -> str:
    return column if column in (HIDDEN, _NOT_SHOWN) else repr(column)


def unnamed(message: str, hidden: frozenset[str]) -> str:
    """``message`` with any quoted hidden column name replaced by "a hidden column"."""
    for name in hidden:
        for quoted in (repr(name), f'"{name}"'):
            message = message.replace(quoted, HIDDEN)
    return message


def location(loc: Any) -> str:
    """A validation error's location, with what the caller wrote (keys) replaced by '*'."""
    parts = []
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int) or part in _SCHEMA_FIELDS:
            parts.append(str(part))
        else:
            parts.append("*")
    return ".".join(parts)


def rejected(row: Any, hidden: frozenset[str]) -> dict[str, Any]:
    """A rejected row as answered: its column shown only when it is not hidden."""
    out: dict[str, Any] = row.model_dump()
    out["column"] = shown_name(out.get("column"), hidden)
    out["problem"] = unnamed(str(out.get("problem", "")), hidden)
    return out
