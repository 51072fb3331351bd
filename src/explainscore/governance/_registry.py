"""Which signed-off model is live, and rolling back to the previous one in one call.

A :class:`ModelRegistry` is a folder with ``registry.json``: the saved models (directories
written by :func:`explainscore.save`) that were promoted, in order, each with its fingerprint
and approvers. Only a model whose card carries a *verified* sign-off (signed by a key in the
trusted keyring, not revoked, not the owner's) can be promoted, and the approvers recorded are
the identities the keyring binds to those keys, never names written on the card.
:meth:`ModelRegistry.rollback` makes the previous promoted model live again; promotions and
rollbacks are written to the audit log with who and why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..exceptions import NotSignedOffError, ParameterError
from ._card import check_signed_off
from ._keys import resolve_keyring

__all__ = ["ModelRegistry", "RegistryEntry"]


class RegistryEntry(BaseModel):
    """One promoted model."""

    model_config = ConfigDict(frozen=True)

    path: str
    fingerprint: str
    approvers: tuple[str, ...]
    promoted_at: str
    promoted_by: str


class ModelRegistry:
    """The live model and its signed-off predecessors.

    Parameters
    ----------
    root : str or Path
        Folder holding ``registry.json`` (created on first promotion).
    audit_log : AuditLog, optional
        Promotions and rollbacks are recorded there.
    trusted_keys : Keyring, str or Path, optional
        The keyring sign-offs are verified against (default: the file named by
        ``EXPLAINSCORE_TRUSTED_KEYS``).
    """

    def __init__(
        self, root: str | Path, *, audit_log: Any = None, trusted_keys: Any = None
    ) -> None:
        self.root = Path(root)
        self.audit_log = audit_log
        self.trusted_keys = trusted_keys

    @property
    def _file(self) -> Path:
        return self.root / "registry.json"

    def _read(self) -> tuple[list[RegistryEntry], int]:
        if not self._file.exists():
            return [], -1
        data = json.loads(self._file.read_text(encoding="utf-8"))
        entries = [RegistryEntry.model_validate(e) for e in data["entries"]]
        return entries, int(data["live"])

    def _write(self, entries: list[RegistryEntry], live: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        payload = {"entries": [e.model_dump() for e in entries], "live": live}
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(tmp, self._file)  # atomic: readers see the old or the new registry

    def entries(self) -> list[RegistryEntry]:
        return self._read()[0]

    def live(self) -> RegistryEntry | None:
        entries, live = self._read()
        return entries[live] if 0 <= live < len(entries) else None

    def promote(self, saved: str | Path, *, actor: str) -> RegistryEntry:
        """Make the saved model at ``saved`` live; it must be signed off."""
        from ..io import load

        if not actor:
            raise ParameterError(
                "The 'actor' parameter of ModelRegistry.promote must be a non-empty str."
            )
        ring = resolve_keyring(self.trusted_keys)
        explained = load(saved, require_sign_off=True, trusted_keys=ring)
        # Approvers from verified sign-offs only, named as the keyring names them.
        approvers = check_signed_off(
            explained.card,
            explained.model_fingerprint_,
            where="ModelRegistry.promote",
            keyring=ring,
        )
        entry = RegistryEntry(
            path=str(Path(saved).resolve()),
            fingerprint=explained.model_fingerprint_,
            approvers=approvers,
            promoted_at=_now(),
            promoted_by=actor,
        )
        entries, _ = self._read()
        entries.append(entry)
        self._write(entries, len(entries) - 1)
        self._record("model_promoted", actor, f"promoted {entry.fingerprint}", entry)
        return entry

    def rollback(self, *, actor: str, reason: str) -> RegistryEntry:
        """Make the previous promoted (signed-off) model live again."""
        if not actor or not reason:
            raise ParameterError("ModelRegistry.rollback needs a non-empty 'actor' and 'reason'.")
        entries, live = self._read()
        if live < 1:
            raise NotSignedOffError(
                "rollback refused: there is no earlier signed-off model to return to."
            )
        entry = entries[live - 1]
        self._write(entries, live - 1)
        self._record("model_rolled_back", actor, reason, entry)
        return entry

    def load_live(self, **kwargs: Any) -> Any:
        """Load the live model (its sign-off is checked again on load)."""
        from ..io import load

        entry = self.live()
        if entry is None:
            raise NotSignedOffError("No model has been promoted in this registry yet.")
        kwargs.setdefault("trusted_keys", self.trusted_keys)
        return load(entry.path, require_sign_off=True, **kwargs)

    def _record(self, event: str, actor: str, reason: str, entry: RegistryEntry) -> None:
        if self.audit_log is not None:
            self.audit_log.append(
                {
                    "event": event,
                    "actor": actor,
                    "reason": reason,
                    "model_fingerprint": entry.fingerprint,
                }
            )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
