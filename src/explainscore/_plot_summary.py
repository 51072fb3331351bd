"""A batch's pictures: what moves scores overall (summary) and how one column does (dependence).

Both speak the rep's units (percentage points for classifiers, see
:mod:`explainscore._plot_units`), name columns by their catalog names and never name a hidden
column: hidden columns still count in each lead's conversion to points (they moved its
score), but get no row, tick or label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _palette as pal
from ._params import check_int, param_error
from ._plot_units import Units, resolve_units, to_units

if TYPE_CHECKING:
    from ._records import Explanations

__all__ = ["batch_units", "plot_dependence", "plot_summary", "value_text"]

FloatArray = npt.NDArray[np.float64]


def batch_units(batch: Explanations, space: str, where: str) -> tuple[FloatArray, Units]:
    """Every lead's contributions in the picture's units, shape (n, n_features)."""
    if batch.status != "ok":
        from .exceptions import ExplanationError

        raise ExplanationError("A paused batch has no scores or factors to draw.")
    units = resolve_units(batch.output_space, space, where)
    steps, _, _ = to_units(
        batch.attributions, batch.base_values, batch.scores, batch.output_space, units
    )
    return steps, units


def _names(batch: Explanations) -> list[str]:
    if batch.display_names:
        return list(batch.display_names)
    from .reasons._names import humanize

    return [humanize(n) for n in batch.feature_names]


def _shown(batch: Explanations) -> list[int]:
    return [j for j, n in enumerate(batch.feature_names) if n not in batch.hidden]


def value_text(batch: Explanations, j: int, value: Any) -> str:
    """A cell as the reason writes it (catalog labels, units, locale) when the batch carries
    its reason writer, else the value as text."""
    writer = getattr(batch, "reason_writer", None)
    if writer is None:
        return "missing" if value is None or value != value else str(value)
    from .reasons._format import format_value

    entry = writer.catalog.entry(batch.feature_names[j])
    return format_value(entry, value, writer.locale, today=writer.today)


def _numeric(column: pd.Series) -> FloatArray | None:
    """The column as floats when it holds numbers (or booleans), else None (text)."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)
    return None


def _value_colors(column: pd.Series) -> tuple[FloatArray | None, str]:
    """Numbers in [0, 1] for the colour map (low..high, the 5th to 95th percentile), or None
    for a text column (drawn in the category grey: a category has no low or high)."""
    x = _numeric(column)
    if x is None:
        return None, "text"
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return None, "text"
    lo, hi = np.percentile(finite, [5, 95])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.full(len(x), 0.5), "number"
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0), "number"


