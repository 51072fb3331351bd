"""Reasons composed in bulk for a batch equal, byte for byte, what the per-row writer gives.

The oracle is ``ReasonWriter.compose`` (the per-lead composer ``explain_one`` uses), applied
row by row to the batch's own scores, attributions, values and next best actions, as
``_explain_frame`` did before batches were composed in bulk. Everything downstream of the
reasons is compared: records (``batch[i]``), ``to_frame``, every CRM preset and short budgets
that re-render reasons, the composed parts, and review reasons.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainscore import ExplainedModel
from explainscore._crm import CrmField, CrmFields
from explainscore._demo import build_pipeline
from explainscore._records import Explanations, reason_code_columns
from explainscore._row_encoder import plain_cell
from explainscore.datasets import load_bank_catalog
from explainscore.reasons import Catalog, ReasonConfig, ScoreBands

BUDGETS = (60, 100, 120, 255, 2000)


def _per_row(em: ExplainedModel, batch: Explanations) -> Explanations:
    """The batch as the per-row composer writes it (the reference)."""
    writer = em._ensure_built().writer
    rows = [[plain_cell(v) for v in r] for r in batch.data.to_numpy(dtype=object)]
    composed = [
        writer.compose(
            float(batch.scores[i]), batch.attributions[i], rows[i], batch.next_best_actions[i]
        )
        for i in range(len(batch))
    ]
    rendered = [c.render(writer.config.max_length) for c in composed]
    return replace(
        batch,
        reasons=[t for t, _ in rendered],
        bands=[c.band for c in composed],
        reason_codes=[codes for _, codes in rendered],
        composed=composed,
    )


def _crm_specs() -> list[Any]:
    specs: list[Any] = ["salesforce", "dynamics", "hubspot"]
    for budget in (60, 80, 120):
        fields = {"reason": CrmField(name="R", max_length=budget)}
        for k in range(1, 5):
            fields[f"reason_{k}"] = CrmField(name=f"R{k}", max_length=budget)
            fields[f"reason_code_{k}"] = CrmField(name=f"C{k}", max_length=budget)
        specs.append(CrmFields(fields=fields))
    return specs


def assert_same(em: ExplainedModel, batch: Explanations) -> None:
    want = _per_row(em, batch)
    assert list(batch.reasons) == want.reasons
    assert list(batch.bands) == want.bands
    assert [tuple(c) for c in batch.reason_codes] == want.reason_codes
    for k in (1, 3, 6):
        # The strings by rank, read off the bulk arrays without building the records.
        codes, texts = reason_code_columns(batch, k)
        assert (codes, texts) == reason_code_columns(want, k)
        for i, row in enumerate(want.reason_codes):
            assert [codes[r][i] for r in range(k)] == [
                row[r].code if r < len(row) else None for r in range(k)
            ]
            assert [texts[r][i] for r in range(k)] == [
                row[r].text if r < len(row) else None for r in range(k)
            ]
    got_json = [r.model_dump_json() for r in batch]
    assert got_json == [r.model_dump_json() for r in want]
    assert list(batch) == list(want)
    pd.testing.assert_frame_equal(batch.to_frame(), want.to_frame())
    for spec in _crm_specs():
        pd.testing.assert_frame_equal(batch.to_crm(spec), want.to_crm(spec))
    for budget in BUDGETS:
        got = [c.render(budget) for c in batch.composed]
        assert got == [c.render(budget) for c in want.composed]
    assert [c.factors for c in batch.composed] == [c.factors for c in want.composed]
    assert [(c.band, c.head, c.other, c.action) for c in batch.composed] == [
        (c.band, c.head, c.other, c.action) for c in want.composed
    ]


@pytest.fixture(scope="module")
def bank_split(bank) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    X, y = bank
    return X.iloc[:3000], y.iloc[:3000], X.iloc[3000:3400]


@pytest.fixture(scope="module")
def bank_model(bank_split) -> Any:
    X, y, _ = bank_split
    return build_pipeline(X, n_estimators=40).fit(X, y)


def _bank_catalog(hide: tuple[str, ...]) -> Catalog:
    data = load_bank_catalog().model_dump()
    for name in hide:
        data["features"].setdefault(name, {})["show"] = False
    return Catalog.model_validate(data)


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("max_factors", [1, 2, 3, 4])
@pytest.mark.parametrize("nba", ["off", "append"])
@pytest.mark.parametrize("hide", [(), ("duration", "poutcome")])
def test_bank_pipeline_batch_equals_per_row(
    bank_split, bank_model, locale, max_factors, nba, hide
) -> None:
    X, _, rows = bank_split
    config = ReasonConfig(
        locale=locale,
        max_factors=max_factors,
        next_best_action=nba,
        max_length=120 if max_factors == 4 else 255,
        bands=ScoreBands.grades() if max_factors % 2 else ScoreBands.high_medium_low(),
    )
    em = ExplainedModel(
        bank_model, background=X.iloc[:200], catalog=_bank_catalog(hide), reasons=config
    )
    batch = em.explain(rows)
    assert_same(em, batch)
    if hide:
        assert not any("duration" in c.feature for codes in batch.reason_codes for c in codes)


@pytest.mark.parametrize("direction", ["both", "positive", "negative"])
def test_bank_directions_and_field_action(bank_split, bank_model, direction) -> None:
    X, _, rows = bank_split
    config = ReasonConfig(direction=direction, next_best_action="field", max_length=60)
    em = ExplainedModel(
        bank_model,
        background=X.iloc[:200],
        catalog=_bank_catalog(("age",)),
        reasons=config,
    )
    assert_same(em, em.explain(rows.iloc[:150]))


def _odd_leads(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Leads with missing values and extreme numbers in every numeric column."""
    rng = np.random.default_rng(seed)
    out = X.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]):
            vals = out[col].astype(np.float64).to_numpy().copy()
            pick = rng.random(len(vals))
            extremes = np.array([1e12, -1e12, 1e-9, -1e-9, 0.0, -0.0, 123456.789, 0.5, 99.95])
            vals[pick < 0.15] = rng.choice(extremes, size=int((pick < 0.15).sum()))
            vals[(pick >= 0.15) & (pick < 0.25)] = np.nan
            out[col] = vals
        else:
            vals = out[col].astype(object).to_numpy().copy()
            vals[rng.random(len(vals)) < 0.1] = None
            out[col] = vals
    return out


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("nba", ["off", "append"])
def test_synthetic_leads_with_missing_and_extreme_values(leads, locale, nba) -> None:
    X, y = leads
    catalog = {
        "demo_booked": {
            "display_name": {"en": "Demo booked", "de": "Demo gebucht"},
            "format": "boolean",
            "actionable": {"targets": [1], "text": {"en": "Booking a demo", "de": "Demo"}},
        },
        "pages_viewed": {"display_name": "Pages viewed", "format": "integer"},
        "emails_opened": {"format": "number", "decimals": 1, "unit": "mails"},
        "company_size": {"format": "currency", "special_values": {"0": "No company"}},
        "days_since_last_contact": {"format": "days"},
        "budget_known": {"format": "percent", "decimals": 2},
        "noise": {"show": False},
        "industry": {"value_labels": {"software": {"en": "software", "de": "Software"}}},
        "lead_source": {"phrases": {"en": {"up": "{value} lead", "down": "{value} ({value})"}}},
    }
    Xf = X.copy()
    for col in Xf.columns:
        if pd.api.types.is_numeric_dtype(Xf[col]):
            Xf[col] = Xf[col].astype(np.float64)
    model = build_pipeline(Xf, n_estimators=30).fit(Xf.iloc[:1000], y.iloc[:1000])
    config = ReasonConfig(locale=locale, next_best_action=nba, max_factors=4)
    em = ExplainedModel(model, background=Xf.iloc[:200], catalog=catalog, reasons=config)
    odd = _odd_leads(Xf.iloc[1000:1300], seed=3)
    assert_same(em, em.explain(odd))
    assert_same(em, em.explain(Xf.iloc[1300:1400]))


