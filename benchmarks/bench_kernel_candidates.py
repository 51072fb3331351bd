"""Which sampler for the kernel backend: candidate estimators on the enumerated 12-column game.

The game of ``bench_kernel.py``'s 12-column MLP (one lead, 50 background rows, probability
space) is enumerated once: f(x_S, b_~S) for all 4096 coalitions S and every row b (204,800
model rows). Every candidate is then simulated on that table, with no further model calls, at
equal model evaluations (one evaluation = one coalition on one row), over many seeds, and
compared on the error against the exact values:

* ``antithetic``: explainscore's ``"permutation"``: antithetic pairs of permutations, each
  walked against one row, spread evenly over the rows (M - 1 evaluations per walk).
* ``plain``: the same without the antithetic reverse walk.
* ``cyclic``: position-balanced blocks: a random permutation and its M cyclic shifts, so each
  player takes each position once per block, with antithetic reverses.
* ``paired kernel``: a paired KernelSHAP regression pooled over rows (coalition sizes uniform,
  the leverage-score distribution of the Shapley kernel regression, importance-weighted), each
  coalition on one row, with the efficiency constraint.
* ``averaged``: antithetic walks on the averaged game (each coalition on all 50 rows).

Control variates (regression adjustment, proxy correction) are bounded from above: the
surrogate is fitted to all 204,800 rows (an oracle no estimator has) and the variance of one
antithetic pair's draws on the residual game f - g is compared with that on f. A surrogate
helps at most by that factor.

Usage: python benchmarks/bench_kernel_candidates.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from bench_kernel import N_BG, make_setting  # noqa: E402

from explainscore.attribution._coalitions import (  # noqa: E402
    all_masks,
    shapley_from_coalition_values,
)

RESULTS = Path(__file__).parent / "results"
M = 12
BITS = 1 << np.arange(M)


def contributions(table: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Each player's marginal contribution along each walk (rows of ``perms``, an order)."""
    cum = np.cumsum(BITS[perms], axis=1)
    values = np.concatenate([np.full((len(perms), 1), table[0]), table[cum]], axis=1)
    gains = np.diff(values, axis=1)
    out = np.empty_like(gains)
    np.put_along_axis(out, perms, gains, 1)
    return out


def walks(V, rng, k, *, antithetic=True, cyclic=False):
    total = 0.0
    shifts = (np.arange(M)[:, None] + np.arange(M)[None, :]) % M
    for b in range(N_BG):
        if cyclic:
            perms = np.concatenate([rng.permutation(M)[shifts] for _ in range(k)])
        else:
            perms = np.argsort(rng.random((k, M)), axis=1)
        draws = contributions(V[b], perms)
        if antithetic:
            draws = (draws + contributions(V[b], perms[:, ::-1])) / 2
        total = total + draws.mean(axis=0)
    return total / N_BG


def paired_kernel(V, rng, k):
    from math import comb

    full = (1 << M) - 1
    f_x, f_b = V[0, full], V[:, 0]
    Z, Y, W = [], [], []
    for b in range(N_BG):
        sizes = rng.integers(1, M, size=k)
        z = np.argsort(np.argsort(rng.random((k, M)), axis=1), axis=1) < sizes[:, None]
        for side in (z, ~z):
            s = side.sum(axis=1)
            kernel = (M - 1) / np.array([comb(M, int(q)) * q * (M - q) for q in s])
            prob = 1 / ((M - 1) * np.array([comb(M, int(q)) for q in s]))
            Z.append(side)
            Y.append(V[b, (side * BITS).sum(axis=1)] - f_b[b])
            W.append(kernel / prob)
    Zf = np.concatenate(Z).astype(float)
    y, w = np.concatenate(Y), np.sqrt(np.concatenate(W))
    total = f_x - f_b.mean()
    A = Zf[:, :-1] - Zf[:, [-1]]
    coef = np.linalg.lstsq(A * w[:, None], (y - Zf[:, -1] * total) * w, rcond=None)[0]
    return np.append(coef, total - coef.sum())


def averaged(V, rng, k):
    avg = V.mean(axis=0)
    perms = np.argsort(rng.random((k, M)), axis=1)
    return ((contributions(avg, perms) + contributions(avg, perms[:, ::-1])) / 2).mean(axis=0)


