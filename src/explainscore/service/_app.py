"""The FastAPI application: KServe V1 predict/explain, model status, health, metrics.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at
run time to inject ``Request`` and parse bodies, and those names are local to create_app
because fastapi is imported only when an app is built.
"""

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
from ._metrics import CONTENT_TYPE, Metrics
from ._schemas import (
    ErrorBody,
    ExplainResponse,
    InferenceRequest,
    ModelList,
    ModelStatus,
    PredictResponse,
)
from ._scoring import model_version, score_rows

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


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
        em._engine()  # build now: a model that cannot be explained fails at start, not later
        served[name] = _Served(name, em)
    return served


def _input_refusal(exc: InputError) -> _RefusalError:
    extra: dict[str, Any] = {}
    if isinstance(exc, ColumnTypeError | NonFiniteValueError):
        extra["column"] = exc.column
    if isinstance(exc, MissingColumnError | UnexpectedColumnError):
        extra["columns"] = exc.columns
        extra["column"] = exc.columns[0] if exc.columns else None
    # explainscore's messages name columns and positions, never values.
    return _RefusalError(422, str(exc), **extra)


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

    from .._version import __version__

    if not isinstance(config, ServiceConfig):
        raise ParameterError("The 'config' parameter of create_app must be a ServiceConfig.")
    served = _check_models(models)
    auth = Authenticator(config)
    metrics = Metrics()

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
        code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422, 503)
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
            loc = [str(p) for p in err.get("loc", ()) if p != "body"]
            if err.get("type") == "json_invalid":
                malformed = True
                where = ".".join(loc)
                problems.append({"field": "body", "problem": f"invalid JSON at position {where}"})
            else:
                problems.append({"field": ".".join(loc) or "body", "problem": str(err["msg"])})
        status = 400 if malformed else 422
        error = "The body is not valid JSON." if malformed else "The body does not fit the schema."
        body = {"error": error, "request_id": request_id(request), "problems": problems[:20]}
        return answer(request, status, body)

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        body = {"error": "Not found.", "request_id": request_id(request)}
        return answer(request, 404, body)

    @app.exception_handler(405)
    async def _bad_method(request: Request, exc: Exception) -> Response:
        body = {"error": "Method not allowed.", "request_id": request_id(request)}
        return answer(request, 405, body)

    def lookup(name: str) -> _Served:
        entry = served.get(name)
        if entry is None:
            raise _RefusalError(404, "No model of that name is served; GET /v1/models lists them.")
        return entry

    def readiness(entry: _Served) -> tuple[str, str | None]:
        em = entry.em
        if em.kill_switch is not None:
            state = em.kill_switch.state()
            if state.engaged:
                why = f"{state.source}: {state.reason}" if state.reason else state.source
                return "paused", f"Scoring is paused by the kill switch ({why})."
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

    def governed(call: Any) -> Any:
        try:
            return call()
        except ScoringPausedError as exc:
            raise _RefusalError(503, str(exc), model_status="paused") from None
        except NotSignedOffError as exc:
            raise _RefusalError(503, str(exc), model_status="not_signed_off") from None
        except PolicyViolationError as exc:
            raise _RefusalError(422, str(exc)) from None
        except InputError as exc:
            raise _input_refusal(exc) from None
        except ParameterError as exc:
            raise _RefusalError(422, str(exc)) from None
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

    @app.get("/healthz", summary="Liveness: the process answers.")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", summary="Prometheus metrics (text exposition format).")
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
            features=[str(c) for c in em.feature_names_in_],
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
                one = governed(lambda: em._score_fast(body.instances[0]))
            if one is not None:
                metrics.count_rows(name, "predicted", 1)
                out = {
                    "model_name": name,
                    "model_version": model_version(em),
                    "request_id": request_id(request),
                    "predictions": [one],
                    "rejected": [],
                }
                return answer(request, 200, out)
        frame = _frame(body, [str(c) for c in em.feature_names_in_])
        with entry.lock:
            scored = governed(lambda: score_rows(em, frame))
        predictions: list[float | None] = [None] * len(frame)
        for pos, score in zip(scored.positions, scored.scores, strict=True):
            predictions[pos] = score
        metrics.count_rows(name, "predicted", len(scored.positions))
        metrics.count_rows(name, "rejected", len(scored.rejected))
        out = {
            "model_name": name,
            "model_version": model_version(em),
            "request_id": request_id(request),
            "predictions": predictions,
            "rejected": [r.model_dump() for r in scored.rejected],
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
                one = governed(lambda: em._explain_fast(body.instances[0], top_k=top_k))
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
                    "audit_seqs": None,
                }
                return answer(request, 200, out)
        frame = _frame(body, [str(c) for c in em.feature_names_in_])
        with entry.lock:
            batch = governed(
                lambda: em.explain(
                    frame, top_k=top_k, on_error="skip", actor=caller, request_id=rid
                )
            )
        metrics.observe_explain(name, time.perf_counter() - start)
        if batch.status == "paused":  # the switch flipped between the check and the call
            raise _RefusalError(503, f"{batch.reasons[0]}", model_status="paused")
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
            "rejected": [r.model_dump() for r in batch.rejected],
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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
