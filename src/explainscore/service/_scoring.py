"""What the service asks of an ExplainedModel beyond its public methods.

``predict`` must report bad rows one by one, as ``explain(on_error="skip")`` does, and must
score exactly as ``explain`` does (P(target class), or the prediction of a regressor); the
public ``predict_proba`` raises on the first bad row and returns every class. So scoring goes
through the model's engine, in this one module, where a change of the engine shows up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._records import RejectedRow, rejected_rows

__all__ = ["Scored", "model_version", "score_rows"]


@dataclass(frozen=True)
class Scored:
    """Scores of the good rows, by position, and the rejected rows."""

    positions: list[int]
    scores: list[float]
    rejected: list[RejectedRow]


def model_version(em: Any) -> str:
    """The version label every record of ``em`` carries."""
    return str(em._engine().version)


def score_rows(em: Any, frame: pd.DataFrame) -> Scored:
    """Validate ``frame`` like ``explain`` and score its good rows.

    Column-level problems raise their ``InputError``; so does a batch without one good row
    (the first problem's error), as in ``explain``.
    """
    engine = em._engine()
    if em.policy is not None:
        em.policy.check_inputs([str(c) for c in frame.columns], where="predict")
    validated = engine.schema.validate(frame, where="predict")
    good = validated.good
    if not good.any():
        validated.raise_first()
    rows = validated.frame[good] if validated.problems else validated.frame
    scores = np.asarray(engine.score_fn(engine.schema.model_input(rows)), dtype=np.float64)
    positions = [int(i) for i in np.flatnonzero(good)]
    return Scored(positions, [float(s) for s in scores], rejected_rows(validated.problems))
