"""Model-agnostic Shapley values: explainscore's estimators against shap and shapiq, one lead.

Every estimator solves the same game, the interventional game over the raw columns on the
same 50 background rows, in probability space, one lead, one thread. Settings:

* ``mlp12``: an MLP on 12 columns; the reference is explainscore's exact enumeration.
* ``mlp30``, ``svc30``, ``mlp60``: an MLP and an SVC (``probability=True``) on 30 columns, an
  MLP on 60; the reference is explainscore's ``"permutation"`` estimator at a high budget
  (its own standard error is reported beside it, and is below every error compared).

Estimators: explainscore ``"permutation"`` at a sweep of ``n_evaluations``;
shap's ``KernelExplainer`` at a sweep of ``nsamples`` (``l1_reg=False``, and on ``mlp12`` also
its default ``l1_reg``); shapiq 1.4.1's KernelSHAP (paired), kADD-SHAP (order 2), SVARM,
stratified and permutation samplers at a sweep of budgets, on a game that evaluates each
coalition on every background row.

**How evaluations are counted**: one evaluation is one model row (one coalition on one
background row). shap's KernelExplainer evaluates each of its coalitions on all 50 rows:
``nsamples x 50``. A shapiq budget counts values v(S); each v(S) here is the mean over the
50 rows, so it costs 50 model rows: ``budget x 50``. explainscore's estimators count every
row they score, f(background) and f(x) included (``KernelAttributor.n_evaluations_``).

Each configuration runs with several seeds: its error is the median over seeds of the max
|value - reference| over the columns, its time the best run (ExplainedModel.explain end to end
for explainscore, ``shap_values`` / ``approximate`` for the anchors). "Evaluations at equal
accuracy": for each anchor configuration, the evaluations explainscore's estimator needs for
the same median max error, read off its own curve (log-log interpolation); the ratio is
anchor / ours. The same for time on ``mlp12``.

Usage: python benchmarks/bench_kernel.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread, before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).parent / "results"
N_BG = 50
SHAPIQ = ("KernelSHAP", "kADDSHAP", "SVARM", "StratifiedSamplingSV", "PermutationSamplingSV")


def make_setting(name: str):
    """Model, value function, background and lead of a setting."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    m = int(name[-2:])
    rng = np.random.default_rng(0)
    n = 3000 if name.startswith("mlp") else 400
    X = rng.normal(size=(n, m))
    logit = X[:, 0] * X[:, 1] - X[:, 2] + np.sin(X[:, 3]) + 0.5 * X[:, 4] * X[:, 5]
    if m > 12:
        logit = logit + X[:, 6:12] @ rng.normal(size=6) * 0.5 + 0.3 * X[:, 12] * X[:, 13]
    y = (logit + rng.normal(size=n) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached, SVC probability deprecation
        if name.startswith("mlp"):
            model = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=400, random_state=0)
        else:
            model = SVC(probability=True, random_state=0)
        model.fit(X, y)

    def f(a):
        return model.predict_proba(a)[:, 1]

    lead = X[[n - 1]] if m > 12 else X[[2000]]
    return model, f, X[:N_BG], lead


def run_seeds(run, seeds: int, reference: np.ndarray) -> dict:
    """Median max error, best time (ms), per-seed errors and evaluations of ``run(seed)``."""
    times, errors, extra = [], [], []
    for seed in range(seeds):
        t = time.perf_counter()
        values, evaluations, std_errors = run(seed)
        times.append(time.perf_counter() - t)
        errors.append(float(np.max(np.abs(values - reference))))
        if std_errors is not None:
            inside = np.abs(values - reference) <= 2 * std_errors
            extra.append(float(np.mean(inside)))
    return {
        "median_max_err": float(np.median(errors)),
        "ms": 1000 * min(times),
        "evaluations": int(evaluations),
        "max_err_per_seed": errors,
        "coverage_2se": float(np.mean(extra)) if extra else None,
    }


