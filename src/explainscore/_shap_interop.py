"""``shap.Explanation`` objects from explainscore's batches and records, for shap's plots.

shap is imported when a conversion is asked for, never at ``import explainscore``.

What the Explanation holds:

- ``values``: the contributions in the explanation's output space (log-odds for tree models
  on classifiers), one column per shown column, in the batch's column order.
- ``base_values``: the base value of each lead, so ``base + values.sum() == output`` as in
  explainscore (shap's waterfall and force plots end at the model's output).
- ``data``: numbers, as shap's plots need (its violin and beeswarm do arithmetic on them):
  numeric columns as they are (missing as NaN), a text column as the code of each value in
  the sorted order of the column's values in the batch (0, 1, ...; missing as NaN).
  ``display_data`` holds every value as the reasons write it (``3,115 EUR``, ``August``),
  which shap shows in its labels.
- ``feature_names``: business names (catalog display names).

Columns hidden from reps are never named: their contributions are pooled into one column,
"Other factors (not shown)", with no value, so every lead still adds up to its output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .exceptions import ExplanationError

if TYPE_CHECKING:
    from ._records import Explanations, LeadExplanation

__all__ = ["HIDDEN_POOL", "OTHERS_POOL", "batch_to_shap", "lead_to_shap"]

#: The pooled column of a batch's hidden columns.
HIDDEN_POOL = "Other factors (not shown)"
#: The pooled column of a record's columns beyond its listed factors.
OTHERS_POOL = "All other factors"


def _shap() -> Any:
    # shap is a dependency of explainscore; imported here only to keep ``import explainscore``
    # light (it pulls in numba, scipy and more).
    import shap

    return shap


def _cell(value: Any) -> Any:
    """A record's cell for ``data``: numbers as float, text as text, missing as NaN."""
    if value is None:
        return np.nan
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float):
        return float(value)
    return value


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def column_numbers(column: pd.Series) -> npt.NDArray[np.float64]:
    """A column as floats: numbers as they are, text as sorted-order codes, missing as NaN."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)
    present = column.dropna()
    order = {v: float(k) for k, v in enumerate(sorted(set(present.tolist()), key=str))}
    return np.asarray([order.get(v, np.nan) for v in column.tolist()], dtype=np.float64)


def batch_to_shap(batch: Explanations) -> Any:
    """The batch as a ``shap.Explanation`` (see the module docstring)."""
    from ._plot_summary import _names, _shown, value_text

    if batch.status != "ok":
        raise ExplanationError("A paused batch has no attributions to convert to shap.")
    shap = _shap()
    shown = _shown(batch)
    names = _names(batch)
    n = len(batch)
    values = np.asarray(batch.attributions[:, shown], dtype=np.float64)
    frame = batch.data
    data = np.column_stack([column_numbers(frame.iloc[:, j]) for j in shown])
    display = np.empty((n, len(shown)), dtype=object)
    for k, j in enumerate(shown):
        display[:, k] = [
            value_text(batch, j, None if v is None or v != v else _plain(v))
            for v in frame.iloc[:, j].tolist()
        ]
    feature_names = [names[j] for j in shown]
    hidden = [j for j in range(len(batch.feature_names)) if j not in set(shown)]
    if hidden:
        pooled = batch.attributions[:, hidden].sum(axis=1)
        values = np.column_stack([values, pooled])
        data = np.column_stack([data, np.full(n, np.nan)])
        display = np.column_stack([display, np.full(n, "", dtype=object)])
        feature_names.append(HIDDEN_POOL)
    return shap.Explanation(
        values=values,
        base_values=np.asarray(batch.base_values, dtype=np.float64),
        data=data,
        display_data=display,
        feature_names=feature_names,
    )


def lead_to_shap(record: LeadExplanation) -> Any:
    """One record as a ``shap.Explanation`` of one lead: its listed factors (business names,
    raw values), then all its other columns pooled, so ``base + values.sum() == output``."""
    if record.status != "ok" or record.base_value is None:
        raise ExplanationError("A paused lead has no attributions to convert to shap.")
    shap = _shap()
    names = [a.display_name or a.feature for a in record.attributions]
    values = [a.contribution for a in record.attributions]
    # One lead holds raw values only (the catalog stays with the model, and a text value has
    # no code without the rest of a batch): ``batch.to_shap()[i]`` has the reasons' wording.
    data: list[Any] = [_cell(a.value) for a in record.attributions]
    display: list[Any] = [
        "missing" if a.value is None else str(a.value) for a in record.attributions
    ]
    if record.other_contribution is not None:
        names.append(OTHERS_POOL)
        values.append(record.other_contribution)
        data.append(np.nan)
        display.append("")
    return shap.Explanation(
        values=np.asarray(values, dtype=np.float64),
        base_values=float(record.base_value),
        data=np.asarray(data, dtype=object),
        display_data=np.asarray(display, dtype=object),
        feature_names=names,
    )
