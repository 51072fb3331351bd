"""Compiled preprocessing: one raw row -> the Pipeline's transformed row, without pandas.

Why
---
A Pipeline's ``transform`` on one row costs milliseconds (DataFrame construction, a
ColumnTransformer's column selection, per-transformer validation), more than the whole
explanation of a tree model. For the single-lead fast lane we *compile* a column-wise
preprocessor (see ``_pipeline.decompose``: every transformed column comes from one raw
column) into two kinds of tables, learned from the fitted preprocessor itself rather than
re-implemented per transformer class:

* a **numeric** raw column whose outputs are affine in its value (passthrough, scalers,
  imputers on non-missing values): ``out = offset + slope * x`` per output column;
* a **categorical** raw column: a lookup table ``category -> output values`` over the
  categories the model knows (from the reference data and the fitted encoders' ``categories_``).

Both are read off the preprocessor by transforming probe rows in one call, then the whole
encoder is checked against ``transform`` on the reference rows. A column that fits neither
(a quantile transform, binning) makes the encoder unavailable; a value outside the tables (an
unseen category, a missing value) makes :meth:`RowEncoder.encode` return None, and the lead
takes the batch path, which decides what is accepted. The encoder never guesses.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["RowEncoder", "plain_cell"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Agreement with ``transform`` required at build, relative to the output's scale.
_AGREE = 1e-9
#: Probe values for the affine fit of numeric columns (with the reference rows' own values).
_PROBES = (0.0, 1.0, -1.0, 1e3, -1e3, 0.5)


@dataclass(frozen=True)
class _Affine:
    column: int
    outputs: IntArray
    offset: FloatArray
    slope: FloatArray
    #: The outputs for a missing value (an imputer's fill, scaled; NaN passed through), or
    #: None when ``transform`` does not take one.
    missing: FloatArray | None = None


@dataclass(frozen=True)
class _Lookup:
    column: int
    outputs: IntArray
    table: Mapping[str, FloatArray]
    #: The outputs for any text outside ``table`` (a row of zeros for a one-hot encoder
    #: with ``handle_unknown="ignore"``), or None when ``transform`` does not map every
    #: unseen text to one value.
    unknown: FloatArray | None = None


@dataclass(frozen=True)
class RowEncoder:
    """Raw cells of one row -> the preprocessor's output, for values the tables cover."""

    n_out: int
    numeric: tuple[_Affine, ...]
    categorical: tuple[_Lookup, ...]

    def __post_init__(self) -> None:
        # The tables laid out for one gather and one scatter per kind in ``encode``: a lead
        # is encoded per call of the single-lead lane, where numpy calls per column add up.
        numeric = self.numeric
        derived: dict[str, Any] = {
            "_num_columns": [a.column for a in numeric],
            "_num_out": np.concatenate([a.outputs for a in numeric] or [np.empty(0, np.intp)]),
            "_num_src": np.concatenate(
                [np.full(len(a.outputs), i, dtype=np.intp) for i, a in enumerate(numeric)]
                or [np.empty(0, np.intp)]
            ),
            "_num_offset": np.concatenate([a.offset for a in numeric] or [np.empty(0)]),
            "_num_slope": np.concatenate([a.slope for a in numeric] or [np.empty(0)]),
            "_cat_tables": [(c.column, c.table, c.unknown) for c in self.categorical],
            "_num_missing": [a.missing for a in numeric],
            # For ``encode_frame``: each text column's label -> row, and its rows stacked,
            # the unseen-category row last (zeros where there is none: never read then).
            "_cat_stacked": [
                (
                    {label: i for i, label in enumerate(c.table)},
                    np.vstack(
                        [
                            *c.table.values(),
                            np.zeros(len(c.outputs)) if c.unknown is None else c.unknown,
                        ]
                    ),
                )
                for c in self.categorical
            ],
            "_cat_out": np.concatenate(
                [c.outputs for c in self.categorical] or [np.empty(0, np.intp)]
            ),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen dataclass: set once, here

    _num_columns: list[int] = field(init=False, repr=False, compare=False)
    _num_out: IntArray = field(init=False, repr=False, compare=False)
    _num_src: IntArray = field(init=False, repr=False, compare=False)
    _num_offset: FloatArray = field(init=False, repr=False, compare=False)
    _num_slope: FloatArray = field(init=False, repr=False, compare=False)
    _cat_tables: list[tuple[int, Mapping[str, FloatArray], FloatArray | None]] = field(
        init=False, repr=False, compare=False
    )
    _num_missing: list[FloatArray | None] = field(init=False, repr=False, compare=False)
    _cat_stacked: list[tuple[dict[str, int], FloatArray]] = field(
        init=False, repr=False, compare=False
    )
    _cat_out: IntArray = field(init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        preprocessor: Any,
        *,
        column_map: IntArray,
        kinds: Sequence[str],
        reference: pd.DataFrame,
        categories: Mapping[str, Sequence[Any]],
    ) -> RowEncoder | None:
        """Compile ``preprocessor``; None when some column is neither affine nor a lookup.

        Parameters
        ----------
        preprocessor : fitted transformer
            The Pipeline's preprocessing (column-wise: ``column_map`` exists).
        column_map : array of int
            Raw column of each transformed column.
        kinds : sequence of {"numeric", "categorical"}
            The schema's kind of each raw column.
        reference : DataFrame
            Valid rows in the model's raw form (the background): the probe template and the
            final check.
        categories : mapping of column name -> categories
            Known categories per categorical column (more may come from the encoders).
        """
        column_map = np.asarray(column_map, dtype=np.intp)
        if len(reference) == 0 or reference.isna().to_numpy().any():
            return None  # missing values take the batch path; probes need complete rows
        names = [str(c) for c in reference.columns]
        known = _encoder_categories(preprocessor, names)
        template = reference.iloc[[0]]
        probes: list[pd.DataFrame] = []
        plans: list[tuple[int, str, list[Any]]] = []
        for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            if not (column_map == i).any():
                continue  # dropped by the preprocessor: its value does not matter
            if kind == "numeric":
                col = reference[name].to_numpy(dtype=np.float64)
                values: list[Any] = [*_PROBES, *np.unique(col)[:64].tolist()]
            else:
                seen = {str(v) for v in reference[name]} | set(map(str, categories.get(name, ())))
                seen |= {c for c in known.get(name, ()) if isinstance(c, str)}
                values = sorted(seen)
            rows = pd.concat([template] * len(values), ignore_index=True)
            # Floats for numeric probes (0.5 in an int column), text for categories.
            rows[name] = pd.Series(values, dtype=np.float64 if kind == "numeric" else object)
            probes.append(rows)
            plans.append((i, kind, values))
        if not probes:
            return None
        try:
            out = _dense(preprocessor.transform(pd.concat(probes, ignore_index=True)))
        except Exception:
            return None
        if out.ndim != 2 or out.shape[1] != len(column_map):
            return None
        numeric: list[_Affine] = []
        categorical: list[_Lookup] = []
        start = 0
        for i, kind, values in plans:
            block = out[start : start + len(values)]
            start += len(values)
            outputs = np.flatnonzero(column_map == i)
            cols = block[:, outputs]
            if kind == "numeric":
                affine = _fit_affine(i, outputs, np.asarray(values, dtype=np.float64), cols)
                if affine is None:
                    return None
                numeric.append(affine)
            else:
                table = {v: cols[k].copy() for k, v in enumerate(values)}
                categorical.append(_Lookup(i, outputs, table))
        encoder = cls(len(column_map), tuple(numeric), tuple(categorical))
        encoder = _with_fallbacks(encoder, preprocessor, template, names)
        # Trust, then verify: the compiled encoder must reproduce ``transform``.
        expected = _dense(preprocessor.transform(reference))
        cells = reference.to_numpy(dtype=object)
        got = [encoder.encode([plain_cell(v) for v in row]) for row in cells]
        if any(g is None for g in got):
            return None
        mine = np.vstack([g for g in got if g is not None])
        scale = max(1.0, float(np.abs(expected).max()))
        if mine.shape != expected.shape or not np.allclose(
            mine, expected, rtol=0, atol=_AGREE * scale
        ):
            return None
        return encoder

    def encode(self, cells: Sequence[Any]) -> FloatArray | None:
        """The transformed row (1, n_out), or None for a value outside the tables.

        A missing number (None or NaN) is inside them where ``transform`` takes it (an
        imputer's table, NaN passed through); unseen text where every unseen text gives one
        output (a one-hot encoder's row of zeros with ``handle_unknown="ignore"``).
        """
        xs = []
        missing: list[int] | None = None
        for i, col in enumerate(self._num_columns):
            v = cells[col]
            kind = type(v)
            if v is None:
                x = math.nan
            elif (
                kind is not float
                and kind is not int
                and (kind is bool or not isinstance(v, int | float | np.integer | np.floating))
            ):
                return None
            else:
                x = float(v)
            if x != x:
                if self._num_missing[i] is None:
                    return None
                missing = [*(missing or []), i]
                x = 0.0  # replaced by the missing value's outputs below
            elif x in (np.inf, -np.inf):
                return None
            xs.append(x)
        parts = []
        for col, table, unknown in self._cat_tables:
            v = cells[col]
            if not isinstance(v, str):
                return None
            values = table.get(v, unknown)
            if values is None:
                return None
            parts.append(values)
        out = np.empty((1, self.n_out), dtype=np.float64)
        row = out[0]
        if xs:
            # Element by element the same ``offset + slope * x`` as one column at a time.
            row[self._num_out] = self._num_offset + self._num_slope * np.array(xs)[self._num_src]
        if parts:
            row[self._cat_out] = np.concatenate(parts)
        if missing is not None:
            for i in missing:
                row[self.numeric[i].outputs] = self._num_missing[i]
        return out

    def encode_frame(self, frame: pd.DataFrame) -> FloatArray | None:
        """The transformed rows of a validated frame (its columns in the schema's order), or
        None when some value is outside the tables (see :meth:`encode`).

        A passthrough column (offset 0, slope 1) is copied as it is, exactly as
        ``transform`` hands it on (``0 + 1 * x`` would turn -0.0 into 0.0).
        """
        n = len(frame)
        out = np.empty((n, self.n_out), dtype=np.float64)
        for a in self.numeric:
            x = frame.iloc[:, a.column].to_numpy(dtype=np.float64, na_value=np.nan)
            if np.all(a.offset == 0.0) and np.all(a.slope == 1.0):
                out[:, a.outputs] = x[:, None]
            else:
                out[:, a.outputs] = a.offset + a.slope * x[:, None]
            lost = np.isnan(x)
            if lost.any():
                if a.missing is None:
                    return None
                out[np.ix_(lost, a.outputs)] = a.missing
        for c, (index, table) in zip(self.categorical, self._cat_stacked, strict=True):
            other = len(index)
            codes = np.fromiter(
                (
                    index.get(v, other) if type(v) is str else -1
                    for v in frame.iloc[:, c.column].to_numpy(dtype=object)
                ),
                dtype=np.intp,
                count=n,
            )
            if np.any(codes < 0) or (c.unknown is None and np.any(codes == other)):
                return None  # a missing or non-text cell, or an unseen one with no table
            out[:, c.outputs] = table[codes]
        return out


#: Two texts no encoder was fitted on: both must give the same outputs for the column's
#: unseen-category table to exist.
_UNSEEN = ("\x00explainscore-unseen-a", "\x00explainscore-unseen-b")


def _with_fallbacks(
    encoder: RowEncoder, preprocessor: Any, template: pd.DataFrame, names: list[str]
) -> RowEncoder:
    """``encoder`` with the missing-value and unseen-text tables ``transform`` gives.

    Probes, in one ``transform`` call: the template row with NaN in each numeric column and
    with each of two unseen texts in each categorical column. A table is kept only when the
    column's outputs are the same for both texts, the other columns' outputs are the
    template's, and the encoder then reproduces every probe row (NaN where ``transform``
    gives NaN); a ``transform`` that refuses the probes leaves the encoder as it was.
    """

    def outputs(frame: pd.DataFrame) -> FloatArray | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "unknown categories ... encoded as zeros"
                out = _dense(preprocessor.transform(frame))
        except Exception:
            return None  # this probe is refused: its table is not kept
        return out if out.shape == (len(frame), encoder.n_out) else None

    base_out = outputs(template)
    if base_out is None:
        return encoder
    base = base_out[0]
    # One ``transform`` per column: a refused probe (pandas' NA in an integer column, an
    # encoder that errors on unknown text) costs only that column's table.
    probes: list[pd.DataFrame] = []
    results: list[FloatArray | None] = []
    for a in encoder.numeric:
        probe = template.assign(**{names[a.column]: np.nan})
        probes.append(probe)
        results.append(outputs(probe))
    for c in encoder.categorical:
        probe = pd.concat(
            [template.assign(**{names[c.column]: text}) for text in _UNSEEN], ignore_index=True
        )
        probes.append(probe)
        results.append(outputs(probe))

    def others_kept(row: FloatArray, outputs: IntArray) -> bool:
        rest = np.ones(encoder.n_out, dtype=bool)
        rest[outputs] = False
        return bool(np.array_equal(row[rest], base[rest], equal_nan=True))

    numeric = []
    for a, out in zip(encoder.numeric, results, strict=False):
        ok = out is not None and others_kept(out[0], a.outputs)
        numeric.append(
            replace(a, missing=out[0][a.outputs].copy() if ok and out is not None else None)
        )
    categorical = []
    for c, out in zip(encoder.categorical, results[len(encoder.numeric) :], strict=True):
        ok = (
            out is not None
            and others_kept(out[0], c.outputs)
            and others_kept(out[1], c.outputs)
            and np.array_equal(out[0][c.outputs], out[1][c.outputs])
            and not np.isnan(out[0][c.outputs]).any()
        )
        unknown = out[0][c.outputs].copy() if ok and out is not None else None
        categorical.append(replace(c, unknown=unknown))
    widened = RowEncoder(encoder.n_out, tuple(numeric), tuple(categorical))
    # Trust, then verify: every probe row the widened tables take encodes to what
    # ``transform`` gave for it.
    for probe, out in zip(probes, results, strict=True):
        if out is None:
            continue
        for cells, expected in zip(probe.to_numpy(dtype=object), out, strict=True):
            got = widened.encode([plain_cell(v) for v in cells])
            if got is not None and not _agrees(got[0], expected):
                return encoder
    return widened


def _agrees(got: FloatArray, expected: FloatArray) -> bool:
    """The build check's agreement (the affine tables reproduce ``transform`` to ``_AGREE``
    of the output's scale), with NaN exactly where ``transform`` gives NaN."""
    nan = np.isnan(expected)
    if not np.array_equal(np.isnan(got), nan):
        return False
    scale = max(1.0, float(np.abs(expected[~nan]).max(initial=0.0)))
    return bool(np.allclose(got[~nan], expected[~nan], rtol=0, atol=_AGREE * scale))


def _fit_affine(column: int, outputs: IntArray, x: FloatArray, y: FloatArray) -> _Affine | None:
    """``y = offset + slope * x`` per output column, exactly on every probe, or None."""
    lo, hi = int(np.argmin(x)), int(np.argmax(x))
    if x[hi] == x[lo]:
        return None
    slope = (y[hi] - y[lo]) / (x[hi] - x[lo])
    offset = y[lo] - slope * x[lo]
    fitted = offset[None, :] + x[:, None] * slope[None, :]
    scale = np.maximum(1.0, np.abs(y).max(axis=0))
    if not np.all(np.abs(fitted - y) <= _AGREE * scale):
        return None
    return _Affine(column, outputs, offset, slope)


def _dense(out: Any) -> FloatArray:
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=np.float64)


_NA = pd.NA
_NAT = pd.NaT


def plain_cell(value: Any) -> Any:
    """A numpy scalar as the Python value the batch path reports; pandas' missing markers
    (``pd.NA``, ``pd.NaT``) as None, the missing value reasons and audit records know
    (other values as given)."""
    if isinstance(value, np.generic):
        return value.item()
    if value is _NA or value is _NAT:
        return None
    return value


def _encoder_categories(preprocessor: Any, names: list[str]) -> dict[str, list[Any]]:
    """Categories the fitted encoders know, per raw column (best effort: direct children)."""
    found: dict[str, list[Any]] = {}
    steps = getattr(preprocessor, "steps", None)
    parts = [s for _, s in steps] if steps is not None else [preprocessor]
    for part in parts:
        inputs = getattr(part, "_transformer_to_input_indices", None)
        for name, fitted, _ in getattr(part, "transformers_", ()):
            cats = getattr(fitted, "categories_", None)
            cols = (inputs or {}).get(name, [])
            if cats is None or len(cats) != len(cols):
                continue
            for col, values in zip(cols, cats, strict=True):
                found.setdefault(names[int(col)], []).extend(np.asarray(values).tolist())
    return found
