"""What ``repr(ExplainedModel(...))`` shows of each parameter: data by its shape, never its rows.

scikit-learn's repr prints every changed parameter with its own ``repr``: a background
DataFrame would print its rows (leads' personal data) and a catalog every column's entry. The
stand-ins here replace such values before scikit-learn formats the estimator, so the repr keeps
its familiar form (``ExplainedModel(model=Pipeline(...), top_k=5)``) and stays short.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.base import BaseEstimator

__all__ = ["shown_params"]

#: A value whose repr is longer than this is shown by its type and size instead.
_SHORT = 80
#: Settings fields that name columns kept from reps (a policy's): counted, never named, since
#: a repr ends up in logs and notebooks.
_SECRET_FIELDS = frozenset({"blocked", "hidden"})


class _Shown:
    """A parameter value as the repr writes it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _shape(value: Any) -> str:
    return f"<{type(value).__name__} of shape {tuple(int(n) for n in value.shape)}>"


def _text(value: Any) -> str:
    """A short text for ``value``, without the data it holds."""
    if isinstance(value, pd.DataFrame | pd.Series | np.ndarray):
        return _shape(value)
    if isinstance(value, BaseModel):
        return _model_text(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        if isinstance(value, list | tuple) and all(isinstance(v, BaseModel) for v in value):
            inner = ", ".join(_text(v) for v in value)
            text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
            if len(text) <= _SHORT:
                return text
        # Only scalars are shown as they are: a container of rows is data.
        if all(isinstance(v, str | int | float | bool | None) for v in value) and (
            len(text := repr(value)) <= _SHORT
        ):
            return text
        return f"<{type(value).__name__} of {len(value):,} items>"
    if isinstance(value, str | int | float | bool | None):
        text = repr(value)
        return text if len(text) <= _SHORT else f"{text[: _SHORT - 4]}...'"
    text = repr(value)
    return text if len(text) <= _SHORT else f"<{type(value).__name__}>"


def _model_text(value: BaseModel) -> str:
    """A pydantic settings object with the fields given to it, as scikit-learn shows
    estimators: ``ReasonConfig(locale='de')``."""
    fields = [name for name in type(value).model_fields if name in value.model_fields_set]
    parts = [
        f"{name}=<{_columns(len(getattr(value, name)))}>"
        if name in _SECRET_FIELDS
        else f"{name}={_text(getattr(value, name))}"
        for name in fields
    ]
    text = f"{type(value).__name__}({', '.join(parts)})"
    if len(text) <= 2 * _SHORT:
        return text
    return f"{type(value).__name__}(...)"


def _columns(n: int) -> str:
    return f"{n} column" if n == 1 else f"{n} columns"


def shown_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every value that is not an estimator replaced by a short stand-in.

    Estimators are kept: scikit-learn formats nested estimators itself (a Pipeline's steps).
    Values the stand-in would write exactly as their own repr are kept too, so scikit-learn
    still leaves out the parameters left at their defaults.
    """
    shown: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, BaseEstimator) or value is None:
            shown[name] = value
            continue
        text = _text(value)
        shown[name] = value if _plain(value) and text == repr(value) else _Shown(text)
    return shown


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)
