"""A real uvicorn server on 127.0.0.1, hit with httpx over TCP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import TOKEN_BI, TOKEN_CRM


@pytest.fixture(scope="module")
def http(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=20) as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_predict_and_explain_over_tcp(http, numeric_rows, lead_records) -> None:
    r = http.post("/v1/models/numeric:predict", json={"instances": numeric_rows},
                  headers=_auth(TOKEN_CRM))  # fmt: skip
    assert r.status_code == 200
    assert len(r.json()["predictions"]) == len(numeric_rows)
    r = http.post("/v1/models/xgb:explain", json={"instances": lead_records[:2]},
                  headers={**_auth(TOKEN_CRM), "x-request-id": "tcp-1"})  # fmt: skip
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "tcp-1"
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert [e["status"] for e in body["explanations"]] == ["ok", "ok"]
    assert body["explanations"][0]["reason"]


def test_auth_and_acl_over_tcp(http, lead_records) -> None:
    body = {"instances": lead_records[:1]}
    assert http.post("/v1/models/xgb:explain", json=body).status_code == 401
    assert (
        http.post("/v1/models/xgb:explain", json=body, headers=_auth(TOKEN_BI)).status_code == 403
    )
    assert http.get("/healthz").json() == {"status": "ok"}


def test_oversized_and_chunked_bodies_are_413_over_tcp(http, numeric_rows) -> None:
    big = {"instances": numeric_rows * 100}
    r = http.post("/v1/models/numeric:predict", json=big, headers=_auth(TOKEN_CRM))
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:
        text = json.dumps(big).encode()
        for i in range(0, len(text), 1000):
            yield text[i : i + 1000]

    r = http.post("/v1/models/numeric:predict", content=chunks(),
                  headers={**_auth(TOKEN_CRM), "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413
    assert r.headers["x-request-id"]


def test_bad_json_and_missing_column_over_tcp(http, lead_records) -> None:
    r = http.post("/v1/models/xgb:explain", content=b'{"instances": [{',
                  headers={**_auth(TOKEN_CRM), "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 400
    rows: list[dict[str, Any]] = [dict(lead_records[0])]
    del rows[0]["industry"]
    r = http.post("/v1/models/xgb:explain", json={"instances": rows}, headers=_auth(TOKEN_CRM))
    assert r.status_code == 422
    assert r.json()["column"] == "industry"


def test_metrics_over_tcp(http, numeric_rows) -> None:
    http.post("/v1/models/numeric:explain", json={"instances": numeric_rows},
              headers=_auth(TOKEN_CRM))  # fmt: skip
    text = http.get("/metrics", headers=_auth(TOKEN_CRM)).text
    assert 'explainscore_explain_latency_seconds_count{model="numeric"}' in text
