"""Attacks on the HTTP sidecar that once worked, and the doors next to them (issue 14, part E).

Each test sends what an attacker or a broken client would and asserts the outcome: a 4xx in
the documented error schema (``ErrorBody``) that echoes nothing sent, never a 500; bounded
metric labels; no token in the access log; an audit record per prediction; the process-wide
kill switch obeyed; no hidden column named in any body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainscore.service._schemas import ErrorBody

SECRET = "Zebra-Confidential-4242"
TOKEN = "crm-token-0123456789abcdef-security"
COLUMNS = ["company_size", "pages_viewed", "emails_opened", "demo_booked", "budget_known"]
#: Hidden by the catalog (show: false) and by the policy (spelled differently on purpose: the
#: policy matches names after case folding).
CATALOG_HIDDEN = "budget_known"
POLICY_HIDDEN = "demo_booked"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    from explainscore.datasets import make_leads

    X, y = make_leads(400, seed=11)
    return X[COLUMNS].astype(np.float64), y


@pytest.fixture(scope="module")
def em(data: tuple[pd.DataFrame, pd.Series]) -> Any:
    """A linear model with one column hidden by its catalog and one by its policy."""
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel, Policy

    X, y = data
    return ExplainedModel(
        LogisticRegression(max_iter=1000),
        catalog={CATALOG_HIDDEN: {"show": False}},
        policy=Policy(version="p1", hidden=(POLICY_HIDDEN.upper(),)),
    ).fit(X, y)


@pytest.fixture(scope="module")
def rows(data: tuple[pd.DataFrame, pd.Series]) -> list[dict[str, float]]:
    X, _ = data
    return [{k: float(v) for k, v in r.items()} for r in X.head(3).to_dict("records")]


def _client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # raise_server_exceptions=False: a bug must show as a 500 here, not as an exception.
        return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(em: Any) -> Any:
    from explainscore.service import ServiceConfig, create_app

    return _client(create_app({"leads": em}, config=ServiceConfig(require_sign_off=False)))


@pytest.fixture(scope="module")
def auth_client(em: Any) -> Any:
    from explainscore.service import ServiceConfig, create_app

    config = ServiceConfig(
        tokens={"crm": TOKEN}, model_acl={"crm": ["leads"]}, require_sign_off=False
    )
    return _client(create_app({"leads": em}, config=config))


def assert_error(r: Any, status: int | tuple[int, ...], *sent: str) -> dict[str, Any]:
    """``r`` is an error answer of the documented schema that quotes nothing of ``sent``."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    if r.request.method == "HEAD":
        return {}
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= set(ErrorBody.model_fields), body
    ErrorBody.model_validate(body)
    assert body["request_id"] == r.headers["x-request-id"]
    r.content.decode("utf-8")  # strict UTF-8: nothing unencodable slipped into the answer
    for text in (SECRET, *sent):
        assert text not in r.text, text
    return dict(body)


def post(client: Any, path: str, text: str | bytes, **headers: str) -> Any:
    headers.setdefault("content-type", "application/json")
    return client.post(path, content=text, headers=headers)


# --- never a 500 -----------------------------------------------------------------------------

BIG = "9" * 400


@pytest.mark.parametrize("verb", ["predict", "explain"])
@pytest.mark.parametrize(
    "cell",
    [
        BIG,
        "-" + BIG,
        "1" + "0" * 4400,
        str(2**53 + 1),
        "1e999",
        "-1e999",
        "NaN",
        "Infinity",
        "-Infinity",
        '"\\ud800"',
        '"a\\udfffb"',
        '"\\udc00\\ud800"',
    ],
)
def test_out_of_range_numbers_and_lone_surrogates_in_cells_are_4xx(client, verb, cell) -> None:
    for body in (
        '{"instances": [{"company_size": ' + cell + ', "pages_viewed": 1, "emails_opened": 1, '
        '"demo_booked": 0, "budget_known": 1}]}',
        '{"instances": [[' + cell + ", 1, 1, 0, 1]]}",
        '{"instances": [[1, 1, 1, 0, 1], [' + cell + ", 1, 1, 0, 1]]}",
    ):
        r = post(client, f"/v1/models/leads:{verb}", body)
        if r.status_code == 200:
            # NaN / +-inf (1e999 parses as inf) in one of two rows: that row is rejected by
            # position, the other is scored; a lone one is a 422.
            assert r.json()["rejected"], r.text
            continue
        assert_error(r, (400, 422), BIG, "ud800")


