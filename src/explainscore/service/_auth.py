"""Bearer tokens: where they come from, how they are compared, and which models they open.

Tokens are kept only as SHA-256 digests. A presented token is hashed and compared with every
known digest by :func:`hmac.compare_digest`, without stopping at the first match: equal-length
digests make the comparison independent of the token's length and of how much of it is right,
and the full scan does not tell which caller matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import ParameterError
from ._config import ServiceConfig

__all__ = ["Authenticator", "TokenStore", "hash_token"]

_HASHED = re.compile(r"sha256:([0-9a-fA-F]{64})")
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
#: Shorter tokens are refused: a guessable token is no authentication.
MIN_TOKEN_LENGTH = 16


def hash_token(token: str) -> bytes:
    """SHA-256 digest of a token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def _digest(value: str, *, source: str, name: str) -> bytes:
    match = _HASHED.fullmatch(value.strip())
    if match is not None:
        return bytes.fromhex(match.group(1))
    token = value.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        # The message names the caller, never the token.
        raise ParameterError(
            f"The token of caller {name!r} in {source} is shorter than {MIN_TOKEN_LENGTH} "
            "characters; use a random token (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')."
        )
    return hash_token(token)


def _check_name(name: str, source: str) -> str:
    if not _NAME.fullmatch(name):
        raise ParameterError(
            f"A caller name in {source} must be 1-64 letters, digits or '_.@-'; got {name[:64]!r}."
        )
    return name


def _parse_pairs(lines: Iterable[str], source: str) -> list[tuple[str, bytes]]:
    pairs = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        if not sep or not token.strip():
            raise ParameterError(
                f"Entry {number} of {source} must look like 'name:token' (the token is not "
                "shown here)."
            )
        name = _check_name(name.strip(), source)
        pairs.append((name, _digest(token, source=source, name=name)))
    return pairs


@dataclass
class _FileTokens:
    path: Path
    stamp: tuple[int, int, int] | None = None
    pairs: tuple[tuple[str, bytes], ...] = ()


class TokenStore:
    """Every (caller name, token digest) pair from the configured sources.

    The token file is re-read when its modification time, size or inode changes, so a token is
    added or revoked by editing the file (write a new file and rename it over the old one).
    A file that disappears or turns invalid fails closed: :meth:`pairs` raises
    ParameterError (the service answers 503) until the file is fixed.
    """

    def __init__(self, config: ServiceConfig, *, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        static: list[tuple[str, bytes]] = []
        for name, value in (config.tokens or {}).items():
            _check_name(name, "tokens")
            values = [value] if isinstance(value, str) else list(value)
            static.extend((name, _digest(v, source="tokens", name=name)) for v in values)
        if config.token_env is not None:
            text = env.get(config.token_env, "")
            if not text.strip():
                raise ParameterError(
                    f"The environment variable {config.token_env!r} named by token_env is "
                    "unset or empty; set it to 'name:token' pairs separated by commas."
                )
            static.extend(_parse_pairs(text.split(","), config.token_env))
        self._static = tuple(static)
        self._file = None if config.token_file is None else _FileTokens(Path(config.token_file))
        self._lock = threading.Lock()
        if self._file is not None:
            self._reload(self._file)

    @property
    def enabled(self) -> bool:
        return bool(self._static) or self._file is not None

    def pairs(self) -> tuple[tuple[str, bytes], ...]:
        """All current pairs (re-reading the token file if it changed)."""
        if self._file is None:
            return self._static
        with self._lock:
            self._reload(self._file)
            return self._static + self._file.pairs

    def _reload(self, entry: _FileTokens) -> None:
        try:
            info = entry.path.stat()
        except OSError:
            raise ParameterError(
                f"The token file {str(entry.path)!r} cannot be read; no caller is let in."
            ) from None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == entry.stamp:
            return
        lines = entry.path.read_text(encoding="utf-8").splitlines()
        entry.pairs = tuple(_parse_pairs(lines, f"token file {str(entry.path)!r}"))
        entry.stamp = stamp

    def identify(self, token: str) -> str | None:
        """The caller name whose token this is, or None."""
        presented = hash_token(token)
        found: str | None = None
        for name, digest in self.pairs():
            # No early exit: the time taken does not depend on which entry matches.
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found


class Authenticator:
    """Answers who a request is and whether it may use a model."""

    def __init__(self, config: ServiceConfig, *, environ: Mapping[str, str] | None = None):
        self.store = TokenStore(config, environ=environ)
        self.acl = (
            None
            if config.model_acl is None
            else {k: frozenset(v) for k, v in config.model_acl.items()}
        )

    @property
    def enabled(self) -> bool:
        return self.store.enabled

    def caller(self, authorization: str | None) -> str | None:
        """The caller name for an ``Authorization`` header value, or None if not valid."""
        if authorization is None:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.store.identify(token.strip())

    def allowed(self, caller: str | None, model: str) -> bool:
        """Whether ``caller`` may use ``model`` (always, when authentication is off)."""
        if not self.enabled or self.acl is None:
            return True
        granted = self.acl.get(caller or "", frozenset())
        return "*" in granted or model in granted
