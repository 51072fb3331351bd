"""A model's own scores, bit for bit, from its compiled trees.

Why
---
A batch explanation needs each row's score (the class probability) and the output its values
add up to (the margin). Asking the library costs two more passes over its trees, each with its
own input conversion: a quarter of ``explain`` on the benchmark's XGBoost model. The compiled
ensemble reaches the same leaves. Summed the way the library sums them (the same dtype, the
same order, the same base) and passed through the same link, they give the library's numbers
exactly, not merely within rounding.

The arithmetic is the library's, recorded by its converter (``TreeEnsemble.library_dtype``):

* XGBoost adds float32 leaf values tree by tree to its float32 base margin and applies
  ``1 / (1 + expf(-m))`` in float32; a classifier's class-0 probability is ``1 - p`` in
  float32;
* LightGBM (gbdt, one output) adds float64 leaf values from zero and applies
  ``1 / (1 + exp(-m))`` in float64.

A scorer is only ever used after it has reproduced the library bit for bit on the model's
background rows (:func:`library_scores`); anything else keeps calling the library. The check
also settles the base margin's last bit, which the model file does not pin down (``_bases``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ._ensemble import TreeEnsemble
from ._predict import library_logistic_kernel, library_sum_kernel

__all__ = ["LibraryScores", "library_scores", "walk_sums"]

FloatArray = npt.NDArray[np.float64]
#: Rows x -> (scores, outputs), both float64 of shape (n_rows,).
ScoresFn = Callable[[Any], tuple[FloatArray, FloatArray]]

_DTYPES: dict[str, Any] = {"float32": np.float32, "float64": np.float64}
#: How many units in the last place around the recorded base margin are tried (see ``_bases``).
_ULPS = 3


@dataclass(frozen=True, eq=False)
class LibraryScores:
    """Scores and explained outputs of one compiled model in the library's own arithmetic.

    Attributes
    ----------
    ensemble : TreeEnsemble
        The compiled model (one output).
    logistic : bool
        The score is the logistic of the margin (a binary classifier); else the margin.
    target : int
        The class whose probability is the score (0 or 1); 1 for a regressor.
    output_is_score : bool
        The explained output is the score (probability space); else the margin, negated for
        class 0.
    """

    ensemble: TreeEnsemble
    logistic: bool
    target: int
    output_is_score: bool

    def __post_init__(self) -> None:
        dtype = _DTYPES[self.ensemble.library_dtype]
        ens = self.ensemble
        # Leaf values in the library's dtype (exact: XGBoost's are float32 to begin with).
        object.__setattr__(self, "_leaf", np.ascontiguousarray(ens.value[:, 0], dtype=dtype))
        object.__setattr__(self, "_base", dtype(ens.library_base[0]))
        object.__setattr__(self, "_one", dtype(1.0))

    _leaf: npt.NDArray[Any] = field(init=False, repr=False)
    _base: Any = field(init=False, repr=False)
    _one: Any = field(init=False, repr=False)

    def margin(self, X: Any) -> npt.NDArray[Any]:
        """The library's margin of each row, in its own dtype."""
        rows = self.ensemble.prepare_input(X)
        sums = np.full(rows.shape[0], self._base, dtype=self._leaf.dtype)
        walk_sums(self.ensemble, rows, self._leaf, sums)
        return sums

    @property
    def dtype(self) -> Any:
        """The dtype the library sums in."""
        return self._leaf.dtype

    @property
    def base(self) -> Any:
        """The base margin as the library holds it (a scalar of :attr:`dtype`)."""
        return self._base

    def __call__(self, X: Any) -> tuple[FloatArray, FloatArray]:
        """Scores and explained outputs of the rows ``X`` (the model's input space)."""
        return self.from_margin(self.margin(X))

    def from_margin(self, m: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Scores and explained outputs from the library's margins (in :attr:`dtype`, as
        :meth:`margin` or a TreeSHAP pass that summed the leaves it reached gives them)."""
        if not self.logistic:
            out = m.astype(np.float64)
            return out, out
        p = np.empty_like(m)
        library_logistic_kernel(m, self._one, p)
        if self.target == 0:
            p = self._one - p
            m = -m
        scores = p.astype(np.float64)
        return scores, scores if self.output_is_score else m.astype(np.float64)


def walk_sums(ensemble: TreeEnsemble, rows: FloatArray, leaf: Any, sums: Any) -> None:
    """Add to ``sums`` (the base, in the library's dtype) each row's leaf values, tree after
    tree in that dtype. ``rows`` are prepared (``TreeEnsemble.prepare_input``); ``leaf`` holds
    one output's value of every node, in the ensemble's node order and the sums' dtype."""
    ens = ensemble
    library_sum_kernel(
        rows, ens.left, ens.right, ens.feature, ens.threshold, ens.flags, ens.cat_start,
        ens.cat_len, ens.cat_words, leaf, ens.tree_start, sums,
    )  # fmt: skip


def library_scores(
    ensemble: TreeEnsemble,
    *,
    classifier: bool,
    n_classes: int,
    target: int | None,
    space: str,
    reference: Any,
    expected: tuple[FloatArray, FloatArray],
    margin: Callable[[Any, Any, Any], npt.NDArray[Any]] | None = None,
) -> LibraryScores | None:
    """The scorer of ``ensemble``, if its arithmetic is known and it reproduces the library.

    Parameters
    ----------
    ensemble : TreeEnsemble
        The compiled model.
    classifier : bool
        Whether the model is a classifier (then its score is a class probability).
    n_classes : int
        Its number of classes (a scorer exists for two).
    target : int or None
        The explained class (None: class 1).
    space : str
        The explained output space: ``"probability"``, or a margin space (``"log_odds"``,
        ``"raw"``, ``"margin"``, ``"response"`` of an identity-link regressor).
    reference : array-like of shape (n_rows, n_features)
        Rows in the model's input space (the background rows).
    expected : tuple of ndarray
        The library's own scores and outputs on ``reference``.
    margin : callable, optional
        ``margin(rows, dtype, base)``: the margins as the explaining pass sums them
        (``TreeShapCore.shap_values_and_margin``), so the check runs the code the batches
        run (and an empty numba cache compiles no other kernel); default: a walk of the
        trees.

    Returns
    -------
    LibraryScores or None
        None unless every score and output on ``reference`` is equal bit for bit.
    """
    if ensemble.library_dtype not in _DTYPES or ensemble.n_outputs != 1:
        return None
    if np.any(ensemble.tree_output != 0) or ensemble.native_space != "margin":
        return None
    if classifier:
        if n_classes != 2 or ensemble.link != "logistic":
            return None
        scorer = LibraryScores(
            ensemble=ensemble,
            logistic=True,
            target=1 if target is None else int(target),
            output_is_score=space == "probability",
        )
    else:
        if ensemble.link != "identity":
            return None
        scorer = LibraryScores(ensemble=ensemble, logistic=False, target=1, output_is_score=False)
    want = tuple(np.asarray(e, dtype=np.float64) for e in expected)
    for base in _bases(ensemble):
        candidate = replace(scorer, ensemble=replace(ensemble, library_base=(base,)))
        try:
            if margin is None:
                scores, outputs = candidate(reference)
            else:
                m = margin(reference, candidate.dtype, candidate.base)
                scores, outputs = candidate.from_margin(m)
        except Exception:
            return None
        if np.array_equal(scores, want[0]) and np.array_equal(outputs, want[1]):
            return candidate
    return None


def _bases(ensemble: TreeEnsemble) -> list[float]:
    """The recorded base margin, then its neighbours a few units in the last place away.

    The last bit of XGBoost's float32 base margin depends on where the probability came
    from: the intercept it estimated (``-log(1/p - 1)`` in float32) or a ``base_score`` the
    user gave (the float64 logit of the user's number, rounded once). The reference rows
    decide which one the model holds; one that matches them all is the model's.
    """
    dtype = _DTYPES[ensemble.library_dtype]
    first = dtype(ensemble.library_base[0])
    out = [float(first)]
    below = above = first
    for _ in range(_ULPS):
        below = np.nextafter(below, dtype(-np.inf))
        above = np.nextafter(above, dtype(np.inf))
        out += [float(below), float(above)]
    return out
