"""Bearer tokens, rotation, the model ACL, and the caller's name as the audit actor."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from explainscore.exceptions import ParameterError
from explainscore.service import ServiceConfig
from explainscore.service._auth import Authenticator

from .conftest import TOKEN_BI, TOKEN_CRM, TOKEN_CRM_NEXT


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def client(make_client, numeric_em, xgb_em) -> Any:
    return make_client(
        {"numeric": numeric_em, "xgb": xgb_em},
        tokens={"crm": [TOKEN_CRM, TOKEN_CRM_NEXT], "bi": TOKEN_BI},
        model_acl={"crm": ["*"], "bi": ["numeric"]},
    )


def test_401_without_or_with_a_wrong_token(client, numeric_rows) -> None:
    url = "/v1/models/numeric:predict"
    body = {"instances": numeric_rows}
    for headers in ({}, _auth("wrong-token-0123456789abcdef"), {"authorization": TOKEN_CRM},
                    {"authorization": f"Basic {TOKEN_CRM}"}, _auth("")):  # fmt: skip
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["x-request-id"]
    # Authentication comes before anything else: bad JSON and unknown models look the same.
    assert (
        client.post(url, content=b"{", headers={"content-type": "application/json"}).status_code
        == 401
    )
    assert client.post("/v1/models/nope:predict", json=body).status_code == 401
    assert client.get("/v1/models").status_code == 401
    assert client.get("/metrics").status_code == 401


def test_open_endpoints_need_no_token(client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/openapi.json").json()["security"] == [{"bearer": []}]


def test_valid_token_and_rotation(client, numeric_rows) -> None:
    body = {"instances": numeric_rows}
    for token in (TOKEN_CRM, TOKEN_CRM_NEXT):
        r = client.post("/v1/models/numeric:predict", json=body, headers=_auth(token))
        assert r.status_code == 200
    assert client.get("/metrics", headers=_auth(TOKEN_BI)).status_code == 200


def test_acl_403_for_a_model_not_granted(client, numeric_rows, lead_records) -> None:
    r = client.post("/v1/models/xgb:predict", json={"instances": lead_records},
                    headers=_auth(TOKEN_BI))  # fmt: skip
    assert r.status_code == 403
    assert TOKEN_BI not in r.text
    # Same answer for a model that does not exist: a 403 does not reveal what is served.
    r = client.post("/v1/models/ghost:predict", json={"instances": lead_records},
                    headers=_auth(TOKEN_BI))  # fmt: skip
    assert r.status_code == 403
    assert client.get("/v1/models", headers=_auth(TOKEN_BI)).json() == {"models": ["numeric"]}
    r = client.post("/v1/models/xgb:predict", json={"instances": lead_records},
                    headers=_auth(TOKEN_CRM))  # fmt: skip
    assert r.status_code == 200


def test_caller_name_not_token_is_the_actor(client, numeric_em, numeric_rows, monkeypatch):
    seen: dict[str, Any] = {}
    original = numeric_em.explain

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(numeric_em, "explain", spy)
    r = client.post("/v1/models/numeric:explain", json={"instances": numeric_rows},
                    headers={**_auth(TOKEN_CRM_NEXT), "x-request-id": "r-9"})  # fmt: skip
    assert r.status_code == 200
    assert seen["actor"] == "crm"
    assert seen["request_id"] == "r-9"


def test_token_file_is_reread_when_it_changes(make_client, numeric_em, numeric_rows, tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# callers\ncrm:{TOKEN_CRM}\n\n", encoding="utf-8")
    client = make_client({"numeric": numeric_em}, token_file=path)
    url, body = "/v1/models/numeric:predict", {"instances": numeric_rows}
    assert client.post(url, json=body, headers=_auth(TOKEN_CRM)).status_code == 200
    # Rotate: new token in, old one out, written aside and renamed over (atomic).
    digest = hashlib.sha256(TOKEN_CRM_NEXT.encode()).hexdigest()
    tmp = tmp_path / "tokens.new"
    tmp.write_text(f"crm:sha256:{digest}\n", encoding="utf-8")
    os.replace(tmp, path)
    assert client.post(url, json=body, headers=_auth(TOKEN_CRM)).status_code == 401
    assert client.post(url, json=body, headers=_auth(TOKEN_CRM_NEXT)).status_code == 200
    path.unlink()  # a vanished token file fails closed
    assert client.post(url, json=body, headers=_auth(TOKEN_CRM_NEXT)).status_code == 503


def test_tokens_from_the_environment() -> None:
    config = ServiceConfig(token_env="MY_TOKENS")
    auth = Authenticator(config, environ={"MY_TOKENS": f"crm:{TOKEN_CRM}, bi:{TOKEN_BI}"})
    assert auth.caller(f"Bearer {TOKEN_BI}") == "bi"
    assert auth.caller(f"bearer {TOKEN_CRM}") == "crm"
    assert auth.caller("Bearer nope-nope-nope-nope-nope") is None
    with pytest.raises(ParameterError, match="MY_TOKENS"):
        Authenticator(config, environ={})


def test_weak_or_malformed_tokens_are_refused_without_showing_them(tmp_path) -> None:
    with pytest.raises(ParameterError, match="crm") as info:
        Authenticator(ServiceConfig(tokens={"crm": "short"}))
    assert "short" not in str(info.value).replace("shorter", "")
    path = tmp_path / "tokens"
    path.write_text("just-a-token-without-a-name-0123\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="Entry 1") as info:
        Authenticator(ServiceConfig(token_file=path))
    assert "just-a-token" not in str(info.value)


def test_constant_time_comparison_over_digests(monkeypatch) -> None:
    import hmac

    from explainscore.service import _auth

    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(_auth.hmac, "compare_digest", spy)
    auth = Authenticator(ServiceConfig(tokens={"a": TOKEN_CRM, "b": TOKEN_BI}))
    assert auth.caller(f"Bearer {TOKEN_CRM}") == "a"  # a match on the first entry ...
    assert len(calls) == 2  # ... still compares against every entry
    assert set(calls) == {(32, 32)}  # digests, whatever the token's length
