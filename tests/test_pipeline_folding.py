"""Pipelines are explained on raw columns: transformed columns fold back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from xgboost import XGBClassifier

from explainscore import ExplainedModel
from explainscore._pipeline import decompose
from explainscore.exceptions import FallbackWarning

TEXT = ["industry", "lead_source"]


def _pre(X: pd.DataFrame) -> ColumnTransformer:
    num = [c for c in X.columns if c not in TEXT]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), num[:4]),
            ("keep", "passthrough", num[4:6]),
            ("cat", OneHotEncoder(drop="first", min_frequency=30), TEXT[:1]),
            ("ord", OrdinalEncoder(), TEXT[1:]),
        ],
        remainder="drop",
    )


def test_column_map_traces_every_transformed_column(leads) -> None:
    X, y = leads
    X = X.copy()
    X.loc[X.index[:20], "pages_viewed"] = np.nan  # gives the imputer an indicator column
    pipe = Pipeline([("prep", _pre(X)), ("clf", LogisticRegression(max_iter=2000))]).fit(X, y)
    names = list(X.columns)
    structure = decompose(pipe, len(names), names)
    assert structure.column_map is not None
    out_names = pipe[:-1].get_feature_names_out()
    assert len(structure.column_map) == len(out_names)
    for j, out in enumerate(out_names):
        raw = names[structure.column_map[j]]
        # scikit-learn's own output names embed the raw column they came from
        assert raw in out, (out, raw)
    # the dropped remainder column never appears
    assert names.index("noise") not in set(structure.column_map)


def test_linear_pipeline_folds_to_the_raw_column_game(leads) -> None:
    """For an additive model the folded value is the raw column's exact Shapley value:
    coef . (x - mean) summed over the column's one-hot block equals the brute-force
    interventional value with the raw column as one player."""
    X, y = leads
    pre = ColumnTransformer([("cat", OneHotEncoder(), TEXT)], remainder=StandardScaler())
    pipe = Pipeline([("prep", pre), ("clf", LogisticRegression(max_iter=2000))]).fit(X, y)
    bg = X.iloc[:40]
    em = ExplainedModel(pipe, background=bg, n_background=40)
    x = X.iloc[[500]]
    got = em.explain(x).attributions[0]

    def margin(rows: pd.DataFrame) -> np.ndarray:
        return pipe.decision_function(rows)

    # v({j}) - v({}) for an additive game is the Shapley value of player j
    base = margin(bg).mean()
    for j, col in enumerate(X.columns):
        hybrid = bg.copy()
        hybrid[col] = x[col].iloc[0]
        assert got[j] == pytest.approx(margin(hybrid).mean() - base, abs=1e-9)


def test_unsupported_transformer_falls_back_to_kernel_with_a_warning(leads_numeric) -> None:
    pytest.importorskip("explainscore.attribution._kernel")
    X, y = leads_numeric
    pipe = make_pipeline(StandardScaler(), PCA(n_components=3), LogisticRegression()).fit(X, y)
    em = ExplainedModel(pipe, background=X.iloc[:30], n_background=30)
    with pytest.warns(FallbackWarning, match="PCA mixes input columns"):
        batch = em.explain(X.iloc[:3])
    assert em.method_ == "kernel"
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(1), batch.outputs, atol=1e-9
    )


def test_xgboost_reads_sparse_zeros_as_missing_and_so_do_we(leads) -> None:
    """A sparse one-hot matrix fed to XGBoost marks left-out zeros missing; the attribution
    input must reproduce that, or efficiency against the real pipeline output breaks."""
    X, y = leads
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(sparse_output=True), TEXT)],
        remainder="passthrough",
        sparse_threshold=1.0,
    )
    pipe = Pipeline([("prep", pre), ("clf", XGBClassifier(n_estimators=20, max_depth=4))]).fit(X, y)
    batch = ExplainedModel(pipe, background=X.iloc[:100]).explain(X.iloc[:100])
    margin = pipe.predict(X.iloc[:100], output_margin=True)
    np.testing.assert_allclose(batch.base_values + batch.attributions.sum(1), margin, atol=1e-5)
