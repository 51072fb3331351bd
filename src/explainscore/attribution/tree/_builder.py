"""Collects trees one at a time (local node numbering) and lays them out flat."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ...exceptions import UnsupportedModelError
from ._ensemble import NativeSpace, TreeEnsemble

__all__ = ["EnsembleBuilder", "bitset_from_categories"]


class EnsembleBuilder:
    """Accumulates trees for a :class:`TreeEnsemble`.

    Parameters
    ----------
    n_outputs : int
        Number of model outputs.
    """

    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = n_outputs
        self._parts: dict[str, list[np.ndarray[Any, Any]]] = {
            k: []
            for k in (
                "left", "right", "feature", "threshold", "flags", "cover", "value",
                "cat_start", "cat_len",
            )
        }  # fmt: skip
        self._cat_words: list[npt.NDArray[np.uint32]] = []
        self._n_cat_words = 0
        self._tree_start = [0]
        self._tree_output: list[int] = []

    def add_tree(
        self,
        *,
        left: npt.ArrayLike,
        right: npt.ArrayLike,
        feature: npt.ArrayLike,
        threshold: npt.ArrayLike,
        flags: npt.ArrayLike,
        cover: npt.ArrayLike,
        value: npt.ArrayLike,
        output: int,
        categories: dict[int, npt.NDArray[np.uint32]] | None = None,
    ) -> None:
        """Append one tree whose root is local node 0.

        Parameters
        ----------
        left, right : array-like of int
            Local child indices, ``-1`` for leaves.
        feature, threshold, flags, cover : array-like
            Per-node fields as in :class:`TreeEnsemble` (feature ``-1`` on leaves).
        value : array-like
            Leaf values: shape (n_nodes,) when ``output >= 0``, else (n_nodes, n_outputs).
        output : int
            Output the tree adds to, or ``-1`` when ``value`` has one column per output.
        categories : dict, optional
            Local node index -> bitset words (uint32) of its categorical split.
        """
        lft = np.asarray(left, dtype=np.int64)
        rgt = np.asarray(right, dtype=np.int64)
        keep = _reachable(lft, rgt)
        if keep is not None:
            # Nodes no path from the root reaches (XGBoost keeps pruned nodes in its arrays,
            # ``num_deleted``) are dropped and the others renumbered, root still first.
            lft, rgt, feature, threshold, flags, cover, value, categories = _compact(
                keep, lft, rgt, feature, threshold, flags, cover, value, categories
            )
        n = lft.shape[0]
        base = self._tree_start[-1]
        shift = np.where(lft >= 0, base, 0)
        p = self._parts
        p["left"].append((lft + shift).astype(np.int32))
        p["right"].append(np.where(rgt >= 0, rgt + base, -1).astype(np.int32))
        p["feature"].append(np.asarray(feature, dtype=np.int32))
        p["threshold"].append(np.asarray(threshold, dtype=np.float64))
        p["flags"].append(np.asarray(flags, dtype=np.uint8))
        p["cover"].append(np.asarray(cover, dtype=np.float64))
        val = np.asarray(value, dtype=np.float64)
        full = np.zeros((n, self.n_outputs), dtype=np.float64)
        if output >= 0:
            full[:, output] = val.reshape(n)
        else:
            full[:] = val.reshape(n, self.n_outputs)
        p["value"].append(full)
        start = np.zeros(n, dtype=np.int32)
        length = np.zeros(n, dtype=np.int32)
        for node, words in (categories or {}).items():
            start[node] = self._n_cat_words
            length[node] = words.shape[0]
            self._cat_words.append(words.astype(np.uint32))
            self._n_cat_words += int(words.shape[0])
        p["cat_start"].append(start)
        p["cat_len"].append(length)
        self._tree_start.append(base + n)
        self._tree_output.append(output)

    def build(
        self,
        *,
        base_offset: npt.ArrayLike,
        n_features: int,
        native_space: NativeSpace,
        float32_inputs: bool,
        source: str,
        missing_value: float = math.nan,
        link: str = "identity",
        raw_score_scale: float = 1.0,
        library_dtype: str = "",
        library_base: tuple[float, ...] = (),
    ) -> TreeEnsemble:
        """Concatenate the trees into a :class:`TreeEnsemble`."""
        p = self._parts

        def cat(key: str, dtype: Any, shape: tuple[int, ...] = (0,)) -> Any:
            return np.ascontiguousarray(
                np.concatenate(p[key]) if p[key] else np.zeros(shape, dtype=dtype), dtype=dtype
            )

        words = np.concatenate(self._cat_words) if self._cat_words else np.zeros(1, dtype=np.uint32)
        return TreeEnsemble(
            left=cat("left", np.int32),
            right=cat("right", np.int32),
            feature=cat("feature", np.int32),
            threshold=cat("threshold", np.float64),
            flags=cat("flags", np.uint8),
            cat_start=cat("cat_start", np.int32),
            cat_len=cat("cat_len", np.int32),
            cat_words=np.ascontiguousarray(words, dtype=np.uint32),
            cover=cat("cover", np.float64),
            value=cat("value", np.float64, (0, self.n_outputs)),
            tree_start=np.asarray(self._tree_start, dtype=np.int64),
            tree_output=np.asarray(self._tree_output, dtype=np.int32),
            base_offset=np.ascontiguousarray(base_offset, dtype=np.float64).reshape(self.n_outputs),
            n_features=int(n_features),
            native_space=native_space,
            float32_inputs=float32_inputs,
            source=source,
            missing_value=float(missing_value),
            link=link,
            raw_score_scale=float(raw_score_scale),
            library_dtype=library_dtype,
            library_base=tuple(float(b) for b in library_base),
        )


def preorder(
    root: dict[str, Any], children: Callable[[dict[str, Any]], tuple[Any, Any] | None]
) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    """A nested (JSON-dumped) tree as preorder node dicts with child indices (-1 at leaves).

    ``children(node)`` gives a split node's (left, right) children, or None at a leaf.
    Preorder puts every child after its parent, so a reverse pass can sum covers.
    """
    nodes: list[dict[str, Any]] = []
    left: list[int] = []
    right: list[int] = []
    stack: list[tuple[dict[str, Any], int, bool]] = [(root, -1, False)]
    while stack:
        node, parent, is_right = stack.pop()
        idx = len(nodes)
        nodes.append(node)
        left.append(-1)
        right.append(-1)
        if parent >= 0:
            (right if is_right else left)[parent] = idx
        pair = children(node)
        if pair is not None:
            # Push right first so the left subtree is laid out next.
            stack.append((pair[1], idx, True))
            stack.append((pair[0], idx, False))
    return nodes, left, right


def _reachable(left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> Any:
    """Boolean mask of the nodes reached from the root, or None when every node is.

    Raises :class:`UnsupportedModelError` if the links do not form one tree rooted at node 0
    (a child out of range or a node reached twice).
    """
    n = left.shape[0]
    seen = np.zeros(n, dtype=bool)
    stack = [0] if n else []
    while stack:
        node = stack.pop()
        if not 0 <= node < n or seen[node]:
            raise UnsupportedModelError(
                "a tree of the model has broken node links (a child out of range or reached "
                "twice), so it cannot be compiled; use method='kernel'."
            )
        seen[node] = True
        if left[node] >= 0:
            stack.append(int(right[node]))
            stack.append(int(left[node]))
    return None if seen.all() else seen


def _compact(
    keep: npt.NDArray[np.bool_],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    feature: npt.ArrayLike,
    threshold: npt.ArrayLike,
    flags: npt.ArrayLike,
    cover: npt.ArrayLike,
    value: npt.ArrayLike,
    categories: dict[int, npt.NDArray[np.uint32]] | None,
) -> tuple[Any, ...]:
    """Keep the nodes in ``keep`` (in their order) and renumber the links."""
    new_of_old = np.cumsum(keep) - 1
    idx = np.flatnonzero(keep)

    def link(a: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        kept = a[idx]
        return np.where(kept >= 0, new_of_old[np.maximum(kept, 0)], -1)

    cats = {int(new_of_old[k]): v for k, v in (categories or {}).items() if keep[k]}
    return (
        link(left),
        link(right),
        np.asarray(feature)[idx],
        np.asarray(threshold)[idx],
        np.asarray(flags)[idx],
        np.asarray(cover)[idx],
        np.asarray(value)[idx],
        cats,
    )


def bitset_from_categories(categories: Any) -> npt.NDArray[np.uint32]:
    """Bitset words (uint32) with the bit of each non-negative integer category set."""
    cats = np.asarray(categories, dtype=np.int64)
    n_words = int(cats.max()) // 32 + 1 if cats.size else 1
    words = np.zeros(n_words, dtype=np.uint32)
    for c in cats:
        words[c >> 5] |= np.uint32(1 << (int(c) & 31))
    return words
