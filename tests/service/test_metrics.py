"""/metrics through prometheus_client: the exposition parses, labels stay bounded whatever the
requests say, and in multiprocess mode every process's counts are summed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from explainscore.service._http import METHODS
from explainscore.service._metrics import MULTIPROC_ENV, Metrics, multiprocess_dir

from .conftest import TOKEN_CRM, free_port
from .test_serve import ROOT, _serving


def _samples(text: str) -> dict[str, list[Any]]:
    """Samples by family name; parsing fails on anything that is not valid exposition."""
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


def _value(text: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_exposition_parses_with_the_existing_names(make_client, numeric_em, numeric_rows) -> None:
    client = make_client({"leads": numeric_em})
    client.post("/v1/models/leads:explain", json={"instances": numeric_rows})
    client.post("/v1/models/leads:predict", json={"instances": numeric_rows})
    response = client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = _samples(response.text)
    assert set(families) >= {
        "explainscore_requests",
        "explainscore_rows",
        "explainscore_explain_latency_seconds",
    }
    text = response.text
    n = len(numeric_rows)
    assert _value(text, "explainscore_rows_total", model="leads", outcome="explained") == n
    assert _value(text, "explainscore_rows_total", model="leads", outcome="predicted") == n
    assert _value(text, "explainscore_explain_latency_seconds_count", model="leads") == 1
    ok = {"endpoint": "/v1/models/{name}:explain", "method": "POST", "status": "200"}
    assert _value(text, "explainscore_requests_total", **ok) == 1
    buckets = [
        s for s in families["explainscore_explain_latency_seconds"] if s.name.endswith("_bucket")
    ]
    assert [s.labels["le"] for s in buckets][-1] == "+Inf"
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative


def test_labels_stay_bounded_whatever_the_requests(make_client, numeric_em) -> None:
    client = make_client({"leads": numeric_em})
    for i in range(40):
        client.request("GET" if i % 2 else "BREW", f"/made/up/{i}?token=secret-{i}")
        client.request("PROPFIND", f"/v1/models/leads-{i}:explain")
        client.post(f"/v1/models/nosuch{i}:explain", json={"instances": [[1]]})
    text = client.get("/metrics").text
    requests = [s for s in _samples(text)["explainscore_requests"] if s.name.endswith("_total")]
    endpoints = {s.labels["endpoint"] for s in requests}
    methods = {s.labels["method"] for s in requests}
    assert "unmatched" in endpoints
    assert "other" in methods
    assert all(e == "unmatched" or (e.startswith("/") and "{" in e) or e == "/metrics"
               for e in endpoints)  # fmt: skip
    assert not any("made" in e or "secret" in e or "nosuch" in e for e in endpoints)
    assert methods <= set(METHODS) | {"other"}
    assert len(requests) <= 8  # 120 distinct made-up requests, a handful of series
    rows = _samples(text).get("explainscore_rows", [])
    assert not any("nosuch" in s.labels.get("model", "") for s in rows)


_COUNT = """
import sys
from explainscore.service._metrics import Metrics
m = Metrics()
n = int(sys.argv[1])
for _ in range(n):
    m.count_request("/v1/models/{name}:explain", "POST", 200)
    m.observe_explain("leads", 0.004)
m.count_rows("leads", "explained", 10 * n)
"""


def test_multiprocess_mode_sums_two_processes(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    for n in (3, 5):  # two processes, as two workers would be
        subprocess.run([sys.executable, "-c", _COUNT, str(n)], env=env, check=True)
    render = "from explainscore.service._metrics import Metrics; print(Metrics().render())"
    text = subprocess.run(
        [sys.executable, "-c", render], env=env, check=True, capture_output=True, text=True
    ).stdout
    ok = {"endpoint": "/v1/models/{name}:explain", "method": "POST", "status": "200"}
    assert _value(text, "explainscore_requests_total", **ok) == 8
    assert _value(text, "explainscore_rows_total", model="leads", outcome="explained") == 80
    assert _value(text, "explainscore_explain_latency_seconds_count", model="leads") == 8
    assert (
        _value(text, "explainscore_explain_latency_seconds_bucket", model="leads", le="0.005") == 8
    )
    # Without the directory, a process reports only its own counts (here: none).
    alone = Metrics().render() if MULTIPROC_ENV not in os.environ else ""
    assert _value(alone, "explainscore_requests_total", **ok) == 0


def test_multiprocess_dir_is_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_dir() as directory:
        assert directory is not None
        assert os.environ[MULTIPROC_ENV] == directory
        assert Path(directory).is_dir()
    assert MULTIPROC_ENV not in os.environ
    assert not Path(directory).exists()
    monkeypatch.setenv(MULTIPROC_ENV, "/given/by/the/operator")
    with multiprocess_dir() as given:
        assert given == "/given/by/the/operator"
    assert os.environ[MULTIPROC_ENV] == "/given/by/the/operator"


def _served_by(directory: Path) -> dict[str, float]:
    """Explained rows per worker process, read from the workers' own files."""
    from prometheus_client.mmap_dict import MmapedDict

    per_pid: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            name, _sample, labels, *_ = json.loads(key)
            if name == "explainscore_rows" and labels.get("outcome") == "explained":
                per_pid[path.stem] = per_pid.get(path.stem, 0.0) + value
    return per_pid


def test_two_workers_report_the_sum(tmp_path: Path) -> None:
    """End to end: serve(workers=2); every scrape, whichever worker answers, counts all."""
    port = free_port()
    code = (
        "import os\n"
        f"os.environ[{MULTIPROC_ENV!r}] = {str(tmp_path)!r}\n"
        "from explainscore.service import ServiceConfig, serve\n"
        "config = ServiceConfig(workers=2, factory='tests.service.factories:small_models',\n"
        f"    tokens={{'crm': {TOKEN_CRM!r}}}, require_sign_off=False, log_level='warning')\n"
        f"serve(None, name='tiny', host='127.0.0.1', port={port}, config=config)\n"
    )
    headers = {"authorization": f"Bearer {TOKEN_CRM}"}
    with _serving(code, port, wait=90) as url:
        sent = 0
        # A fresh connection per request, so the kernel hands them to both workers.
        while sent < 300 and (
            sent < 20 or len([v for v in _served_by(tmp_path).values() if v]) < 2
        ):
            r = httpx.post(f"{url}/v1/models/tiny:explain", json={"instances": [[3, 2, 1]]},
                           headers=headers)  # fmt: skip
            assert r.status_code == 200
            sent += 1
        per_worker = _served_by(tmp_path)
        assert len([v for v in per_worker.values() if v]) == 2, per_worker
        assert sum(per_worker.values()) == sent
        for _ in range(6):  # each scrape on a new connection: either worker may answer
            text = httpx.get(f"{url}/metrics", headers=headers).text
            assert (
                _value(text, "explainscore_rows_total", model="tiny", outcome="explained") == sent
            )
