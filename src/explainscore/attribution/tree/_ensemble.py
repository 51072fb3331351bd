"""The compiled tree ensemble: one flat, library-independent layout for every supported model.

Every converter produces a :class:`TreeEnsemble`. All trees live in the same flat arrays; a node
is addressed by its global index, and ``tree_start`` says where each tree begins. Split semantics
are normalised so that one decision rule (see :mod:`._decision`) reproduces each library:

* numeric splits go left when ``x <= threshold`` (XGBoost's strict ``x < t`` is stored as
  ``x <= nextafter(t, -inf)``, which is the same test for every float64 ``x``);
* ``NaN`` goes to the default side (``FLAG_DEFAULT_LEFT``); LightGBM's ``missing_type=Zero``
  also sends ``|x| <= 1e-35`` there (``FLAG_ZERO_MISSING``);
* a categorical split tests ``int(x)`` against a bitset of 32-bit words; categories in the set
  go to the side named by ``FLAG_CAT_SET_LEFT``, everything else (unknown, negative, too large)
  to the other side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._predict import predict_kernel

__all__ = [
    "FLAG_CATEGORICAL",
    "FLAG_CAT_NEGATIVE_INVALID",
    "FLAG_CAT_SET_LEFT",
    "FLAG_DEFAULT_LEFT",
    "FLAG_ZERO_MISSING",
    "NativeSpace",
    "TreeEnsemble",
]

NativeSpace = Literal["margin", "probability"]

#: NaN (and, with FLAG_ZERO_MISSING, near-zero) values take the left child.
FLAG_DEFAULT_LEFT = 1
#: LightGBM ``missing_type == "Zero"``: ``|x| <= 1e-35`` is treated as missing.
FLAG_ZERO_MISSING = 2
#: The node splits on categories (bitset) rather than on a threshold.
FLAG_CATEGORICAL = 4
#: Categories in the bitset go left (LightGBM, HistGradientBoosting); else they go right.
FLAG_CAT_SET_LEFT = 8
#: Any negative value is outside the bitset (XGBoost and HistGradientBoosting reject negative
#: codes before truncating; LightGBM truncates toward zero first, so -0.5 reads as category 0).
FLAG_CAT_NEGATIVE_INVALID = 16


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """A fitted tree ensemble in one flat layout, shared by every supported library.

    Attributes
    ----------
    left, right : ndarray of int32 of shape (n_nodes,)
        Global index of each node's children; ``-1`` for leaves.
    feature : ndarray of int32 of shape (n_nodes,)
        Input column each internal node splits on; ``-1`` for leaves.
    threshold : ndarray of float64 of shape (n_nodes,)
        Numeric split: go left when ``x <= threshold``.
    flags : ndarray of uint8 of shape (n_nodes,)
        Bit field of ``FLAG_*`` constants (missing values, categorical splits).
    cat_start, cat_len : ndarray of int32 of shape (n_nodes,)
        Slice of ``cat_words`` holding a categorical node's bitset (``cat_len == 0`` otherwise).
    cat_words : ndarray of uint32
        Bitsets of all categorical nodes; bit ``c % 32`` of word ``c // 32`` is category ``c``.
    cover : ndarray of float64 of shape (n_nodes,)
        Training weight reaching each node, the weights of the path-dependent game.
    value : ndarray of float64 of shape (n_nodes, n_outputs)
        Leaf outputs (learning rate and averaging already applied); zero on internal nodes.
    tree_start : ndarray of int64 of shape (n_trees + 1,)
        Tree ``t`` holds the nodes ``tree_start[t]:tree_start[t + 1]``; its root comes first.
    tree_output : ndarray of int32 of shape (n_trees,)
        The output a tree adds to, or ``-1`` when its leaves hold one value per output.
    base_offset : ndarray of float64 of shape (n_outputs,)
        Constant added to every output (base score, init estimator, baseline prediction).
    n_features : int
        Number of input columns the model takes.
    native_space : {"margin", "probability"}
        What ``predict_raw`` returns: a margin summed over trees, or a forest's averaged
        class probabilities.
    float32_inputs : bool
        The library rounds inputs to float32 before comparing them with thresholds.
    source : str
        ``"module.ClassName"`` of the model compiled, for messages and records.
    missing_value : float
        The value the library reads as missing besides NaN (XGBoost's ``missing=-999``);
        NaN when there is none. :meth:`prepare_input` turns it into NaN.
    link : str
        What the library applies to the margin to get its response (``predict`` of a
        regressor, the class probability of a classifier): ``"identity"``, ``"exp"`` (Poisson,
        gamma, Tweedie, survival), ``"logistic"``, ``"softmax"``, ``"softplus"`` (LightGBM
        ``cross_entropy_lambda``) or ``"step"`` (XGBoost ``binary:hinge``). The values add up
        to the margin; a regressor with another link than the identity does not predict it.
    raw_score_scale : float
        The library's own raw score is the margin times this: LightGBM's random forest
        (``boosting_type="rf"``) predicts the logistic of the *mean* of its trees, which is the
        margin here, but its ``raw_score=True`` and ``pred_contrib=True`` return the *sum*, so
        the scale is its number of iterations. 1 for every other model.
    library_dtype : {"", "float32", "float64"}
        The dtype the library sums its trees' leaf values in, tree by tree from
        ``library_base``, when that arithmetic is known (XGBoost: float32; LightGBM: float64)
        and the model has one output and no per-tree weights; ``""`` otherwise. With it,
        :mod:`._library_scores` reproduces the library's scores bit for bit.
    library_base : tuple of float
        The base margin exactly as the library holds it (XGBoost rounds its logit to
        float32); empty when ``library_dtype`` is ``""``.
    """

    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    feature: npt.NDArray[np.int32]
    threshold: npt.NDArray[np.float64]
    flags: npt.NDArray[np.uint8]
    cat_start: npt.NDArray[np.int32]
    cat_len: npt.NDArray[np.int32]
    cat_words: npt.NDArray[np.uint32]
    cover: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    tree_start: npt.NDArray[np.int64]
    tree_output: npt.NDArray[np.int32]
    base_offset: npt.NDArray[np.float64]
    n_features: int
    native_space: NativeSpace
    float32_inputs: bool
    source: str
    missing_value: float = math.nan
    link: str = "identity"
    raw_score_scale: float = 1.0
    library_dtype: str = ""
    library_base: tuple[float, ...] = ()

    @property
    def n_outputs(self) -> int:
        """Number of outputs (1 for regressors and binary boosters, K for K classes)."""
        return int(self.value.shape[1])

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.tree_start.shape[0] - 1)

    @property
    def n_nodes(self) -> int:
        """Total number of nodes over all trees."""
        return int(self.left.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the ensemble's arrays."""
        arrays: list[np.ndarray[Any, Any]] = [
            self.left, self.right, self.feature, self.threshold, self.flags, self.cat_start,
            self.cat_len, self.cat_words, self.cover, self.value, self.tree_start,
            self.tree_output, self.base_offset,
        ]  # fmt: skip
        return int(sum(a.nbytes for a in arrays))

    def prepare_input(self, X: Any) -> npt.NDArray[np.float64]:
        """Return ``X`` as a C-contiguous float64 matrix, rounded as the library rounds it.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Rows in the model's input space (categorical columns hold integer codes).

        Returns
        -------
        ndarray of float64 of shape (n_rows, n_features)

        Raises
        ------
        InputError
            If ``X`` is not a 2-D numeric matrix with ``n_features`` columns.
        """
        from ...exceptions import InputError

        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"rows for {self.source} must be numeric: {exc}") from None
        if arr.ndim == 1 and arr.shape[0] == self.n_features:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise InputError(
                f"{self.source} takes a 2-D matrix with {self.n_features} columns; "
                f"got shape {arr.shape}."
            )
        if self.float32_inputs:
            # The library compares float32(x) with the threshold: round first, then widen,
            # so the float64 comparison gives the same answer.
            arr = arr.astype(np.float32).astype(np.float64)
        if not math.isnan(self.missing_value):
            # The library compares each (float32) value with its missing sentinel, which then
            # follows the default direction like NaN.
            sentinel = self.missing_value
            if self.float32_inputs:
                sentinel = float(np.float32(sentinel))
            hit = arr == sentinel
            if hit.any():
                arr = np.where(hit, np.nan, arr)
        return np.ascontiguousarray(arr)

    def predict_raw(self, X: Any) -> npt.NDArray[np.float64]:
        """The model output before any link: margin for boosters, probability for forests.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Rows in the model's input space.

        Returns
        -------
        ndarray of float64 of shape (n_rows, n_outputs)
        """
        rows = self.prepare_input(X)
        out = np.empty((rows.shape[0], self.n_outputs), dtype=np.float64)
        out[:] = self.base_offset
        predict_kernel(
            rows, self.left, self.right, self.feature, self.threshold, self.flags,
            self.cat_start, self.cat_len, self.cat_words, self.value, self.tree_start,
            self.tree_output, out,
        )  # fmt: skip
        return out
