"""What a saved bundle keeps of the background rows, instead of the rows themselves.

A fitted :class:`~explainscore.ExplainedModel` holds up to ``n_background`` raw rows of the
training data: leads' ages, jobs, balances. A saved bundle stores no such row unless asked
(``explainscore.save(..., background="raw")``). What it stores instead depends on what the
explanation method reads (``background.json``, ``"storage"``):

``"none"``
    Path-dependent TreeSHAP (tree models in their native output) needs no background: the
    trees' own training cover defines the game. The bundle keeps only the *schema*: the
    columns, their dtypes and kinds, whether each takes a missing value, the input profile the
    review rules use (numeric ranges, known categories), and the raw-output scale reasons
    are worded with. Explanations of the reloaded model equal the saved model's bit for bit.
    Rows the model is checked on while it is prepared (the single-lead fast lane's agreement
    check, the missing-value probe) are *synthesized* from the profile (range ends and
    midpoints, known categories), not taken from data.
``"summary"``
    Interventional methods (linear, kernel, lime, tree values in probability space) average
    over background rows. The bundle keeps a k-means summary: at most 20 clusters of at least
    5 rows each, every cluster stored as its size, the mean of each numeric column and, for
    every other column, how many of its rows hold each value. The reloaded model uses each
    cluster's numeric means on as many rows as the cluster had, with the other columns' values
    in their counted proportions. Numeric means and category frequencies are kept exactly, so
    the linear closed form gives the same values to rounding; kernel and lime average over the
    cluster centres instead of the rows, which shifts their values and base value somewhat.
``"raw"``
    The background rows themselves, only on explicit opt-in; the manifest and the loaded
    model's ``background_storage_`` (and its model card) say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .governance._review import InputProfile

__all__ = [
    "BackgroundStorage",
    "FileReference",
    "ReferenceDocument",
    "needs_rows",
    "reference_document",
    "reference_rows",
]

BackgroundStorage = Literal["none", "summary", "raw"]
#: Most clusters a summary keeps, and fewest rows a cluster stands for.
SUMMARY_CLUSTERS = 20
SUMMARY_MIN_ROWS = 5
#: Most rows synthesized from the profile for a bundle without background rows.
_MAX_SYNTHETIC = 32


@dataclass(frozen=True)
class FileReference:
    """What a model loaded from a bundle knows without its background rows."""

    profile: InputProfile
    allow_missing: Mapping[str, bool]
    #: Text columns whose missing value the model takes as None (see ``ColumnSpec``).
    missing_as_none: Mapping[str, bool]
    #: The spread of the raw output the reasons' strength words scale with (raw space only).
    raw_scale: float | None


class ColumnDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dtype: str = Field(max_length=64)
    kind: Literal["numeric", "categorical"]
    allow_missing: bool
    missing_as_none: bool = False


class ProfileDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ranges: dict[str, tuple[float, float]]
    categories: dict[str, list[str]]


class ClusterDoc(BaseModel):
    """One cluster of background rows: its size, numeric means and category counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(ge=1, le=1_000_000)
    #: Mean of each numeric column over the cluster (None: no value present).
    means: dict[str, float | None]
    #: For every other column, how many of the cluster's rows hold each value, and how many
    #: hold none.
    counts: dict[str, dict[str, int]]
    missing: dict[str, int]


class ReferenceDocument(BaseModel):
    """``background.json`` of a saved bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: BackgroundStorage
    columns: list[ColumnDoc]
    profile: ProfileDoc
    raw_scale: float | None
    #: ``"raw"`` only: the background rows, one list of cells per row in ``columns`` order.
    rows: list[list[str | float | int | bool | None]] | None = None
    #: ``"summary"`` only: the clusters.
    clusters: list[ClusterDoc] | None = None


def needs_rows(explained: Any) -> bool:
    """Whether the model's explanation method reads background rows."""
    game = str(getattr(explained.engine_.attributor, "game", ""))
    return not (explained.method_ == "tree" and game.startswith("path-dependent"))


