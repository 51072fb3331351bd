"""Pictures reps and reviewers understand, and the HTML lead card.

matplotlib is imported inside each function (extra ``plots``), never at ``import
explainscore``. By default every picture speaks percentage points of the score ("+4 pts")
for classifiers, names columns by their catalog names, labels direction in words and uses
one palette (:mod:`explainscore._palette`); ``space="log_odds"`` gives data scientists the
log-odds the explanation was computed in. How log-odds become points is documented in
``docs/pictures.md`` and :mod:`explainscore._plot_units`.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

from . import _palette as pal
from ._optional import import_optional

if TYPE_CHECKING:
    from ._records import Explanations, LeadExplanation

__all__ = ["lead_card_html", "plot_dependence", "plot_lead", "plot_summary"]


def _plt() -> Any:
    matplotlib = import_optional("matplotlib", extra="plots", purpose="plots")
    matplotlib.use("Agg", force=False)
    return import_optional("matplotlib.pyplot", extra="plots", purpose="plots")


def style_axes(ax: Any) -> None:
    """The house style: no top or right frame."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def plot_lead(
    record: LeadExplanation, *, space: str = "auto", ax: Any = None, title: bool = True
) -> Any:
    """One lead's walk from a typical lead's score to its own, factor by factor.

    The steps are the factors of the lead's reason, in the reason's order and with its words
    and value formatting, then one step for all other factors (hidden columns pooled there,
    never named); they add up exactly to the lead's score minus the starting score.

    Parameters
    ----------
    record : LeadExplanation
    space : {"auto", "probability", "log_odds"}, default="auto"
        ``"auto"``: percentage points of the score for classifiers (log-odds explanations
        converted, see ``docs/pictures.md``), the model's own units for regressors.
        ``"log_odds"``: the log-odds the explanation was computed in, for data scientists.
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.
    title : bool, default=True
        Draw the band and score as the title (the HTML card shows them itself).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._plot_lead import plot_lead as draw

    return draw(record, space=space, ax=ax, title=title)


def plot_summary(batch: Explanations, *, space: str = "auto", max_display: int = 12) -> Any:
    """What moves the batch's scores: average size per factor, a beeswarm, scores by band.

    Columns are named by their catalog names (hidden columns never appear). In the beeswarm
    each dot is a lead, placed by how much the factor moved its score and coloured by the
    lead's value in that column (purple low, orange high; grey for a category or a missing
    value, which have no low or high).

    Parameters
    ----------
    batch : Explanations
    space : {"auto", "probability", "log_odds"}, default="auto"
        As in :func:`plot_lead`.
    max_display : int, default=12
        Factors shown at most, the strongest on average.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._plot_summary import plot_summary as draw

    return draw(batch, space=space, max_display=max_display)


def plot_dependence(
    batch: Explanations, feature: str, *, space: str = "auto", ax: Any = None
) -> Any:
    """How one column's value moves scores: one dot per lead.

    Numbers on the x axis as the reason writes them (units, currency); categories as their
    catalog labels, ordered by their median effect, with the number of leads of each.

    Parameters
    ----------
    batch : Explanations
    feature : str
        A shown column, by its raw name or its catalog name.
    space : {"auto", "probability", "log_odds"}, default="auto"
        As in :func:`plot_lead`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._plot_summary import plot_dependence as draw

    return draw(batch, feature, space=space, ax=ax)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


_CARD_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:16px;color:#222}"
    "h2{margin:0 0 8px}.band{color:#fff;padding:2px 10px;border-radius:10px}"
    f"ul{{padding-left:1.2em}}.up b{{color:{pal.UP}}}.down b{{color:{pal.DOWN}}}"
    "code{color:#666;font-size:11px}img{max-width:100%}"
    ".nba{background:#eef5ff;padding:8px;border-radius:6px}"
)


def lead_card_html(record: LeadExplanation) -> str:
    """A self-contained HTML card (inline PNG, no scripts) a CRM can show in an iframe.

    The band and score appear once (the heading), the reason's factors once (one line each,
    with their codes), then the next best action and the lead's chart without a title.
    """
    from ._plot_lead import factor_phrase

    esc = html.escape
    rows = "".join(
        f"<li class='{c.direction}'><b>{'&#9650;' if c.direction == 'up' else '&#9660;'}</b> "
        f"{esc(c.text)} <code>{esc(c.code)}</code></li>"
        for c in record.reason_codes
    )
    factors = f"<ul>{rows}</ul>" if rows else ""
    if record.status != "ok" or record.score is None:
        # Paused: the reason is the only thing to say (why scoring stopped).
        factors = f"<p>{esc(record.reason)}</p>"
    action = ""
    if record.next_best_action is not None:
        action = f"<p class='nba'>Next best action: {esc(record.next_best_action.text)}</p>"
    score = "paused" if record.score is None else f"{record.score:.2f}"
    img = ""
    if record.score is not None:
        names = ", ".join(factor_phrase(c) for c in record.reason_codes)
        alt = f"How each factor moved the score: {names}" if names else "factor chart"
        picture = _png(plot_lead(record, title=False))
        img = f"<img alt='{esc(alt)}' src='data:image/png;base64,{picture}'>"
    band = (
        f"<span class='band' style='background:{pal.band_color(record.band)}'>"
        f"{esc(record.band)}</span> score {esc(score)}"
        if record.band
        else f"score {esc(score)}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Lead score: {esc(record.band or 'paused')} {esc(score)}</title>"
        f"<style>{_CARD_STYLE}</style></head><body>"
        f"<h2>{band}</h2>{factors}{action}{img}"
        f"<p><small>{esc(record.explainer)} explanation, {esc(record.output_space)} space, "
        f"model {esc(record.model_version)}, {esc(record.explained_at)}</small></p>"
        "</body></html>"
    )
