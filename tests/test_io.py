"""Safe model files: round trips, refusals, tampering, versions, sign-off of the file."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from xgboost import XGBClassifier

import explainscore
from explainscore import ExplainedModel, ModelCard, Policy, sign_off
from explainscore.exceptions import NotSignedOffError
from explainscore.io import ModelFileError, VersionMismatchWarning


def _pipe(est):
    return make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
            remainder="passthrough",
        ),
        est,
    )


@pytest.mark.parametrize(
    "estimator",
    [
        lambda: LogisticRegression(max_iter=3000),
        lambda: XGBClassifier(n_estimators=20, max_depth=3),
    ],
    ids=["logreg", "xgboost"],
)
def test_round_trip_gives_identical_explanations(estimator, leads, tmp_path) -> None:
    X, y = leads
    em = ExplainedModel(_pipe(estimator()), policy=Policy(hidden=("noise",)), top_k=2).fit(X, y)
    explainscore.save(em, tmp_path / "m")
    loaded = explainscore.load(tmp_path / "m")
    a, b = em.explain(X.iloc[:50]), loaded.explain(X.iloc[:50])
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-12)
    assert a.reasons == b.reasons
    assert loaded.policy == em.policy
    assert loaded.top_k == 2
    assert loaded.model_fingerprint_.startswith("sha256:")
    # The fingerprint covers the whole bundle: the canonical manifest, which lists the
    # digest of every file (model, policy, catalog, background).
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert loaded.model_fingerprint_ == "sha256:" + digest
    # A tree model whose scores the compiled trees reproduce also gets its compiled form,
    # which the command line runs without scikit-learn (``_compiled``).
    compiled = {"compiled.npz"} if isinstance(em.model_[-1], XGBClassifier) else set()
    assert set(manifest["files"]) == {
        "model.skops",
        "background.json",
        "catalog.json",
        "policy.json",
        *compiled,
    }


class _Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "pwned"))


def test_pickle_is_refused_and_runs_nothing(tmp_path) -> None:
    marker = tmp_path / "marker.txt"
    bad = tmp_path / "model.pkl"
    bad.write_bytes(pickle.dumps(_Marker(str(marker))))
    with pytest.raises(ModelFileError, match="trust=True"):
        explainscore.load(bad)
    assert not marker.exists()


def test_trusted_joblib_file_loads(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y)
    joblib.dump(em, tmp_path / "em.joblib")
    with pytest.raises(ModelFileError):
        explainscore.load(tmp_path / "em.joblib")
    again = explainscore.load(tmp_path / "em.joblib", trust=True)
    np.testing.assert_array_equal(
        again.explain(num.iloc[:5]).scores, em.explain(num.iloc[:5]).scores
    )


class _Custom(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def test_unknown_types_are_listed_and_refused(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(
        make_pipeline(_Custom(), LogisticRegression(max_iter=1000)), method="kernel"
    )
    em.fit(num, y)
    explainscore.save(em, tmp_path / "m")
    with pytest.raises(ModelFileError, match="_Custom") as info:
        explainscore.load(tmp_path / "m")
    assert "trust=True" in str(info.value)


def test_tampered_truncated_and_missing_files(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y)
    explainscore.save(em, tmp_path / "m")
    model_file = tmp_path / "m" / "model.skops"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="changed after it was saved"):
        explainscore.load(tmp_path / "m")
    explainscore.save(em, tmp_path / "t")
    manifest = tmp_path / "t" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        explainscore.load(tmp_path / "t")
    with pytest.raises(ModelFileError, match="No saved model"):
        explainscore.load(tmp_path / "nothing-here")
    with pytest.raises(explainscore.exceptions.ParameterError, match="not empty"):
        explainscore.save(em, tmp_path / "t")
    explainscore.save(em, tmp_path / "t", overwrite=True)
    assert explainscore.load(tmp_path / "t").n_features_in_ == num.shape[1]


def test_truncated_model_file_is_a_clear_error(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y)
    explainscore.save(em, tmp_path / "m")
    model_file = tmp_path / "m" / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[:100])
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    data = model_file.read_bytes()
    manifest["files"]["model.skops"] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=r"not a readable skops file|could not be loaded"):
        explainscore.load(tmp_path / "m")


def test_version_mismatch_warns_or_refuses(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y)
    explainscore.save(em, tmp_path / "m")
    path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["library_versions"]["scikit-learn"] = "0.0.1"
    path.write_text(json.dumps(manifest))
    with pytest.warns(VersionMismatchWarning, match="scikit-learn 0.0.1"):
        explainscore.load(tmp_path / "m")
    with pytest.raises(ModelFileError, match="on_version_mismatch='error'"):
        explainscore.load(tmp_path / "m", on_version_mismatch="error")


def test_card_signs_off_the_saved_file(leads, tmp_path, signers) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    explainscore.save(ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y), tmp_path / "m")
    with pytest.raises(NotSignedOffError):
        explainscore.load(tmp_path / "m", require_sign_off=True)
    loaded = explainscore.load(tmp_path / "m")
    card = sign_off(
        ModelCard.for_model(loaded, name="m", owner_key=signers.ana, intended_use="ranking"),
        key=signers.ben,
    )
    card.save(tmp_path / "m" / "card.json")
    ok = explainscore.load(tmp_path / "m", require_sign_off=True)
    assert ok.explain(num.iloc[:2])[0].signed_off is True