def _swarm(x: FloatArray, half: float = 0.38, bins: int = 80) -> FloatArray:
    """Vertical offsets that stack points with close x values side by side (a beeswarm),
    deterministic: by bin, then by x, alternating above and below the row's line."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    lo, hi = float(np.min(x)), float(np.max(x))
    b = np.zeros(n, dtype=np.int64) if hi <= lo else ((x - lo) / (hi - lo) * bins).astype(np.int64)
    order = np.lexsort((x, b))
    sorted_b = b[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_b)) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    offset = ((rank + 1) // 2) * np.where(rank % 2 == 1, 1.0, -1.0)
    widest = max(1, (int(sizes.max()) + 1) // 2)
    out = np.zeros(n)
    out[order] = offset * (half / widest)
    return out


def _value_cmap() -> Any:
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("explainscore_value", [pal.VALUE_LOW, pal.VALUE_HIGH])


def _band_order(batch: Explanations) -> list[str]:
    bands = np.asarray(batch.bands, dtype=object)
    labels = list(dict.fromkeys(batch.bands))
    return sorted(labels, key=lambda b: -float(np.mean(batch.scores[bands == b])))


def plot_summary(batch: Explanations, *, space: str = "auto", max_display: int = 12) -> Any:
    """Draw the batch summary; see :func:`explainscore.plots.plot_summary`."""
    from matplotlib.ticker import MaxNLocator

    from .plots import _plt, style_axes

    max_display = check_int(max_display, "max_display", "plot_summary", low=1)
    steps, units = batch_units(batch, space, "plot_summary")
    shown = _shown(batch)
    names = _names(batch)
    mean_abs = np.abs(steps[:, shown]).mean(axis=0)
    order = [shown[k] for k in np.argsort(-mean_abs, kind="stable")[:max_display]]
    plt = _plt()
    fig, axes = plt.subplots(
        1, 3, figsize=(17, 0.42 * len(order) + 2.6), gridspec_kw={"width_ratios": [0.8, 1.5, 0.9]}
    )
    y = np.arange(len(order))[::-1]
    labels = [names[j] for j in order]
    tick = _formatter(units)

    importance = np.abs(steps[:, order]).mean(axis=0)
    axes[0].barh(y, importance, color=pal.NEUTRAL, height=0.65)
    for yi, v in zip(y, importance, strict=True):
        axes[0].text(v, yi, " " + units.text(v, signed=False), va="center", fontsize=8)
    axes[0].set_yticks(y, labels)
    axes[0].set_xlim(0, float(importance.max() or 1.0) * 1.35)
    axes[0].xaxis.set_major_locator(MaxNLocator(4))
    axes[0].xaxis.set_major_formatter(_formatter(units, signed=False))
    axes[0].set_title("How much each factor moves scores\n(average size, either way)", loc="left")
    axes[0].set_xlabel(units.axis.replace("change in", "size of the change in"), fontsize=8)

    cmap = _value_cmap()
    any_text = False
    for yi, j in zip(y, order, strict=True):
        x = steps[:, j]
        colors, _kind = _value_colors(batch.data.iloc[:, j])
        offset = _swarm(x)
        if colors is None:
            any_text = True
            axes[1].scatter(x, yi + offset, s=5, c=pal.VALUE_NONE, linewidths=0, rasterized=True)
            _name_ends(axes[1], batch, j, x, yi)
            continue
        missing = ~np.isfinite(colors)
        axes[1].scatter(
            x[missing], yi + offset[missing], s=5, c=pal.VALUE_NONE, linewidths=0, rasterized=True
        )
        axes[1].scatter(
            x[~missing],
            yi + offset[~missing],
            s=5,
            c=colors[~missing],
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            linewidths=0,
            rasterized=True,
        )
    axes[1].set_yticks(y, labels)
    axes[1].axvline(0, color="#444", linewidth=0.8)
    axes[1].xaxis.set_major_formatter(tick)
    axes[1].set_title(
        "Each dot is a lead: right of the line raises its score, left lowers it", loc="left"
    )
    axes[1].set_xlabel(units.axis, fontsize=8)
    mappable = plt.cm.ScalarMappable(cmap=cmap)
    mappable.set_clim(0.0, 1.0)
    bar = fig.colorbar(mappable, ax=axes[1], fraction=0.03, pad=0.01, shrink=0.6, ticks=[0.0, 1.0])
    bar.ax.set_yticklabels(["low", "high"])
    note = "\n(grey: a category, named\nwhere it moves scores most)" if any_text else ""
    bar.set_label("the lead's value" + note, fontsize=8)

    _bands_panel(axes[2], batch)
    for ax in axes:
        style_axes(ax)
    fig.tight_layout()
    return fig


def _name_ends(ax: Any, batch: Explanations, j: int, x: FloatArray, row: float) -> None:
    """Name a text column's categories with the lowest and the highest median effect, above
    the row at that median: a category has no low or high to colour, but a rep wants to
    know which ones lower and which raise the score."""
    column = batch.data.iloc[:, j].tolist()
    keys = [k for k in dict.fromkeys(column) if not (k is None or k != k)]
    if len(keys) < 2:
        return
    medians = {k: float(np.median(x[[v == k for v in column]])) for k in keys}
    low = min(keys, key=lambda k: medians[k])
    high = max(keys, key=lambda k: medians[k])
    for key, ha in ((low, "right"), (high, "left")):
        ax.text(medians[key], row + 0.22, value_text(batch, j, key), ha=ha, va="bottom",
                fontsize=7, color="#333")  # fmt: skip


def _bands_panel(ax: Any, batch: Explanations) -> None:
    bands = np.asarray(batch.bands, dtype=object)
    order = _band_order(batch)
    colors = pal.band_colors(order)
    if all(pal.band_color(b) != pal.NEUTRAL for b in order):
        colors = {b: pal.band_color(b) for b in order}  # known labels: the card's colours
    data = [100.0 * batch.scores[bands == b] for b in order]
    ax.hist(
        data,
        bins=np.linspace(0, 100, 41),
        stacked=True,
        label=[f"{b} ({len(d):,})" for b, d in zip(order, data, strict=True)],
        color=[colors[b] for b in order],
    )
    ax.legend(title="band (leads)", fontsize=8, frameon=False)
    ax.set_title("Scores by band", loc="left")
    ax.set_xlabel("score (%)")
    ax.set_ylabel("leads")


def _formatter(units: Units, *, signed: bool = True) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: units.tick(value, signed=signed))


def resolve_feature(batch: Explanations, feature: Any, where: str) -> int:
    """The column index of ``feature`` (raw column name or catalog name), never a hidden one."""
    names = _names(batch)
    for j, (raw, shown) in enumerate(zip(batch.feature_names, names, strict=True)):
        if feature in (raw, shown):
            if raw in batch.hidden:
                break
            return j
    shown_names = [names[j] for j in _shown(batch)]
    expected = "a shown column of the batch (raw or catalog name), e.g. " + ", ".join(
        repr(n) for n in shown_names[:3]
    )
    # A hidden column's name is never echoed, even back to whoever typed it.
    hidden = isinstance(feature, str) and any(
        feature in (raw, names[j])
        for j, raw in enumerate(batch.feature_names)
        if raw in batch.hidden
    )
    raise param_error("feature", where, expected, "a hidden column" if hidden else feature)


def plot_dependence(
    batch: Explanations, feature: str, *, space: str = "auto", ax: Any = None
) -> Any:
    """Draw one column's dependence plot; see :func:`explainscore.plots.plot_dependence`."""
    from .plots import _plt, style_axes

    j = resolve_feature(batch, feature, "plot_dependence")
    steps, units = batch_units(batch, space, "plot_dependence")
    name = _names(batch)[j]
    column = batch.data.iloc[:, j]
    if ax is None:
        fig, ax = _plt().subplots(figsize=(8.5, 4.8))
    else:
        fig = ax.figure
    y = steps[:, j]
    x = _numeric(column)
    if x is not None and len(np.unique(x[np.isfinite(x)])) > 12:
        _numeric_panel(ax, batch, j, x, y)
    else:
        _category_panel(ax, batch, j, column, y)
    ax.axhline(0, color="#444", linewidth=0.8)
    ax.yaxis.set_major_formatter(_formatter(units))
    ax.set_ylabel(units.axis.replace(", in", "\nin"), fontsize=9)
    ax.set_title(f"{name}: how the lead's value moves its score", loc="left")
    top, bottom = ax.get_ylim()[1], ax.get_ylim()[0]
    ax.text(0.005, 0.99, "raises the score \u2191", transform=ax.transAxes, va="top",
            fontsize=8, color=pal.UP)  # fmt: skip
    ax.text(0.005, 0.01, "lowers the score \u2193", transform=ax.transAxes, va="bottom",
            fontsize=8, color=pal.DOWN)  # fmt: skip
    ax.set_ylim(bottom, top)
    style_axes(ax)
    fig.tight_layout()
    return fig


