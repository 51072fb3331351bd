"""The direct path: well-formed ``:predict`` and ``:explain`` requests without FastAPI's routing.

Explaining one lead takes a fraction of a millisecond; FastAPI's per-request work around it
(routing, dependency solving, body reading, a hop to a worker thread and back) took several
times that. This layer sits inside :class:`~._http.ServiceMiddleware` (so the request id,
the token check, the body limit, metrics and the last-resort 500 are as for any request) and
serves a ``POST /v1/models/{name}:predict`` or ``:explain`` itself when its body is plain
JSON that fits ``InferenceRequest``: parsed once with :func:`json.loads` (as FastAPI does),
validated once by the compiled pydantic model, answered from :class:`~._endpoints.Endpoints`
(the same code FastAPI's handlers call) as encoded bytes.

Anything else (another path or method, an unusual content type, a body that is not JSON or
does not fit the schema) goes on to FastAPI unchanged with its body intact, so every error
answer is the one FastAPI's handlers write.

One lead is explained on the event loop's thread: a hop to a worker thread costs more than
the explanation. Should another request hold the model (a batch, in a worker thread), the
lead goes to a worker thread rather than block the loop; batches always do.

Imported by ``create_app`` only (starlette comes with fastapi, the ``service`` extra).
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from ._endpoints import BusyError, Endpoints
from ._http import ASGIApp, Message, Receive, Scope, Send, json_bytes
from ._refusals import RefusalError, refusal_body
from ._schemas import InferenceRequest

__all__ = ["DirectRoutes"]

# The routes' own pattern is '[^/]+' for the name; a name with ':' in it is left to FastAPI.
_HOT = re.compile(r"/v1/models/([^/:]+):(predict|explain)")
_JSON_TYPES = frozenset({"application/json"})


def _json_body_type(scope: Scope) -> bool:
    """Whether the request says its body is JSON (or says nothing: FastAPI reads it as JSON)."""
    value = None
    for key, raw in scope.get("headers", ()):
        if key.lower() == b"content-type":
            if value is not None:  # two content types: FastAPI decides
                return False
            value = raw
    if value is None:
        return True
    media = value.split(b";", 1)[0].strip().lower()
    return media.decode("latin-1") in _JSON_TYPES


def _parse(body: bytes) -> InferenceRequest | None:
    """The body as an ``InferenceRequest``, or None if FastAPI should answer it (an error)."""
    if not body:
        return None
    try:
        # json.loads on the bytes, as FastAPI's Request.json(): the same encodings, the same
        # NaN tokens, the same limits (a RecursionError or ValueError here is a 400 there).
        return InferenceRequest.model_validate(json.loads(body))
    except Exception:  # every refusal is written by FastAPI's handlers, on the same body
        return None


class DirectRoutes:
    """ASGI layer answering well-formed model requests from :class:`Endpoints` directly.

    Parameters
    ----------
    app : ASGI app
        The FastAPI application's inner stack, for everything else.
    endpoints : Endpoints
    """

    def __init__(self, app: ASGIApp, *, endpoints: Endpoints) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope.get("method") == "POST" and not scope.get("root_path"):
            match = _HOT.fullmatch(str(scope.get("path", "")))
        if match is None or not _json_body_type(scope):
            await self.app(scope, receive, send)
            return
        # ServiceMiddleware has read the whole body (within the limit): one message.
        message = await receive()
        body = None
        if message["type"] == "http.request" and not message.get("more_body", False):
            body = _parse(message.get("body", b""))
        if body is None:
            await self.app(scope, _replay(message, receive), send)
            return
        name, verb = match.group(1), match.group(2)
        state = scope.get("state", {})
        request_id = str(state.get("request_id", ""))
        handler = self.endpoints.explain if verb == "explain" else self.endpoints.predict
        call = partial(handler, name, body, request_id=request_id, caller=state.get("caller"))
        try:
            status, payload = await _run(call, single=len(body.instances) == 1)
        except RefusalError as exc:
            status, payload = exc.status, json_bytes(refusal_body(exc, request_id))
        # The headers Starlette's Response writes for media_type="application/json".
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(payload)).encode("latin-1")),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _run(call: Any, *, single: bool) -> tuple[int, bytes]:
    """``call`` on this thread for one lead when the model is free, else in a worker thread."""
    if single:
        try:
            result: tuple[int, bytes] = call(wait=False)
            return result
        except BusyError:
            pass  # nothing was done: run it where waiting for the model blocks no one
    threaded: tuple[int, bytes] = await run_in_threadpool(call, wait=True)
    return threaded


def _replay(message: Message, receive: Receive) -> Receive:
    """A ``receive`` that hands ``message`` over again, then defers to ``receive``."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return message

    return again