def test_extreme_finite_values_are_4xx_not_500(client, rows) -> None:
    """Found by benchmarks/fuzz_http.py: 1.8e308 in a linear model's column overflowed the
    attributions, which then did not add up (ExplanationError, a 500)."""
    for value in ("1.7976931348623157e308", "-1.7976931348623157e308", "1e300"):
        text = json.dumps({"instances": [rows[0]]}).replace(
            json.dumps(rows[0]["demo_booked"]), value, 1
        )
        for verb in ("predict", "explain"):
            r = post(client, f"/v1/models/leads:{verb}", text)
            if r.status_code != 200:
                assert_error(r, 422, value)


def test_nan_token_in_a_text_column_is_missing_not_500(leads) -> None:
    """Found by benchmarks/fuzz_http.py: the NaN token (Python's JSON parser takes it) in a
    text column reached the one-hot encoder as a float among strings (TypeError, a 500)."""
    pytest.importorskip("xgboost")
    from explainscore import ExplainedModel
    from explainscore._demo import build_pipeline
    from explainscore.service import ServiceConfig, create_app

    X, y = leads
    em = ExplainedModel(build_pipeline(X, n_estimators=10)).fit(X, y)
    client = _client(create_app({"mixed": em}, config=ServiceConfig(require_sign_off=False)))
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in X.iloc[0].items()}
    as_null = json.dumps({"instances": [{**row, "lead_source": None}]})
    as_nan = as_null.replace('"lead_source": null', '"lead_source": NaN')
    assert as_nan != as_null
    for verb in ("predict", "explain"):
        by_null = post(client, f"/v1/models/mixed:{verb}", as_null)
        by_nan = post(client, f"/v1/models/mixed:{verb}", as_nan)
        assert by_nan.status_code == by_null.status_code == 200, by_nan.text
        key = "predictions" if verb == "predict" else "explanations"
        got, expected = by_nan.json()[key][0], by_null.json()[key][0]
        if verb == "explain":
            got, expected = got["score"], expected["score"]
        assert got == expected


def test_minus_zero_is_a_number(client, rows) -> None:
    body = '{"instances": [{"company_size": -0, "pages_viewed": -0.0, "emails_opened": 1, "demo_booked": 0, "budget_known": 1}]}'  # noqa: E501
    assert post(client, "/v1/models/leads:predict", body).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": [{"\\ud800": 1}]}',
        '{"instances": [{"company_size": 1, "\\udbff\\udbff": 2}]}',
        '{"instances": [[1, 1, 1, 0, 1]], "parameters": {"\\ud800": 1}}',
        '{"instances": [[1, 1, 1, 0, 1]], "\\ud800": 1}',
        '{"\\ud800": [[1]]}',
        '"\\ud800"',
        '["\\ud800"]',
        '{"instances": ["\\ud800"]}',
        '{"instances": [[1, 1, 1, 0, 1]], "parameters": {"top_k": "\\ud800"}}',
    ],
)
def test_lone_surrogates_in_keys_are_4xx(client, body) -> None:
    for verb in ("predict", "explain"):
        assert_error(post(client, f"/v1/models/leads:{verb}", body), (400, 422))


def test_lone_surrogates_in_headers_and_path(client, auth_client) -> None:
    # Header bytes that are not UTF-8 (a surrogate encoded as CESU/WTF-8, latin-1 noise).
    odd = "\ud800".encode("utf-8", "surrogatepass") + b"\xff\xfe"
    r = client.get("/healthz", headers={"x-request-id": odd})
    assert r.status_code == 200
    assert r.headers["x-request-id"].encode("latin-1") != odd
    assert_error(auth_client.get("/v1/models/leads", headers={"authorization": odd}), 401)
    assert_error(
        auth_client.get("/v1/models/leads", headers={"authorization": b"Bearer " + odd}), 401
    )
    for path in ("/v1/models/%ED%A0%80", "/v1/models/%ED%A0%80:explain", "/%FF%FE", "/\u00e9"):
        assert_error(client.get(path), (404, 405))
        assert_error(client.post(path, json={"instances": [[1]]}), (404, 405))


