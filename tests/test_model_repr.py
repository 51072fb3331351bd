"""``repr(ExplainedModel)``: scikit-learn's form, changed parameters only, never the data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from explainscore import Catalog, ExplainedModel, Policy, ReasonConfig, ScoreBands
from explainscore.datasets import load_bank_catalog, make_leads


def _leads(n: int) -> tuple[pd.DataFrame, pd.Series]:
    X, y = make_leads(n, seed=5)
    return X.select_dtypes("number"), y


def test_repr_shows_changed_parameters_only() -> None:
    em = ExplainedModel(LogisticRegression())
    assert repr(em) == "ExplainedModel(model=LogisticRegression())"
    em = ExplainedModel(LogisticRegression(C=0.5), top_k=5, method="linear")
    assert repr(em) == "ExplainedModel(method='linear', model=LogisticRegression(C=0.5), top_k=5)"


def test_print_after_fit_with_a_big_background_shows_no_rows() -> None:
    X, y = _leads(20_000)
    em = ExplainedModel(
        LogisticRegression(max_iter=500),
        background=X,
        catalog=load_bank_catalog(),
        policy=Policy(hidden=["noise"]),
        reasons=ReasonConfig(locale="de", bands=ScoreBands.grades()),
    ).fit(X, y)
    text = str(em)
    assert text == repr(em)
    assert "background=<DataFrame of shape (20000, 7)>" in text
    assert "reasons=ReasonConfig(locale='de', bands=ScoreBands(thresholds=(0.5, 0.3, 0.15)" in text
    assert re.search(r"catalog=Catalog\([^)]*<dict of \d+ items>", text)
    assert "policy=Policy(hidden=<1 column>)" in text
    assert "noise" not in text
    assert len(text) < 700
    # No value of any row appears (the noise column's values are long distinct floats).
    noise = [f"{v}" for v in X["noise"].iloc[:50]] + [f"{v:.4f}" for v in X["noise"].iloc[:50]]
    assert not [v for v in noise if v in text]


def test_arrays_and_row_lists_are_shown_by_size() -> None:
    X, y = _leads(500)
    em = ExplainedModel(LogisticRegression(), background=X.to_numpy()).fit(X.to_numpy(), y)
    assert "background=<ndarray of shape (500, 7)>" in repr(em)
    rows = X.to_dict("records")
    em = ExplainedModel(LogisticRegression(), background=rows)
    assert "background=<list of 500 items>" in repr(em)
    assert str(rows[0]["company_size"]) not in repr(em).replace("(500", "")


def test_notebook_display_shows_no_rows() -> None:
    X, y = _leads(3_000)
    X = X.assign(company_size=np.round(X["company_size"] * 1.0 + 0.123456, 6))
    em = ExplainedModel(LogisticRegression(max_iter=500), background=X).fit(X, y)
    html = em._repr_html_()
    assert "DataFrame of shape (3000, 7)" in html
    assert f"{X['company_size'].iloc[0]:.6f}" not in html


def test_repr_leaves_the_model_usable() -> None:
    X, y = _leads(400)
    em = ExplainedModel(LogisticRegression(), background=X, catalog=Catalog()).fit(X, y)
    repr(em)
    em._repr_html_()
    assert em.get_params()["background"] is X
    assert len(em.explain(X.iloc[:5])) == 5
