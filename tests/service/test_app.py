"""The service through FastAPI's TestClient: shapes, errors, kill switch, sign-off, metrics."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from explainscore.governance import KillSwitch

SECRET = "Zebra-Confidential-4242"


def test_explain_records_and_rows_agree(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})
    names = [str(c) for c in numeric_em.feature_names_in_]
    records = [dict(zip(names, row, strict=True)) for row in numeric_rows]
    by_rows = client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
    by_records = client.post("/v1/models/leads:explain", json={"instances": records})
    assert by_rows.status_code == by_records.status_code == 200
    a, b = by_rows.json(), by_records.json()
    assert [e["score"] for e in a["explanations"]] == [e["score"] for e in b["explanations"]]
    expected = numeric_em.explain(records)
    assert [e["score"] for e in a["explanations"]] == pytest.approx(list(expected.scores))
    first = a["explanations"][0]
    for key in ("score", "band", "attributions", "reason", "reason_codes", "next_best_action",
                "review_reasons", "status", "audit_seq"):  # fmt: skip
        assert key in first
    assert a["model_version"] == expected.model_version
    assert a["rejected"] == []
    assert a["audit_seqs"] is None  # no audit log on this model


def test_predict_matches_explain_scores(make_client, xgb_em, lead_records) -> None:
    client = make_client({"leads": xgb_em})
    pred = client.post("/v1/models/leads:predict", json={"instances": lead_records})
    assert pred.status_code == 200
    body = pred.json()
    assert body["predictions"] == pytest.approx(list(xgb_em.explain(lead_records).scores))
    assert body["model_name"] == "leads"
    assert body["request_id"] == pred.headers["x-request-id"]


def test_one_instance_takes_the_fast_lane_with_the_batch_record(
    make_client, xgb_em, lead_records
) -> None:
    """A one-instance request is answered by the model's single-lead lane (compiled
    preprocessing): the same record as the batch path, and :predict gives :explain's score."""
    assert xgb_em.engine_.lane is not None
    client = make_client({"leads": xgb_em})
    batch = xgb_em.explain(lead_records)
    for i, record in enumerate(lead_records[:3]):
        assert xgb_em.engine_.lane.accept(record) is not None
        one = client.post("/v1/models/leads:explain", json={"instances": [record]}).json()
        got = one["explanations"][0]
        expected = batch[i]
        assert got["score"] == pytest.approx(expected.score, abs=1e-6)  # float32 booster
        assert got["reason"] == expected.reason
        assert [a["feature"] for a in got["attributions"]] == [
            a.feature for a in expected.attributions
        ]
        pred = client.post("/v1/models/leads:predict", json={"instances": [record]}).json()
        assert pred["predictions"] == [got["score"]]
    # A row the lane cannot vouch for (text in a number column) gets the batch path's answer.
    bad = {**lead_records[0], "company_size": SECRET}
    for verb in ("explain", "predict"):
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": [bad]})
        assert r.status_code == 422
        assert SECRET not in r.text


def test_bad_row_is_rejected_by_position_without_its_value(
    make_client, xgb_em, lead_records
) -> None:
    client = make_client({"leads": xgb_em})
    rows = [dict(r) for r in lead_records[:3]]
    rows[1]["company_size"] = SECRET
    for verb, key in (("explain", "explanations"), ("predict", "predictions")):
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": rows})
        assert r.status_code == 200
        body = r.json()
        assert body[key][1] is None
        assert body[key][0] is not None
        assert body[key][2] is not None
        assert body["rejected"] == [
            {"row": 1, "column": "company_size", "problem": body["rejected"][0]["problem"]}
        ]
        assert SECRET not in r.text


def test_missing_column_is_422_naming_it_without_values(make_client, xgb_em, lead_records):
    client = make_client({"leads": xgb_em})
    rows = [{**r, "industry": SECRET} for r in lead_records[:2]]
    for row in rows:
        del row["pages_viewed"]
    r = client.post("/v1/models/leads:explain", json={"instances": rows})
    assert r.status_code == 422
    body = r.json()
    assert body["column"] == "pages_viewed"
    assert body["columns"] == ["pages_viewed"]
    assert SECRET not in r.text
    assert body["request_id"] == r.headers["x-request-id"]


