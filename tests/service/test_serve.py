"""serve(): loopback-only without auth, the worker factory, settings from the environment."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from explainscore.exceptions import MissingDependencyError, ParameterError
from explainscore.service import ServiceConfig, app_factory, serve
from explainscore.service._serve import WORKER_SPEC_ENV, _portable, is_loopback

from .conftest import TOKEN_CRM, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com", ""])
def test_refuses_to_bind_beyond_loopback_without_auth(numeric_em, host: str) -> None:
    with pytest.raises(ParameterError, match="without authentication"):
        serve(numeric_em, host=host, port=free_port(), config=ServiceConfig())


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
    assert not is_loopback("0.0.0.0")


def test_several_workers_need_a_model_path_or_factory(numeric_em) -> None:
    config = ServiceConfig(workers=2, tokens={"crm": TOKEN_CRM})
    with pytest.raises(ParameterError, match="model_path"):
        serve(numeric_em, host="127.0.0.1", port=free_port(), config=config)


def test_worker_spec_carries_token_digests_only() -> None:
    config = ServiceConfig(tokens={"crm": TOKEN_CRM}, workers=2, factory="a.b:c")
    text = json.dumps(_portable(config))
    assert TOKEN_CRM not in text
    assert "sha256:" in text


def test_app_factory_builds_from_the_worker_spec(monkeypatch) -> None:
    from fastapi.testclient import TestClient

    config = ServiceConfig(
        tokens={"crm": TOKEN_CRM},
        factory="tests.service.factories:small_models",
        require_sign_off=False,
    )
    monkeypatch.setenv(WORKER_SPEC_ENV, json.dumps({"name": "x", "config": _portable(config)}))
    client = TestClient(app_factory())
    auth = {"authorization": f"Bearer {TOKEN_CRM}"}
    r = client.post("/v1/models/tiny:predict", json={"instances": [[3, 2, 1]]}, headers=auth)
    assert r.status_code == 200
    assert client.get("/v1/models/tiny").status_code == 401


def test_settings_from_the_environment(tmp_path) -> None:
    env = {
        "EXPLAINSCORE_SERVICE_TOKEN_FILE": str(tmp_path / "t"),
        "EXPLAINSCORE_SERVICE_TOKENS": f"crm:{TOKEN_CRM}",
        "EXPLAINSCORE_SERVICE_ACL": '{"crm": ["leads"]}',
        "EXPLAINSCORE_SERVICE_REQUIRE_SIGN_OFF": "false",
        "EXPLAINSCORE_SERVICE_MAX_BODY_BYTES": "2048",
        "EXPLAINSCORE_SERVICE_WORKERS": "3",
    }
    config = ServiceConfig.from_env(env, log_level="warning")
    assert config.token_file == tmp_path / "t"
    assert config.token_env == "EXPLAINSCORE_SERVICE_TOKENS"
    assert config.model_acl == {"crm": ["leads"]}
    assert (config.require_sign_off, config.max_body_bytes, config.workers) == (False, 2048, 3)
    assert config.log_level == "warning"
    assert ServiceConfig.from_env({}).require_sign_off is True
    with pytest.raises(ParameterError, match="max_body_bytes"):
        ServiceConfig.from_env({"EXPLAINSCORE_SERVICE_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ParameterError, match="ACL"):
        ServiceConfig.from_env({"EXPLAINSCORE_SERVICE_ACL": "{crm"})


def test_missing_fastapi_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "try:\n    import explainscore.service\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith(MissingDependencyError.__name__)
    assert 'pip install "explainscore[service]"' in out.stdout


@contextlib.contextmanager
def _serving(code: str, port: int, *, wait: float) -> Iterator[str]:
    """Run ``code`` (which calls serve on ``port``) in a subprocess until /healthz answers;
    yield the base URL; stop the process at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + wait
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "serve() exited"
            assert time.monotonic() < deadline, "serve() did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_runs_uvicorn_on_loopback() -> None:
    """serve() itself, in a subprocess, stopped at the end."""
    port = free_port()
    code = (
        "from tests.service.factories import small_models\n"
        "from explainscore.service import ServiceConfig, serve\n"
        f"serve(small_models()['tiny'], name='tiny', host='127.0.0.1', port={port},\n"
        f"      config=ServiceConfig(tokens={{'crm': {TOKEN_CRM!r}}}, require_sign_off=False,\n"
        "                           log_level='warning'))\n"
    )
    with _serving(code, port, wait=45) as url:
        r = httpx.post(f"{url}/v1/models/tiny:explain", json={"instances": [[3, 2, 1]]},
                       headers={"authorization": f"Bearer {TOKEN_CRM}"})  # fmt: skip
        assert r.status_code == 200
        assert "server" not in r.headers


def test_listening_socket_keeps_tcp_nodelay_for_accepted_connections() -> None:
    """uvicorn's own bind leaves proto=0, so asyncio would leave Nagle on (a 40 ms stall per
    keep-alive response); the relabelled socket's connections get TCP_NODELAY."""
    import asyncio
    import socket

    import uvicorn

    from explainscore.service._serve import tcp_socket

    config = uvicorn.Config("x:y", host="127.0.0.1", port=free_port())
    sock = tcp_socket(config.bind_socket())
    assert sock.proto == socket.IPPROTO_TCP
    flags: list[int] = []

    async def run() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            s = writer.get_extra_info("socket")
            flags.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        for _ in range(100):
            if flags:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    assert flags
    assert flags[0] != 0


def test_serve_with_two_workers_answers() -> None:
    """The multi-worker path (our own supervisor start-up) serves explanations."""
    port = free_port()
    code = (
        "from explainscore.service import ServiceConfig, serve\n"
        "config = ServiceConfig(workers=2, factory='tests.service.factories:small_models',\n"
        f"    tokens={{'crm': {TOKEN_CRM!r}}}, require_sign_off=False, log_level='warning')\n"
        f"serve(None, name='tiny', host='127.0.0.1', port={port}, config=config)\n"
    )
    with _serving(code, port, wait=90) as url:
        headers = {"authorization": f"Bearer {TOKEN_CRM}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            for _ in range(3):  # keep-alive requests on one connection
                r = client.post("/v1/models/tiny:explain", json={"instances": [[3, 2, 1]]})
                assert r.status_code == 200
                assert r.json()["explanations"][0]["score"] is not None
