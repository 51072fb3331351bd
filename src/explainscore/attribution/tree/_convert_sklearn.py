"""scikit-learn tree models -> :class:`TreeEnsemble`.

* ``DecisionTree*``, ``ExtraTree*``, ``RandomForest*``, ``ExtraTrees*``: inputs are rounded to
  float32, nodes go left when ``x <= threshold``, NaN follows ``missing_go_to_left``. A
  classifier's output is the average over trees of each leaf's normalised class weights (its
  ``predict_proba``), one output per class; a regressor's is the average leaf value.
* ``GradientBoosting*``: ``init_`` (a constant prior) is the base offset, every tree is scaled
  by the learning rate; one output for regressors and binary classifiers, K for K classes.
* ``HistGradientBoosting*``: float64 inputs, ``x <= num_threshold``, NaN follows
  ``missing_go_to_left``; categorical nodes send the categories of their bitset left, known
  categories outside it right, and unknown or negative ones the way missing values go. The base
  offset is ``_baseline_prediction``; cover is the node ``count``.
Cover is ``weighted_n_node_samples`` for the scikit-learn ``Tree`` models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...exceptions import UnsupportedModelError
from ._builder import EnsembleBuilder, bitset_from_categories
from ._ensemble import (
    FLAG_CAT_NEGATIVE_INVALID,
    FLAG_CAT_SET_LEFT,
    FLAG_CATEGORICAL,
    FLAG_DEFAULT_LEFT,
    TreeEnsemble,
)

__all__ = ["convert_sklearn_boosting", "convert_sklearn_forest", "convert_sklearn_hist"]


def _source(estimator: Any) -> str:
    return f"sklearn.{type(estimator).__name__}"


def _structure(tree: Any) -> dict[str, Any]:
    """Node arrays of a fitted ``sklearn.tree._tree.Tree`` (root is node 0)."""
    left = np.asarray(tree.children_left, dtype=np.int64)
    is_leaf = left < 0
    missing_left = getattr(tree, "missing_go_to_left", None)
    flags = (
        np.zeros(left.shape[0], dtype=np.int64)
        if missing_left is None
        else np.where(np.asarray(missing_left) != 0, FLAG_DEFAULT_LEFT, 0)
    )
    return {
        "left": left,
        "right": np.asarray(tree.children_right, dtype=np.int64),
        "feature": np.where(is_leaf, -1, np.asarray(tree.feature, dtype=np.int64)),
        "threshold": np.where(is_leaf, 0.0, np.asarray(tree.threshold, dtype=np.float64)),
        "flags": np.where(is_leaf, 0, flags),
        "cover": np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
    }


def convert_sklearn_forest(estimator: Any) -> TreeEnsemble:
    """Compile a scikit-learn decision tree or forest (averaging ensemble).

    Parameters
    ----------
    estimator : DecisionTree*, ExtraTree*, RandomForest* or ExtraTrees*
        A fitted scikit-learn model.

    Returns
    -------
    TreeEnsemble
        Native space ``"probability"`` for classifiers, ``"margin"`` (raw) for regressors.
    """
    trees = [estimator] if hasattr(estimator, "tree_") else list(estimator.estimators_)
    is_classifier = hasattr(estimator, "classes_")
    n_outputs_model = int(getattr(estimator, "n_outputs_", 1))
    if is_classifier and n_outputs_model > 1:
        raise UnsupportedModelError(
            f"{type(estimator).__name__} is fitted on {n_outputs_model} targets "
            "(multi-output classification), which the tree backend does not support."
        )
    first = trees[0].tree_
    n_outputs = int(first.value.shape[2]) if is_classifier else n_outputs_model
    builder = EnsembleBuilder(n_outputs)
    for est in trees:
        tree = est.tree_
        arrays = _structure(tree)
        raw = np.asarray(tree.value, dtype=np.float64)
        if is_classifier:
            counts = raw[:, 0, :]
            totals = counts.sum(axis=1, keepdims=True)
            # predict_proba normalises each leaf (an all-zero leaf stays zero).
            value = np.divide(counts, totals, out=np.zeros_like(counts), where=totals != 0)
        else:
            value = raw[:, :, 0]
        value = np.where(arrays["left"][:, None] < 0, value / len(trees), 0.0)
        builder.add_tree(**arrays, value=value, output=-1)
    return builder.build(
        base_offset=np.zeros(n_outputs),
        n_features=int(estimator.n_features_in_),
        native_space="probability" if is_classifier else "margin",
        float32_inputs=True,
        source=_source(estimator),
    )


def convert_sklearn_boosting(estimator: Any) -> TreeEnsemble:
    """Compile a ``GradientBoostingClassifier`` / ``GradientBoostingRegressor``.

    Parameters
    ----------
    estimator : GradientBoosting*
        A fitted model whose ``init`` is a constant (the default prior or ``"zero"``).

    Returns
    -------
    TreeEnsemble
        Native space ``"margin"`` (the ``decision_function``).
    """
    stages = np.asarray(estimator.estimators_, dtype=object)
    n_outputs = int(stages.shape[1])
    n_features = int(estimator.n_features_in_)
    init = estimator.init_
    if isinstance(init, str) and init == "zero":
        base = np.zeros(n_outputs)
    elif type(init).__name__ in ("DummyClassifier", "DummyRegressor"):
        # A Dummy init predicts a constant; evaluate it once on any row to get that constant.
        row = np.zeros((1, n_features), dtype=np.float32)
        base = np.asarray(estimator._raw_predict_init(row), dtype=np.float64)[0]
    else:
        raise UnsupportedModelError(
            f"{type(estimator).__name__} starts from init={type(init).__name__}, whose "
            "prediction depends on the input; only a constant init has an exact tree "
            "attribution."
        )
    lr = float(estimator.learning_rate)
    builder = EnsembleBuilder(n_outputs)
    for stage in stages:
        for k in range(n_outputs):
            tree = stage[k].tree_
            arrays = _structure(tree)
            raw = np.asarray(tree.value, dtype=np.float64)[:, 0, 0]
            value = np.where(arrays["left"] < 0, lr * raw, 0.0)
            builder.add_tree(**arrays, value=value, output=k)
    return builder.build(
        base_offset=base,
        n_features=n_features,
        native_space="margin",
        float32_inputs=True,
        source=_source(estimator),
        link=_loss_link(estimator),
    )


#: scikit-learn's ``_loss.link`` classes -> what ``predict`` applies to the raw prediction.
_SKLEARN_LINKS = {
    "IdentityLink": "identity",
    "LogLink": "exp",
    "LogitLink": "logistic",
    "HalfLogitLink": "logistic",
    "MultinomialLogit": "softmax",
}


def _loss_link(estimator: Any) -> str:
    """The link of a (Hist)GradientBoosting model's loss (Poisson and gamma: ``exp``)."""
    link = getattr(getattr(estimator, "_loss", None), "link", None)
    if link is None:
        return "identity"
    return _SKLEARN_LINKS.get(type(link).__name__, type(link).__name__)


