"""The direct path (``_direct``): the answers FastAPI's routes give, without their machinery.

A body sent as ``application/vnd.api+json`` is JSON to FastAPI but not taken by the direct
path, so the same request reaches both; their answers must be the same, refusals included.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from typing import Any

import pytest

from explainscore.service import _direct
from explainscore.service._endpoints import BusyError
from explainscore.service._http import json_bytes, json_list, json_object, record_json

FASTAPI_ONLY = {"content-type": "application/vnd.api+json"}


def _without_times(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs between two calls (the time of each explanation)."""
    out = dict(body)
    if out.get("explanations"):
        out["explanations"] = [
            None if e is None else {k: v for k, v in e.items() if k != "explained_at"}
            for e in out["explanations"]
        ]
    return out


@pytest.fixture
def parsed(monkeypatch) -> list[bool]:
    """Records, per model request, whether the direct path took it (parsed its body)."""
    taken: list[bool] = []
    real = _direct._parse

    def spy(body: bytes) -> Any:
        got = real(body)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(_direct, "_parse", spy)
    return taken


def _both(client: Any, path: str, payload: Any, rid: str) -> tuple[Any, Any]:
    text = json.dumps(payload)
    direct = client.post(path, content=text, headers={"x-request-id": rid})
    routed = client.post(path, content=text, headers={**FASTAPI_ONLY, "x-request-id": rid})
    return direct, routed


@pytest.mark.parametrize("verb", ["explain", "predict"])
def test_direct_and_routed_answers_are_the_same(
    make_client, xgb_em, lead_records, parsed, verb
) -> None:
    client = make_client({"leads": xgb_em})
    names = [str(c) for c in xgb_em.feature_names_in_]
    cases = [
        {"instances": [lead_records[0]]},  # one lead: the model's fast lane
        {"instances": lead_records},  # a batch: a worker thread
        {"instances": lead_records[:2], "parameters": {"top_k": 1}},
        {"instances": [{**lead_records[0], "ssn": 1}]},  # 422, unexpected column named
        {"instances": [lead_records[0], list(lead_records[1].values())]},  # 422, a mix
        {"instances": [[1.0]]},  # 422, wrong number of values
        {"instances": [dict.fromkeys(names)]},  # every cell missing
    ]
    for i, payload in enumerate(cases):
        parsed.clear()
        direct, routed = _both(client, f"/v1/models/leads:{verb}", payload, f"case-{i}")
        assert parsed == [True]  # the first by the direct path; the second never reaches it
        assert direct.status_code == routed.status_code, payload
        assert direct.headers["content-type"] == routed.headers["content-type"]
        assert direct.headers["x-request-id"] == routed.headers["x-request-id"] == f"case-{i}"
        assert _without_times(direct.json()) == _without_times(routed.json())
    parsed.clear()
    direct, routed = _both(client, f"/v1/models/nope:{verb}", cases[0], "unknown")
    assert direct.status_code == routed.status_code == 404
    assert direct.json() == routed.json()


def test_direct_refusals_for_limits_and_readiness(make_client, xgb_em, lead_records) -> None:
    one = make_client({"leads": xgb_em}, max_instances=1)
    signed = make_client({"leads": xgb_em}, require_sign_off=True)
    for client, payload, status in (
        (one, {"instances": lead_records[:2]}, 413),
        (signed, {"instances": lead_records[:1]}, 503),
    ):
        direct, routed = _both(client, "/v1/models/leads:explain", payload, "limits")
        assert direct.status_code == routed.status_code == status
        assert direct.json() == routed.json()


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b'{"instances": ['),  # not JSON: FastAPI's 400
        ({}, b'{"instances": []}'),  # does not fit the schema: FastAPI's 422
        ({}, b""),
        ({"content-type": "text/plain"}, b'{"instances": [[1]]}'),
        ({"content-type": "application/json; charset=utf-16"}, '{"instances": 1}'.encode("utf-16")),
    ],
)
def test_bodies_the_direct_path_leaves_to_fastapi(make_client, xgb_em, headers, body) -> None:
    client = make_client({"leads": xgb_em})
    r = client.post("/v1/models/leads:explain", content=body, headers=headers)
    assert r.status_code in (400, 415, 422)
    answer = r.json()
    assert set(answer) >= {"error", "request_id"}
    assert answer["request_id"] == r.headers["x-request-id"]


