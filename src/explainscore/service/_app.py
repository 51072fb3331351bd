"""The FastAPI application: KServe V1 predict/explain, model status, health, metrics.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at
run time to inject ``Request`` and parse bodies, and those names are local to create_app
because fastapi is imported only when an app is built.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._optional import import_optional
from ..exceptions import ParameterError
from ._auth import Authenticator
from ._config import ServiceConfig
from ._endpoints import Endpoints, check_models
from ._gate import Gate
from ._http import ServiceMiddleware, json_bytes
from ._logging import install_access_log_redaction
from ._metrics import CONTENT_TYPE, Metrics
from ._refusals import RefusalError, location, refusal_body
from ._schemas import (
    ErrorBody,
    ExplainResponse,
    InferenceRequest,
    ModelList,
    ModelStatus,
    PredictResponse,
)
from ._scoring import model_version, shown_name

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]

#: The answer to a refusal raised by Starlette/FastAPI themselves, by status.
_HTTP_ERRORS = {
    400: "The body is not valid JSON (or cannot be read as UTF-8 text).",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    415: "Unsupported media type; send application/json.",
}


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
    from ._direct import DirectRoutes

    served = check_models(models)
    auth = Authenticator(config)
    metrics = Metrics()
    endpoints = Endpoints(served, config=config, metrics=metrics)
    install_access_log_redaction()

    app = FastAPI(
        title="explainscore",
        version=__version__,
        description="Scores and explanations of leads (KServe V1 data plane).",
        # The interactive pages load scripts from a CDN; the document itself is enough.
        docs_url=None,
        redoc_url=None,
    )
    # Added first, so it runs inside ServiceMiddleware (the last added is the outermost).
    app.add_middleware(DirectRoutes, endpoints=endpoints)
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

    @app.exception_handler(RefusalError)
    async def _refused(request: Request, exc: RefusalError) -> Response:
        return answer(request, exc.status, refusal_body(exc, request_id(request)))

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
                problems.append({"field": location(loc) or "body", "problem": problem})
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
        entry = endpoints.lookup(name)
        status, reason = endpoints.readiness(entry)
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

    @app.post(
        "/v1/models/{name}:predict",
        response_model=PredictResponse,
        responses=errors,
        summary="Scores of the instances.",
    )
    def predict(name: str, body: InferenceRequest, request: Request) -> Response:
        # Reached for bodies the direct path leaves to FastAPI (see _direct); same answer.
        caller = request.scope["state"].get("caller")
        status, payload = endpoints.predict(
            name, body, request_id=request_id(request), caller=caller
        )
        return Response(payload, status_code=status, media_type="application/json")

    @app.post(
        "/v1/models/{name}:explain",
        response_model=ExplainResponse,
        responses=errors,
        summary="Scores, attributions, reasons and next best actions of the instances.",
    )
    def explain(name: str, body: InferenceRequest, request: Request) -> Response:
        caller = request.scope["state"].get("caller")
        status, payload = endpoints.explain(
            name, body, request_id=request_id(request), caller=caller
        )
        return Response(payload, status_code=status, media_type="application/json")

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
