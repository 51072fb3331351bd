"""Who may pass: the bearer-token check, run before a request body is read.

Running it ahead of FastAPI means an unauthenticated caller learns nothing from the answer
(not whether its JSON was valid, not whether a model exists) and costs no body parsing. The
ACL is checked on the model name in the path whether or not that model exists, so a 403 does
not reveal which names are served.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ParameterError
from ._auth import Authenticator

__all__ = ["Denial", "Gate"]

_MODEL_PATH = re.compile(r"/v1/models/([^/:]+)(?::[a-z]+)?")


@dataclass(frozen=True)
class Denial:
    """Why a request is refused before it reaches a handler."""

    status: int
    error: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Gate:
    """Checks ``Authorization`` and the model ACL; stores the caller in ``scope['state']``.

    Open without a token: ``/healthz``, ``/openapi.json`` and, with ``public_metrics``,
    ``/metrics``. Everything else needs a valid token when authentication is on.
    """

    def __init__(self, auth: Authenticator, *, public_metrics: bool) -> None:
        self.auth = auth
        self.open_paths = {"/healthz", "/openapi.json"}
        if public_metrics:
            self.open_paths.add("/metrics")

    def check(self, scope: MutableMapping[str, Any]) -> Denial | None:
        path = str(scope.get("path", ""))
        state = scope.setdefault("state", {})
        state["caller"] = None
        if not self.auth.enabled or path in self.open_paths:
            return None
        header = None
        for key, value in scope.get("headers", ()):
            if key.lower() == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            caller = self.auth.caller(header)
        except ParameterError:
            # A token file that vanished or broke: fail closed, and say it is the server's.
            return Denial(503, "Authentication is unavailable (the token source cannot be read).")
        if caller is None:
            return Denial(
                401,
                "A valid bearer token is required: send 'Authorization: Bearer <token>'.",
                ((b"www-authenticate", b'Bearer realm="explainscore"'),),
            )
        state["caller"] = caller
        match = _MODEL_PATH.fullmatch(path)
        if match is not None and not self.auth.allowed(caller, match.group(1)):
            return Denial(403, f"Caller {caller!r} is not allowed to use this model.")
        return None
