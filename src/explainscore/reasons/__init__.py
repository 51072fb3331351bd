"""Turning attributions into words a sales rep can read: catalog, composition, locales.

Public names are imported when first used (see ``explainscore._lazy``).
"""

import typing as _typing

from .._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from ._catalog import Action, Catalog, FeatureEntry, Phrases
    from ._compose import ComposedReason, ReasonWriter, reason_code_stem
    from ._config import ReasonConfig, ScoreBands, StrengthCutoffs
    from ._locales import LOCALES, Locale
    from ._names import humanize

_EXPORTS = {
    "Action": "._catalog",
    "Catalog": "._catalog",
    "ComposedReason": "._compose",
    "FeatureEntry": "._catalog",
    "humanize": "._names",
    "Locale": "._locales",
    "LOCALES": "._locales",
    "Phrases": "._catalog",
    "reason_code_stem": "._compose",
    "ReasonConfig": "._config",
    "ReasonWriter": "._compose",
    "ScoreBands": "._config",
    "StrengthCutoffs": "._config",
}

__all__ = [
    "LOCALES",
    "Action",
    "Catalog",
    "ComposedReason",
    "FeatureEntry",
    "Locale",
    "Phrases",
    "ReasonConfig",
    "ReasonWriter",
    "ScoreBands",
    "StrengthCutoffs",
    "humanize",
    "reason_code_stem",
]

__getattr__, __dir__ = _attach(__name__, globals(), _EXPORTS)
