"""Hypothesis strategies shared by the property tests (one place, as in attrs)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def small_regression_data(
    draw: st.DrawFn, *, max_features: int = 5, min_rows: int = 30, max_rows: int = 80
) -> tuple[np.ndarray, np.ndarray]:
    """A small numeric matrix and a target that depends on some of its columns."""
    n = draw(st.integers(min_rows, max_rows))
    m = draw(st.integers(3, max_features))
    X = draw(
        hnp.arrays(
            np.float64,
            (n, m),
            elements=st.floats(-5, 5, allow_nan=False, allow_infinity=False, width=32),
        )
    )
    weights = draw(hnp.arrays(np.float64, m, elements=st.floats(-2, 2, width=32)))
    interaction = draw(st.floats(-1, 1, width=32))
    y = X @ weights + interaction * X[:, 0] * X[:, 1]
    return X, y


@st.composite
def small_classification_data(
    draw: st.DrawFn, *, max_features: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """A small numeric matrix and a binary target with both classes present."""
    X, score = draw(small_regression_data(max_features=max_features))
    y = (score > np.median(score)).astype(int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    return X, y


def _text_without_surrogates() -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def json_values(*, max_leaves: int = 30) -> st.SearchStrategy[object]:
    """Values the audit log can encode: finite floats of every magnitude, ints a double
    holds, any Unicode text (no lone surrogates), nested lists and str-keyed dicts."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53) + 1, 2**53 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(-1e-3, 1e-3, allow_nan=False),  # the tiny values attributions take
        _text_without_surrogates(),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(_text_without_surrogates(), children, max_size=5),
        ),
        max_leaves=max_leaves,
    )
