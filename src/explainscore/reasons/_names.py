"""Business names for raw columns and readable forms of a lead's values.

A catalog entry for a column may give ``display_name``, ``unit``, ``value_labels`` (category
code -> words) and ``special_values`` (numeric sentinel -> words, such as ``pdays = -1`` ->
"not previously contacted"). Columns without an entry get a humanized form of their name, so
an encoder artefact like ``num__days_since_contact`` reads "Days since contact".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["FeatureNamer", "humanize"]

_PREFIX = re.compile(r"^(?:[A-Za-z0-9]+__)+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_.\-\s]+")


def humanize(name: str) -> str:
    """A readable form of a column name: ``"num__emp.var_rate"`` -> ``"Emp var rate"``."""
    text = _PREFIX.sub("", str(name))
    text = _CAMEL.sub(" ", text)
    text = _SEPARATORS.sub(" ", text).strip()
    if not text:
        return str(name)
    # Keep acronyms (``GDP``) as they are; lower-case the other words of a sentence-case name.
    words = [w if (w.isupper() and len(w) > 1) else w.lower() for w in text.split(" ")]
    first = words[0]
    words[0] = first[0].upper() + first[1:]
    return " ".join(words)


def format_number(value: float) -> str:
    """Round a number for a human: integers as integers, others to 3 significant digits."""
    if math.isnan(value):
        return "missing"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


class FeatureNamer:
    """Names and value formats from an optional catalog mapping."""

    def __init__(self, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._catalog: Mapping[str, Mapping[str, Any]] = catalog or {}

    def name(self, feature: str) -> str:
        entry = self._catalog.get(feature)
        if entry and entry.get("display_name"):
            return str(entry["display_name"])
        return humanize(feature)

    def value(self, feature: str, value: Any) -> str:
        entry = self._catalog.get(feature) or {}
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "missing"
        if isinstance(value, str):
            labels = entry.get("value_labels") or {}
            return str(labels.get(value, value))
        if isinstance(value, bool):
            return "yes" if value else "no"
        special = entry.get("special_values") or {}
        for raw, words in special.items():
            try:
                if float(raw) == float(value):
                    return str(words)
            except (TypeError, ValueError):
                continue
        text = format_number(float(value))
        unit = entry.get("unit")
        return f"{text} {unit}" if unit else text
