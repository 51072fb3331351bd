"""Renderings of a fairness report: markdown, HTML, frames and the figure."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainscore import ExplainedModel
from explainscore.datasets import make_leads
from explainscore.exceptions import ParameterError
from explainscore.governance._fairness import fairness_audit
from explainscore.governance._fairness_report import FairnessReport

NASTY = "<b>x&y</b>"


@pytest.fixture(scope="module")
def report() -> FairnessReport:
    X, y = make_leads(800, seed=3)
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    X_num = X[numeric].astype(np.float64)
    ex = ExplainedModel(LogisticRegression(max_iter=1000)).fit(X_num, y).explain(X_num)
    # Group names with HTML characters and a table separator, to check the escaping.
    industry = X["industry"].replace({"software": NASTY, "finance": "a|b"})
    sens = pd.DataFrame({"industry": industry.to_numpy(), "source": X["lead_source"].to_numpy()})
    return fairness_audit(ex, sens, threshold=0.2, proxy_features=["pages_viewed"])


def test_markdown_holds_the_numbers_and_escapes_names(report: FairnessReport) -> None:
    text = report.to_markdown()
    for section in (
        "Summary by attribute",
        "Selection by group",
        "Selection by intersection",
        "Rejected leads",
        "Proxy features",
        "Notes",
    ):
        assert section in text
    g = report.groups[0]
    assert f"| {g.n} | {g.selected} | {100 * g.selection_rate:.1f}% |" in text
    assert f"{g.impact_ratio:.3f}" in text
    assert NASTY not in text
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;" in text
    assert "a\\|b" in text
    top = report.rejections[0].reasons[0]
    assert f"{top.feature} ({100 * top.share:.1f}%)" in text


def test_html_is_self_contained_and_escaped(report: FairnessReport) -> None:
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert NASTY not in page
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;" in page
    for external in ("<script", "<link", "src=", "http://", "https://"):
        assert external not in page
    g = report.groups[-1]
    assert f"<td>{g.n}</td><td>{g.selected}</td><td>{100 * g.selection_rate:.1f}%</td>" in page
    assert page.count("<table>") == page.count("</table>") >= 5


def test_frames(report: FairnessReport) -> None:
    groups = report.to_frame()
    assert len(groups) == len(report.groups)
    assert {
        "attribute",
        "group",
        "n",
        "selection_rate",
        "impact_ratio",
        "ratio_ci_low",
        "four_fifths_flag",
    } <= set(groups.columns)
    assert groups["n"].tolist() == [g.n for g in report.groups]
    assert len(report.to_frame("intersections")) == len(report.intersections)
    rej = report.to_frame("rejections")
    assert len(rej) == sum(len(g.reasons) for g in report.rejections)
    proxies = report.to_frame("proxies")
    assert set(proxies["feature"]) == {"pages_viewed"}
    assert len(report.to_frame("attributes")) == 3
    with pytest.raises(ParameterError, match="'section' parameter"):
        report.to_frame("everything")


def test_plot_returns_a_figure(report: FairnessReport) -> None:
    from matplotlib.figure import Figure

    fig = report.plot()
    assert isinstance(fig, Figure)
    # Two panels per single attribute, plus the heatmaps' colour bars.
    assert len(fig.axes) >= 4
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert any("selection rate by group" in t for t in titles)
    assert any("top negative factors" in t for t in titles)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    one = report.plot(attributes=["industry & source"], top=2)
    assert len(one.axes) >= 2
    with pytest.raises(ParameterError, match="'attributes' parameter"):
        report.plot(attributes=["nope"])
    with pytest.raises(ParameterError, match="'top' parameter"):
        report.plot(top=0)


def test_plot_of_scores_only_and_empty_groups() -> None:
    groups = pd.Series(pd.Categorical(["a", "b"] * 5, categories=["a", "b", "c"]), name="g")
    report = fairness_audit(np.linspace(0, 1, 10), groups, threshold=0.5)
    fig = report.plot()
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    assert math.isnan(report.groups[2].selection_rate)


def test_matplotlib_is_not_imported_by_the_audit() -> None:
    code = (
        "import sys, numpy as np\n"
        "from explainscore.governance._fairness import fairness_audit\n"
        "r = fairness_audit(np.array([0.2, 0.8]), ['a', 'b'], threshold=0.5)\n"
        "r.to_markdown(); r.to_html()\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
