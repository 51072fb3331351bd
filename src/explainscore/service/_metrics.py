"""Prometheus metrics in the text exposition format, without a client library.

Counters and one histogram are all the service needs; writing the format (version 0.0.4)
directly avoids a dependency. Metrics are per process: with several workers, each reports its
own (see docs/service.md).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds; dense below 25 ms, where a single-lead explanation should land.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds


class Metrics:
    """Request counts by endpoint and status, explained/rejected rows, explain latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._rows: dict[tuple[str, str], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = {}

    def count_request(self, endpoint: str, method: str, status: int) -> None:
        """Count one request. The caller passes bounded labels (route template, standard
        method or "other"): every distinct label set is a series kept for the process's life."""
        with self._lock:
            self._requests[(endpoint, method, str(status))] += 1

    def count_rows(self, model: str, outcome: str, n: int) -> None:
        with self._lock:
            self._rows[(model, outcome)] += n

    def observe_explain(self, model: str, seconds: float) -> None:
        with self._lock:
            self._latency.setdefault(model, _Histogram()).observe(seconds)

    def render(self) -> str:
        """The exposition text."""
        out = [
            "# HELP explainscore_requests_total HTTP requests by endpoint, method and status.",
            "# TYPE explainscore_requests_total counter",
        ]
        with self._lock:
            for (endpoint, method, status), n in sorted(self._requests.items()):
                out.append(
                    f'explainscore_requests_total{{endpoint="{_label(endpoint)}",'
                    f'method="{_label(method)}",status="{status}"}} {n}'
                )
            out += [
                "# HELP explainscore_rows_total Instances by model and outcome "
                "(explained, predicted, rejected).",
                "# TYPE explainscore_rows_total counter",
            ]
            for (model, outcome), n in sorted(self._rows.items()):
                out.append(
                    f'explainscore_rows_total{{model="{_label(model)}",outcome="{outcome}"}} {n}'
                )
            out += [
                "# HELP explainscore_explain_latency_seconds Time to explain one request's "
                "instances (validation, scoring, attribution, reasons, audit).",
                "# TYPE explainscore_explain_latency_seconds histogram",
            ]
            for model, hist in sorted(self._latency.items()):
                name = _label(model)
                cumulative = 0
                for bound, count in zip(LATENCY_BUCKETS, hist.counts, strict=False):
                    cumulative += count
                    out.append(
                        f'explainscore_explain_latency_seconds_bucket{{model="{name}",'
                        f'le="{bound}"}} {cumulative}'
                    )
                cumulative += hist.counts[-1]
                out.append(
                    f'explainscore_explain_latency_seconds_bucket{{model="{name}",le="+Inf"}} '
                    f"{cumulative}"
                )
                out.append(
                    f'explainscore_explain_latency_seconds_sum{{model="{name}"}} {hist.total!r}'
                )
                out.append(
                    f'explainscore_explain_latency_seconds_count{{model="{name}"}} {cumulative}'
                )
        return "\n".join(out) + "\n"
