"""Proxy check: which model inputs can stand in for a sensitive attribute.

Leaving a sensitive attribute out of a model does not keep it out of the scores: another
input that predicts it (a job title that says "retired", a postcode) can carry it in. For
each model input, :func:`proxy_check` measures how well that one column predicts each
sensitive attribute, and flags the columns above a threshold, to be passed to
:func:`~explainscore.governance._fairness.fairness_audit` as ``proxy_features``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from .._params import check_choice, check_int, check_number
from ..exceptions import ParameterError
from ._fairness import Attribute, sensitive_attributes
from ._fairness_report import ProxyColumn, ProxyReport

__all__ = ["proxy_check"]

_WHERE = "proxy_check"
_METHODS = ("auc", "mutual_info")
_DEFAULT_THRESHOLD = {"auc": 0.7, "mutual_info": 0.05}
#: Quantile bins of a numeric column for mutual information: enough to see a non-monotone
#: link (an age band from age), few enough that the chance MI of noise stays near 0.
_MI_BINS = 10
#: Laplace smoothing of the per-level class frequencies of a categorical column.
_ALPHA = 1.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or isinstance(
        column.dtype, pd.CategoricalDtype
    )


def _level_codes(column: pd.Series) -> IntArray:
    # Missing values form a level of their own: missingness can itself reveal a group.
    text = column.astype(object).where(column.notna(), "\x00missing")
    codes, _ = pd.factorize(text.astype(str), sort=True)
    return np.asarray(codes, dtype=np.intp)


def _oof_proba(
    column: pd.Series,
    y: IntArray,
    n_classes: int,
    folds: list[tuple[IntArray, IntArray]],
    random_state: int,
) -> FloatArray:
    """Out-of-fold class probabilities predicted from one column."""
    proba = np.zeros((len(y), n_classes))
    if _is_categorical(column):
        levels = _level_codes(column)
        n_levels = int(levels.max()) + 1
        for train, test in folds:
            # Per-level class frequencies, smoothed: the best one-column classifier for a
            # categorical input, and exact to compute (no model choice to argue about).
            table = np.full((n_levels, n_classes), _ALPHA)
            np.add.at(table, (levels[train], y[train]), 1.0)
            proba[test] = (table / table.sum(axis=1, keepdims=True))[levels[test]]
        return proba
    values = column.to_numpy(dtype=np.float64).reshape(-1, 1)
    leaf = max(5, len(y) // 100)
    for train, test in folds:
        # A shallow tree sees non-monotone links (an age band from age) that a linear model
        # misses, and its size bound keeps it from memorising noise.
        tree = DecisionTreeClassifier(
            max_depth=4, min_samples_leaf=leaf, random_state=random_state
        ).fit(values[train], y[train])
        proba[np.ix_(test, tree.classes_)] = tree.predict_proba(values[test])
    return proba


def _auc(y: IntArray, proba: FloatArray, n_classes: int) -> float:
    if n_classes == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(
        roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=range(n_classes))
    )


def _nmi(column: pd.Series, y: IntArray) -> float:
    if _is_categorical(column):
        x = _level_codes(column)
    else:
        values = column.to_numpy(dtype=np.float64)
        ranks = pd.Series(values).rank(method="dense").to_numpy()
        # Bins on ranks rather than values: skewed columns (balances) still fill every bin.
        finite = ~np.isnan(ranks)
        x = np.full(len(values), -1, dtype=np.intp)
        if finite.any():
            top = float(np.nanmax(ranks))
            x[finite] = np.minimum(
                (ranks[finite] - 1) * _MI_BINS // max(top, 1.0), _MI_BINS - 1
            ).astype(np.intp)
    return float(normalized_mutual_info_score(y, x))


def _check_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X, dtype=object)
        if array.ndim != 2:
            raise ParameterError(
                "The 'X' parameter of proxy_check must be a DataFrame or a 2-D array. Got an "
                f"array of shape {array.shape} instead."
            )
        frame = pd.DataFrame(array).infer_objects()
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ParameterError(
            "The 'X' parameter of proxy_check must have rows and columns. Got a frame of "
            f"shape {frame.shape} instead."
        )
    return frame.reset_index(drop=True)


def proxy_check(
    X: Any,
    sensitive: Any,
    *,
    method: Literal["auc", "mutual_info"] = "auc",
    threshold: float | None = None,
    cv: int = 5,
    random_state: int = 0,
) -> ProxyReport:
    """Measure how well each model input predicts each sensitive attribute.

    Parameters
    ----------
    X : DataFrame or 2-D array-like
        The model inputs (raw columns). Numeric and categorical columns are both handled;
        missing values of a categorical column form a level of their own.
    sensitive : Series, DataFrame, dict of array-like, or 1-D array-like
        The sensitive attribute(s) of the same rows, matched by position, or by label when
        a pandas object's index holds every label of ``X``'s index. Rows with an unknown
        label (NaN, None, ``"unknown"``) are left out for that attribute.
    method : {"auc", "mutual_info"}, default="auc"
        ``"auc"``: out-of-fold AUC of a one-column classifier (a depth-4 tree for a numeric
        column, smoothed per-level class frequencies for a categorical one); one-vs-rest
        macro AUC when the attribute has more than two values. 0.5 is chance, 1 a perfect
        proxy. ``"mutual_info"``: normalized mutual information (arithmetic mean of the
        entropies) between the column (numeric columns in 10 quantile bins) and the
        attribute, 0 (independent) to 1. Not cross-validated: it overstates columns with
        many levels (an identifier scores high), which the AUC does not.
    threshold : float, optional
        A column is flagged when its score is above it. Default 0.7 for AUC, 0.05 for
        mutual information (a different scale: a column as telling as AUC 0.8 often has a
        normalized MI under 0.1). In [0, 1].
    cv : int, default=5
        Folds of the stratified cross-validation (AUC only), at least 2. Lowered to the size
        of the smallest class when a class is smaller, with a note.
    random_state : int, default=0
        Seed of the fold shuffle and the trees: the same inputs give the same report.

    Returns
    -------
    ProxyReport
        One :class:`ProxyColumn` per (column, attribute); ``report.flagged`` lists the
        flagged columns.

    Raises
    ------
    ParameterError
        If a parameter is out of range or the labels do not match the rows in number.
    """
    method = check_choice(method, "method", _WHERE, _METHODS)  # type: ignore[assignment]
    if threshold is None:
        limit = _DEFAULT_THRESHOLD[method]
    else:
        limit = check_number(threshold, "threshold", _WHERE, low=0.0, high=1.0)
    folds_wanted = check_int(cv, "cv", _WHERE, low=2)
    seed = check_int(random_state, "random_state", _WHERE, low=0)
    labels = X.index if isinstance(X, pd.DataFrame) else None
    frame = _check_frame(X)
    attrs = sensitive_attributes(
        sensitive, len(frame), index=labels, where=_WHERE, param="sensitive"
    )

    notes: list[str] = []
    columns: list[ProxyColumn] = []
    for attr in attrs:
        columns += _check_attribute(frame, attr, method, limit, folds_wanted, seed, notes)
    return ProxyReport(
        method=method,
        threshold=limit,
        cv=folds_wanted,
        random_state=seed,
        n_rows=len(frame),
        columns=tuple(columns),
        notes=tuple(notes),
    )


def _check_attribute(
    frame: pd.DataFrame,
    attr: Attribute,
    method: str,
    limit: float,
    folds_wanted: int,
    seed: int,
    notes: list[str],
) -> list[ProxyColumn]:
    known = attr.codes >= 0
    # Re-code the observed classes as 0..k-1: declared but empty categories predict nothing.
    classes, y = np.unique(attr.codes[known], return_inverse=True)
    y = y.astype(np.intp)
    n_classes = len(classes)
    rows = frame.loc[known].reset_index(drop=True)
    if (~known).any():
        notes.append(
            f"{int((~known).sum())} rows with an unknown {attr.name!r} are left out of its check."
        )
    folds: list[tuple[IntArray, IntArray]] = []
    usable = n_classes >= 2
    if method == "auc" and usable:
        smallest = int(np.bincount(y).min())
        k = min(folds_wanted, smallest)
        if k < 2:
            usable = False
            notes.append(
                f"A value of {attr.name!r} has a single row: no cross-validated AUC (NaN)."
            )
        else:
            if k < folds_wanted:
                notes.append(
                    f"The smallest class of {attr.name!r} has {smallest} rows: {k} folds used."
                )
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            folds = [
                (np.asarray(a, np.intp), np.asarray(b, np.intp))
                for a, b in splitter.split(np.zeros(len(y)), y)
            ]
    elif not usable:
        notes.append(f"{attr.name!r} takes fewer than two known values: scores are NaN.")

    out: list[ProxyColumn] = []
    for name in frame.columns:
        column = rows[name]
        if not usable:
            score = math.nan
        elif method == "auc":
            score = _auc(y, _oof_proba(column, y, n_classes, folds, seed), n_classes)
        else:
            score = _nmi(column, y)
        out.append(
            ProxyColumn(
                column=str(name),
                attribute=attr.name,
                kind="categorical" if _is_categorical(column) else "numeric",
                method="auc" if method == "auc" else "mutual_info",
                score=score,
                flagged=bool(score > limit),
            )
        )
    return out
