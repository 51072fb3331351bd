"""Benchmark explainscore's TreeSHAP core against shap, native contributions and fasttreeshap.

Usage::

    python benchmarks/bench_tree.py [--quick]

Builds three models on seeded synthetic data with 40 features (XGBoost 300 trees depth 6,
LightGBM 300 trees x 63 leaves, scikit-learn RandomForest 100 trees depth 10) and measures, at
one thread unless stated: single-row latency (p50/p99) of attributions, batch throughput
(rows/s) on 10,000 rows, 2 threads vs 1, the memory of the precomputation, and numba's
cold-start compile time (in a subprocess with an empty cache). The machine is shared and has
two cores, so every batch timing is the best of a few repeats. Writes
``benchmarks/results/tree.md`` and ``benchmarks/results/tree.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import lightgbm as lgb  # noqa: E402
import numba  # noqa: E402
import shap  # noqa: E402
import xgboost as xgb  # noqa: E402
from _timing import N_FEATURES, best_time, latencies, make_data, run_meta  # noqa: E402, F401 - re-exported
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from explainscore.attribution.tree import TreeShapCore, compile_ensemble  # noqa: E402

BATCH = 10_000


def shap_explainer(model: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")


def shap_fn(explainer: Any) -> Callable[[np.ndarray], Any]:
    def run(A: np.ndarray) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return explainer.shap_values(A, check_additivity=False)

    return run


#: Why fasttreeshap was not measured, when it was not (shown in the report).
FASTTREESHAP_SKIPPED: list[str] = []


def fasttreeshap_fn(model: Any, X: np.ndarray) -> Callable[[np.ndarray], Any] | None:
    """fasttreeshap v1 where it installs and runs on this model, else None (reason noted)."""
    try:
        import fasttreeshap  # type: ignore[import-not-found]

        explainer = fasttreeshap.TreeExplainer(model, algorithm="v1", n_jobs=1)
        explainer.shap_values(X[:2], check_additivity=False)
    except Exception as exc:  # any failure means "not measured", and the report says why
        FASTTREESHAP_SKIPPED.append(f"{type(model).__name__}: {type(exc).__name__}: {exc}"[:200])
        return None
    return lambda A: explainer.shap_values(A, check_additivity=False)


def explain_one_fn(model: Any, X: np.ndarray) -> Callable[[np.ndarray], Any]:
    """The full single-lead call: score, attributions, reason, reason codes (fast lane)."""
    from explainscore import ExplainedModel

    em = ExplainedModel(model, background=X[-500:])
    em.explain_one(X[0])
    return lambda A: em.explain_one(A[0])


def bench_model(name: str, model: Any, X: np.ndarray, native: Any, quick: bool) -> dict[str, Any]:
    reps_single = 100 if quick else 2000
    reps_ref_single = 10 if quick else 100
    repeats = 2 if quick else 3
    n_ref_batch = 150 if quick else 1000
    res: dict[str, Any] = {"model": name}
    t = time.perf_counter()
    ens = compile_ensemble(model)
    res["compile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    core = TreeShapCore(ens)
    res["precompute_s"] = time.perf_counter() - t
    res["precompute_bytes"] = core.nbytes
    res["ensemble_bytes"] = ens.nbytes
    res["table_leaves"] = core.n_table_leaves
    res["value_leaves"] = core.n_value_leaves
    res["direct_leaves"] = core.n_direct_leaves
    res["max_path_players"] = core.max_path_players
    batch = X[:BATCH]
    ours = core.shap_values
    res["ours_single"] = latencies(ours, X, reps_single)
    res["explain_one"] = latencies(explain_one_fn(model, X), X, reps_single)
    t1 = best_time(lambda: ours(batch), repeats)
    t2 = best_time(lambda: ours(batch, n_threads=2), repeats)
    res["ours_rows_s_1t"] = BATCH / t1
    res["ours_rows_s_2t"] = BATCH / t2
    res["thread_speedup"] = t1 / t2
    # Exactness on the benchmark model: efficiency and agreement with shap.
    vals = ours(batch[:200])
    res["efficiency_max_err"] = float(
        np.abs(vals.sum(1) + core.expected_value - ens.predict_raw(batch[:200])[:, 0]).max()
    )
    explainer = shap_explainer(model)
    run_shap = shap_fn(explainer)
    ref = np.asarray(run_shap(batch[:200]), dtype=np.float64)
    if ref.ndim == 3:
        ref = ref[:, :, 0]
    res["max_abs_diff_vs_shap"] = float(np.abs(ref - vals).max())
    res["shap_single"] = latencies(run_shap, X, reps_ref_single)
    res["shap_rows_s"] = n_ref_batch / best_time(lambda: run_shap(X[:n_ref_batch]), 1)
    fast = fasttreeshap_fn(model, X)
    if fast is not None:
        res["fasttreeshap_single"] = latencies(fast, X, reps_ref_single)
        res["fasttreeshap_rows_s"] = n_ref_batch / best_time(lambda: fast(X[:n_ref_batch]), 1)
    if native is not None:
        n_native = 2000 if quick else BATCH
        res["native_rows_s"] = n_native / best_time(lambda: native(X[:n_native]), repeats)
        res["native_single"] = latencies(native, X, reps_ref_single * 5)
    return res


COLD_START = """
import time
t0 = time.perf_counter()
import numpy as np
from sklearn.tree import DecisionTreeRegressor
from explainscore.attribution.tree import TreeShapCore, compile_ensemble
rng = np.random.default_rng(0)
X = rng.normal(size=(500, 5))
model = DecisionTreeRegressor(max_depth=14, random_state=0).fit(X, X[:, 0] + X[:, 1] * X[:, 2])
t1 = time.perf_counter()
ens = compile_ensemble(model)
ens.predict_raw(X)
core = TreeShapCore(ens, memory_budget=2**16)  # some leaves tabled, some direct
core.shap_values(X[:1])
core.shap_values(X, n_threads=2)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def cold_start() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT / "src"))
        out = {}
        for label in ("cold", "warm"):
            proc = subprocess.run(
                [sys.executable, "-c", COLD_START], env=env, capture_output=True, text=True,
                check=True,
            )  # fmt: skip
            imports, first = (float(v) for v in proc.stdout.split())
            out[f"{label}_first_call_s"] = first
            out[f"{label}_imports_s"] = imports
        return out


