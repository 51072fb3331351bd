"""Fairness audit of a lead-scoring threshold: who is passed over, and why.

:func:`fairness_audit` compares selection rates (score >= threshold) across groups of one
or more sensitive attributes and their intersection (the four-fifths rule, with intervals),
and, from the explanations, counts the principal reasons of the leads the model rejects,
per group: the features that pushed each rejected lead's score down the most. This is the
part that disaggregated-metric libraries do not cover, and the one an adverse-action review
under ECOA / Regulation B asks about.

Sensitive attributes are audit-time data: they are passed here, never to the model.

Columns hidden from reps (by the policy or the catalog) are counted like any other factor,
but by default the report never names them: they are pooled under one label, "a hidden
column". An auditor who must see them asks for them with ``show_hidden=True``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._inputs import HIDDEN
from .._params import check_int, check_number, param_error
from .._records import Explanations
from ..exceptions import ParameterError
from ._fairness_report import (
    AttributeSummary,
    FairnessReport,
    GroupRate,
    GroupRejections,
    ProxyColumn,
    ProxyDriver,
    ProxyReport,
    ReasonShare,
)
from ._identity import skeleton

__all__ = [
    "Attribute",
    "fairness_audit",
    "katz_ratio_interval",
    "principal_reasons",
    "sensitive_attributes",
    "wilson_interval",
]

_WHERE = "fairness_audit"
#: The four-fifths rule: a rate below 0.8 times the highest group's rate is flagged.
_FOUR_FIFTHS = 0.8
#: Below this many leads the reference group's own rate is too noisy to anchor every ratio.
_SMALL_REFERENCE = 30
#: Rejected leads a group needs before its proxy share enters the max/min ratio.
_MIN_REJECTED = 30
#: Empty intersection cells named one by one in a note; beyond this they are counted.
_NAMED_EMPTY_CELLS = 10

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


# --- sensitive attributes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """One sensitive attribute (or an intersection) encoded as group codes.

    ``codes[i]`` is the group of lead ``i`` in ``levels``, or -1 when its label is unknown.
    ``parts`` holds, for each group, the level of each attribute it is made of.
    """

    name: str
    codes: IntArray
    levels: list[str]
    parts: list[dict[str, str]]


def _is_unknown_label(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "unknown"
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _encode(name: str, values: pd.Series) -> Attribute:
    raw = values.to_numpy(dtype=object)
    unknown = np.fromiter((_is_unknown_label(v) for v in raw), dtype=bool, count=len(raw))
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Declared categories keep their order and their empty groups: an auditor who lists
        # a group expects to see it, even when no lead falls in it.
        order: list[Any] = [c for c in values.cat.categories if not _is_unknown_label(c)]
    else:
        observed = list(pd.unique(raw[~unknown]))
        if all(isinstance(v, numbers.Real) for v in observed):
            order = sorted(observed, key=float)
        else:
            order = sorted(observed, key=str)
    levels = list(dict.fromkeys(str(v) for v in order))
    lookup = {label: i for i, label in enumerate(levels)}
    codes = np.full(len(raw), -1, dtype=np.intp)
    codes[~unknown] = [lookup[str(v)] for v in raw[~unknown]]
    return Attribute(name, codes, levels, [{name: lv} for lv in levels])


def _align(values: Any, n: int, index: pd.Index | None, where: str, param: str) -> pd.Series:
    if isinstance(values, pd.Series):
        series = values
        if index is not None and not series.index.equals(index):
            if series.index.is_unique and index.isin(series.index).all():
                # The audited rows are a subset or a reordering of the labelled rows (as
                # after ``explain(..., on_error="skip")``): match them by label.
                return series.reindex(index)
            if len(series) != n:
                raise _length_error(where, param, n, len(series))
        elif len(series) != n:
            raise _length_error(where, param, n, len(series))
        return series.reset_index(drop=True)
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ParameterError(
            f"The {param!r} parameter of {where} must hold one label per lead (1-D). Got an "
            f"array of shape {array.shape} instead; pass several attributes as a DataFrame "
            "or a dict of arrays."
        )
    if len(array) != n:
        raise _length_error(where, param, n, len(array))
    return pd.Series(array, dtype=object)


def _length_error(where: str, param: str, n: int, got: int) -> ParameterError:
    return ParameterError(
        f"The {param!r} parameter of {where} must hold one label per lead ({n}). Got {got} "
        "labels instead."
    )


def sensitive_attributes(
    sensitive: Any,
    n: int,
    *,
    index: pd.Index | None = None,
    where: str = _WHERE,
    param: str = "sensitive_features",
) -> list[Attribute]:
    """Encode the sensitive attributes of ``n`` leads.

    Parameters
    ----------
    sensitive : Series, DataFrame, dict of array-like, or 1-D array-like
        One attribute (a Series or an array) or several (DataFrame columns, dict entries).
    n : int
        Number of leads.
    index : Index, optional
        Labels of the leads. A pandas object whose index holds every one of them is matched
        by label; anything else by position.
    where, param : str
        Names used in error messages.

    Returns
    -------
    list of Attribute
    """
    columns: list[tuple[str, Any]]
    if isinstance(sensitive, pd.DataFrame):
        columns = [(str(c), sensitive[c]) for c in sensitive.columns]
        if sensitive.columns.duplicated().any():
            raise ParameterError(
                f"The {param!r} parameter of {where} must have unique column names. Got "
                "duplicated names instead."
            )
    elif isinstance(sensitive, pd.Series):
        columns = [(str(sensitive.name) if sensitive.name is not None else "sensitive", sensitive)]
    elif isinstance(sensitive, Mapping):
        columns = [(str(k), v) for k, v in sensitive.items()]
    elif isinstance(sensitive, str | bytes) or sensitive is None:
        raise param_error(param, where, "a Series, a DataFrame or a dict of arrays", sensitive)
    else:
        columns = [("sensitive", sensitive)]
    if not columns:
        raise ParameterError(
            f"The {param!r} parameter of {where} must hold at least one attribute. Got none "
            "instead."
        )
    if len({name for name, _ in columns}) != len(columns):
        raise ParameterError(
            f"The {param!r} parameter of {where} must have unique attribute names. Got "
            "duplicated names instead."
        )
    return [_encode(name, _align(v, n, index, where, param)) for name, v in columns]


def _intersection(attrs: Sequence[Attribute]) -> Attribute:
    shape = tuple(len(a.levels) for a in attrs)
    codes = np.stack([a.codes for a in attrs])
    known = (codes >= 0).all(axis=0)
    combined = np.full(codes.shape[1], -1, dtype=np.intp)
    if known.any() and all(shape):
        combined[known] = np.ravel_multi_index(tuple(codes[:, known]), shape)
    levels: list[str] = []
    parts: list[dict[str, str]] = []
    # Row-major order matches ravel_multi_index, and the cells of a MultiIndex product.
    for combo in np.ndindex(*shape):
        cell = {a.name: a.levels[i] for a, i in zip(attrs, combo, strict=True)}
        parts.append(cell)
        levels.append(" & ".join(cell.values()))
    return Attribute(" & ".join(a.name for a in attrs), combined, levels, parts)


# --- intervals ---------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(selected: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``selected / n``.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its coverage near
    0 and 1, where selection rates of small groups often sit.

    Returns
    -------
    (low, high) : tuple of float
        NaN for an empty group.
    """
    if n <= 0:
        return math.nan, math.nan
    z = _z(confidence)
    p = selected / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 and n the bound is exactly 0 or 1; rounding would leave a 1e-17 instead.
    low = 0.0 if selected == 0 else max(0.0, center - half)
    high = 1.0 if selected == n else min(1.0, center + half)
    return low, high


