"""Policy (blocked / hidden), model card and sign-off, kill switch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainscore import ExplainedModel, KillSwitch, ModelCard, Policy, sign_off
from explainscore.exceptions import (
    NotSignedOffError,
    ParameterError,
    PolicyViolationError,
    ScoringPausedError,
)


def _pipe():
    return make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
            remainder=StandardScaler(),
        ),
        LogisticRegression(max_iter=2000),
    )


def test_blocked_input_fails_closed_without_naming_it(leads) -> None:
    X, y = leads
    policy = Policy(version="2026-11", blocked=("ethnicity", "lead_source"))
    with pytest.raises(PolicyViolationError) as info:
        ExplainedModel(_pipe(), policy=policy).fit(X, y)
    assert "lead_source" not in str(info.value)
    assert "lead source" not in str(info.value).lower()
    assert "blocked entry 2" in str(info.value)
    assert "'2026-11'" in str(info.value)
    assert info.value.entry == 2


def test_blocked_feature_entering_through_a_column_transformer(leads) -> None:
    X, y = leads
    prefit = _pipe().fit(X, y)
    policy = Policy(blocked=("industry",))
    with pytest.raises(PolicyViolationError, match="blocked entry 1"):
        ExplainedModel(prefit, background=X.iloc[:50], policy=policy).explain(X.iloc[:2])


def test_blocked_column_in_the_rows_is_refused_at_explain(leads) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=500), policy=Policy(blocked=("age",)))
    em.fit(num, y)
    with pytest.raises(PolicyViolationError) as info:
        em.explain(num.iloc[:3].assign(age=40))
    assert "age" not in str(info.value).replace("stage", "").replace("usage", "")


@settings(max_examples=20, deadline=None)
@given(
    st.sets(st.sampled_from(["company_size", "pages_viewed", "emails_opened", "noise"]), min_size=1)
)
def test_hidden_features_never_reach_reasons_codes_records_or_crm(hidden) -> None:
    from explainscore.datasets import make_leads

    X, y = make_leads(400, seed=3)
    num = X.select_dtypes("number")
    em = ExplainedModel(
        LogisticRegression(max_iter=1000), policy=Policy(hidden=tuple(sorted(hidden)))
    ).fit(num, y)
    batch = em.explain(num.iloc[:60])
    texts = " ".join(batch.reasons) + " ".join(
        batch.to_crm("hubspot").astype(str).to_numpy().ravel()
    )
    for h in hidden:
        words = h.replace("_", " ")
        assert h not in texts
        assert words.lower() not in texts.lower()
        for rec in batch:
            assert all(a.feature != h for a in rec.attributions)
            assert all(c.feature != h for c in rec.reason_codes)
    assert batch.policy_version == "1"


def test_card_sign_off_and_production_door(leads, signers) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y)
    assert em.explain(num.iloc[:2])[0].signed_off is False
    card = ModelCard.for_model(
        em, owner_key=signers.ana, name="leads-v1", intended_use="rank inbound leads"
    )
    assert card.model_fingerprint == em.model_fingerprint_
    assert (card.owner, card.owner_key_id) == ("ana", signers.ana.key_id)
    with pytest.raises(ParameterError, match="belongs to the model's owner"):
        sign_off(card, key=signers.ana)
    signed = sign_off(card, key=signers.ben, note="reviewed fairness report")
    assert signed.is_signed_off()
    assert signed.verified_approvers() == ("ben",)
    assert not card.is_signed_off()

    prefit = em.model_
    with pytest.raises(NotSignedOffError, match="no sign-off yet"):
        ExplainedModel(prefit, background=num, card=card, require_sign_off=True).explain(
            num.iloc[:1]
        )
    with pytest.raises(NotSignedOffError, match="no model card"):
        ExplainedModel(prefit, background=num, require_sign_off=True).explain(num.iloc[:1])
    ok = ExplainedModel(prefit, background=num, card=signed, require_sign_off=True)
    assert ok.explain_one(num.iloc[0]).signed_off is True

    other = LogisticRegression(max_iter=1000, C=0.1).fit(num, y)
    with pytest.raises(NotSignedOffError, match="differs from the one on its card"):
        ExplainedModel(other, background=num, card=signed, require_sign_off=True).explain(
            num.iloc[:1]
        )


def test_card_round_trips_through_json(tmp_path, leads, signers) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=1000)).fit(num, y)
    card = sign_off(
        ModelCard.for_model(
            em, name="m", owner_key=signers.ana, intended_use="u", metrics={"auc": 0.8}
        ),
        key=signers.ben,
    )
    card.save(tmp_path / "card.json")
    loaded = ModelCard.load(tmp_path / "card.json")
    assert loaded == card
    assert loaded.is_signed_off()
    assert "scikit-learn" in card.library_versions


def test_kill_switch_file_env_and_api(tmp_path, leads, monkeypatch) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    switch = KillSwitch(tmp_path / "STOP")
    em = ExplainedModel(LogisticRegression(max_iter=1000), kill_switch=switch).fit(num, y)
    assert em.explain(num.iloc[:3]).status == "ok"

    switch.engage(actor="ops@acme", reason="drift alarm")
    paused = em.explain(num.iloc[:3])
    assert paused.status == "paused"
    assert np.isnan(paused.scores).all()
    rec = paused[0]
    assert rec.status == "paused"
    assert rec.score is None
    assert rec.attributions == ()
    assert "drift alarm" in rec.reason
    # another process sees the same file
    assert KillSwitch(tmp_path / "STOP").state().actor == "ops@acme"

    raising = ExplainedModel(em.model_, background=num, kill_switch=switch, on_pause="raise")
    with pytest.raises(ScoringPausedError, match="drift alarm"):
        raising.explain(num.iloc[:1])

    switch.release(actor="ops@acme", reason="fixed")
    assert em.explain(num.iloc[:3]).status == "ok"

    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", "1")
    assert em.explain(num.iloc[:1]).status == "paused"
    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", "0")
    assert em.explain(num.iloc[:1]).status == "ok"


def test_policy_from_files(tmp_path) -> None:
    (tmp_path / "p.yaml").write_text("version: '3'\nblocked: [religion]\nhidden: [zip_code]\n")
    (tmp_path / "p.json").write_text(
        '{"version": "3", "blocked": ["religion"], "hidden": ["zip_code"]}'
    )
    assert Policy.from_file(tmp_path / "p.yaml") == Policy.from_file(tmp_path / "p.json")
    with pytest.raises(ParameterError, match="The policy is not valid"):
        Policy.from_mapping({"blocked": "religion", "extra": 1})
    policy = Policy(blocked=("age",))
    assert policy.is_blocked("num__age")
    assert policy.is_blocked("cat__age_40-49")
    assert not policy.is_blocked("num__stage")
    assert not policy.is_blocked("page_views")


def test_kill_switch_needs_actor_and_reason(tmp_path) -> None:
    with pytest.raises(ParameterError, match=r"'actor' parameter of KillSwitch.engage"):
        KillSwitch(tmp_path / "S").engage(actor="", reason="x")
