"""Readable names for columns without a catalog entry.

An encoder artefact like ``num__days_since_contact`` reads "Days since contact".
"""

from __future__ import annotations

import re

__all__ = ["humanize"]

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
