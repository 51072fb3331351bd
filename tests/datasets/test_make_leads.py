"""Tests of make_leads, LEADS_COEFFICIENTS and leads_true_logit: the ground truth must be true."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from explainscore.datasets import LEADS_COEFFICIENTS, leads_true_logit, make_leads
from explainscore.datasets._leads import LEADS_COLUMNS, LEADS_INDUSTRIES, LEADS_SOURCES
from explainscore.exceptions import ColumnTypeError, MissingColumnError, ParameterError

NUMERIC_INT = [
    "company_size",
    "pages_viewed",
    "emails_opened",
    "days_since_last_contact",
    "demo_booked",
    "budget_known",
]
# Main effects and the interaction, as columns of the design matrix built below.
LINEAR_TERMS = [
    "log_company_size",
    "pages_viewed",
    "emails_opened",
    "days_since_last_contact",
    "demo_booked",
    "budget_known",
    "demo_booked:pages_viewed",
    "noise",
]


def _design(X: pd.DataFrame) -> tuple[npt.NDArray[np.float64], list[str]]:
    """The documented model's design matrix, built independently of the package's formula.

    One-hot columns drop the reference levels (the first of each documented level list),
    whose coefficients are 0 by definition, so that the remaining coefficients are
    identifiable and equal the documented offsets.
    """
    numeric = np.column_stack(
        [
            np.log(X["company_size"].to_numpy(dtype=float)),
            X["pages_viewed"].to_numpy(dtype=float),
            X["emails_opened"].to_numpy(dtype=float),
            X["days_since_last_contact"].to_numpy(dtype=float),
            X["demo_booked"].to_numpy(dtype=float),
            X["budget_known"].to_numpy(dtype=float),
            X["demo_booked"].to_numpy(dtype=float) * X["pages_viewed"].to_numpy(dtype=float),
            X["noise"].to_numpy(dtype=float),
        ]
    )
    encoder = OneHotEncoder(
        categories=[list(LEADS_INDUSTRIES), list(LEADS_SOURCES)],
        drop="first",
        sparse_output=False,
    )
    onehot = encoder.fit_transform(X[["industry", "lead_source"]])
    names = LINEAR_TERMS + list(encoder.get_feature_names_out(["industry", "lead_source"]))
    return np.hstack([numeric, onehot]), names


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- shape, dtypes, determinism


def test_shape_dtypes_and_names() -> None:
    X, y = make_leads(500, seed=3)
    assert X.shape == (500, 9)
    assert list(X.columns) == list(LEADS_COLUMNS)
    for column in NUMERIC_INT:
        assert X[column].dtype == np.dtype("int64"), column
    assert X["noise"].dtype == np.dtype("float64")
    for column in ["industry", "lead_source"]:
        assert not isinstance(X[column].dtype, pd.CategoricalDtype)
        assert pd.api.types.is_string_dtype(X[column].dtype)
    assert y.name == "converted"
    assert y.dtype == np.dtype("int64")
    assert set(y.unique()) <= {0, 1}
    assert not X.isna().any().any()


def test_value_ranges() -> None:
    X, _ = make_leads(5_000, seed=1)
    assert (X["company_size"] >= 1).all()
    assert set(X["industry"]) == set(LEADS_INDUSTRIES)
    assert set(X["lead_source"]) == set(LEADS_SOURCES)
    assert (X["pages_viewed"] >= 0).all()
    assert X["emails_opened"].between(0, 8).all()
    assert (X["days_since_last_contact"] >= 0).all()
    assert set(X["demo_booked"]) == {0, 1}
    assert set(X["budget_known"]) == {0, 1}


def test_same_seed_same_data() -> None:
    X1, y1 = make_leads(2_000, seed=42)
    X2, y2 = make_leads(2_000, seed=42)
    pd.testing.assert_frame_equal(X1, X2)
    pd.testing.assert_series_equal(y1, y2)


def test_different_seed_different_data() -> None:
    X1, _ = make_leads(100, seed=0)
    X2, _ = make_leads(100, seed=1)
    assert not X1["noise"].equals(X2["noise"])


def test_as_frame_false_matches_frame() -> None:
    X, y = make_leads(300, seed=5)
    X_arr, y_arr = make_leads(300, seed=5, as_frame=False)
    assert X_arr.dtype == object
    assert X_arr.shape == (300, 9)
    assert y_arr.dtype == np.int64
    np.testing.assert_array_equal(y_arr, y.to_numpy())
    np.testing.assert_array_equal(X_arr[:, 1], X["industry"].to_numpy(dtype=object))
    np.testing.assert_array_equal(leads_true_logit(X_arr), leads_true_logit(X))


# ---------------------------------------------------------------------- the documented model


def test_coefficients_are_read_only_and_complete() -> None:
    with pytest.raises(TypeError):
        LEADS_COEFFICIENTS["intercept"] = 0.0  # type: ignore[index]
    expected = {"intercept", *LINEAR_TERMS}
    expected |= {f"industry_{level}" for level in LEADS_INDUSTRIES}
    expected |= {f"lead_source_{level}" for level in LEADS_SOURCES}
    assert set(LEADS_COEFFICIENTS) == expected
    # The reference levels and the noise column have no effect by definition.
    assert LEADS_COEFFICIENTS["industry_software"] == 0.0
    assert LEADS_COEFFICIENTS["lead_source_web"] == 0.0
    assert LEADS_COEFFICIENTS["noise"] == 0.0


def test_true_logit_matches_the_documented_formula_exactly() -> None:
    X, _ = make_leads(3_000, seed=11)
    design, names = _design(X)
    beta = np.array([LEADS_COEFFICIENTS[name] for name in names])
    expected = LEADS_COEFFICIENTS["intercept"] + design @ beta
    np.testing.assert_allclose(leads_true_logit(X), expected, rtol=1e-12, atol=1e-12)


def test_documented_docstring_numbers_match_the_mapping() -> None:
    # The docstring of make_leads spells out the formula: keep it in step with the mapping.
    doc = make_leads.__doc__ or ""
    c = LEADS_COEFFICIENTS
    assert f"logit = {c['intercept']}" in doc
    assert f"{c['log_company_size']} * ln(company_size)" in doc
    assert f"{c['demo_booked:pages_viewed']} * demo_booked * pages_viewed" in doc


def test_noise_has_no_effect_on_the_true_logit() -> None:
    X, _ = make_leads(1_000, seed=2)
    reference = leads_true_logit(X)
    np.testing.assert_array_equal(leads_true_logit(X.drop(columns="noise")), reference)
    shuffled = X.assign(noise=np.random.default_rng(9).normal(0.0, 100.0, len(X)))
    np.testing.assert_array_equal(leads_true_logit(shuffled), reference)


def test_interaction_changes_the_effect_of_pages() -> None:
    X, _ = make_leads(50, seed=4)
    base = X.assign(demo_booked=0)
    more = base.assign(pages_viewed=base["pages_viewed"] + 1)
    c = LEADS_COEFFICIENTS
    np.testing.assert_allclose(
        leads_true_logit(more) - leads_true_logit(base), c["pages_viewed"], rtol=1e-12
    )
    base = X.assign(demo_booked=1)
    more = base.assign(pages_viewed=base["pages_viewed"] + 1)
    np.testing.assert_allclose(
        leads_true_logit(more) - leads_true_logit(base),
        c["pages_viewed"] + c["demo_booked:pages_viewed"],
        rtol=1e-12,
    )


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_true_logit_is_finite_and_deterministic(n: int, seed: int) -> None:
    X, y = make_leads(n, seed=seed)
    logit = leads_true_logit(X)
    assert logit.shape == (n,)
    assert np.isfinite(logit).all()
    X2, y2 = make_leads(n, seed=seed)
    pd.testing.assert_frame_equal(X, X2)
    pd.testing.assert_series_equal(y, y2)


def test_logistic_regression_recovers_the_documented_coefficients() -> None:
    """The labels really are drawn from the documented model.

    An unpenalised logistic regression on the correctly specified design matrix is the
    maximum-likelihood estimate; for n = 50,000 it is approximately normal around the true
    coefficients, with covariance the inverse Fisher information
    ``(A' W A)^-1``, ``W = diag(p (1 - p))`` at the true probabilities ``p``. Each estimate
    must lie within ``z`` standard errors of the documented value, with ``z`` chosen so that
    all k coefficients pass together with probability 0.999 (Bonferroni), under the model.
    """
    X, y = make_leads(50_000, seed=0)
    design, names = _design(X)
    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=200)
    model.fit(design, y.to_numpy())
    estimate = np.concatenate([model.intercept_, model.coef_.ravel()])
    truth = np.array([LEADS_COEFFICIENTS["intercept"]] + [LEADS_COEFFICIENTS[n] for n in names])

    A = np.column_stack([np.ones(len(design)), design])
    p = _sigmoid(leads_true_logit(X))
    fisher = A.T @ (A * (p * (1.0 - p))[:, None])
    se = np.sqrt(np.diag(np.linalg.inv(fisher)))
    k = len(truth)
    z = NormalDist().inv_cdf(1.0 - 0.001 / (2 * k))

    terms = ["intercept", *names]
    failures = [
        f"{t}: estimate {e:.4f}, truth {b:.4f}, tolerance {z * s:.4f}"
        for t, e, b, s in zip(terms, estimate, truth, se, strict=True)
        if abs(e - b) > z * s
    ]
    assert not failures, failures
    # The check must have teeth: every non-zero effect is resolved from zero.
    nonzero = truth != 0.0
    assert np.all(z * se[nonzero] < np.abs(truth[nonzero])), dict(zip(terms, z * se, strict=True))


def test_conversion_rate_matches_the_true_probabilities() -> None:
    X, y = make_leads(20_000, seed=7)
    p = _sigmoid(leads_true_logit(X))
    # y is a sum of independent Bernoulli(p_i): its sd is sqrt(sum p_i (1 - p_i)).
    sd = np.sqrt(np.sum(p * (1.0 - p)))
    assert abs(y.sum() - p.sum()) < 4.0 * sd
    assert 0.15 < y.mean() < 0.23


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 0}, "n"),
        ({"n": -5}, "n"),
        ({"n": 10.0}, "n"),
        ({"n": True}, "n"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": None}, "seed"),
        ({"as_frame": "yes"}, "as_frame"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError, match=f"'{name}' parameter of make_leads"):
        make_leads(**kwargs)  # type: ignore[call-overload]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        make_leads(10, 3)  # type: ignore[call-overload]


def test_true_logit_missing_column() -> None:
    X, _ = make_leads(10)
    with pytest.raises(MissingColumnError) as info:
        leads_true_logit(X.drop(columns=["demo_booked"]))
    assert info.value.columns == ["demo_booked"]


def test_true_logit_unknown_level() -> None:
    X, _ = make_leads(10)
    X.loc[0, "industry"] = "mining"
    with pytest.raises(ColumnTypeError) as info:
        leads_true_logit(X)
    assert info.value.column == "industry"
    # Messages never quote lead values.
    assert "mining" not in str(info.value)


def test_true_logit_bad_numbers() -> None:
    X, _ = make_leads(10)
    with pytest.raises(ColumnTypeError, match="company_size"):
        leads_true_logit(X.assign(company_size=0))
    with pytest.raises(ColumnTypeError, match="pages_viewed"):
        leads_true_logit(X.assign(pages_viewed="many"))
    with pytest.raises(ColumnTypeError, match="emails_opened"):
        leads_true_logit(X.assign(emails_opened=np.nan))


def test_true_logit_bad_array_shape() -> None:
    with pytest.raises(ParameterError, match="'X' parameter of leads_true_logit"):
        leads_true_logit(np.zeros((3, 4)))
