"""What the service asks of an ExplainedModel beyond its public methods.

``predict`` must report bad rows one by one, as ``explain(on_error="skip")`` does, and must
score exactly as ``explain`` does (P(target class), or the prediction of a regressor); the
public ``predict_proba`` raises on the first bad row and returns every class. So scoring goes
through the model's engine, in this one module, where a change of the engine shows up. The
same goes for what the service must know to govern a request: the kill switch's state, the
columns it must not name, and the audit records of scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._records import RejectedRow, rejected_rows
from .._row_encoder import plain_cell

__all__ = [
    "HIDDEN",
    "Scored",
    "audit_predictions",
    "hidden_columns",
    "kill_state",
    "model_version",
    "score_rows",
]

#: What the service says instead of the name of a column the model hides.
HIDDEN = "a hidden column"


@dataclass(frozen=True)
class Scored:
    """Scores of the good rows, by position, and the rejected rows."""

    positions: list[int]
    scores: list[float]
    rejected: list[RejectedRow]
    #: The validated good rows, in the order of ``positions`` (for the audit log).
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class Kill:
    """The kill switch as the service needs it: engaged or not, and a printable why."""

    engaged: bool
    why: str | None = None


def kill_state(em: Any) -> Kill:
    """The combined kill switch of ``em`` (its own switch and the process-wide one).

    Anything that goes wrong while reading the switch (a file that is not what the switch
    wrote, an unreadable one) counts as engaged: a switch that cannot be read means stop, and
    the service answers 503, never 500.
    """
    try:
        state = em._kill_state()
        if not state.engaged:
            return Kill(False)
        source = str(state.source or "kill switch")
        reason = None if state.reason is None else str(state.reason)[:200]
    except Exception:  # fail closed: see the docstring
        return Kill(True, "the kill switch is set but its state cannot be read")
    return Kill(True, f"{source}: {reason}" if reason else source)


def hidden_columns(em: Any) -> frozenset[str]:
    """The model's input columns hidden by its catalog or its policy (never named in HTTP)."""
    names = [str(c) for c in em.feature_names_in_]
    hidden = set(em._hidden_columns())  # the catalog's and the policy's, as resolved
    policy = em.policy
    is_hidden = getattr(policy, "is_hidden", None)
    if callable(is_hidden):  # the policy matches spellings (case, width, homoglyphs)
        hidden |= {n for n in names if is_hidden(n)}
    return frozenset(n for n in names if n in hidden)


def shown_name(name: Any, hidden: frozenset[str]) -> Any:
    """``name`` itself, or :data:`HIDDEN` for a hidden column (None passes through)."""
    if name is None:
        return None
    return HIDDEN if str(name) in hidden else str(name)


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
    return Scored(positions, [float(s) for s in scores], rejected_rows(validated.problems), rows)


def audit_predictions(
    em: Any, scored: Scored, *, actor: str | None, request_id: str | None
) -> list[int | None]:
    """One ``prediction`` record per scored row in ``em.audit_log``, in one transaction.

    The record carries what an ``explanation`` record carries for a score (model fingerprint,
    policy version, score, input digest, actor, request id); the inputs leave out hidden
    columns, as ``explain`` does. Returns the records' sequence numbers, in row order.
    """
    log = em.audit_log
    if log is None or not scored.positions:
        return [None] * len(scored.positions)
    hidden = hidden_columns(em)
    policy = em.policy
    version = model_version(em)
    events = []
    for pos, score, (_, row) in zip(
        scored.positions, scored.scores, scored.rows.iterrows(), strict=True
    ):
        events.append(
            {
                "event": "prediction",
                "model_fingerprint": str(em.model_fingerprint_),
                "policy_version": None if policy is None else policy.version,
                "score": score,
                "inputs": {str(k): plain_cell(v) for k, v in row.items() if str(k) not in hidden},
                "actor": actor,
                "request_id": request_id,
                "details": {"model_version": version, "instance": pos},
            }
        )
    receipts = log.append_many(events)
    return [getattr(r, "seq", None) for r in receipts]
