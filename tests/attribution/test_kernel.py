"""The model-agnostic backend against brute force; sampling; LIME; the linear probability game."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from explainscore import ExplainedModel
from explainscore.attribution._base import ExplainContext
from explainscore.attribution._coalitions import all_masks, shapley_from_coalition_values
from explainscore.attribution._kernel import KernelAttributor

from .bruteforce import interventional_shapley


def _context(f, background, *, groups=None, seed=0, **options) -> ExplainContext:
    n_cols = background.shape[1]
    groups = np.arange(n_cols) if groups is None else np.asarray(groups)
    return ExplainContext(
        estimator=None,
        background=background,
        groups=groups,
        player_names=[f"p{j}" for j in range(int(groups.max()) + 1)],
        output_space="raw",
        target_class=None,
        value_function=f,
        random_state=seed,
        options=options,
    )


def test_shapley_from_coalition_values_matches_the_formula() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=1 << 4)
    v[0] = 0.0
    masks = all_masks(4)
    lookup = {tuple(m): v[i] for i, m in enumerate(masks)}

    def f(rows):
        return np.array([lookup[tuple(r.astype(bool))] for r in rows])

    phi, _base = interventional_shapley(f, np.ones(4), np.zeros((1, 4)))
    np.testing.assert_allclose(shapley_from_coalition_values(v, 4), phi, atol=1e-12)


@pytest.mark.parametrize("groups", [None, [0, 0, 1, 2, 2]])
def test_exact_enumeration_equals_brute_force(groups) -> None:
    rng = np.random.default_rng(1)
    bg = rng.normal(size=(7, 5))
    X = rng.normal(size=(4, 5))

    def f(rows):
        return np.sin(rows[:, 0]) * rows[:, 1] + rows[:, 2] ** 2 - rows[:, 3] * rows[:, 4]

    result = KernelAttributor(_context(f, bg, groups=groups)).attribute(X)
    assert result.exact
    for i, x in enumerate(X):
        phi, base = interventional_shapley(f, x, bg, None if groups is None else np.array(groups))
        np.testing.assert_allclose(result.values[i], phi, atol=1e-9)
        assert result.base_values[i] == pytest.approx(base, abs=1e-12)
    np.testing.assert_allclose(result.base_values + result.values.sum(1), f(X), atol=1e-10)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
        lambda: KNeighborsClassifier(n_neighbors=7),
        lambda: SVC(probability=True, random_state=0),
    ],
    ids=["mlp", "knn", "svc"],
)
def test_real_models_in_probability_space_equal_brute_force(make_model, leads_numeric) -> None:
    X, y = leads_numeric
    X = X.iloc[:400]
    y = y.iloc[:400]
    em = ExplainedModel(make_model(), n_background=12).fit(X, y)
    assert em.method_ == "kernel"
    assert em.output_space_ == "probability"
    rows = X.iloc[:3]
    batch = em.explain(rows)
    bg = em.background_.to_numpy(dtype=float)

    def f(a):
        return em.model_.predict_proba(pd.DataFrame(a, columns=X.columns))[:, 1]

    for i in range(len(rows)):
        phi, _base = interventional_shapley(f, rows.to_numpy(dtype=float)[i], bg)
        np.testing.assert_allclose(batch.attributions[i], phi, atol=1e-9)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(1),
        em.model_.predict_proba(rows)[:, 1],
        atol=1e-10,
    )


def test_pipeline_with_text_columns_on_raw_columns(leads) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = leads
    X = X.drop(columns=["noise", "budget_known"])
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["industry", "lead_source"]),
        remainder=StandardScaler(),
    )
    pipe = make_pipeline(pre, PCA(n_components=5), LogisticRegression(max_iter=2000)).fit(X, y)
    em = ExplainedModel(pipe, background=X.iloc[:10], method="kernel")
    batch = em.explain(X.iloc[:2])
    bg = X.iloc[:10].to_numpy(dtype=object)

    def f(a):
        return pipe.predict_proba(pd.DataFrame(a, columns=X.columns).astype(X.dtypes.to_dict()))[
            :, 1
        ]

    phi, _ = interventional_shapley(f, X.iloc[0].to_numpy(dtype=object), bg)
    np.testing.assert_allclose(batch.attributions[0], phi, atol=1e-9)


def test_dummy_and_symmetry() -> None:
    rng = np.random.default_rng(2)
    bg = rng.normal(size=(6, 4))
    bg[:, 1] = bg[:, 0]

    def f(rows):
        return rows[:, 0] * rows[:, 1] + rows[:, 2]  # column 3 unused; 0 and 1 symmetric

    x = np.array([[1.5, 1.5, -2.0, 9.0]])
    result = KernelAttributor(_context(f, bg)).attribute(x)
    assert result.values[0, 3] == 0.0
    assert result.values[0, 0] == pytest.approx(result.values[0, 1], abs=1e-12)


def test_sampling_is_unbiased_seeded_and_efficient() -> None:
    rng = np.random.default_rng(3)
    m = 14
    bg = rng.normal(size=(5, m))
    w = rng.normal(size=m)

    def f(rows):
        # Third- and higher-order interactions: antithetic pairs alone are not exact here.
        return (
            rows @ w
            + np.prod(rows[:, :3], axis=1)
            + np.tanh(rows[:, 3] + rows[:, 4] * rows[:, 5]) * rows[:, 6]
            + np.maximum(rows[:, 7], rows[:, 8] * rows[:, 9])
        )

    x = rng.normal(size=(1, m))
    exact = KernelAttributor(_context(f, bg, max_exact_players=14)).attribute(x).values[0]
    a = KernelAttributor(_context(f, bg, max_exact_players=4, n_permutations=400, seed=1))
    b = KernelAttributor(_context(f, bg, max_exact_players=4, n_permutations=400, seed=1))
    c = KernelAttributor(_context(f, bg, max_exact_players=4, n_permutations=400, seed=2))
    ra, rb, rc = a.attribute(x), b.attribute(x), c.attribute(x)
    assert not ra.exact
    np.testing.assert_array_equal(ra.values, rb.values)
    assert not np.array_equal(ra.values, rc.values)
    np.testing.assert_allclose(ra.base_values + ra.values.sum(1), f(x), atol=1e-10)
    # honest standard errors: |error| within 4 s.e. for every player (fixed seed)
    err = np.abs(ra.values[0] - exact)
    assert np.all(err <= 4 * ra.std_errors[0] + 1e-12)
    # more permutations, smaller error (on average over players)
    small = KernelAttributor(_context(f, bg, max_exact_players=4, n_permutations=40, seed=1))
    assert np.abs(small.attribute(x).values[0] - exact).mean() > err.mean()


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10_000))
def test_additive_functions_give_their_components(m, seed) -> None:
    rng = np.random.default_rng(seed)
    bg = rng.normal(size=(4, m))
    w = rng.normal(size=m)
    x = rng.normal(size=(2, m))

    def f(rows):
        return np.cos(rows) @ w

    result = KernelAttributor(_context(f, bg)).attribute(x)
    expected = (np.cos(x) - np.cos(bg).mean(axis=0)) * w
    np.testing.assert_allclose(result.values, expected, atol=1e-10)


def test_logistic_regression_is_exact_in_probability_space(leads_numeric) -> None:
    X, y = leads_numeric
    em = ExplainedModel(
        LogisticRegression(max_iter=2000), output_space="probability", n_background=15
    ).fit(X, y)
    assert em.method_ == "linear"
    batch = em.explain(X.iloc[:3])
    bg = em.background_.to_numpy(dtype=float)

    def f(a):
        return em.model_.predict_proba(pd.DataFrame(a, columns=X.columns))[:, 1]

    for i in range(3):
        phi, _ = interventional_shapley(f, X.iloc[i].to_numpy(dtype=float), bg)
        np.testing.assert_allclose(batch.attributions[i], phi, atol=1e-9)


def test_linear_margin_equals_brute_force(leads_numeric) -> None:
    X, y = leads_numeric
    em = ExplainedModel(LogisticRegression(max_iter=2000), n_background=10).fit(X, y)
    batch = em.explain(X.iloc[:3])
    bg = em.background_.to_numpy(dtype=float)
    for i in range(3):
        phi, base = interventional_shapley(
            lambda a: em.model_.decision_function(pd.DataFrame(a, columns=X.columns)),
            X.iloc[i].to_numpy(dtype=float),
            bg,
        )
        np.testing.assert_allclose(batch.attributions[i], phi, atol=1e-9)
        assert batch.base_values[i] == pytest.approx(base, abs=1e-9)


def test_lime_is_marked_approximate_and_adds_up(leads) -> None:
    pytest.importorskip("lime")
    X, y = leads
    em = ExplainedModel(
        LogisticRegression(max_iter=2000),
        method="lime",
        n_background=100,
        method_options={"num_samples": 500},
    ).fit(X.select_dtypes("number"), y)
    a = em.explain(X.select_dtypes("number").iloc[:2])
    b = em.explain(X.select_dtypes("number").iloc[:2])
    assert not a.exact
    assert a.explainer == "lime"
    np.testing.assert_array_equal(a.attributions, b.attributions)
    np.testing.assert_allclose(a.base_values + a.attributions.sum(1), a.outputs, atol=1e-9)
