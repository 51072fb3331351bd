"""The outer ASGI layer: request id, body size limit, request metrics, last-resort 500.

It sits outside FastAPI's routing and exception handling, so every answer (a 404 for an
unknown path, a 413, even a 500 from a bug) carries ``x-request-id`` and is counted. Metric
labels are bounded whatever the request says: the route template (or ``unmatched``) and the
method (one of the standard ones, or ``other``).
"""

from __future__ import annotations

import json
import logging
import math
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._gate import Gate
from ._metrics import Metrics

__all__ = [
    "METHODS",
    "REQUEST_ID_HEADER",
    "RawJSON",
    "ServiceMiddleware",
    "dumps",
    "json_bytes",
    "json_list",
    "json_object",
    "method_label",
    "record_json",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LOG = logging.getLogger("explainscore.service")

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is passed through only when it is short and plain: it is echoed in a header
# and written to the audit log, so nothing that could smuggle data or markup is kept.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _clean(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers, and a score that is not a
    number is absent, not a string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON (``allow_nan=False``) with NaN/inf as null."""
    return json.dumps(_clean(value), allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def json_bytes(value: Any) -> bytes:
    # Requests with lone surrogates are refused before anything is echoed; "replace" is the
    # last line, so an answer can never fail to encode (a 500) because of one.
    return dumps(value).encode("utf-8", errors="replace")


class RawJSON(bytes):
    """Bytes that are already one JSON value, put into :func:`json_object` as they are."""


def json_object(fields: dict[str, Any]) -> bytes:
    """A JSON object of ``fields`` in order: :class:`RawJSON` values as they are, the rest
    through :func:`json_bytes`. The same text :func:`json_bytes` makes of the decoded dict."""
    parts: list[bytes] = []
    run: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, RawJSON):
            if run:  # the plain fields before it, in one call: "{...}" without its braces
                parts.append(json_bytes(run)[1:-1])
                run = {}
            parts.append(json_bytes(key) + b":" + value)
        else:
            run[key] = value
    if run:
        parts.append(json_bytes(run)[1:-1])
    return b"{" + b",".join(parts) + b"}"


def json_list(items: list[bytes | None]) -> RawJSON:
    """A JSON array of encoded values (None is ``null``)."""
    return RawJSON(b"[" + b",".join(b"null" if i is None else i for i in items) + b"]")


def record_json(record: Any) -> RawJSON:
    """A pydantic record as JSON, encoded by pydantic itself (no dict of it first).

    pydantic writes NaN and infinity as ``null`` (its default, as :func:`dumps` does), keys in
    field order, compact, non-ASCII as UTF-8: the value :func:`json_bytes` gives for
    ``record.model_dump(mode="json")``. Floats are written shortest-round-trip by both, so they
    decode to the same numbers (an exponent may be spelt ``1e-5`` rather than ``1e-05``).
    Anything pydantic cannot encode (a lone surrogate) takes the slower path, which replaces.
    """
    try:
        return RawJSON(record.model_dump_json().encode("utf-8"))
    except (ValueError, UnicodeEncodeError):  # PydanticSerializationError is a ValueError
        return RawJSON(json_bytes(record.model_dump(mode="json")))


#: The methods that get a metric label of their own (RFC 9110 and PATCH); any other verb a
#: client makes up is counted under ``other``, so it cannot add series.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def method_label(method: Any) -> str:
    """The metric label of a request method: itself when standard, else ``"other"``."""
    return method if isinstance(method, str) and method in METHODS else "other"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


_KNOWN = re.compile(r"/v1/models/[^/:]+(:predict|:explain)?")


def _endpoint_of(path: str) -> str:
    """The route template of a request refused before routing (bounded label values)."""
    if path in ("/healthz", "/metrics", "/openapi.json", "/v1/models"):
        return path
    match = _KNOWN.fullmatch(path)
    if match is not None:
        return "/v1/models/{name}" + (match.group(1) or "")
    return "unmatched"


class _BodyTooLargeError(Exception):
    pass


class ServiceMiddleware:
    """Request id, authentication, body limit, metrics and a JSON 500 for anything unhandled.

    Parameters
    ----------
    app : ASGI app
    metrics : Metrics
    gate : Gate
        Checked before the body is read.
    max_body_bytes : int
        Bodies larger than this get 413: at once from ``Content-Length``, else while reading
        a chunked body, before any of it is parsed.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, gate: Gate, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.gate = gate
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                status["started"] = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        denial = self.gate.check(scope)
        if denial is not None:
            await _answer(send_with_id, denial.status, request_id, denial.error, denial.headers)
            self._count(scope, denial.status)
            return
        try:
            body_receive = await self._bounded(scope, receive)
        except _BodyTooLargeError:
            await _answer(send_with_id, 413, request_id, self._too_large())
        else:
            try:
                await self.app(scope, body_receive, send_with_id)
            except Exception as exc:
                # A bug, not a client mistake: say so without details (they may hold data).
                # The log gets the type and the frames, not the exception's message: messages
                # of libraries deep down may quote the request's values.
                _LOG.error(
                    "unhandled %s in request %s\n%s",
                    type(exc).__name__,
                    request_id,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                if not status["started"]:
                    await _answer(
                        send_with_id,
                        500,
                        request_id,
                        "Internal error; the request id identifies it in the server log.",
                    )
                else:
                    raise
        self._count(scope, int(status["code"]))

    def _count(self, scope: Scope, status: int) -> None:
        # The route template, not the raw path: one series per endpoint, whatever is asked.
        route = scope.get("route")
        endpoint = str(getattr(route, "path", "")) or _endpoint_of(str(scope.get("path", "")))
        self.metrics.count_request(endpoint, method_label(scope.get("method")), status)

    def _too_large(self) -> str:
        return (
            f"The request body is larger than the limit of {self.max_body_bytes} bytes; send "
            "fewer instances per request."
        )

    async def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """Read the whole body (at most the limit) and hand it on as one message."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return receive
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            raise _BodyTooLargeError
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _replay(b"", disconnected=True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return _replay(b"".join(chunks), disconnected=False)


def _replay(body: bytes, *, disconnected: bool) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent or disconnected:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _answer(
    send: Send,
    status: int,
    request_id: str,
    error: str,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    body = json_bytes({"error": error, "request_id": request_id})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of an oversized body makes the connection unusable.
                *([(b"connection", b"close")] if status == 413 else []),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
