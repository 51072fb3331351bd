"""Pictures: the lead chart, the summary and the HTML card render and say what they show."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")

from explainscore import ExplainedModel
from explainscore._demo import build_pipeline
from explainscore.datasets import load_bank_catalog


@pytest.fixture(scope="module")
def batch(bank):
    X, y = bank
    em = ExplainedModel(build_pipeline(X, n_estimators=40), catalog=load_bank_catalog()).fit(X, y)
    return em.explain(X.iloc[:300])


def test_lead_chart_labels_direction_and_space(batch, tmp_path) -> None:
    rec = batch[0]
    fig = rec.plot()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith(("raises", "lowers")) for t in texts)
    assert "log-odds" in ax.get_xlabel()
    assert ax.get_title(loc="left").startswith(rec.band)
    fig.savefig(tmp_path / "lead.png")
    assert (tmp_path / "lead.png").stat().st_size > 5_000


def test_summary_figure(batch, tmp_path) -> None:
    fig = batch.plot_summary()
    assert len(fig.axes) >= 3
    fig.savefig(tmp_path / "summary.png")
    assert (tmp_path / "summary.png").stat().st_size > 10_000


def test_html_card_is_self_contained_and_escaped(batch) -> None:
    card = batch[1].to_html()
    assert card.startswith("<!doctype html>")
    assert "data:image/png;base64," in card
    assert "<script" not in card.lower()
    assert not re.search(r"(src|href)=['\"]https?:", card)
    assert batch[1].reason_codes[0].code in card


def test_import_explainscore_does_not_import_matplotlib() -> None:
    code = "import sys, explainscore; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