def pair_variance(T: np.ndarray) -> float:
    """Variance of one antithetic pair's draw, mean over rows and players (2,000 pairs/row)."""
    rng = np.random.default_rng(1)
    out = 0.0
    for b in range(N_BG):
        perms = np.argsort(rng.random((2000, M)), axis=1)
        draws = (contributions(T[b], perms) + contributions(T[b], perms[:, ::-1])) / 2
        out += draws.var(axis=0).mean()
    return out / N_BG


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seeds = 10 if args.quick else 40
    _, f, bg, lead = make_setting("mlp12")
    masks = all_masks(M)
    hybrid = np.where(masks[None], lead[0], bg[:, None]).reshape(-1, M)
    V = f(hybrid).reshape(N_BG, -1)
    exact = shapley_from_coalition_values(V, M).mean(axis=0)
    per_walk = M - 1
    candidates = {
        # name: (run(rng, budget in evaluations), description of the cost)
        "antithetic (explainscore permutation)": lambda r, n: walks(
            V, r, max(1, n // (N_BG * 2 * per_walk))
        ),
        "plain permutations": lambda r, n: walks(
            V, r, max(1, n // (N_BG * per_walk)), antithetic=False
        ),
        "cyclic position-balanced + antithetic": lambda r, n: walks(
            V, r, max(1, n // (N_BG * 2 * M * per_walk)), cyclic=True
        ),
        "paired kernel regression, pooled rows": lambda r, n: paired_kernel(
            V, r, max(1, n // (N_BG * 2))
        ),
        "antithetic on the averaged game": lambda r, n: averaged(
            V, r, max(1, n // (2 * per_walk * N_BG))
        ),
    }
    budgets = (13_200, 26_400) if args.quick else (13_200, 26_400, 52_800)
    lines = [
        "# Kernel sampler candidates on the enumerated 12-column MLP game",
        "",
        f"`python benchmarks/bench_kernel_candidates.py{' --quick' if args.quick else ''}`: "
        f"{seeds} seeds per cell; RMSE over seeds and columns, and the median over seeds of "
        "the max |error|, against the exact values (one lead, 50 background rows).",
        "",
        "| candidate | " + " | ".join(f"{b:,} evaluations" for b in budgets) + " |",
        "|---|" + "---:|" * len(budgets),
    ]
    for name, run in candidates.items():
        cells = []
        for budget in budgets:
            errors = np.array([run(np.random.default_rng(s), budget) - exact for s in range(seeds)])
            rmse = np.sqrt((errors**2).mean())
            cells.append(f"{rmse:.1e} / {np.median(np.abs(errors).max(axis=1)):.1e}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)

    # Oracle bounds for control variates: surrogates fitted to every hybrid row.
    from sklearn.ensemble import HistGradientBoostingRegressor

    y = V.ravel()
    base = pair_variance(V)
    Zs = (hybrid - bg.mean(axis=0)) / bg.std(axis=0)
    iu = np.triu_indices(M)
    quad = np.concatenate([np.ones((len(Zs), 1)), Zs, Zs[:, iu[0]] * Zs[:, iu[1]]], axis=1)
    logit = np.log(np.clip(y, 1e-7, 1 - 1e-7) / np.clip(1 - y, 1e-7, 1))
    surrogates = {
        "quadratic in the raw columns": quad @ np.linalg.lstsq(quad, y, rcond=None)[0],
        "quadratic in link (logit) space": 1
        / (1 + np.exp(-(quad @ np.linalg.lstsq(quad, logit, rcond=None)[0]))),
        "gradient-boosted trees (300 iterations)": HistGradientBoostingRegressor(
            max_iter=100 if args.quick else 300, random_state=0
        )
        .fit(hybrid, y)
        .predict(hybrid),
    }
    lines += [
        "",
        "Control variates, upper bound of their gain: variance of one antithetic pair's draw "
        "on the residual game f - g, with the surrogate g fitted to all 204,800 hybrid rows:",
        "",
        "| surrogate | residual variance / variance on f |",
        "|---|---:|",
    ]
    for name, g in surrogates.items():
        ratio = pair_variance(V - np.asarray(g).reshape(N_BG, -1)) / base
        lines.append(f"| {name} | {ratio:.2f} |")
        print(lines[-1], flush=True)
    lines.append("")
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kernel_candidates.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
