"""The records of a fairness audit and of a proxy check, and their renderings.

The records are frozen pydantic models so that a report can be stored next to the model
it audits (``report.model_dump_json()``) and compared run to run. Numbers that cannot be
computed (an empty group, a ratio against a rate of zero) are NaN, never an exception, and
the report's ``notes`` say why.

Renderings (markdown, HTML, a frame, a figure) only read the records: every number they
show is a field of the report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .._params import check_choice, check_int, param_error

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "AttributeSummary",
    "FairnessReport",
    "GroupRate",
    "GroupRejections",
    "ProxyColumn",
    "ProxyDriver",
    "ProxyReport",
    "ReasonShare",
]

# Strings for NaN and inf keep the JSON strict (no bare NaN) and let it round-trip.
_FROZEN = ConfigDict(frozen=True, ser_json_inf_nan="strings")
_SECTIONS = ("groups", "intersections", "attributes", "rejections", "proxies")


# --- records ---------------------------------------------------------------------------------


class GroupRate(BaseModel):
    """Selection of one group (one level of an attribute, or one cell of an intersection)."""

    model_config = _FROZEN

    attribute: str = Field(description="The attribute, or 'a & b' for an intersection.")
    group: str = Field(description="The group's label, or 'x & y' for an intersection cell.")
    levels: dict[str, str] = Field(description="Attribute -> level defining the group.")
    n: int = Field(description="Leads in the group (unknown labels excluded).")
    selected: int = Field(description="Leads of the group with score >= threshold.")
    selection_rate: float = Field(description="selected / n; NaN for an empty group.")
    rate_ci_low: float = Field(description="Wilson interval for the selection rate.")
    rate_ci_high: float
    impact_ratio: float = Field(
        description="selection_rate / the reference group's rate; NaN when undefined."
    )
    ratio_ci_low: float = Field(description="Katz log interval for the impact ratio.")
    ratio_ci_high: float
    reference: bool = Field(description="True for the group with the highest rate.")
    four_fifths_flag: bool | None = Field(
        description="impact_ratio < 0.8; None when the ratio is undefined."
    )
    ci_below_four_fifths: bool | None = Field(
        description="The whole interval lies below 0.8: the shortfall is not plausibly "
        "sampling noise. None when the interval is undefined."
    )


class AttributeSummary(BaseModel):
    """One attribute (or the intersection of all attributes) at a glance."""

    model_config = _FROZEN

    attribute: str
    n_known: int = Field(description="Leads with a known label.")
    n_unknown: int = Field(
        description="Leads whose label is NaN, None or 'unknown': counted here, excluded "
        "from every rate and ratio of this attribute."
    )
    n_groups: int
    n_empty_groups: int
    reference_group: str | None = Field(description="The group with the highest rate.")
    reference_rate: float
    min_impact_ratio: float
    flagged_groups: tuple[str, ...] = Field(description="Groups with impact ratio < 0.8.")


class ReasonShare(BaseModel):
    """How often one feature is among the principal reasons of a group's rejected leads."""

    model_config = _FROZEN

    feature: str
    count: int = Field(description="Rejected leads of the group with this principal reason.")
    share: float = Field(description="count / the group's rejected leads.")


class GroupRejections(BaseModel):
    """The principal reasons of one group's rejected leads (score < threshold)."""

    model_config = _FROZEN

    attribute: str
    group: str
    levels: dict[str, str]
    n_rejected: int
    no_negative_factor: int = Field(
        description="Rejected leads with no feature pushing the score down (the base value "
        "itself is below the threshold): they have no principal reason."
    )
    reasons: tuple[ReasonShare, ...] = Field(
        description="Every feature named at least once, most frequent first."
    )


