"""Models, tokens and clients for the HTTP service tests (skipped without fastapi)."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

_HAVE = all(importlib.util.find_spec(m) is not None for m in ("fastapi", "uvicorn", "httpx"))
# Without the [service] extra only the test of the missing-dependency error runs.
collect_ignore_glob = [] if _HAVE else ["test_app*.py", "test_auth*.py", "test_server*.py",
                                        "test_fuzz*.py", "test_serve*.py"]  # fmt: skip

TOKEN_CRM = "crm-token-0123456789abcdef"
TOKEN_CRM_NEXT = "crm-token-next-0123456789abcdef"
TOKEN_BI = "bi-token-0123456789abcdef"


@pytest.fixture(scope="session")
def numeric_em(leads_numeric: tuple[pd.DataFrame, pd.Series]) -> Any:
    """LogisticRegression on the numeric lead columns (rows may be sent as arrays)."""
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel

    X, y = leads_numeric
    return ExplainedModel(LogisticRegression(max_iter=1000), top_k=3).fit(X, y)


@pytest.fixture(scope="session")
def xgb_em(leads: tuple[pd.DataFrame, pd.Series]) -> Any:
    """An XGBoost pipeline (one-hot text columns) on all lead columns; takes NaN."""
    from explainscore import ExplainedModel
    from explainscore._demo import build_pipeline

    X, y = leads
    return ExplainedModel(build_pipeline(X, n_estimators=30), top_k=3).fit(X, y)


@pytest.fixture(scope="session")
def lead_records(leads: tuple[pd.DataFrame, pd.Series]) -> list[dict[str, Any]]:
    X, _ = leads
    return [{k: _plain(v) for k, v in row.items()} for row in X.head(5).to_dict("records")]


@pytest.fixture(scope="session")
def numeric_rows(leads_numeric: tuple[pd.DataFrame, pd.Series]) -> list[list[float]]:
    X, _ = leads_numeric
    return X.head(4).to_numpy(dtype=float).tolist()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@pytest.fixture
def make_client() -> Callable[..., Any]:
    """Build a TestClient for ``models`` with ServiceConfig(**settings)."""
    from fastapi.testclient import TestClient

    from explainscore.service import ServiceConfig, create_app

    def make(models: dict[str, Any], **settings: Any) -> Any:
        settings.setdefault("require_sign_off", False)
        app = create_app(models, config=ServiceConfig(**settings))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # starlette's httpx notice
            return TestClient(app)

    return make


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(numeric_em: Any, xgb_em: Any) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 (a thread of this session), with two tokens."""
    import uvicorn

    from explainscore.service import ServiceConfig, create_app

    config = ServiceConfig(
        tokens={"crm": TOKEN_CRM, "bi": TOKEN_BI},
        model_acl={"crm": ["*"], "bi": ["numeric"]},
        require_sign_off=False,
        max_body_bytes=4096,
    )
    app = create_app({"numeric": numeric_em, "xgb": xgb_em}, config=config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
