"""The fairness audit keeps the hidden-column promise unless an auditor asks otherwise.

A column hidden by the policy (``Policy(hidden=[...])``, in any spelling the policy matches)
or by the catalog (``show: false``) still counts among the principal reasons of rejected
leads, but by default every output of the audit (the record and its repr, markdown, HTML,
frames, the figure, the CLI report) says "a hidden column", all hidden columns pooled under
that one label. ``show_hidden=True`` (``--show-hidden``) names them, and says so.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import explainscore
from explainscore import Catalog, ExplainedModel, Explanations, Policy
from explainscore.cli import main
from explainscore.exceptions import ParameterError
from explainscore.governance import fairness_audit, proxy_check
from explainscore.governance._fairness_report import FairnessReport

HIDDEN = "a hidden column"
POLICY_HIDDEN = "postcode_risk"  # hidden by the policy; drives most rejections
CATALOG_HIDDEN = "shadow_score"  # hidden by the catalog (show: false)
CYR_O = "\u043e"  # CYRILLIC SMALL LETTER O
ZWSP = "\u200b"  # ZERO WIDTH SPACE
SHOWN_NOTE = "hidden column names shown at the auditor's request"


def _wide(text: str) -> str:
    """``text`` in full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


#: How the policy spells ``postcode_risk``: each resolves to the model's column.
SPELLINGS = {
    "exact": POLICY_HIDDEN,
    "upper": POLICY_HIDDEN.upper(),
    "padded": f"  {POLICY_HIDDEN}\t",
    "full-width": _wide(POLICY_HIDDEN),
    "homoglyph": POLICY_HIDDEN.replace("o", CYR_O),
    "zero-width": POLICY_HIDDEN.replace("_", f"{ZWSP}_"),
}
FORBIDDEN = re.compile(r"postcode|shadow", re.IGNORECASE)
FORBIDDEN_NAMES = [s.strip() for s in SPELLINGS.values()] + [_wide(CATALOG_HIDDEN)]


def _leaks(text: str) -> list[str]:
    return [m.group(0) for m in FORBIDDEN.finditer(text)] + [
        n for n in FORBIDDEN_NAMES if n in text
    ]


def _assert_clean(*texts: Any) -> None:
    for t in texts:
        text = t if isinstance(t, str) else repr(t)
        assert not _leaks(text), (_leaks(text), text[:300])


# --- data and models ---------------------------------------------------------------------------


def _data(n: int = 1500, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Leads whose score is driven mostly by the policy-hidden ``postcode_risk``, which also
    stands in for the audited ``region`` (a proxy)."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south"], n)
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "tenure": rng.integers(0, 20, n).astype(float),
            POLICY_HIDDEN: rng.normal(0, 1, n) + np.where(region == "south", 1.2, 0.0),
            CATALOG_HIDDEN: rng.normal(0, 1, n),
        }
    )
    signal = (
        (X["income"] - 50) / 20
        + X["tenure"] / 20
        - 2.5 * X[POLICY_HIDDEN]
        - 0.8 * X[CATALOG_HIDDEN]
    )
    y = (signal + rng.normal(0, 0.5, n) > -1.0).astype(int).to_numpy()
    sens = pd.DataFrame({"region": region, "age_band": rng.choice(["<30", "30-50", "50+"], n)})
    return X, y, sens


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    return _data()


def _model(X: pd.DataFrame, y: np.ndarray, policy_name: str = POLICY_HIDDEN) -> ExplainedModel:
    return ExplainedModel(
        LogisticRegression(max_iter=2000),
        policy=Policy(version="p1", hidden=(policy_name,)),
        catalog=Catalog.from_mapping({CATALOG_HIDDEN: {"show": False}}),
    ).fit(X, y)


@pytest.fixture(scope="module")
def batch(data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame]) -> Explanations:
    X, y, _ = data
    return _model(X, y).explain(X)


THRESHOLD = 0.5


def _audit(batch: Explanations, sens: pd.DataFrame, X: pd.DataFrame, **kw: Any) -> FairnessReport:
    proxies = proxy_check(X, sens[["region"]], cv=3)
    return fairness_audit(batch, sens, threshold=THRESHOLD, proxy_features=proxies, **kw)