def test_numeric_xgboost_batch_equals_per_row() -> None:
    """The benchmark's kind of model: a bare booster on numeric columns, numbers as values."""
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 12)) * np.array([1, 10, 100, 1e3, 1e6, 0.01] * 2)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 3] = np.round(X[:, 3])
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=1200) > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X[:800], y[:800])
    for locale in ("en", "de"):
        em = ExplainedModel(model, background=X[:100], reasons=ReasonConfig(locale=locale))
        assert_same(em, em.explain(X[800:]))


def test_small_batches_and_the_bulk_path_on_tiny_batches(
    bank_split, bank_model, monkeypatch
) -> None:
    """Below ``BULK_FROM`` rows the per-row writer serves; the bulk steps, forced on batches of
    1 and a few rows, give the same records."""
    from explainscore.reasons import _bulk

    X, _, rows = bank_split
    config = ReasonConfig(locale="de", next_best_action="append", max_length=100)
    em = ExplainedModel(
        bank_model, background=X.iloc[:200], catalog=_bank_catalog(("day",)), reasons=config
    )
    assert isinstance(em.explain(rows.iloc[:60]).reason_codes, _bulk._Lazy)
    assert isinstance(em.explain(rows.iloc[:5]).reason_codes, list)
    for n in (1, 5, 47):
        assert_same(em, em.explain(rows.iloc[:n]))
    monkeypatch.setattr(_bulk, "BULK_FROM", 0)
    for n in (1, 2, 7):
        batch = em.explain(rows.iloc[10 : 10 + n])
        assert isinstance(batch.reason_codes, _bulk._Lazy)
        assert_same(em, batch)
    assert em.explain_one(rows.iloc[[3]]).reason == em.explain(rows.iloc[3:4]).reasons[0]
