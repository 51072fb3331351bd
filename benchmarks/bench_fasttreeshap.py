"""explainscore's TreeSHAP core against fasttreeshap v1 / v2 and shap, in one process.

Usage (in the pinned environment of ``benchmarks/fasttreeshap-requirements.txt``; fasttreeshap
0.1.6 does not run in the dev venv, whose NumPy 2 and XGBoost 3 it cannot load)::

    /tmp/fts-venv/bin/python benchmarks/bench_fasttreeshap.py [--quick]

Trains the three models of ``bench_tree.py`` on its data (XGBoost 300 trees depth 6, LightGBM
300 trees x 63 leaves, RandomForest 100 trees depth 10; 40 features, 2% missing) and measures,
at one thread everywhere, in the same process and on the same models:

* one lead: p50/p99 of ``TreeShapCore.shap_values(row)`` (attributions alone), fasttreeshap
  ``TreeExplainer(model, algorithm="v1"/"v2", n_jobs=1).shap_values(row)`` and
  ``shap.TreeExplainer.shap_values(row)``; the methods take turns in rounds so that a
  neighbour's load falls on all of them alike;
* a batch of 10,000 leads (rows/s): ours on all 10,000 rows, the references on 10,000 rows too
  (``--quick``: on fewer rows, rows/s scaled); fasttreeshap v2 both as ``algorithm="v2"``
  picks it (per-tree precomputation, "v2_1") and forced to ``"v2_2"`` (the largest
  precomputation: every tree at once), wherever its memory check allows;
* agreement on 200 rows: max |ours - fasttreeshap| and max |ours - shap|.

Writes ``benchmarks/results/fasttreeshap.md`` and ``benchmarks/results/fasttreeshap.json``.
Not part of ``benchmarks/run.py`` and not imported by the tests.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy, numba, XGBoost or LightGBM load their pools.
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARS:
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import fasttreeshap  # noqa: E402
import lightgbm as lgb  # noqa: E402
import numba  # noqa: E402
import shap  # noqa: E402
import xgboost as xgb  # noqa: E402
from bench_tree import N_FEATURES, make_data  # noqa: E402 - the same leads as bench_tree
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from explainscore.attribution.tree import TreeShapCore, compile_ensemble  # noqa: E402

BATCH = 10_000
N_AGREE = 200
#: The issue's targets: one lead (XGBoost 300 x depth 6) at least 4x faster than fasttreeshap
#: v1, attributions alone; a batch of 10,000 leads about 2x fasttreeshap v2.
TARGET_SINGLE_VS_V1 = 4.0
TARGET_BATCH_VS_V2 = 2.0
PACKAGES = (
    "numpy", "numba", "llvmlite", "scipy", "pandas", "scikit-learn", "xgboost", "lightgbm",
    "shap", "fasttreeshap", "slicer", "explainscore",
)  # fmt: skip

Fn = Callable[[np.ndarray], Any]


def class0(values: Any) -> np.ndarray:
    """Attributions of output 0 (what ``TreeShapCore`` explains by default), features only."""
    if isinstance(values, list):  # fasttreeshap / old shap: one array per class
        values = values[0]
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 3:  # shap >= 0.45: (rows, features, classes)
        arr = arr[:, :, 0]
    return arr[:, :N_FEATURES]


def fasttreeshap_fn(model: Any, algorithm: str) -> tuple[Fn, Any]:
    explainer = fasttreeshap.TreeExplainer(model, algorithm=algorithm, n_jobs=1)

    def run(A: np.ndarray) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # v2's "switched to v1" is recorded, not printed
            return explainer.shap_values(A, check_additivity=False)

    return run, explainer


def shap_fn(model: Any) -> Fn:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")

    def run(A: np.ndarray) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return explainer.shap_values(A, check_additivity=False)

    return run


def v2_plan(explainer: Any, X: np.ndarray) -> dict[str, Any]:
    """What fasttreeshap v2 does on ``X``: its own memory check picks v2_1, v2_2 or v1."""
    fits_v2_1, fits_v2_2 = explainer._memory_check(X)
    m = explainer.model
    max_leaves = (max(m.num_nodes) + 1) / 2
    table = max_leaves * 2 ** int(m.max_depth) * 8  # bytes of one tree's combination table
    return {
        "max_depth": int(m.max_depth),
        "v2_runs_as": "v2_1" if fits_v2_1 else ("v2_2" if fits_v2_2 else "v1 (fallback)"),
        "v2_2_possible": bool(fits_v2_2),
        "v2_1_table_bytes": float(table),
        "v2_2_table_bytes": float(table * len(m.num_nodes)),
    }


def single_lead(
    fns: dict[str, Fn], reps: dict[str, int], X: np.ndarray, rounds: int
) -> dict[str, dict[str, float]]:
    """p50/p99 (µs) of one-row calls; methods take turns in ``rounds`` rounds.

    Call ``c`` of a method explains row ``c``, so every method sees the same first rows.
    """
    for fn in fns.values():
        for i in range(3):
            fn(X[i : i + 1])
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            per_round = max(1, reps[name] // rounds)
            for c in range(r * per_round, (r + 1) * per_round):
                row = X[c % X.shape[0] : c % X.shape[0] + 1]
                t = time.perf_counter()
                fn(row)
                times[name].append(time.perf_counter() - t)
    out = {}
    for name, ts in times.items():
        arr = np.asarray(ts) * 1e6
        out[name] = {
            "p50_us": float(np.percentile(arr, 50)),
            "p99_us": float(np.percentile(arr, 99)),
            "calls": len(ts),
        }
    return out


def batch(
    fns: dict[str, Fn], rows: dict[str, int], X: np.ndarray, repeats: dict[str, int]
) -> dict[str, dict[str, float]]:
    """rows/s of one call on ``rows[name]`` rows, best of ``repeats[name]``, taking turns."""
    best = {name: float("inf") for name in fns}
    for r in range(max(repeats.values())):
        for name, fn in fns.items():
            if r >= repeats[name]:
                continue
            A = X[: rows[name]]
            t = time.perf_counter()
            fn(A)
            best[name] = min(best[name], time.perf_counter() - t)
    return {
        name: {"rows": rows[name], "best_s": best[name], "rows_s": rows[name] / best[name]}
        for name in fns
    }


def bench_model(name: str, model: Any, X: np.ndarray, quick: bool) -> dict[str, Any]:
    res: dict[str, Any] = {"model": name}
    t = time.perf_counter()
    core = TreeShapCore(compile_ensemble(model))
    res["ours_setup_s"] = time.perf_counter() - t
    res["leaves"] = core.n_table_leaves + core.n_direct_leaves
    Xb = X[:BATCH]
    v1, _ = fasttreeshap_fn(model, "v1")
    v2, v2_explainer = fasttreeshap_fn(model, "v2")
    plan = v2_plan(v2_explainer, Xb)
    res["fasttreeshap_v2"] = plan
    res["fasttreeshap_outputs"] = int(v2_explainer.model.num_outputs)
    ref = shap_fn(model)
    fns: dict[str, Fn] = {"ours": core.shap_values, "fts_v1": v1, "fts_v2": v2, "shap": ref}
    fts_v2_2: Fn | None = None
    if plan["v2_2_possible"]:
        fts_v2_2, _ = fasttreeshap_fn(model, "v2_2")

    # Agreement on the first 200 rows (class 0 where a classifier has two outputs).
    A = Xb[:N_AGREE]
    ours = core.shap_values(A)
    clean = ~np.isnan(A).any(axis=1)
    agree: dict[str, Any] = {"rows": N_AGREE, "rows_without_missing": int(clean.sum())}
    others = dict(fns)
    if fts_v2_2 is not None:
        others["fts_v2_2"] = fts_v2_2
    for other, fn in others.items():
        if other == "ours":
            continue
        diff = np.abs(class0(fn(A)) - ours)
        agree[f"max_abs_diff_{other}"] = float(diff.max())
        agree[f"max_abs_diff_{other}_rows_without_missing"] = float(diff[clean].max())
    res["agreement"] = agree

    # One lead: v2 recomputes its tables on every call, so it gets the fewest calls.
    n = 100 if quick else 1000
    reps = {"ours": 2 * n, "fts_v1": n, "fts_v2": max(10, n // 20), "shap": max(20, n // 4)}
    if plan["v2_runs_as"].startswith("v1"):
        reps["fts_v2"] = reps["fts_v1"]
    res["single"] = single_lead(fns, reps, Xb, rounds=5 if quick else 10)

    # Batch: ours on all 10,000 rows; the references on ``n_ref`` rows (rows/s scaled).
    n_ref = 1000 if quick else BATCH
    batch_fns = dict(fns)
    if fts_v2_2 is not None:
        batch_fns["fts_v2_2"] = fts_v2_2
    if plan["v2_runs_as"].startswith("v1"):
        del batch_fns["fts_v2"]  # the same code as v1: not timed twice
    rows = {k: (BATCH if k == "ours" else n_ref) for k in batch_fns}
    # Ours is timed on 10,000 rows in both modes; the references once on 10,000 rows, or
    # twice on their fewer rows with --quick.
    repeats = {k: (3 if k == "ours" else (2 if quick else 1)) for k in rows}
    res["batch"] = batch(batch_fns, rows, Xb, repeats)
    if "fts_v2" not in res["batch"]:
        res["batch"]["fts_v2"] = dict(res["batch"]["fts_v1"], note="ran as v1 (memory check)")

    # Ratios against the targets.
    single, bt = res["single"], res["batch"]
    res["single_v1_over_ours"] = single["fts_v1"]["p50_us"] / single["ours"]["p50_us"]
    res["single_v2_over_ours"] = single["fts_v2"]["p50_us"] / single["ours"]["p50_us"]
    res["single_shap_over_ours"] = single["shap"]["p50_us"] / single["ours"]["p50_us"]
    v2_rates = {k: bt[k]["rows_s"] for k in ("fts_v2", "fts_v2_2") if k in bt}
    best_v2 = max(v2_rates, key=lambda k: v2_rates[k])
    res["batch_best_v2"] = best_v2
    res["batch_ours_over_v2"] = bt["ours"]["rows_s"] / v2_rates[best_v2]
    res["batch_ours_over_v1"] = bt["ours"]["rows_s"] / bt["fts_v1"]["rows_s"]
    res["batch_ours_over_shap"] = bt["ours"]["rows_s"] / bt["shap"]["rows_s"]
    res["target_single_met"] = res["single_v1_over_ours"] >= TARGET_SINGLE_VS_V1
    res["target_batch_met"] = res["batch_ours_over_v2"] >= TARGET_BATCH_VS_V2
    return res


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "src_modified": bool(git("status", "--porcelain", "--", "src/explainscore")),
    }


def machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt_bytes(b: float) -> str:
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b / 2**10:.0f} KB"


def yes(met: bool) -> str:
    return "**met**" if met else "**not met**"


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    v = meta["versions"]
    pins = ", ".join(f"{k} {v[k]}" for k in PACKAGES)
    src = meta["git"]
    lines = [
        "# explainscore vs fasttreeshap (and shap), same process",
        "",
        f"Command: `{meta['command']}` — {meta['date']}, {meta['machine']}, {meta['cpus']} CPUs "
        "(shared with other jobs: single-lead methods take turns in rounds; batch timings are "
        "the best of the repeats in the JSON; 1-minute load average "
        f"{meta['load_avg_1min']['start']:.2f} at the start, {meta['load_avg_1min']['end']:.2f} "
        f"at the end; {meta['wall_s']:.0f} s in all).",
        "",
        f"Environment (not the dev venv; see *How to reproduce*): Python {meta['python']}; "
        f"{pins}. explainscore source at commit {src['commit']}"
        + (" with uncommitted changes under src/explainscore." if src["src_modified"] else "."),
        "",
        "One thread everywhere (NUMBA_NUM_THREADS=OMP_NUM_THREADS=1, fasttreeshap `n_jobs=1`, "
        "explainscore `n_threads=1`). Data and models as `bench_tree.py`: 40 features, seeded "
        'synthetic, 2% NaN; XGBoost 300 trees depth 6 (`tree_method="hist"`, the default of '
        "XGBoost >= 2, set explicitly on 1.7), LightGBM 300 trees x 63 leaves, RandomForest 100 "
        "trees depth 10. Inputs are NumPy float64 rows; `check_additivity=False` for both "
        "references. Ours is `TreeShapCore.shap_values` (attributions alone, tables built once "
        "per model); fasttreeshap and shap are `TreeExplainer(...).shap_values`.",
        "",
        "## Targets (from the TreeSHAP core issue)",
        "",
        "| target | model | measured | status |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| one lead, attributions alone >= {TARGET_SINGLE_VS_V1:.0f}x faster than "
            f"fasttreeshap v1 (p50) | {r['model']} | {r['single_v1_over_ours']:.2f}x "
            f"| {yes(r['target_single_met'])}"
            + (" (the issue's target model)" if r["model"].startswith("XGBoost") else "")
            + " |"
        )
    for r in results:
        v2_label = r["batch_best_v2"].replace("fts_", "")
        if r["fasttreeshap_v2"]["v2_runs_as"].startswith("v1"):
            v2_label = "v2, which runs as v1 here"
        lines.append(
            f"| batch of 10,000 rows/s about {TARGET_BATCH_VS_V2:.0f}x fasttreeshap v2 "
            f"(fastest v2 variant) | {r['model']} | {r['batch_ours_over_v2']:.2f}x vs "
            f"{v2_label} | {yes(r['target_batch_met'])} |"
        )
    lines += [
        "",
        "## One lead (µs per call)",
        "",
        "| model | ours p50 / p99 | fasttreeshap v1 p50 / p99 | fasttreeshap v2 p50 / p99 "
        "| shap p50 / p99 | v1 / ours | v2 / ours | shap / ours | calls ours/v1/v2/shap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["single"]
        cells = " | ".join(
            f"{s[k]['p50_us']:.0f} / {s[k]['p99_us']:.0f}"
            for k in ("ours", "fts_v1", "fts_v2", "shap")
        )
        calls = "/".join(str(s[k]["calls"]) for k in ("ours", "fts_v1", "fts_v2", "shap"))
        lines.append(
            f"| {r['model']} | {cells} | {r['single_v1_over_ours']:.2f}x "
            f"| {r['single_v2_over_ours']:.1f}x | {r['single_shap_over_ours']:.1f}x | {calls} |"
        )
    lines += [
        "",
        "Where one lead's time goes: fasttreeshap v1 costs about as much per row in a batch as "
        "for one lead, ours much less in a batch than for one lead (µs):",
        "",
        "| model | ours one lead p50 | ours per row in the batch | fts v1 one lead p50 "
        f"| fts v1 per row in the batch | ours one-lead p50 needed for {TARGET_SINGLE_VS_V1:.0f}x v1 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        s, b = r["single"], r["batch"]
        lines.append(
            f"| {r['model']} | {s['ours']['p50_us']:.0f} | {1e6 / b['ours']['rows_s']:.0f} "
            f"| {s['fts_v1']['p50_us']:.0f} | {1e6 / b['fts_v1']['rows_s']:.0f} "
            f"| {s['fts_v1']['p50_us'] / TARGET_SINGLE_VS_V1:.0f} |"
        )
    lines += [
        "",
        "## Batch (rows/s, one thread)",
        "",
        '| model | ours | fasttreeshap v1 | fasttreeshap v2 (`algorithm="v2"`) '
        "| fasttreeshap v2_2 (all trees precomputed) | shap | ours / best v2 | ours / v1 "
        "| ours / shap | rows timed ours / references |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b = r["batch"]
        v2_2 = b.get("fts_v2_2")
        v2_cell = f"{b['fts_v2']['rows_s']:.0f}"
        if "note" in b["fts_v2"]:
            v2_cell += " (ran as v1)"
        else:
            v2_cell += f" (ran as {r['fasttreeshap_v2']['v2_runs_as']})"
        v2_2_cell = "n/a" if v2_2 is None else f"{v2_2['rows_s']:.0f}"
        lines.append(
            f"| {r['model']} | {b['ours']['rows_s']:.0f} | {b['fts_v1']['rows_s']:.0f} "
            f"| {v2_cell} | {v2_2_cell} "
            f"| {b['shap']['rows_s']:.0f} | {r['batch_ours_over_v2']:.1f}x "
            f"| {r['batch_ours_over_v1']:.1f}x | {r['batch_ours_over_shap']:.1f}x "
            f"| {b['ours']['rows']} / {b['fts_v1']['rows']} |"
        )
    if meta["quick"]:
        lines += [
            "",
            f"`--quick`: the references were timed on {results[0]['batch']['fts_v1']['rows']} "
            "rows and scaled to rows/s. fasttreeshap v2 recomputes its tables in every call, so "
            "on fewer rows that cost is spread thinner: its rows/s here is a little lower than "
            "it would be on 10,000 rows (run without `--quick` for the 10,000-row figure).",
        ]
    lines += [
        "",
        "## fasttreeshap v2 on these models",
        "",
        "| model | deepest tree | one tree's table | all trees' tables (v2_2) | `algorithm=\"v2\"` "
        "ran as |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        p = r["fasttreeshap_v2"]
        lines.append(
            f"| {r['model']} | {p['max_depth']} | {fmt_bytes(p['v2_1_table_bytes'])} "
            f"| {fmt_bytes(p['v2_2_table_bytes'])} | {p['v2_runs_as']} |"
        )
    lines += [
        "",
        "fasttreeshap's v2 tables hold 2^depth entries per leaf; its own memory check (a quarter "
        "of the machine's memory) sends a model with deeper trees back to v1 with a warning. "
        'Forcing `algorithm="v2_2"` past that check aborts the process (`std::bad_alloc`), so '
        "v2_2 is only run where the check passes.",
        "",
        f"## Agreement ({N_AGREE} rows, output 0)",
        "",
        "| model | max \\|ours - fts v1\\| | max \\|ours - fts v2\\| | same, rows without NaN "
        "| max \\|ours - fts v2_2\\| | max \\|ours - shap\\| |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        a = r["agreement"]
        v22 = a.get("max_abs_diff_fts_v2_2")
        lines.append(
            f"| {r['model']} | {a['max_abs_diff_fts_v1']:.1e} | {a['max_abs_diff_fts_v2']:.1e} "
            f"| {a['max_abs_diff_fts_v2_rows_without_missing']:.1e} "
            f"({a['rows_without_missing']} rows) | {'n/a' if v22 is None else f'{v22:.1e}'} "
            f"| {a['max_abs_diff_shap']:.1e} |"
        )
    lines += [
        "",
        "fasttreeshap v2 disagrees on rows with a missing value: its v2 recursion "
        "(`tree_shap_recursive_v2` in `cext/tree_shap.h` of 0.1.6) follows "
        "`x[split] <= threshold` and never reads the missing flag or the default direction, "
        "so a NaN always goes right. On rows without NaN it matches ours to float32 "
        "rounding. Its timings are still those of the full computation.",
        "",
        "On the RandomForest, fasttreeshap v1 and v2 also disagree on rows with a missing value "
        "and match ours to 1e-15 on the others: their scikit-learn loader sets "
        '`children_default = children_left` ("missing values not supported in sklearn"), '
        "while scikit-learn >= 1.4 forests learn a direction for missing values "
        "(`missing_go_to_left`); shap fixed the same in its loader in 2025 and agrees with ours.",
        "",
        "## Caveats",
        "",
        "- fasttreeshap and shap explain every output of a model in one pass: for the binary "
        "RandomForest that is both classes (2 outputs), while ours explains one output "
        "(class 0; class 1 is its negative). For XGBoost and LightGBM all explain the one "
        "margin output.",
        "- fasttreeshap v2 (and its v2_2 variant) rebuild their tables inside each "
        "`shap_values` call; ours builds them once per model (`ours_setup_s` in the JSON) and "
        "that time is not in the figures above.",
        "- XGBoost here is 1.7.6 (fasttreeshap reads 1.x models only), the dev venv has 3.x: "
        "the trees are grown the same way (hist, depth 6) but 1.7 starts from base_score 0.5 "
        "rather than an estimated intercept, so the model is similar, not identical, to the one "
        "in `tree.md`. shap here is 0.49.1 (the last on NumPy 1.x), the dev venv has 0.51.",
        "",
        "## How to reproduce",
        "",
        "From the repository root, with Python 3.11 and gcc:",
        "",
        "```sh",
        "python3.11 -m venv /tmp/fts-venv",
        "/tmp/fts-venv/bin/pip install -r benchmarks/fasttreeshap-requirements.txt",
        "/tmp/fts-venv/bin/pip install --no-deps --no-build-isolation --no-binary fasttreeshap "
        "fasttreeshap==0.1.6",
        "/tmp/fts-venv/bin/pip install --no-deps -e .",
        "/tmp/fts-venv/bin/python benchmarks/bench_fasttreeshap.py --quick   # or without --quick",
        "```",
        "",
        "fasttreeshap 0.1.6 is an sdist only; `--no-build-isolation` compiles its C extension "
        "against the pinned NumPy 1.26 and `--no-deps` keeps its `slicer==0.0.7` pin from "
        "clashing with shap's `slicer==0.0.8`. explainscore goes in with `--no-deps` so pip "
        "leaves NumPy at 1.26.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls and rows (~2 minutes)")
    args = parser.parse_args()
    numba.set_num_threads(1)
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    X, y = make_data(BATCH + (8_000 if args.quick else 20_000))
    Xtr, ytr, Xte = X[BATCH:], y[BATCH:], X[:BATCH]
    models = [
        (
            "XGBoost 300 trees, depth 6",
            xgb.XGBClassifier(
                n_estimators=300, max_depth=6, n_jobs=1, random_state=0, tree_method="hist"
            ),
        ),
        (
            "LightGBM 300 trees, 63 leaves",
            lgb.LGBMClassifier(n_estimators=300, num_leaves=63, verbose=-1, n_jobs=1),
        ),
        (
            "RandomForest 100 trees, depth 10",
            RandomForestClassifier(100, max_depth=10, random_state=0, n_jobs=2),
        ),
    ]
    results = []
    for name, model in models:
        model.fit(Xtr, ytr)
        results.append(bench_model(name, model, Xte, args.quick))
        print(f"{name}: done at {time.perf_counter() - t_start:.0f} s", flush=True)
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    meta = {
        "command": "python benchmarks/bench_fasttreeshap.py" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "threads_env": {var: os.environ[var] for var in THREAD_VARS},
        "git": git_state(),
        "targets": {"single_vs_fts_v1": TARGET_SINGLE_VS_V1, "batch_vs_fts_v2": TARGET_BATCH_VS_V2},
        "wall_s": round(time.perf_counter() - t_start, 1),
        "load_avg_1min": {"start": load_start, "end": os.getloadavg()[0]},
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "fasttreeshap.json").write_text(
        json.dumps({"meta": meta, "models": results}, indent=2) + "\n"
    )
    text = markdown(results, meta)
    (out_dir / "fasttreeshap.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
