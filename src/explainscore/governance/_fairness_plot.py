"""The figure of a fairness report: who is selected, and why the others are not.

matplotlib is an optional extra (``explainscore[plots]``), so it is imported inside the
function, never at module import. The figure is built on ``matplotlib.figure.Figure``
directly rather than through pyplot, so drawing it opens no window and leaves no global
state behind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _palette as pal
from .._optional import import_optional
from ._fairness_report import FairnessReport, GroupRate, GroupRejections

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import Formatter

__all__ = ["plot_report"]

# The house palette (explainscore._palette): the reference group in the darkest band blue,
# other groups in a lighter one, a flagged group in the "lowers the score" red.
_OK = pal.BAND_RAMP[2]
_FLAG = pal.FLAG
_REF = pal.REFERENCE


def plot_report(report: FairnessReport, attributes: Sequence[str], *, top: int) -> Figure:
    """Draw one row per attribute: selection rates (left), reasons for rejection (right)."""
    import_optional("matplotlib", extra="plots", purpose="FairnessReport.plot")
    from matplotlib.figure import Figure

    rates = [_rows_of(report, a) for a in attributes]
    heights = [max(1.6, 0.45 * len(r) + 0.9) for r in rates]
    fig = Figure(figsize=(12.5, sum(heights) + 0.9), layout="constrained")
    axes = fig.subplots(
        len(attributes),
        2,
        squeeze=False,
        gridspec_kw={"height_ratios": heights, "width_ratios": [1.0, 1.15]},
    )
    for row, (name, groups) in enumerate(zip(attributes, rates, strict=True)):
        _rates_panel(axes[row][0], name, groups, report.threshold, report.confidence)
        rejections = [g for g in report.rejections if g.attribute == name]
        proxies = {p.feature for p in report.proxies}
        _reasons_panel(
            axes[row][1],
            name,
            groups,
            rejections,
            top,
            report.top_reasons,
            proxies,
            report.feature_labels,
        )
    _legend(fig)
    shown = " (hidden columns named at the auditor's request)" if report.show_hidden else ""
    fig.suptitle(
        f"Fairness audit at threshold {report.threshold:g}: {report.n_selected:,} of "
        f"{report.n_leads:,} leads selected{shown}",
        fontsize=12,
    )
    return fig


def _rows_of(report: FairnessReport, attribute: str) -> list[GroupRate]:
    return [g for g in (*report.groups, *report.intersections) if g.attribute == attribute]


def _rates_panel(
    ax: Axes, name: str, groups: list[GroupRate], threshold: float, confidence: float
) -> None:
    y = np.arange(len(groups))
    rate = np.array([g.selection_rate for g in groups])
    lo = np.array([g.rate_ci_low for g in groups])
    hi = np.array([g.rate_ci_high for g in groups])
    colors = [_REF if g.reference else _FLAG if g.four_fifths_flag else _OK for g in groups]
    drawn = np.nan_to_num(rate)
    ax.barh(y, drawn, color=colors, height=0.65)
    err = np.vstack([np.nan_to_num(rate - lo), np.nan_to_num(hi - rate)])
    ax.errorbar(drawn, y, xerr=err, fmt="none", ecolor="black", elinewidth=1, capsize=3)
    top = float(np.nanmax(hi)) if np.isfinite(hi).any() else 1.0
    # The right margin holds the ratios in a column of their own, clear of bars and lines.
    right = min(1.0, top * 1.4 + 0.02) if top < 0.7 else 1.3
    ref = [g for g in groups if g.reference]
    if ref:
        r = ref[0].selection_rate
        ax.axvline(0.8 * r, color=_FLAG, linestyle="--", linewidth=1.2)
        ax.axvline(r, color=_REF, linestyle=":", linewidth=1)
    for i, g in enumerate(groups):
        if g.reference:
            text = "reference"
        elif math.isnan(g.impact_ratio):
            text = "ratio n/a"
        else:
            text = f"ratio {g.impact_ratio:.2f}"
        ax.text(
            right * 0.99,
            i,
            text,
            va="center",
            ha="right",
            fontsize=8,
            color=_FLAG if g.four_fifths_flag and not g.reference else "black",
        )
    labels = [f"{g.group}\n(n={g.n:,})" if g.n else f"{g.group}\n(no leads)" for g in groups]
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, right)
    ax.xaxis.set_major_formatter(_percent())
    ax.set_xlabel(
        f"Selection rate (score >= {threshold:g}) with {100 * confidence:g}% interval",
        fontsize=9,
    )
    ax.set_title(f"{name}: selection rate by group", fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)


def _legend(fig: Figure) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=_REF, label="reference group (highest rate)"),
        Patch(color=_OK, label="impact ratio >= 0.8"),
        Patch(color=_FLAG, label="impact ratio < 0.8 (four-fifths flag)"),
        Line2D([], [], color=_REF, linestyle=":", label="reference rate"),
        Line2D([], [], color=_FLAG, linestyle="--", label="four-fifths line (0.8 x reference)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize=8, frameon=False)


def _reasons_panel(
    ax: Axes,
    name: str,
    groups: list[GroupRate],
    rejections: list[GroupRejections],
    top: int,
    k: int,
    proxies: set[str],
    labels: dict[str, str],
) -> None:
    ax.set_title(
        f"{name}: top negative factors among rejected leads (share, top {k} per lead)",
        fontsize=10,
        loc="left",
    )
    by_group = {r.group: r for r in rejections}
    totals: dict[str, int] = {}
    for r in rejections:
        for s in r.reasons:
            totals[s.feature] = totals.get(s.feature, 0) + s.count
    features = sorted(totals, key=lambda f: -totals[f])[:top]
    if not features:
        ax.text(
            0.5,
            0.5,
            "No rejected leads with explanations",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return
    shares = np.full((len(groups), len(features)), np.nan)
    for i, g in enumerate(groups):
        rej = by_group.get(g.group)
        if rej is None or rej.n_rejected == 0:
            continue
        got = {s.feature: s.share for s in rej.reasons}
        shares[i] = [got.get(f, 0.0) for f in features]
    image = ax.imshow(
        np.nan_to_num(shares, nan=0.0), cmap=_share_cmap(), vmin=0.0, vmax=1.0, aspect="auto"
    )
    for i in range(shares.shape[0]):
        for j in range(shares.shape[1]):
            v = shares[i, j]
            label = "-" if math.isnan(v) else f"{100 * v:.0f}%"
            ax.text(
                j,
                i,
                label,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if (not math.isnan(v) and v > 0.55) else "black",
            )
    rows = [
        f"{g.group} ({by_group[g.group].n_rejected:,} rejected)"
        if g.group in by_group
        else f"{g.group} (no leads)"
        for g in groups
    ]
    ax.set_yticks(range(len(groups)), rows)
    # Catalog names (the report's feature_labels); a hidden column keeps its pooled label.
    shown = [labels.get(f, f) for f in features]
    names = [f"{n} (proxy)" if f in proxies else n for f, n in zip(features, shown, strict=True)]
    ax.set_xticks(range(len(features)), names, rotation=20, ha="right")
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    cbar.ax.yaxis.set_major_formatter(_percent())
    cbar.ax.tick_params(labelsize=8)


def _share_cmap() -> Any:
    """White to the darkest band blue: the house palette, not matplotlib's Blues."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("explainscore_share", ["#ffffff", pal.BAND_RAMP[0]])


def _percent() -> Formatter:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)
