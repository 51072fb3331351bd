"""The public surface, lazy optional imports, and scikit-learn estimator conventions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score
from xgboost import XGBClassifier

import explainscore
from explainscore import ExplainedModel, Explanations, LeadExplanation


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(explainscore) if not n.startswith("_")}
    modules = {
        "exceptions",
        "datasets",
        "reasons",
        "attribution",
        "cli",
        "governance",
        "io",
        "plots",
        "spark",
        "service",
    }
    assert set(explainscore.__all__) == (public - modules) | {"__version__"}
    for name in explainscore.__all__:
        assert getattr(explainscore, name) is not None


def test_import_is_light() -> None:
    code = (
        "import sys, explainscore; "
        "heavy = {'xgboost', 'lightgbm', 'lime', 'shap', 'numba', 'matplotlib'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_init_only_stores_parameters() -> None:
    bg = object()
    em = ExplainedModel("not validated yet", background=bg, top_k=-5)
    assert em.model == "not validated yet"
    assert em.background is bg
    assert em.top_k == -5
    assert not hasattr(em, "model_")


def test_clone_and_params(leads_numeric) -> None:
    _X, _y = leads_numeric
    em = ExplainedModel(LogisticRegression(C=0.5), top_k=2, method="linear")
    params = em.get_params(deep=True)
    assert params["model__C"] == 0.5
    twin = clone(em)
    assert twin.get_params()["top_k"] == 2
    assert not hasattr(twin, "model_")
    em.set_params(model__C=2.0)
    assert em.model.C == 2.0


def test_set_params_after_fit_rebuilds_the_explainer(leads_numeric) -> None:
    X, y = leads_numeric
    em = ExplainedModel(XGBClassifier(n_estimators=10, max_depth=3), top_k=2).fit(X, y)
    fingerprint, before = em.model_fingerprint_, em.explain(X.iloc[:5])
    assert em.output_space_ == "log_odds"
    em.set_params(output_space="probability", n_background=50)
    after = em.explain(X.iloc[:5])
    assert em.output_space_ == after.output_space == "probability"
    assert len(em.background_) == 50
    assert em.model_fingerprint_ == fingerprint  # the same fitted model
    np.testing.assert_allclose(after.scores, before.scores)
    total = after.base_values + after.attributions.sum(1)
    np.testing.assert_allclose(total, after.scores, rtol=0, atol=1e-6)  # float32 booster
    em.set_params(method="kernel", method_options={"n_permutations": 8})
    assert em.method_ == "kernel"
    # A parameter read at each call leaves the explainer alone.
    engine = em.engine_
    em.set_params(top_k=1)
    assert em.engine_ is engine
    assert len(em.explain(X.iloc[:2]).to_frame().filter(like="reason_").columns) >= 1
    # A new model drops the fitted state: fit again.
    em.set_params(model=XGBClassifier(n_estimators=5))
    assert not hasattr(em, "model_")
    assert em.fit(X, y).model_fingerprint_ != fingerprint


def test_estimator_type_follows_the_wrapped_model() -> None:
    assert is_classifier(ExplainedModel(LogisticRegression()))
    assert is_regressor(ExplainedModel(Ridge()))


def test_cross_val_score_and_pipeline(leads_numeric) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = leads_numeric
    scores = cross_val_score(ExplainedModel(LogisticRegression(max_iter=1000)), X, y, cv=3)
    assert scores.shape == (3,)
    assert (scores > 0.5).all()
    pipe = make_pipeline(StandardScaler(), ExplainedModel(LogisticRegression(max_iter=1000)))
    pipe.fit(X, y)
    assert pipe.predict_proba(X.iloc[:3]).shape == (3, 2)


def test_fit_does_not_touch_the_given_model(leads_numeric) -> None:
    X, y = leads_numeric
    model = LogisticRegression(max_iter=1000)
    em = ExplainedModel(model).fit(X, y)
    assert not hasattr(model, "coef_")
    assert hasattr(em.model_, "coef_")
    assert em.n_features_in_ == X.shape[1]
    assert list(em.feature_names_in_) == list(X.columns)


def test_predict_passthrough(leads_numeric) -> None:
    X, y = leads_numeric
    model = XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
    em = ExplainedModel(model, background=X.iloc[:50])
    np.testing.assert_array_equal(em.predict_proba(X.iloc[:20]), model.predict_proba(X.iloc[:20]))
    np.testing.assert_array_equal(em.predict(X.iloc[:20]), model.predict(X.iloc[:20]))
    np.testing.assert_array_equal(em.classes_, model.classes_)


def test_explain_contract(leads) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = leads
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
        remainder="passthrough",
    )
    em = ExplainedModel(make_pipeline(pre, XGBClassifier(n_estimators=20, max_depth=3)), top_k=3)
    em.fit(X, y)
    batch = em.explain(X.iloc[:25])
    assert isinstance(batch, Explanations)
    assert batch.scores.shape == (25,)
    assert batch.attributions.shape == (25, X.shape[1])
    assert batch.base_values.shape == (25,)
    assert batch.feature_names == list(X.columns)
    assert batch.output_space == "log_odds"
    assert len(batch.reasons) == 25
    np.testing.assert_allclose(batch.scores, em.model_.predict_proba(X.iloc[:25])[:, 1])
    frame = batch.to_frame()
    assert {"score", "reason", "reason_1", "reason_2", "reason_3"} <= set(frame.columns)
    assert all(f"contrib_{c}" in frame.columns for c in X.columns)
    records = list(batch)
    assert len(records) == 25
    assert all(isinstance(r, LeadExplanation) for r in records)

    one = em.explain_one(X.iloc[3].to_dict())
    assert isinstance(one, LeadExplanation)
    # explain_one takes the single-lead fast lane (compiled preprocessing and ensemble, in
    # float64); XGBoost's own predict_proba accumulates its float32 leaves in float32.
    assert one.score == pytest.approx(batch.scores[3], abs=1e-6)
    assert one.score == pytest.approx(em.explain(X.iloc[[3]]).scores[0], abs=1e-6)
    assert len(one.attributions) == 3
    mags = [abs(a.contribution) for a in one.attributions]
    assert mags == sorted(mags, reverse=True)
    assert one.base_value + sum(
        a.contribution for a in one.attributions
    ) + one.other_contribution == pytest.approx(one.output, abs=1e-5)
    assert one.explainer == "tree"
    assert one.model_fingerprint.startswith("sha256:")
    with pytest.raises(Exception, match="frozen"):
        one.score = 1.0  # type: ignore[misc]
    # Series, 1-row frame and dict agree
    from_series = em.explain_one(X.iloc[3])
    from_frame = em.explain_one(X.iloc[[3]])
    # identical but for the time stamp of each call
    assert (
        from_series.model_dump(exclude={"explained_at"})
        == one.model_dump(exclude={"explained_at"})
        == from_frame.model_dump(exclude={"explained_at"})
    )


def test_fingerprint_is_stable_for_identical_fits(leads_numeric) -> None:
    X, y = leads_numeric
    a = ExplainedModel(XGBClassifier(n_estimators=5, random_state=1)).fit(X, y)
    b = ExplainedModel(XGBClassifier(n_estimators=5, random_state=1)).fit(X, y)
    c = ExplainedModel(XGBClassifier(n_estimators=6, random_state=1)).fit(X, y)
    assert a.model_fingerprint_ == b.model_fingerprint_ != c.model_fingerprint_


def test_multiclass_target_class(leads_numeric) -> None:
    X, _ = leads_numeric
    y = pd.Series(np.digitize(X["pages_viewed"], np.quantile(X["pages_viewed"], [0.33, 0.66])))
    em0 = ExplainedModel(XGBClassifier(n_estimators=10, max_depth=3), target_class=0).fit(X, y)
    em2 = ExplainedModel(XGBClassifier(n_estimators=10, max_depth=3)).fit(X, y)
    b0, b2 = em0.explain(X.iloc[:10]), em2.explain(X.iloc[:10])
    proba = em2.model_.predict_proba(X.iloc[:10])
    np.testing.assert_allclose(b2.scores, proba[:, 2])
    np.testing.assert_allclose(b0.scores, proba[:, 0])
    assert b2.target_class == 2
    assert b0.target_class == 0
    margins = em2.model_.predict(X.iloc[:10], output_margin=True)
    np.testing.assert_allclose(b2.base_values + b2.attributions.sum(1), margins[:, 2], atol=1e-5)


def test_raw_xgboost_booster_is_explained_like_its_classifier(leads_numeric) -> None:
    X, y = leads_numeric
    clf = XGBClassifier(n_estimators=15, max_depth=3).fit(X, y)
    via_booster = ExplainedModel(clf.get_booster(), background=X.iloc[:100]).explain(X.iloc[:20])
    via_clf = ExplainedModel(clf, background=X.iloc[:100]).explain(X.iloc[:20])
    np.testing.assert_allclose(via_booster.scores, via_clf.scores, atol=1e-7)
    np.testing.assert_allclose(via_booster.attributions, via_clf.attributions, atol=1e-7)


def test_multiclass_linear_and_forest(leads_numeric) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, _ = leads_numeric
    y = pd.Series(np.digitize(X["pages_viewed"], np.quantile(X["pages_viewed"], [0.33, 0.66])))
    lr = ExplainedModel(LogisticRegression(max_iter=2000), target_class=1).fit(X, y)
    b = lr.explain(X.iloc[:30])
    np.testing.assert_allclose(
        b.base_values + b.attributions.sum(1),
        lr.model_.decision_function(X.iloc[:30])[:, 1],
        atol=1e-6,
    )
    rf = ExplainedModel(RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)).fit(
        X, y
    )
    b = rf.explain(X.iloc[:30])
    assert b.output_space == "probability"
    np.testing.assert_allclose(
        b.base_values + b.attributions.sum(1), rf.model_.predict_proba(X.iloc[:30])[:, 2], atol=1e-6
    )
