"""Readable values: numbers rounded for humans, category labels, units, per locale."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ._catalog import FeatureEntry, localize
from ._locales import Locale

__all__ = ["format_number", "format_value", "special_text"]


def format_number(value: float, locale: Locale, *, decimals: int | None = None) -> str:
    """Round for a human: integers whole, others to 3 significant digits (or ``decimals``)."""
    if math.isnan(value):
        return locale.missing
    if decimals is not None:
        text = f"{value:,.{decimals}f}"
    elif value == int(value) and abs(value) < 1e15:
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.3g}"
    else:
        text = f"{value:.2g}"
    if locale.decimal == "." and locale.thousands == ",":
        return text  # Python's own separators: the swap below would give the same text
    # Swap separators through a placeholder so "1,234.5" becomes "1.234,5" in German.
    return text.replace(",", "\0").replace(".", locale.decimal).replace("\0", locale.thousands)


def special_text(entry: FeatureEntry, value: Any, locale: Locale) -> str | None:
    """The words that replace the whole phrase for a sentinel value (``pdays = -1``)."""
    if not entry.special_values or isinstance(value, (str, bool)) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    for raw, words in entry.special_values.items():
        try:
            if float(raw) == number:
                return localize(words, locale.code)
        except ValueError:
            continue
    return None


def format_value(
    entry: FeatureEntry, value: Any, locale: Locale, *, today: dt.date | None = None
) -> str:
    """The lead's value as words, following the catalog entry's format."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return locale.missing
    if isinstance(value, str):
        label = localize(entry.value_labels.get(value), locale.code)
        return label if label is not None else value
    if isinstance(value, (bool,)) or entry.format == "boolean":
        return locale.yes if bool(value) else locale.no
    if isinstance(value, (dt.date, dt.datetime)) or entry.format == "date_recency":
        return _recency(value, locale, today)
    number = float(value)
    unit = localize(entry.unit, locale.code)
    fmt = entry.format
    if fmt == "percent":
        return format_number(number * 100, locale, decimals=entry.decimals) + "%"
    if fmt == "currency":
        decimals = 0 if entry.decimals is None else entry.decimals
        return f"{format_number(number, locale, decimals=decimals)} {entry.currency}"
    if fmt == "days":
        return locale.days.format(n=format_number(number, locale, decimals=entry.decimals))
    if fmt == "integer":
        text = format_number(float(round(number)), locale)
    else:
        text = format_number(number, locale, decimals=entry.decimals)
    return f"{text} {unit}" if unit else text


def _recency(value: Any, locale: Locale, today: dt.date | None) -> str:
    ref = today or dt.datetime.now(dt.UTC).date()
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        day = dt.date.fromisoformat(str(value)[:10])
    days = (ref - day).days
    if days == 0:
        return locale.today
    return locale.days_ago.format(n=format_number(float(days), locale))
