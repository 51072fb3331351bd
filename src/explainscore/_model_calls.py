"""The boundary where explainscore calls the user's model, and what an exception there becomes.

A Pipeline's ``transform``, a model's ``predict_proba``, ``decision_function`` or ``predict``
can raise anything (a custom step, a library's own check). Left as it is, that exception
reaches the caller untyped, and its message often quotes the offending cell (``could not
convert string to float: 'Acme Corp'``): a lead's value in a log. So every call into the
user's model made while explaining or scoring goes through :func:`guarded` /
:func:`call_model`, which turn an exception that is not an :class:`ExplainScoreError` into a
:class:`ModelError` naming the model step that raised and the exception *type*, never its
message.

The original exception is deliberately not kept: it is not chained (not ``__cause__``), and
the typed error is raised *after* the ``except`` block so it is not ``__context__`` either (a
log handler that walks the chain would print it). Only its type name is attached, as
``ModelError.model_exception``. To see the library's own message, call the model directly on
the same rows in your own session (where the values are yours to see).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from .exceptions import ExplainScoreError, ModelError

__all__ = ["call_model", "guarded", "model_failure"]

R = TypeVar("R")


def call_model(model: Any, method: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``fn(*args, **kwargs)``, a call into ``model``'s ``method``, with the safety net."""
    try:
        return fn(*args, **kwargs)
    except (ExplainScoreError, MemoryError):
        raise
    except Exception as exc:  # the user's code: anything may come out of it
        kind: type[BaseException] = type(exc)
        tb = exc.__traceback__
    # Raised here, outside the except block: the original is neither cause nor context.
    raise model_failure(model, method, kind, tb)


def guarded(model: Any, method: str, fn: Callable[[Any], R]) -> Callable[[Any], R]:
    """``fn`` (one argument: rows) with the safety net of :func:`call_model`."""

    def call(X: Any) -> R:
        return call_model(model, method, fn, X)

    return call


def model_failure(
    model: Any, method: str, kind: type[BaseException], tb: TracebackType | None = None
) -> ModelError:
    """The typed error for an exception of type ``kind`` raised by ``model.method``."""
    step = _failed_step(model, tb)
    where = f"{type(model).__name__}.{method}"
    if step is not None:
        where = f"step {step} of {where}"
    error = ModelError(
        f"The model raised {kind.__name__} in {where} on the rows being explained or "
        "scored. Its message is not shown because it may quote a lead's values. Call the "
        f"model's {method} on the same rows in your own session to see it, and pass rows "
        "with the columns and value types the model was fitted on."
    )
    error.model_exception = kind.__name__  # type: ignore[attr-defined]
    return error


def _failed_step(model: Any, tb: TracebackType | None) -> str | None:
    """The innermost Pipeline / ColumnTransformer step whose method is in the traceback.

    Only step names and class names are read (set in the user's code, never data).
    """
    steps = _steps(model, prefix="")
    if tb is None or not steps:
        return None
    found: str | None = None
    for frame, _ in traceback.walk_tb(tb):
        owner = frame.f_locals.get("self")
        if owner is not None and id(owner) in steps:
            found = steps[id(owner)]
    return found


def _steps(model: Any, prefix: str) -> dict[int, str]:
    """id of each fitted step object -> its label, nested Pipelines / ColumnTransformers in."""
    out: dict[int, str] = {}
    parts: list[tuple[str, Any]] = []
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        parts = [(str(n), s) for n, s, *_ in steps]
    fitted = getattr(model, "transformers_", None)
    if isinstance(fitted, list):
        parts += [(str(n), s) for n, s, *_ in fitted]
    for name, step in parts:
        if step is None or isinstance(step, str):
            continue  # "passthrough" / "drop"
        label = f"{prefix}{name}"
        out[id(step)] = f"{label!r} ({type(step).__name__})"
        out.update(_steps(step, prefix=f"{label}__"))
    return out
