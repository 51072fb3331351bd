"""Value objects of the audit log: the receipt of an append, a checkpoint, a verdict."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._audit_errors import AuditLogError

__all__ = ["FORMAT", "AuditReceipt", "Checkpoint", "VerifyResult"]

#: The chain format; part of every hash (as the domain tag) and of every checkpoint.
FORMAT = "explainscore.audit.v1"

_HEX64 = r"^[0-9a-f]{64}$"


class AuditReceipt(BaseModel):
    """Proof that a record was written and made durable (fsync / committed)."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(description="The record's sequence number (1, 2, ...).")
    record_hash: str = Field(description="The record's SHA-256 chain hash (hex).")


class Checkpoint(BaseModel):
    """The head of a chain at one moment, to keep *outside* the log.

    A later :meth:`AuditLog.verify` given this checkpoint also proves that no record up to
    ``seq`` was removed from the tail or rewritten together with all the hashes after it.
    Store checkpoints where whoever can write the log cannot (a ticket, a signed e-mail, a
    write-once bucket).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["explainscore.audit.v1"] = "explainscore.audit.v1"
    chain_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The log's random identity.")
    seq: int = Field(ge=0, description="The last record's sequence number (0: no records).")
    head_hash: str = Field(pattern=_HEX64, description="That record's chain hash.")
    time: str = Field(description="When the checkpoint was taken (UTC, ISO 8601).")

    def to_json(self) -> str:
        """The checkpoint as one line of JSON."""
        return self.model_dump_json()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the checkpoint to ``path`` as JSON."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint written by :meth:`to_json`.

        Raises
        ------
        AuditLogError
            The text is not a valid checkpoint.
        """
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            where = f" (fields: {', '.join(fields)})" if fields else ""
            raise AuditLogError(f"Not a valid audit checkpoint{where}.") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Checkpoint:
        """Read a checkpoint saved by :meth:`save`.

        Raises
        ------
        AuditLogError
            The file cannot be read or does not hold a valid checkpoint.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditLogError(f"Cannot read the checkpoint {str(path)!r}: {exc}") from None
        return cls.from_json(text)


class VerifyResult(BaseModel):
    """The verdict of :meth:`AuditLog.verify`.

    ``ok`` is true when every record links to the one before it, every hash recomputes, the
    numbering is contiguous from the purge anchor (or 1), and the checkpoint, if given,
    matches. Otherwise ``first_bad`` is the first sequence number at which the log stops being
    a valid chain (everything before it verified), and ``problem`` says what was found there.
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    records: int = Field(description="Event records in the log (after the purge anchor).")
    first_bad: int | None = Field(
        default=None, description="First sequence number that failed; None when ok."
    )
    problem: str | None = Field(default=None, description="What failed; None when ok.")
    head_seq: int = Field(default=0, description="Last verified sequence number.")
    head_hash: str | None = Field(default=None, description="Hash of that record.")
    chain_id: str | None = None
    anchor_seq: int | None = Field(
        default=None, description="Last purged sequence number; verification starts after it."
    )
    torn_tail: bool = Field(
        default=False,
        description="JSON Lines only: the file ends in an incomplete write from a crash. It "
        "held no acknowledged record; the next append or repair() removes it (and records "
        "that it did).",
    )
    checkpoint_checked: bool = Field(
        default=False,
        description="A checkpoint was given and its head hash was compared (False when the "
        "checkpoint's record has since been purged: only its length was checked).",
    )
