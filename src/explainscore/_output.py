"""What a model's output is, in each output space, and how to compute it.

Five names, each stated on every explanation:

``probability``
    ``predict_proba[:, target]`` of a classifier: the score a rep sees.
``log_odds``
    The classifier's additive margin before its link: ``log(p / (1 - p))`` for a binary
    classifier (XGBoost ``output_margin``, LightGBM ``raw_score``, ``decision_function``),
    and the target class's raw score (its logit before the softmax) for a multiclass one.
``raw``
    ``predict`` of a regressor whose ``predict`` is its margin (no link), or
    ``decision_function`` of a classifier with no probabilities (such as a hinge-loss
    SGDClassifier).
``margin``
    The sum a regressor's trees (or linear predictor) make before its link: XGBoost
    ``output_margin``, LightGBM ``raw_score``, scikit-learn's raw prediction of
    (Hist)GradientBoosting and of the generalized linear models. The default for a regressor
    with a link (Poisson, gamma, Tweedie, ``reg:logistic``, ``cross_entropy``).
``response``
    The link applied to the margin: ``predict`` of a regressor with a link.

The names are resolved per model to the one that names its output (:func:`resolve_space`), so
two names never state the same numbers: for a classifier ``margin`` is ``log_odds`` and
``response`` is ``probability``; for a regressor without a link ``margin`` and ``response``
are its ``predict``, ``raw``; for a regressor with a link ``raw`` (its ``predict``) is
``response``.

Which libraries expose the margin, and how, is a table (``_MARGINS``), not an elif chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .attribution._base import OutputSpace
from .exceptions import UnsupportedModelError

__all__ = [
    "OUTPUT_SPACES",
    "SPREAD_SCALED",
    "ModelKind",
    "inspect_model",
    "library_of",
    "output_function",
    "resolve_space",
    "resolve_target",
]

FloatArray = npt.NDArray[np.float64]
OutputFn = Callable[[Any], FloatArray]

#: Every output space a user may name (``"auto"`` aside).
OUTPUT_SPACES: tuple[OutputSpace, ...] = ("log_odds", "probability", "raw", "margin", "response")
#: Spaces in the model's own units, whose reason strengths scale with the outputs' spread.
SPREAD_SCALED = frozenset({"raw", "margin", "response"})


@dataclass(frozen=True)
class ModelKind:
    """What kind of predictor a fitted estimator is.

    Attributes
    ----------
    is_classifier : bool
    classes : ndarray or None
        ``classes_`` of a classifier.
    has_proba : bool
        Whether the estimator has ``predict_proba``.
    has_margin : bool
        Whether an exact margin (log-odds) function is known for it.
    float32 : bool
        Whether the model computes in float32 (XGBoost, LightGBM), which bounds how exactly
        its own output can be reproduced.
    link : str or None
        For a regressor, what its ``predict`` applies to its margin: ``"identity"`` (no link),
        ``"exp"``, ``"logistic"``, ``"softplus"``; None when explainscore does not know (a
        model from another library), which offers no ``margin`` space.
    """

    is_classifier: bool
    classes: np.ndarray[Any, Any] | None
    has_proba: bool
    has_margin: bool
    float32: bool
    link: str | None = "identity"

    @property
    def has_link(self) -> bool:
        """A regressor whose ``predict`` is a link of its margin (not the margin itself)."""
        return not self.is_classifier and self.link not in ("identity", None)

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)


def library_of(estimator: Any) -> str:
    """The library an estimator comes from: the first class in its MRO that belongs to a
    booster library, else its own module. A user's ``class LeadScorer(XGBClassifier)``
    lives in the user's module but computes exactly as XGBoost does."""
    for cls in type(estimator).__mro__:
        root = cls.__module__.split(".")[0]
        if root in _BOOSTER_LIBRARIES:
            return root
    return type(estimator).__module__.split(".")[0]


_BOOSTER_LIBRARIES = frozenset({"xgboost", "lightgbm"})


def _xgb_margin(estimator: Any) -> OutputFn:
    return lambda X: np.asarray(estimator.predict(X, output_margin=True), dtype=np.float64)