class ProxyDriver(BaseModel):
    """Whether a proxy feature drives rejections more for some groups of an attribute."""

    model_config = _FROZEN

    feature: str
    attribute: str
    counts: dict[str, int] = Field(
        description="Group -> rejected leads whose principal reasons include the feature."
    )
    shares: dict[str, float] = Field(
        description="Group -> counts / rejected leads of the group (NaN with none rejected)."
    )
    highest_group: str | None
    lowest_group: str | None
    ratio: float = Field(
        description="Highest share / lowest share among the groups with at least "
        "`min_rejected` rejected leads; inf when the lowest is 0, NaN when fewer than two "
        "groups qualify or none of them names the feature."
    )
    min_rejected: int = Field(
        description="Rejected leads a group needs to enter the ratio: a share of a handful "
        "of leads would decide the ratio by chance."
    )


class ProxyColumn(BaseModel):
    """How well one model input predicts one sensitive attribute."""

    model_config = _FROZEN

    column: str
    attribute: str
    kind: Literal["numeric", "categorical"]
    method: Literal["auc", "mutual_info"]
    score: float = Field(
        description="Cross-validated AUC (one-vs-rest macro for several classes) or "
        "normalized mutual information; NaN when it cannot be computed."
    )
    flagged: bool = Field(description="score > threshold.")


class ProxyReport(BaseModel):
    """The result of :func:`~explainscore.governance._proxy.proxy_check`."""

    model_config = _FROZEN

    method: Literal["auc", "mutual_info"]
    threshold: float
    cv: int
    random_state: int
    n_rows: int
    columns: tuple[ProxyColumn, ...]
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> list[str]:
        """The model inputs flagged for at least one attribute, in column order."""
        seen: dict[str, None] = {}
        for c in self.columns:
            if c.flagged:
                seen.setdefault(c.column, None)
        return list(seen)

    def to_frame(self) -> pd.DataFrame:
        """One row per (column, attribute) pair."""
        cols = ["column", "attribute", "kind", "method", "score", "flagged"]
        return pd.DataFrame([c.model_dump() for c in self.columns], columns=cols)

    def to_markdown(self) -> str:
        """The proxy check as a markdown table (names escaped)."""
        if self.method == "auc":
            label = "AUC"
            how = (
                f"cross-validated AUC ({self.cv} folds, seed {self.random_state}) of a "
                "one-column classifier"
            )
        else:
            label = "normalized MI"
            how = "normalized mutual information with the attribute"
        lines = [
            f"Proxy check: {how}, for each model input and sensitive attribute; flagged "
            f"above {self.threshold:g}.",
            "",
        ]
        lines += _md_table(
            ["Column", "Attribute", "Kind", label, "Flagged"],
            [
                [c.column, c.attribute, c.kind, _num(c.score, 3), _yes(c.flagged)]
                for c in self.columns
            ],
        )
        lines += [f"- {_md(n)}" for n in self.notes]
        return "\n".join(lines) + "\n"


