r"""Which sampler for the kernel backend: candidate estimators on the enumerated 12-column game.

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

Regression adjustment in *coalition* space (issue 17; MSR, Witter, Liu and Musco 2025): a
surrogate g(z) of the coalition value, z the 0/1 indicator of S, whose Shapley values are
closed form, plus an unbiased Monte Carlo estimate of the residual game v - g:
phi(v) = phi(g) + phi(v - g). The surrogate is an odd polynomial in the +-1 characters
s_j = 2 z_j - 1 (degree 1 and 3): an antithetic pair visits S and its complement, so the
even part of a game never adds variance to it (the order-four fits below leave exactly what
the order-three fits leave), and g is fitted by least squares to the odd part
(v(S) - v(N \ S)) / 2, which every pair of walks gives. A character of odd degree k
splits its 2 c_T equally among its k players, so phi(g) is exact. Cross-fitting: the pairs
(or samples) are cut in two halves; g is fitted on one and the residual estimated on the
other, then the halves swap and the two estimates are averaged, so the residual estimate is
unbiased given g and the whole estimate unbiased. Efficiency is exact by construction in
every variant (phi(g) sums to g(N) - g(empty), the residual walks to the residual's). Both
ways background rows can enter are measured: (S, b) pairs (one model row each, one surrogate
for all rows, residual walks per row) and the averaged game (each coalition on all 50
rows). ``MSR`` is the sample-reuse estimator: paired coalitions of uniform size, each value
reused for every player with weights 1/|S| (player in S) and -1/(M - |S|) (not in S).
A coalition-space oracle table bounds every such surrogate the same way as above.

Usage: python benchmarks/bench_kernel_candidates.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
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


# --- Regression adjustment in coalition space (issue 17) -----------------------------------

FULL = (1 << M) - 1
ALL_IDX = np.arange(1 << M)
#: +-1 character of every player for every coalition index: s_j = 2 z_j - 1.
SIGNS = 2.0 * ((ALL_IDX[:, None] >> np.arange(M)) & 1) - 1.0
ALL_TRIPLES = np.array(list(itertools.combinations(range(M), 3)))


def odd_features(idx: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """Odd characters of degree 1 and 3 (over ``triples``) of coalitions ``idx``."""
    s = SIGNS[idx]
    return np.concatenate([s, s[:, triples[:, 0]] * s[:, triples[:, 1]] * s[:, triples[:, 2]]], 1)


def odd_shapley(coef: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """Exact Shapley values of g = sum c_T chi_T: chi_T gives 2 / |T| to each of its players."""
    phi = 2.0 * coef[:M]
    for k in range(3):
        np.add.at(phi, triples[:, k], 2.0 * coef[M:] / 3.0)
    return phi


def fit_odd(idx: np.ndarray, odd_part: np.ndarray, triples: np.ndarray, ridge: float):
    F = odd_features(idx, triples)
    return np.linalg.solve(F.T @ F + ridge * np.eye(F.shape[1]), F.T @ odd_part)


def walk_points(perms: np.ndarray) -> np.ndarray:
    """Coalitions a walk of each permutation visits (empty set included)."""
    cum = np.cumsum(BITS[perms], axis=1)
    return np.concatenate([np.zeros((len(perms), 1), dtype=np.int64), cum], axis=1).ravel()


def pair_draws(T: np.ndarray, perms: np.ndarray) -> np.ndarray:
    return (contributions(T, perms) + contributions(T, perms[:, ::-1])) / 2


def adjusted_walks(tables, rng, k, *, ridge=1.0, per_row_top=None):
    """Antithetic walks on v - g, g cross-fitted: one g for all tables, or one per table over
    the triples of the ``per_row_top`` players whose fitting-half draws vary most."""
    perms = [np.argsort(rng.random((k, M)), axis=1) for _ in tables]
    h = k // 2
    estimates = []
    for fit_half, use_half in ((slice(0, h), slice(h, k)), (slice(h, k), slice(0, h))):
        if per_row_top is None:
            idx = np.concatenate([walk_points(p[fit_half]) for p in perms])
            odd = np.concatenate(
                [
                    (T[i] - T[FULL - i]) / 2
                    for T, p in zip(tables, perms, strict=True)
                    for i in [walk_points(p[fit_half])]
                ]
            )
            coef = fit_odd(idx, odd, ALL_TRIPLES, ridge)
            g = odd_features(ALL_IDX, ALL_TRIPLES) @ coef
            total = sum(
                pair_draws(T - g, p[use_half]).mean(axis=0)
                for T, p in zip(tables, perms, strict=True)
            )
            estimates.append(odd_shapley(coef, ALL_TRIPLES) + total / len(tables))
            continue
        spread = sum(
            pair_draws(T, p[fit_half]).var(axis=0) for T, p in zip(tables, perms, strict=True)
        )
        top = np.sort(np.argsort(-spread)[:per_row_top])
        triples = np.array(list(itertools.combinations(top, 3)))
        total = 0.0
        for T, p in zip(tables, perms, strict=True):
            i = walk_points(p[fit_half])
            coef = fit_odd(i, (T[i] - T[FULL - i]) / 2, triples, ridge)
            g = odd_features(ALL_IDX, triples) @ coef
            total = total + odd_shapley(coef, triples) + pair_draws(T - g, p[use_half]).mean(axis=0)
        estimates.append(total / len(tables))
    return np.mean(estimates, axis=0)


def msr_coalitions(rng, n):
    """n paired coalitions (S, complement) with |S| uniform on 1..M-1: bit indices (n, 2)."""
    sizes = rng.integers(1, M, size=n)
    z = np.argsort(np.argsort(rng.random((n, M)), axis=1), axis=1) < sizes[:, None]
    return np.stack([(z * BITS).sum(axis=1), ((~z) * BITS).sum(axis=1)], axis=1)


def msr_estimate(T, idx):
    """MSR on table T from paired coalitions: (v(N) - v(empty)) / M plus the reuse terms, with
    a baseline linear in |S| (zero mean given |S|, so still unbiased)."""
    out = np.full(M, (T[FULL] - T[0]) / M)
    for side in (idx[:, 0], idx[:, 1]):
        z = SIGNS[side] > 0
        size = z.sum(axis=1)
        y = T[side] - (T[0] + (T[FULL] - T[0]) * size / M)
        w = np.where(z, 1.0 / size[:, None], -1.0 / (M - size)[:, None])
        out = out + (y[:, None] * w).mean(axis=0) * (M - 1) / 2
    return out


def msr(tables, rng, n, *, adjusted=False, ridge=1.0):
    """MSR on each table (n paired samples), optionally on v - g with g cross-fitted."""
    draws = [msr_coalitions(rng, n) for _ in tables]
    if not adjusted:
        return np.mean([msr_estimate(T, d) for T, d in zip(tables, draws, strict=True)], axis=0)
    h = n // 2
    estimates = []
    for fit_half, use_half in ((slice(0, h), slice(h, n)), (slice(h, n), slice(0, h))):
        idx = np.concatenate([d[fit_half, 0] for d in draws])
        odd = np.concatenate(
            [
                (T[d[fit_half, 0]] - T[d[fit_half, 1]]) / 2
                for T, d in zip(tables, draws, strict=True)
            ]
        )
        coef = fit_odd(idx, odd, ALL_TRIPLES, ridge)
        g = odd_features(ALL_IDX, ALL_TRIPLES) @ coef
        residual = np.mean(
            [msr_estimate(T - g, d[use_half]) for T, d in zip(tables, draws, strict=True)], axis=0
        )
        estimates.append(odd_shapley(coef, ALL_TRIPLES) + residual)
    return np.mean(estimates, axis=0)


def coalition_oracles(V: np.ndarray) -> list[tuple[str, float]]:
    """Residual pair variance / pair variance of the one-row games, surrogates fitted to all
    2^M coalitions. The averaged game's lines are per model row (x n_background)."""
    rows_var = np.mean([pair_variance_one(V[b]) for b in range(N_BG)])
    avg = V.mean(axis=0)

    def rows_ratio(G):  # G: one surrogate table per row, or one for all rows
        G = np.broadcast_to(G, V.shape)
        return np.mean([pair_variance_one(V[b] - G[b]) for b in range(N_BG)]) / rows_var

    def moebius(order):
        terms = [t for q in range(order + 1) for t in itertools.combinations(range(M), q)]
        Z = SIGNS > 0
        return np.stack([np.prod(Z[:, list(t)], axis=1) for t in terms], axis=1)

    def fitted(A, targets):
        return A @ np.linalg.lstsq(A, targets, rcond=None)[0]

    out = []
    for order in (2, 3, 4):
        A = moebius(order)
        common = fitted(A, avg)
        out += [
            (f"order {order} in z, one g for all rows", rows_ratio(common)),
            (f"order {order} in z, one g per row ({A.shape[1]} terms each)", rows_ratio(fitted(A, V.T).T)),
            (f"order {order} in z on the averaged game, per model row (x {N_BG})", N_BG * pair_variance_one(avg - common) / rows_var),
        ]  # fmt: skip
    odd_rows = (V - V[:, FULL - ALL_IDX]) / 2
    for top in (6, 8):
        F = odd_features(ALL_IDX, np.array(list(itertools.combinations(range(top), 3))))
        name = f"odd degree 1 + triples of players 0-{top - 1}, one g per row"
        out.append((name, rows_ratio(V - odd_rows + fitted(F, odd_rows.T).T)))
    logits = np.log(np.clip(V, 1e-9, 1 - 1e-9) / np.clip(1 - V, 1e-9, 1))
    for order in (2, 3):
        G = 1 / (1 + np.exp(-fitted(moebius(order), logits.T).T))
        out.append((f"order {order} in z of the logit, one g per row", rows_ratio(G)))
    out.append((f"(no surrogate) averaged game, per model row (x {N_BG})", N_BG * pair_variance_one(avg) / rows_var))  # fmt: skip
    return out