def test_unexpected_column_and_wrong_row_length(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})
    names = [str(c) for c in numeric_em.feature_names_in_]
    record = {**dict(zip(names, numeric_rows[0], strict=True)), "ssn": SECRET}
    r = client.post("/v1/models/leads:predict", json={"instances": [record]})
    assert r.status_code == 422
    assert r.json()["columns"] == ["ssn"]
    assert SECRET not in r.text
    r = client.post("/v1/models/leads:predict", json={"instances": [numeric_rows[0][:-1]]})
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == "instances.0"
    mixed = {"instances": [numeric_rows[0], dict(zip(names, numeric_rows[1], strict=True))]}
    assert client.post("/v1/models/leads:predict", json=mixed).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [',
        b"not json",
        b'{"instances": [{"a": 1}]',
        '{"instances": ["\u00e9"]'.encode(),
    ],
)
def test_malformed_json_is_400(make_client, numeric_em, body: bytes) -> None:
    client = make_client({"leads": numeric_em})
    r = client.post(
        "/v1/models/leads:explain", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["problems"][0]["field"] == "body"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"instances": []},
        {"instances": "rows"},
        {"instances": [7]},
        {"instances": [{"company_size": {"nested": SECRET}}]},
        {"instances": [[SECRET, [1, 2]]]},
        {"instances": [{"a": 1}], "parameters": {"top_k": 0}},
        {"instances": [{"a": 1}], "extra": SECRET},
    ],
)
def test_schema_violations_are_422_without_echo(make_client, numeric_em, payload) -> None:
    client = make_client({"leads": numeric_em})
    r = client.post("/v1/models/leads:explain", json=payload)
    assert r.status_code == 422, r.text
    assert SECRET not in r.text
    assert '"input"' not in r.text
    assert r.json()["problems"]


def test_top_k_above_the_column_count_is_clipped(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})
    body = {"instances": numeric_rows[:1], "parameters": {"top_k": 99}}
    r = client.post("/v1/models/leads:explain", json=body)
    assert r.status_code == 200, r.text
    n_columns = len(numeric_em.feature_names_in_)
    assert len(r.json()["explanations"][0]["attributions"]) == n_columns
    body["parameters"]["top_k"] = 0
    assert client.post("/v1/models/leads:explain", json=body).status_code == 422
    body["parameters"]["top_k"] = 2
    r = client.post("/v1/models/leads:explain", json=body)
    assert len(r.json()["explanations"][0]["attributions"]) == 2


def test_nan_in_the_output_is_valid_json(make_client, xgb_em, lead_records) -> None:
    """A NaN input the model takes comes back as null, and the body is strict JSON."""
    client = make_client({"leads": xgb_em})
    row = dict(lead_records[0])
    row["pages_viewed"] = None
    r = client.post("/v1/models/leads:explain", json={"instances": [row]})
    assert r.status_code == 200
    body = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    values = {a["feature"]: a["value"] for a in body["explanations"][0]["attributions"]}
    assert values.get("pages_viewed") is None
    # NaN and Infinity tokens (accepted by Python's parser) are missing / rejected, not a 500.
    text = json.dumps({"instances": [{**lead_records[0], "pages_viewed": math.inf},
                                     {**lead_records[1], "pages_viewed": math.nan}]})  # fmt: skip
    r = client.post(
        "/v1/models/leads:explain", content=text, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200
    json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert [x["row"] for x in r.json()["rejected"]] == [0]


def test_paused_batch_scores_are_null_not_nan() -> None:
    from explainscore.service._http import dumps

    assert dumps({"a": [math.nan, math.inf, 1.5]}) == '{"a":[null,null,1.5]}'


def test_unknown_model_and_path_are_404(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})
    r = client.post("/v1/models/other:explain", json={"instances": numeric_rows})
    assert r.status_code == 404
    assert client.get("/v1/models/other").status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.get("/nowhere").headers["x-request-id"]


def test_body_over_the_limit_is_413(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em}, max_body_bytes=512)
    r = client.post("/v1/models/leads:explain", json={"instances": numeric_rows * 20})
    assert r.status_code == 413
    assert r.headers["x-request-id"]

    def chunks() -> Any:  # no Content-Length: counted while read
        yield b'{"instances": ['
        for _ in range(50):
            yield json.dumps(numeric_rows[0]).encode() + b","
        yield json.dumps(numeric_rows[0]).encode() + b"]}"

    r = client.post("/v1/models/leads:explain", content=chunks())
    assert r.status_code == 413


def test_too_many_instances_is_413(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em}, max_instances=3)
    r = client.post("/v1/models/leads:predict", json={"instances": numeric_rows})
    assert r.status_code == 413


def test_request_id_is_passed_through_or_made(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})
    r = client.post(
        "/v1/models/leads:predict",
        json={"instances": numeric_rows},
        headers={"x-request-id": "crm-batch-17.a"},
    )
    assert r.headers["x-request-id"] == "crm-batch-17.a"
    assert r.json()["request_id"] == "crm-batch-17.a"
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32
    odd = client.get("/healthz", headers={"x-request-id": "<script>"}).headers["x-request-id"]
    assert odd != "<script>"


def test_kill_switch_503_and_back(make_client, numeric_em, numeric_rows, tmp_path) -> None:
    switch = KillSwitch(tmp_path / "stop", env_var="EXPLAINSCORE_TEST_KILL_UNUSED")
    numeric_em.kill_switch = switch
    try:
        client = make_client({"leads": numeric_em})
        switch.engage(actor="ops", reason="drift detected")
        for verb in ("explain", "predict"):
            r = client.post(f"/v1/models/leads:{verb}", json={"instances": numeric_rows})
            assert r.status_code == 503
            assert "drift detected" in r.json()["error"]
            assert r.json()["model_status"] == "paused"
        status = client.get("/v1/models/leads")
        assert status.status_code == 503
        assert status.json()["status"] == "paused"
        switch.release(actor="ops", reason="fixed")
        r = client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
        assert r.status_code == 200
        assert client.get("/v1/models/leads").json()["ready"] is True
    finally:
        numeric_em.kill_switch = None


