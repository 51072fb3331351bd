"""XGBoost ``Booster`` / ``XGBClassifier`` / ``XGBRegressor`` -> :class:`TreeEnsemble`.

Read from the model's own JSON (``Booster.save_raw("json")``), which holds every tree with its
hessian cover (``sum_hessian``), default directions and categorical splits. Semantics:

* a numeric node goes left when ``float32(x) < split_condition``; a missing value (NaN) goes
  to the default child;
* a categorical node sends the categories listed for it to the **right**; any other value,
  including negative or out-of-range codes, goes left (``common::Decision`` in XGBoost);
* ``base_score`` is stored in the objective's output space (a probability for
  ``binary:logistic`` and ``reg:logistic``, a mean for ``count:poisson``, ``reg:gamma``,
  ``reg:tweedie`` and the survival objectives) and turned into a margin here as XGBoost's
  ``ProbToMargin`` does; ``binary:logitraw``, softmax, ranking and the identity-link
  regressions store the margin itself;
* trees keep the nodes pruning deleted (``num_deleted``, e.g. ``gamma > 0`` with
  ``tree_method="exact"``); no path reaches them, and the builder drops them;
* the scikit-learn wrappers' ``missing`` sentinel (``missing=-999``) is read as missing at
  predict time like NaN; it is recorded as the ensemble's ``missing_value``, which the row
  preparation turns into NaN (a raw ``Booster`` has no sentinel: it belongs to the DMatrix);
* the scikit-learn wrappers predict with ``best_iteration + 1`` rounds after early stopping,
  so only those trees are compiled; a raw ``Booster`` is compiled whole, as
  ``Booster.predict`` uses every tree unless given ``iteration_range``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ...exceptions import UnsupportedModelError
from ._builder import EnsembleBuilder, bitset_from_categories
from ._ensemble import FLAG_CAT_NEGATIVE_INVALID, FLAG_CATEGORICAL, FLAG_DEFAULT_LEFT, TreeEnsemble

__all__ = ["convert_xgboost"]

# Objectives whose base_score is a probability (margin = logit) or a mean (margin = log).
# ``binary:logitraw`` is not one: its ProbToMargin is the identity (XGBoost >= 2).
_LOGIT = {"binary:logistic", "reg:logistic"}
_LOG = {"count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft"}


def _link(objective: str) -> str:
    """What XGBoost's ``predict`` applies to the margin (``PredTransform``)."""
    if objective in _LOGIT:
        return "logistic"
    if objective in _LOG:
        return "exp"
    if objective in ("multi:softprob", "multi:softmax"):
        # multi:softmax predicts the arg-max class, but its predict_proba is the softmax.
        return "softmax"
    if objective == "binary:hinge":
        return "step"
    # Squared error and the other identity links, binary:logitraw, ranking.
    return "identity"


def _base_margin(objective: str, scores: list[float], n_outputs: int) -> np.ndarray[Any, Any]:
    if objective in _LOGIT:
        margins = [math.log(s / (1.0 - s)) for s in scores]
    elif objective in _LOG:
        margins = [math.log(s) for s in scores]
    else:
        # Squared error, softmax (stored as margins already) and the other identity links.
        margins = list(scores)
    out = np.asarray(margins, dtype=np.float64)
    if out.size == 1 and n_outputs > 1:
        out = np.full(n_outputs, out[0])
    return out


#: Objectives whose predictions :mod:`._library_scores` reproduces bit for bit: one output, a
#: logistic or identity link.
_LIBRARY_SCORED = {"binary:logistic", "binary:logitraw", "reg:logistic", "reg:squarederror"}


def _library_base(objective: str, scores: list[float]) -> tuple[float, ...]:
    """XGBoost's own float32 base margin: ``ProbToMargin`` computes ``-log(1 / p - 1)`` in
    float32 (its result differs from the float64 logit rounded to float32 in the last bit, and
    that bit moves about one prediction in six)."""
    f32 = np.float32
    if objective in _LOGIT:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return tuple(float(-np.log(f32(1.0) / f32(s) - f32(1.0))) for s in scores)
    return tuple(float(f32(s)) for s in scores)


def _missing_sentinel(estimator: Any) -> float:
    """The scikit-learn wrapper's ``missing`` value (NaN for none, or a raw Booster)."""
    if hasattr(estimator, "get_booster"):
        missing = getattr(estimator, "missing", math.nan)
        try:
            return math.nan if missing is None else float(missing)
        except (TypeError, ValueError):
            return math.nan
    return math.nan


def _parse_floats(text: str) -> list[float]:
    # "[4.4333333E-1]" (XGBoost >= 3, a vector) or "5E-1" (older, a scalar); both float32.
    parts = text.strip().strip("[]").split(",")
    return [float(np.float32(p)) for p in parts if p.strip()]