@pytest.mark.parametrize("depth", [50, 2_000, 100_000])
def test_deeply_nested_json_is_4xx(client, depth) -> None:
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        text = opener * depth + "1" + closer * depth
        assert_error(post(client, "/v1/models/leads:explain", text), (400, 422))
        inner = '{"instances": [[' + opener * depth + "1" + closer * depth + "]]}"
        assert_error(post(client, "/v1/models/leads:predict", inner), (400, 422))


def test_huge_arrays_within_the_body_limit_are_4xx(client) -> None:
    wide = json.dumps({"instances": [[0] * 150_000]})  # one row of 150k values
    assert_error(post(client, "/v1/models/leads:predict", wide), 422)
    many = json.dumps({"instances": [[1, 1, 1, 0, 1]] * 50_000})  # over max_instances
    assert len(many) < 1_048_576
    assert_error(post(client, "/v1/models/leads:predict", many), 413)
    keys = json.dumps({"instances": [{f"k{i}": 0 for i in range(40_000)}]})
    assert_error(post(client, "/v1/models/leads:explain", keys), 422, "k39999")


def test_body_over_the_limit_is_413_in_the_schema(client) -> None:
    big = json.dumps({"instances": [[1, 1, 1, 0, 1]] * 200_000})
    assert_error(post(client, "/v1/models/leads:explain", big), 413)


@pytest.mark.parametrize(
    "method", ["BREW", "PROPFIND", "DELETE", "PUT", "PATCH", "TRACE", "OPTIONS", "HEAD", "X" * 200]
)
def test_odd_and_unknown_methods_are_405(client, method) -> None:
    for path in ("/v1/models/leads:explain", "/v1/models/leads", "/healthz", "/metrics"):
        r = client.request(method, path)
        assert_error(r, 405)
        assert "allow" in {k.lower() for k in r.headers}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"instances": [[1, 1, 1, 0, 1]]}'),
        ("application/xml", "<instances/>"),
        ("multipart/form-data; boundary=x", "--x\r\n\r\n--x--"),
        ("application/x-www-form-urlencoded", "instances=1"),
        ("application/json; charset=utf-16", '{"instances": 1}'.encode("utf-16")),
        ("application/json", b"\xff\xfe\x00garbage"),
        ("application/json", b""),
        ("", b""),
        ("application/json", b"   "),
        ("application/json", b"null"),
        ("application/json", b"\x00"),
        ("application/vnd.api+json", b"[]"),
        ("\u00e9/\u00e9".encode(), b"{}"),
    ],
)
def test_odd_content_types_and_empty_bodies_are_4xx(client, content_type, body) -> None:
    for verb in ("predict", "explain"):
        r = client.post(
            f"/v1/models/leads:{verb}", content=body, headers={"content-type": content_type}
        )
        assert_error(r, (400, 415, 422))


@pytest.mark.parametrize(
    "payload",
    [
        [],
        1,
        "x",
        None,
        True,
        {"instances": None},
        {"instances": {}},
        {"instances": 1},
        {"instances": [None]},
        {"instances": [1]},
        {"instances": [True]},
        {"instances": ["x"]},
        {"instances": [[[1]]]},
        {"instances": [[{"a": 1}]]},
        {"instances": [{"a": [1]}]},
        {"instances": [{"a": {"b": SECRET}}]},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": 1},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": []},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": {"top_k": "3"}},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": {"top_k": 1.5}},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": {"top_k": [3]}},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": {"top_k": -1}},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": {"top_k": 10**400}},
        {"instances": [[1, 1, 1, 0, 1]], "parameters": {SECRET: 1}},
        {"instances": [[1, 1, 1, 0, 1]], SECRET: 1},
        {"instances": [[SECRET, 1, 1, 0, 1]]},
        {"instances": [[True, 1, 1, 0, 1]]},
        {"instances": [{"company_size": SECRET}]},
    ],
)
def test_wrong_types_at_every_level_are_4xx_without_echo(client, payload) -> None:
    for verb in ("predict", "explain"):
        r = client.post(f"/v1/models/leads:{verb}", json=payload)
        if r.status_code == 200:  # a bool is a number to the model: a row rejected, or scored
            continue
        assert_error(r, (400, 413, 422))
        assert '"input"' not in r.text