def _figure_texts(report: FairnessReport) -> list[str]:
    """Every text the figure draws: titles, tick labels, cell texts, legend, suptitle."""
    import matplotlib
    from matplotlib.text import Text

    fig = report.plot()
    # The picture itself, with its text kept as text (saving also lays the ticks out).
    svg = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(svg, format="svg")
    texts = [svg.getvalue()]
    texts += [t.get_text() for t in fig.findobj(Text)]
    for ax in fig.axes:
        texts += [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
        texts += [ax.get_title(loc=loc) for loc in ("left", "center", "right")]
        texts += [t.get_text() for t in ax.texts]
        texts += [ax.get_xlabel(), ax.get_ylabel()]
    texts += [t.get_text() for t in fig.texts]
    return texts


def _every_output(report: FairnessReport) -> list[Any]:
    frames = [
        report.to_frame(s).to_csv()
        for s in ("groups", "intersections", "attributes", "rejections", "proxies")
    ]
    return [
        report.to_markdown(),
        report.to_html(),
        repr(report),
        str(report),
        report.model_dump_json(),
        report.model_dump(),
        report.notes,
        *frames,
    ]


def _any_hidden_reason(batch: Explanations, k: int) -> np.ndarray:
    """Rejected-or-not, whether each lead's ``k`` most negative factors hold a hidden one."""
    att = np.asarray(batch.attributions)
    order = np.argsort(att, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(att, order, axis=1)
    secret = [j for j, f in enumerate(batch.feature_names) if f in batch.hidden]
    return np.asarray(((values < 0) & np.isin(order, secret)).any(axis=1), dtype=bool)


# --- the default keeps the promise -------------------------------------------------------------


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_default_report_never_names_a_hidden_column(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations, spelling: str
) -> None:
    X, y, sens = data
    spelt = _model(X, y, SPELLINGS[spelling]).explain(X)
    assert spelt.hidden == frozenset({POLICY_HIDDEN, CATALOG_HIDDEN})
    report = _audit(spelt, sens, X)
    assert report.show_hidden is False
    _assert_clean(*_every_output(report))
    # The factor is there, under the one label.
    assert HIDDEN in report.to_markdown()
    assert HIDDEN in report.to_html()
    # However the policy spells it, the report is the same one (so is its figure, below).
    assert report == _audit(batch, sens, X)


def test_default_figure_never_names_a_hidden_column(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations
) -> None:
    X, _, sens = data
    figure = _figure_texts(_audit(batch, sens, X))
    _assert_clean(*figure)
    # The heatmap's factor axis says "a hidden column", in the picture too (figure[0]).
    assert HIDDEN in figure[0]
    assert any(HIDDEN in t for t in figure[1:])


def test_hidden_columns_count_and_are_pooled(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations
) -> None:
    X, _, sens = data
    report = _audit(batch, sens, X)
    rejected = np.asarray(batch.scores) < THRESHOLD
    any_hidden = _any_hidden_reason(batch, report.top_reasons)
    region = sens["region"].to_numpy()
    for g in report.rejections:
        labels = [r.feature for r in g.reasons]
        # One label for both hidden columns: the report cannot tell them apart.
        assert labels.count(HIDDEN) <= 1
        assert not {POLICY_HIDDEN, CATALOG_HIDDEN} & set(labels)
        if g.attribute == "region":
            mine = rejected & (region == g.group)
            shares = {r.feature: r for r in g.reasons}
            # Counted once per lead when any hidden column is among its principal reasons.
            assert shares[HIDDEN].count == int((mine & any_hidden).sum())
            # The hidden column clearly drives the rejections: it is the first reason.
            assert g.reasons[0].feature == HIDDEN
            assert g.reasons[0].share > 0.5
    # Visible factors are still named.
    assert any(r.feature == "income" for g in report.rejections for r in g.reasons)
    # The hidden proxy (flagged by the proxy check) is reported under the label too.
    assert [p.feature for p in report.proxies if p.attribute == "region"] == [HIDDEN]
    assert report.proxy_report is not None
    assert HIDDEN in report.proxy_report.flagged
    assert sum(c.column == HIDDEN for c in report.proxy_report.columns) == 1
    assert any(HIDDEN in n and "show_hidden=True" in n for n in report.notes)
    assert not any(SHOWN_NOTE in n for n in report.notes)
    # The heatmap's factor axis says "a hidden column", marked as a proxy.
    fig = report.plot(attributes=["region"])
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert f"{HIDDEN} (proxy)" in ticks


def test_show_hidden_names_them_and_says_so(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations
) -> None:
    X, _, sens = data
    report = _audit(batch, sens, X, show_hidden=True)
    assert report.show_hidden is True
    named = {r.feature for g in report.rejections for r in g.reasons}
    assert {POLICY_HIDDEN, CATALOG_HIDDEN} <= named
    assert HIDDEN not in named
    assert POLICY_HIDDEN in {p.feature for p in report.proxies}
    assert any(SHOWN_NOTE in n for n in report.notes)
    for text in (report.to_markdown(), html.unescape(report.to_html())):
        assert POLICY_HIDDEN in text
        assert CATALOG_HIDDEN in text
        assert SHOWN_NOTE in text
    assert any(POLICY_HIDDEN in t for t in _figure_texts(report))
    again = FairnessReport.model_validate_json(report.model_dump_json())
    assert again.show_hidden is True


def test_show_hidden_must_be_a_bool_and_keyword_only(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations
) -> None:
    _, _, sens = data
    for bad in (1, "yes", None):
        with pytest.raises(ParameterError) as info:
            fairness_audit(batch, sens, threshold=0.5, show_hidden=bad)  # type: ignore[arg-type]
        assert str(info.value) == (
            f"The 'show_hidden' parameter of fairness_audit must be a bool. Got {bad!r} instead."
        )
    with pytest.raises(TypeError):
        fairness_audit(batch, sens, 0.5, 0.95, None, 3, True)  # type: ignore[call-arg]


@pytest.mark.parametrize("spelling", ["exact", "upper", "homoglyph", "full-width"])
def test_errors_and_notes_do_not_name_a_hidden_column(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations, spelling: str
) -> None:
    _, _, sens = data
    name = SPELLINGS[spelling].strip()
    # A proxy feature spelt like a hidden column but not a column of the model.
    if name != POLICY_HIDDEN:
        with pytest.raises(ParameterError) as info:
            fairness_audit(batch, sens, threshold=0.5, proxy_features=[name, "nope"])
        _assert_clean(str(info.value))
        assert HIDDEN in str(info.value)
    # A sensitive attribute named like a hidden column: its name and its groups would be
    # the column's; refused without the name unless the auditor asks.
    frame = sens.rename(columns={"region": name})
    with pytest.raises(ParameterError) as info:
        fairness_audit(batch, frame, threshold=0.5)
    _assert_clean(str(info.value))
    assert "show_hidden=True" in str(info.value)
    shown = fairness_audit(batch, frame, threshold=0.5, show_hidden=True)
    assert name in {a.attribute for a in shown.attributes}


def test_hidden_proxy_given_by_name_is_pooled(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations
) -> None:
    _, _, sens = data
    report = fairness_audit(
        batch,
        sens,
        threshold=THRESHOLD,
        proxy_features=[POLICY_HIDDEN, CATALOG_HIDDEN, "income"],
    )
    features = [p.feature for p in report.proxies if p.attribute == "region"]
    assert features == ["income", HIDDEN]
    _assert_clean(*_every_output(report))


def test_scores_only_audit_is_unchanged(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], batch: Explanations
) -> None:
    _, _, sens = data
    scores = np.asarray(batch.scores)
    a = fairness_audit(scores, sens, threshold=THRESHOLD)
    b = fairness_audit(scores, sens, threshold=THRESHOLD, show_hidden=True)
    assert a.groups == b.groups
    assert a.notes == b.notes


# --- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], tmp_path_factory: Any
) -> tuple[Path, Path]:
    X, y, sens = data
    path = tmp_path_factory.mktemp("fairness_hidden") / "model"
    explainscore.save(_model(X, y, SPELLINGS["homoglyph"]), path)
    src = path.parent / "leads.csv"
    X.iloc[:600].assign(region=sens["region"].iloc[:600].to_numpy()).to_csv(src, index=False)
    return path, src


