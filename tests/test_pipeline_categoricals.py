"""A Pipeline whose preprocessing hands a pandas ``category`` column through to a final
estimator that splits on it natively, and the safety net around calls into the user's model.

The Pipeline is the common lead-scoring set-up: a ColumnTransformer scaling the numbers with
``remainder="passthrough"`` and pandas output, then XGBoost (``enable_categorical=True``),
LightGBM or HistGradientBoosting (``categorical_features="from_dtype"``). Oracles the code
under test did not compute:

* the boosters' native contributions (XGBoost ``pred_contribs``, LightGBM ``pred_contrib``)
  of the final estimator on the Pipeline's own transformed frame;
* brute force over all coalitions of the compiled trees (``tests/tree/bruteforce.py``), fed
  the category codes each library documents (position in the training categories; the
  sorted rank for HistGradientBoosting);
* efficiency against the model's own margin.

The explained rows have their categories in another order than training and a missing
category; ``explain_one`` gets each row as a dict (text), and must equal the batch row.
"""

from __future__ import annotations

import warnings
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explainscore import ExplainedModel
from explainscore.attribution.tree import compile_ensemble
from explainscore.exceptions import ModelError

from .tree.bruteforce import brute_force_shap

#: Training categories, not sorted: the model's order is not the explained frame's.
SOURCES = ("web", "event", "referral", "partner")
COLUMNS = ["a", "b", "source"]
TOL = 1e-6

FINAL: dict[str, Any] = {
    "xgboost": lambda: xgb.XGBClassifier(
        n_estimators=8,
        max_depth=3,
        enable_categorical=True,
        tree_method="hist",
        max_cat_to_onehot=1,
        n_jobs=1,
    ),
    "lightgbm": lambda: lgb.LGBMClassifier(
        n_estimators=8,
        num_leaves=8,
        min_child_samples=5,
        min_data_per_group=5,
        cat_smooth=1.0,
        verbose=-1,
        n_jobs=1,
    ),
    "hist": lambda: HistGradientBoostingClassifier(
        max_iter=8, max_leaf_nodes=8, categorical_features="from_dtype", random_state=0
    ),
}


def _data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    source = rng.choice(SOURCES, size=n)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "source": pd.Categorical(source, categories=list(SOURCES)),
        }
    )
    effect = dict(zip(SOURCES, [0.0, 1.2, -0.9, 0.5], strict=True))
    score = X["a"] - 0.5 * X["b"] + np.array([effect[s] for s in source])
    X.loc[rng.random(n) < 0.08, "source"] = np.nan  # every library learns where missing goes
    return X, (score + 0.3 * rng.normal(size=n) > 0.2).astype(int).to_numpy()


def _pipeline(library: str) -> Any:
    pre = make_column_transformer(
        (StandardScaler(), ["a", "b"]), remainder="passthrough", verbose_feature_names_out=False
    ).set_output(transform="pandas")
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(pre, FINAL[library]()).fit(X, y)


def _rows() -> pd.DataFrame:
    """Rows with the categories in reverse order and a missing category."""
    X, _ = _data(12, seed=3)
    X["source"] = X["source"].cat.reorder_categories(list(SOURCES[::-1]))
    X.loc[2, "source"] = np.nan
    X.loc[5, "source"] = "web"
    return X.reset_index(drop=True)


def _codes(library: str, transformed: pd.DataFrame) -> np.ndarray:
    """The documented category codes: training position, HistGradientBoosting's sorted rank."""
    order = sorted(SOURCES) if library == "hist" else list(SOURCES)
    index = {c: float(i) for i, c in enumerate(order)}
    out = transformed.astype({"source": object}).copy()
    out["source"] = [index.get(v, np.nan) for v in out["source"]]
    return out.to_numpy(dtype=np.float64)


def _native(library: str, final: Any, transformed: pd.DataFrame) -> np.ndarray | None:
    if library == "xgboost":
        dm = xgb.DMatrix(transformed, enable_categorical=True)
        return np.asarray(final.get_booster().predict(dm, pred_contribs=True))
    if library == "lightgbm":
        return np.asarray(final.predict(transformed, pred_contrib=True))
    return None  # HistGradientBoosting has no contributions of its own


def _margin(library: str, final: Any, transformed: pd.DataFrame) -> np.ndarray:
    if library == "xgboost":
        return np.asarray(final.predict(transformed, output_margin=True), dtype=np.float64)
    if library == "lightgbm":
        return np.asarray(final.predict(transformed, raw_score=True), dtype=np.float64)
    return np.asarray(final.decision_function(transformed), dtype=np.float64)


@pytest.mark.parametrize("library", list(FINAL))
def test_category_passed_through_a_pipeline_is_exact(library: str) -> None:
    model = _pipeline(library)
    X, _ = _data()
    em = ExplainedModel(model, background=X.iloc[:60], n_background=60)
    rows = _rows()
    batch = em.explain(rows)
    assert batch.explainer == "tree"
    values, base, outputs = batch.attributions, batch.base_values, batch.outputs
    transformed = model[:-1].transform(rows)
    final = model[-1]

    # Efficiency against the model's own margin on its own transform.
    np.testing.assert_allclose(outputs, _margin(library, final, transformed), atol=TOL, rtol=0)
    np.testing.assert_allclose(base + values.sum(axis=1), outputs, atol=TOL, rtol=0)
    native = _native(library, final, transformed)
    if native is not None:
        np.testing.assert_allclose(values, native[:, :-1], atol=TOL, rtol=0)
        np.testing.assert_allclose(base, native[:, -1], atol=TOL, rtol=0)
    # Brute force over every coalition of the compiled trees, on the documented codes.
    brute, empty = brute_force_shap(compile_ensemble(final), _codes(library, transformed))
    np.testing.assert_allclose(values, brute, atol=TOL, rtol=0)
    np.testing.assert_allclose(base, empty, atol=TOL, rtol=0)

    # One lead as a dict (plain text, None for missing), equal to its batch row; the
    # reason shows the label.
    for i in range(len(rows)):
        record = {k: (None if pd.isna(v) else v) for k, v in rows.iloc[i].to_dict().items()}
        lead = em.explain_one(record, top_k=3)
        got = {a.feature: a.contribution for a in lead.attributions}
        assert got == pytest.approx(dict(zip(COLUMNS, values[i], strict=True)), abs=1e-12)
        assert lead.output == pytest.approx(outputs[i], abs=1e-5)
        shown = {a.feature: a.value for a in lead.attributions}
        assert shown["source"] in (*SOURCES, None)
        assert lead.reason == batch.reasons[i]