def ours(model, bg, lead, estimator: str, n_evaluations: int, seeds: int):
    """explainscore end to end; each seed's explainer is built (and warmed) outside the timing."""
    from explainscore import ExplainedModel

    explainers = {}
    for seed in range(seeds):
        explainers[seed] = ExplainedModel(
            model, background=bg, n_background=N_BG, method="kernel", random_state=seed,
            method_options={"estimator": estimator, "n_evaluations": n_evaluations},
        )  # fmt: skip
        explainers[seed].explain(lead)

    def run(seed):
        batch = explainers[seed].explain(lead)
        used = explainers[seed].engine_.attributor.n_evaluations_
        return batch.attributions[0], int(used[0]), batch.std_errors[0]

    return run


def shap_kernel(f, bg, lead, nsamples: int, l1_reg: str):
    import shap

    explainer = shap.KernelExplainer(f, bg)
    m = bg.shape[1]
    extra = {} if l1_reg == "default" else {"l1_reg": False}

    def run(seed):
        np.random.seed(seed)  # noqa: NPY002  (shap samples with numpy's global generator)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = explainer.shap_values(lead, nsamples=nsamples, silent=True, **extra)
        coalitions = min(nsamples, 2**m - 2)
        # Each coalition on every background row, plus f(background) and f(x).
        return np.asarray(values)[0], coalitions * N_BG + N_BG + 1, None

    return run


def shapiq_run(game_values, m: int, name: str, budget: int):
    import shapiq.approximator as approximators

    cls = getattr(approximators, name)
    kwargs: dict = {}
    if name in ("KernelSHAP", "kADDSHAP", "SVARM"):
        kwargs["pairing_trick"] = True
    if name == "kADDSHAP":
        kwargs["max_order"] = 2

    def run(seed):
        calls = [0]

        def game(Z):
            Z = np.atleast_2d(np.asarray(Z, dtype=bool))
            calls[0] += len(Z)
            return game_values(Z)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iv = cls(n=m, random_state=seed, **kwargs).approximate(budget, game)
        return np.array([iv[(i,)] for i in range(m)]), calls[0] * N_BG, None

    return run


def needed(curve: list[dict], error: float) -> tuple[float | None, bool]:
    """Evaluations ``curve`` needs for a median max error ``error`` (log-log interpolation).

    Returns (evaluations, at_most): when even the curve's smallest budget is at least as
    accurate, its evaluations are returned with ``at_most=True`` (the ratio is then a lower
    bound); None when the curve never gets that accurate.
    """
    points = sorted((r["evaluations"], r["median_max_err"]) for r in curve)
    evals = [float(n) for n, _ in points]
    best = list(np.minimum.accumulate([e for _, e in points]))
    if error >= best[0]:
        return evals[0], True
    for i in range(1, len(evals)):
        if best[i] <= error < best[i - 1]:
            w = np.log(best[i - 1] / error) / np.log(best[i - 1] / best[i])
            return float(np.exp(np.log(evals[i - 1]) + w * np.log(evals[i] / evals[i - 1]))), False
    return None, False


def time_needed(curve: list[dict], error: float) -> float | None:
    """Time (ms) ``curve`` needs for ``error``: its fastest configuration at least as accurate."""
    ok = [r["ms"] for r in curve if r["median_max_err"] <= error]
    return min(ok) if ok else None


