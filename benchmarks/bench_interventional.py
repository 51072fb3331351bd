"""Benchmark explainscore's interventional TreeSHAP against shap's interventional TreeExplainer.

Usage::

    python benchmarks/bench_interventional.py [--quick]

The probability option of ``ExplainedModel`` for boosted classifiers: per background row, the
exact Shapley values of the margin game rescaled to the probability difference, averaged over
100 background rows. Models on seeded synthetic data with 40 features and 2% NaN (the data of
``bench_tree.py``): XGBoost 300 trees depth 6 (the headline) and LightGBM 300 trees x 63
leaves. Measured at one thread unless stated: the build (background groups), one lead
(p50/p99 of single calls), 1,000 leads (best of a few repeats), 2 threads, and the largest
difference from shap. shap is timed on fewer leads in ``--quick`` (its time is linear in the
leads). Writes ``benchmarks/results/interventional.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
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
from _timing import best_time, latencies, make_data, run_meta  # noqa: E402

from explainscore.attribution.tree import InterventionalTreeCore, compile_ensemble  # noqa: E402

N_BACKGROUND = 100
N_LEADS = 1_000


def shap_fn(model: Any, bg: np.ndarray, space: str) -> Callable[[np.ndarray], np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(
            model, data=bg, feature_perturbation="interventional", model_output=space
        )

    def run(A: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(explainer.shap_values(A, check_additivity=False), dtype=np.float64)

    return run


def bench_model(
    name: str, model: Any, X: np.ndarray, bg: np.ndarray, quick: bool
) -> dict[str, Any]:
    repeats = 2 if quick else 3
    reps_single = 50 if quick else 300
    n_shap = 200 if quick else N_LEADS
    leads = X[:N_LEADS]
    res: dict[str, Any] = {"model": name, "n_background": bg.shape[0], "n_leads": N_LEADS}
    ens = compile_ensemble(model)
    for space, shap_space in (("probability", "probability"), ("margin", "raw")):
        r: dict[str, Any] = {}
        t = time.perf_counter()
        core = InterventionalTreeCore(ens, bg, output_space=space)
        r["build_s"] = time.perf_counter() - t
        r["precompute_bytes"] = core.nbytes
        r["groups_per_leaf"] = core.n_groups / int((ens.left < 0).sum())
        core.shap_values(leads[:100], n_threads=2)  # compile before timing
        r["ours_single"] = latencies(core.shap_values, X, reps_single, unit="ms")
        t1 = best_time(lambda: core.shap_values(leads), repeats)  # noqa: B023
        t2 = best_time(lambda: core.shap_values(leads, n_threads=2), repeats)  # noqa: B023
        r["ours_1000_s_1t"] = t1
        r["ours_1000_s_2t"] = t2
        values, output = core.values_and_output(leads)
        r["efficiency_max_err"] = float(np.abs(core.expected_value + values.sum(1) - output).max())
        run_shap = shap_fn(model, bg, shap_space)
        r["shap_single"] = latencies(run_shap, X, 5 if quick else 20, unit="ms")
        t = time.perf_counter()
        ref = run_shap(leads[:n_shap])
        r["shap_1000_s"] = (time.perf_counter() - t) * N_LEADS / n_shap
        r["shap_leads_timed"] = n_shap
        r["max_abs_diff_vs_shap"] = float(np.abs(ref - values[:n_shap]).max())
        r["speedup_1000_1t"] = r["shap_1000_s"] / t1
        r["speedup_single"] = r["shap_single"]["p50_ms"] / r["ours_single"]["p50_ms"]
        res[space] = r
    return res


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Interventional TreeSHAP benchmark",
        "",
        f"Command: `{meta['command']}` — {meta['date']}, {meta['machine']}, {meta['cpus']} CPUs "
        f"(shared with other jobs; batch timings are the best of {meta['repeats']} repeats, "
        "latencies are percentiles of single calls).",
        "",
        f"{N_BACKGROUND} background rows; one thread unless stated (numba threads 1, shap's C "
        "extension is single-threaded). Data: 40 features, seeded synthetic, 2% NaN. "
        "explainscore: `InterventionalTreeCore`; shap: `TreeExplainer(model, data=background, "
        "feature_perturbation='interventional', model_output=...)`. The same values: per "
        "background row the exact Shapley values of the margin game, in probability space "
        "rescaled by (p(x) - p(b)) / (m(x) - m(b)), averaged.",
        "",
        "| model | space | ours 1 lead p50 / p99 (ms) | shap 1 lead p50 (ms) | shap / ours "
        "| ours 1,000 leads 1T (s) | 2T (s) | shap 1,000 leads (s) | shap / ours 1T "
        "| max abs(ours - shap) | efficiency max error |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for space in ("probability", "margin"):
            r = res[space]
            shap_note = "" if r["shap_leads_timed"] == N_LEADS else "*"
            lines.append(
                f"| {res['model']} | {space} "
                f"| {r['ours_single']['p50_ms']:.2f} / {r['ours_single']['p99_ms']:.2f} "
                f"| {r['shap_single']['p50_ms']:.1f} | {r['speedup_single']:.1f}x "
                f"| {r['ours_1000_s_1t']:.2f} | {r['ours_1000_s_2t']:.2f} "
                f"| {r['shap_1000_s']:.1f}{shap_note} | {r['speedup_1000_1t']:.0f}x "
                f"| {r['max_abs_diff_vs_shap']:.1e} | {r['efficiency_max_err']:.1e} |"
            )
    if any(res[s]["shap_leads_timed"] != N_LEADS for res in results for s in ("probability",)):
        lines += ["", "\\* shap timed on 200 leads and scaled to 1,000 (`--quick`)."]
    lines += ["", "Build (grouping the background rows per leaf) and memory:", ""]
    for res in results:
        r = res["probability"]
        lines.append(
            f"- {res['model']}: {r['build_s']:.2f} s, {r['precompute_bytes'] / 2**20:.1f} MB, "
            f"{r['groups_per_leaf']:.1f} background groups per leaf"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about 2 minutes)")
    args = parser.parse_args()
    numba.set_num_threads(1)
    X, y = make_data(N_LEADS + 8_000)
    Xtr, ytr, Xte = X[N_LEADS:], y[N_LEADS:], X[:N_LEADS]
    rng = np.random.default_rng(1)
    bg = Xtr[rng.choice(Xtr.shape[0], size=N_BACKGROUND, replace=False)]
    results = []
    m_xgb = xgb.XGBClassifier(n_estimators=300, max_depth=6, n_jobs=1, random_state=0)
    m_xgb.fit(Xtr, ytr)
    results.append(bench_model("XGBoost 300 trees, depth 6", m_xgb, Xte, bg, args.quick))
    m_lgb = lgb.LGBMClassifier(n_estimators=300, num_leaves=63, verbose=-1, n_jobs=1)
    m_lgb.fit(Xtr, ytr)
    results.append(bench_model("LightGBM 300 trees, 63 leaves", m_lgb, Xte, bg, args.quick))
    meta = run_meta("bench_interventional.py", args.quick)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "interventional.json").write_text(
        json.dumps({"meta": meta, "models": results}, indent=2)
    )
    text = markdown(results, meta)
    (out_dir / "interventional.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
