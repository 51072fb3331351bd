"""Native categorical columns behind a Pipeline's preprocessing.

A ColumnTransformer with ``set_output(transform="pandas")`` and ``remainder="passthrough"``
hands a pandas ``category`` column through to a final estimator that splits on it natively
(XGBoost ``enable_categorical=True``, LightGBM, HistGradientBoosting
``categorical_features="from_dtype"``). The tree backends explain that final estimator on the
transformed rows as float64, so such a column must become the estimator's own category codes,
read with the same per-library readers as a bare model (``_categories``), keyed by the
*transformed* column names and read on the transformed background.

Where a transformed categorical column is the raw column passed through (same name, and the
column map traces it to that raw column), the raw column also gets the codes: the rows are
then handed to the Pipeline with the training ``CategoricalDtype`` (a lead's dict, a CSV, a
frame with its categories in another order), unseen categories are refused where the library
refuses them, and reasons show the label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._categories import CategoryCodes, native_categories

if TYPE_CHECKING:
    from ._inputs import Schema
    from ._pipeline import ModelStructure

__all__ = ["coded_array", "with_final_categories"]

FloatArray = npt.NDArray[np.float64]


def with_final_categories(
    structure: ModelStructure, schema: Schema, background: pd.DataFrame
) -> tuple[ModelStructure, Schema]:
    """The structure with its final estimator's native categories (by transformed column
    name), and the schema with them on the raw columns passed through unchanged.

    Unchanged for a bare model, a Pipeline without an exact column map, or preprocessing
    whose output is not a DataFrame holding non-numeric columns.
    """
    if structure.preprocessor is None or structure.column_map is None:
        return structure, schema
    # The background has passed validation: a failure here is the model's own, raised
    # with the safety net when the rows are transformed again (``_model_space``).
    try:
        transformed = structure.preprocessor.transform(schema.model_input(background))
    except Exception:
        return structure, schema
    if not isinstance(transformed, pd.DataFrame) or all(
        pd.api.types.is_numeric_dtype(transformed[c])
        and not isinstance(transformed[c].dtype, pd.CategoricalDtype)
        for c in transformed.columns
    ):
        return structure, schema
    names = [str(c) for c in transformed.columns]
    codes = native_categories(
        structure.estimator, names, transformed.set_axis(names, axis="columns")
    )
    if not codes:
        return structure, schema
    raw_names = schema.names
    passed: dict[str, CategoryCodes] = {}
    for j, name in enumerate(names):
        found = codes.get(name)
        raw = raw_names[int(structure.column_map[j])]
        if found is not None and found.frame_dtype and raw == name:
            spec = schema.columns[raw_names.index(raw)]
            if spec.kind == "categorical" and spec.categories is None:
                passed[raw] = found
    return replace(structure, categories=codes), schema.with_categories(passed)


def coded_array(X: pd.DataFrame, codes: Mapping[str, CategoryCodes]) -> FloatArray:
    """The transformed rows as float64, each native categorical column as its codes
    (NaN where missing or unseen), looked up by label, whatever the frame's category order."""
    out = np.empty(X.shape, dtype=np.float64)
    for j, name in enumerate(X.columns):
        col: pd.Series[Any] = X.iloc[:, j]
        found = codes.get(str(name))
        if found is not None:
            out[:, j] = found.code_column(col)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out