def run_setting(name: str, quick: bool) -> dict:
    from explainscore.attribution.kernel._game import InterventionalGame

    model, f, bg, lead = make_setting(name)
    m = bg.shape[1]
    seeds = 3 if quick or name.startswith("svc") else 5
    game = InterventionalGame(f, bg, np.arange(m))
    t0 = time.perf_counter()
    if m <= 12:
        from explainscore import ExplainedModel

        em = ExplainedModel(model, background=bg, n_background=N_BG, method="kernel")
        batch = em.explain(lead)
        reference, ref_se = batch.attributions[0], 0.0
        ref_note = "exact enumeration"
    else:
        from explainscore.attribution._base import ExplainContext
        from explainscore.attribution._kernel import KernelAttributor

        budget = (400_000 if name.startswith("svc") else 2_000_000) * (1 if quick else 2)
        # Independent runs averaged: the reference's error falls as 1 / sqrt(runs), in memory
        # one run needs.
        runs = 1 if quick or name.startswith("svc") else 9
        values, variances = [], []
        for run in range(runs):
            ctx = ExplainContext(
                estimator=model, background=bg, groups=np.arange(m),
                player_names=[str(j) for j in range(m)], output_space="probability",
                target_class=1, value_function=f, random_state=12345 + run,
                options={"estimator": "permutation", "n_evaluations": budget},
            )  # fmt: skip
            result = KernelAttributor(ctx).attribute(lead)
            values.append(result.values[0])
            variances.append(result.std_errors[0] ** 2)
        reference = np.mean(values, axis=0)
        ref_se = float(np.sqrt(np.sum(variances, axis=0)).max() / runs)
        ref_note = f"permutation, {runs} x {budget:,} evaluations, max std error {ref_se:.1e}"
    print(f"[{name}] reference ({ref_note}) in {time.perf_counter() - t0:.1f}s", flush=True)

    def game_values(Z):
        return game.coalition_values(lead, Z)[0]

    scale = {12: 1, 30: 2, 60: 4}[m]
    small = name.startswith("svc")
    ours_budgets = [b * scale for b in (2_500, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000)]
    if quick:
        ours_budgets = ours_budgets[::2]
    anchor_budgets = [b * scale for b in (52, 104, 208, 416, 832, 1664)]
    if m <= 12:
        anchor_budgets.append(2 * m + 2048)
    if quick:
        anchor_budgets = anchor_budgets[1::2]
    if small:
        ours_budgets, anchor_budgets = ours_budgets[:-1], anchor_budgets[:-1]
    curves: dict[str, list[dict]] = {}
    for estimator in ("permutation",):
        budgets = [b for b in ours_budgets if b >= 2 * N_BG * 2 * (m - 1) + N_BG + 1]
        curves[f"explainscore {estimator}"] = [
            run_seeds(ours(model, bg, lead, estimator, b, seeds), seeds, reference) for b in budgets
        ]
    l1s = ["False", "default"] if m <= 12 else ["False"]
    for l1 in l1s:
        label = "shap KernelExplainer" + ("" if l1 == "False" else " (default l1_reg)")
        curves[label] = [
            run_seeds(shap_kernel(f, bg, lead, ns, l1), seeds, reference) for ns in anchor_budgets
        ]
    for approximator in SHAPIQ:
        budgets = [b for b in anchor_budgets if b < 2**m]
        if approximator == "StratifiedSamplingSV":
            budgets = budgets[:4]  # its Python loop per coalition makes larger budgets slow
        curves[f"shapiq {approximator}"] = [
            run_seeds(shapiq_run(game_values, m, approximator, b), seeds, reference)
            for b in budgets
        ]
        print(f"[{name}] {approximator} done at {time.perf_counter() - t0:.0f}s", flush=True)
    return {"setting": name, "features": m, "reference": ref_note, "reference_max_std_error": ref_se,
            "seeds": seeds, "curves": curves}  # fmt: skip


def ratios(result: dict, ours_key: str = "explainscore permutation") -> list[dict]:
    """For each anchor configuration: evaluations (and time) ours needs at its accuracy."""
    mine = result["curves"][ours_key]
    rows = []
    for label, curve in result["curves"].items():
        if label.startswith("explainscore"):
            continue
        for r in curve:
            need, at_most = needed(mine, r["median_max_err"])
            t_need = time_needed(mine, r["median_max_err"])
            rows.append({
                "anchor": label, "anchor_evaluations": r["evaluations"],
                "anchor_err": r["median_max_err"], "anchor_ms": r["ms"],
                "ours_evaluations": need,
                "eval_ratio": None if need is None else r["evaluations"] / need,
                "lower_bound": at_most,
                "ours_ms": t_need, "time_ratio": None if t_need is None else r["ms"] / t_need,
            })  # fmt: skip
    return rows