def test_every_error_status_follows_the_schema(em, client, auth_client, rows, tmp_path) -> None:
    from explainscore.service import ServiceConfig, create_app

    bearer = {"authorization": f"Bearer {TOKEN}"}
    body = {"instances": rows}
    assert_error(auth_client.post("/v1/models/leads:explain", json=body), 401)
    r = auth_client.post("/v1/models/leads:explain", json=body, headers={"authorization": SECRET})
    assert_error(r, 401)
    assert_error(auth_client.post("/v1/models/other:explain", json=body, headers=bearer), 403)
    assert_error(client.post("/v1/models/other:explain", json=body), 404)
    assert_error(client.get("/nowhere/" + SECRET), 404)
    assert_error(client.delete("/v1/models/leads"), 405)
    assert_error(post(client, "/v1/models/leads:explain", '{"instances": ['), 400)
    assert_error(client.post("/v1/models/leads:explain", json={"instances": []}), 422)
    small = _client(
        create_app({"leads": em}, config=ServiceConfig(require_sign_off=False, max_body_bytes=64))
    )
    assert_error(small.post("/v1/models/leads:explain", json=body), 413)
    one = _client(
        create_app({"leads": em}, config=ServiceConfig(require_sign_off=False, max_instances=1))
    )
    assert_error(one.post("/v1/models/leads:explain", json=body), 413)
    signed = _client(create_app({"leads": em}, config=ServiceConfig(require_sign_off=True)))
    got = assert_error(signed.post("/v1/models/leads:predict", json=body), 503)
    assert got["model_status"] == "not_signed_off"
    gone = tmp_path / "tokens.txt"
    gone.write_text(f"crm:{TOKEN}\n")
    vanishing = _client(create_app({"leads": em}, config=ServiceConfig(token_file=gone)))
    gone.unlink()
    assert_error(vanishing.post("/v1/models/leads:explain", json=body, headers=bearer), 503)


def test_a_bug_is_a_500_in_the_schema_and_the_log_has_no_message(
    em, rows, monkeypatch, caplog
) -> None:
    from explainscore.service import ServiceConfig, create_app

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(SECRET)

    client = _client(create_app({"leads": em}, config=ServiceConfig(require_sign_off=False)))
    monkeypatch.setattr(em, "explain", broken)
    with caplog.at_level(logging.ERROR, logger="explainscore.service"):
        r = client.post("/v1/models/leads:explain", json={"instances": rows})
    assert_error(r, 500)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RuntimeError" in logged
    assert r.json()["request_id"] in logged
    assert SECRET not in logged


@pytest.mark.parametrize(
    "key", ["<script>alert(1)</script>", "k" * 3000, "line\nbreak", "a\u202eb", "x\u0000y"]
)
def test_unexpected_keys_are_named_back_only_when_plain(client, rows, key) -> None:
    for verb in ("predict", "explain"):
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": [{**rows[0], key: 1}]})
        body = assert_error(r, 422, key, json.dumps(key)[1:-1])
        assert body["columns"] == ["a column whose name is not shown"]
    r = client.post("/v1/models/leads:predict", json={"instances": [{**rows[0], "ssn": 1}]})
    assert assert_error(r, 422)["columns"] == ["ssn"]  # a plain name helps the caller fix it


# --- bounded metrics -------------------------------------------------------------------------


def _series(text: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


_METHOD = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=126, exclude_characters='()<>@,;:\\"/[]?={}'
    ),
    min_size=1,
    max_size=20,
)
_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.:%", min_size=1, max_size=12)
_PATH = st.one_of(
    st.lists(_SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    _SEGMENT.map(lambda s: f"/v1/models/{s}"),
    _SEGMENT.map(lambda s: f"/v1/models/{s}:explain"),
    _SEGMENT.map(lambda s: f"/v1/models/leads:{s}"),
    st.sampled_from(["/metrics", "/healthz", "/v1/models", "/openapi.json"]),
)


@pytest.fixture(scope="module")
def metered(em: Any) -> Any:
    from explainscore.service import ServiceConfig, create_app

    config = ServiceConfig(tokens={"crm": TOKEN}, require_sign_off=False)
    return _client(create_app({"leads": em}, config=config))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=_METHOD, path=_PATH, authed=st.booleans())