def reference_document(
    explained: Any, storage: BackgroundStorage, *, random_state: int = 0
) -> ReferenceDocument:
    """The ``background.json`` content for ``explained`` stored as ``storage``."""
    engine = explained.engine_
    frame: pd.DataFrame = explained.background_
    columns = [
        ColumnDoc(
            name=spec.name,
            dtype=str(frame[spec.name].dtype),
            kind=spec.kind,
            allow_missing=spec.allow_missing,
            missing_as_none=spec.missing_as_none,
        )
        for spec in engine.schema.columns
    ]
    profile: InputProfile = explained.input_profile_
    raw_scale = None
    if engine.output_space in ("raw", "margin", "response"):
        # The same computation as ExplainedModel._build, on the same rows.
        outputs = engine.output_fn(engine.schema.model_input(frame))
        raw_scale = float(np.std(outputs)) or 1.0
    rows: list[list[Any]] | None = None
    clusters: list[ClusterDoc] | None = None
    if storage == "raw":
        rows = [[_cell(v) for v in row] for row in frame.to_numpy(dtype=object)]
    elif storage == "summary":
        clusters = _summary(frame, columns, random_state=random_state)
    return ReferenceDocument(
        storage=storage,
        columns=columns,
        profile=ProfileDoc(
            ranges={k: (float(lo), float(hi)) for k, (lo, hi) in profile.ranges.items()},
            categories={k: sorted(v) for k, v in profile.categories.items()},
        ),
        raw_scale=raw_scale,
        rows=rows,
        clusters=clusters,
    )


def reference_rows(doc: ReferenceDocument) -> tuple[pd.DataFrame, FileReference]:
    """The rows a loaded model is prepared with, and what it keeps from the bundle."""
    names = [c.name for c in doc.columns]
    if doc.storage == "none":
        frame = _synthetic(doc)
    elif doc.storage == "summary":
        if not doc.clusters or sum(c.size for c in doc.clusters) > 1_000_000:
            raise ValueError("summary clusters missing or too large")
        frame = pd.concat([_expand(c, doc.columns) for c in doc.clusters], ignore_index=True)
    else:
        if not doc.rows or any(len(r) != len(names) for r in doc.rows):
            raise ValueError("background rows missing or of the wrong width")
        frame = pd.DataFrame(doc.rows, columns=names)
        for col in doc.columns:
            frame[col.name] = _typed(frame[col.name], col)
    profile = InputProfile(
        ranges={k: (lo, hi) for k, (lo, hi) in doc.profile.ranges.items()},
        categories={k: frozenset(v) for k, v in doc.profile.categories.items()},
    )
    reference = FileReference(
        profile=profile,
        allow_missing={c.name: c.allow_missing for c in doc.columns},
        missing_as_none={c.name: c.missing_as_none for c in doc.columns},
        raw_scale=doc.raw_scale,
    )
    return frame, reference


# --- helpers -------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _is_bool(dtype: str) -> bool:
    return dtype in ("bool", "boolean")


def _typed(col: pd.Series[Any], spec: ColumnDoc) -> pd.Series[Any]:
    """A column of stored cells in its saved dtype (numbers, booleans) or as text."""
    if spec.kind == "categorical":
        text: pd.Series = col.astype(object).where(col.notna(), None)  # type: ignore[call-overload]
        return text
    if _is_bool(spec.dtype):
        return col.astype(bool)
    values = pd.to_numeric(col, errors="raise").astype(np.float64)
    if spec.dtype.startswith(("int", "uint")) and not values.isna().any():
        return values.astype(np.dtype(spec.dtype))
    if spec.dtype.startswith("float"):
        return values.astype(np.dtype(spec.dtype))
    return values


def _expand(cluster: ClusterDoc, columns: Sequence[ColumnDoc]) -> pd.DataFrame:
    """A cluster's rows: its numeric means, and each other column's values as counted."""
    data: dict[str, Any] = {}
    for col in columns:
        if col.name in cluster.means:
            mean = cluster.means[col.name]
            data[col.name] = np.full(cluster.size, np.nan if mean is None else mean)
            continue
        counts = cluster.counts.get(col.name, {})
        cells: list[Any] = [v for v, n in sorted(counts.items()) for _ in range(n)]
        cells += [None] * cluster.missing.get(col.name, 0)
        if len(cells) != cluster.size:
            raise ValueError("cluster counts do not add up to its size")
        if _is_bool(col.dtype):
            if set(counts) - {"True", "False"} or None in cells:
                raise ValueError("a boolean column holds other values")
            data[col.name] = pd.Series([c == "True" for c in cells], dtype=bool)
        else:
            data[col.name] = pd.Series(cells, dtype=object)
    return pd.DataFrame(data)


