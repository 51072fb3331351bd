"""The FastAPI application: KServe V1 predict/explain, model status, health, metrics.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at
run time to inject ``Request`` and parse bodies, and those names are local to create_app
because fastapi is imported only when an app is built.
"""

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._optional import import_optional
from ..exceptions import (
    AuditLogError,
    ColumnTypeError,
    ExplanationError,
    InputError,
    MissingColumnError,
    NonFiniteValueError,
    NotSignedOffError,
    ParameterError,
    PolicyViolationError,
    ScoringPausedError,
    UnexpectedColumnError,
)
from ._auth import Authenticator
from ._config import ServiceConfig
from ._gate import Gate
from ._http import ServiceMiddleware, json_bytes
from ._logging import install_access_log_redaction
from ._metrics import CONTENT_TYPE, Metrics
from ._schemas import (
    ErrorBody,
    ExplainResponse,
    InferenceRequest,
    ModelList,
    ModelStatus,
    PredictResponse,
)
from ._scoring import (
    HIDDEN,
    audit_predictions,
    hidden_columns,
    kill_state,
    model_version,
    score_rows,
    shown_name,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]

_LOG = logging.getLogger("explainscore.service")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
#: Parts of a validation error's location that are the schema's own names; anything else in a
#: location (a key the caller made up) is shown as '*', never echoed.
_SCHEMA_FIELDS = frozenset({"instances", "parameters", "top_k"})
#: An unexpected column the caller sent is named back only when it looks like a column name
#: (no markup, no control characters, not a paragraph); otherwise it is this.
_PLAIN_KEY = re.compile(r"[\w .-]{1,64}")
_NOT_SHOWN = "a column whose name is not shown"
#: The answer to a refusal raised by Starlette/FastAPI themselves, by status.
_HTTP_ERRORS = {
    400: "The body is not valid JSON (or cannot be read as UTF-8 text).",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    415: "Unsupported media type; send application/json.",
}


class _RefusalError(Exception):
    """An answer other than 200, raised inside a handler and rendered by one handler."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.extra = extra


@dataclass
class _Served:
    name: str
    em: Any
    # Columns the model hides (catalog or policy): never named in an HTTP body.
    hidden: frozenset[str] = frozenset()
    # ExplainedModel does not promise thread safety; one explanation at a time per model and
    # process, and more throughput from more worker processes.
    lock: threading.Lock = field(default_factory=threading.Lock)


def _check_models(models: Mapping[str, Any]) -> dict[str, _Served]:
    from .._model import ExplainedModel

    if not isinstance(models, Mapping) or not models:
        raise ParameterError(
            "The 'models' parameter of create_app must be a non-empty mapping of name -> "
            "ExplainedModel."
        )
    served = {}
    for name, em in models.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ParameterError(
                f"Model name {name!r} cannot be used in a URL: use 1-128 letters, digits or '_.-'."
            )
        if not isinstance(em, ExplainedModel):
            raise ParameterError(
                f"The model {name!r} passed to create_app must be an ExplainedModel; got "
                f"{type(em).__name__}."
            )
        # Build now, the one-lead lane included: a model that cannot be explained fails at
        # start, and the first request does not pay for the lane's checks.
        _ = em._engine().lane
        served[name] = _Served(name, em, hidden=hidden_columns(em))
    return served


def _input_refusal(exc: InputError, hidden: frozenset[str]) -> _RefusalError:
    extra: dict[str, Any] = {}
    # The exception's attributes already say "a hidden column" for a hidden one (the model's
    # errors promise it); the model's hidden set is applied again here, so a body cannot name
    # one whatever the exception carries.
    if isinstance(exc, ColumnTypeError | NonFiniteValueError):
        extra["column"] = shown_name(exc.column, hidden)
    if isinstance(exc, MissingColumnError | UnexpectedColumnError):
        columns = [shown_name(c, hidden) for c in exc.columns]
        if isinstance(exc, UnexpectedColumnError):
            # These names are the caller's keys: shown back only when they are plain names.
            columns = [c if _PLAIN_KEY.fullmatch(c) else _NOT_SHOWN for c in columns]
            extra["columns"] = columns
            extra["column"] = columns[0] if columns else None
            return _RefusalError(
                422,
                f"{len(columns)} column(s) of the instances are not columns the model was "
                f"built on ({', '.join(_quoted(c) for c in columns[:10])}); drop them (keep "
                "identifiers in your own index). GET /v1/models/{name} lists the columns.",
                **extra,
            )
        extra["columns"] = columns
        extra["column"] = columns[0] if columns else None
    # explainscore's messages name columns and positions, never values.
    return _RefusalError(422, _unnamed(str(exc), hidden), **extra)


def _quoted(column: str) -> str:
    return column if column in (HIDDEN, _NOT_SHOWN) else repr(column)


def _unnamed(message: str, hidden: frozenset[str]) -> str:
    """``message`` with any quoted hidden column name replaced by "a hidden column"."""
    for name in hidden:
        for quoted in (repr(name), f'"{name}"'):
            message = message.replace(quoted, HIDDEN)
    return message


def _location(loc: Any) -> str:
    """A validation error's location, with what the caller wrote (keys) replaced by '*'."""
    parts = []
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int) or part in _SCHEMA_FIELDS:
            parts.append(str(part))
        else:
            parts.append("*")
    return ".".join(parts)


