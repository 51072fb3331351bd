"""The kernel backend's game and estimators: efficiency, unbiasedness, calibrated errors,
budgets, early stopping, seeds, background summaries, option errors, many columns."""

from __future__ import annotations

import numpy as np
import pytest

from explainscore.attribution._base import ExplainContext
from explainscore.attribution._coalitions import all_masks
from explainscore.attribution._kernel import KernelAttributor
from explainscore.attribution.kernel._background import summarize
from explainscore.attribution.kernel._estimator import Budget
from explainscore.attribution.kernel._game import InterventionalGame
from explainscore.attribution.kernel._permutation import PermutationEstimator
from explainscore.exceptions import ParameterError

from .bruteforce import interventional_shapley


def _context(f, background, *, groups=None, seed=0, space="raw", **options) -> ExplainContext:
    n_cols = background.shape[1]
    groups = np.arange(n_cols) if groups is None else np.asarray(groups)
    return ExplainContext(
        estimator=None,
        background=background,
        groups=groups,
        player_names=[f"p{j}" for j in range(int(groups.max()) + 1)],
        output_space=space,
        target_class=None,
        value_function=f,
        random_state=seed,
        options=options,
    )


def _interacting(m: int, seed: int):
    """A probability-valued function of m columns with interactions of order three and more."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=m) / np.sqrt(m)

    def f(rows):
        rows = np.asarray(rows, dtype=float)
        logit = rows @ w + rows[:, 0] * rows[:, 1] - 0.7 * rows[:, 2] * rows[:, 3] * rows[:, 4]
        return 1.0 / (1.0 + np.exp(-logit))

    return f, rng


def _run(f, bg, x, *, seed=0, space="probability", **options):
    attributor = KernelAttributor(_context(f, bg, seed=seed, space=space, **options))
    return attributor, attributor.attribute(x)


ESTIMATORS = [
    {"estimator": "exact"},
    {"estimator": "permutation", "n_evaluations": 3000},
    {"estimator": "sampling", "n_samples": 90},
    {"estimator": "permutation", "n_evaluations": 20000, "target_std_error": 0.02},
    {"estimator": "exact", "background_summary": "kmeans", "n_summary_rows": 3},
    {"estimator": "permutation", "background_summary": "stratified", "n_summary_rows": 4},
]


@pytest.mark.parametrize("options", ESTIMATORS, ids=lambda o: "-".join(map(str, o.values())))
def test_every_estimator_adds_up_exactly(options) -> None:
    f, rng = _interacting(7, 0)
    bg = rng.normal(size=(9, 7))
    x = rng.normal(size=(3, 7))
    attributor, result = _run(f, bg, x, **options)
    game = attributor.game_
    base = game.weights @ f(game.background)
    np.testing.assert_allclose(result.base_values, base, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.base_values + result.values.sum(1), f(x), rtol=0, atol=1e-9)
    assert result.exact == (options["estimator"] == "exact")
    assert (result.std_errors is None) == result.exact


@pytest.mark.parametrize("summary", ["kmeans", "stratified"])
def test_summaries_are_weighted_real_rows_and_exact_for_their_game(summary) -> None:
    f, rng = _interacting(5, 1)
    bg = rng.normal(size=(40, 5))
    x = rng.normal(size=(2, 5))
    rows, weights = summarize(bg, summary, 6, 0, f)
    assert len(rows) <= 6
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(weights > 0)
    assert all(any(np.array_equal(r, b) for b in bg) for r in rows)  # real rows only
    _, result = _run(f, bg, x, estimator="exact", background_summary=summary, n_summary_rows=6)
    for i in range(2):
        # The Shapley value is linear in the game: the weighted sum of one-row games' values.
        phi = sum(
            w * interventional_shapley(f, x[i], r[None])[0]
            for r, w in zip(rows, weights, strict=True)
        )
        np.testing.assert_allclose(result.values[i], phi, atol=1e-10)
    unchanged, w = summarize(bg, summary, 40, 0, f)
    assert unchanged is bg
    np.testing.assert_allclose(w, 1 / 40)


def test_kmeans_summary_takes_text_columns() -> None:
    rng = np.random.default_rng(2)
    bg = np.empty((30, 3), dtype=object)
    bg[:, 0] = rng.normal(size=30)
    bg[:, 1] = rng.choice(["a", "b", "c"], size=30)
    bg[:, 2] = rng.normal(size=30)

    def f(rows):
        return rows[:, 0].astype(float) + (rows[:, 1] == "a") * rows[:, 2].astype(float)

    rows, weights = summarize(bg, "kmeans", 5, 0, f)
    assert set(rows[:, 1]) <= {"a", "b", "c"}
    assert weights.sum() == pytest.approx(1.0)


def test_unbiased_with_calibrated_standard_errors() -> None:
    # 300 fixed seeds (the test is deterministic). Calibration: the true error lies within two
    # reported standard errors in at least 93% of seeds x players (0.95 for a normal estimate
    # with a known error; the bound leaves about three binomial standard deviations, 1.3
    # points, below it). Unbiased: the mean over seeds is within 4 of its standard errors.
    f, rng = _interacting(6, 3)
    bg = rng.normal(size=(5, 6))
    x = rng.normal(size=(1, 6))
    exact = _run(f, bg, x, estimator="exact")[1].values[0]
    runs = [_run(f, bg, x, seed=s, estimator="permutation", n_evaluations=2000)[1]
            for s in range(300)]  # fmt: skip
    estimates = np.array([r.values[0] for r in runs])
    std_errors = np.array([r.std_errors[0] for r in runs])
    coverage = np.mean(np.abs(estimates - exact) <= 2 * std_errors)
    assert coverage >= 0.93, coverage
    ratio = estimates.std(axis=0, ddof=1) / np.sqrt((std_errors**2).mean(axis=0))
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    bias_z = (estimates.mean(axis=0) - exact) / (estimates.std(axis=0, ddof=1) / np.sqrt(300))
    assert np.all(np.abs(bias_z) < 4), bias_z


@pytest.mark.parametrize("budget", [700, 1234, 5000])
def test_budgets_are_respected(budget) -> None:
    f, rng = _interacting(6, 4)
    bg = rng.normal(size=(4, 6))
    x = rng.normal(size=(3, 6))
    calls: list[int] = []

    def counted(rows):
        calls.append(len(rows))
        return f(rows)

    attributor = KernelAttributor(
        _context(counted, bg, estimator="permutation", n_evaluations=budget)
    )
    attributor.attribute(x[:1])  # one lead: every row the model scores is that lead's
    used = attributor.n_evaluations_
    assert used is not None
    assert used[0] <= budget
    assert used[0] > budget - 2 * 5 - 1  # at most one pair short of the budget
    assert sum(calls) == used[0]


def test_auto_enumerates_only_within_the_budget() -> None:
    f, rng = _interacting(6, 5)
    bg = rng.normal(size=(4, 6))
    fits = KernelAttributor(_context(f, bg, n_evaluations=64 * 4))
    short = KernelAttributor(_context(f, bg, n_evaluations=64 * 4 - 1))
    assert fits.exact
    assert not short.exact
    assert "permutation" in short.game


def test_target_std_error_stops_early_and_is_seeded() -> None:
    f, rng = _interacting(6, 6)
    bg = rng.normal(size=(5, 6))
    X = rng.normal(size=(6, 6))
    budget = 12_000
    attributor, result = _run(f, bg, X, estimator="permutation", n_evaluations=budget,
                              target_std_error=0.002)  # fmt: skip
    used = attributor.n_evaluations_
    stopped = used < PermutationEstimator.pairs_within(attributor.game_, budget) * 10 + 6
    assert np.any(~stopped)  # some leads cannot reach the target within the budget
    assert np.any(stopped)
    assert np.all(used <= budget)
    assert np.all(result.std_errors[stopped].max(axis=1) <= 0.002)
    # Without a target every lead spends the whole budget, one pair short of it at most.
    full_attr, _ = _run(f, bg, X, estimator="permutation", n_evaluations=budget)
    game = full_attr.game_
    spent = PermutationEstimator.evaluations(game, PermutationEstimator.pairs_within(game, budget))
    np.testing.assert_array_equal(full_attr.n_evaluations_, spent)
    assert budget - 10 < spent <= budget
    # Seeded, and a lead's values do not depend on its batch.
    _, again = _run(f, bg, X, estimator="permutation", n_evaluations=budget, target_std_error=0.002)
    _, alone = _run(f, bg, X[[3]], estimator="permutation", n_evaluations=budget,
                    target_std_error=0.002)  # fmt: skip
    np.testing.assert_array_equal(again.values, result.values)
    np.testing.assert_allclose(alone.values[0], result.values[3], rtol=0, atol=1e-12)


def test_early_stopping_keeps_the_standard_errors_calibrated() -> None:
    # Stopping when the estimated standard error reaches a target selects draws whose error
    # it understates; the first check waits for 8 pairs per row so that this stays small.
    # 300 fixed seeds; the leads stop at different rounds, far below the budget.
    f, rng = _interacting(6, 3)
    bg = rng.normal(size=(5, 6))
    x = rng.normal(size=(1, 6))
    exact = _run(f, bg, x, estimator="exact")[1].values[0]
    runs = [
        _run(f, bg, x, seed=s, estimator="permutation", n_evaluations=200_000,
             target_std_error=0.002)
        for s in range(300)
    ]  # fmt: skip
    used = np.array([a.n_evaluations_[0] for a, _ in runs])
    estimates = np.array([r.values[0] for _, r in runs])
    std_errors = np.array([r.std_errors[0] for _, r in runs])
    assert len(np.unique(used)) >= 2
    assert used.max() < 200_000 / 10
    assert np.all(std_errors.max(axis=1) <= 0.002)
    coverage = np.mean(np.abs(estimates - exact) <= 2 * std_errors)
    assert coverage >= 0.93, coverage


def test_forty_columns() -> None:
    # Additive plus pairwise: antithetic walks are exact for it, whatever the draws.
    m = 40
    rng = np.random.default_rng(8)
    w = rng.normal(size=m)
    bg = rng.normal(size=(6, m))
    x = rng.normal(size=(2, m))

    def f(rows):
        return rows @ w + rows[:, 0] * rows[:, 39] - rows[:, 5] * rows[:, 17]

    _, result = _run(f, bg, x, space="raw", estimator="permutation", n_evaluations=6 * 8 * 78 + 7)
    for i in range(2):
        expected = w * (x[i] - bg.mean(axis=0))
        for j, k, sign in ((0, 39, 1.0), (5, 17, -1.0)):
            # The two-player game of sign * u_j * u_k, each of u_j, u_k from x or b.
            v_none = np.mean(bg[:, j] * bg[:, k])
            v_j, v_k = x[i, j] * bg[:, k].mean(), x[i, k] * bg[:, j].mean()
            v_jk = x[i, j] * x[i, k]
            expected[j] += sign * ((v_j - v_none) + (v_jk - v_k)) / 2
            expected[k] += sign * ((v_k - v_none) + (v_jk - v_j)) / 2
        np.testing.assert_allclose(result.values[i], expected, atol=1e-9)
    np.testing.assert_allclose(result.base_values + result.values.sum(1), f(x), atol=1e-9)


def test_game_blocks_within_the_memory_budget() -> None:
    f, rng = _interacting(8, 9)
    bg = rng.normal(size=(30, 8))
    X = rng.normal(size=(5, 8))
    masks = all_masks(8)
    wide = InterventionalGame(f, bg, np.arange(8)).coalition_values(X, masks)
    narrow = InterventionalGame(f, bg, np.arange(8), memory_budget=1 << 12)
    np.testing.assert_allclose(narrow.coalition_values(X, masks), wide, rtol=0, atol=1e-13)
    # One walk per row: the inner steps are the coalitions of the first k players.
    rows = np.array([3, 7])
    order = np.array([[2, 0, 1, 3, 7, 4, 6, 5], [7, 6, 5, 4, 3, 2, 1, 0]])
    positions = np.argsort(order, axis=1)[:, None, :]
    walks = narrow.walk_values(X[:1], rows, positions)[0, :, 0]
    for p in range(2):
        for k in range(1, 8):
            hybrid = bg[rows[p]].copy()
            hybrid[order[p, :k]] = X[0, order[p, :k]]
            assert walks[p, k - 1] == pytest.approx(f(hybrid[None])[0], abs=1e-14)


def test_estimators_take_a_budget_directly() -> None:
    f, rng = _interacting(5, 10)
    game = InterventionalGame(f, rng.normal(size=(4, 5)), np.arange(5))
    estimate = PermutationEstimator().estimate(game, rng.normal(size=(2, 5)), Budget(1000), 0)
    assert np.all(estimate.n_evaluations <= 1000)
    assert estimate.values.shape == (2, 5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"estimator": "permutation", "n_evaluations": 10},
            "The 'n_evaluations' option of method='kernel' must be an int in [40, inf) for 4 "
            "players and 3 background rows (the sampler draws at least 2 antithetic pairs per "
            "row). Got 10 instead.",
        ),
        (
            {"n_evaluations": 0},
            "The 'n_evaluations' option of method='kernel' must be an int in [1, inf). "
            "Got 0 instead.",
        ),
        ({"n_evaluations": 2.5}, "The 'n_evaluations' option of method='kernel' must be an int"),
        (
            {"target_std_error": -1.0},
            "The 'target_std_error' option of method='kernel' must be a float > 0 (or None). "
            "Got -1.0 instead.",
        ),
        (
            {"target_std_error": "small"},
            "The 'target_std_error' option of method='kernel' must be a float > 0",
        ),
        (
            {"background_summary": "median"},
            "The 'background_summary' option of method='kernel' must be one of 'none', 'kmeans', "
            "'stratified'. Got 'median' instead.",
        ),
        (
            {"n_summary_rows": 0},
            "The 'n_summary_rows' option of method='kernel' must be an int in [1, inf). "
            "Got 0 instead.",
        ),
        (
            {"estimator": "exact", "n_evaluations": 47},
            "The 'n_evaluations' option of method='kernel' must be an int in [48, inf) with "
            "estimator='exact' (2^4 coalitions x 3 background rows), or the estimator 'auto' or "
            "'permutation'. Got 47 instead.",
        ),
    ],
)
def test_new_options_are_validated(options, message) -> None:
    bg = np.zeros((3, 4))
    with pytest.raises(ParameterError) as info:
        KernelAttributor(_context(lambda a: a.sum(1), bg, **options))
    assert message in str(info.value)
