"""Pictures reps and reviewers understand, and the HTML lead card.

matplotlib is imported inside each function (extra ``plots``), never at ``import
explainscore``. Every figure labels direction in words ("raises" / "lowers the score") and
states the output space, so a non-expert reads it without knowing what a Shapley value is.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from ._optional import import_optional

if TYPE_CHECKING:
    from ._records import Explanations, LeadExplanation

__all__ = ["lead_card_html", "plot_lead", "plot_summary"]

_UP = "#1b7f3b"
_DOWN = "#b3261e"
_SPACE_WORDS = {
    "log_odds": "log-odds (each unit multiplies the odds by 2.7)",
    "probability": "probability points",
    "raw": "the model's output units",
    "margin": "the model's margin (before its link)",
    "response": "the model's output units",
}


def _plt() -> Any:
    matplotlib = import_optional("matplotlib", extra="plots", purpose="plots")
    matplotlib.use("Agg", force=False)
    return import_optional("matplotlib.pyplot", extra="plots", purpose="plots")


def plot_lead(record: LeadExplanation, *, ax: Any = None) -> Any:
    """A signed bar chart of one lead's principal factors (and the rest), as a Figure."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.55 * (len(record.attributions) + 2) + 1.2))
    else:
        fig = ax.figure
    labels = [f"{a.display_name or a.feature}: {a.value}" for a in record.attributions]
    values = [a.contribution for a in record.attributions]
    if record.other_contribution:
        labels.append("all other factors")
        values.append(float(record.other_contribution))
    y = np.arange(len(values))[::-1]
    colors = [_UP if v > 0 else _DOWN for v in values]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels)
    ax.axvline(0, color="#444", linewidth=0.8)
    span = max((abs(v) for v in values), default=1.0) or 1.0
    for yi, v in zip(y, values, strict=True):
        word = "raises" if v > 0 else "lowers"
        ax.text(v + (0.02 if v >= 0 else -0.02) * span, yi, f"{word} {abs(v):.2f}",
                va="center", ha="left" if v >= 0 else "right", fontsize=9)  # fmt: skip
    ax.set_xlim(-1.35 * span, 1.35 * span)
    score = "paused" if record.score is None else f"{record.score:.2f}"
    ax.set_title(f"{record.band} ({score}): why this lead got its score", loc="left")
    ax.set_xlabel(f"effect on the score, in {_SPACE_WORDS[record.output_space]}")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def plot_summary(batch: Explanations) -> Any:
    """Global view: mean |effect| per column, a beeswarm of effects, scores by band."""
    plt = _plt()
    shown = [j for j, n in enumerate(batch.feature_names) if n not in batch.hidden]
    attrs = batch.attributions[:, shown]
    names = [batch.feature_names[j] for j in shown]
    order = np.argsort(np.abs(attrs).mean(axis=0))[::-1][:12]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.5), gridspec_kw={"width_ratios": [1, 1.4, 1]})
    mean_abs = np.abs(attrs[:, order]).mean(axis=0)
    y = np.arange(len(order))[::-1]
    axes[0].barh(y, mean_abs, color="#3a6ea5")
    axes[0].set_yticks(y, [names[j] for j in order])
    axes[0].set_title("How much each column moves scores (mean |effect|)", loc="left")
    axes[0].set_xlabel(_SPACE_WORDS[batch.output_space])
    rng = np.random.default_rng(0)  # jitter only: the picture is the same every time
    for row, j in zip(y, order, strict=True):
        vals = attrs[:, j]
        jitter = rng.uniform(-0.3, 0.3, size=len(vals))
        axes[1].scatter(vals, row + jitter, s=4, alpha=0.35,
                        c=np.where(vals > 0, _UP, _DOWN))  # fmt: skip
    axes[1].set_yticks(y, [names[j] for j in order])
    axes[1].axvline(0, color="#444", linewidth=0.8)
    axes[1].set_title("Each dot is a lead: right raises, left lowers", loc="left")
    axes[1].set_xlabel(_SPACE_WORDS[batch.output_space])
    bands = sorted(
        set(batch.bands), key=lambda b: -np.mean(batch.scores[np.array(batch.bands) == b])
    )
    data = [batch.scores[np.array(batch.bands) == b] for b in bands]
    axes[2].hist(data, bins=30, stacked=True, label=bands)
    axes[2].legend(title="band")
    axes[2].set_title("Scores by band", loc="left")
    axes[2].set_xlabel("score")
    for ax in axes:
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def lead_card_html(record: LeadExplanation) -> str:
    """A self-contained HTML card (inline PNG, no scripts) a CRM can show in an iframe."""
    esc = html.escape
    rows = "".join(
        f"<li class='{c.direction}'><b>{'&#9650;' if c.direction == 'up' else '&#9660;'}</b> "
        f"{esc(c.text)} <code>{esc(c.code)}</code></li>"
        for c in record.reason_codes
    )
    action = ""
    if record.next_best_action is not None:
        action = f"<p class='nba'>Next best action: {esc(record.next_best_action.text)}</p>"
    score = "paused" if record.score is None else f"{record.score:.2f}"
    picture = _png(plot_lead(record)) if record.score is not None else ""
    img = f"<img alt='factor chart' src='data:image/png;base64,{picture}'>" if picture else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Lead score</title><style>"
        "body{font-family:system-ui,sans-serif;margin:16px;color:#222}"
        ".up b{color:#1b7f3b}.down b{color:#b3261e}code{color:#666;font-size:11px}"
        "img{max-width:100%}.nba{background:#eef5ff;padding:8px;border-radius:6px}"
        "</style></head><body>"
        f"<h2>{esc(record.band)} &middot; score {esc(score)}</h2>"
        f"<p>{esc(record.reason)}</p><ul>{rows}</ul>{action}{img}"
        f"<p><small>{esc(record.explainer)} explanation, {esc(record.output_space)} space, "
        f"model {esc(record.model_version)}, {esc(record.explained_at)}</small></p>"
        "</body></html>"
    )