def _rejected(row: Any, hidden: frozenset[str]) -> dict[str, Any]:
    """A rejected row as answered: its column shown only when it is not hidden."""
    out: dict[str, Any] = row.model_dump()
    out["column"] = shown_name(out.get("column"), hidden)
    out["problem"] = _unnamed(str(out.get("problem", "")), hidden)
    return out


def _frame(body: InferenceRequest, names: list[str]) -> pd.DataFrame:
    """The instances as a frame indexed by position; column problems left to the model."""
    instances = body.instances
    records = [isinstance(i, dict) for i in instances]
    if all(records):
        return pd.DataFrame(instances, index=range(len(instances)))
    if any(records):
        raise _RefusalError(
            422,
            "Instances must all be records (objects) or all rows (arrays), not a mix.",
            problems=[{"field": "instances", "problem": "mixes records and rows"}],
        )
    for i, row in enumerate(instances):
        if len(row) != len(names):
            raise _RefusalError(
                422,
                f"Instance {i} has {len(row)} values, but the model takes {len(names)} columns "
                "(their order is listed by GET /v1/models/{name}).",
                problems=[{"field": f"instances.{i}", "problem": "wrong number of values"}],
            )
    return pd.DataFrame(instances, columns=names, index=range(len(instances)))


def create_app(models: Mapping[str, Any], *, config: ServiceConfig) -> "FastAPI":
    """Build the HTTP application serving ``models``.

    Parameters
    ----------
    models : mapping of str to ExplainedModel
        The models, by the name used in URLs (``/v1/models/{name}:explain``).
    config : ServiceConfig
        Authentication, ACL, sign-off requirement and request limits.

    Returns
    -------
    FastAPI
        An ASGI application; run it with uvicorn (:func:`serve` does) or test it with
        ``fastapi.testclient.TestClient``.
    """
    import_optional("fastapi", extra="service", purpose="explainscore.service")
    from fastapi import FastAPI, Request, Response
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from .._version import __version__

    if not isinstance(config, ServiceConfig):
        raise ParameterError("The 'config' parameter of create_app must be a ServiceConfig.")
    served = _check_models(models)
    auth = Authenticator(config)
    metrics = Metrics()
    install_access_log_redaction()

    app = FastAPI(
        title="explainscore",
        version=__version__,
        description="Scores and explanations of leads (KServe V1 data plane).",
        # The interactive pages load scripts from a CDN; the document itself is enough.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        gate=Gate(auth, public_metrics=config.public_metrics),
        max_body_bytes=config.max_body_bytes,
    )
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (400, 401, 403, 404, 405, 413, 422, 500, 503)
    }

    def request_id(request: Request) -> str:
        return str(request.scope.get("state", {}).get("request_id", ""))

    def answer(request: Request, status: int, body: dict[str, Any]) -> Response:
        return Response(json_bytes(body), status_code=status, media_type="application/json")

    @app.exception_handler(_RefusalError)
    async def _refused(request: Request, exc: _RefusalError) -> Response:
        body = {"error": exc.error, "request_id": request_id(request)}
        body.update({k: v for k, v in exc.extra.items() if v is not None})
        return answer(request, exc.status, body)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes the offending input; this one names the place only.
        problems = []
        malformed = False
        for err in exc.errors():
            loc = err.get("loc", ())
            if err.get("type") == "json_invalid":
                malformed = True
                where = ".".join(str(p) for p in loc if isinstance(p, int))
                problems.append({"field": "body", "problem": f"invalid JSON at position {where}"})
            else:
                # pydantic's messages state the rule broken, not the input (which is dropped).
                problem = str(err.get("msg", "invalid"))[:300]
                problems.append({"field": _location(loc) or "body", "problem": problem})
        status = 400 if malformed else 422
        error = "The body is not valid JSON." if malformed else "The body does not fit the schema."
        body = {"error": error, "request_id": request_id(request), "problems": problems[:20]}
        return answer(request, status, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Raised by routing (404, 405) and by FastAPI's body reading (400 for a body that
        # json cannot parse: too deep, an integer of over 4300 digits, bytes that are not
        # UTF-8). Their own 'detail' bodies do not follow ErrorBody; these do.
        status = exc.status_code if 400 <= exc.status_code < 600 else 400
        error = _HTTP_ERRORS.get(status, "The request cannot be served.")
        body: dict[str, Any] = {"error": error, "request_id": request_id(request)}
        if status == 400:
            body["problems"] = [{"field": "body", "problem": "cannot be parsed as JSON"}]
        response = answer(request, status, body)
        for key, value in (exc.headers or {}).items():
            if key.lower() == "allow":  # 405: the methods this path takes
                response.headers[key] = value
        return response

    def lookup(name: str) -> _Served:
        entry = served.get(name)
        if entry is None:
            raise _RefusalError(404, "No model of that name is served; GET /v1/models lists them.")
        return entry

    def readiness(entry: _Served) -> tuple[str, str | None]:
        em = entry.em
        # The model's own switch and the process-wide one (EXPLAINSCORE_KILL_SWITCH and the
        # file named by EXPLAINSCORE_KILL_SWITCH_FILE), read on every request.
        kill = kill_state(em)
        if kill.engaged:
            return "paused", f"Scoring is paused by the kill switch ({kill.why})."
        if config.require_sign_off and not em.signed_off_:
            return "not_signed_off", (
                "The model is not signed off on its model card; the service requires a "
                "sign-off (ServiceConfig.require_sign_off)."
            )
        return "ready", None

    def require_ready(entry: _Served) -> None:
        status, reason = readiness(entry)
        if reason is not None:
            raise _RefusalError(503, reason, model_status=status)

    def governed(entry: _Served, call: Any) -> Any:
        hidden = entry.hidden
        try:
            return call()
        except ScoringPausedError as exc:
            raise _RefusalError(503, _unnamed(str(exc), hidden), model_status="paused") from None
        except NotSignedOffError as exc:
            message = _unnamed(str(exc), hidden)
            raise _RefusalError(503, message, model_status="not_signed_off") from None
        except PolicyViolationError as exc:
            raise _RefusalError(422, _unnamed(str(exc), hidden)) from None
        except InputError as exc:
            raise _input_refusal(exc, hidden) from None
        except ParameterError as exc:
            raise _RefusalError(422, _unnamed(str(exc), hidden)) from None
        except ExplanationError:
            # Attributions that do not add up to the score: seen for finite values so extreme
            # (1.8e308) that the model's arithmetic overflows. Nothing is answered rather than
            # an inexact explanation; the log keeps the type, not the values.
            # Logged as an error: the same exception also reports a bug of an explainer.
            _LOG.error("explanation refused as not exact (model %s)", entry.name)
            raise _RefusalError(
                422,
                "The instances cannot be explained exactly (an extreme value may overflow "
                "the model's arithmetic); check that every value is within a plausible range.",
            ) from None
        except AuditLogError:
            # Nothing leaves without its audit record: refuse rather than answer unrecorded.
            message = "The audit log cannot be written; no result is returned."
            raise _RefusalError(503, message) from None

    def check_size(body: InferenceRequest) -> None:
        if len(body.instances) > config.max_instances:
            raise _RefusalError(
                413,
                f"{len(body.instances)} instances exceed the limit of {config.max_instances} "
                "per request; split the batch.",
            )

    @app.get("/healthz", responses=errors, summary="Liveness: the process answers.")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/metrics",
        responses={
            **errors,
            200: {
                "description": "Prometheus text exposition format (version 0.0.4).",
                "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
            },
        },
        response_class=Response,
        summary="Prometheus metrics (text exposition format).",
    )
    def metrics_text() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models", response_model=ModelList, responses=errors, summary="List models.")
    def list_models(request: Request) -> Response:
        caller = request.scope["state"].get("caller")
        names = [n for n in served if auth.allowed(caller, n)]
        return answer(request, 200, {"models": names})

    def status_of(request: Request, name: str) -> Response:
        entry = lookup(name)
        status, reason = readiness(entry)
        em = entry.em
        body = ModelStatus(
            name=name,
            ready=reason is None,
            status=status,  # type: ignore[arg-type]
            reason=reason,
            model_version=model_version(em),
            model_fingerprint=str(em.model_fingerprint_),
            signed_off=bool(em.signed_off_),
            features=[shown_name(c, entry.hidden) for c in em.feature_names_in_],
        ).model_dump(mode="json")
        # 503 when not ready, so a readiness probe can use the status code alone.
        return answer(request, 200 if reason is None else 503, body)

    def ready_entry(name: str, body: InferenceRequest) -> _Served:
        """The model entry, checked: it exists, the body is not too large, it is ready."""
        entry = lookup(name)
        check_size(body)
        require_ready(entry)
        return entry

    @app.post(
        "/v1/models/{name}:predict",
        response_model=PredictResponse,
        responses=errors,
        summary="Scores of the instances.",
    )
    def predict(name: str, body: InferenceRequest, request: Request) -> Response:
        entry = ready_entry(name, body)
        em = entry.em
        if len(body.instances) == 1:
            # One lead: scored by the fast lane when it can vouch for the row, so a score
            # here is the one :explain reports for it.
            with entry.lock:
                one = governed(entry, lambda: em._score_fast(body.instances[0]))
            if one is not None:
                metrics.count_rows(name, "predicted", 1)
                out = {
                    "model_name": name,
                    "model_version": model_version(em),
                    "request_id": request_id(request),
                    "predictions": [one],
                    "rejected": [],
                    "audit_seqs": None,  # the lane takes no model with an audit log
                }
                return answer(request, 200, out)
        frame = _frame(body, [str(c) for c in em.feature_names_in_])
        rid = request_id(request)
        caller = request.scope["state"].get("caller")
        with entry.lock:
            # Scoring goes through the engine, not em.predict: the switch is checked here
            # again, right before the scores are made (it may have flipped since the check).
            require_ready(entry)
            scored = governed(entry, lambda: score_rows(em, frame))
            # Nothing leaves without its audit record, as for :explain.
            audit = governed(
                entry, lambda: audit_predictions(em, scored, actor=caller, request_id=rid)
            )
        predictions: list[float | None] = [None] * len(frame)
        seqs: list[int | None] = [None] * len(frame)
        for pos, score, seq in zip(scored.positions, scored.scores, audit, strict=True):
            predictions[pos] = score
            seqs[pos] = seq
        metrics.count_rows(name, "predicted", len(scored.positions))
        metrics.count_rows(name, "rejected", len(scored.rejected))
        out = {
            "model_name": name,
            "model_version": model_version(em),
            "request_id": rid,
            "predictions": predictions,
            "rejected": [_rejected(r, entry.hidden) for r in scored.rejected],
            "audit_seqs": seqs if em.audit_log is not None else None,
        }
        return answer(request, 200, out)

    @app.post(
        "/v1/models/{name}:explain",
        response_model=ExplainResponse,
        responses=errors,
        summary="Scores, attributions, reasons and next best actions of the instances.",
    )
    def explain(name: str, body: InferenceRequest, request: Request) -> Response:
        entry = ready_entry(name, body)
        em = entry.em
        top_k = body.parameters.top_k if body.parameters is not None else None
        rid = request_id(request)
        caller = request.scope["state"].get("caller")
        start = time.perf_counter()
        if len(body.instances) == 1:
            # One lead: the model's fast lane when it can vouch for the row (no pandas); it
            # returns None for anything it leaves to the batch path's checks.
            with entry.lock:
                one = governed(
                    entry,
                    lambda: em._explain_fast(
                        body.instances[0], top_k=top_k, actor=caller, request_id=rid
                    ),
                )
            if one is not None:
                metrics.observe_explain(name, time.perf_counter() - start)
                metrics.count_rows(name, "explained", 1)
                metrics.count_rows(name, "rejected", 0)
                out = {
                    "model_name": name,
                    "model_version": one.model_version,
                    "request_id": rid,
                    "explanations": [one.model_dump(mode="json")],
                    "rejected": [],
                    "audit_seqs": [one.audit_seq] if em.audit_log is not None else None,
                }
                return answer(request, 200, out)
        frame = _frame(body, [str(c) for c in em.feature_names_in_])
        with entry.lock:
            require_ready(entry)  # the switch may have flipped while the lock was awaited
            batch = governed(
                entry,
                lambda: em.explain(
                    frame, top_k=top_k, on_error="skip", actor=caller, request_id=rid
                ),
            )
        metrics.observe_explain(name, time.perf_counter() - start)
        if batch.status == "paused":  # the switch flipped between the check and the call
            reason = _unnamed(str(batch.reasons[0]), entry.hidden)
            raise _RefusalError(503, reason, model_status="paused")
        explanations: list[dict[str, Any] | None] = [None] * len(frame)
        seqs: list[int | None] = [None] * len(frame)
        for pos, record in zip(batch.data.index, batch, strict=True):
            explanations[int(pos)] = record.model_dump(mode="json")
            seqs[int(pos)] = record.audit_seq
        metrics.count_rows(name, "explained", len(batch))
        metrics.count_rows(name, "rejected", len(batch.rejected))
        out = {
            "model_name": name,
            "model_version": batch.model_version,
            "request_id": rid,
            "explanations": explanations,
            "rejected": [_rejected(r, entry.hidden) for r in batch.rejected],
            "audit_seqs": seqs if em.audit_log is not None else None,
        }
        return answer(request, 200, out)

    # Declared after the :predict and :explain routes, whose paths it would also match.
    app.get(
        "/v1/models/{name}",
        response_model=ModelStatus,
        responses=errors,
        summary="Model status: ready, version, fingerprint, sign-off, input columns.",
    )(status_of)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            if auth.enabled:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer"}
                }
                schema["security"] = [{"bearer": []}]
                # The endpoints the gate opens without a token say so, per operation.
                open_paths = {"/healthz", "/openapi.json"}
                if config.public_metrics:
                    open_paths.add("/metrics")
                for path, item in schema.get("paths", {}).items():
                    if path in open_paths:
                        for operation in item.values():
                            operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
