"""The audit log's error class, defined in :mod:`explainscore.exceptions`."""

from __future__ import annotations

from ..exceptions import AuditLogError

__all__ = ["AuditLogError"]