@pytest.mark.parametrize("library", list(FINAL))
def test_category_through_a_pipeline_with_the_kernel(library: str) -> None:
    """The model-agnostic game hands the Pipeline frames with the training dtype."""
    model = _pipeline(library)
    X, _ = _data()
    em = ExplainedModel(model, background=X.iloc[:10], method="kernel", output_space="probability")
    rows = _rows().iloc[:3]
    batch = em.explain(rows)
    proba = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(batch.outputs, proba, atol=TOL, rtol=0)
    np.testing.assert_allclose(
        batch.base_values + batch.attributions.sum(axis=1), proba, atol=TOL, rtol=0
    )


# --- the safety net around the user's model ------------------------------------------------


class _FailingClassifier(ClassifierMixin, BaseEstimator):
    """Scores until told to fail, then raises with a lead's value in the message."""

    fail: bool = False

    def fit(self, X: Any, y: Any) -> _FailingClassifier:
        self.classes_ = np.unique(y)
        self.n_features_in_ = np.shape(X)[1]
        return self

    def _check(self) -> None:
        if type(self).fail:
            raise ValueError("secret value 123")

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check()
        p = 1.0 / (1.0 + np.exp(-np.asarray(X, dtype=np.float64).sum(axis=1)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        self._check()
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]


class _FailingTransformer(TransformerMixin, BaseEstimator):
    """Passes rows through until told to fail, then raises TypeError quoting a value."""

    fail: bool = False

    def fit(self, X: Any, y: Any = None) -> _FailingTransformer:
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        if type(self).fail:
            raise TypeError("secret value 123 is not a number")
        return np.asarray(X, dtype=np.float64)


def _assert_safe(error: BaseException, step: str, kind: str) -> None:
    message = str(error)
    assert "secret" not in message
    assert "123" not in message
    assert kind in message
    assert step in message
    assert "in your own session" in message  # the way forward
    assert error.__cause__ is None
    assert error.__context__ is None
    assert getattr(error, "model_exception", None) == kind


@pytest.fixture
def failing() -> Any:
    yield
    _FailingClassifier.fail = False
    _FailingTransformer.fail = False
    _FailingScaler.fail = False


def _numeric() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    return X, (X["a"] > 0).astype(int).to_numpy()


@pytest.mark.parametrize("method", ["auto", "kernel"])
def test_predict_raising_becomes_a_typed_error_without_values(failing: Any, method: str) -> None:
    X, y = _numeric()
    em = ExplainedModel(_FailingClassifier().fit(X, y), background=X, method=method)
    em.explain(X.iloc[:2])  # built and working
    _FailingClassifier.fail = True
    for call in (
        lambda: em.explain(X.iloc[:2]),
        lambda: em.explain_one(X.iloc[0].to_dict()),
        lambda: em.predict_proba(X.iloc[:2]),
        lambda: em.predict(X.iloc[:2]),
    ):
        with pytest.raises(ModelError) as info:
            call()
        _assert_safe(info.value, "_FailingClassifier", "ValueError")


class _FailingScaler(StandardScaler):
    """A column-wise step (the Pipeline is explained in its transformed space) that fails."""

    fail: bool = False

    def transform(self, X: Any, copy: Any = None) -> Any:
        if type(self).fail:
            raise TypeError("secret value 123 is not a number")
        return super().transform(X, copy=copy)


@pytest.mark.parametrize("step", [_FailingTransformer, _FailingScaler])
def test_transform_raising_names_the_step_and_not_the_values(failing: Any, step: Any) -> None:
    X, y = _numeric()
    model = make_pipeline(step(), LogisticRegression()).fit(X, y)
    # A custom step has no column map: the Pipeline is explained whole (method="kernel").
    em = ExplainedModel(
        model, background=X, method="kernel" if step is _FailingTransformer else "auto"
    )
    em.explain(X.iloc[:2])
    step.fail = True
    for call in (
        lambda: em.explain(X.iloc[:2]),
        lambda: em.explain_one(X.iloc[0].to_dict()),
        lambda: em.predict_proba(X.iloc[:2]),
    ):
        with pytest.raises(ModelError) as info:
            call()
        _assert_safe(info.value, step.__name__, "TypeError")


def test_a_model_failing_while_built_is_typed(failing: Any) -> None:
    """The lazy build (the first ``explain``) calls the model too."""
    X, y = _numeric()
    model = _FailingClassifier().fit(X, y)
    _FailingClassifier.fail = True
    em = ExplainedModel(model, background=X, method="kernel")
    with pytest.raises(ModelError) as info:
        em.explain(X.iloc[:2])
    assert "secret" not in str(info.value)
    assert "123" not in str(info.value)