def summary(result: dict, ours_key: str = "explainscore permutation") -> list[dict]:
    """At each of our configurations: what each anchor needs for the same accuracy.

    For each anchor, the evaluations it needs for our median max error, read off its own curve
    (None when it never gets that accurate in the sweep: its ratio is then at least its
    largest budget over ours, reported as a lower bound).
    """
    rows = []
    for r in result["curves"][ours_key]:
        row = {"evaluations": r["evaluations"], "err": r["median_max_err"], "ms": r["ms"]}
        for label, curve in result["curves"].items():
            if label.startswith("explainscore") or not curve:
                continue
            need, at_most = needed(curve, r["median_max_err"])
            if need is None:
                row[label] = (max(c["evaluations"] for c in curve) / r["evaluations"], "> ")
            else:
                row[label] = (need / r["evaluations"], "<= " if at_most else "")
            t_need = time_needed(curve, r["median_max_err"])
            row[label + " ms"] = None if t_need is None else t_need / r["ms"]
        rows.append(row)
    return rows


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"explainscore permutation": ("o-", "#1b7f5b", 2.2)}
    palette = ["#555555", "#999999", "#c0392b", "#e67e22", "#8e44ad", "#2980b9", "#7f8c8d"]
    others = [k for k in result["curves"] if k not in styles]
    for i, k in enumerate(others):
        styles[k] = ("s:" if "shap " in k else "^-", palette[i % len(palette)], 1.0)
    for ax, x_key, x_label in ((axes[0], "evaluations", "model evaluations (model rows) per lead"),
                               (axes[1], "ms", "ms per lead (best run)")):  # fmt: skip
        for label, curve in result["curves"].items():
            if not curve:
                continue
            marker, color, width = styles[label]
            ax.plot([r[x_key] for r in curve], [r["median_max_err"] for r in curve], marker,
                    color=color, lw=width, ms=4, label=label)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel=x_label,
               ylabel="max |error| vs reference (median over seeds)")  # fmt: skip
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{result['setting']}: {result['features']} raw columns, 50 background rows, "
                 f"reference: {result['reference']}", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def best_shapiq(row: dict, keys: list[str], short: dict[str, str]) -> str:
    """The fewest evaluations any shapiq approximator needs, as a multiple of ours.

    Approximators that never got as accurate only bound their own need from below, so the
    best is given as a range when one of those bounds is below the best measured multiple.
    """
    if not keys:
        return ""
    measured = {k: row[k][0] for k in keys if row[k][1] != "> "}
    bounds = [row[k][0] for k in keys if row[k][1] == "> "]
    if not measured:
        return f"> {min(bounds):.1f}x"
    best = min(measured, key=lambda k: measured[k])
    prefix = row[best][1]
    if bounds and min(bounds) < measured[best]:
        return f"{min(bounds):.1f}-{measured[best]:.1f}x ({short[best]} measured)"
    return f"{prefix}{measured[best]:.1f}x ({short[best]})"


def _fmt(value, spec: str, empty: str = "") -> str:
    return empty if value is None else format(value, spec)