def test_metric_series_stay_bounded_under_method_and_path_fuzzing(
    metered, method, path, authed
) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"} if authed else {}
    r = metered.request(method, path, headers=headers)
    assert r.status_code < 500
    text = metered.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    series = _series(text)
    requests = [s for s in series if s.startswith("explainscore_requests_total")]
    # endpoints: 6 routes + /openapi.json + unmatched; 9 standard methods + other; the few
    # statuses the service answers. Far below; what matters is that it cannot grow with input.
    assert len(requests) <= 8 * 10 * 8
    methods = {s.split('method="')[1].split('"')[0] for s in requests}
    assert methods <= {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "CONNECT",
        "OPTIONS",
        "TRACE",
        "PATCH",
        "other",
    }
    endpoints = {s.split('endpoint="')[1].split('"')[0] for s in requests}
    assert endpoints <= {
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/v1/models",
        "/v1/models/{name}",
        "/v1/models/{name}:explain",
        "/v1/models/{name}:predict",
        "unmatched",
    }
    models = {s.split('model="')[1].split('"')[0] for s in series if 'model="' in s}
    assert models <= {"leads"}


def test_made_up_methods_share_one_series_without_a_token(metered) -> None:
    for i in range(300):
        metered.request(f"M{i:04d}", "/v1/models/leads:explain")
        metered.request("GET", f"/made/up/{i}")
    text = metered.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    assert "M0001" not in text
    assert "/made/up" not in text
    assert 'method="other"' in text
    assert 'endpoint="unmatched"' in text


# --- tokens: header only, never logged -------------------------------------------------------


@pytest.mark.parametrize("key", ["token", "access_token", "api_key", "auth", "x"])
def test_query_string_tokens_do_not_authenticate(auth_client, rows, key) -> None:
    r = auth_client.post(f"/v1/models/leads:explain?{key}={TOKEN}", json={"instances": rows})
    assert_error(r, 401, TOKEN)
    r = auth_client.post("/v1/models/leads:explain", json={"instances": rows}, cookies={key: TOKEN})
    assert_error(r, 401, TOKEN)


def test_access_log_filter_redacts_the_query_of_uvicorns_record() -> None:
    from uvicorn.logging import AccessFormatter

    from explainscore.service._logging import RedactQueryFilter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/v1/models/leads:explain?token={TOKEN}&b=2", "1.1", 401),
        None,
    )
    assert RedactQueryFilter().filter(record)
    line = AccessFormatter(use_colors=False).format(record)
    assert TOKEN not in line
    assert "/v1/models/leads:explain?[query redacted]" in line
    plain = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/healthz", "1.1", 200),
        None,
    )
    RedactQueryFilter().filter(plain)
    assert '"GET /healthz HTTP/1.1" 200' in AccessFormatter(use_colors=False).format(plain)