def convert_xgboost(estimator: Any) -> TreeEnsemble:
    """Compile an XGBoost model from its JSON dump.

    Parameters
    ----------
    estimator : xgboost.Booster or xgboost.XGBModel
        A fitted model with a tree booster (``gbtree`` or ``dart``).

    Returns
    -------
    TreeEnsemble
    """
    booster = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
    doc = json.loads(bytes(booster.save_raw("json")))
    learner = doc["learner"]
    gb = learner["gradient_booster"]
    name = type(estimator).__name__
    weights: list[float] | None = None
    if gb["name"] == "gbtree":
        model = gb["model"]
    elif gb["name"] == "dart":
        model = gb["gbtree"]["model"]
        weights = [float(w) for w in gb["weight_drop"]]
    else:
        raise UnsupportedModelError(
            f"{name} uses booster={gb['name']!r}; tree attributions need a tree booster "
            "(gbtree or dart)."
        )
    param = learner["learner_model_param"]
    n_outputs = max(int(param["num_class"]), int(param.get("num_target", "1")), 1)
    trees = model["trees"]
    tree_info = [int(k) for k in model["tree_info"]]
    n_trees = len(trees)
    if hasattr(estimator, "get_booster"):
        try:
            best = int(estimator.best_iteration)
        except AttributeError:
            best = -1
        if best >= 0:
            indptr = model.get("iteration_indptr")
            if indptr is not None:
                n_trees = int(indptr[best + 1])
            else:
                per_iter = n_outputs * int(model["gbtree_model_param"]["num_parallel_tree"])
                n_trees = (best + 1) * per_iter
    builder = EnsembleBuilder(n_outputs)
    for t in range(n_trees):
        tree = trees[t]
        # multi_strategy="multi_output_tree": each leaf holds one weight per target.
        vector_leaf = int(tree["tree_param"].get("size_leaf_vector", "1")) > 1
        left = np.asarray(tree["left_children"], dtype=np.int64)
        right = np.asarray(tree["right_children"], dtype=np.int64)
        cond = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
        is_leaf = left < 0
        # x < t on float32 inputs is exactly x <= the float64 just below t.
        thr = np.where(is_leaf, 0.0, np.nextafter(cond, -np.inf))
        flags = np.where(np.asarray(tree["default_left"], dtype=bool), FLAG_DEFAULT_LEFT, 0)
        split_type = np.asarray(tree.get("split_type", [0] * len(left)), dtype=np.int64)
        cats: dict[int, np.ndarray[Any, Any]] = {}
        nodes = tree.get("categories_nodes", [])
        if len(nodes):
            segs = tree["categories_segments"]
            sizes = tree["categories_sizes"]
            values = tree["categories"]
            for node, seg, size in zip(nodes, segs, sizes, strict=True):
                chosen = values[int(seg) : int(seg) + int(size)]
                cats[int(node)] = bitset_from_categories(chosen)
        cat_nodes = (split_type == 1) & ~is_leaf
        # Listed categories go right; anything else (negative codes included) goes left.
        flags = np.where(cat_nodes, flags | FLAG_CATEGORICAL | FLAG_CAT_NEGATIVE_INVALID, flags)
        for node in np.flatnonzero(cat_nodes):
            cats.setdefault(int(node), np.zeros(1, dtype=np.uint32))
        scale = 1.0 if weights is None else weights[t]
        if vector_leaf:
            # The node's weights are in base_weights (node-major); split_conditions of its
            # leaves hold no value.
            vec = np.asarray(tree["base_weights"], dtype=np.float32).astype(np.float64)
            value = np.where(is_leaf[:, None], vec.reshape(len(left), -1) * scale, 0.0)
        else:
            value = np.where(is_leaf, cond * scale, 0.0)
        feature = np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64))
        builder.add_tree(
            left=left,
            right=right,
            feature=feature,
            threshold=thr,
            flags=flags,
            cover=np.asarray(tree["sum_hessian"], dtype=np.float64),
            value=value,
            output=-1 if vector_leaf else (tree_info[t] if n_outputs > 1 else 0),
            categories=cats,
        )
    objective = learner["objective"]["name"]
    scores = _parse_floats(param["base_score"])
    base = _base_margin(objective, scores, n_outputs)
    plain = (
        objective in _LIBRARY_SCORED
        and n_outputs == 1
        and weights is None
        and len(scores) == 1
        and gb["name"] == "gbtree"
    )
    return builder.build(
        base_offset=base,
        n_features=int(param["num_feature"]),
        native_space="margin",
        float32_inputs=True,
        source=f"{type(estimator).__module__.split('.')[0]}.{name}",
        missing_value=_missing_sentinel(estimator),
        link=_link(objective),
        library_dtype="float32" if plain else "",
        library_base=_library_base(objective, scores) if plain else (),
    )