def _lgbm_margin(estimator: Any) -> OutputFn:
    # A LightGBM random forest's raw score is the sum of its trees, but the model averages
    # them (predict_proba is the link of the mean): the margin is the mean.
    scale = 1.0
    booster = getattr(estimator, "booster_", None)
    params = {} if booster is None else booster.params
    if booster is not None and params.get("boosting", params.get("boosting_type")) in (
        "rf",
        "random_forest",
    ):
        best = getattr(booster, "best_iteration", 0) or 0
        scale = float(best if best > 0 else booster.current_iteration())
    return lambda X: np.asarray(estimator.predict(X, raw_score=True), dtype=np.float64) / scale


def _decision_margin(estimator: Any) -> OutputFn:
    return lambda X: np.asarray(estimator.decision_function(X), dtype=np.float64)


def _is_catboost(estimator: Any) -> bool:
    return any(c.__module__.split(".")[0] == "catboost" for c in type(estimator).__mro__)


def _catboost_margin(estimator: Any) -> OutputFn:
    # scale * sum(trees) + bias, before any link: (n,) or (n, n_classes) for MultiClass.
    return lambda X: np.asarray(
        estimator.predict(X, prediction_type="RawFormulaVal"), dtype=np.float64
    )


#: (applies to the estimator?, margin function) in priority order.
_MARGINS: list[tuple[Callable[[Any], bool], Callable[[Any], OutputFn]]] = [
    (lambda e: library_of(e) == "xgboost", _xgb_margin),
    (lambda e: library_of(e) == "lightgbm", _lgbm_margin),
    (_is_catboost, _catboost_margin),
    (lambda e: callable(getattr(e, "decision_function", None)), _decision_margin),
]


def _margin_of(estimator: Any) -> OutputFn | None:
    for applies, factory in _MARGINS:
        if applies(estimator):
            return factory(estimator)
    return None


def _sklearn_raw_margin(estimator: Any) -> OutputFn:
    # (Hist)GradientBoosting: the raw prediction before the loss's link, shape (n, 1).
    return lambda X: np.asarray(estimator._raw_predict(X), dtype=np.float64)


def _glm_margin(estimator: Any) -> OutputFn:
    # PoissonRegressor, GammaRegressor, TweedieRegressor: X @ coef_ + intercept_.
    return lambda X: np.asarray(estimator._linear_predictor(X), dtype=np.float64)


#: (applies to the regressor?, margin function), in priority order: a regressor's margin.
_REGRESSOR_MARGINS: list[tuple[Callable[[Any], bool], Callable[[Any], OutputFn]]] = [
    (lambda e: library_of(e) == "xgboost", _xgb_margin),
    (lambda e: library_of(e) == "lightgbm", _lgbm_margin),
    (_is_catboost, _catboost_margin),
    (lambda e: callable(getattr(e, "_raw_predict", None)), _sklearn_raw_margin),
    (lambda e: callable(getattr(e, "_linear_predictor", None)), _glm_margin),
]

#: scikit-learn's ``_loss.link`` classes -> the link's name.
_SKLEARN_LINKS = {"IdentityLink": "identity", "LogLink": "exp", "LogitLink": "logistic"}


def _regressor_link(estimator: Any) -> str | None:
    """What a regressor's ``predict`` applies to its margin; None when unknown.

    Tree boosters: the link the tree compiler reads from the objective (one source of truth
    with the attributions). scikit-learn: its loss's link (``_loss`` of (Hist)GradientBoosting,
    ``_base_loss`` of the generalized linear models), else the identity, except for meta
    estimators that transform the prediction (``TransformedTargetRegressor``).
    """
    from .attribution._tree_support import is_tree_model

    if is_tree_model(estimator):
        from .attribution.tree import compile_ensemble

        try:
            return compile_ensemble(estimator).link
        except UnsupportedModelError:
            return None
    loss = getattr(estimator, "_base_loss", None) or getattr(estimator, "_loss", None)
    link = getattr(loss, "link", None)
    if link is not None:
        return _SKLEARN_LINKS.get(type(link).__name__)
    if library_of(estimator) == "sklearn" and not hasattr(estimator, "regressor_"):
        return "identity"
    return None


