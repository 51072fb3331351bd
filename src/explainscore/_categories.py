"""Native categorical columns: a category label -> the code the model's trees read.

XGBoost (``enable_categorical=True``), LightGBM (a DataFrame with ``category`` columns) and
HistGradientBoosting (``categorical_features="from_dtype"``) split on category *codes*, and each
library turns a pandas ``category`` column into codes its own way at predict time:

* **XGBoost** (3.1+) stores the training categories in the booster and recodes a frame's
  categories to them by label; a category it was not trained on is an error (or, with
  exactly one such category in the dtype, silently taken as code 0). Code = position in the
  stored categories; missing (NaN) takes each split's default direction.
* **LightGBM** keeps ``pandas_categorical`` (the training categories of each ``category``
  column, in order) and calls ``set_categories`` with them: an unseen category becomes
  missing. Code = position in that list; missing is NaN (read as category 0 by a split
  trained without missing values, as LightGBM does).
* **HistGradientBoosting** runs an internal ``OrdinalEncoder`` (``_preprocessor``): categories
  sorted, an unseen one becomes missing. Code = the category itself when the categories are
  small non-negative integers (the compiled trees are built over those values), else its
  rank.

So the category order is always read from the *model*, never from the frame being explained
(whose categories may be in another order, or hold fewer or more values). One
:class:`CategoryCodes` per native categorical column serves every path: the frame handed to
the model keeps the training ``CategoricalDtype`` (kernel games, scoring), the float rows
handed to the compiled trees hold the codes (tree and interventional games), and the
single-lead lane looks codes up in the same table. A library is one row of ``_READERS``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .exceptions import UnsupportedModelError

__all__ = ["CategoryCodes", "native_categories"]

FloatArray = npt.NDArray[np.float64]
#: How a library treats a category it was not trained on.
Unseen = Literal["missing", "refuse"]


@dataclass(frozen=True)
class CategoryCodes:
    """One native categorical column as its model codes it.

    Attributes
    ----------
    labels : tuple
        The training categories, in the model's order (the dtype handed to the model).
    codes : tuple of float
        The code the compiled trees read for each label.
    unseen : {"missing", "refuse"}
        A category outside ``labels``: read as missing (LightGBM, HistGradientBoosting) or
        refused by the library (XGBoost).
    library : str
        The model's library, for messages.
    frame_dtype : bool
        Whether the model is handed the column as a pandas ``category`` (False: a numeric
        column of category values, e.g. HistGradientBoosting ``categorical_features=[j]``,
        is handed as it is; only the compiled trees read codes).
    """

    labels: tuple[Any, ...]
    codes: tuple[float, ...]
    unseen: Unseen
    library: str
    frame_dtype: bool = True
    _index: dict[Any, int] = field(init=False, repr=False, compare=False)
    _by_text: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {label: i for i, label in enumerate(self.labels)}
        # A CSV or a JSON request carries "2" for the integer category 2: read by its text
        # only when the labels are not text themselves (no ambiguity between "2" and 2).
        text: dict[str, int] = {}
        if not any(isinstance(v, str) for v in self.labels):
            for i, v in enumerate(self.labels):
                text[str(v)] = i
                if isinstance(v, float) and v.is_integer():
                    text[str(int(v))] = i  # "30" for the category 30.0
        object.__setattr__(self, "_index", index)  # frozen dataclass: set once, here
        object.__setattr__(self, "_by_text", text)

    @property
    def dtype(self) -> pd.CategoricalDtype:
        """The training ``CategoricalDtype``: what the model is handed."""
        return pd.CategoricalDtype(list(self.labels))

    def position(self, value: Any) -> int | None:
        """The label's position in :attr:`labels`; -1 when missing; None when unseen."""
        if _is_missing(value):
            return -1
        try:
            found = self._index.get(value)
        except TypeError:  # unhashable: never a category
            return None
        if found is None and isinstance(value, str):
            found = self._by_text.get(value.strip())
        return found

    def positions(self, values: pd.Series[Any]) -> npt.NDArray[np.intp]:
        """:meth:`position` of every cell, with -2 for an unseen category."""
        if isinstance(values.dtype, pd.CategoricalDtype):
            # Once per distinct category, not per row.
            cats = values.cat.categories
            table = np.array([_or(self.position(c), -2) for c in cats] + [-1], dtype=np.intp)
            return table[values.cat.codes.to_numpy()]
        return np.array([_or(self.position(v), -2) for v in values], dtype=np.intp)

    def frame_column(self, values: pd.Series[Any]) -> pd.Series[Any]:
        """The column as the model is handed it: the training dtype, with an unseen
        category as missing (validation has refused it first where the library does)."""
        pos = np.maximum(self.positions(values), -1)
        cat = pd.Categorical.from_codes(pos, dtype=self.dtype)  # type: ignore[arg-type]
        return pd.Series(cat, index=values.index, name=values.name)

    def code_column(self, values: pd.Series[Any]) -> FloatArray:
        """The codes the compiled trees read (NaN where missing or unseen)."""
        pos = self.positions(values)
        codes = np.append(np.asarray(self.codes, dtype=np.float64), np.nan)
        return codes[np.where(pos < 0, len(self.codes), pos)]

    def decode(self, codes: FloatArray) -> pd.Series[Any]:
        """Codes back to labels (NaN, or a code no label has, as missing)."""
        by_code = {c: label for label, c in zip(self.labels, self.codes, strict=True)}
        return pd.Series([by_code.get(float(c), np.nan) for c in codes], dtype=object)

    def code(self, value: Any) -> float | None:
        """One cell's code; NaN when missing; None when unseen."""
        pos = self.position(value)
        if pos is None:
            return None
        return math.nan if pos < 0 else self.codes[pos]


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _label(value: Any) -> Any:
    """A category as a plain Python value (numpy and pyarrow scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def native_categories(
    model: Any, names: Sequence[str], background: pd.DataFrame
) -> dict[str, CategoryCodes]:
    """The native categorical columns of a model fed the raw columns, by column name.

    Empty for a model without native categorical splits on named categories (including a
    Pipeline, whose final estimator sees transformed columns, and categorical splits on
    numeric codes, which need no mapping).
    """
    for matches, read in _READERS:
        if matches(model):
            return read(model, list(names), background)
    return {}


# --- XGBoost -------------------------------------------------------------------------------


def _is_xgboost(model: Any) -> bool:
    return any(c.__module__.split(".")[0] == "xgboost" for c in type(model).__mro__)


def _xgboost(model: Any, names: list[str], background: pd.DataFrame) -> dict[str, CategoryCodes]:
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    types = list(getattr(booster, "feature_types", None) or [])
    cat_cols = [j for j, t in enumerate(types) if t == "c" and j < len(names)]
    if not cat_cols:
        return {}
    stored = _xgboost_stored(booster)
    out: dict[str, CategoryCodes] = {}
    for j in cat_cols:
        name = names[j]
        labels = stored.get(j) if stored is not None else None
        if labels is None:
            # XGBoost before 3.1 keeps no categories and reads the frame's own codes: the
            # training order is the background's dtype (a sample of the training frame).
            labels = _frame_categories(background, name)
            if labels is None:
                continue  # categorical splits on numeric codes: the values are the codes
        out[name] = CategoryCodes(
            tuple(labels), tuple(float(i) for i in range(len(labels))), "refuse", "XGBoost"
        )
    return out


def _xgboost_stored(booster: Any) -> dict[int, list[Any]] | None:
    """The training categories XGBoost (3.1+) keeps in the booster, by column; None when it
    keeps none. Read from the model JSON's ``cats`` (the public ``get_categories`` needs
    pyarrow, an optional extra)."""
    try:
        doc = json.loads(booster.save_raw("json"))
    except Exception:  # pragma: no cover - every fitted booster saves itself
        return None
    cats = doc.get("learner", {}).get("gradient_booster", {}).get("model", {}).get("cats")
    if not isinstance(cats, Mapping) or not cats.get("enc"):
        return None
    out: dict[int, list[Any]] = {}
    for j, enc in enumerate(cats["enc"]):
        values = enc.get("values", [])
        if "offsets" in enc:  # text: UTF-8 bytes, cut at the offsets
            offsets = list(enc["offsets"])
            if not offsets:
                continue
            raw = bytes(int(b) for b in values)
            out[j] = [
                raw[offsets[k] : offsets[k + 1]].decode("utf-8") for k in range(len(offsets) - 1)
            ]
        elif values:
            out[j] = [_label(v) for v in values]
    return out


# --- LightGBM ------------------------------------------------------------------------------


def _is_lightgbm(model: Any) -> bool:
    return any(c.__module__.split(".")[0] == "lightgbm" for c in type(model).__mro__)


def _lightgbm(model: Any, names: list[str], background: pd.DataFrame) -> dict[str, CategoryCodes]:
    booster = getattr(model, "booster_", model)
    lists = getattr(booster, "pandas_categorical", None) or []
    if not lists:
        return {}
    # LightGBM pairs its lists with the frame's category columns in order (``_data_from_
    # pandas``): the training frame's, so the background must keep the training dtypes.
    cat_names = [
        str(c) for c in background.columns if isinstance(background[c].dtype, pd.CategoricalDtype)
    ]
    if len(cat_names) != len(lists):
        raise UnsupportedModelError(
            f"{type(model).__name__} was fitted on a DataFrame with {len(lists)} category "
            f"column(s), but the background rows have {len(cat_names)}. Pass background rows "
            "with the training dtypes (a sample of the training DataFrame)."
        )
    return {
        name: CategoryCodes(
            tuple(_label(v) for v in labels),
            tuple(float(i) for i in range(len(labels))),
            "missing",
            "LightGBM",
        )
        for name, labels in zip(cat_names, lists, strict=True)
    }


# --- HistGradientBoosting ------------------------------------------------------------------


def _is_hist(model: Any) -> bool:
    return type(model).__name__.startswith("HistGradientBoosting") and hasattr(
        model, "_preprocessor"
    )


def _hist(model: Any, names: list[str], background: pd.DataFrame) -> dict[str, CategoryCodes]:
    from .attribution.tree._convert_sklearn import hist_category_codes

    is_cat = getattr(model, "is_categorical_", None)
    if is_cat is None or getattr(model, "_preprocessor", None) is None:
        return {}
    try:
        found = hist_category_codes(model)
    except UnsupportedModelError:
        return {}  # numeric codes the trees cannot read: the tree backend says so itself
    out: dict[str, CategoryCodes] = {}
    for j, (labels, codes) in found.items():
        name = names[j]
        col = background[name] if name in background.columns else None
        numeric_col = col is not None and (
            pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype)
        )
        if numeric_col and all(float(v) == c for v, c in zip(labels, codes, strict=True)):
            continue  # integer codes in a numeric column: the values are the codes already
        out[name] = CategoryCodes(
            tuple(_label(v) for v in labels),
            tuple(codes),
            "missing",
            "HistGradientBoosting",
            frame_dtype=not numeric_col,
        )
    return out


def _frame_categories(frame: pd.DataFrame, name: str) -> list[Any] | None:
    if name not in frame.columns or not isinstance(frame[name].dtype, pd.CategoricalDtype):
        return None
    return [_label(v) for v in frame[name].cat.categories]


_Reader = Callable[[Any, list[str], pd.DataFrame], dict[str, CategoryCodes]]
#: One row per library whose models split on pandas categories natively.
_READERS: tuple[tuple[Callable[[Any], bool], _Reader], ...] = (
    (_is_xgboost, _xgboost),
    (_is_lightgbm, _lightgbm),
    (_is_hist, _hist),
)
