"""What a model's output is, in each output space, and how to compute it.

Three spaces, each stated on every explanation:

``probability``
    ``predict_proba[:, target]`` of a classifier: the score a rep sees.
``log_odds``
    The classifier's additive margin before its link: ``log(p / (1 - p))`` for a binary
    classifier (XGBoost ``output_margin``, LightGBM ``raw_score``, ``decision_function``),
    and the target class's raw score (its logit before the softmax) for a multiclass one.
``raw``
    ``predict`` of a regressor, or ``decision_function`` of a classifier with no
    probabilities (such as a hinge-loss SGDClassifier).

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

__all__ = ["ModelKind", "inspect_model", "library_of", "output_function"]

FloatArray = npt.NDArray[np.float64]
OutputFn = Callable[[Any], FloatArray]


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
    """

    is_classifier: bool
    classes: np.ndarray[Any, Any] | None
    has_proba: bool
    has_margin: bool
    float32: bool

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


#: (applies to the estimator?, margin function) in priority order.
_MARGINS: list[tuple[Callable[[Any], bool], Callable[[Any], OutputFn]]] = [
    (lambda e: library_of(e) == "xgboost", _xgb_margin),
    (lambda e: library_of(e) == "lightgbm", _lgbm_margin),
    (lambda e: callable(getattr(e, "decision_function", None)), _decision_margin),
]


def _margin_of(estimator: Any) -> OutputFn | None:
    for applies, factory in _MARGINS:
        if applies(estimator):
            return factory(estimator)
    return None


def inspect_model(estimator: Any) -> ModelKind:
    """Classify a fitted estimator (the final step of a Pipeline, or a whole model)."""
    from sklearn.base import is_classifier

    classes = getattr(estimator, "classes_", None)
    classifier = bool(is_classifier(estimator)) or classes is not None
    return ModelKind(
        is_classifier=classifier,
        classes=None if classes is None else np.asarray(classes),
        has_proba=callable(getattr(estimator, "predict_proba", None)),
        has_margin=_margin_of(estimator) is not None,
        float32=library_of(estimator) in {"xgboost", "lightgbm"},
    )


def output_function(
    estimator: Any, kind: ModelKind, space: OutputSpace, target: int | None
) -> OutputFn:
    """A function ``X -> ndarray (n,)``: the model output in ``space`` for class ``target``.

    ``estimator`` may be a bare estimator or a whole Pipeline (whose final step decides what
    exists). Raises :class:`UnsupportedModelError` when the space does not exist for it.
    """
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