def inspect_model(estimator: Any) -> ModelKind:
    """Classify a fitted estimator (the final step of a Pipeline, or a whole model)."""
    from sklearn.base import is_classifier

    classes = getattr(estimator, "classes_", None)
    # CatBoostRegressor has an empty ``classes_``: a classifier has at least one class.
    classifier = bool(is_classifier(estimator)) or (classes is not None and len(classes) > 0)
    if isinstance(classes, list):
        # scikit-learn's multi-output classifiers keep one array of classes per target.
        raise UnsupportedModelError(
            f"{type(estimator).__name__} predicts {len(classes)} targets at once (a "
            "multi-output classifier), and explainscore explains one classifier output. Fit "
            "one classifier per target and explain each (for MultiOutputClassifier: "
            "ExplainedModel(model.estimators_[k], ...))."
        )
    return ModelKind(
        is_classifier=classifier,
        classes=None if classes is None else np.asarray(classes),
        has_proba=callable(getattr(estimator, "predict_proba", None)),
        has_margin=_margin_of(estimator) is not None,
        float32=library_of(estimator) in {"xgboost", "lightgbm"},
        link=None if classifier else _regressor_link(estimator),
    )


def resolve_space(estimator: Any, kind: ModelKind, space: str, *, auto: bool) -> OutputSpace:
    """The name of the output ``space`` stands for on this model (see the module).

    ``auto``: ``space`` is the method's default; a regressor with a link then explains its
    margin. Raises :class:`UnsupportedModelError` for a space the model does not have.
    """
    name = type(estimator).__name__
    if kind.is_classifier:
        aliases: dict[str, OutputSpace] = {"margin": "log_odds", "response": "probability"}
        return aliases.get(space, space)  # type: ignore[arg-type]
    if space in ("log_odds", "probability"):
        forward = "'margin' or 'response'" if kind.has_link else "'raw'"
        raise UnsupportedModelError(
            f"{name} is a regressor: output_space={space!r} applies to classifiers. Use "
            f"output_space={forward}."
        )
    if kind.has_link:
        if auto:
            return "margin"
        return "response" if space == "raw" else space  # type: ignore[return-value]
    if space == "margin" and kind.link is None:
        raise UnsupportedModelError(
            f"explainscore does not know how {name} makes its prediction, so it has no "
            "margin space (the sum before a link). Use output_space='raw', which explains "
            "its predict."
        )
    return "raw"


def resolve_target(estimator: Any, kind: ModelKind, rows: Any, target: Any) -> int | None:
    """The output column of a regressor explained with ``target=`` (None: one output).

    The number of outputs is read from ``predict`` on ``rows`` (the background), which every
    regressor has, so multi-output models of any library are counted the same way.
    """
    from ._params import param_error

    if kind.is_classifier:
        if target is not None and target != 0:
            raise param_error(
                "target", "ExplainedModel", "None for a classifier (use target_class)", target
            )
        return None
    shape = np.shape(estimator.predict(rows))
    n = int(shape[1]) if len(shape) == 2 else 1
    if target is None:
        return None if n == 1 else 0
    if (
        isinstance(target, bool)
        or not isinstance(target, int | np.integer)
        or not (0 <= int(target) < n)
    ):
        raise param_error(
            "target",
            "ExplainedModel",
            f"None or an int in [0, {n - 1}] (the output column)",
            target,
        )
    return None if n == 1 else int(target)


def _is_outlier_detector(estimator: Any) -> bool:
    from sklearn.base import is_outlier_detector

    try:
        return bool(is_outlier_detector(estimator)) and callable(
            getattr(estimator, "decision_function", None)
        )
    except Exception:  # an object without scikit-learn tags
        return False