def markdown(results: list[dict[str, Any]], cold: dict[str, float], meta: dict[str, Any]) -> str:
    lines = [
        "# TreeSHAP core benchmark",
        "",
        f"Command: `{meta['command']}` — {meta['date']}, {meta['machine']}, "
        f"{meta['cpus']} CPUs (shared with other jobs; batch timings are the best of "
        f"{meta['repeats']} repeats, latencies are percentiles of single calls).",
        "",
        "One thread unless stated (numba threads 1, XGBoost nthread=1, LightGBM num_threads=1). "
        "Data: 40 features, seeded synthetic, 2% NaN.",
        "",
        "Single lead (µs; `explain_one` = score + attributions + reason + codes):",
        "",
        "| model | ours attributions p50 / p99 | ours `explain_one` p50 / p99 | shap p50 "
        "| native p50 | fasttreeshap v1 p50 | shap / ours attributions | shap / ours explain_one |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        nat = r.get("native_single", {}).get("p50_us")
        fts = r.get("fasttreeshap_single", {}).get("p50_us")
        sh = r["shap_single"]["p50_us"]
        lines.append(
            f"| {r['model']} | {r['ours_single']['p50_us']:.0f} / {r['ours_single']['p99_us']:.0f} "
            f"| {r['explain_one']['p50_us']:.0f} / {r['explain_one']['p99_us']:.0f} | {sh:.0f} "
            f"| {'-' if nat is None else f'{nat:.0f}'} | {'-' if fts is None else f'{fts:.0f}'} "
            f"| {sh / r['ours_single']['p50_us']:.1f}x | {sh / r['explain_one']['p50_us']:.1f}x |"
        )
    lines += [
        "",
        "Batch of 10,000 leads (rows/s):",
        "",
        "| model | ours 1T | ours 2T | 2T/1T | shap | native | ours/shap | ours/native "
        "| tables MB | leaves value/subset/direct |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        native = r.get("native_rows_s")
        vs_native = "-" if native is None else f"{r['ours_rows_s_1t'] / native:.1f}x"
        subsets = r["table_leaves"] - r["value_leaves"]
        lines.append(
            f"| {r['model']} | {r['ours_rows_s_1t']:.0f} | {r['ours_rows_s_2t']:.0f} "
            f"| {r['thread_speedup']:.2f} | {r['shap_rows_s']:.0f} "
            f"| {'-' if native is None else f'{native:.0f}'} "
            f"| {r['ours_rows_s_1t'] / r['shap_rows_s']:.1f}x | {vs_native} "
            f"| {r['precompute_bytes'] / 2**20:.1f} "
            f"| {r['value_leaves']}/{subsets}/{r['direct_leaves']} |"
        )
    lines += ["", "Exactness on the benchmark models (200 rows):", ""]
    for r in results:
        lines.append(
            f"- {r['model']}: efficiency max error {r['efficiency_max_err']:.1e}, "
            f"max |ours - shap| {r['max_abs_diff_vs_shap']:.1e}, compile {r['compile_s']:.2f} s, "
            f"precompute {r['precompute_s']:.2f} s, max distinct players on a path "
            f"{r['max_path_players']}"
        )
    if FASTTREESHAP_SKIPPED:
        lines += ["", "fasttreeshap not measured where it failed to import or run:", ""]
        lines += [f"- {why}" for why in dict.fromkeys(FASTTREESHAP_SKIPPED)]
    lines += [
        "",
        "Memory: precomputed tables stay within the default budget of 256 MB; a model whose "
        "tables would not fit gets smaller tables or none (same values, slower).",
        "",
        "Plot: `tree.png` next to this file (and `docs/img/tree_benchmark.png`).",
    ]
    lines += [
        "",
        f"Numba cold start (empty NUMBA_CACHE_DIR, subprocess): first call "
        f"{cold['cold_first_call_s']:.1f} s; with the cache warm: "
        f"{cold['warm_first_call_s']:.2f} s (imports {cold['warm_imports_s']:.1f} s).",
        "",
    ]
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Batch rows/s and single-lead latency against the anchors (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = [r["model"].split()[0] for r in results]
    x = np.arange(len(results))
    series = [
        ("explainscore 1T", [r["ours_rows_s_1t"] for r in results], "#1b7f5b"),
        ("shap", [r["shap_rows_s"] for r in results], "#999999"),
        ("native", [r.get("native_rows_s", np.nan) for r in results], "#4a6fa5"),
    ]
    for k, (label, vals, color) in enumerate(series):
        ax1.bar(x + (k - 1) * 0.27, vals, 0.27, label=label, color=color)
    ax1.set(xticks=x, xticklabels=names, yscale="log", ylabel="rows/s (10,000 leads)")
    ax1.set_title("Batch throughput, one thread")
    ax1.legend(fontsize=8)
    single = [
        ("explain_one", [r["explain_one"]["p50_us"] for r in results], "#1b7f5b"),
        ("attributions", [r["ours_single"]["p50_us"] for r in results], "#7fc4a4"),
        ("shap", [r["shap_single"]["p50_us"] for r in results], "#999999"),
    ]
    for k, (label, vals, color) in enumerate(single):
        ax2.bar(x + (k - 1) * 0.27, vals, 0.27, label=label, color=color)
    ax2.set(xticks=x, xticklabels=names, yscale="log", ylabel="µs per lead (p50)")
    ax2.set_title("One lead")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (< 3 minutes)")
    args = parser.parse_args()
    numba.set_num_threads(1)
    X, y = make_data(BATCH + (8_000 if args.quick else 20_000))
    Xtr, ytr, Xte = X[BATCH:], y[BATCH:], X[:BATCH]
    results = []

    m_xgb = xgb.XGBClassifier(n_estimators=300, max_depth=6, n_jobs=1, random_state=0)
    m_xgb.fit(Xtr, ytr)
    booster = m_xgb.get_booster()
    booster.set_param({"nthread": 1})
    results.append(
        bench_model(
            "XGBoost 300 trees, depth 6",
            m_xgb,
            Xte,
            lambda A: booster.predict(xgb.DMatrix(A, nthread=1), pred_contribs=True),
            args.quick,
        )
    )
    m_lgb = lgb.LGBMClassifier(n_estimators=300, num_leaves=63, verbose=-1, n_jobs=1)
    m_lgb.fit(Xtr, ytr)
    results.append(
        bench_model(
            "LightGBM 300 trees, 63 leaves",
            m_lgb,
            Xte,
            lambda A: m_lgb.predict(A, pred_contrib=True, num_threads=1),
            args.quick,
        )
    )
    m_rf = RandomForestClassifier(100, max_depth=10, random_state=0, n_jobs=2).fit(Xtr, ytr)
    results.append(bench_model("RandomForest 100 trees, depth 10", m_rf, Xte, None, args.quick))
    cold = cold_start()
    meta = run_meta("bench_tree.py", args.quick)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tree.json").write_text(
        json.dumps({"meta": meta, "models": results, "cold_start": cold}, indent=2)
    )
    plot(results, out_dir / "tree.png")
    plot(results, ROOT / "docs" / "img" / "tree_benchmark.png")
    text = markdown(results, cold, meta)
    (out_dir / "tree.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