def _numeric_panel(ax: Any, batch: Explanations, j: int, x: FloatArray, y: FloatArray) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ok = np.isfinite(x)
    colors = np.where(y[ok] > 0, pal.UP, pal.DOWN)
    ax.scatter(x[ok], y[ok], s=9, c=colors, alpha=0.5, linewidths=0, rasterized=True)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: value_text(batch, j, _round(v))))
    # A long tail (balances in the tens of thousands) would squeeze most leads into one
    # column: the view spans the middle 99 % and says how many leads lie beyond it.
    lo, hi = np.percentile(x[ok], [0.5, 99.5])
    notes = []
    if hi > lo:
        beyond = int(((x[ok] < lo) | (x[ok] > hi)).sum())
        pad = 0.03 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)
        if beyond:
            notes.append(f"{beyond:,} leads beyond this range not shown")
    missing = int((~ok).sum())
    if missing:
        notes.append(f"{missing:,} leads with no value not shown")
    ax.set_xlabel("the lead's value" + (f" ({'; '.join(notes)})" if notes else ""))


def _round(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _category_panel(ax: Any, batch: Explanations, j: int, column: pd.Series, y: FloatArray) -> None:
    values = [None if (v is None or v != v) else v for v in column.tolist()]
    keys = list(dict.fromkeys(values))
    # Categories left to right by their median effect: the picture reads as a ranking.
    med = {k: float(np.median(y[[v == k for v in values]])) for k in keys}
    keys.sort(key=lambda k: med[k])
    pos = {k: i for i, k in enumerate(keys)}
    xs = np.array([pos[v] for v in values], dtype=np.float64)
    jitter = np.zeros(len(xs))
    for k in keys:
        mask = xs == pos[k]
        jitter[mask] = _swarm(y[mask], half=0.3, bins=60)
    colors = np.where(y > 0, pal.UP, pal.DOWN)
    ax.scatter(xs + jitter, y, s=8, c=colors, alpha=0.5, linewidths=0, rasterized=True)
    ax.scatter(
        list(range(len(keys))),
        [med[k] for k in keys],
        marker="_",
        s=500,
        color="#222",
        linewidths=2,
        label="median",
        zorder=3,
    )
    counts = [sum(1 for v in values if v == k) for k in keys]
    ticks = [f"{value_text(batch, j, k)} ({c:,})" for k, c in zip(keys, counts, strict=True)]
    ax.set_xticks(range(len(keys)), ticks, fontsize=8, rotation=30 if len(keys) > 6 else 0,
                  ha="right" if len(keys) > 6 else "center")  # fmt: skip
    ax.set_xlabel("the lead's value (leads)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
