"""Every bad-input case raises a typed error whose message names the column or parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from explainscore import ExplainedModel
from explainscore.exceptions import (
    ColumnTypeError,
    EmptyInputError,
    ExplainScoreError,
    ExplanationError,
    InputError,
    MissingColumnError,
    ModelError,
    NonFiniteValueError,
    NotFittedError,
    ParameterError,
    UnexpectedColumnError,
    UnsupportedModelError,
)


@pytest.fixture(scope="module")
def logreg_pipeline(leads) -> ExplainedModel:
    X, y = leads
    text = ["industry", "lead_source"]
    num = [c for c in X.columns if c not in text]
    pre = ColumnTransformer([("num", StandardScaler(), num), ("cat", OneHotEncoder(), text)])
    model = Pipeline([("prep", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    return ExplainedModel(model, background=X.iloc[:100])


@pytest.fixture(scope="module")
def xgb_model(leads_numeric) -> ExplainedModel:
    X, y = leads_numeric
    model = XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
    return ExplainedModel(model, background=X.iloc[:100])


def test_missing_column_is_named(logreg_pipeline, leads) -> None:
    X, _ = leads
    with pytest.raises(MissingColumnError, match="'pages_viewed'") as info:
        logreg_pipeline.explain(X.drop(columns="pages_viewed").iloc[:5])
    assert info.value.columns == ["pages_viewed"]
    assert isinstance(info.value, ValueError)


def test_extra_column_is_named(logreg_pipeline, leads) -> None:
    X, _ = leads
    with pytest.raises(UnexpectedColumnError, match=r"'lead_id'.*Drop them"):
        logreg_pipeline.explain(X.iloc[:5].assign(lead_id=range(5)))


def test_empty_frame(logreg_pipeline, leads) -> None:
    X, _ = leads
    with pytest.raises(EmptyInputError, match="no rows"):
        logreg_pipeline.explain(X.iloc[:0])


def test_text_in_numeric_column_names_column_and_row(logreg_pipeline, leads) -> None:
    X, _ = leads
    bad = X.iloc[:5].astype({"pages_viewed": object})
    bad.iloc[2, bad.columns.get_loc("pages_viewed")] = "twelve"
    with pytest.raises(ColumnTypeError, match=r"'pages_viewed' must hold numbers.*row 2") as info:
        logreg_pipeline.explain(bad)
    assert info.value.column == "pages_viewed"
    assert "twelve" not in str(info.value)  # values never appear in messages


def test_numbers_in_text_column(logreg_pipeline, leads) -> None:
    X, _ = leads
    bad = X.iloc[:5].assign(industry=np.arange(5))
    with pytest.raises(ColumnTypeError, match="'industry' must hold text categories"):
        logreg_pipeline.explain(bad)


def test_nan_where_model_cannot_take_it(logreg_pipeline, leads) -> None:
    X, _ = leads
    bad = X.iloc[:6].copy()
    bad.loc[bad.index[[1, 4]], "company_size"] = np.nan
    with pytest.raises(NonFiniteValueError, match=r"'company_size'.*rows 1, 4") as info:
        logreg_pipeline.explain(bad)
    assert info.value.rows == [1, 4]


def test_nan_is_accepted_where_the_model_takes_it(xgb_model, leads_numeric) -> None:
    X, _ = leads_numeric
    rows = X.iloc[:4].copy()
    rows.iloc[0, 0] = np.nan
    batch = xgb_model.explain(rows)
    assert len(batch) == 4
    assert np.isfinite(batch.attributions).all()


def test_infinity_is_refused_even_where_nan_is_accepted(xgb_model, leads_numeric) -> None:
    X, _ = leads_numeric
    rows = X.iloc[:4].copy()
    rows.iloc[3, 1] = np.inf
    with pytest.raises(NonFiniteValueError, match="infinite"):
        xgb_model.explain(rows)


def test_skip_explains_good_rows_and_reports_bad_ones(logreg_pipeline, leads) -> None:
    X, _ = leads
    rows = X.iloc[:6].copy()
    rows.loc[rows.index[3], "company_size"] = np.nan
    batch = logreg_pipeline.explain(rows, on_error="skip")
    assert len(batch) == 5
    assert list(batch.data.index) == [i for i in rows.index if i != rows.index[3]]
    assert [(r.row, r.column) for r in batch.rejected] == [(3, "company_size")]
    # good rows are identical to explaining them alone: no data altered
    alone = logreg_pipeline.explain(rows.drop(index=rows.index[3]))
    np.testing.assert_array_equal(alone.attributions, batch.attributions)


def test_unfitted_model(leads) -> None:
    X, _ = leads
    em = ExplainedModel(LogisticRegression(), background=X)
    with pytest.raises(NotFittedError, match="not fitted"):
        em.explain(X.iloc[:2])


def test_not_a_model(leads) -> None:
    X, _ = leads
    with pytest.raises(ModelError, match="not a model"):
        ExplainedModel(object(), background=X).explain(X.iloc[:2])


def test_prefit_model_without_background(xgb_model, leads_numeric) -> None:
    X, _ = leads_numeric
    with pytest.raises(ParameterError, match="'background' parameter of ExplainedModel"):
        ExplainedModel(xgb_model.model_).explain(X.iloc[:2])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"top_k": 0},
            "The 'top_k' parameter of ExplainedModel must be an int in [1, inf]. Got 0 instead.",
        ),
        ({"method": "magic"}, "The 'method' parameter of ExplainedModel must be one of"),
        ({"output_space": "odds"}, "The 'output_space' parameter of ExplainedModel must be one of"),
        (
            {"reasons": 10},
            "The 'reasons' parameter of ExplainedModel must be a ReasonConfig or None. Got 10",
        ),
        (
            {"target_class": 7},
            "The 'target_class' parameter of ExplainedModel must be one of the model's classes",
        ),
        (
            {"method_options": {"n_samples": 100}},
            "The 'method_options' parameter of ExplainedModel has option(s) 'n_samples' that "
            "method='tree' does not take. It takes: 'memory_budget'.",
        ),
        (
            {"method": "kernel", "method_options": {"n_sample": 100}},
            "option(s) 'n_sample' that method='kernel' does not take. It takes: 'estimator', "
            "'n_samples'",
        ),
    ],
)
def test_parameter_messages(params, message, xgb_model, leads_numeric) -> None:
    X, _ = leads_numeric
    em = ExplainedModel(xgb_model.model_, background=X.iloc[:50], **params)
    with pytest.raises(ParameterError) as info:
        em.explain(X.iloc[:2])
    assert message in str(info.value)


def test_explain_top_k_range(xgb_model, leads_numeric) -> None:
    X, _ = leads_numeric
    with pytest.raises(
        ParameterError, match=r"'top_k' parameter of explain must be an int in \[1, inf\]. Got 0"
    ):
        xgb_model.explain(X.iloc[:2], top_k=0)


def test_tree_method_on_a_non_tree_model(leads_numeric) -> None:
    X, y = leads_numeric
    em = ExplainedModel(LogisticRegression(max_iter=500), method="tree")
    with pytest.raises(UnsupportedModelError, match="method='tree' does not support"):
        em.fit(X, y)


def test_forest_log_odds_is_refused_with_guidance(leads_numeric) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = leads_numeric
    em = ExplainedModel(RandomForestClassifier(n_estimators=3), output_space="log_odds")
    with pytest.raises(UnsupportedModelError, match="output_space='probability'"):
        em.fit(X, y)


def test_wrong_width_array(xgb_model) -> None:
    with pytest.raises(InputError, match="3 columns, but the model takes 7"):
        xgb_model.explain(np.zeros((2, 3)))


def test_every_error_shares_one_root() -> None:
    for exc in (
        ColumnTypeError,
        EmptyInputError,
        MissingColumnError,
        NotFittedError,
        ParameterError,
    ):
        assert issubclass(exc, ExplainScoreError)


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA])
def test_missing_text_behind_a_text_only_one_hot_encoder_is_one_missing_value(missing) -> None:
    """A OneHotEncoder fitted on text takes None (as unknown) but fails on a float NaN among
    strings: every missing form reaches it as the one it takes (was an untyped TypeError)."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "job": rng.choice(["x", "y", "z"], 300)})
    y = (X["a"] > 0).astype(int)
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["job"]), remainder="passthrough"
        ),
        LogisticRegression(),
    )
    em = ExplainedModel(pipe).fit(X, y)
    one = em.explain_one({"a": 1.0, "job": missing})
    model_in = pd.DataFrame({"a": [1.0], "job": [None]}, dtype=object)
    expected = em.model_.predict_proba(model_in)[0, 1]
    assert one.score == pytest.approx(expected, abs=1e-12)
    assert one.base_value + sum(c.contribution for c in one.attributions) + (
        one.other_contribution
    ) == pytest.approx(one.output, abs=1e-9)


def test_values_so_large_that_the_model_overflows_are_a_typed_input_error() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] + X["b"] > 0).astype(int)
    em = ExplainedModel(LogisticRegression()).fit(X, y)
    with pytest.raises(InputError, match="overflow") as info:
        em.explain_one({"a": -1.7e308, "b": 1.7e308})
    assert not isinstance(info.value, ExplanationError)
    assert "1.7e" not in str(info.value)
    with pytest.raises(InputError, match="overflow"):
        em.explain(pd.DataFrame({"a": [0.0, -1.7e308], "b": [0.0, 1.7e308]}))
