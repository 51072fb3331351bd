"""Background summaries: fewer, weighted rows, since every row multiplies every evaluation.

A summary **changes the game**. The interventional game on a summary is
v'(S) = sum_k w_k f(x_S, c_k,~S) over the summary rows c_k with weights w_k, not the mean over
the original rows; the values computed are the Shapley values of v' (exact for v' with the
exact estimator), and the base value becomes sum_k w_k f(c_k). Efficiency still holds exactly
for v': base + sum(phi) = f(x). How far v' is from v depends on how well the summary stands
for the rows: both summaries keep real rows (never synthetic averages, which a model may never
have seen and which have no value for a text column), so every hybrid row is one the model
could meet.

* ``"kmeans"``: weighted k-means. The rows are clustered (numeric columns standardised,
  other columns one-hot, seeded k-means++ and Lloyd iterations); each cluster is represented
  by its real row nearest to the centroid (a medoid), weighted by the cluster's share of rows.
  Keeps the spread of the inputs; the base value moves by the difference between the
  medoids' and the clusters' mean outputs.
* ``"stratified"``: rows sorted by the model's output f(b), cut into ``n_rows`` strata of
  (nearly) equal size; one seeded random row per stratum, weighted by the stratum's share.
  Keeps the distribution of the output, which the base value and the size of the values
  follow; the base value is a stratified estimate of the original mean output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SUMMARIES", "summarize"]

FloatArray = npt.NDArray[np.float64]
_LLOYD_ITERATIONS = 25


def _encode(background: np.ndarray[Any, Any]) -> FloatArray:
    """Rows as floats for distances: numeric columns standardised, others one-hot."""
    parts = []
    for j in range(background.shape[1]):
        column = background[:, j]
        try:
            numeric = np.asarray(column, dtype=np.float64)
        except (TypeError, ValueError):
            numeric = None
        if numeric is not None and np.all(np.isfinite(numeric)):
            spread = numeric.std() or 1.0
            parts.append(((numeric - numeric.mean()) / spread)[:, None])
        else:
            # A category (or a missing value) is one level; the one-hot columns of a column
            # are scaled so that differing in it counts as one standardised unit.
            labels = np.asarray([repr(v) for v in column])
            _, codes = np.unique(labels, return_inverse=True)
            parts.append(np.eye(codes.max() + 1)[codes] / np.sqrt(2.0))
    return np.concatenate(parts, axis=1)


def _kmeans(
    background: np.ndarray[Any, Any], n_rows: int, rng: np.random.Generator, _f: Any
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    Z = _encode(background)
    n = len(Z)
    # k-means++ seeding, then Lloyd iterations.
    centers = [Z[rng.integers(n)]]
    distance = ((Z - centers[0]) ** 2).sum(axis=1)
    for _ in range(1, n_rows):
        total = distance.sum()
        pick = rng.choice(n, p=distance / total) if total > 0 else rng.integers(n)
        centers.append(Z[pick])
        distance = np.minimum(distance, ((Z - Z[pick]) ** 2).sum(axis=1))
    C = np.array(centers)
    labels = np.zeros(n, dtype=np.intp)
    for _ in range(_LLOYD_ITERATIONS):
        d = ((Z[:, None, :] - C[None]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        for k in range(n_rows):
            if np.any(labels == k):
                C[k] = Z[labels == k].mean(axis=0)
    d = ((Z[:, None, :] - C[None]) ** 2).sum(axis=2)
    labels = d.argmin(axis=1)
    picks, weights = [], []
    for k in range(n_rows):
        members = np.flatnonzero(labels == k)
        if len(members) == 0:
            continue
        picks.append(members[d[members, k].argmin()])
        weights.append(len(members) / n)
    return np.asarray(picks, dtype=np.intp), np.asarray(weights)


def _stratified(
    background: np.ndarray[Any, Any],
    n_rows: int,
    rng: np.random.Generator,
    f: Callable[[np.ndarray[Any, Any]], FloatArray],
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    outputs = np.asarray(f(background), dtype=np.float64).reshape(-1)
    order = np.argsort(outputs, kind="stable")
    strata = np.array_split(order, n_rows)
    picks = np.array([s[rng.integers(len(s))] for s in strata], dtype=np.intp)
    weights = np.array([len(s) / len(order) for s in strata])
    return picks, weights


#: name -> summariser(background, n_rows, rng, value_function) -> (row indices, weights)
SUMMARIES = {"kmeans": _kmeans, "stratified": _stratified}


def summarize(
    background: np.ndarray[Any, Any],
    method: str,
    n_rows: int,
    seed: int,
    value_function: Callable[[np.ndarray[Any, Any]], FloatArray],
) -> tuple[np.ndarray[Any, Any], FloatArray]:
    """Summary rows (real rows of ``background``) and their weights, summing to one.

    With ``n_rows`` at least the number of rows, the background is returned unchanged with
    equal weights.
    """
    n = len(background)
    if method == "none" or n_rows >= n:
        return background, np.full(n, 1.0 / n)
    rng = np.random.default_rng(seed)
    picks, weights = SUMMARIES[method](background, n_rows, rng, value_function)
    return background[picks], weights / weights.sum()
