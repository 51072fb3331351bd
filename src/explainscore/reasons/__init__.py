"""Turning attributions into words a sales rep can read."""

from ._compose import compose_reasons
from ._names import FeatureNamer, humanize

__all__ = ["FeatureNamer", "compose_reasons", "humanize"]
