"""Reasons in records and exports: codes, hidden columns, next best action, CRM budgets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainscore import ExplainedModel
from explainscore._crm import CrmField, CrmFields
from explainscore.exceptions import ParameterError
from explainscore.reasons import Catalog, ReasonConfig

CATALOG = {
    "demo_booked": {
        "display_name": "Demo booked",
        "format": "boolean",
        "actionable": {"targets": [1], "text": "Booking a demo"},
    },
    "pages_viewed": {"display_name": "Pages viewed", "format": "integer"},
    "company_size": {"display_name": "Company size", "show": False},
    "industry": {"display_name": "Industry", "value_labels": {"software": "software"}},
}


@pytest.fixture(scope="module")
def fitted(leads) -> ExplainedModel:
    X, y = leads
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
        remainder=StandardScaler(),
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return ExplainedModel(model, catalog=CATALOG, top_k=3).fit(X, y)


def test_reason_codes_match_the_reason(fitted, leads) -> None:
    X, _ = leads
    batch = fitted.explain(X.iloc[:100])
    for rec in batch:
        assert rec.reason_codes, rec.reason
        position = 0
        for code in rec.reason_codes:
            at = rec.reason.find(code.text, position)
            assert at >= position
            position = at + len(code.text)
        assert len(rec.reason) <= 255
        assert rec.band in ("High", "Medium", "Low")
        assert rec.model_version == rec.model_fingerprint.split(":")[1][:12]


def test_hidden_column_never_in_records_reasons_or_crm(fitted, leads) -> None:
    X, _ = leads
    batch = fitted.explain(X.iloc[:300])
    j = batch.feature_names.index("company_size")
    assert np.abs(batch.attributions[:, j]).max() > 0  # it is used by the model ...
    for rec in batch:  # ... but never shown to a rep
        assert all(a.feature != "company_size" for a in rec.attributions)
        assert all(c.feature != "company_size" for c in rec.reason_codes)
        assert "ompany size" not in rec.reason
        assert "company_size" not in rec.reason
    crm = batch.to_crm("hubspot")
    assert not crm.astype(str).apply(lambda c: c.str.contains("ompany")).any().any()
    # records still add up: the hidden column's share is in other_contribution
    rec = batch[0]
    total = rec.base_value + sum(a.contribution for a in rec.attributions) + rec.other_contribution
    assert total == pytest.approx(rec.output, abs=1e-6)


def test_next_best_action_is_the_models_own_rescoring(fitted, leads) -> None:
    X, _ = leads
    rows = X[X["demo_booked"] == 0].iloc[:50]
    batch = fitted.explain(rows)
    suggested = [a for a in batch.next_best_actions if a is not None]
    assert suggested, "booking a demo raises conversion in make_leads"
    for i, action in enumerate(batch.next_best_actions):
        if action is None:
            continue
        assert action.feature == "demo_booked"
        assert action.target_value == 1
        changed = rows.iloc[[i]].assign(demo_booked=1)
        expected = fitted.model_.predict_proba(changed)[0, 1]
        assert action.new_score == pytest.approx(expected, abs=1e-12)
        assert action.gain == pytest.approx(expected - batch.scores[i], abs=1e-12)
        assert action.text == f"Booking a demo would raise the score to about {expected:.2f}."
    already = fitted.explain(X[X["demo_booked"] == 1].iloc[:20])
    assert all(a is None for a in already.next_best_actions)


def test_next_best_action_appended_within_budget(leads) -> None:
    X, y = leads
    em = ExplainedModel(
        make_pipeline(
            make_column_transformer(
                (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
                remainder=StandardScaler(),
            ),
            LogisticRegression(max_iter=2000),
        ),
        catalog=CATALOG,
        reasons=ReasonConfig(next_best_action="append", max_length=400),
    ).fit(X, y)
    batch = em.explain(X[X["demo_booked"] == 0].iloc[:30])
    with_action = [r for r, a in zip(batch.reasons, batch.next_best_actions, strict=True) if a]
    assert with_action
    assert all(r.endswith("would raise the score to about " + r[-5:]) for r in with_action)
    assert max(len(r) for r in batch.reasons) <= 400


def test_hidden_or_unlisted_columns_are_never_suggested(leads) -> None:
    X, y = leads
    catalog = Catalog.from_mapping(
        {
            "demo_booked": {
                "show": False,
                "actionable": {"targets": [1], "text": "Booking a demo"},
            }
        }
    )
    em = ExplainedModel(LogisticRegression(max_iter=2000), catalog=catalog)
    em.fit(X.select_dtypes("number"), y)
    batch = em.explain(X.select_dtypes("number").iloc[:50])
    assert all(a is None for a in batch.next_best_actions)


def test_crm_export_presets_budgets_and_custom_names(fitted, leads) -> None:
    X, _ = leads
    batch = fitted.explain(X.iloc[:200])
    sf = batch.to_crm("salesforce")
    expected = ["score", "band", "reason"] + [f"reason_{k}" for k in range(1, 5)]
    expected += [f"reason_code_{k}" for k in range(1, 5)]
    expected += ["next_best_action", "model_version", "explained_at"]
    assert list(sf.columns) == expected
    assert sf.drop(columns="score").astype(str).map(len).to_numpy().max() <= 255
    short = CrmFields(
        fields={
            "reason": CrmField(name="Lead_Reason__c", max_length=80),
            "reason_code_1": CrmField(name="Top_Code__c", max_length=60),
        }
    )
    out = batch.to_crm(short)
    assert list(out.columns) == ["Lead_Reason__c", "Top_Code__c"]
    assert out["Lead_Reason__c"].str.len().max() <= 80
    # a shorter budget drops whole factors: every kept phrase is one of the lead's phrases
    for text, codes in zip(out["Lead_Reason__c"], batch.reason_codes, strict=True):
        body = text.split(": ", 1)[1].rstrip(".")
        parts = [p for p in body.split("; ") if p]
        assert parts == [c.text for c in codes[: len(parts)]] or "too long" in text
    assert (out["Top_Code__c"] == [c[0].code if c else "" for c in batch.reason_codes]).all()
    with pytest.raises(ParameterError, match="The 'fields' parameter of to_crm must be one of"):
        batch.to_crm("sap")


def test_german_reasons_from_the_model(fitted, leads) -> None:
    X, y = leads
    em_de = ExplainedModel(fitted.model, catalog=CATALOG, reasons=ReasonConfig(locale="de"))
    em_de.fit(X, y)
    en = fitted.explain(X.iloc[:50])
    de = em_de.explain(X.iloc[:50])
    for a, b in zip(en.reason_codes, de.reason_codes, strict=True):
        n = min(len(a), len(b))
        assert [c.code for c in a[:n]] == [c.code for c in b[:n]]
    assert all(("Hoch" in r) or ("Mittel" in r) or ("Niedrig" in r) for r in de.reasons)


def test_reasons_are_byte_identical_across_runs(fitted, leads) -> None:
    X, _ = leads
    assert fitted.explain(X.iloc[:100]).reasons == fitted.explain(X.iloc[:100]).reasons
    frame = pd.DataFrame(fitted.explain(X.iloc[:5]).to_frame())
    assert "next_best_action" in frame.columns