def _synthetic(doc: ReferenceDocument) -> pd.DataFrame:
    """Rows made from the profile alone: range ends and midpoints, known categories.

    They prepare the model (probe, fast-lane agreement check); no lead's row is among them.
    """
    cats = doc.profile.categories
    n = min(_MAX_SYNTHETIC, max([3, *(len(cats.get(c.name, ())) for c in doc.columns)]))
    data: dict[str, Any] = {}
    for col in doc.columns:
        if col.kind == "categorical":
            known = sorted(cats.get(col.name, ())) or ["(unknown)"]
            data[col.name] = pd.Series([known[i % len(known)] for i in range(n)], dtype=object)
        elif _is_bool(col.dtype):
            data[col.name] = pd.Series([bool(i % 2) for i in range(n)], dtype=bool)
        else:
            lo, hi = doc.profile.ranges.get(col.name, (0.0, 0.0))
            integer = col.dtype.startswith(("int", "uint"))
            mid = math.floor((lo + hi) / 2) if integer else (lo + hi) / 2
            values = np.array([(lo, hi, mid)[i % 3] for i in range(n)], dtype=np.float64)
            data[col.name] = values.astype(np.dtype(col.dtype)) if integer else values
    return pd.DataFrame(data)


def _summary(
    frame: pd.DataFrame, columns: Sequence[ColumnDoc], *, random_state: int
) -> list[ClusterDoc]:
    """K-means clusters of the rows: numeric means and per-column value counts."""
    n = len(frame)
    numeric = [c.name for c in columns if c.kind == "numeric" and not _is_bool(c.dtype)]
    other = [c.name for c in columns if c.name not in numeric]
    Z = _cluster_space(frame, numeric, other)
    k = max(1, min(SUMMARY_CLUSTERS, n // SUMMARY_MIN_ROWS))
    labels = np.zeros(n, dtype=np.intp)
    if k > 1:
        from sklearn.cluster import KMeans

        labels = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit_predict(Z)
        labels = _merge_small(Z, np.asarray(labels, dtype=np.intp))
    clusters = []
    for label in np.unique(labels):
        members = frame.iloc[np.flatnonzero(labels == label)]
        means: dict[str, float | None] = {}
        for name in numeric:
            arr = members[name].to_numpy(dtype=np.float64, na_value=np.nan)
            finite = arr[~np.isnan(arr)]
            means[name] = float(finite.mean()) if finite.size else None
        counts: dict[str, dict[str, int]] = {}
        missing: dict[str, int] = {}
        for name in other:
            values = members[name]
            present = values[values.notna()]
            counts[name] = {str(k): int(v) for k, v in present.astype(str).value_counts().items()}
            missing[name] = int(len(values) - len(present))
        clusters.append(ClusterDoc(size=len(members), means=means, counts=counts, missing=missing))
    return clusters


def _cluster_space(frame: pd.DataFrame, numeric: list[str], other: list[str]) -> Any:
    parts = []
    for name in numeric:
        arr = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        mean = np.nanmean(arr) if np.isfinite(arr).any() else 0.0
        arr = np.where(np.isfinite(arr), arr, mean)
        std = arr.std() or 1.0
        parts.append(((arr - mean) / std)[:, None])
    for name in other:
        codes = pd.Series(frame[name].astype(str)).to_numpy()
        for value in np.unique(codes):
            parts.append((codes == value).astype(np.float64)[:, None])
    return np.hstack(parts) if parts else np.zeros((len(frame), 1))


def _merge_small(Z: Any, labels: Any) -> Any:
    """Fold clusters of fewer than SUMMARY_MIN_ROWS rows into the nearest other cluster."""
    while True:
        ids, sizes = np.unique(labels, return_counts=True)
        small = sizes < SUMMARY_MIN_ROWS
        if not small.any() or len(ids) == 1:
            return labels
        victim = ids[np.argmin(sizes)]
        keep = ids[ids != victim]
        centres = np.vstack([Z[labels == i].mean(axis=0) for i in keep])
        members = np.flatnonzero(labels == victim)
        dist = ((Z[members][:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels[members] = keep[np.argmin(dist, axis=1)]
