"""Model-agnostic explanations of one lead: explainscore's exact kernel vs shap and LIME.

An MLPClassifier on 12 raw numeric features, probability space, one lead, the same 50
background rows for every method. shap's KernelExplainer gets nsamples = 2^12 = 4096, i.e.
every coalition, so both do the same number of model evaluations; its values are compared
with ours (exact enumeration). shap's PermutationExplainer and LIME (5,000 samples) are timed
for reference. One thread (OMP / BLAS limited by the caller's environment).

Usage: python benchmarks/bench_kernel.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def plot(result: dict, path: Path) -> None:
    """Max error against time per lead: our sampler, shap's KernelExplainer, and exact."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["sampling"]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot([r["ours_ms"] for r in rows], [r["ours_max_err"] for r in rows], "o-",
            color="#1b7f5b", label="explainscore, antithetic permutations")  # fmt: skip
    ax.plot([r["shap_kernel_ms"] for r in rows], [r["shap_kernel_max_err"] for r in rows], "s-",
            color="#999999", label="shap KernelExplainer")  # fmt: skip
    ax.axvline(result["explainscore_exact_ms"], color="#1b7f5b", ls="--",
               label=f"explainscore exact ({result['explainscore_exact_ms']:.0f} ms, error 0)")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="ms per lead", ylabel="max |error| vs exact")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # log-scale minor labels overlap
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title(f"MLP, {result['features']} raw columns, one lead")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5

    import shap
    from sklearn.neural_network import MLPClassifier

    from explainscore import ExplainedModel

    rng = np.random.default_rng(0)
    n, m = 3000, 12
    X = rng.normal(size=(n, m))
    logit = X[:, 0] * X[:, 1] - X[:, 2] + np.sin(X[:, 3]) + 0.5 * X[:, 4] * X[:, 5]
    y = (logit + rng.normal(size=n) > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=400, random_state=0).fit(X, y)
    bg = X[:50]
    lead = X[[2000]]

    em = ExplainedModel(model, background=bg, n_background=50)
    em.explain(lead)  # build once (schema, probes), as a service would at start-up

    def ours():
        return em.explain(lead)

    t_ours = _best(ours, repeats)
    ours_values = ours().attributions[0]

    kernel = shap.KernelExplainer(lambda a: model.predict_proba(a)[:, 1], bg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_shap = _best(lambda: kernel.shap_values(lead, nsamples=2**m, silent=True), repeats)
        shap_values = np.asarray(kernel.shap_values(lead, nsamples=2**m, silent=True))[0]

    perm = shap.PermutationExplainer(
        lambda a: model.predict_proba(a)[:, 1], shap.maskers.Independent(bg, max_samples=50)
    )
    t_perm = _best(lambda: perm(lead, max_evals=2 * m * 50 + 1, silent=True), max(1, repeats // 2))

    t_lime = float("nan")
    try:
        from lime.lime_tabular import LimeTabularExplainer

        lime = LimeTabularExplainer(bg, mode="regression", discretize_continuous=False,
                                    random_state=0)  # fmt: skip
        t_lime = _best(
            lambda: lime.explain_instance(
                lead[0], lambda a: model.predict_proba(a)[:, 1], num_features=m, num_samples=5000
            ),
            max(1, repeats // 2),
        )
    except ImportError:
        pass

    # Sampling: error and time against the exact values, for a range of evaluation counts;
    # shap's KernelExplainer at the same counts (nsamples = permutations x (M + 1)).
    sampling = []
    for n_perm in (8, 16, 32, 64, 128, 316):
        sem = ExplainedModel(
            model,
            background=bg,
            n_background=50,
            method="kernel",
            method_options={"max_exact_players": 4, "n_permutations": n_perm},
        )
        sem.explain(lead)
        t = _best(lambda sem=sem: sem.explain(lead), repeats)
        vals = sem.explain(lead).attributions[0]
        evals = n_perm * (m + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_k = _best(
                lambda evals=evals: kernel.shap_values(lead, nsamples=evals, silent=True), 1
            )
            k_vals = np.asarray(kernel.shap_values(lead, nsamples=evals, silent=True))[0]
        sampling.append(
            {
                "permutations": n_perm,
                "evaluations_per_background_row": evals,
                "ours_ms": 1000 * t,
                "ours_max_err": float(np.max(np.abs(vals - ours_values))),
                "shap_kernel_ms": 1000 * t_k,
                "shap_kernel_max_err": float(np.max(np.abs(k_vals - ours_values))),
            }
        )
    shap_err = float(np.max(np.abs(shap_values - ours_values)))
    good = [r for r in sampling if r["ours_max_err"] <= shap_err]
    equal_accuracy = min(good, key=lambda r: r["ours_ms"]) if good else None

    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "shap": shap.__version__,
        "features": m,
        "background_rows": 50,
        "explainscore_exact_ms": 1000 * t_ours,
        "shap_kernel_4096_ms": 1000 * t_shap,
        "shap_permutation_ms": 1000 * t_perm,
        "lime_5000_ms": 1000 * t_lime,
        "speedup_vs_shap_kernel": t_shap / t_ours,
        "max_abs_diff_shap_kernel_vs_exact": float(np.max(np.abs(shap_values - ours_values))),
        "sampling": sampling,
        "equal_accuracy": equal_accuracy,
        "speedup_at_equal_accuracy": None
        if equal_accuracy is None
        else t_shap * 1000 / equal_accuracy["ours_ms"],
        "efficiency_error": float(
            abs(
                em.explain(lead).base_values[0]
                + ours_values.sum()
                - model.predict_proba(lead)[0, 1]
            )
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kernel.json").write_text(json.dumps(result, indent=1))
    plot(result, RESULTS / "kernel.png")
    plot(result, RESULTS.parent.parent / "docs" / "img" / "kernel_benchmark.png")
    lines = [
        "# Model-agnostic: one lead, MLP, 12 raw features, probability space",
        "",
        f"Machine: {result['machine']}; shap {result['shap']}; best of {repeats} runs.",
        "",
        "| method | time per lead (ms) | vs explainscore |",
        "|---|---:|---:|",
        f"| explainscore kernel (exact, 4096 coalitions x 50 rows) | {result['explainscore_exact_ms']:.1f} | 1.0x |",
        f"| shap KernelExplainer (nsamples 4096) | {result['shap_kernel_4096_ms']:.1f} | {t_shap / t_ours:.1f}x slower |",
        f"| shap PermutationExplainer | {result['shap_permutation_ms']:.1f} | {t_perm / t_ours:.1f}x slower |",
        f"| LIME (5,000 samples) | {result['lime_5000_ms']:.1f} | {t_lime / t_ours:.1f}x slower |",
        "",
        f"max |shap KernelExplainer - exact| = {result['max_abs_diff_shap_kernel_vs_exact']:.2e}; "
        f"explainscore efficiency error = {result['efficiency_error']:.1e}.",
        "",
        "Sampling (antithetic permutations) against the exact values, and shap's KernelExplainer",
        "at the same number of model evaluations per background row:",
        "",
        "| permutations | evaluations | ours (ms) | ours max error | shap Kernel (ms) | shap max error |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sampling:
        lines.append(
            f"| {r['permutations']} | {r['evaluations_per_background_row']} | {r['ours_ms']:.1f} | "
            f"{r['ours_max_err']:.1e} | {r['shap_kernel_ms']:.1f} | {r['shap_kernel_max_err']:.1e} |"
        )
    if equal_accuracy is not None:
        lines += [
            "",
            f"At equal accuracy (max error <= shap KernelExplainer's {shap_err:.1e} at 4096 "
            f"samples): {equal_accuracy['permutations']} permutations, "
            f"{equal_accuracy['ours_ms']:.1f} ms: **{result['speedup_at_equal_accuracy']:.1f}x** "
            "faster than shap KernelExplainer.",
        ]
    lines.append("")
    (RESULTS / "kernel.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
