"""Bounded fuzzing of the HTTP sidecar: schemathesis against the app's own OpenAPI document,
and Hypothesis with hostile raw requests (issue 14, part E).

Every response must be below 500 and, for an error, in the documented ``ErrorBody`` schema.
The long run (at least 20,000 requests) is ``benchmarks/fuzz_http.py``; these are the bounded
versions that run with the suite (about 20 s on 2 cores).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from explainscore.service._schemas import ErrorBody  # noqa: E402

TOKEN = "crm-token-0123456789abcdef-fuzz"
COLUMNS = ["company_size", "pages_viewed", "emails_opened", "demo_booked", "budget_known"]
# Capitalized: schemathesis strips credentials by the name the security scheme gives.
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def app() -> Any:
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel, Policy
    from explainscore.datasets import make_leads
    from explainscore.service import ServiceConfig, create_app

    X, y = make_leads(400, seed=5)
    X = X[COLUMNS].astype(np.float64)
    em = ExplainedModel(
        LogisticRegression(max_iter=1000),
        catalog={"budget_known": {"show": False}},
        policy=Policy(version="p1", hidden=("demo_booked",)),
    ).fit(X, y)
    config = ServiceConfig(tokens={"crm": TOKEN}, require_sign_off=False)
    return create_app({"leads": em}, config=config)


@pytest.fixture(scope="module")
def client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return TestClient(app, raise_server_exceptions=False)


def check_answer(r: Any) -> None:
    """Below 500; an error is an ErrorBody carrying the request id; the body is strict UTF-8."""
    assert r.status_code < 500, (r.status_code, r.text[:300])
    r.content.decode("utf-8")
    if r.status_code >= 400 and r.request.method != "HEAD":
        body = r.json()
        assert set(body) <= set(ErrorBody.model_fields), body
        ErrorBody.model_validate(body)
        assert body["request_id"] == r.headers["x-request-id"]
        assert "hidden" in body.get("column", "hidden") or body["column"] in COLUMNS[:3]
        for name in ("budget_known", "demo_booked"):
            assert name not in r.text


# --- schemathesis ----------------------------------------------------------------------------


def test_schemathesis_finds_no_5xx_and_no_nonconforming_answer(app: Any) -> None:
    """Positive and negative cases of every operation of /openapi.json, with every default
    check (no 5xx, documented status codes, content types, headers and response schemas,
    negative data rejected, requests without the token refused) except
    ``positive_data_acceptance``: the document describes the KServe envelope
    (``instances`` of any columns), and a schema-valid body with columns the model does not
    have is rightly a 422."""
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in operations} >= {
        ("POST", "/v1/models/{name}:predict"),
        ("POST", "/v1/models/{name}:explain"),
        ("GET", "/v1/models/{name}"),
        ("GET", "/metrics"),
    }
    cases = st.one_of(
        *[
            operation.as_strategy(generation_mode=mode)
            for operation in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
    )
    statuses: dict[int, int] = {}
    excluded = [schemathesis.checks.positive_data_acceptance]

    @settings(
        max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases, served=st.booleans())
    def run(case: Any, served: bool) -> None:
        if served and "name" in (case.path_parameters or {}):
            case.path_parameters["name"] = "leads"  # a served model half the time
        # The token as the run's own credentials (what `--header` does on the command line):
        # schemathesis' ignored_auth check then replays the request without it and with a
        # made-up one, and expects 401.
        case.headers = {**(case.headers or {}), **BEARER}
        case._has_explicit_auth = True
        response = case.call_and_validate(excluded_checks=excluded)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500

    run()
    assert sum(statuses.values()) >= 100
    assert not any(code >= 500 for code in statuses)
    assert 200 in statuses
    assert 422 in statuses


# --- hostile raw requests --------------------------------------------------------------------

_SURROGATE = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")
_NUMBER = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500).map(str),
    st.sampled_from(
        [
            "1e999",
            "-1e999",
            "-0",
            "-0.0",
            "NaN",
            "Infinity",
            "-Infinity",
            "1e-999",
            "9" * 4400,
            "0.1e308",
            str(2**53),
            str(2**53 + 1),
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
_TEXT = st.one_of(
    st.text(max_size=12).map(json.dumps),
    st.tuples(st.text(max_size=4), _SURROGATE).map(
        lambda t: '"' + json.dumps(t[0])[1:-1] + t[1] + '"'
    ),
)
_CELL = st.one_of(_NUMBER, _TEXT, st.sampled_from(["true", "false", "null", "[]", "{}", "[[1]]"]))
_KEY = st.one_of(st.sampled_from(COLUMNS).map(json.dumps), _TEXT)


def _record(cells: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{k}:{v}" for k, v in cells) + "}"


_ROW = st.lists(_CELL, max_size=7).map(lambda cells: "[" + ",".join(cells) + "]")
_RECORD = st.lists(st.tuples(_KEY, _CELL), max_size=7).map(_record)
_INSTANCES = st.lists(st.one_of(_ROW, _RECORD), min_size=0, max_size=4).map(
    lambda xs: "[" + ",".join(xs) + "]"
)
_PARAMETERS = st.one_of(
    st.just(""),
    _CELL.map(lambda c: f',"parameters":{{"top_k":{c}}}'),
    st.tuples(_KEY, _CELL).map(lambda t: f',"parameters":{{{t[0]}:{t[1]}}}'),
)
_NESTED = st.integers(1, 5000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n])
)
_BODY = st.one_of(
    st.tuples(_INSTANCES, _PARAMETERS).map(lambda t: '{"instances":' + t[0] + t[1] + "}"),
    _NESTED,
    _CELL,
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)
_METHOD = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12),
)
_PATH = st.one_of(
    st.sampled_from(
        [
            "/v1/models/leads:explain",
            "/v1/models/leads:predict",
            "/v1/models/leads",
            "/v1/models",
            "/metrics",
            "/healthz",
            "/openapi.json",
        ]
    ),
    # Never "//...": a client reads that as a network location, not a path, and fails on
    # its own side before anything is sent.
    st.text(alphabet="abc:/%.-_0123456789EDAF", max_size=30).map(lambda s: "/" + s.lstrip("/")),
)
_CONTENT_TYPE = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "application/merge-patch+json",
        "*/*",
    ]
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    method=_METHOD,
    path=_PATH,
    body=_BODY,
    content_type=_CONTENT_TYPE,
    authed=st.integers(0, 5),
    query=st.sampled_from(["", f"?token={TOKEN}", "?access_token=x&a=%ED%A0%80"]),
)
def test_hostile_requests_are_never_a_5xx(
    client: Any, method: str, path: str, body: str, content_type: str, authed: int, query: str
) -> None:
    headers = {"content-type": content_type, **(BEARER if authed else {})}
    data = body.encode("utf-8", "surrogatepass")
    r = client.request(method, path + query, content=data, headers=headers)
    check_answer(r)


def test_instances_at_the_size_limits(client: Any) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 5, size=(1000, len(COLUMNS))), columns=COLUMNS)
    rows = frame.to_numpy().tolist()
    r = client.post("/v1/models/leads:predict", json={"instances": rows}, headers=BEARER)
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["predictions"]) == 1000
    r = client.post("/v1/models/leads:predict", json={"instances": rows + rows[:1]}, headers=BEARER)
    check_answer(r)
    assert r.status_code == 413