class FairnessReport(BaseModel):
    """The result of :func:`~explainscore.governance._fairness.fairness_audit`.

    Attributes
    ----------
    groups : tuple of GroupRate
        One row per level of each sensitive attribute.
    intersections : tuple of GroupRate
        One row per cell of the intersection of all attributes (empty when there is one
        attribute). Cells with no leads are kept, with NaN rates.
    attributes : tuple of AttributeSummary
        Per attribute (and for the intersection): unknown count, reference group, flags.
    rejections : tuple of GroupRejections
        Principal reasons of the rejected leads, per group and per intersection cell.
    proxies : tuple of ProxyDriver
        Per proxy feature and attribute: does it drive rejections more for one group.
    proxy_report : ProxyReport or None
        The proxy check passed as ``proxy_features``, if any.
    notes : tuple of str
        Everything the numbers alone do not say: empty groups, unknown labels, sections
        that could not be computed.
    show_hidden : bool
        Whether columns hidden from reps are named (``fairness_audit(...,
        show_hidden=True)``, for auditors). By default every hidden column is reported under
        one label, "a hidden column", in every section, rendering and figure.
    """

    model_config = _FROZEN

    threshold: float
    confidence: float
    top_reasons: int
    n_leads: int
    n_selected: int
    interval_method: str = Field(description="How the intervals are computed.")
    attributes: tuple[AttributeSummary, ...]
    groups: tuple[GroupRate, ...]
    intersections: tuple[GroupRate, ...]
    rejections: tuple[GroupRejections, ...]
    proxies: tuple[ProxyDriver, ...]
    proxy_report: ProxyReport | None = None
    notes: tuple[str, ...]
    show_hidden: bool = Field(
        default=False,
        description="Hidden columns are named (at an auditor's request); by default they "
        "are all reported as 'a hidden column'.",
    )
    feature_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Business (catalog) name of each column named in the report, for the "
        "figure; hidden columns are not in it.",
    )

    # --- frames --------------------------------------------------------------------------

    def to_frame(self, section: str = "groups") -> pd.DataFrame:
        """One section of the report as a frame.

        Parameters
        ----------
        section : {"groups", "intersections", "attributes", "rejections", "proxies"}
            ``"groups"`` and ``"intersections"``: one row per group with every rate, ratio
            and interval. ``"rejections"``: one row per (group, feature) with the count and
            share of rejected leads naming it. ``"proxies"``: one row per (feature,
            attribute, group) with the share of rejected leads naming the proxy feature.

        Returns
        -------
        DataFrame
        """
        check_choice(section, "section", "FairnessReport.to_frame", _SECTIONS)
        if section in ("groups", "intersections"):
            rows = self.groups if section == "groups" else self.intersections
            cols = [f for f in GroupRate.model_fields if f != "levels"]
            return pd.DataFrame([r.model_dump(exclude={"levels"}) for r in rows], columns=cols)
        if section == "attributes":
            cols = list(AttributeSummary.model_fields)
            return pd.DataFrame([a.model_dump() for a in self.attributes], columns=cols)
        if section == "rejections":
            cols = ["attribute", "group", "n_rejected", "feature", "count", "share"]
            return pd.DataFrame(
                [
                    [g.attribute, g.group, g.n_rejected, r.feature, r.count, r.share]
                    for g in self.rejections
                    for r in g.reasons
                ],
                columns=cols,
            )
        cols = ["feature", "attribute", "group", "count", "share", "ratio"]
        return pd.DataFrame(
            [
                [p.feature, p.attribute, g, p.counts[g], p.shares[g], p.ratio]
                for p in self.proxies
                for g in p.shares
            ],
            columns=cols,
        )

    # --- markdown ------------------------------------------------------------------------

    def to_markdown(self) -> str:
        """The report as markdown: summary, rates and ratios, rejected leads, proxies, notes.

        Group and feature names are HTML-escaped (markdown renders raw HTML) and ``|`` is
        escaped so that a name cannot break a table.
        """
        out: list[str] = ["# Fairness audit", ""]
        out += [
            f"- Leads: {self.n_leads}; selected (score >= {self.threshold:g}): "
            f"{self.n_selected} ({_pct(_ratio(self.n_selected, self.n_leads))})",
            f"- Intervals: {_md(self.interval_method)}",
            "- Four-fifths rule: a group is flagged when its selection rate is below 0.8 "
            "times the highest group's rate. It is a screening heuristic, not a legal test.",
            *([f"- {_SHOWN}"] if self.show_hidden else []),
            "",
            "## Summary by attribute",
            "",
        ]
        out += _md_table(_SUMMARY_HEAD, [_summary_cells(a) for a in self.attributes])
        for title, rows in (
            ("Selection by group", self.groups),
            ("Selection by intersection", self.intersections),
        ):
            if not rows:
                continue
            out += ["", f"## {title}", ""]
            out += _md_table(_RATE_HEAD, [_rate_cells(r) for r in rows])
        out += ["", "## Rejected leads: principal reasons", ""]
        if self.rejections:
            out += [
                f"Share of each group's rejected leads (score < {self.threshold:g}) whose "
                f"{self.top_reasons} strongest negative factors include the feature.",
                "",
            ]
            out += _md_table(_REJ_HEAD, [_rejection_cells(g) for g in self.rejections])
        else:
            out.append("Not computed (see notes).")
        out += ["", "## Proxy features among the reasons for rejection", ""]
        if self.proxies:
            out += _md_table(_PROXY_HEAD, [_proxy_cells(p) for p in self.proxies])
        else:
            out.append("No proxy feature was given or none could be assessed.")
        if self.proxy_report is not None:
            out += ["", self.proxy_report.to_markdown().rstrip("\n")]
        out += ["", "## Notes", ""]
        out += [f"- {_md(n)}" for n in self.notes] or ["- None."]
        return "\n".join(out) + "\n"

    # --- html ----------------------------------------------------------------------------

    def to_html(self) -> str:
        """The report as one self-contained HTML page (inline style, every name escaped)."""
        e = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><title>Fairness audit</title>',
            f"<style>{_CSS}</style></head><body>",
            "<h1>Fairness audit</h1>",
            "<ul>",
            f"<li>Leads: {self.n_leads}; selected (score &gt;= {self.threshold:g}): "
            f"{self.n_selected} ({_pct(_ratio(self.n_selected, self.n_leads))})</li>",
            f"<li>Intervals: {e(self.interval_method)}</li>",
            "<li>Four-fifths rule: a group is flagged when its selection rate is below 0.8 "
            "times the highest group's rate. It is a screening heuristic, not a legal "
            "test.</li>",
            *([f"<li>{e(_SHOWN)}</li>"] if self.show_hidden else []),
            "</ul>",
            "<h2>Summary by attribute</h2>",
            _html_table(_SUMMARY_HEAD, [_summary_cells(a) for a in self.attributes]),
        ]
        for title, rows in (
            ("Selection by group", self.groups),
            ("Selection by intersection", self.intersections),
        ):
            if rows:
                parts += [
                    f"<h2>{title}</h2>",
                    _html_table(
                        _RATE_HEAD,
                        [_rate_cells(r) for r in rows],
                        flagged=[bool(r.four_fifths_flag) for r in rows],
                    ),
                ]
        parts.append("<h2>Rejected leads: principal reasons</h2>")
        if self.rejections:
            parts += [
                f"<p>Share of each group's rejected leads (score &lt; {self.threshold:g}) "
                f"whose {self.top_reasons} strongest negative factors include the "
                "feature.</p>",
                _html_table(_REJ_HEAD, [_rejection_cells(g) for g in self.rejections]),
            ]
        else:
            parts.append("<p>Not computed (see notes).</p>")
        parts.append("<h2>Proxy features among the reasons for rejection</h2>")
        if self.proxies:
            parts.append(_html_table(_PROXY_HEAD, [_proxy_cells(p) for p in self.proxies]))
        else:
            parts.append("<p>No proxy feature was given or none could be assessed.</p>")
        if self.proxy_report is not None:
            pr = self.proxy_report
            parts += [
                "<h2>Proxy check</h2>",
                _html_table(
                    ["Column", "Attribute", "Kind", pr.method, "Flagged"],
                    [
                        [c.column, c.attribute, c.kind, _num(c.score, 3), _yes(c.flagged)]
                        for c in pr.columns
                    ],
                ),
            ]
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{e(n)}</li>" for n in self.notes] or ["<li>None.</li>"]
        parts.append("</ul></body></html>")
        return "\n".join(parts) + "\n"

    # --- figure --------------------------------------------------------------------------

    def plot(self, *, attributes: Sequence[str] | None = None, top: int = 5) -> Figure:
        """Selection rate by group with the four-fifths line, and top reasons for rejection.

        One row of two panels per attribute: on the left each group's selection rate with
        its interval, the reference group's rate and the four-fifths line (0.8 x that rate),
        flagged groups in red; on the right the share of each group's rejected leads naming
        each of the ``top`` most frequent principal reasons.

        Parameters
        ----------
        attributes : sequence of str, optional
            Attributes to draw (an intersection is named ``'a & b'``). Default: every
            single attribute.
        top : int, default=5
            Reasons shown per attribute (the most frequent over all its rejected leads).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ._fairness_plot import plot_report

        check_int(top, "top", "FairnessReport.plot", low=1)
        known = [a.attribute for a in self.attributes]
        if attributes is None:
            chosen = list(dict.fromkeys(g.attribute for g in self.groups))
        else:
            chosen = list(attributes)
            for name in chosen:
                if name not in known:
                    options = ", ".join(repr(k) for k in known)
                    raise param_error(
                        "attributes", "FairnessReport.plot", f"names among {options}", name
                    )
        return plot_report(self, chosen, top=top)


# --- cell formatting -------------------------------------------------------------------------

_SHOWN = (
    "Hidden columns: hidden column names shown at the auditor's request (show_hidden=True). "
    "This report names columns that reps may not see."
)

_SUMMARY_HEAD = [
    "Attribute",
    "Known",
    "Unknown",
    "Groups",
    "Empty",
    "Reference",
    "Ref. rate",
    "Min ratio",
    "Flagged (< 0.8)",
]
_RATE_HEAD = [
    "Attribute",
    "Group",
    "n",
    "Selected",
    "Rate",
    "Rate CI",
    "Impact ratio",
    "Ratio CI",
    "Four-fifths",
]
_REJ_HEAD = ["Attribute", "Group", "Rejected", "No negative factor", "Top reasons (share)"]
_PROXY_HEAD = [
    "Feature",
    "Attribute",
    "Share of rejected leads by group",
    "Highest",
    "Lowest",
    "Max/min",
]


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _num(x: float, digits: int = 3) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def _ci(lo: float, hi: float, fmt: Any) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "no")


def _summary_cells(a: AttributeSummary) -> list[str]:
    return [
        a.attribute,
        str(a.n_known),
        str(a.n_unknown),
        str(a.n_groups),
        str(a.n_empty_groups),
        a.reference_group or "n/a",
        _pct(a.reference_rate),
        _num(a.min_impact_ratio),
        ", ".join(a.flagged_groups) or "none",
    ]


def _rate_cells(r: GroupRate) -> list[str]:
    if r.four_fifths_flag is None:
        flag = "n/a"
    elif r.reference:
        flag = "reference"
    elif r.four_fifths_flag:
        flag = "FLAG (CI below 0.8)" if r.ci_below_four_fifths else "FLAG"
    else:
        flag = "ok"
    return [
        r.attribute,
        r.group,
        str(r.n),
        str(r.selected),
        _pct(r.selection_rate),
        _ci(r.rate_ci_low, r.rate_ci_high, _pct),
        _num(r.impact_ratio),
        _ci(r.ratio_ci_low, r.ratio_ci_high, _num),
        flag,
    ]


def _rejection_cells(g: GroupRejections, shown: int = 5) -> list[str]:
    reasons = ", ".join(f"{r.feature} ({_pct(r.share)})" for r in g.reasons[:shown])
    return [g.attribute, g.group, str(g.n_rejected), str(g.no_negative_factor), reasons or "n/a"]


def _proxy_cells(p: ProxyDriver) -> list[str]:
    shares = "; ".join(f"{g}: {_pct(s)}" for g, s in p.shares.items())
    return [
        p.feature,
        p.attribute,
        shares,
        p.highest_group or "n/a",
        p.lowest_group or "n/a",
        _num(p.ratio, 2),
    ]


def _md(text: str) -> str:
    # Markdown renders raw HTML, so names are HTML-escaped; '|' would split a table cell.
    # Quotes are safe outside attributes and are kept readable.
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_md(h) for h in head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _html_table(
    head: Sequence[str], rows: Sequence[Sequence[str]], *, flagged: Sequence[bool] | None = None
) -> str:
    e = html.escape
    out = [
        "<table>",
        "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
    ]
    for i, row in enumerate(rows):
        cls = ' class="flag"' if flagged is not None and flagged[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}"
    "th{background:#f3f3f3}tr.flag td{background:#fde8e8}"
)
