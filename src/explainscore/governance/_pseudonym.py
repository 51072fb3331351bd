"""Keyed pseudonyms for lead ids: the audit log never stores a raw id unless told to.

``pseudonym = "hmac-sha256:" + key_id + ":" + HMAC-SHA256(key, utf8(str(lead_id))).hex()``

The key lives outside the log (bytes in the caller's secret store, or an environment
variable). Without the key a pseudonym cannot be linked back to a lead, nor can a guessed id
be confirmed, which a plain hash would allow. ``key_id`` (16 hex digits of a hash of the key)
tells which key made a pseudonym, so a subject-access request made with the wrong key after a
rotation can be noticed instead of answering "no records".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid
from typing import Any

from ..exceptions import ParameterError

__all__ = ["MIN_KEY_BYTES", "Pseudonymizer", "lead_text", "resolve_key"]

MIN_KEY_BYTES = 16
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def resolve_key(key: bytes | str | None) -> bytes | None:
    """The key bytes: ``bytes`` as given, or ``str`` naming an environment variable whose
    value (UTF-8) is the key.

    Raises
    ------
    ParameterError
        Wrong type, unset variable or a key shorter than 16 bytes. The message never holds the
        key; it names the variable only when the text looks like a variable name (someone
        passing the key itself as text must not see it echoed into a log).
    """
    if key is None:
        return None
    if isinstance(key, bytes | bytearray):
        raw = bytes(key)
    elif isinstance(key, str):
        if not _ENV_NAME.fullmatch(key):
            raise ParameterError(
                "pseudonym_key must be bytes, or the name of an environment variable holding "
                "the key; the text given is not a variable name."
            )
        value = os.environ.get(key)
        if not value:
            raise ParameterError(
                f"pseudonym_key names the environment variable {key!r}, which is not set."
            )
        raw = value.encode("utf-8")
    else:
        raise ParameterError(
            f"pseudonym_key must be bytes or an environment variable name, not "
            f"{type(key).__name__}."
        )
    if len(raw) < MIN_KEY_BYTES:
        raise ParameterError(
            f"pseudonym_key is too short: use at least {MIN_KEY_BYTES} random bytes "
            "(32 recommended)."
        )
    return raw


def lead_text(lead_id: Any) -> str:
    """The text a lead id is hashed as: ``str`` as is, ``int`` and ``UUID`` via ``str()``."""
    if isinstance(lead_id, bool) or not isinstance(lead_id, str | int | uuid.UUID):
        raise ParameterError(f"lead_id must be a str, int or UUID, not {type(lead_id).__name__}.")
    text = str(lead_id)
    if not text:
        raise ParameterError("lead_id must not be empty.")
    return text


class Pseudonymizer:
    """HMAC-SHA256 pseudonyms under one key.

    Parameters
    ----------
    key : bytes
        At least 16 bytes; keep it out of the log and out of the code.
    """

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ParameterError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes.")
        self._key = key
        self.key_id = hashlib.sha256(b"explainscore.pseudonym.key-id\0" + key).hexdigest()[:16]

    def __call__(self, lead_id: Any) -> str:
        """The pseudonym of ``lead_id``."""
        mac = hmac.new(self._key, lead_text(lead_id).encode("utf-8"), hashlib.sha256)
        return f"hmac-sha256:{self.key_id}:{mac.hexdigest()}"

    def __repr__(self) -> str:
        # Never the key itself: reprs end up in tracebacks and logs.
        return f"Pseudonymizer(key_id={self.key_id!r})"