def test_a_real_server_logs_no_query_string_token(em, rows, capsys) -> None:
    """uvicorn in a thread with its own logging set up (access log on, to stdout): the line of
    a request with a token in its query string carries the path, not the token."""
    import httpx
    import uvicorn

    from explainscore.service import ServiceConfig, create_app

    from ..service.conftest import free_port

    app = create_app(
        {"leads": em}, config=ServiceConfig(tokens={"crm": TOKEN}, require_sign_off=False)
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        assert thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        url = f"http://127.0.0.1:{port}"
        for query in (f"token={TOKEN}", f"access_token={TOKEN}", f"q=1&secret={TOKEN}"):
            r = httpx.post(f"{url}/v1/models/leads:explain?{query}", json={"instances": rows})
            assert r.status_code == 401
        r = httpx.post(
            f"{url}/v1/models/leads:predict?token={TOKEN}",
            json={"instances": rows},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert r.status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    text = capsys.readouterr().out
    assert text.count("/v1/models/leads:explain?[query redacted]") == 3, text
    assert "/v1/models/leads:predict?[query redacted]" in text
    assert TOKEN not in text


# --- :predict is audited ---------------------------------------------------------------------


def test_predict_writes_one_prediction_record_per_instance(data, rows, tmp_path) -> None:
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel, Policy
    from explainscore.governance import AuditLog
    from explainscore.service import ServiceConfig, create_app

    X, y = data
    log = AuditLog(tmp_path / "audit.db", store_inputs=True)
    audited = ExplainedModel(
        LogisticRegression(max_iter=1000),
        audit_log=log,
        policy=Policy(version="p7", hidden=(POLICY_HIDDEN,)),
    ).fit(X, y)
    config = ServiceConfig(tokens={"crm": TOKEN}, require_sign_off=False)
    client = _client(create_app({"leads": audited}, config=config))
    batch = [*rows, {**rows[0], "company_size": SECRET}]  # the last one is rejected
    r = client.post(
        "/v1/models/leads:predict",
        json={"instances": batch},
        headers={"authorization": f"Bearer {TOKEN}", "x-request-id": "req-predict-1"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    seqs = body["audit_seqs"]
    assert len(seqs) == len(batch)
    assert seqs[-1] is None
    assert body["predictions"][-1] is None
    assert all(isinstance(s, int) for s in seqs[:-1])
    records = {rec["seq"]: rec for rec in log.records(event="prediction")}
    assert sorted(records) == sorted(seqs[:-1])
    for i, seq in enumerate(seqs[:-1]):
        rec = records[seq]
        assert rec["score"] == pytest.approx(body["predictions"][i])
        assert rec["actor"] == "crm"
        assert rec["request_id"] == "req-predict-1"
        assert rec["policy_version"] == "p7"
        assert rec["model_fingerprint"] == audited.model_fingerprint_
        assert rec["input_digest"].startswith("sha256:")
        assert POLICY_HIDDEN not in rec["inputs"]  # hidden columns are not written, as explain
        assert rec["inputs"]["pages_viewed"] == rows[i]["pages_viewed"]
    text = json.dumps(list(log.records()), default=str)
    assert TOKEN not in text
    assert SECRET not in text
    # :explain on the same model records 'explanation' events; the counts do not mix.
    r = client.post(
        "/v1/models/leads:explain",
        json={"instances": rows[:1]},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200
    assert len(list(log.records(event="explanation"))) == 1
    assert len(list(log.records(event="prediction"))) == len(rows)


def test_predict_is_refused_when_the_audit_log_cannot_be_written(data, rows, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel
    from explainscore.exceptions import AuditLogError
    from explainscore.service import ServiceConfig, create_app

    class Broken:
        def append_many(self, events: Any) -> Any:
            raise AuditLogError("disk full")

        def record_explanations(self, *args: Any, **kwargs: Any) -> Any:
            raise AuditLogError("disk full")

    X, y = data
    audited = ExplainedModel(LogisticRegression(max_iter=1000)).fit(X, y)
    audited.audit_log = Broken()
    client = _client(create_app({"leads": audited}, config=ServiceConfig(require_sign_off=False)))
    for verb in ("predict", "explain"):
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": rows})
        assert_error(r, 503)
        assert "audit" in r.json()["error"]


# --- the kill switch at the HTTP door --------------------------------------------------------

_FILE_CONTENTS = [
    b"",
    b"1",
    b"true",
    b"0",
    b"false",
    b'{"actor": "ops", "reason": "drift"}',
    b"[1, 2]",
    b'"text"',
    b"null",
    b"{",
    b"\xff\xfe\x00garbage",
    b"\x00" * 64,
    b'{"reason": {"nested": 1}}',
    b'{"since": 12, "actor": []}',
]


def _paused_everywhere(client: Any, rows: list[dict[str, float]]) -> None:
    for verb in ("predict", "explain"):
        for batch in (rows, rows[:1]):  # the batch path and the single-lead lane
            got = assert_error(
                client.post(f"/v1/models/{'leads'}:{verb}", json={"instances": batch}), 503
            )
            assert got["model_status"] == "paused"
    status = client.get("/v1/models/leads")
    assert status.status_code == 503
    assert status.json()["status"] == "paused"
    assert status.json()["ready"] is False


def test_process_wide_env_switch_pauses_the_service(client, rows, monkeypatch) -> None:
    for value in ("1", "true", "yes", "stop"):
        monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", value)
        _paused_everywhere(client, rows)
    for value in ("", "0", "false", "off"):
        monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", value)
        assert client.post("/v1/models/leads:predict", json={"instances": rows}).status_code == 200
        assert client.get("/v1/models/leads").json()["ready"] is True


@pytest.mark.parametrize("content", _FILE_CONTENTS)
def test_process_wide_stop_file_pauses_whatever_it_holds(
    client, rows, tmp_path, monkeypatch, content
) -> None:
    stop = tmp_path / "STOP"
    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH_FILE", str(stop))
    assert client.post("/v1/models/leads:explain", json={"instances": rows}).status_code == 200
    stop.write_bytes(content)
    _paused_everywhere(client, rows)
    stop.unlink()
    assert client.post("/v1/models/leads:explain", json={"instances": rows}).status_code == 200


@pytest.mark.parametrize("content", [b"1", b"true", b"", b"{", b"[1]"])
def test_model_stop_file_with_any_content_is_503_not_500(em, rows, tmp_path, content) -> None:
    from explainscore.governance import KillSwitch
    from explainscore.service import ServiceConfig, create_app

    stop = tmp_path / "STOP"
    em.kill_switch = KillSwitch(stop, env_var="EXPLAINSCORE_TEST_KILL_UNUSED")
    try:
        client = _client(create_app({"leads": em}, config=ServiceConfig(require_sign_off=False)))
        stop.write_bytes(content)
        _paused_everywhere(client, rows)
    finally:
        em.kill_switch = None


def test_an_unreadable_switch_fails_closed(em, rows, monkeypatch) -> None:
    from explainscore.service import ServiceConfig, create_app

    def unreadable() -> Any:
        raise OSError("permission denied")

    client = _client(create_app({"leads": em}, config=ServiceConfig(require_sign_off=False)))
    monkeypatch.setattr(em, "_kill_state", unreadable)
    _paused_everywhere(client, rows)


# --- hidden columns never named --------------------------------------------------------------


def _no_hidden(text: str) -> None:
    for name in (CATALOG_HIDDEN, POLICY_HIDDEN):
        for spelling in (name, name.upper(), name.replace("_", " ")):
            assert spelling not in text, (spelling, text[:400])


def test_status_lists_hidden_columns_as_a_hidden_column(client, em) -> None:
    r = client.get("/v1/models/leads")
    assert r.status_code == 200
    features = r.json()["features"]
    _no_hidden(r.text)
    names = [str(c) for c in em.feature_names_in_]
    assert len(features) == len(names)  # the row order is kept: rows as arrays still work
    for shown, name in zip(features, names, strict=True):
        hidden = name in (CATALOG_HIDDEN, POLICY_HIDDEN)
        assert shown == ("a hidden column" if hidden else name)


@pytest.mark.parametrize("hidden", [CATALOG_HIDDEN, POLICY_HIDDEN])
def test_missing_or_mistyped_hidden_column_is_not_named(client, rows, hidden) -> None:
    for verb in ("predict", "explain"):
        missing = [{k: v for k, v in r.items() if k != hidden} for r in rows]
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": missing})
        body = assert_error(r, 422)
        _no_hidden(r.text)
        assert body["column"] == "a hidden column"
        assert body["columns"] == ["a hidden column"]
        wrong = [{**r, hidden: SECRET} for r in rows]
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": wrong})
        assert_error(r, 422)
        _no_hidden(r.text)
        assert r.json().get("column") in (None, "a hidden column")
        # One bad row among good ones: rejected by position, its column not named.
        mixed = [rows[0], {**rows[1], hidden: SECRET}]
        r = client.post(f"/v1/models/leads:{verb}", json={"instances": mixed})
        assert r.status_code == 200, r.text
        assert SECRET not in r.text
        _no_hidden(r.text)
        assert [x["column"] for x in r.json()["rejected"]] == ["a hidden column"]


def test_serve_in_its_own_process_obeys_the_process_wide_switch() -> None:
    """The door of the report: ``serve`` with ``EXPLAINSCORE_KILL_SWITCH=1`` answered 200."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from ..service.conftest import free_port

    root = Path(__file__).resolve().parents[2]
    port = free_port()
    code = (
        "from tests.service.factories import small_models\n"
        "from explainscore.service import ServiceConfig, serve\n"
        f"serve(small_models()['tiny'], name='tiny', host='127.0.0.1', port={port},\n"
        f"      config=ServiceConfig(tokens={{'crm': {TOKEN!r}}}, require_sign_off=False,\n"
        "                           log_level='warning'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root), "EXPLAINSCORE_KILL_SWITCH": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "serve() exited"
            assert time.monotonic() < deadline, "serve() did not start"
            time.sleep(0.1)
        bearer = {"authorization": f"Bearer {TOKEN}"}
        for verb in ("predict", "explain"):
            r = httpx.post(
                f"{url}/v1/models/tiny:{verb}", json={"instances": [[3, 2, 1]]}, headers=bearer
            )
            assert r.status_code == 503, r.text
            assert r.json()["model_status"] == "paused"
        status = httpx.get(f"{url}/v1/models/tiny", headers=bearer)
        assert status.status_code == 503
        assert status.json()["status"] == "paused"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
