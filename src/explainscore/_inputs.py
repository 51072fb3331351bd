"""The input schema: captured once from the training or background data, checked at the door.

Every row that reaches a model passes :meth:`Schema.validate` first. Column-level problems
(a missing or unexpected column, a column of the wrong kind throughout, no rows) raise a typed
:class:`~explainscore.exceptions.InputError` at once. Row-level problems (text in a numeric
column, NaN or infinity where the model cannot take it) are collected per row, so a batch can
explain its good rows and report the bad ones. Messages name the column and the row position,
never a value: a lead's values may be personal data. A column hidden from reps (by the catalog
or the policy) or blocked by the policy is never named: messages, the errors' ``column`` /
``columns`` attributes and rejected rows say "a hidden column" instead (:meth:`Schema.label`),
so whatever shows an error to a person or writes it to a log may do so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .exceptions import (
    ColumnTypeError,
    EmptyInputError,
    InputError,
    MissingColumnError,
    NonFiniteValueError,
    UnexpectedColumnError,
)

if TYPE_CHECKING:
    from ._categories import CategoryCodes

__all__ = ["HIDDEN", "ColumnSpec", "RowProblem", "Schema", "Validated"]

#: What a message, an error's ``column`` / ``columns`` and a rejected row say for a column
#: that may not be named (hidden by the catalog or the policy, or blocked).
HIDDEN = "a hidden column"

ColumnKind = Literal["numeric", "categorical"]
ProblemKind = Literal["not_a_number", "not_text", "missing", "infinite", "unseen"]


@dataclass(frozen=True)
class ColumnSpec:
    """One raw input column as the model knows it."""

    name: str
    kind: ColumnKind
    #: Whether the model accepts a missing value (NaN / None) in this column.
    allow_missing: bool = False
    #: How a missing text value is handed to the model: ``None`` rather than NaN, for a
    #: preprocessor that takes one and not the other (a OneHotEncoder fitted on text only
    #: takes None as an unknown category, and fails on a float NaN among strings).
    missing_as_none: bool = False
    #: A native categorical column: the model's own categories and codes (``_categories``).
    categories: CategoryCodes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RowProblem:
    """Why one row cannot be explained."""

    row: int
    #: The column's name, or "a hidden column" (:data:`HIDDEN`) for one that is never named.
    column: str
    kind: ProblemKind
    #: The column's position in the schema (groups the rows of one column without its name).
    index: int = field(default=-1, compare=False)
    hidden: bool = field(default=False, compare=False)

    @property
    def message(self) -> str:
        what = {
            "not_a_number": "holds text where a number is expected",
            "not_text": "holds a number where a category (text) is expected",
            "missing": "is missing, and the model cannot take missing values there",
            "infinite": "is infinite",
            "unseen": "holds a category the model was not trained on",
        }[self.kind]
        return f"{_subject(self.column, self.hidden)} {what}"


@dataclass(frozen=True)
class Validated:
    """Rows that passed the column checks, with the row-level problems found."""

    frame: pd.DataFrame
    problems: dict[int, RowProblem] = field(default_factory=dict)

    @property
    def good(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        mask = np.ones(len(self.frame), dtype=bool)
        if self.problems:
            mask[list(self.problems)] = False
        return mask

    def raise_first(self) -> None:
        """Raise the typed error of the first problem row, if any."""
        if not self.problems:
            return
        first = self.problems[min(self.problems)]
        rows = sorted(
            r
            for r, p in self.problems.items()
            if p.index == first.index and p.column == first.column
        )
        where = _rows_text(rows)
        subject = _subject(first.column, first.hidden, capital=True)
        if first.kind in ("missing", "infinite"):
            kind = "NaN or missing" if first.kind == "missing" else "infinite"
            raise NonFiniteValueError(
                f"{subject} has {kind} values in {where}, which the model cannot "
                "take. Fill or drop those rows, or pass on_error='skip' to explain the other "
                "rows and report these.",
                column=first.column,
                rows=rows,
            )
        if first.kind == "unseen":
            raise ColumnTypeError(
                f"{subject} holds a category the model was not trained on in {where}, and "
                "the model's library refuses unseen categories. Map those values to a "
                "category the model knows or leave them empty (missing), or pass "
                "on_error='skip' to explain the other rows and report these.",
                column=first.column,
            )
        expected = "numbers" if first.kind == "not_a_number" else "text categories"
        raise ColumnTypeError(
            f"{subject} must hold {expected}, but {where} do not. Fix those "
            "rows, or pass on_error='skip' to explain the other rows and report these.",
            column=first.column,
        )


def _rows_text(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    noun = "row" if len(rows) == 1 else "rows"
    return f"{noun} {shown}{more} (0-based positions)"


@dataclass(frozen=True)
class Schema:
    """The raw columns a model takes, in order, and how each may be filled.

    Attributes
    ----------
    columns : tuple of ColumnSpec
    wants_frame : bool
        True when the model was fitted on a DataFrame (it checks column names), so rows are
        passed to it as a DataFrame; otherwise as a 2-D array.
    """

    columns: tuple[ColumnSpec, ...]
    wants_frame: bool
    #: Whether a column name may not be written in any output (hidden or blocked); None:
    #: every name may be. Set by the model from its catalog and policy.
    secret: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def with_secret(self, secret: Callable[[str], bool] | None) -> Schema:
        """The same schema, naming columns for which ``secret`` is true "a hidden column"."""
        return replace(self, secret=secret)

    def is_secret(self, name: str) -> bool:
        return self.secret is not None and self.secret(name)

    def label(self, name: str) -> str:
        """``name``, or "a hidden column" when it may not be written (see :attr:`secret`)."""
        return HIDDEN if self.is_secret(name) else name

    def _names_text(self, names: Sequence[str]) -> str:
        """Columns for a message: "the column(s) 'a', 'b'", with the ones that may not be
        named counted instead ("... and a hidden column", "2 hidden columns")."""
        shown = [n for n in names if not self.is_secret(n)]
        n_hidden = len(names) - len(shown)
        text = f"the column(s) {_quote(shown)}" if shown else ""
        if n_hidden:
            hidden = HIDDEN if n_hidden == 1 else f"{n_hidden} hidden columns"
            text = f"{text} and {hidden}" if text else hidden
        return text

    @classmethod
    def capture(cls, X: pd.DataFrame, *, wants_frame: bool) -> Schema:
        """Read the columns and their kinds off a DataFrame of representative rows."""
        specs = []
        for name in X.columns:
            col = X[name]
            is_num = pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
            specs.append(ColumnSpec(str(name), "numeric" if is_num else "categorical"))
        return cls(tuple(specs), wants_frame)

    def with_categories(self, native: Mapping[str, CategoryCodes]) -> Schema:
        """The same schema with the model's native categorical columns (``_categories``):
        each one player whose values are mapped to the model's own codes."""
        if not native:
            return self
        cols = tuple(
            c
            if c.name not in native
            else replace(
                c,
                kind="categorical" if native[c.name].frame_dtype else c.kind,
                categories=native[c.name],
            )
            for c in self.columns
        )
        return replace(self, columns=cols)

    def with_missing_allowed(
        self, allowed: Mapping[str, bool], as_none: Mapping[str, bool] | None = None
    ) -> Schema:
        none = as_none or {}
        cols = tuple(
            replace(
                c,
                allow_missing=bool(allowed.get(c.name, False)),
                missing_as_none=bool(none.get(c.name, False)),
            )
            for c in self.columns
        )
        return replace(self, columns=cols)

    # --- turning what the user passes into a frame --------------------------------------

    def to_frame(self, X: Any, *, where: str) -> pd.DataFrame:
        """Turn a DataFrame, Series, dict, list of dicts or array into a frame of our columns.

        Column-level problems raise; row-level ones are left for :meth:`validate`.
        """
        names = self.names
        if isinstance(X, pd.DataFrame):
            frame = X
        elif isinstance(X, pd.Series):
            frame = X.to_frame().T
        elif isinstance(X, Mapping):
            frame = pd.DataFrame([dict(X)])
        elif isinstance(X, Sequence) and not isinstance(X, str) and X and isinstance(X[0], Mapping):
            frame = pd.DataFrame(list(X))
        else:
            arr = np.asarray(X, dtype=object if _has_text(X) else None)
            if arr.ndim == 1:
                arr = arr.reshape(1, -1)
            if arr.ndim != 2:
                raise InputError(
                    f"{where} takes a DataFrame, a dict, a Series or a 2-D array of rows; "
                    f"got an array with {arr.ndim} dimensions."
                )
            if arr.shape[1] != len(names):
                first = ", ".join(self.label(n) for n in names[:6])
                raise InputError(
                    f"{where} got rows with {arr.shape[1]} columns, but the model takes "
                    f"{len(names)} ({first}{', ...' if len(names) > 6 else ''}). "
                    "Pass a DataFrame with named columns, or an array with the columns in "
                    "the model's order."
                )
            frame = pd.DataFrame(arr, columns=names)
        frame = _plain_dtypes(frame)
        if len(frame) == 0:
            raise EmptyInputError(f"{where} got no rows: pass at least one row to explain.")
        frame.columns = [str(c) for c in frame.columns]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise MissingColumnError(
                f"{where} got rows without {self._names_text(missing)} that "
                "the model was built on. Add them (a missing value may be allowed as NaN).",
                columns=[self.label(n) for n in missing],
            )
        extra = [c for c in frame.columns if c not in set(names)]
        if extra:
            raise UnexpectedColumnError(
                f"{where} got {self._names_text(extra)} that the model was not "
                "built on. Drop them before explaining (keep identifiers in your own index).",
                columns=[self.label(n) for n in extra],
            )
        return frame[names]

    def validate(self, X: Any, *, where: str) -> Validated:
        """Check ``X`` against the schema; see the module docstring."""
        frame = self.to_frame(X, where=where)
        problems: dict[int, RowProblem] = {}
        out: dict[str, pd.Series[Any]] = {}
        for j, spec in enumerate(self.columns):
            col = frame[spec.name]
            hidden = self.is_secret(spec.name)
            label = HIDDEN if hidden else spec.name
            subject = _subject(label, hidden, capital=True)
            problem = RowProblem(-1, label, "missing", index=j, hidden=hidden)
            if spec.kind == "numeric":
                values, bad_kind = _as_numbers(col)
                if bad_kind.all():
                    raise ColumnTypeError(
                        f"{subject} must hold numbers, but it holds text in every "
                        "row. Convert it to numbers (for a CSV, check the separator and "
                        "decimal mark).",
                        column=label,
                    )
                arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
                _note(problems, bad_kind, problem, "not_a_number")
                _note(problems, np.isinf(arr), problem, "infinite")
                if not spec.allow_missing:
                    _note(problems, np.isnan(arr) & ~bad_kind, problem, "missing")
                out[spec.name] = values
            elif spec.categories is not None:
                # Any label the model knows, text or not: its own categories decide.
                pos = spec.categories.positions(col)
                if spec.categories.unseen == "refuse":
                    _note(problems, pos == -2, problem, "unseen")
                if not spec.allow_missing:
                    _note(problems, pos < 0, problem, "missing")
                out[spec.name] = col
            else:
                is_missing = col.isna().to_numpy()
                not_text = ~is_missing & ~col.map(_is_text).to_numpy(dtype=bool)
                if not_text.all():
                    raise ColumnTypeError(
                        f"{subject} must hold text categories, but it holds "
                        "numbers in every row. Read it as text (for pandas: dtype=str).",
                        column=label,
                    )
                _note(problems, not_text, problem, "not_text")
                if not spec.allow_missing:
                    _note(problems, is_missing, problem, "missing")
                out[spec.name] = col
        clean = pd.DataFrame(out, index=frame.index)
        return Validated(clean, problems)

    def model_input(self, frame: pd.DataFrame) -> Any:
        """The form the model takes: the frame itself, or its values as an array.

        A native categorical column is handed with the training ``CategoricalDtype`` (the
        model's categories in the model's order), whatever the rows came as: text from a
        dict or a CSV, or a ``category`` column with its categories in another order.
        """
        frame = self._missing_text_as_model_takes_it(frame)
        if self.wants_frame:
            native = [
                c for c in self.columns if c.categories is not None and c.categories.frame_dtype
            ]
            if native:
                frame = frame.copy()
                for c in native:
                    assert c.categories is not None  # for mypy: filtered above
                    frame[c.name] = c.categories.frame_column(frame[c.name])
            return frame
        if all(c.kind == "numeric" for c in self.columns):
            return frame.to_numpy(dtype=np.float64, na_value=np.nan)
        return frame.to_numpy(dtype=object)

    def _missing_text_as_model_takes_it(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Missing text cells (None, NaN, pd.NA) in the one form the model was found to take
        (see ``missing_as_none``): a lead's None and a CSV's NaN are the same missing value."""
        copied = False
        for c in self.columns:
            if c.kind != "categorical" or c.categories is not None or not c.allow_missing:
                continue
            column = frame[c.name]
            missing = column.isna().to_numpy()
            if not missing.any():
                continue
            if not copied:
                frame, copied = frame.copy(), True
            token = None if c.missing_as_none else np.nan
            frame[c.name] = column.astype(object).where(~missing, token)  # type: ignore[arg-type]
        return frame

    @property
    def has_codes(self) -> bool:
        """Whether some column is a native categorical one (read as codes by the trees)."""
        return any(c.categories is not None for c in self.columns)

    def from_model_array(self, X: np.ndarray[Any, Any]) -> pd.DataFrame:
        """Rows of :meth:`model_array` back as a frame of the raw values (codes -> labels)."""
        frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=self.names)
        for c in self.columns:
            if c.categories is not None:
                frame[c.name] = c.categories.decode(frame[c.name].to_numpy())
        return frame

    def model_array(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The rows as the compiled trees read them: float64, a native categorical column
        as the model's codes (NaN where missing or unseen). Raises ``ValueError`` for a
        text column that has no codes (only a preprocessor can turn it into numbers)."""
        if not self.has_codes:
            return frame.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            col = frame[c.name]
            if c.categories is not None:
                out[:, j] = c.categories.code_column(col)
            else:
                out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return out


def _plain_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas columns as the models read them: ``Int64``, ``Float64`` and
    ``boolean`` as float64 with NaN where ``pd.NA`` is (every supported library reads them
    so), ``string`` as text with NaN for missing. Other columns are left as they are."""
    nullable = [
        name
        for name in frame.columns
        if isinstance(frame[name].dtype, pd.api.extensions.ExtensionDtype)
        and not isinstance(frame[name].dtype, pd.CategoricalDtype)
        and (_is_nullable_number(frame[name]) or _is_na_string(frame[name]))
    ]
    if not nullable:
        return frame
    frame = frame.copy()
    for name in nullable:
        col = frame[name]
        if _is_na_string(col):
            frame[name] = pd.Series(
                np.where(col.isna().to_numpy(), np.nan, col.to_numpy(dtype=object)),
                index=col.index,
                dtype=object,
            )
        else:
            frame[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return frame


def _is_nullable_number(col: pd.Series[Any]) -> bool:
    return pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


def _is_na_string(col: pd.Series[Any]) -> bool:
    """A ``string`` column whose missing value is ``pd.NA`` (pandas 3's default ``str`` uses
    NaN and needs nothing)."""
    dtype = col.dtype
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _has_text(X: Any) -> bool:
    try:
        return np.asarray(X).dtype.kind in "OUS"
    except (TypeError, ValueError):
        return True


def _as_numbers(col: pd.Series[Any]) -> tuple[pd.Series[Any], np.ndarray[Any, Any]]:
    """Numeric values of a column and a mask of cells that are not numbers.

    Numeric and boolean dtypes pass unchanged. In an object column (rows given as dicts, or a
    CSV chunk where one bad cell made the whole column text), Python numbers and text that
    is a number ("42", "3.5", as a CSV holds them) are parsed; any other cell is flagged, not
    coerced: explainscore never turns a word into a number or a NaN behind the user's back.
    """
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col, np.zeros(len(col), dtype=bool)
    parsed = col.map(_parse_number)
    bad_mask = parsed.map(lambda v: v is _NOT_A_NUMBER).to_numpy(dtype=bool)
    values = parsed.where(~bad_mask, other=np.nan).astype(np.float64)
    return values, bad_mask


_NOT_A_NUMBER = object()


def _parse_number(v: Any) -> Any:
    if v is None or v is pd.NA:  # pd.NA: a nullable column's missing value, in a dict or Series
        return np.nan
    if isinstance(v, str):
        try:
            return float(v.strip()) if v.strip() else np.nan
        except ValueError:
            return _NOT_A_NUMBER
    if _is_number_or_missing(v):
        return v
    return _NOT_A_NUMBER


def _is_number_or_missing(v: Any) -> bool:
    if v is None:
        return True
    return isinstance(v, (int, float, np.integer, np.floating, np.bool_, bool))


def _note(
    problems: dict[int, RowProblem],
    mask: np.ndarray[Any, Any],
    column: RowProblem,
    kind: ProblemKind,
) -> None:
    """Record ``kind`` in ``column`` (a template: its column, position and hiddenness) for
    the rows of ``mask``."""
    # The first problem found for a row is the one reported; a row is rejected once.
    for row in np.flatnonzero(mask):
        if int(row) not in problems:
            problems[int(row)] = replace(column, row=int(row), kind=kind)


def _subject(label: str, hidden: bool, *, capital: bool = False) -> str:
    """How a message names a column: "column 'x'", or "a hidden column" without its name."""
    if hidden:
        return "A hidden column" if capital else HIDDEN
    return f"{'Column' if capital else 'column'} {label!r}"


def _quote(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")