@pytest.fixture
def _switch_released(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLAINSCORE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("EXPLAINSCORE_KILL_SWITCH_FILE", raising=False)


@pytest.mark.usefixtures("_switch_released")
@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_cli_report_never_names_a_hidden_column(
    saved: tuple[Path, Path], tmp_path: Path, capsys: Any, suffix: str
) -> None:
    model, src = saved
    out = tmp_path / f"fairness{suffix}"
    base = ["fairness", str(model), "--input", str(src), "--sensitive", "region",
            "--threshold", str(THRESHOLD), "--allow-unsigned"]  # fmt: skip
    assert main([*base, "--output", str(out)]) == 0
    captured = capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    _assert_clean(text, captured.out, captured.err)
    assert HIDDEN in text
    assert SHOWN_NOTE not in text

    shown = tmp_path / f"shown{suffix}"
    assert main([*base, "--output", str(shown), "--show-hidden"]) == 0
    capsys.readouterr()
    named = html.unescape(shown.read_text(encoding="utf-8"))
    assert POLICY_HIDDEN in named
    assert CATALOG_HIDDEN in named
    assert SHOWN_NOTE in named


def test_cli_help_offers_show_hidden_to_auditors(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["fairness", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--show-hidden" in help_text
    assert "for auditors" in help_text
