"""Prometheus metrics of the service, through ``prometheus_client``.

One :class:`Metrics` per application, each with its own registry (two apps in one process,
as in tests, never collide). With several worker processes, ``prometheus_client``'s
multiprocess mode makes every worker's ``/metrics`` report the sum over all workers: each
worker writes its values to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``, and a scrape
reads them all. ``serve`` sets that directory up for its workers (:func:`multiprocess_dir`);
under another process manager, set the variable yourself (see docs/service.md).

The labels stay bounded whatever the requests: the caller passes route templates (or
``unmatched``), standard methods (or ``other``) and served model names only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from .._optional import import_optional

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "MULTIPROC_ENV", "Metrics", "multiprocess_dir"]

#: The text format prometheus_client writes (version 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds; dense below 25 ms, where a single-lead explanation should land.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: prometheus_client's switch for multiprocess mode (read when it is first imported).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """Request counts by endpoint and status, explained/rejected rows, explain latency."""

    def __init__(self) -> None:
        # Imported here, not at module level: importing explainscore.service stays cheap.
        prom = _prometheus()
        self._registry = prom.CollectorRegistry(auto_describe=True)
        self._requests = prom.Counter(
            "explainscore_requests",
            "HTTP requests by endpoint, method and status.",
            ("endpoint", "method", "status"),
            registry=self._registry,
        )
        self._rows = prom.Counter(
            "explainscore_rows",
            "Instances by model and outcome (explained, predicted, rejected).",
            ("model", "outcome"),
            registry=self._registry,
        )
        self._latency = prom.Histogram(
            "explainscore_explain_latency_seconds",
            "Time to explain one request's instances (validation, scoring, attribution, "
            "reasons, audit).",
            ("model",),
            buckets=LATENCY_BUCKETS,
            registry=self._registry,
        )
        # The labelled series, looked up once: .labels() validates and locks on every call,
        # a few microseconds a request. The label sets are bounded (see the module
        # docstring), so these dicts are too; a race only looks a series up twice.
        self._series: dict[tuple[str, ...], Any] = {}

    def count_request(self, endpoint: str, method: str, status: int) -> None:
        """Count one request. The caller passes bounded labels (route template, standard
        method or "other"): every distinct label set is a series kept for the process's life."""
        self._child(self._requests, "requests", endpoint, method, str(status)).inc()

    def count_rows(self, model: str, outcome: str, n: int) -> None:
        """Count ``n`` instances of ``model`` with ``outcome`` (a zero count creates the
        series, so a scrape shows it before the first rejection)."""
        self._child(self._rows, "rows", model, outcome).inc(n)

    def observe_explain(self, model: str, seconds: float) -> None:
        """Record the time one request's instances took to explain."""
        self._child(self._latency, "latency", model).observe(seconds)

    def _child(self, metric: Any, name: str, *labels: str) -> Any:
        key = (name, *labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = metric.labels(*labels)
        return series

    def render(self) -> str:
        """The exposition text: this process's metrics, or every worker's summed in
        multiprocess mode."""
        prom = _prometheus()
        directory = os.environ.get(MULTIPROC_ENV)
        if directory and os.path.isdir(directory):
            from prometheus_client import multiprocess

            # A fresh registry per scrape, as prometheus_client requires: the collector
            # reads the files of every worker, this one's included.
            registry = prom.CollectorRegistry()
            collect: Any = multiprocess.MultiProcessCollector  # untyped in the library
            collect(registry, path=directory)
            return str(prom.generate_latest(registry).decode("utf-8"))
        return str(prom.generate_latest(self._registry).decode("utf-8"))


def _prometheus() -> Any:
    return import_optional("prometheus_client", extra="service", purpose="explainscore.service")


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str | None]:
    """Multiprocess mode for worker processes started inside the block.

    If ``PROMETHEUS_MULTIPROC_DIR`` is unset, an empty private directory is made, named in it
    for the workers to inherit, and removed with the variable afterwards. If it is set, it is
    used as given (prometheus_client expects it emptied before the service starts). Yields
    the directory.
    """
    if os.environ.get(MULTIPROC_ENV):
        yield os.environ[MULTIPROC_ENV]
        return
    directory = tempfile.mkdtemp(prefix="explainscore-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
