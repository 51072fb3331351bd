"""Run the benchmark suite and write benchmarks/results/REPORT.md.

Usage: python benchmarks/run.py [--quick]

Each benchmark is its own script (run in a subprocess so one failure does not stop the
others) writing ``results/<name>.md`` and ``.json``; this script collects their sections with
the machine and library versions into one report. Figures are measured in the same run as the
anchors they are compared with (shap, native XGBoost / LightGBM, LIME).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
SUITE = [
    "bench_tree",
    "bench_interventional",
    "bench_kernel",
    "bench_service",
    "bench_audit",
    "bench_paths",
]


def _versions() -> str:
    names = [
        "explainscore",
        "numpy",
        "numba",
        "shap",
        "xgboost-cpu",
        "lightgbm",
        "scikit-learn",
        "lime",
    ]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="CI-sized runs (a few minutes)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    sections = []
    failed = []
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in SUITE:
        script = HERE / f"{name}.py"
        if not script.exists():
            sections.append(f"## {name}\n\nnot present in this checkout.\n")
            continue
        start = time.perf_counter()
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        took = time.perf_counter() - start
        md = RESULTS / f"{name.removeprefix('bench_')}.md"
        if proc.returncode != 0:
            failed.append(name)
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            sections.append(f"## {name}\n\nFAILED after {took:.0f} s:\n\n```\n{tail}\n```\n")
        elif md.exists():
            plot = RESULTS / f"{name.removeprefix('bench_')}.png"
            figure = f"\n![{name}]({plot.name})\n" if plot.exists() else ""
            sections.append(md.read_text() + figure + f"\n_{name}: {took:.0f} s._\n")
    header = [
        "# explainscore release benchmark report",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
        f"`python benchmarks/run.py{' --quick' if args.quick else ''}`.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}. Versions: {_versions()}.",
        "One thread unless a table says otherwise (BLAS/OpenMP limited to 1).",
        "",
    ]
    (RESULTS / "REPORT.md").write_text("\n".join(header) + "\n" + "\n".join(sections))
    print(f"wrote {RESULTS / 'REPORT.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
