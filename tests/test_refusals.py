"""Models that used to crash or be refused in a loop (issue 15, items 8 and 9).

Each case either explains exactly (checked against brute-force Shapley values over all
coalitions of the interventional game, evaluated with the model's own output) or refuses with
a typed error whose message names one way forward, and following it works.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.ensemble import IsolationForest, RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from explainscore import ExplainedModel
from explainscore._fingerprint import model_fingerprint
from explainscore.exceptions import FallbackWarning, ParameterError, UnsupportedModelError

from .test_linear_games import _assert_exact, _data


def _double(z: Any) -> Any:
    return z * 2.0


# --- item 8: models that cannot be pickled ---------------------------------------------------


def _lambda_pipeline(X: pd.DataFrame, y: Any, factor: float = 2.0) -> Any:
    return make_pipeline(
        FunctionTransformer(lambda z: z * factor), LogisticRegression(max_iter=500)
    ).fit(X, y)


def test_lambda_pipeline_is_explained_with_a_structural_fingerprint() -> None:
    X, y2, _ = _data(seed=11)
    model = _lambda_pipeline(X, y2)
    em = ExplainedModel(model, background=X.iloc[:20])
    with pytest.warns(FallbackWarning, match="FunctionTransformer"):
        em.explain(X.iloc[:1])
    assert em.model_fingerprint_.startswith("sha256:")
    assert len(em.model_fingerprint_) == 71
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 1], X.iloc[20:], 1e-12)
    # Stable for the same model, and it moves with what the model computes.
    assert model_fingerprint(model) == em.model_fingerprint_
    assert model_fingerprint(_lambda_pipeline(X, y2)) == em.model_fingerprint_
    assert model_fingerprint(_lambda_pipeline(X, y2, factor=3.0)) != em.model_fingerprint_
    refit = _lambda_pipeline(X.iloc[:100], y2[:100])
    assert model_fingerprint(refit) != em.model_fingerprint_
    other_body = make_pipeline(
        FunctionTransformer(lambda z: z + 2.0), LogisticRegression(max_iter=500)
    ).fit(X, y2)
    assert model_fingerprint(other_body) != em.model_fingerprint_


def test_picklable_models_keep_their_pickle_fingerprint() -> None:
    import hashlib
    import pickle

    X, y2, _ = _data(seed=12)
    model = make_pipeline(FunctionTransformer(_double), LogisticRegression()).fit(X, y2)
    name = b"sklearn.pipeline.Pipeline\0"
    expected = "sha256:" + hashlib.sha256(name + pickle.dumps(model, protocol=5)).hexdigest()
    assert model_fingerprint(model) == expected  # signed-off fingerprints do not move


_SCRIPT = """
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from explainscore._fingerprint import model_fingerprint

