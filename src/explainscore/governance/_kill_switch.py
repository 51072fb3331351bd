"""The kill switch: stop scoring at once, by file, environment variable or API.

While engaged, ``ExplainedModel.explain`` returns no scores and a ``paused`` status (or raises
:class:`~explainscore.exceptions.ScoringPausedError`, as configured) and the HTTP service
answers 503. Each flip made through the API is written to the audit log with who and why.
The switch is read on every call, so flipping it takes effect on the next request, in every
process that shares the file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..exceptions import ParameterError

__all__ = ["KillState", "KillSwitch"]


class KillState(BaseModel):
    """Whether scoring is paused, since when, by whom and why."""

    model_config = ConfigDict(frozen=True)

    engaged: bool
    source: str | None = None  # "file", "env" or "api"
    actor: str | None = None
    reason: str | None = None
    since: str | None = None


class KillSwitch:
    """A switch that pauses scoring.

    Parameters
    ----------
    path : str or Path, optional
        A file whose existence engages the switch (it holds who, why and when as JSON). Share
        it between processes to stop all of them.
    env_var : str, default="EXPLAINSCORE_KILL_SWITCH"
        An environment variable that engages the switch when set to anything but "", "0",
        "false" or "off".
    audit_log : AuditLog, optional
        Where flips made through :meth:`engage` and :meth:`release` are recorded.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        env_var: str = "EXPLAINSCORE_KILL_SWITCH",
        audit_log: Any = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.env_var = env_var
        self.audit_log = audit_log
        self._api: KillState | None = None

    def state(self) -> KillState:
        """The current state (file, then environment, then API)."""
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            except (OSError, json.JSONDecodeError):
                data = {}  # a file that cannot be read still means "stop": fail closed
            return KillState(engaged=True, source="file", **_who(data))
        value = os.environ.get(self.env_var, "")
        if value.strip().lower() not in ("", "0", "false", "off"):
            return KillState(engaged=True, source="env", reason=f"{self.env_var} is set")
        return self._api or KillState(engaged=False)

    @property
    def engaged(self) -> bool:
        return self.state().engaged

    def engage(self, *, actor: str, reason: str) -> KillState:
        """Stop scoring now; recorded with ``actor`` and ``reason``."""
        _require(actor, "actor", "engage")
        _require(reason, "reason", "engage")
        info = {"actor": actor, "reason": reason, "since": _now()}
        if self.path is not None:
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: readers see no file or a whole one
        self._api = KillState(engaged=True, source="api", **info)
        self._record("kill_switch_engaged", actor, reason)
        return self.state()

    def release(self, *, actor: str, reason: str) -> KillState:
        """Resume scoring; recorded with ``actor`` and ``reason``."""
        _require(actor, "actor", "release")
        _require(reason, "reason", "release")
        if self.path is not None and self.path.exists():
            self.path.unlink()
        self._api = None
        self._record("kill_switch_released", actor, reason)
        return self.state()

    def _record(self, event: str, actor: str, reason: str) -> None:
        if self.audit_log is not None:
            self.audit_log.append({"event": event, "actor": actor, "reason": reason})


def _who(data: dict[str, Any]) -> dict[str, str | None]:
    return {k: (str(data[k]) if k in data else None) for k in ("actor", "reason", "since")}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _require(value: str, name: str, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(
            f"The {name!r} parameter of KillSwitch.{where} must be a non-empty str. "
            f"Got {value!r} instead."
        )
