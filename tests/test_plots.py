"""Pictures: what they draw equals the record, in the reason's words, in points, never naming
a hidden column; the HTML card says everything once; reprs are short."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from explainscore import ExplainedModel
from explainscore import _palette as pal
from explainscore._demo import build_pipeline
from explainscore._plot_lead import OTHERS, factor_phrase, lead_walk
from explainscore.datasets import load_bank_catalog
from explainscore.exceptions import ParameterError
from explainscore.plots import plot_dependence, plot_lead, plot_summary

HIDDEN_RAW = "age"


@pytest.fixture(scope="module")
def batch(bank):
    X, y = bank
    catalog = load_bank_catalog().model_dump()
    catalog["features"][HIDDEN_RAW]["show"] = False  # a column reps never see
    em = ExplainedModel(build_pipeline(X, n_estimators=40), catalog=catalog).fit(X, y)
    # Every 13th lead: the file is sorted by date, so its first rows share one month.
    return em.explain(X.iloc[::13])


@pytest.fixture(scope="module")
def hidden_display():
    return load_bank_catalog().entry(HIDDEN_RAW).display_name["en"]


def _texts(fig) -> list[str]:
    """Every piece of text a figure shows: titles, labels, ticks, annotations, legends."""
    out = [t.get_text() for t in fig.texts]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [ax.get_title(loc=w) for w in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        out += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
            out.append(legend.get_title().get_text())
    return [t for t in out if t]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def _assert_no_hidden(texts, hidden_display) -> None:
    for t in texts:
        assert hidden_display not in t
        assert not re.search(rf"\b{HIDDEN_RAW}\b", t, flags=re.IGNORECASE), t


def test_walk_adds_up_to_score_minus_start_and_follows_the_reason(batch) -> None:
    assert batch.output_space == "log_odds"
    for rec in batch:
        walk = lead_walk(rec)
        start = 100 * _sigmoid(rec.base_value)
        assert walk.start == pytest.approx(start, abs=1e-9)
        assert walk.end == pytest.approx(100 * rec.score, abs=1e-9)
        assert abs(walk.start + sum(walk.steps) - 100 * rec.score) <= 1e-9
        codes = rec.reason_codes
        assert walk.features[: len(codes)] == tuple(c.feature for c in codes)
        assert walk.labels[: len(codes)] == tuple(factor_phrase(c) for c in codes)
        assert walk.labels[len(codes) :] in ((OTHERS,), ())
        # Each step keeps its factor's sign and its share of the move.
        total = sum(a.contribution for a in rec.attributions) + rec.other_contribution
        ratio = (100 * rec.score - start) / total
        for step, code in zip(walk.steps, codes, strict=False):
            assert step == pytest.approx(code.contribution * ratio, rel=1e-12, abs=1e-12)
            assert np.sign(step) == np.sign(code.contribution)


def test_factor_phrase_is_the_reasons_own_words(batch) -> None:
    for rec in batch:
        for code in rec.reason_codes:
            phrase = factor_phrase(code)
            assert phrase != code.text
            assert phrase in rec.reason
            assert "score" not in phrase  # the direction clause is gone
    # Values as the reason writes them: a currency and a month name, never 'aug' or '3115'.
    phrases = [factor_phrase(c) for rec in batch for c in rec.reason_codes]
    balance = [p for rec in batch for c, p in zip(rec.reason_codes, map(factor_phrase,
               rec.reason_codes), strict=True) if c.feature == "balance"]  # fmt: skip
    assert balance
    assert all(re.search(r"\d EUR$", p) for p in balance)
    months = {"January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"}  # fmt: skip
    assert any(any(m in p for m in months) for p in phrases)
    assert not any(re.search(r"\b(jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)\b", p)
                   for p in phrases)  # fmt: skip


def test_lead_chart_draws_the_walk_in_points(batch, hidden_display, tmp_path) -> None:
    rec = max(batch, key=lambda r: r.score)
    walk = lead_walk(rec)
    fig = plot_lead(rec)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["Typical lead", *walk.labels, "This lead's score"]
    steps = list(ax.patches[: len(walk.steps)])
    assert [p.get_width() for p in steps] == pytest.approx(list(walk.steps), abs=1e-12)
    texts = [t.get_text() for t in ax.texts]
    for step in walk.steps:
        assert walk.units.text(step) in texts
    assert all(re.fullmatch(r"[+-]?\d[\d,.]* pts", t) for t in texts if "pts" in t and "%" not in t)
    assert "percentage points" in ax.get_xlabel()
    xticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text() not in ("", "0")]
    assert xticks
    assert all(t.endswith(" pts") for t in xticks)
    assert ax.get_title(loc="left").startswith(f"{rec.band} ({rec.score:.2f})")
    _assert_no_hidden(_texts(fig), hidden_display)
    fig.savefig(tmp_path / "lead.png")
    assert (tmp_path / "lead.png").stat().st_size > 5_000


def test_lead_chart_in_log_odds_is_labelled_for_data_scientists(batch) -> None:
    rec = batch[3]
    walk = lead_walk(rec, space="log_odds")
    assert walk.steps[: len(rec.reason_codes)] == tuple(c.contribution for c in rec.reason_codes)
    assert walk.start + sum(walk.steps) == pytest.approx(rec.output, abs=1e-6)
    ax = plot_lead(rec, space="log_odds").axes[0]
    assert "log-odds" in ax.get_xlabel()
    assert "data scientists" in ax.get_xlabel()


def test_space_is_validated(batch) -> None:
    with pytest.raises(ParameterError, match="'space' parameter of plot_lead"):
        plot_lead(batch[0], space="odds")
    with pytest.raises(ParameterError, match="'space' parameter of plot_summary"):
        plot_summary(batch, space="points")


def test_summary_names_columns_and_colours_dots_by_value(batch, hidden_display) -> None:
    fig = batch.plot_summary()
    texts = _texts(fig)
    shown = [d for f, d in zip(batch.feature_names, batch.display_names, strict=True)
             if f not in batch.hidden]  # fmt: skip
    assert "Average yearly balance" in texts
    assert "Contact channel" in texts
    ticks = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert ticks
    assert set(ticks) <= set(shown)
    _assert_no_hidden(texts, hidden_display)
    # A numeric factor's dots carry the leads' values (low..high), not the sign of the effect.
    swarm = fig.axes[1]
    coloured = [c for c in swarm.collections if c.get_array() is not None]
    assert coloured
    assert any(np.ptp(np.asarray(c.get_array())) > 0.5 for c in coloured)
    # Bands in the one palette.
    hist = fig.axes[2]
    handles = hist.get_legend().legend_handles
    labels = [t.get_text().split(" (")[0] for t in hist.get_legend().get_texts()]
    from matplotlib.colors import to_hex

    for label, handle in zip(labels, handles, strict=True):
        assert to_hex(handle.get_facecolor()) == pal.band_color(label)


def test_dependence_by_raw_or_catalog_name_never_hidden(batch, hidden_display) -> None:
    for feature in ("balance", "Month of last contact", "contact"):
        fig = plot_dependence(batch, feature)
        texts = _texts(fig)
        _assert_no_hidden(texts, hidden_display)
        assert any(t.endswith(" pts") for t in texts)
    month = _texts(batch.plot_dependence("month"))
    assert any(t.startswith("August (") for t in month)
    balance = [t for t in _texts(plot_dependence(batch, "balance")) if "EUR" in t]
    assert balance
    for name in (HIDDEN_RAW, hidden_display):
        with pytest.raises(ParameterError) as err:
            plot_dependence(batch, name)
        assert name not in str(err.value)
        assert "a hidden column" in str(err.value)


def test_band_palette_is_one_ramp() -> None:
    assert pal.band_color("High") == pal.band_color("Hoch") == pal.BAND_RAMP[0]
    assert pal.band_color("Low") == pal.BAND_RAMP[-1]
    assert pal.band_color("A") == pal.BAND_RAMP[0]
    assert pal.band_color("Custom") == pal.NEUTRAL
    assert list(pal.band_colors(["x", "y"]).values()) == [pal.BAND_RAMP[0], pal.BAND_RAMP[-1]]


def test_html_card_says_everything_once(batch, hidden_display) -> None:
    rec = batch[1]
    card = rec.to_html()
    assert card.startswith("<!doctype html>")
    assert "data:image/png;base64," in card
    assert "<script" not in card.lower()
    assert not re.search(r"(src|href)=['\"]https?:", card)
    assert card.count("<h2>") == 1
    assert rec.reason not in card  # the factors are listed once, not also as a paragraph
    for code in rec.reason_codes:
        assert card.count(code.text) == 1
        assert code.code in card
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", card)  # the PNG's bytes are no text
    assert hidden_display not in text
    assert not re.search(rf"\b{HIDDEN_RAW}\b", text, flags=re.IGNORECASE)


def test_fairness_heatmap_uses_catalog_names(batch, bank, hidden_display) -> None:
    from explainscore.governance import fairness_audit

    X, _ = bank
    sensitive = X.iloc[::13][["marital"]]
    fig = fairness_audit(batch, sensitive, threshold=0.2).plot()
    texts = _texts(fig)
    heat = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert heat
    assert all(
        t in batch.display_names or t == "a hidden column"
        for t in (h.removesuffix(" (proxy)") for h in heat)
    )
    _assert_no_hidden(texts, hidden_display)


def test_reprs_are_short_and_never_name_hidden_columns(batch, hidden_display) -> None:
    text = repr(batch)
    assert len(text) < 200
    assert f"n={len(batch)}" in text
    assert "rejected=0" in text
    rec = batch[0]
    for shown in (repr(rec), str(rec)):
        assert len(shown) < 300
        assert "\n" not in shown
        assert f"score={rec.score:.3f}" in shown
        assert repr(rec.band) in shown
        assert rec.attributions[0].display_name in shown
        assert hidden_display not in shown
        assert HIDDEN_RAW not in shown


def test_import_explainscore_does_not_import_matplotlib_or_shap() -> None:
    code = "import sys, explainscore; print('matplotlib' in sys.modules, 'shap' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_probability_and_regression_explanations(leads_numeric) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression

    X, y = leads_numeric
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)
    em = ExplainedModel(forest).fit(X, y)
    batch = em.explain(X.iloc[:40])
    assert batch.output_space == "probability"
    for rec in batch:
        walk = lead_walk(rec)  # points are the values x 100: nothing to convert
        codes = rec.reason_codes
        assert walk.steps[: len(codes)] == pytest.approx([100 * c.contribution for c in codes])
        assert walk.start == pytest.approx(100 * rec.base_value)
        assert walk.start + sum(walk.steps) == pytest.approx(100 * rec.score, abs=1e-6)
    with pytest.raises(ParameterError, match="log-odds pictures need"):
        plot_lead(batch[0], space="log_odds")

    reg = ExplainedModel(LinearRegression()).fit(X, y.astype(float))
    rb = reg.explain(X.iloc[:20])
    rec = rb[0]
    walk = lead_walk(rec)
    assert walk.units.key == "model"
    assert walk.start + sum(walk.steps) == pytest.approx(rec.output, abs=1e-6)
    assert "own units" in plot_lead(rec).axes[0].get_xlabel()
    assert "own units" in plot_summary(rb).axes[1].get_xlabel()
    with pytest.raises(ParameterError, match="has no probability"):
        plot_lead(rec, space="probability")


def test_cancelled_factors_use_the_sigmoid_slope() -> None:
    from explainscore._plot_units import resolve_units, to_units

    units = resolve_units("log_odds", "auto", "test")
    values = np.array([[0.7, -0.7], [1.0, 0.5]])
    base = np.array([-1.0, -1.0])
    scores = _sigmoid(base + values.sum(axis=1))
    steps, start, end = to_units(values, base, scores, "log_odds", units)
    p0 = _sigmoid(-1.0)
    # Row 0 sums to 0 log-odds: each factor is priced at the slope p0 (1 - p0).
    np.testing.assert_allclose(steps[0], 100 * p0 * (1 - p0) * values[0])
    assert start[0] + steps[0].sum() == pytest.approx(end[0])
    # Row 1: the secant of the sigmoid between the start and the score.
    ratio = 100 * (scores[1] - p0) / 1.5
    np.testing.assert_allclose(steps[1], ratio * values[1])
    assert start[1] + steps[1].sum() == pytest.approx(100 * scores[1], abs=1e-12)


def test_german_reasons_give_german_labels(bank) -> None:
    from explainscore.reasons import ReasonConfig

    X, y = bank
    em = ExplainedModel(
        build_pipeline(X, n_estimators=10),
        catalog=load_bank_catalog(),
        reasons=ReasonConfig(locale="de"),
    ).fit(X, y)
    batch = em.explain(X.iloc[::100])
    for rec in batch:
        walk = lead_walk(rec)
        for code, label in zip(rec.reason_codes, walk.labels, strict=False):
            assert label in code.text
            assert "Score" not in label
            assert code.text.endswith(("erhöht", "senkt"))
