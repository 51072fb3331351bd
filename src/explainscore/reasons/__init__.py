"""Turning attributions into words a sales rep can read: catalog, composition, locales."""

from ._catalog import Action, Catalog, FeatureEntry, Phrases
from ._compose import ComposedReason, ReasonWriter, reason_code_stem
from ._config import ReasonConfig, ScoreBands, StrengthCutoffs
from ._locales import LOCALES, Locale
from ._names import humanize

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
