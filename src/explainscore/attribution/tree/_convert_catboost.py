"""CatBoost ``CatBoostClassifier`` / ``CatBoostRegressor`` / ``CatBoost`` -> :class:`TreeEnsemble`.

Read from the model's JSON export (``save_model(path, format="json")``, CatBoost's documented,
complete description of a trained model). Semantics, as CatBoost's evaluator applies them:

* a float split sends ``x`` right when ``float32(x) > border`` (borders are float32), so it is
  stored as "left when ``x <= border``" with float32 inputs;
* oblivious (symmetric) trees, the default ``grow_policy``, apply level ``d``'s split to every
  node of that level and read the leaf ``sum_d bit_d << d`` (``bit_d`` is split ``d``'s
  answer): compiled to a full binary tree whose level ``d`` tests split ``d``, the left child
  being ``bit_d = 0``. Non-symmetric trees (``Depthwise``, ``Lossguide``) are compiled node by
  node;
* leaf values are doubles, ``approx_dimension`` per leaf (leaf-major), one output per class for
  ``MultiClass``; the model's output is ``scale * sum(trees) + bias``
  (``get_scale_and_bias``), the value ``predict(prediction_type="RawFormulaVal")`` returns;
* a missing value (NaN) is binarised below every border (``nan_mode="Min"``, and features that
  had no NaN in training, ``AsIs``/``AsFalse``: every ``x > border`` is false, so left) or
  above every border (``nan_mode="Max"``, ``AsTrue``: right);
* cover is the training weight of each leaf (``leaf_weights``), summed up the tree: the
  weights CatBoost's own ``ShapValues`` use.

Categorical, text and embedding features (one-hot splits on hashed categories, CTRs and
feature combinations) are not compiled: a model with any of them is refused here and explained
on its raw columns by CatBoost's own TreeSHAP values instead (``attribution._catboost``).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from ...exceptions import UnsupportedModelError
from ._builder import EnsembleBuilder, preorder
from ._ensemble import FLAG_DEFAULT_LEFT, TreeEnsemble

__all__ = ["catboost_model_json", "convert_catboost", "has_non_float_features"]

#: CatBoost ``loss_function`` -> what its prediction applies to the margin (RawFormulaVal).
_LINKS = {
    "Logloss": "logistic",
    "CrossEntropy": "logistic",
    "MultiClass": "softmax",
    "MultiClassOneVsAll": "logistic",
    "Poisson": "exp",
    "Tweedie": "exp",
}


def catboost_model_json(estimator: Any) -> dict[str, Any]:
    """The fitted model's JSON export, parsed.

    Parameters
    ----------
    estimator : catboost.CatBoost
        A fitted CatBoost model (or subclass).

    Returns
    -------
    dict
    """
    with tempfile.TemporaryDirectory(prefix="explainscore-catboost-") as tmp:
        path = os.path.join(tmp, "model.json")
        estimator.save_model(path, format="json")
        with open(path, encoding="utf-8") as fh:
            loaded: dict[str, Any] = json.load(fh)
    return loaded


def has_non_float_features(estimator: Any) -> bool:
    """Whether the model takes categorical, text or embedding features (not compilable)."""
    info = catboost_model_json(estimator).get("features_info", {})
    return any(info.get(k) for k in _NON_FLOAT)


_NON_FLOAT = ("categorical_features", "text_features", "embedding_features", "ctrs")


def _loss_name(estimator: Any, dump: dict[str, Any]) -> str:
    params = dump.get("model_info", {}).get("params", {})
    loss = params.get("loss_function", {}).get("type")
    if loss is None:
        getter = getattr(estimator, "get_all_params", None)
        loss = (getter() if callable(getter) else {}).get("loss_function", "RMSE")
    return str(loss).split(":")[0]


class _FloatSplits:
    """Maps a split of the JSON export to (flat column, border, flags)."""

    def __init__(self, dump: dict[str, Any], name: str) -> None:
        self._name = name
        floats = dump.get("features_info", {}).get("float_features", [])
        self._flat = {int(f["feature_index"]): int(f["flat_feature_index"]) for f in floats}
        self._nan_right = {
            int(f["feature_index"]): f.get("nan_value_treatment") == "AsTrue" for f in floats
        }

    def read(self, split: dict[str, Any]) -> tuple[int, float, int]:
        kind = split.get("split_type")
        if kind != "FloatFeature":
            raise UnsupportedModelError(
                f"{self._name} splits on a {kind} (categorical, CTR or text feature), which "
                "the tree backend does not compile; method='auto' explains such a model with "
                "CatBoost's own TreeSHAP values on the raw columns (method='catboost')."
            )
        index = int(split["float_feature_index"])
        # Borders are float32 values, exactly representable in float64.
        border = float(split["border"])
        flags = 0 if self._nan_right.get(index, False) else FLAG_DEFAULT_LEFT
        return self._flat[index], border, flags


def _reverse_bits(i: int, width: int) -> int:
    out = 0
    for _ in range(width):
        out = (out << 1) | (i & 1)
        i >>= 1
    return out


def _add_oblivious(
    builder: EnsembleBuilder,
    tree: dict[str, Any],
    splits: _FloatSplits,
    dim: int,
    scale: float,
) -> None:
    # The root tests the *last* split: the prediction is the same in any level order, but the
    # path-dependent game is not, and this is the order CatBoost's own ShapValues walk.
    levels = [splits.read(s) for s in reversed(tree.get("splits", []))]
    depth = len(levels)
    n_leaves = 1 << depth
    # Level d here is CatBoost's split depth - 1 - d, so our leaf i is CatBoost's leaf with
    # i's bits reversed.
    order = np.array([_reverse_bits(i, depth) for i in range(n_leaves)], dtype=np.int64)
    leaf_values = np.asarray(tree["leaf_values"], dtype=np.float64).reshape(n_leaves, dim)[order]
    leaf_weights = np.asarray(tree["leaf_weights"], dtype=np.float64).reshape(n_leaves)[order]
    n_nodes = 2 * n_leaves - 1
    left = np.full(n_nodes, -1, dtype=np.int64)
    right = np.full(n_nodes, -1, dtype=np.int64)
    feature = np.full(n_nodes, -1, dtype=np.int64)
    threshold = np.zeros(n_nodes, dtype=np.float64)
    flags = np.zeros(n_nodes, dtype=np.int64)
    cover = np.zeros(n_nodes, dtype=np.float64)
    value = np.zeros((n_nodes, dim), dtype=np.float64)
    # Breadth-first layout: node i of level d (0 <= i < 2^d) sits at 2^d - 1 + i, and its path
    # bits are i's bits (bit d' is split d''s answer), so its children are i and i + 2^d.
    for d, (col, border, flag) in enumerate(levels):
        first = (1 << d) - 1
        for i in range(1 << d):
            node = first + i
            feature[node], threshold[node], flags[node] = col, border, flag
            left[node] = (1 << (d + 1)) - 1 + i
            right[node] = (1 << (d + 1)) - 1 + i + (1 << d)
    last = n_leaves - 1
    value[last:] = leaf_values * scale
    cover[last:] = leaf_weights
    for d in range(depth - 1, -1, -1):
        first = (1 << d) - 1
        for i in range(1 << d):
            node = first + i
            cover[node] = cover[left[node]] + cover[right[node]]
    _add(builder, left, right, feature, threshold, flags, cover, value, dim)


def _add_nonsymmetric(
    builder: EnsembleBuilder,
    root: dict[str, Any],
    splits: _FloatSplits,
    dim: int,
    scale: float,
) -> None:
    nodes, left, right = preorder(
        root, lambda node: (node["left"], node["right"]) if "split" in node else None
    )
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n, dtype=np.float64)
    flags = np.zeros(n, dtype=np.int64)
    cover = np.zeros(n, dtype=np.float64)
    value = np.zeros((n, dim), dtype=np.float64)
    for i, node in enumerate(nodes):
        if "split" in node:
            feature[i], threshold[i], flags[i] = splits.read(node["split"])
        else:
            value[i] = np.asarray(node["value"], dtype=np.float64).reshape(dim) * scale
            cover[i] = float(node.get("weight", 0.0))
    # Preorder: every child comes after its parent, so a reverse pass sums the covers.
    for i in range(n - 1, -1, -1):
        if left[i] >= 0:
            cover[i] = cover[left[i]] + cover[right[i]]
    _add(builder, np.asarray(left), np.asarray(right), feature, threshold, flags, cover, value, dim)


def _add(
    builder: EnsembleBuilder,
    left: Any,
    right: Any,
    feature: Any,
    threshold: Any,
    flags: Any,
    cover: Any,
    value: Any,
    dim: int,
) -> None:
    builder.add_tree(
        left=left,
        right=right,
        feature=feature,
        threshold=threshold,
        flags=flags,
        cover=cover,
        value=value if dim > 1 else value[:, 0],
        output=-1 if dim > 1 else 0,
    )


def convert_catboost(estimator: Any) -> TreeEnsemble:
    """Compile a CatBoost model with numeric features from its JSON export.

    Parameters
    ----------
    estimator : catboost.CatBoost
        A fitted model (``CatBoostClassifier``, ``CatBoostRegressor`` or ``CatBoost``).

    Returns
    -------
    TreeEnsemble
        ``predict_raw`` equals ``predict(prediction_type="RawFormulaVal")``.

    Raises
    ------
    UnsupportedModelError
        If the model is not fitted, or uses categorical, text or embedding features.
    """
    name = type(estimator).__name__
    fitted = getattr(estimator, "is_fitted", None)
    if callable(fitted) and not fitted():
        raise UnsupportedModelError(f"{name} is not fitted; fit it before explaining it.")
    dump = catboost_model_json(estimator)
    info = dump.get("features_info", {})
    if any(info.get(k) for k in _NON_FLOAT):
        raise UnsupportedModelError(
            f"{name} has categorical, text or embedding features (cat_features, CTRs), which "
            "the tree backend does not compile; method='auto' explains a model with "
            "categorical features by CatBoost's own TreeSHAP values on the raw columns "
            "(method='catboost')."
        )
    scale_raw, bias_raw = dump.get("scale_and_bias", [1.0, [0.0]])
    scale = float(scale_raw)
    bias = np.atleast_1d(np.asarray(bias_raw, dtype=np.float64))
    splits = _FloatSplits(dump, name)
    oblivious = dump.get("oblivious_trees")
    trees = oblivious if oblivious is not None else dump.get("trees", [])
    if trees:
        first = trees[0]
        if oblivious is not None:
            n_leaves = 1 << len(first.get("splits", []))
            dim = len(first["leaf_values"]) // n_leaves
        else:
            leaf = first
            while "split" in leaf:
                leaf = leaf["left"]
            dim = int(np.asarray(leaf["value"]).size)
    else:
        dim = int(bias.size)
    builder = EnsembleBuilder(dim)
    for tree in trees:
        if oblivious is not None:
            _add_oblivious(builder, tree, splits, dim, scale)
        else:
            _add_nonsymmetric(builder, tree, splits, dim, scale)
    n_features = len(info.get("float_features", []))
    flat = [int(f["flat_feature_index"]) for f in info.get("float_features", [])]
    if flat:
        n_features = max(n_features, max(flat) + 1)
    declared = getattr(estimator, "feature_names_", None)
    if declared is not None:
        n_features = max(n_features, len(declared))
    return builder.build(
        base_offset=np.broadcast_to(bias, (dim,)).copy(),
        n_features=n_features,
        native_space="margin",
        float32_inputs=True,
        source=f"catboost.{name}",
        link=_LINKS.get(_loss_name(estimator, dump), "identity"),
    )
