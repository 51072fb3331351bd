"""Nullable pandas dtypes (``Int64``, ``Float64``, ``boolean``, ``string``) read as the model
reads them: ``pd.NA`` is a missing value (NaN) where the model takes one, and a typed error
naming the column where it does not.

Rebuilds shap's ``test_nullable_pandas_dtype`` (a tree fitted and explained on ``Int64`` /
``Float64`` columns holding ``pd.NA``, background included) in this project's own code, and
checks every case against an oracle explainscore did not compute: the boosters' native
contributions, brute force over all coalitions, and the model's own output.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from explainscore import ExplainedModel
from explainscore.exceptions import NonFiniteValueError

from .tree.bruteforce import brute_force_shap

TOL = 1e-6


def _nullable(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "visits": pd.array(rng.integers(0, 20, n), dtype="Int64"),
            "spend": pd.array(rng.normal(100, 30, n), dtype="Float64"),
            "opted_in": pd.array(rng.random(n) > 0.5, dtype="boolean"),
        }
    )
    y = (
        X["visits"].astype(float).to_numpy()
        + X["spend"].astype(float).to_numpy() / 20
        + 3 * X["opted_in"].astype(float).to_numpy()
        + rng.normal(size=n)
        > 12
    ).astype(int)
    X.loc[::7, "visits"] = pd.NA
    X.loc[1::5, "spend"] = pd.NA
    X.loc[2::6, "opted_in"] = pd.NA
    return X, y


def _floats(X: pd.DataFrame) -> pd.DataFrame:
    """The same rows as float64 with NaN: what every library reads ``pd.NA`` as."""
    return pd.DataFrame({c: X[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in X})


MODELS = {
    "xgboost": lambda: xgb.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1),
    "lightgbm": lambda: lgb.LGBMClassifier(n_estimators=6, num_leaves=8, verbose=-1, n_jobs=1),
    "hist": lambda: HistGradientBoostingClassifier(max_iter=6, random_state=0),
    "tree": lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
    "forest": lambda: RandomForestClassifier(5, max_depth=4, random_state=0, n_jobs=1),
}


@pytest.mark.parametrize("library", list(MODELS))
def test_pd_na_is_missing_and_exact(library: str) -> None:
    """shap's ``test_nullable_pandas_dtype``, for every tree library: fitted, backed and
    explained on nullable columns holding ``pd.NA``."""
    X, y = _nullable()
    model = MODELS[library]().fit(X, y)
    em = ExplainedModel(model, background=X.iloc[:40], n_background=40)
    rows = X.iloc[:12]  # pd.NA in each column among them
    assert rows.isna().any().all()
    batch = em.explain(rows)
    flat = _floats(rows)
    if library == "xgboost":
        native = model.get_booster().predict(xgb.DMatrix(flat), pred_contribs=True)
    elif library == "lightgbm":
        native = model.predict(flat, pred_contrib=True)
    else:
        ens = em.engine_.attributor.core.ensemble
        core = em.engine_.attributor.core
        brute, empty = brute_force_shap(ens, flat.to_numpy(), output=core.output)
        native = np.column_stack([brute, np.full(len(flat), empty)])
    tol = 1e-5 if library == "xgboost" else TOL
    np.testing.assert_allclose(batch.attributions, native[:, :-1], atol=tol, rtol=0)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), batch.outputs, atol=TOL, rtol=0
    )
    # The model's own output on the nullable frame, as the user would call it.
    if library in ("tree", "forest"):
        np.testing.assert_allclose(batch.scores, model.predict_proba(rows)[:, 1], atol=TOL)
    # One lead with pd.NA in a dict equals its batch row.
    for i in range(4):
        lead = em.explain_one(rows.iloc[i].to_dict(), top_k=3)
        got = {a.feature: a.contribution for a in lead.attributions}
        assert got == pytest.approx(
            dict(zip(X.columns, batch.attributions[i], strict=True)), abs=1e-12
        )


def test_pd_na_where_the_model_takes_no_missing_value_names_the_column() -> None:
    X, y = _nullable()
    full = X.dropna().reset_index(drop=True)
    model = LogisticRegression().fit(_floats(full), y[X.notna().all(axis=1).to_numpy()])
    em = ExplainedModel(model, background=full.iloc[:30])
    rows = X.iloc[:12].reset_index(drop=True)
    with pytest.raises(NonFiniteValueError, match="'visits' has NaN or missing values") as info:
        em.explain(rows)
    assert info.value.column == "visits"
    assert "on_error='skip'" in str(info.value)
    batch = em.explain(rows, on_error="skip")
    bad = rows.isna().any(axis=1).to_numpy()
    assert sorted(r.row for r in batch.rejected) == np.flatnonzero(bad).tolist()
    ok = _floats(rows[~bad])
    np.testing.assert_allclose(batch.scores, model.predict_proba(ok)[:, 1], atol=TOL)
    with pytest.raises(NonFiniteValueError, match="'spend'"):
        em.explain_one({"visits": 3, "spend": pd.NA, "opted_in": True})


def test_kernel_on_nullable_columns_equals_the_float_frame() -> None:
    """The kernel's game on nullable columns is the game on their float64 reading."""
    X, y = _nullable()
    model = HistGradientBoostingClassifier(max_iter=6, random_state=0).fit(X, y)
    a = ExplainedModel(model, background=X.iloc[:20], method="kernel").explain(X.iloc[:6])
    b = ExplainedModel(model, background=_floats(X.iloc[:20]), method="kernel").explain(
        _floats(X.iloc[:6])
    )
    np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-12, rtol=0)
    np.testing.assert_allclose(a.base_values + a.attributions.sum(axis=1), a.outputs, atol=TOL)


def test_string_dtype_is_text_categories() -> None:
    """A ``string`` column (missing = ``pd.NA``) explains as the same text in an object
    column, missing as NaN."""
    rng = np.random.default_rng(3)
    n = 200
    X = pd.DataFrame(
        {
            "source": pd.array(rng.choice(["web", "event", "referral"], n), dtype="string"),
            "visits": rng.integers(0, 20, n).astype(float),
        }
    )
    X.loc[::9, "source"] = pd.NA
    y = ((X["source"] == "referral").fillna(False).to_numpy() | (X["visits"] > 12)).astype(int)
    pre = make_column_transformer(
        (
            make_pipeline(
                SimpleImputer(strategy="constant", fill_value="unknown"),
                OneHotEncoder(handle_unknown="ignore"),
            ),
            ["source"],
        ),
        remainder="passthrough",
    )
    as_object = X.astype({"source": object}).where(X.notna(), np.nan)
    model = make_pipeline(pre, LogisticRegression()).fit(as_object, y)
    em = ExplainedModel(model, background=X.iloc[:30])
    rows = X.iloc[:10]
    assert rows["source"].isna().any()
    batch = em.explain(rows)
    plain = ExplainedModel(model, background=as_object.iloc[:30]).explain(as_object.iloc[:10])
    np.testing.assert_allclose(batch.attributions, plain.attributions, atol=1e-12, rtol=0)
    np.testing.assert_allclose(batch.scores, model.predict_proba(as_object.iloc[:10])[:, 1])
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), batch.outputs, atol=TOL, rtol=0
    )
