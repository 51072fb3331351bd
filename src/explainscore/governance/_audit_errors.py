"""The audit log's own error class (to move into :mod:`explainscore.exceptions`)."""

from __future__ import annotations

from ..exceptions import ExplainScoreError

__all__ = ["AuditLogError"]


class AuditLogError(ExplainScoreError, RuntimeError):
    """The audit log cannot be read or written as asked: it is missing, locked past the busy
    timeout, not an explainscore audit log, or damaged where a write would extend it.

    A log that merely fails verification is *not* an error: :meth:`AuditLog.verify` reports
    it in its result. Messages name the file and the record number, never a lead's values.
    """