def pair_variance_one(T: np.ndarray) -> float:
    """Variance of one antithetic pair's draw on one table, mean over players (3,000 pairs)."""
    perms = np.argsort(np.random.default_rng(1).random((3000, M)), axis=1)
    return float(pair_draws(T, perms).var(axis=0).mean())


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
    rows, avg = list(V), [V.mean(axis=0)]
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
        # Issue 17: regression adjustment in coalition space (see the module docstring).
        "MSR, paired, (S, b) pairs": lambda r, n: msr(rows, r, n // (N_BG * 2)),
        "MSR, paired, averaged game": lambda r, n: msr(avg, r, n // (N_BG * 2)),
        "MSR + cross-fitted odd order-3 g, (S, b) pairs": lambda r, n: msr(
            rows, r, n // (N_BG * 2), adjusted=True
        ),
        "MSR + cross-fitted odd order-3 g, averaged game": lambda r, n: msr(
            avg, r, n // (N_BG * 2), adjusted=True
        ),
        "antithetic on v - g, cross-fitted odd order-3 g, (S, b) pairs": lambda r, n: (
            adjusted_walks(rows, r, max(2, n // (N_BG * 2 * per_walk)))
        ),
        "antithetic on v - g, cross-fitted odd order-3 g, averaged game": lambda r, n: (
            adjusted_walks(avg, r, max(2, n // (N_BG * 2 * per_walk)))
        ),
        "antithetic on v - g, g per row over the 5 most varying players": lambda r, n: (
            adjusted_walks(rows, r, max(2, n // (N_BG * 2 * per_walk)), per_row_top=5)
        ),
        "antithetic on v - g, g per row over the 6 most varying players": lambda r, n: (
            adjusted_walks(rows, r, max(2, n // (N_BG * 2 * per_walk)), per_row_top=6)
        ),
    }
    budgets = (13_200, 26_400) if args.quick else (13_200, 26_400, 52_800, 105_600)
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
    efficiency_gap = 0.0
    for name, run in candidates.items():
        cells = []
        for budget in budgets:
            errors = np.array([run(np.random.default_rng(s), budget) - exact for s in range(seeds)])
            # Every candidate is efficient by construction: the errors sum to zero.
            efficiency_gap = max(efficiency_gap, float(np.abs(errors.sum(axis=1)).max()))
            rmse = np.sqrt((errors**2).mean())
            cells.append(f"{rmse:.1e} / {np.median(np.abs(errors).max(axis=1)):.1e}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    lines += [
        "",
        "Efficiency: the largest |sum of the errors| over every candidate, budget and seed is "
        f"{efficiency_gap:.1e} (base + sum(phi) = f(x) to rounding in every estimator).",
        "",
        "Regression adjustment in coalition space, upper bound of its gain: variance of one "
        "antithetic pair's draw on the residual v_b - g of the one-row games, with g fitted "
        "to all 4,096 coalitions (of every row, or of the averaged game; an oracle), over the "
        "variance on v_b. The averaged game's lines are per model row: a coalition there "
        f"costs {N_BG} rows, so its pair variance is multiplied by {N_BG}.",
        "",
        "| surrogate in coalition space | residual variance / variance of the one-row walks |",
        "|---|---:|",
    ]
    for name, ratio in coalition_oracles(V):
        lines.append(f"| {name} | {ratio:.3f} |")
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
