"""LightGBM ``Booster`` / ``LGBMClassifier`` / ``LGBMRegressor`` -> :class:`TreeEnsemble`.

Read from ``Booster.dump_model()`` (the trees up to the best iteration, as ``predict`` uses).
Semantics (``Tree::NumericalDecision`` / ``CategoricalDecision`` in LightGBM):

* numeric nodes go left when ``x <= threshold`` (double precision);
* ``missing_type == "NaN"``: NaN goes to the default side; ``"Zero"``: NaN is read as 0 and
  ``|x| <= 1e-35`` goes to the default side; ``"None"``: NaN is read as 0 and compared;
* categorical nodes (``decision_type == "=="``, threshold ``"a||b||c"``) send the listed
  categories left and every other value (NaN and negative codes included) right;
* the boost-from-average constant (every objective: binary, multiclass, regression, poisson,
  gamma, tweedie, cross_entropy, ...) is folded into the first tree's leaves, so the base
  offset is zero;
* ``average_output`` (``boosting_type="rf"``) divides every tree by the number of
  iterations: the margin is the mean of the trees, the one ``predict`` applies its link to.
  LightGBM's ``raw_score=True`` and ``pred_contrib=True`` return the *sum* of the trees for
  such a model, recorded as ``raw_score_scale`` (the number of iterations).
Cover is the node's data count (``internal_count`` / ``leaf_count``), as LightGBM's own
``pred_contrib`` and shap use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...exceptions import UnsupportedModelError
from ._builder import EnsembleBuilder, bitset_from_categories, preorder
from ._ensemble import (
    FLAG_CAT_SET_LEFT,
    FLAG_CATEGORICAL,
    FLAG_DEFAULT_LEFT,
    FLAG_ZERO_MISSING,
    TreeEnsemble,
)

__all__ = ["convert_lightgbm"]


def _flatten(root: dict[str, Any], name: str) -> dict[str, Any]:
    """Preorder arrays of one dumped tree (root first)."""

    def children(node: dict[str, Any]) -> tuple[Any, Any] | None:
        if "split_index" in node:
            return node["left_child"], node["right_child"]
        if "leaf_coeff" in node:
            raise UnsupportedModelError(
                f"{name} has linear trees (linear_tree=True), whose leaves are linear models; "
                "the tree backend needs constant leaves."
            )
        return None

    nodes, left, right = preorder(root, children)
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n, dtype=np.float64)
    flags = np.zeros(n, dtype=np.int64)
    cover = np.zeros(n, dtype=np.float64)
    value = np.zeros(n, dtype=np.float64)
    cats: dict[int, np.ndarray[Any, Any]] = {}
    for i, node in enumerate(nodes):
        if "split_index" not in node:
            value[i] = float(node["leaf_value"])
            cover[i] = float(node.get("leaf_count", 0))
            continue
        feature[i] = int(node["split_feature"])
        cover[i] = float(node["internal_count"])
        if node["decision_type"] == "==":
            cats[i] = bitset_from_categories([int(c) for c in str(node["threshold"]).split("||")])
            flags[i] = FLAG_CATEGORICAL | FLAG_CAT_SET_LEFT
            continue
        thr = float(node["threshold"])
        threshold[i] = thr
        missing = node.get("missing_type", "None")
        if missing == "NaN":
            flags[i] = FLAG_DEFAULT_LEFT if node["default_left"] else 0
        elif missing == "Zero":
            flags[i] = FLAG_ZERO_MISSING | (FLAG_DEFAULT_LEFT if node["default_left"] else 0)
        else:
            # NaN is read as 0.0 and compared with the threshold like any value.
            flags[i] = FLAG_DEFAULT_LEFT if thr >= 0.0 else 0
    return {
        "left": left,
        "right": right,
        "feature": feature,
        "threshold": threshold,
        "flags": flags,
        "cover": cover,
        "value": value,
        "categories": cats,
    }


#: First word of ``dump_model()["objective"]`` -> what ``predict`` applies to the margin.
_LINKS = {
    "binary": "logistic",
    "multiclassova": "logistic",
    "cross_entropy": "logistic",
    "multiclass": "softmax",
    "poisson": "exp",
    "gamma": "exp",
    "tweedie": "exp",
    "cross_entropy_lambda": "softplus",
}


def convert_lightgbm(estimator: Any) -> TreeEnsemble:
    """Compile a LightGBM model from ``dump_model()``.

    Parameters
    ----------
    estimator : lightgbm.Booster or lightgbm.LGBMModel
        A fitted model.

    Returns
    -------
    TreeEnsemble
    """
    name = type(estimator).__name__
    booster = estimator.booster_ if hasattr(estimator, "booster_") else estimator
    dump = booster.dump_model()
    per_iter = int(dump.get("num_tree_per_iteration", 1))
    infos = dump["tree_info"]
    n_iter = max(len(infos) // per_iter, 1)
    averaged = bool(dump.get("average_output", False))
    scale = 1.0 / n_iter if averaged else 1.0
    builder = EnsembleBuilder(per_iter)
    for t, info in enumerate(infos):
        arrays = _flatten(info["tree_structure"], name)
        builder.add_tree(
            left=arrays["left"],
            right=arrays["right"],
            feature=arrays["feature"],
            threshold=arrays["threshold"],
            flags=arrays["flags"],
            cover=arrays["cover"],
            value=arrays["value"] * scale,
            output=t % per_iter,
            categories=arrays["categories"],
        )
    objective = str(dump.get("objective", ""))
    # LightGBM sums its trees in float64 from zero, in tree order; its binary sigmoid with
    # the default ``sigmoid:1`` is ``1 / (1 + exp(-x))``.
    plain = per_iter == 1 and not averaged and objective in ("binary sigmoid:1", "regression")
    return builder.build(
        base_offset=np.zeros(per_iter),
        n_features=int(dump["max_feature_idx"]) + 1,
        native_space="margin",
        float32_inputs=False,
        source=f"lightgbm.{name}",
        link=_LINKS.get(str(dump.get("objective", "")).split(" ")[0], "identity"),
        raw_score_scale=float(n_iter) if averaged else 1.0,
        library_dtype="float64" if plain else "",
        library_base=(0.0,) if plain else (),
    )
