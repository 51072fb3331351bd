"""Classifiers that output only class labels, and the one way forward for them.

A classifier with neither ``predict_proba`` nor ``decision_function`` (a hard-voting
``VotingClassifier``, a custom classifier with ``predict`` alone) gives a class label and no
score: no output space exists to explain, and suggesting one space from the other would send
the user in a loop. This check runs before any backend is chosen and names the change that
gives the model a score.
"""

from __future__ import annotations

from typing import Any

from ._output import inspect_model
from .exceptions import UnsupportedModelError

__all__ = ["check_has_score"]


def check_has_score(estimator: Any) -> None:
    """Raise :class:`UnsupportedModelError` for a classifier that outputs only labels."""
    kind = inspect_model(estimator)
    if not kind.is_classifier or kind.has_proba or kind.has_margin:
        return
    name = type(estimator).__name__
    if getattr(estimator, "voting", None) == "hard":
        raise UnsupportedModelError(
            f"{name}(voting='hard') outputs only class labels (a majority vote), so it has "
            "no score to explain. Refit it with voting='soft': its predict_proba (the "
            "weighted mean of its estimators' probabilities) is explained exactly."
        )
    raise UnsupportedModelError(
        f"{name} outputs only class labels (it has no predict_proba or decision_function), "
        "so it has no score to explain. Give it a predict_proba method (the probability of "
        "each class) and explain that."
    )