def _hist_column_maps(
    estimator: Any,
) -> tuple[np.ndarray[Any, Any], dict[int, np.ndarray[Any, Any] | None]]:
    """Where each internal column of a HistGradientBoosting model comes from.

    With categorical features, the model runs an internal ``ColumnTransformer`` that puts the
    categorical columns first and replaces each category by its rank among the categories seen
    in training (unknown values become missing). Returns the original column of every internal
    column and, per internal categorical column, the code the compiled trees read for each
    rank: the category itself when the categories are small non-negative integers (rows then
    carry their codes as they are), else None, the rank (``hist_category_codes``: what a
    row's category is turned into).
    """
    n = int(estimator.n_features_in_)
    pre = getattr(estimator, "_preprocessor", None)
    if pre is None:
        return np.arange(n), {}
    is_cat = np.asarray(estimator.is_categorical_, dtype=bool)
    order = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)])
    encoder = pre.named_transformers_["encoder"]
    # Category columns of a frame (``"from_dtype"``) are mapped to ranks by explainscore
    # (``_categories``); numeric codes in a numeric column reach the trees as they are.
    from_dtype = isinstance(estimator.categorical_features, str)
    values: dict[int, np.ndarray[Any, Any] | None] = {}
    for j, cats in enumerate(encoder.categories_):
        known = _known(cats)
        values[j] = _small_codes(known)
        if values[j] is None and not from_dtype and all(_is_number(c) for c in known):
            raise UnsupportedModelError(
                f"{type(estimator).__name__} has a categorical column with categories that are "
                "not small non-negative integers; encode categories as integer codes "
                "0, 1, 2, ... to explain it with the tree backend."
            )
    return order, values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _known(cats: Any) -> list[Any]:
    """The categories an encoder knows, without the missing one (NaN is not a category)."""
    return [c for c in np.asarray(cats, dtype=object).tolist() if not _is_nan(c)]


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _small_codes(cats: list[Any]) -> np.ndarray[Any, Any] | None:
    """The categories as int64 when they are small non-negative integers, else None."""
    try:
        num = np.asarray(cats, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if num.size and (np.any(num < 0) or np.any(num != np.floor(num)) or num.max() > 2**20):
        return None
    return num.astype(np.int64)


def hist_category_codes(
    estimator: Any,
) -> dict[int, tuple[list[Any], list[float]]]:
    """Per original categorical column of a HistGradientBoosting model: its categories (in
    the encoder's order) and the code the compiled trees read for each."""
    order, values = _hist_column_maps(estimator)
    pre = getattr(estimator, "_preprocessor", None)
    if pre is None:
        return {}
    encoder = pre.named_transformers_["encoder"]
    out: dict[int, tuple[list[Any], list[float]]] = {}
    for j, cats in enumerate(encoder.categories_):
        labels = _known(cats)
        vals = values.get(j)
        ranks = range(len(labels))
        codes = [float(v) for v in (vals if vals is not None else ranks)]
        out[int(order[j])] = (labels, codes)
    return out


def _ranks_to_bitset(bits: np.ndarray[Any, Any], values: np.ndarray[Any, Any] | None) -> Any:
    """A bitset over ranks (HistGradientBoosting's internal codes) -> over original values."""
    ranks = [r for r in range(bits.shape[0] * 32) if (int(bits[r >> 5]) >> (r & 31)) & 1]
    if values is not None:
        ranks = [int(values[r]) for r in ranks if r < values.shape[0]]
    return bitset_from_categories(ranks)


def convert_sklearn_hist(estimator: Any) -> TreeEnsemble:
    """Compile a ``HistGradientBoostingClassifier`` / ``HistGradientBoostingRegressor``.

    Parameters
    ----------
    estimator : HistGradientBoosting*
        A fitted model on a numeric matrix; categorical columns hold non-negative integer
        codes (the rows explained must use the same codes).

    Returns
    -------
    TreeEnsemble
        Native space ``"margin"`` (the raw prediction before the link).
    """
    name = type(estimator).__name__
    order, cat_values = _hist_column_maps(estimator)
    predictors = estimator._predictors
    n_outputs = len(predictors[0]) if predictors else int(estimator.n_trees_per_iteration_)
    known = None
    if getattr(estimator, "is_categorical_", None) is not None:
        known, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
    builder = EnsembleBuilder(n_outputs)
    for stage in predictors:
        for k, predictor in enumerate(stage):
            nodes = predictor.nodes
            is_leaf = nodes["is_leaf"].astype(bool)
            left = np.where(is_leaf, -1, nodes["left"].astype(np.int64))
            right = np.where(is_leaf, -1, nodes["right"].astype(np.int64))
            miss_left = nodes["missing_go_to_left"].astype(bool)
            flags = np.where(miss_left & ~is_leaf, FLAG_DEFAULT_LEFT, 0).astype(np.int64)
            cats: dict[int, np.ndarray[Any, Any]] = {}
            is_cat = nodes["is_categorical"].astype(bool) & ~is_leaf
            for node in np.flatnonzero(is_cat):
                feat = int(nodes["feature_idx"][node])
                left_set = np.asarray(
                    predictor.raw_left_cat_bitsets[nodes["bitset_idx"][node]], dtype=np.uint32
                )
                flags[node] |= FLAG_CATEGORICAL | FLAG_CAT_NEGATIVE_INVALID
                if miss_left[node]:
                    # Known categories outside the left set go right; unknown ones go the
                    # missing way (left), so the right set is the one to test.
                    if known is None:
                        raise UnsupportedModelError(
                            f"{name} has categorical splits but no category bin mapper."
                        )
                    known_set = np.asarray(known[f_idx_map[feat]], dtype=np.uint32)
                    chosen = known_set & ~left_set
                else:
                    chosen = left_set
                    flags[node] |= FLAG_CAT_SET_LEFT
                cats[int(node)] = _ranks_to_bitset(chosen, cat_values.get(feat))
            feature = np.where(is_leaf, -1, order[nodes["feature_idx"].astype(np.int64)])
            builder.add_tree(
                left=left,
                right=right,
                feature=feature,
                threshold=np.where(is_leaf, 0.0, nodes["num_threshold"].astype(np.float64)),
                flags=flags,
                cover=nodes["count"].astype(np.float64),
                value=np.where(is_leaf, nodes["value"].astype(np.float64), 0.0),
                output=k,
                categories=cats,
            )
    return builder.build(
        base_offset=np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1),
        n_features=int(estimator.n_features_in_),
        native_space="margin",
        float32_inputs=False,
        source=f"sklearn.{name}",
        link=_loss_link(estimator),
    )
