"""The kill switch: stop scoring at once, by file, environment variable or API.

Two switches are read on every scoring call, and either one stops it:

* the **process-wide switch**, obeyed by every model in the process whatever its own
  settings: the environment variable ``EXPLAINSCORE_KILL_SWITCH`` (anything but "", "0",
  "false" or "off" engages it) and the file named by ``EXPLAINSCORE_KILL_SWITCH_FILE``
  (it exists: engaged, whatever it holds);
* the model's own :class:`KillSwitch` (``ExplainedModel(kill_switch=...)``): its file, its
  environment variable, or :meth:`KillSwitch.engage`.

While engaged, ``ExplainedModel.explain`` returns no scores and a ``paused`` status (or raises
:class:`~explainscore.exceptions.ScoringPausedError`, as configured), ``predict`` and its
siblings raise ``ScoringPausedError``, the CLI refuses and the HTTP service answers 503. Each
flip made through the API is written to the audit log with who and why. The switches are read
on every call, so flipping one takes effect on the next request, in every process that shares
the file or the environment.

A switch file is operator input read on a hot path, so it is read defensively: anything that
exists at the path (an empty file, ``1``, ``true``, JSON of any shape, undecodable bytes, a
directory, a file that cannot be read) means *stopped*, and reading it never raises. Only a
JSON object's ``actor``, ``reason`` and ``since`` are taken from it, as short printable text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..exceptions import ParameterError

__all__ = [
    "ENV_VAR",
    "FILE_ENV_VAR",
    "KillState",
    "KillSwitch",
    "combined_engaged",
    "combined_state",
    "paused_message",
    "process_engaged",
    "process_state",
]

#: The process-wide switch: an environment variable and a file named by another one.
ENV_VAR = "EXPLAINSCORE_KILL_SWITCH"
FILE_ENV_VAR = "EXPLAINSCORE_KILL_SWITCH_FILE"
_OFF = frozenset({"", "0", "false", "off"})
#: Bytes read from a switch file for its who / why (the rest is ignored, never an error).
_MAX_READ = 4096
#: Characters kept of each of actor, reason and since.
_MAX_TEXT = 200


class KillState(BaseModel):
    """Whether scoring is paused, since when, by whom and why."""

    model_config = ConfigDict(frozen=True)

    engaged: bool
    source: str | None = None  # "file", "env" or "api"
    actor: str | None = None
    reason: str | None = None
    since: str | None = None


_RELEASED = KillState(engaged=False)


class KillSwitch:
    """A switch that pauses scoring.

    Parameters
    ----------
    path : str or Path, optional
        A file whose existence engages the switch (it holds who, why and when as JSON). Share
        it between processes to stop all of them. Whatever the file holds, it means stopped.
    env_var : str, default="EXPLAINSCORE_KILL_SWITCH"
        An environment variable that engages the switch when set to anything but "", "0",
        "false" or "off".
    audit_log : AuditLog, optional
        Where flips made through :meth:`engage` and :meth:`release` are recorded.

    Notes
    -----
    Every model also obeys the process-wide switch (``EXPLAINSCORE_KILL_SWITCH`` and the file
    named by ``EXPLAINSCORE_KILL_SWITCH_FILE``), with or without a ``KillSwitch``.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        env_var: str = ENV_VAR,
        audit_log: Any = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.env_var = env_var
        self.audit_log = audit_log
        self._api: KillState | None = None
        self._env = _env_reader(env_var)

    def state(self) -> KillState:
        """The current state (file, then environment, then API)."""
        if self.path is not None:
            found = _file_state(os.fspath(self.path))
            if found is not None:
                return found
        if _on(self._env()):
            return KillState(engaged=True, source="env", reason=f"{self.env_var} is set")
        return self._api or _RELEASED

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
        if self.path is not None and os.path.lexists(self.path):
            self.path.unlink()
        self._api = None
        self._record("kill_switch_released", actor, reason)
        return self.state()

    def _record(self, event: str, actor: str, reason: str) -> None:
        if self.audit_log is not None:
            self.audit_log.append({"event": event, "actor": actor, "reason": reason})

    def __getstate__(self) -> dict[str, Any]:
        # The environment reader is a closure (derived state): rebuilt on unpickling, so a
        # switch shipped to a Spark executor reads that process's environment.
        state = dict(self.__dict__)
        state.pop("_env", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._env = _env_reader(self.env_var)


# --- the process-wide switch ---------------------------------------------------------------


def _env_reader(name: str) -> Callable[[], str | None]:
    """A function reading one environment variable, as cheaply as the platform allows.

    ``os.environ.get`` of an unset variable costs about a microsecond (it encodes the key and
    raises and catches a KeyError); the fast lane reads two variables per lead, so on CPython
    the key is encoded once and looked up in ``os.environ``'s own dict, which every
    ``os.environ[...] = ...`` / ``del`` (and so ``monkeypatch.setenv``) keeps current.
    """
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    decode = getattr(os.environ, "decodevalue", None)
    if not isinstance(data, dict) or encode is None or decode is None:  # pragma: no cover
        return lambda: os.environ.get(name)
    key = encode(name)

    def read() -> str | None:
        raw = data.get(key)
        return None if raw is None else str(decode(raw))

    return read


_process_env = _env_reader(ENV_VAR)
_process_file = _env_reader(FILE_ENV_VAR)


def _on(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _OFF


def process_engaged() -> bool:
    """Whether the process-wide switch is engaged: the cheap check of every scoring call.

    Two dictionary look-ups, and one ``stat`` when ``EXPLAINSCORE_KILL_SWITCH_FILE`` is set.
    """
    if _on(_process_env()):
        return True
    path = _process_file()
    return path is not None and path != "" and _exists(path)


def process_state() -> KillState:
    """The process-wide switch's state, with who and why when its file says so."""
    if _on(_process_env()):
        return KillState(engaged=True, source="env", reason=f"{ENV_VAR} is set")
    path = _process_file()
    if path:
        found = _file_state(path)
        if found is not None:
            return found
    return _RELEASED


def combined_state(switch: KillSwitch | None) -> KillState:
    """The process-wide switch, then the model's own: the state every door obeys."""
    state = process_state()
    if state.engaged or switch is None:
        return state
    return switch.state()


def combined_engaged(switch: KillSwitch | None) -> bool:
    """``combined_state(switch).engaged``, without building a state while released."""
    return process_engaged() or (switch is not None and switch.state().engaged)


def paused_message(state: KillState, where: str) -> str:
    """The ``ScoringPausedError`` message of a door stopped by ``state``."""
    why = f"{state.source}: {state.reason}" if state.reason else (state.source or "engaged")
    return (
        f"Scoring is paused by the kill switch ({why}); {where} produces no scores until it "
        "is released."
    )


# --- reading a switch file -----------------------------------------------------------------


def _exists(path: str) -> bool:
    """Whether anything is at ``path``; a path that cannot be checked counts as present.

    ``lstat``: a symbolic link is something at the path even when it leads nowhere.
    """
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True  # permission denied, a name too long, a NUL: fail closed, stopped
    return True


def _file_state(path: str) -> KillState | None:
    """The engaged state a switch file gives, or None when there is no file.

    Never raises: whatever is at the path, scoring stops.
    """
    if not _exists(path):
        return None
    try:
        info = os.stat(path)
    except (OSError, ValueError):  # a link that leads nowhere, a path that cannot be read
        return KillState(engaged=True, source="file")
    if not stat.S_ISREG(info.st_mode):
        # A directory, a FIFO (reading would block), a device: stopped, nothing to read.
        return KillState(engaged=True, source="file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_READ)
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError):
        data = None  # unreadable, not JSON, or cut short: still stopped (fail closed)
    return KillState(engaged=True, source="file", **_who(data))


def _who(data: Any) -> dict[str, str | None]:
    """``actor``, ``reason`` and ``since`` of a switch file that is a JSON object."""
    if not isinstance(data, dict):
        return {"actor": None, "reason": None, "since": None}
    return {k: _text(data.get(k)) for k in ("actor", "reason", "since")}


def _text(value: Any) -> str | None:
    """Short, printable text of a string or number; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = "".join(
        ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else " " for ch in str(value)
    )
    text = " ".join(text.split())[:_MAX_TEXT]
    return text or None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _require(value: str, name: str, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(
            f"The {name!r} parameter of KillSwitch.{where} must be a non-empty str. "
            f"Got {value!r} instead."
        )
