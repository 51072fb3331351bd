"""What the benchmark scripts share: the synthetic leads and the two ways of timing.

Imported by the scripts as a sibling module (each script's folder is on ``sys.path`` when it
runs); not part of the package.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

N_FEATURES = 40


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic leads: 40 numeric columns, interactions, 2% missing values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    score = X[:, :8] @ rng.normal(size=8) + X[:, 8] * X[:, 9] + np.abs(X[:, 10])
    y = (score + rng.normal(size=n) > np.median(score)).astype(int)
    X[rng.random(size=X.shape) < 0.02] = np.nan  # a few missing values, as leads have
    return X, y


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds (the least disturbed by other jobs)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def latencies(
    fn: Callable[[np.ndarray], Any], X: np.ndarray, reps: int, *, unit: str = "us"
) -> dict[str, float]:
    """p50 and p99 of single-row calls (after a short warm-up), in µs or ms."""
    scale = {"us": 1e6, "ms": 1e3}[unit]
    for i in range(min(5, reps)):
        fn(X[i : i + 1])
    times = []
    for i in range(reps):
        row = X[i % X.shape[0] : i % X.shape[0] + 1]
        t = time.perf_counter()
        fn(row)
        times.append(time.perf_counter() - t)
    arr = np.asarray(times) * scale
    return {
        f"p50_{unit}": float(np.percentile(arr, 50)),
        f"p99_{unit}": float(np.percentile(arr, 99)),
    }


def run_meta(script: str, quick: bool) -> dict[str, Any]:
    """Command, date, machine and library versions of a tree benchmark run."""
    import lightgbm
    import numba
    import shap
    import xgboost

    return {
        "command": f"python benchmarks/{script}" + (" --quick" if quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "repeats": 2 if quick else 3,
        "versions": {
            "numba": numba.__version__, "shap": shap.__version__, "xgboost": xgboost.__version__,
            "lightgbm": lightgbm.__version__, "numpy": np.__version__,
        },
    }  # fmt: skip