def report(results: list[dict], machine: str, versions: str) -> str:
    lines = [
        "# Model-agnostic: explainscore's estimators against shap and shapiq, one lead",
        "",
        f"Machine: {machine}; {versions}. One thread. One evaluation = one model row: shap's "
        "KernelExplainer costs nsamples x 50 rows, a shapiq budget of B values v(S) costs "
        "B x 50 rows (each v(S) is the mean over the 50 background rows), explainscore counts "
        "every row it scores. Error: median over seeds of the max |error| over the columns; "
        "time: best run per lead (explainscore end to end through `ExplainedModel.explain`). "
        "`python benchmarks/bench_kernel.py`: 5 seeds per configuration (3 on the SVC); "
        "`--quick` runs mlp12 and mlp30 with 3 seeds and fewer budgets.",
        "",
    ]
    for res in results:
        lines += [f"### {res['setting']}: {res['features']} columns (reference: {res['reference']})",
                  "", f"Plot: `benchmarks/results/kernel_{res['setting']}.png`.", "",
                  "| estimator | evaluations | median max error | ms | 2-SE coverage |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        for label, curve in res["curves"].items():
            for r in curve:
                cov = _fmt(r["coverage_2se"], ".2f")
                lines.append(f"| {label} | {r['evaluations']:,} | {r['median_max_err']:.1e} | "
                             f"{r['ms']:.1f} | {cov} |")  # fmt: skip
        anchors = [
            k for k in res["curves"] if not k.startswith("explainscore") and res["curves"][k]
        ]
        short = {k: k.replace("shap KernelExplainer", "KernelExplainer").replace("shapiq ", "")
                 for k in anchors}  # fmt: skip
        lines += ["", "At each explainscore `permutation` budget: evaluations each anchor needs "
                  "for the same median max error, as a multiple of ours (interpolated on the "
                  "anchor's curve; `>` when the anchor never got that accurate in its sweep: "
                  "its largest budget over ours; `<=` when its smallest budget was already "
                  "more accurate). Best shapiq = the smallest multiple over the "
                  "five shapiq approximators.", "",
                  "| ours: evaluations | error | " + " | ".join(short[k] for k in anchors)
                  + " | best shapiq |", "|---:|---:|" + "---:|" * (len(anchors) + 1)]  # fmt: skip
        for row in summary(res):
            cells = []
            for k in anchors:
                ratio, bound = row[k]
                cells.append(f"{bound}{ratio:.1f}x")
            shapiq_keys = [k for k in anchors if k.startswith("shapiq")]
            lines.append(
                f"| {row['evaluations']:,} | {row['err']:.1e} | " + " | ".join(cells)
                + f" | {best_shapiq(row, shapiq_keys, short)} |"
            )  # fmt: skip
        lines += ["", "Evaluations (and, where ours reaches it, time) explainscore `permutation` "
                  "needs for each anchor configuration's accuracy:", "",
                  "| anchor | its evaluations | its error | its ms | ours: evaluations | ratio "
                  "| ours: ms | time ratio |", "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in res["ratios"]:
            lines.append(
                f"| {r['anchor']} | {r['anchor_evaluations']:,} | {r['anchor_err']:.1e} | "
                f"{r['anchor_ms']:.1f} | {_fmt(r['ours_evaluations'], ',.0f', 'beyond')} | "
                f"{'>= ' if r['lower_bound'] else ''}{_fmt(r['eval_ratio'], '.1f', '-')}x | {_fmt(r['ours_ms'], '.1f', '-')} | "
                f"{_fmt(r['time_ratio'], '.1f', '-')}x |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--settings", default="mlp12,mlp30,svc30,mlp60")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite kernel.md from kernel.json"
    )
    parser.add_argument("--keep", action="store_true", help="keep other settings in kernel.json")
    args = parser.parse_args()
    if args.report_only:
        from importlib.metadata import version

        import shap

        results = json.loads((RESULTS / "kernel.json").read_text())
        for res in results:
            res["ratios"] = ratios(res)
            plot(res, RESULTS / f"kernel_{res['setting']}.png")
        machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
        text = report(results, machine, f"shap {shap.__version__}, shapiq {version('shapiq')}")
        (RESULTS / "kernel.md").write_text(text)
        print(text)
        return
    from importlib.metadata import version

    import shap
    import shapiq  # noqa: F401

    logging.getLogger("shap").setLevel(logging.ERROR)
    names = args.settings.split(",")
    if args.quick:
        names = [n for n in names if n in ("mlp12", "mlp30")]
    RESULTS.mkdir(exist_ok=True)
    store = RESULTS / "kernel.json"
    # Settings already measured in the same mode are kept: a run can add or redo some.
    kept = json.loads(store.read_text()) if store.exists() and args.keep else []
    results = [r for r in kept if r["setting"] not in names]
    for name in names:
        res = run_setting(name, args.quick)
        res["ratios"] = ratios(res)
        results.append(res)
        plot(res, RESULTS / f"kernel_{name}.png")
        store.write_text(json.dumps(results, indent=1))
    order = ["mlp12", "mlp30", "svc30", "mlp60"]
    results.sort(key=lambda r: order.index(r["setting"]) if r["setting"] in order else 99)
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    versions = f"shap {shap.__version__}, shapiq {version('shapiq')}"
    store.write_text(json.dumps(results, indent=1))
    main_plot = RESULTS / "kernel_mlp12.png"
    if main_plot.exists():
        (RESULTS / "kernel.png").write_bytes(main_plot.read_bytes())
        (RESULTS.parent.parent / "docs" / "img" / "kernel_benchmark.png").write_bytes(
            main_plot.read_bytes()
        )
    text = report(results, machine, versions)
    (RESULTS / "kernel.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
