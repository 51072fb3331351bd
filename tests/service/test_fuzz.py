"""No 500 for any malformed body (Hypothesis, bounded)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
cells = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=6)  # fmt: skip
COLUMNS = ["company_size", "industry", "lead_source", "pages_viewed", "emails_opened",
           "days_since_last_contact", "demo_booked", "budget_known", "noise", "other"]  # fmt: skip
records = st.dictionaries(st.sampled_from(COLUMNS), cells, max_size=10)
rows = st.lists(cells, max_size=10)
bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(st.one_of(records, rows), max_size=4)}),
    st.fixed_dictionaries(
        {"instances": st.lists(records, min_size=1, max_size=3)},
        optional={"parameters": st.dictionaries(st.sampled_from(["top_k", "x"]), cells)},
    ),
    cells,
)


@pytest.fixture(scope="module")
def fuzz_client(xgb_em: Any) -> Any:
    from fastapi.testclient import TestClient

    from explainscore.service import ServiceConfig, create_app

    app = create_app({"leads": xgb_em}, config=ServiceConfig(require_sign_off=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # raise_server_exceptions=False: a bug must show as a 500 here, not as an exception.
        return TestClient(app, raise_server_exceptions=False)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, verb=st.sampled_from(["explain", "predict"]))
def test_structured_garbage_is_never_a_500(fuzz_client: Any, body: Any, verb: str) -> None:
    text = json.dumps(body, allow_nan=True)
    r = fuzz_client.post(
        f"/v1/models/leads:{verb}", content=text, headers={"content-type": "application/json"}
    )
    assert r.status_code in (200, 400, 413, 422), r.text
    json.loads(r.text, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=200))
def test_raw_bytes_are_never_a_500(fuzz_client: Any, raw: bytes) -> None:
    r = fuzz_client.post(
        "/v1/models/leads:explain", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 422), r.text
