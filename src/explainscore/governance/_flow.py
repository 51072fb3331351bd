"""Governance on the flow: audit records and review-queue items, written the same way for a
batch and for one lead on the fast lane.

Both doors call these functions, so what the audit log holds for a lead (its inputs without
hidden columns, lead id, actor, request id, policy version) cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._records import LeadExplanation

__all__ = ["audit_explanations", "audit_inputs", "queue_for_review"]


def audit_inputs(
    names: Sequence[str], rows: Sequence[Sequence[Any]], hidden: frozenset[str]
) -> list[dict[str, Any]]:
    """Each row's inputs as the audit log records them: column -> the record's value (the
    plain Python value the record reports), hidden columns left out."""
    shown = [(j, n) for j, n in enumerate(names) if n not in hidden]
    return [{n: row[j] for j, n in shown} for row in rows]


def audit_explanations(
    audit_log: Any,
    explanations: Sequence[LeadExplanation],
    *,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    hidden: frozenset[str],
    lead_ids: Sequence[Any] | None,
    actor: str | None,
    request_id: str | None,
    policy_version: str | None,
) -> list[int | None]:
    """Record the explanations (one write for all of them); their audit sequence numbers."""
    receipts = audit_log.record_explanations(
        list(explanations),
        inputs=audit_inputs(names, rows, hidden),
        lead_ids=lead_ids,
        actor=actor,
        request_id=request_id,
        policy_version=policy_version,
    )
    return [getattr(r, "seq", None) for r in receipts]


def queue_for_review(
    queue: Any,
    explanations: Sequence[LeadExplanation],
    *,
    flags: Sequence[tuple[str, ...]],
    seqs: Sequence[int | None],
    request_id: str | None,
) -> None:
    """Submit each flagged explanation to the review queue."""
    for i, reasons in enumerate(flags):
        if reasons:
            record = explanations[i]
            queue.submit(
                reasons=reasons,
                score=float(record.score) if record.score is not None else None,
                reason=record.reason,
                model_fingerprint=record.model_fingerprint,
                audit_seq=seqs[i],
                request_id=request_id,
            )