def katz_ratio_interval(
    x1: int, n1: int, x0: int, n0: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Katz log interval for the ratio of two proportions ``(x1 / n1) / (x0 / n0)``.

    ``log(ratio)`` is treated as normal with variance ``1/x1 - 1/n1 + 1/x0 - 1/n0`` (the
    delta method). When ``x1`` is 0 the log is undefined, so 0.5 is added to every cell of
    the 2x2 table (``x -> x + 0.5``, ``n -> n + 1``) to get the upper bound; the interval
    then starts at 0, the point estimate.

    Returns
    -------
    (low, high) : tuple of float
        NaN when either group is empty or the reference proportion is 0.
    """
    if n1 <= 0 or n0 <= 0 or x0 <= 0:
        return math.nan, math.nan
    ratio = (x1 / n1) / (x0 / n0)
    a1, m1, a0, m0 = float(x1), float(n1), float(x0), float(n0)
    if x1 == 0:
        a1, m1, a0, m0 = a1 + 0.5, m1 + 1.0, a0 + 0.5, m0 + 1.0
    se = math.sqrt(max(0.0, 1 / a1 - 1 / m1 + 1 / a0 - 1 / m0))
    log_ratio = math.log((a1 / m1) / (a0 / m0))
    z = _z(confidence)
    low, high = math.exp(log_ratio - z * se), math.exp(log_ratio + z * se)
    return min(low, ratio), max(high, ratio)


# --- rates -------------------------------------------------------------------------------------


def _rates(
    attr: Attribute, selected: BoolArray, confidence: float, notes: list[str], *, cells: bool
) -> tuple[list[GroupRate], AttributeSummary]:
    known = attr.codes >= 0
    size = len(attr.levels)
    n = np.bincount(attr.codes[known], minlength=size)
    x = np.bincount(attr.codes[known & selected], minlength=size)
    rate = np.divide(x, n, out=np.full(size, np.nan), where=n > 0)
    ref: int | None = int(np.nanargmax(rate)) if (n > 0).any() else None
    ref_x = int(x[ref]) if ref is not None else 0
    ref_n = int(n[ref]) if ref is not None else 0

    rows: list[GroupRate] = []
    for g in range(size):
        ng, xg = int(n[g]), int(x[g])
        lo, hi = wilson_interval(xg, ng, confidence=confidence)
        if ref is None or ng == 0 or ref_x == 0:
            ratio, rlo, rhi = math.nan, math.nan, math.nan
        elif g == ref:
            # The reference compared with itself: exactly 1, no sampling interval to give.
            ratio, rlo, rhi = 1.0, math.nan, math.nan
        else:
            ratio = float(rate[g] / rate[ref])
            rlo, rhi = katz_ratio_interval(xg, ng, ref_x, ref_n, confidence=confidence)
        if g == ref and ref_x > 0:
            below: bool | None = False
        else:
            below = None if math.isnan(rhi) else rhi < _FOUR_FIFTHS
        rows.append(
            GroupRate(
                attribute=attr.name,
                group=attr.levels[g],
                levels=attr.parts[g],
                n=ng,
                selected=xg,
                selection_rate=float(rate[g]),
                rate_ci_low=lo,
                rate_ci_high=hi,
                impact_ratio=ratio,
                ratio_ci_low=rlo,
                ratio_ci_high=rhi,
                # With nothing selected anywhere no group anchors the ratios.
                reference=g == ref and ref_x > 0,
                four_fifths_flag=None if math.isnan(ratio) else ratio < _FOUR_FIFTHS,
                ci_below_four_fifths=below,
            )
        )

    ratios = [r.impact_ratio for r in rows if not math.isnan(r.impact_ratio)]
    summary = AttributeSummary(
        attribute=attr.name,
        n_known=int(known.sum()),
        n_unknown=int((~known).sum()),
        n_groups=size,
        n_empty_groups=int((n == 0).sum()),
        reference_group=attr.levels[ref] if ref is not None and ref_x > 0 else None,
        reference_rate=float(rate[ref]) if ref is not None else math.nan,
        min_impact_ratio=min(ratios) if ratios else math.nan,
        flagged_groups=tuple(r.group for r in rows if r.four_fifths_flag),
    )
    _rate_notes(attr, summary, n, ref, ref_x, notes, cells=cells)
    return rows, summary


def _rate_notes(
    attr: Attribute,
    summary: AttributeSummary,
    n: IntArray,
    ref: int | None,
    ref_x: int,
    notes: list[str],
    *,
    cells: bool,
) -> None:
    name = attr.name
    if summary.n_unknown and not cells:
        notes.append(
            f"{summary.n_unknown} leads have an unknown {name!r} (NaN, None or 'unknown'): "
            "they are counted apart and excluded from its rates and ratios."
        )
    if summary.n_unknown and cells:
        notes.append(
            f"{summary.n_unknown} leads have an unknown label in at least one attribute and "
            f"are excluded from the intersection {name!r}."
        )
    empty = [attr.levels[g] for g in np.flatnonzero(n == 0)]
    if empty and not cells:
        notes.extend(
            f"Group {g!r} of {name!r} has no leads: its rate and impact ratio are NaN."
            for g in empty
        )
    elif empty:
        shown = ", ".join(repr(g) for g in empty[:_NAMED_EMPTY_CELLS])
        extra = len(empty) - _NAMED_EMPTY_CELLS
        more = f" and {extra} more" if extra > 0 else ""
        notes.append(
            f"{len(empty)} of {len(attr.levels)} cells of {name!r} have no leads (rates and "
            f"ratios NaN): {shown}{more}."
        )
    if ref is None:
        notes.append(f"No lead has a known {name!r}: no rate or ratio can be computed.")
    elif ref_x == 0:
        notes.append(
            f"No lead of any group of {name!r} is selected: impact ratios are undefined (NaN)."
        )
    elif int(n[ref]) < _SMALL_REFERENCE:
        notes.append(
            f"The reference group {attr.levels[ref]!r} of {name!r} has only {int(n[ref])} "
            "leads: its rate, and so every impact ratio of this attribute, is uncertain "
            "(read the intervals)."
        )


# --- rejected leads ----------------------------------------------------------------------------


def principal_reasons(attributions: FloatArray, k: int) -> IntArray:
    """Column indices of each lead's ``k`` most negative attributions, -1 where none is left.

    These are the factors that pushed the score down the most: the principal reasons an
    adverse-action notice would give. Ties are broken by column order, so the result is
    deterministic. Zero and positive attributions are never reasons.

    Parameters
    ----------
    attributions : ndarray of shape (n, n_features)
    k : int

    Returns
    -------
    ndarray of int of shape (n, min(k, n_features))
    """
    order = np.argsort(attributions, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(attributions, order, axis=1)
    return np.where(values < 0, order, -1).astype(np.intp)


def _reason_matrix(reasons: IntArray, n_features: int) -> npt.NDArray[np.int64]:
    named = np.zeros((reasons.shape[0], n_features), dtype=np.int64)
    rows, slots = np.nonzero(reasons >= 0)
    named[rows, reasons[rows, slots]] = 1
    return named


def _group_counts(
    attr: Attribute, rejected: BoolArray, indicator: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per group: rejected leads with each column of ``indicator`` set, and rejected leads."""
    size = len(attr.levels)
    keep = (attr.codes >= 0) & rejected
    codes = attr.codes[keep]
    counts = np.zeros((size, indicator.shape[1]), dtype=np.int64)
    np.add.at(counts, codes, indicator[keep])
    return counts, np.bincount(codes, minlength=size).astype(np.int64)


def _rejections(
    attr: Attribute,
    rejected: BoolArray,
    named: npt.NDArray[np.int64],
    no_reason: BoolArray,
    features: Sequence[str],
) -> list[GroupRejections]:
    size = len(attr.levels)
    keep = (attr.codes >= 0) & rejected
    counts, n_rej = _group_counts(attr, rejected, named)
    none = np.bincount(attr.codes[keep], weights=no_reason[keep].astype(np.float64), minlength=size)
    n_all = np.bincount(attr.codes[attr.codes >= 0], minlength=size)
    out: list[GroupRejections] = []
    for g in range(size):
        if n_all[g] == 0:
            continue
        # Most frequent first; equal counts keep the column order.
        order = sorted(np.flatnonzero(counts[g]), key=lambda j: (-counts[g, j], j))
        out.append(
            GroupRejections(
                attribute=attr.name,
                group=attr.levels[g],
                levels=attr.parts[g],
                n_rejected=int(n_rej[g]),
                no_negative_factor=int(none[g]),
                reasons=tuple(
                    ReasonShare(
                        feature=features[int(j)],
                        count=int(counts[g, j]),
                        share=float(counts[g, j] / n_rej[g]),
                    )
                    for j in order
                ),
            )
        )
    return out


def _proxy_driver(
    attr: Attribute,
    feature: str,
    j: int,
    counts: npt.NDArray[np.int64],
    n_rej: npt.NDArray[np.int64],
    present: BoolArray,
) -> ProxyDriver:
    groups = [g for g in range(len(attr.levels)) if present[g]]
    c = {attr.levels[g]: int(counts[g, j]) for g in groups}
    s = {attr.levels[g]: float(counts[g, j] / n_rej[g]) if n_rej[g] else math.nan for g in groups}
    finite = {attr.levels[g]: s[attr.levels[g]] for g in groups if n_rej[g] >= _MIN_REJECTED}
    high = max(finite, key=lambda k: finite[k]) if finite else None
    low = min(finite, key=lambda k: finite[k]) if finite else None
    if high is None or low is None or len(finite) < 2 or finite[high] == 0:
        ratio = math.nan
    elif finite[low] == 0:
        ratio = math.inf
    else:
        ratio = finite[high] / finite[low]
    return ProxyDriver(
        feature=feature,
        attribute=attr.name,
        counts=c,
        shares=s,
        highest_group=high,
        lowest_group=low,
        ratio=ratio,
        min_rejected=_MIN_REJECTED,
    )


# --- hidden columns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hidden:
    """Which names the report may not write, and what it writes instead.

    ``columns`` are the model's hidden columns (``Explanations.hidden``: the real names,
    whatever spelling the policy used). A name given by the caller (a proxy feature, a
    sensitive attribute, a proxy check's column) is hidden when its skeleton (the policy's
    way of comparing names) is one of theirs. Empty when the auditor asked to see them.
    """

    columns: frozenset[str] = frozenset()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(skeleton(c) for c in self.columns)

    def hides(self, name: str) -> bool:
        return bool(self.columns) and (name in self.columns or skeleton(name) in self.keys)

    def label(self, name: str) -> str:
        return HIDDEN if self.hides(name) else name


def _pooled(
    named: npt.NDArray[np.int64], features: Sequence[str], hidden: _Hidden
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """The reason matrix with every hidden column pooled into one, last, "a hidden column".

    A lead counts once under it when any hidden column is among its principal reasons, so
    the report cannot tell the hidden columns apart (nor how many there are, nor where they
    sit among the model's columns).
    """
    secret = [j for j, f in enumerate(features) if f in hidden.columns]
    if not secret:
        return named, list(features)
    shown = [j for j in range(len(features)) if j not in set(secret)]
    pooled = named[:, secret].max(axis=1, keepdims=True)
    return np.hstack([named[:, shown], pooled]), [features[j] for j in shown] + [HIDDEN]


def _proxy_matrix(
    named: npt.NDArray[np.int64], features: Sequence[str], proxies: Sequence[str], hidden: _Hidden
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """One indicator column per proxy as reported: hidden proxies pooled into one."""
    shown = [f for f in proxies if f not in hidden.columns]
    secret = [features.index(f) for f in proxies if f in hidden.columns]
    columns = [named[:, [features.index(f)]] for f in shown]
    labels = list(shown)
    if secret:
        columns.append(named[:, secret].max(axis=1, keepdims=True))
        labels.append(HIDDEN)
    if not columns:
        return np.zeros((named.shape[0], 0), dtype=np.int64), []
    return np.hstack(columns), labels


def _redacted_proxy_report(report: ProxyReport, hidden: _Hidden) -> ProxyReport:
    """The proxy check with its hidden columns pooled: one "a hidden column" row per
    attribute, with the highest score among them (flagged when any of them is)."""
    if not any(hidden.hides(c.column) for c in report.columns):
        return report
    rows = [c for c in report.columns if not hidden.hides(c.column)]
    by_attribute: dict[str, list[ProxyColumn]] = {}
    for c in report.columns:
        if hidden.hides(c.column):
            by_attribute.setdefault(c.attribute, []).append(c)
    for attribute, group in by_attribute.items():
        scored = [c for c in group if not math.isnan(c.score)]
        top = max(scored, key=lambda c: c.score) if scored else group[0]
        rows.append(
            top.model_copy(
                update={
                    "column": HIDDEN,
                    "attribute": attribute,
                    "flagged": any(c.flagged for c in group),
                }
            )
        )
    return report.model_copy(update={"columns": tuple(rows)})


# --- inputs ------------------------------------------------------------------------------------


def _scores(obj: Any) -> tuple[FloatArray, pd.Index | None]:
    if isinstance(obj, Explanations):
        return np.asarray(obj.scores, dtype=np.float64), obj.data.index
    index = obj.index if isinstance(obj, pd.Series) else None
    try:
        scores = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(
            "The 'scores_or_explanations' parameter of fairness_audit must be an "
            f"Explanations batch or an array of scores. Got {type(obj).__name__} instead."
        ) from None
    if scores.ndim != 1 or len(scores) == 0:
        raise ParameterError(
            "The 'scores_or_explanations' parameter of fairness_audit must be an "
            f"Explanations batch or a non-empty 1-D array of scores. Got an array of shape "
            f"{scores.shape} instead."
        )
    if not np.isfinite(scores).all():
        # Not param_error: scores belong to leads, and messages never quote lead values.
        raise ParameterError(
            "The 'scores_or_explanations' parameter of fairness_audit must hold finite "
            "scores. Got NaN or infinite scores instead."
        )
    return scores, index


def _proxy_names(
    proxy_features: Any, features: Sequence[str] | None, notes: list[str], hidden: _Hidden
) -> tuple[list[str], ProxyReport | None]:
    if proxy_features is None:
        return [], None
    report: ProxyReport | None = None
    if isinstance(proxy_features, ProxyReport):
        report = proxy_features
        names = report.flagged
    elif isinstance(proxy_features, str):
        names = [proxy_features]
    elif isinstance(proxy_features, Sequence | np.ndarray | pd.Index):
        names = [str(f) for f in proxy_features]
    else:
        raise param_error(
            "proxy_features", _WHERE, "a list of feature names or a ProxyReport", proxy_features
        )
    if features is None:
        if names:
            notes.append(
                "Proxy features were given with scores only: checking whether they drive "
                "rejections needs an Explanations batch."
            )
        return [], report
    unknown = [f for f in names if f not in features]
    # A hidden column's name (in any spelling) is written "a hidden column", once.
    said = list(dict.fromkeys(hidden.label(f) for f in unknown))
    if unknown and report is None:
        raise ParameterError(
            "The 'proxy_features' parameter of fairness_audit must name columns of the "
            f"explained model. Got {said[:5]!r} instead."
        )
    if unknown:
        notes.append(
            f"Flagged proxy columns {said!r} are not inputs of the explained model and "
            "cannot drive its rejections."
        )
    return list(dict.fromkeys(f for f in names if f in features)), report


# --- the audit ---------------------------------------------------------------------------------


def fairness_audit(
    scores_or_explanations: Explanations | npt.ArrayLike | pd.Series,
    sensitive_features: Any,
    *,
    threshold: float,
    confidence: float = 0.95,
    proxy_features: Sequence[str] | ProxyReport | None = None,
    top_reasons: int = 3,
    show_hidden: bool = False,
) -> FairnessReport:
    """Audit who a score threshold selects and why the others are passed over.

    A lead is selected when its score is >= ``threshold``. For each group of each sensitive
    attribute, and each cell of their intersection, the report gives the selection rate
    (with a Wilson interval), the impact ratio against the group with the highest rate
    (with a Katz log interval) and the four-fifths flag (ratio < 0.8). From an
    :class:`~explainscore.Explanations` batch it also gives, per group, the principal
    reasons of the rejected leads (their ``top_reasons`` most negative attributions) and,
    for each proxy feature, the share of each group's rejected leads it helped reject.

    Parameters
    ----------
    scores_or_explanations : Explanations or array-like of shape (n,)
        An explained batch (scores and attributions) or bare scores (no reasons then).
    sensitive_features : Series, DataFrame, dict of array-like, or 1-D array-like
        The sensitive attribute(s) of the same leads, e.g. an age band and a marital status.
        Audit-time data, never model inputs. Matched by position, or by label when a pandas
        object's index holds every label of the explained rows (``Explanations.data.index``
        or the scores Series' index). NaN, None and ``"unknown"`` (any case) are unknown
        labels: counted, reported and excluded from rates and ratios. A categorical's
        declared categories are all reported, empty or not.
    threshold : float
        Score at or above which a lead is selected, in [0, 1].
    confidence : float, default=0.95
        Confidence level of the intervals, in (0, 1).
    proxy_features : sequence of str or ProxyReport, optional
        Model inputs suspected of standing in for a sensitive attribute (or the result of
        :func:`proxy_check`, whose flagged columns are used).
    top_reasons : int, default=3
        Principal reasons counted per rejected lead.
    show_hidden : bool, default=False
        Name the columns hidden from reps (by the policy or the catalog). By default they
        are counted like every other factor but reported under one label, "a hidden
        column" (all of them pooled: a rejected lead counts once under it when any hidden
        column is among its principal reasons), in every table, note, rendering and
        figure; hidden proxy features likewise. ``True`` is for auditors: the report then
        names them, and a note says so.

    Returns
    -------
    FairnessReport

    Raises
    ------
    ParameterError
        If a parameter is out of range, the labels do not match the leads in number, a
        proxy feature is not a model input, or (without ``show_hidden``) a sensitive
        attribute is named like a hidden column.

    Notes
    -----
    The impact ratio's interval treats the reference group as fixed. It is chosen as the
    group with the highest observed rate, which favours a group that is high by chance; with
    many small groups, the ratios are biased downward. Read the intervals, and see
    ``docs/fairness.md``.
    """
    threshold = check_number(threshold, "threshold", _WHERE, low=0.0, high=1.0)
    if not isinstance(show_hidden, bool):
        raise param_error("show_hidden", _WHERE, "a bool", show_hidden)
    confidence = check_number(confidence, "confidence", _WHERE, low=0.0, high=1.0, low_open=True)
    if confidence >= 1.0:
        raise param_error("confidence", _WHERE, "a number in (0, 1)", confidence)
    explained = scores_or_explanations if isinstance(scores_or_explanations, Explanations) else None
    features = list(explained.feature_names) if explained is not None else None
    high = len(features) if features is not None else None
    top_reasons = check_int(top_reasons, "top_reasons", _WHERE, low=1, high=high)
    scores, index = _scores(scores_or_explanations)
    attrs = sensitive_attributes(sensitive_features, len(scores), index=index)
    secret = explained.hidden if explained is not None else frozenset()
    hidden = _Hidden(frozenset() if show_hidden else frozenset(secret))
    if any(hidden.hides(a.name) for a in attrs):
        # Its groups would be a hidden column's values, its name the column's.
        raise ParameterError(
            "The 'sensitive_features' parameter of fairness_audit must not name a hidden "
            "column unless show_hidden=True. Got a hidden column instead."
        )

    notes: list[str] = []
    proxies, proxy_report = _proxy_names(proxy_features, features, notes, hidden)
    if proxy_report is not None:
        proxy_report = _redacted_proxy_report(proxy_report, hidden)
    selected = scores >= threshold
    groups: list[GroupRate] = []
    summaries: list[AttributeSummary] = []
    for attr in attrs:
        rows, summary = _rates(attr, selected, confidence, notes, cells=False)
        groups += rows
        summaries.append(summary)
    audited = list(attrs)
    intersections: list[GroupRate] = []
    if len(attrs) > 1:
        cross = _intersection(attrs)
        audited.append(cross)
        intersections, summary = _rates(cross, selected, confidence, notes, cells=True)
        summaries.append(summary)

    rejections: list[GroupRejections] = []
    drivers: list[ProxyDriver] = []
    rejected = ~selected
    if explained is None or features is None:
        notes.append(
            "Scores were given without explanations: the rejected-leads section needs an "
            "Explanations batch."
        )
    elif not rejected.any():
        notes.append("Every lead is selected: there are no rejected leads to explain.")
    else:
        # Every column, hidden or not, competes for the principal reasons: the audit sees
        # every factor. Only the labels the report writes are pooled.
        reasons = principal_reasons(np.asarray(explained.attributions, np.float64), top_reasons)
        named_all = _reason_matrix(reasons, len(features))
        named, labels = _pooled(named_all, features, hidden)
        proxy_named, proxy_labels = _proxy_matrix(named_all, features, proxies, hidden)
        no_reason: BoolArray = np.all(reasons < 0, axis=1)
        for attr in audited:
            rejections += _rejections(attr, rejected, named, no_reason, labels)
            counts, n_rej = _group_counts(attr, rejected, proxy_named)
            present = np.bincount(attr.codes[attr.codes >= 0], minlength=len(attr.levels)) > 0
            for j, feature in enumerate(proxy_labels):
                driver = _proxy_driver(attr, feature, j, counts, n_rej, present)
                drivers.append(driver)
                if math.isinf(driver.ratio):
                    notes.append(
                        f"Proxy {feature!r} is among the reasons of rejected leads of "
                        f"{driver.highest_group!r} but never of {driver.lowest_group!r} "
                        f"({attr.name!r}): the ratio is infinite."
                    )
        if secret and show_hidden:
            notes.append(
                f"Columns hidden from reps ({sorted(secret)!r}) are named and counted as "
                "reasons here: hidden column names shown at the auditor's request "
                "(show_hidden=True). Do not pass this report to reps."
            )
        elif secret:
            notes.append(
                "Columns hidden from reps are counted as reasons here (an audit must see "
                f"every factor behind a rejection) under one label, {HIDDEN!r}: a rejected "
                "lead counts once under it when any hidden column is among its principal "
                "reasons. An auditor can have them named with show_hidden=True."
            )
        if HIDDEN in proxy_labels:
            notes.append(
                f"Among the proxy features, {HIDDEN!r} counts the rejected leads whose "
                "principal reasons include a hidden column given as a proxy: its shares can "
                "be lower than in the rejected-leads section, which counts every hidden column."
            )
    if explained is not None and explained.rejected:
        notes.append(f"{len(explained.rejected)} rows could not be explained and are not audited.")

    z_pct = f"{100 * confidence:g}%"
    return FairnessReport(
        threshold=threshold,
        confidence=confidence,
        top_reasons=top_reasons,
        n_leads=len(scores),
        n_selected=int(selected.sum()),
        interval_method=(
            f"{z_pct} Wilson score interval for each selection rate; {z_pct} Katz log "
            "interval for each impact ratio (0.5 added to every cell when a group has no "
            "selected lead), reference group treated as fixed."
        ),
        attributes=tuple(summaries),
        groups=tuple(groups),
        intersections=tuple(intersections),
        rejections=tuple(rejections),
        proxies=tuple(drivers),
        proxy_report=proxy_report,
        notes=tuple(notes),
        show_hidden=show_hidden,
        feature_labels=_feature_labels(explained),
    )


def _feature_labels(explained: Explanations | None) -> dict[str, str]:
    """Catalog names of the batch's shown columns for the figure. A hidden column has none:
    it is "a hidden column", or, named at an auditor's request, its raw name as in the text
    of the report."""
    if explained is None or not explained.display_names:
        return {}
    pairs = zip(explained.feature_names, explained.display_names, strict=True)
    return {f: d for f, d in pairs if f not in explained.hidden}
