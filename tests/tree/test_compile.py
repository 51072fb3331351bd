"""The compiled ensemble reproduces each library's own raw output."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from explainscore.attribution.tree import can_compile, compile_ensemble
from explainscore.exceptions import UnsupportedModelError

from .cases import FACTORIES, get_case

# XGBoost adds float32 leaves in float32; everything else is float64 end to end.
FLOAT32_FAMILIES = ("xgb",)


def _tol(name: str) -> dict[str, float]:
    if name.startswith(FLOAT32_FAMILIES):
        return {"rtol": 1e-5, "atol": 1e-5}
    return {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_predict_raw_matches_library(name: str) -> None:
    model, X, native = get_case(name)
    ens = compile_ensemble(model)
    expected = native(X)
    got = ens.predict_raw(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **_tol(name))
    assert ens.n_features == X.shape[1]
    assert ens.nbytes > 0


def test_nan_rows_are_exercised() -> None:
    _, X, _ = get_case("xgb-clf")
    assert np.isnan(X).any()


def test_deep_random_forest() -> None:
    from sklearn.ensemble import RandomForestClassifier

    from .cases import make_data

    X, y, _ = make_data(20, n=3000, nan_rate=0.05)
    model = RandomForestClassifier(5, random_state=0).fit(X, y)
    depth = max(est.tree_.max_depth for est in model.estimators_)
    assert depth >= 20
    ens = compile_ensemble(model)
    np.testing.assert_allclose(ens.predict_raw(X), model.predict_proba(X), rtol=1e-12, atol=1e-12)


def test_native_space() -> None:
    assert compile_ensemble(get_case("rf-clf")[0]).native_space == "probability"
    assert compile_ensemble(get_case("xgb-clf")[0]).native_space == "margin"


def test_unsupported_model_raises() -> None:
    X = np.random.default_rng(0).normal(size=(50, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    assert not can_compile(model)
    with pytest.raises(UnsupportedModelError, match="LogisticRegression"):
        compile_ensemble(model)
    with pytest.raises(UnsupportedModelError, match="str"):
        compile_ensemble("not a model")
