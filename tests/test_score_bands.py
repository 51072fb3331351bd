"""Score bands from the data: derived from the training scores at fit, kept, saved, signed.

The bug they fix: fixed cut-offs at 0.5 / 0.2 called a lead at 0.18 "Low" although only
11.7 % of bank leads convert.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import explainscore
from explainscore import ExplainedModel, ModelCard, ReasonConfig, ScoreBands, generate_key
from explainscore.cli import main
from explainscore.datasets import load_bank_catalog, load_bank_marketing, make_leads
from explainscore.exceptions import ParameterError

xgboost = pytest.importorskip("xgboost")


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = load_bank_marketing()
    return tuple(train_test_split(X, y, test_size=0.25, stratify=y, random_state=0))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def bank_em(split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]) -> ExplainedModel:
    X_train, _, y_train, _ = split
    text = list(X_train.select_dtypes(exclude="number").columns)
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), text), remainder="passthrough"
        ),
        xgboost.XGBClassifier(n_estimators=60, max_depth=4, n_jobs=1),
    )
    # A small background: the bands must still come from all training scores.
    return ExplainedModel(pipeline, background=X_train.iloc[:50], catalog=load_bank_catalog()).fit(
        X_train, y_train
    )


def test_from_scores_of_probabilities_are_multiples_of_the_base_rate() -> None:
    rng = np.random.default_rng(0)
    scores = rng.beta(0.6, 4.5, size=20_000)  # a skewed score distribution, mean ~0.118
    bands = ScoreBands.from_scores(scores, probability=True)
    base = scores.mean()
    assert bands.derived_from == "base_rate"
    assert bands.n_scores == 20_000
    assert bands.base_rate == pytest.approx(base, abs=1e-4)
    assert bands.thresholds == pytest.approx((2 * base, base), abs=1e-4)
    labels = ("High", "Medium", "Low")
    # The lead: 0.18 with a base rate of 11.7 % is not the lowest band.
    at_018 = ScoreBands.from_scores(np.r_[np.full(883, 0.0), np.full(117, 1.0)], probability=True)
    assert at_018.base_rate == pytest.approx(0.117)
    assert at_018.band(0.18, labels) == "Medium"
    assert at_018.band(0.24, labels) == "High"
    assert at_018.band(0.10, labels) == "Low"
    assert "twice the base rate 11.7%" in at_018.describe()


def test_from_scores_with_a_high_base_rate_keeps_high_reachable() -> None:
    bands = ScoreBands.from_scores(np.r_[np.full(40, 0.2), np.full(60, 0.9)], probability=True)
    base = 0.62
    assert bands.thresholds == pytest.approx(((1 + base) / 2, base))
    assert bands.thresholds[0] < 1
    assert "halfway from the base rate to 1" in bands.describe()


def test_from_scores_of_other_outputs_are_quantiles() -> None:
    values = np.arange(1001, dtype=float)
    bands = ScoreBands.from_scores(values, probability=False)
    assert bands.derived_from == "quantiles"
    assert bands.base_rate is None
    assert bands.thresholds == (800.0, 500.0)
    assert (
        bands.describe()
        == "High from 800.000 (80th percentile), Medium from 500.000 (median), Low below"
    )
    with pytest.raises(ParameterError, match=r"'scores' parameter of ScoreBands\.from_scores"):
        ScoreBands.from_scores([np.nan], probability=True)


def test_fit_derives_bands_from_the_training_scores(
    bank_em: ExplainedModel, split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]
) -> None:
    X_train, X_test, y_train, _ = split
    bands = bank_em.score_bands_
    train_scores = bank_em.predict_proba(X_train)[:, 1]
    assert bands.derived_from == "base_rate"
    assert bands.n_scores == len(X_train)  # all training rows, not the 50 background rows
    assert bands.base_rate == pytest.approx(train_scores.mean(), abs=5e-5)
    # The model is near calibrated: its mean training score is the conversion rate.
    assert abs(bands.base_rate - y_train.mean()) < 0.01
    assert bands.thresholds == pytest.approx(
        (2 * train_scores.mean(), train_scores.mean()), abs=1e-4
    )

    batch = bank_em.explain(X_test.iloc[:3000])
    scores = np.asarray(batch.scores)
    above = scores >= bands.base_rate
    assert above.any()
    assert (~above).any()
    # A lead above the base rate is never in the lowest band, in a batch or one at a time.
    assert "Low" not in {b for b, a in zip(batch.bands, above, strict=True) if a}
    assert {b for b, a in zip(batch.bands, above, strict=True) if not a} == {"Low"}
    expected = [bands.band(s, ("High", "Medium", "Low")) for s in scores]
    assert list(batch.bands) == expected
    for i in np.flatnonzero(above)[:5]:
        one = bank_em.explain_one(X_test.iloc[int(i)])  # the single-lead lane
        assert one.band == batch.bands[i] != "Low"
        assert one.reason.startswith(f"{one.band} (")


def test_user_bands_win(split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]) -> None:
    X, y = make_leads(600, seed=3)
    X = X.select_dtypes("number")
    mine = ScoreBands.high_medium_low(high=0.9, medium=0.8)
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    em = ExplainedModel(model, reasons=ReasonConfig(bands=mine)).fit(X, y)
    assert em.score_bands_ == mine
    batch = em.explain(X)
    assert list(batch.bands) == [mine.band(s, ("High", "Medium", "Low")) for s in batch.scores]
    # Changing the reasons to none falls back to the bands derived at fit, not 0.5 / 0.2.
    em.set_params(reasons=ReasonConfig(max_factors=2))
    assert em.score_bands_.derived_from == "base_rate"
    assert em.score_bands_.base_rate == pytest.approx(
        float(np.mean(em.predict_proba(X)[:, 1])), abs=1e-4
    )


def test_bands_are_kept_through_rebuilds_and_refit(bank_em: ExplainedModel) -> None:
    before = bank_em.score_bands_
    twin = pickle.loads(pickle.dumps(bank_em))  # Spark executors and workers unpickle
    assert twin.score_bands_ == before
    twin.set_params(top_k=2, background=twin.background_.iloc[:10])
    assert twin.score_bands_ == before  # not re-derived from 10 background rows
    refit = clone(bank_em)
    assert not hasattr(refit, "score_bands_")
    X, y = make_leads(500, seed=1)
    X = X.select_dtypes("number")
    refit = ExplainedModel(xgboost.XGBClassifier(n_estimators=10, n_jobs=1)).fit(X, y)
    assert refit.score_bands_.n_scores == 500


def test_regressor_bands_are_training_quantiles() -> None:
    X, _ = make_leads(800, seed=2)
    X = X.select_dtypes("number")
    target = X["pages_viewed"] * 3.0 + X["emails_opened"]
    em = ExplainedModel(LinearRegression()).fit(X, target)
    fitted = em.predict(X)
    assert em.score_bands_.derived_from == "quantiles"
    assert em.score_bands_.thresholds == pytest.approx(
        tuple(np.quantile(fitted, [0.8, 0.5])), abs=1e-4
    )


def test_bands_round_trip_through_save_and_load_and_the_card(
    bank_em: ExplainedModel,
    split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series],
    tmp_path: Path,
) -> None:
    pytest.importorskip("skops")
    _, X_test, _, _ = split
    path = explainscore.save(bank_em, tmp_path / "model")
    loaded = explainscore.load(path)
    assert loaded.score_bands_ == bank_em.score_bands_
    rows = X_test.iloc[:300]
    assert list(loaded.explain(rows).bands) == list(bank_em.explain(rows).bands)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["params"]["score_bands"]["base_rate"] == bank_em.score_bands_.base_rate

    # The model card records the bands, and the owner's signature covers them.
    ana = generate_key("ana")
    card = ModelCard.for_model(loaded, name="leads", intended_use="rank leads", owner_key=ana)
    assert card.score_bands == bank_em.score_bands_
    assert card.owner_signature_valid() is True
    card.save(tmp_path / "card.json")
    again = ModelCard.load(tmp_path / "card.json")
    assert again.score_bands == card.score_bands
    assert again.owner_signature_valid() is True
    wider = card.model_copy(update={"score_bands": ScoreBands.high_medium_low(high=0.9)})
    assert wider.owner_signature_valid() is False
    # A card without bands (written before they existed) signs the same bytes as before.
    assert "score_bands" not in card.model_copy(update={"score_bands": None})._content()

    # A bundle saved before bands were derived keeps the fixed 0.5 / 0.2 it was written with.
    manifest["params"].pop("score_bands")
    (path / "manifest.json").write_text(json.dumps(manifest))
    old = explainscore.load(path)
    assert old.score_bands_.thresholds == (0.5, 0.2)
    assert old.score_bands_.derived_from is None


def test_the_command_line_writes_the_same_bands(
    bank_em: ExplainedModel,
    split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series],
    tmp_path: Path,
) -> None:
    pytest.importorskip("skops")
    _, X_test, _, _ = split
    rows = X_test.iloc[:200]
    rows.to_csv(tmp_path / "leads.csv", index=False)
    model = explainscore.save(bank_em, tmp_path / "model")
    code = main(
        [
            "explain",
            str(model),
            "--input",
            str(tmp_path / "leads.csv"),
            "--output",
            str(tmp_path / "scored.csv"),
            "--allow-unsigned",
        ]
    )
    assert code == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored["band"]) == list(bank_em.explain(rows).bands)
    assert set(scored["band"]) <= {"High", "Medium", "Low"}
    assert "Medium" in set(scored["band"])


def test_the_sidecar_writes_the_same_bands(
    bank_em: ExplainedModel,
    split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series],
    tmp_path: Path,
) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("skops")
    import warnings

    from fastapi.testclient import TestClient

    from explainscore.service import ServiceConfig, create_app

    _, X_test, _, _ = split
    rows = X_test.iloc[:60]
    loaded = explainscore.load(explainscore.save(bank_em, tmp_path / "model"))
    app = create_app({"leads": loaded}, config=ServiceConfig(require_sign_off=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = TestClient(app)
    records = json.loads(rows.to_json(orient="records"))
    body = client.post("/v1/models/leads:explain", json={"instances": records}).json()
    assert [e["band"] for e in body["explanations"]] == list(bank_em.explain(rows).bands)
    one = client.post("/v1/models/leads:explain", json={"instances": records[:1]}).json()
    assert one["explanations"][0]["band"] == bank_em.explain_one(rows.iloc[0]).band


def test_scores_that_are_not_probabilities_get_quantile_bands() -> None:
    # XGBoost's binary:logitraw answers predict_proba with margins (negative here): twice
    # the "base rate" would sit below it.
    from explainscore import ScoreBands

    margins = np.linspace(-3.0, 1.0, 101)
    bands = ScoreBands.from_scores(margins, probability=True)
    assert bands.derived_from == "quantiles"
    assert bands.thresholds == (round(float(np.quantile(margins, 0.8)), 4), -1.0)
