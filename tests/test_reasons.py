"""Reasons v1: honest order and signs, no unused factors, budget, determinism, names."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from explainscore import ExplainedModel
from explainscore.reasons import FeatureNamer, compose_reasons, humanize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("num__days_since_contact", "Days since contact"),
        ("cat__lead_source", "Lead source"),
        ("emp.var.rate", "Emp var rate"),
        ("pagesViewed", "Pages viewed"),
        ("GDP_growth", "GDP growth"),
    ],
)
def test_humanize(raw: str, expected: str) -> None:
    assert humanize(raw) == expected


def test_catalog_names_values_and_sentinels() -> None:
    from explainscore.datasets import BANK_FEATURE_INFO

    namer = FeatureNamer(BANK_FEATURE_INFO)
    assert namer.name("pdays") == "Days since previous contact"
    assert namer.value("pdays", -1) == "not previously contacted"
    assert namer.value("month", "may") == "May"
    assert namer.name("unknown_column") == "Unknown column"


def _reasons(attrs: np.ndarray, *, max_length: int = 255, k: int = 3) -> list[str]:
    names = [f"feature_{j}" for j in range(attrs.shape[1])]
    order = np.argsort(-np.abs(attrs), axis=1, kind="stable")[:, :k]
    return compose_reasons(
        scores=np.full(len(attrs), 0.5),
        attributions=attrs,
        data_rows=[[1.5] * attrs.shape[1] for _ in attrs],
        feature_names=names,
        top=order,
        namer=FeatureNamer(),
        max_length=max_length,
        probability=True,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=8),
    st.integers(60, 300),
)
def test_factors_in_order_with_right_signs_and_within_budget(values, max_length) -> None:
    attrs = np.asarray([values])
    reason = _reasons(attrs, max_length=max_length)[0]
    assert len(reason) <= max_length
    order = [j for j in np.argsort(-np.abs(attrs[0]), kind="stable")[:3] if attrs[0, j] != 0]
    named = [f"Feature {j} is" for j in order]
    positions = [reason.find(n) for n in named]
    shown = [p for p in positions if p >= 0]
    # named factors appear in |contribution| order, and only a prefix of them may be cut
    assert shown == sorted(shown)
    assert positions[: len(shown)] == shown
    for j in order:
        if f"Feature {j} is" in reason:
            direction = "raises" if attrs[0, j] > 0 else "lowers"
            segment = reason.split(f"Feature {j} is", 1)[1].split(";")[0]
            assert f"({direction})" in segment


def test_unused_factors_are_never_named() -> None:
    reason = _reasons(np.array([[0.0, 0.7, 0.0, -0.2]]))[0]
    assert "Feature 0" not in reason
    assert "Feature 2" not in reason
    assert reason.startswith("Score 0.50: Feature 1 is 1.5 (raises); Feature 3 is 1.5 (lowers)")


def test_all_zero_contributions_say_so() -> None:
    assert "no factor moved it" in _reasons(np.zeros((1, 3)))[0]


def test_whole_factors_are_dropped_to_fit() -> None:
    full = _reasons(np.array([[0.9, -0.5, 0.3]]), max_length=1000)[0]
    short = _reasons(np.array([[0.9, -0.5, 0.3]]), max_length=len(full) - 1)[0]
    assert len(short) < len(full)
    assert short.endswith(".")
    assert short.count(";") == full.count(";") - 1


def test_reasons_are_deterministic_and_within_255(bank) -> None:
    from explainscore.datasets import BANK_FEATURE_INFO

    X, y = bank
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=3000), catalog=BANK_FEATURE_INFO, top_k=4)
    em.fit(num, y)
    a = em.explain(num.iloc[:200]).reasons
    b = em.explain(num.iloc[:200]).reasons
    assert a == b
    assert max(len(r) for r in a) <= 255
    assert not any("num__" in r or "cat__" in r for r in a)