rng = np.random.default_rng(0)
X = rng.normal(size=(50, 3))
y = (X[:, 0] > 0).astype(int)
keep = {"a", "b", "c"}
scale = np.array([1.0, 2.0, 3.0])
model = make_pipeline(
    FunctionTransformer(lambda z: z * scale if "a" in keep else z), LogisticRegression()
).fit(X, y)
print(model_fingerprint(model))
"""


def test_structural_fingerprint_is_the_same_in_every_process(tmp_path: Path) -> None:
    script = tmp_path / "fp.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    prints = {
        subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(prints) == 1
    assert next(iter(prints)).startswith("sha256:")


# --- item 9: hard voting ------------------------------------------------------------------


def _voters(voting: str) -> VotingClassifier:
    return VotingClassifier(
        [
            ("lr", LogisticRegression()),
            ("rf", RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)),
        ],
        voting=voting,
    )


@pytest.mark.parametrize("space", ["auto", "probability", "raw", "log_odds"])
@pytest.mark.parametrize("method", ["auto", "kernel"])
def test_hard_voting_names_one_way_forward_in_every_space(space: str, method: str) -> None:
    X, y2, _ = _data(seed=13)
    model = _voters("hard").fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:20], output_space=space, method=method)
    with pytest.raises(UnsupportedModelError) as info:
        em.explain(X.iloc[:2])
    message = str(info.value)
    assert "voting='soft'" in message
    assert "output_space" not in message
    assert "method=" not in message


def test_soft_voting_the_way_forward_is_exact() -> None:
    X, y2, _ = _data(seed=13)
    model = _voters("soft").fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:20])
    _assert_exact(em, lambda F: model.predict_proba(F)[:, 1], X.iloc[20:], 1e-12)
    assert (em.method_, em.output_space_) == ("kernel", "probability")


class _LabelsOnly(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _LabelsOnly:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.asarray(X)[:, 0] > 0


def test_a_labels_only_classifier_is_refused_with_what_to_add() -> None:
    X, y2, _ = _data(seed=14)
    em = ExplainedModel(_LabelsOnly().fit(X, y2), background=X.iloc[:20])
    with pytest.raises(UnsupportedModelError, match="Give it a predict_proba method") as info:
        em.explain(X.iloc[:2])
    assert "output_space" not in str(info.value)


# --- item 9: top_k ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_cols", [1, 2])
def test_default_top_k_is_clipped_to_the_columns(n_cols: int) -> None:
    X, y2, _ = _data(seed=15)
    X = X.iloc[:, :n_cols]
    model = LogisticRegression().fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:30])
    batch = em.explain(X.iloc[:3])
    assert batch.top_k == n_cols
    assert all(len(codes) <= n_cols for codes in batch.reason_codes)
    assert em.explain(X.iloc[:3], top_k=10).top_k == n_cols  # a per-call top_k too
    one = em.explain_one(X.iloc[0].to_dict(), top_k=7)
    assert len(one.attributions) == n_cols
    with pytest.raises(ParameterError, match=r"'top_k' parameter of explain must be an int"):
        em.explain(X.iloc[:3], top_k=0)


# --- item 9: IsolationForest ----------------------------------------------------------------


def test_isolation_forest_explains_its_decision_function_exactly() -> None:
    X, _, _ = _data(seed=16)
    model = IsolationForest(n_estimators=15, random_state=0).fit(X)
    em = ExplainedModel(model, background=X.iloc[:20])
    batch = em.explain(X.iloc[20:24])
    np.testing.assert_allclose(batch.scores, model.decision_function(X.iloc[20:24]), atol=1e-12)
    assert (em.method_, em.output_space_) == ("kernel", "raw")
    _assert_exact(em, model.decision_function, X.iloc[20:], 1e-12)


def test_isolation_forest_behind_a_scaler() -> None:
    X, _, _ = _data(seed=17)
    model = make_pipeline(StandardScaler(), IsolationForest(n_estimators=10, random_state=0))
    model.fit(X)
    em = ExplainedModel(model, background=X.iloc[:15])
    _assert_exact(em, model.decision_function, X.iloc[15:], 1e-12)


# --- item 9: gblinear and explicit methods ----------------------------------------------


def test_gblinear_with_method_tree_points_to_auto_which_works() -> None:
    xgb = pytest.importorskip("xgboost")
    X, y2, _ = _data(seed=18)
    model = xgb.XGBClassifier(booster="gblinear", n_estimators=20, n_jobs=1).fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:20], method="tree")
    with pytest.raises(UnsupportedModelError) as info:
        em.explain(X.iloc[:2])
    assert "use method='auto'" in str(info.value)
    assert "method='kernel'" not in str(info.value)
    em.set_params(method="auto")

    def margin(F: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(F, output_margin=True), dtype=np.float64)

    _assert_exact(em, margin, X.iloc[20:], 1e-5)
    assert em.method_ == "linear"


def test_an_unsupported_explicit_method_names_auto_only() -> None:
    X, y2, _ = _data(seed=19)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y2)
    em = ExplainedModel(model, background=X.iloc[:20], method="linear")
    with pytest.raises(UnsupportedModelError, match="use method='auto', which picks"):
        em.explain(X.iloc[:2])
    em.set_params(method="auto")
    assert em.explain(X.iloc[:2]).explainer == "tree"


# --- item 9: samplers in a Pipeline ---------------------------------------------------------


class _StandInSampler(TransformerMixin, BaseEstimator):
    """A minimal imbalanced-learn style sampler: it resamples in fit, and is the identity at
    predict time (which is how imblearn's Pipeline runs a sampler)."""

    def fit(self, X: Any, y: Any = None) -> _StandInSampler:
        return self

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        return X, y

    def transform(self, X: Any) -> Any:
        return X


def _check_sampler_pipeline(model: Any, X: pd.DataFrame) -> None:
    em = ExplainedModel(model, background=X.iloc[:30])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)  # no "mixes input columns" fallback
        em.explain(X.iloc[:1])
    assert em.method_ == "linear"
    assert em.output_space_ == "log_odds"
    _assert_exact(em, model.decision_function, X.iloc[30:], 1e-12)


def test_a_sampler_step_is_skipped_when_unwrapping() -> None:
    X, y2, _ = _data(seed=20)
    model = Pipeline(
        [("scale", StandardScaler()), ("sample", _StandInSampler()), ("lr", LogisticRegression())]
    ).fit(X, y2)
    _check_sampler_pipeline(model, X)


def test_an_imblearn_smote_pipeline_is_explained_exactly() -> None:
    pytest.importorskip("imblearn")
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline as ImbPipeline

    X, _, _ = _data(seed=21)
    y = (X.a + X.b > 2.5).astype(int)  # imbalanced
    model = ImbPipeline(
        [
            ("scale", StandardScaler()),
            ("smote", SMOTE(random_state=0)),
            ("lr", LogisticRegression()),
        ]
    ).fit(X, y)
    _check_sampler_pipeline(model, X)
