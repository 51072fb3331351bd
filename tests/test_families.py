"""Efficiency (base + sum of attributions == model output) for every backend x family.

On the synthetic leads (numeric and one-hot-encoded text columns through a Pipeline) and on
the bundled bank data. The wrapper checks efficiency itself and raises if it fails; these
tests assert it independently against the model's own output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainscore import ExplainedModel

from .models import LINEAR_MODELS, TREE_MODELS, Factory, ids


def _target(y: pd.Series, X: pd.DataFrame, classifier: bool) -> pd.Series:
    if classifier:
        return y
    # A regression target with structure: the number of pages viewed plus noise.
    rng = np.random.default_rng(0)
    first = X.select_dtypes("number").iloc[:, 0].to_numpy(dtype=float)
    return pd.Series(first / (1 + first.std()) + rng.normal(size=len(X)), index=X.index)


def _model_output(em: ExplainedModel, X: pd.DataFrame) -> np.ndarray:
    """The model's own output in the explanation's space, computed without explainscore."""
    model = em.model_
    space = em.output_space_
    if space == "probability":
        return model.predict_proba(X)[:, 1]
    if space == "raw":
        return np.asarray(model.predict(X), dtype=float)
    p = model.predict_proba(X)[:, 1]
    return np.log(p) - np.log1p(-p)


def _pipeline(estimator: object, X: pd.DataFrame, *, scale: bool) -> Pipeline:
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in text]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler() if scale else "passthrough", num),
            ("cat", OneHotEncoder(handle_unknown="ignore"), text),
        ]
    )
    return Pipeline([("prep", pre), ("model", estimator)])


def _check(em: ExplainedModel, X: pd.DataFrame, tol: float) -> None:
    batch = em.explain(X)
    total = batch.base_values + batch.attributions.sum(axis=1)
    expected = _model_output(em, X)
    assert batch.attributions.shape == (len(X), X.shape[1])
    np.testing.assert_allclose(
        total, batch.outputs, rtol=0, atol=tol * max(1, np.abs(expected).max())
    )
    # log-odds via logit(p) of a float32 model is itself only float32-exact
    np.testing.assert_allclose(
        total, expected, rtol=0, atol=10 * tol * max(1, np.abs(expected).max())
    )
    assert batch.exact


@pytest.mark.parametrize(("name", "factory", "classifier"), TREE_MODELS, ids=ids(TREE_MODELS))
def test_tree_families_add_up_on_leads_pipeline(
    name: str, factory: Factory, classifier: bool, leads
) -> None:
    X, y = leads
    target = _target(y, X, classifier)
    em = ExplainedModel(_pipeline(factory(), X, scale=False), top_k=3).fit(X, target)
    assert em.method_ == "tree"
    tol = 1e-5 if name.startswith(("xgb", "lgbm")) else 1e-6
    _check(em, X.iloc[:200], tol)


@pytest.mark.parametrize(("name", "factory", "classifier"), LINEAR_MODELS, ids=ids(LINEAR_MODELS))
def test_linear_families_add_up_on_leads_pipeline(
    name: str, factory: Factory, classifier: bool, leads
) -> None:
    X, y = leads
    target = _target(y, X, classifier)
    em = ExplainedModel(_pipeline(factory(), X, scale=True), top_k=3).fit(X, target)
    assert em.method_ == "linear"
    _check(em, X.iloc[:200], 1e-6)


@pytest.mark.parametrize(
    ("name", "factory", "classifier"),
    [m for m in TREE_MODELS + LINEAR_MODELS if m[2]],
    ids=[m[0] for m in TREE_MODELS + LINEAR_MODELS if m[2]],
)
def test_classifiers_add_up_on_bank_data(
    name: str, factory: Factory, classifier: bool, bank
) -> None:
    X, y = bank
    is_linear = name in ids(LINEAR_MODELS)
    em = ExplainedModel(_pipeline(factory(), X, scale=is_linear), top_k=3).fit(X, y)
    tol = 1e-5 if name.startswith(("xgb", "lgbm")) else 1e-6
    _check(em, X.iloc[:150], tol)


@pytest.mark.parametrize("name", ["xgb-clf", "gb-clf", "hgb-clf", "lgbm-clf"])
def test_boosted_classifiers_are_exact_in_probability_space(name: str, leads) -> None:
    factory = {m[0]: m[1] for m in TREE_MODELS}[name]
    X, y = leads
    em = ExplainedModel(
        _pipeline(factory(), X, scale=False), output_space="probability", n_background=50
    ).fit(X, y)
    assert em.output_space_ == "probability"
    tol = 1e-5 if name.startswith(("xgb", "lgbm")) else 1e-6
    _check(em, X.iloc[:40], tol)


KERNEL_MODELS = [
    ("mlp", lambda: __import__("sklearn.neural_network", fromlist=["x"]).MLPClassifier(
        hidden_layer_sizes=(8,), max_iter=200, random_state=0)),
    ("knn", lambda: __import__("sklearn.neighbors", fromlist=["x"]).KNeighborsClassifier(15)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "factory"), KERNEL_MODELS, ids=[m[0] for m in KERNEL_MODELS])
@pytest.mark.parametrize("data", ["leads", "bank"])
def test_kernel_families_add_up(name: str, factory, data: str, request) -> None:
    X, y = request.getfixturevalue(data)
    X, y = X.iloc[:800], y.iloc[:800]
    em = ExplainedModel(
        _pipeline(factory(), X, scale=True),
        n_background=20,
        method_options={"n_permutations": 16},
    ).fit(X, y)
    assert em.method_ == "kernel"
    batch = em.explain(X.iloc[:5])
    assert batch.exact == (X.shape[1] <= 12)
    _check_kernel = batch.base_values + batch.attributions.sum(1)
    np.testing.assert_allclose(_check_kernel, em.model_.predict_proba(X.iloc[:5])[:, 1], atol=1e-6)