def output_function(
    estimator: Any, kind: ModelKind, space: OutputSpace, target: int | None
) -> OutputFn:
    """A function ``X -> ndarray (n,)``: the model output in ``space`` for class ``target``.

    ``estimator`` may be a bare estimator or a whole Pipeline (whose final step decides what
    exists). ``target`` is the class of a classifier, or the output column of a multi-output
    regressor (None: its only output). Raises :class:`UnsupportedModelError` when the space
    does not exist for it.
    """
    if not kind.is_classifier and space == "raw" and _is_outlier_detector(estimator):
        # IsolationForest & co. predict a +1/-1 label; their score is decision_function
        # (negative for outliers), which is what is explained.
        return lambda X: np.asarray(estimator.decision_function(X), dtype=np.float64).reshape(-1)
    if not kind.is_classifier and space in ("raw", "response"):
        return _column(lambda X: np.asarray(estimator.predict(X), dtype=np.float64), target)
    if not kind.is_classifier and space == "margin":
        margin = _regressor_margin(estimator, kind)
        if margin is None:
            raise UnsupportedModelError(
                f"{type(estimator).__name__} exposes no margin (the sum before its link). Use "
                "output_space='response', which explains its predict."
            )
        return _column(margin, target)
    if space == "raw":
        if kind.is_classifier:
            margin = _margin_of(estimator)
            if margin is None:
                raise UnsupportedModelError(
                    f"{type(estimator).__name__} has no decision_function, so it has no raw "
                    "output space; use output_space='probability'."
                )
            return _pick(margin, kind, target, binary_sign=True)
        return lambda X: np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1)
    if not kind.is_classifier:
        raise UnsupportedModelError(
            f"{type(estimator).__name__} is a regressor: its only output space is 'raw'; "
            f"output_space={space!r} applies to classifiers."
        )
    if space == "probability":
        if not kind.has_proba:
            raise UnsupportedModelError(
                f"{type(estimator).__name__} has no predict_proba, so it gives no "
                "probabilities; use output_space='raw' (its decision function)."
            )
        col = 0 if target is None else target
        return lambda X: np.asarray(estimator.predict_proba(X), dtype=np.float64)[:, col]
    margin = _margin_of(estimator)
    if margin is not None and kind.has_proba:
        return _pick(margin, kind, target, binary_sign=True)
    if kind.has_proba and kind.n_classes == 2:
        return _logit_of_proba(estimator, 1 if target is None else target)
    raise UnsupportedModelError(
        f"{type(estimator).__name__} has no known log-odds output; use output_space='probability'."
    )


def _column(fn: OutputFn, target: int | None) -> OutputFn:
    """One output of a (possibly multi-output) regressor function, as shape (n,)."""

    def column(X: Any) -> FloatArray:
        out = fn(X)
        if out.ndim == 2 and out.shape[1] > 1:
            return np.ascontiguousarray(out[:, 0 if target is None else target])
        return out.reshape(-1)

    return column


def _regressor_margin(estimator: Any, kind: ModelKind) -> OutputFn | None:
    """A regressor's margin function (a Pipeline's: through its preprocessing)."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        final = estimator[-1]
        inner = _regressor_margin(final, kind)
        if inner is None:
            return None
        pre = estimator[:-1]
        return lambda X: inner(pre.transform(X))
    if not kind.has_link:
        if kind.link is None:
            return None
        # No link: the margin is the prediction.
        return lambda X: np.asarray(estimator.predict(X), dtype=np.float64)
    for applies, factory in _REGRESSOR_MARGINS:
        if applies(estimator):
            return factory(estimator)
    return None


def _pick(margin: OutputFn, kind: ModelKind, target: int | None, *, binary_sign: bool) -> OutputFn:
    """Select the target class's column of a margin; a binary margin is for class 1."""
    t = 1 if target is None else target

    def pick(X: Any) -> FloatArray:
        m = margin(X)
        if m.ndim == 2 and m.shape[1] > 1:
            return np.ascontiguousarray(m[:, t])
        m = m.reshape(-1)
        # A binary margin is the log-odds of class 1; the log-odds of class 0 is its negative.
        return -m if (binary_sign and kind.n_classes == 2 and t == 0) else m

    return pick


def _logit_of_proba(estimator: Any, target: int) -> OutputFn:
    def logit(X: Any) -> FloatArray:
        p = np.asarray(estimator.predict_proba(X), dtype=np.float64)[:, target]
        with np.errstate(divide="ignore"):
            return np.log(p) - np.log1p(-p)

    return logit