def test_unsigned_model_is_503_when_sign_off_is_required(make_client, numeric_em, numeric_rows):
    client = make_client({"leads": numeric_em}, require_sign_off=True)
    r = client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
    assert r.status_code == 503
    assert r.json()["model_status"] == "not_signed_off"
    status = client.get("/v1/models/leads").json()
    assert (status["ready"], status["signed_off"]) == (False, False)


def test_signed_off_model_is_served(make_client, leads_numeric, numeric_rows, signers) -> None:
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel
    from explainscore.governance import ModelCard, sign_off

    X, y = leads_numeric
    fitted = LogisticRegression(max_iter=1000).fit(X, y)
    draft = ExplainedModel(fitted, background=X)
    card = ModelCard.for_model(
        draft.fit(X, y), name="leads", owner_key=signers.ana, intended_use="t"
    )
    card = sign_off(card, key=signers.ben)
    em = ExplainedModel(draft.model_, background=X, card=card, require_sign_off=True)
    client = make_client({"leads": em}, require_sign_off=True)
    r = client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
    assert r.status_code == 200
    assert r.json()["explanations"][0]["signed_off"] is True
    assert client.get("/v1/models/leads").json()["signed_off"] is True


def test_audit_records_carry_caller_and_request_id(leads_numeric, numeric_rows, tmp_path):
    from fastapi.testclient import TestClient
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel
    from explainscore.governance import AuditLog
    from explainscore.service import ServiceConfig, create_app

    from .conftest import TOKEN_CRM

    X, y = leads_numeric
    log = AuditLog(tmp_path / "audit.db")
    em = ExplainedModel(LogisticRegression(max_iter=1000), audit_log=log).fit(X, y)
    config = ServiceConfig(tokens={"crm": TOKEN_CRM}, require_sign_off=False)
    client = TestClient(create_app({"leads": em}, config=config))
    r = client.post(
        "/v1/models/leads:explain",
        json={"instances": numeric_rows[:2]},
        headers={"authorization": f"Bearer {TOKEN_CRM}", "x-request-id": "req-1"},
    )
    assert r.status_code == 200
    seqs = r.json()["audit_seqs"]
    assert seqs == [e["audit_seq"] for e in r.json()["explanations"]]
    assert all(isinstance(s, int) for s in seqs)
    records = [rec for rec in log.records() if rec.get("seq") in seqs]
    assert records
    text = json.dumps(records, default=str)
    assert "req-1" in text
    assert "crm" in text
    assert TOKEN_CRM not in text


def test_metrics_count_requests_and_latency(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})

    def count(text: str, line_start: str) -> float:
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    ok = (
        'explainscore_requests_total{endpoint="/v1/models/{name}:explain",'
        'method="POST",status="200"}'
    )
    hist = 'explainscore_explain_latency_seconds_count{model="leads"}'
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
    client.post("/v1/models/leads:explain", json={"instances": []})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert count(after.text, ok) == count(before, ok) + 3
    assert count(after.text, hist) == count(before, hist) + 3
    bad = ok.replace('"200"', '"422"')
    assert count(after.text, bad) == count(before, bad) + 1


def test_openapi_lists_the_endpoints(make_client, numeric_em) -> None:
    client = make_client({"leads": numeric_em})
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path in ("/v1/models/{name}:predict", "/v1/models/{name}:explain",
                 "/v1/models/{name}", "/v1/models", "/healthz", "/metrics"):  # fmt: skip
        assert path in paths
    assert "InferenceRequest" in doc["components"]["schemas"]
    assert "422" in paths["/v1/models/{name}:explain"]["post"]["responses"]


def test_model_status_and_list(make_client, numeric_em, xgb_em) -> None:
    client = make_client({"a": numeric_em, "b": xgb_em})
    assert client.get("/v1/models").json() == {"models": ["a", "b"]}
    status = client.get("/v1/models/b").json()
    assert status["ready"] is True
    assert status["features"] == [str(c) for c in xgb_em.feature_names_in_]
    assert status["model_fingerprint"] == xgb_em.model_fingerprint_


def test_create_app_refuses_bad_models(numeric_em) -> None:
    from explainscore.exceptions import ParameterError
    from explainscore.service import ServiceConfig, create_app

    config = ServiceConfig()
    with pytest.raises(ParameterError):
        create_app({}, config=config)
    with pytest.raises(ParameterError, match="URL"):
        create_app({"a:b": numeric_em}, config=config)
    with pytest.raises(ParameterError, match="ExplainedModel"):
        create_app({"a": object()}, config=config)


def test_a_bug_is_a_json_500_with_the_request_id(
    make_client, numeric_em, numeric_rows, monkeypatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail")

    client = make_client({"leads": numeric_em})
    monkeypatch.setattr(numeric_em, "explain", broken)
    r = client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
    assert r.status_code == 500
    assert "secret detail" not in r.text
    assert r.json()["request_id"] == r.headers["x-request-id"]
