"""An HTTP service for explained models (KServe V1 data plane; extra ``service``).

``create_app({"leads": em}, config=ServiceConfig(...))`` builds a FastAPI application with
``POST /v1/models/{name}:predict``, ``POST /v1/models/{name}:explain``,
``GET /v1/models/{name}``, ``GET /healthz`` and ``GET /metrics``; :func:`serve` runs it with
uvicorn. See docs/service.md.
"""

from __future__ import annotations

import importlib.util

from .._optional import import_optional

# Fail at import with the install hint, not later with a bare ModuleNotFoundError; fastapi
# itself is imported only when an app is built, so importing this package stays cheap.
if importlib.util.find_spec("fastapi") is None:
    import_optional("fastapi", extra="service", purpose="explainscore.service")

from ._app import create_app
from ._config import ServiceConfig
from ._serve import app_factory, serve

__all__ = ["ServiceConfig", "app_factory", "create_app", "serve"]