def test_a_lead_waits_in_a_thread_while_the_model_is_held(xgb_em, lead_records) -> None:
    """A lead that finds the model busy is not refused and does not block the event loop:
    /healthz answers meanwhile, and the lead is answered once the model is free."""
    from explainscore.service import ServiceConfig, create_app

    app = create_app({"leads": xgb_em}, config=ServiceConfig(require_sign_off=False))
    app.middleware_stack = app.build_middleware_stack()
    layer: Any = app.middleware_stack
    for _ in range(20):  # down the middleware stack to the direct layer
        if isinstance(layer, _direct.DirectRoutes):
            break
        layer = layer.app
    lock = layer.endpoints.served["leads"].lock
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # one event loop for every request
        lock.acquire()
        answers: list[Any] = []
        thread = threading.Thread(
            target=lambda: answers.append(
                client.post("/v1/models/leads:explain", json={"instances": [lead_records[0]]})
            )
        )
        try:
            thread.start()
            time.sleep(0.3)
            assert not answers  # waiting for the model
            # The loop is free: /healthz answers while the lead waits (a thread, so a loop
            # blocked on the lock fails this test rather than hanging it).
            health: list[int] = []
            probe = threading.Thread(
                target=lambda: health.append(client.get("/healthz").status_code)
            )
            probe.start()
            probe.join(timeout=10)
            assert health == [200]
        finally:
            lock.release()
        thread.join(timeout=30)
    assert answers
    assert answers[0].status_code == 200
    assert answers[0].json()["explanations"][0]["score"] is not None


def test_run_moves_a_busy_call_to_a_thread() -> None:
    calls: list[tuple[bool, str]] = []

    def call(*, wait: bool) -> tuple[int, bytes]:
        calls.append((wait, threading.current_thread().name))
        if not wait:
            raise BusyError
        return 200, b"{}"

    loop_thread = threading.current_thread().name
    assert asyncio.run(_direct._run(call, single=True)) == (200, b"{}")
    assert calls[0] == (False, loop_thread)
    assert calls[1][0] is True
    assert calls[1][1] != loop_thread
    calls.clear()
    assert asyncio.run(_direct._run(call, single=False)) == (200, b"{}")
    assert [wait for wait, _ in calls] == [True]  # a batch never runs on the loop


def test_record_json_decodes_to_the_dumped_record(xgb_em, numeric_em, lead_records) -> None:
    records = list(xgb_em.explain(lead_records)) + list(
        numeric_em.explain(numeric_em_rows(numeric_em))
    )
    missing = dict(lead_records[0])
    missing[next(k for k, v in missing.items() if isinstance(v, float))] = math.nan
    records.append(xgb_em.explain([missing])[0])
    for record in records:
        fast = record_json(record)
        slow = json_bytes(record.model_dump(mode="json"))
        assert json.loads(fast) == json.loads(slow)
        assert b"NaN" not in fast
        assert b"Infinity" not in fast


def numeric_em_rows(em: Any) -> list[dict[str, float]]:
    names = [str(c) for c in em.feature_names_in_]
    return [dict.fromkeys(names, float(i)) for i in range(3)]


def test_json_object_is_json_bytes_of_the_decoded_value() -> None:
    inner = [b'{"a":1.5}', None]
    fields = {"name": "caf\u00e9", "n": math.inf, "items": json_list(inner), "seqs": [1, None]}
    text = json_object(fields)
    assert json.loads(text) == {"name": "caf\u00e9", "n": None, "items": [{"a": 1.5}, None],
                                "seqs": [1, None]}  # fmt: skip
    assert text == json_bytes(json.loads(text))
