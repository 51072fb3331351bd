"""The feature catalog: how each raw column is named, formatted and phrased for a rep.

A :class:`Catalog` maps raw column names to :class:`FeatureEntry` records. It is plain data
(pydantic), loadable from JSON or YAML, so a business analyst can maintain it next to the model::

    features:
      campaign:
        display_name: {en: Contacts this campaign, de: Kontakte in dieser Kampagne}
        format: integer
        phrases:
          en: {up: "Contacted {value} times", down: "Contacted {value} times"}
      contact:
        value_labels: {cellular: {en: mobile phone, de: Mobiltelefon}}
        actionable: {targets: [cellular], text: {en: Calling the mobile phone}}
      zip_code:
        show: false

Text fields accept a plain string (used for every locale) or a mapping of locale to string.
Columns without an entry get a humanized name and automatic formatting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..exceptions import ParameterError

__all__ = ["Action", "Catalog", "FeatureEntry", "Phrases", "localize"]

LocalizedText = str | dict[str, str]
ValueFormat = Literal[
    "auto",
    "number",
    "integer",
    "percent",
    "currency",
    "days",
    "date_recency",
    "category",
    "boolean",
]


def localize(text: LocalizedText | None, locale: str) -> str | None:
    """The text for ``locale``: the string itself, the locale's entry, else English."""
    if text is None or isinstance(text, str):
        return text
    return text.get(locale) or text.get("en") or next(iter(text.values()), None)


class Phrases(BaseModel):
    """Templates naming the fact for a raising and a lowering contribution.

    Placeholders: ``{name}`` (display name) and ``{value}`` (the formatted value). The locale
    appends the direction (", which raises the score").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    up: str
    down: str


class Action(BaseModel):
    """A change a rep can make, for the next-best-action suggestion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: tuple[str | int | float | bool, ...] = Field(
        min_length=1, description="The values the rep can bring the column to."
    )
    text: LocalizedText = Field(
        description="The action as a gerund phrase, e.g. 'Booking a demo'. May use {value}."
    )


class FeatureEntry(BaseModel):
    """How one raw column appears in reasons."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    display_name: LocalizedText | None = None
    description: LocalizedText | None = None
    unit: LocalizedText | None = None
    format: ValueFormat = "auto"
    decimals: int | None = Field(default=None, ge=0, le=6)
    currency: str = "EUR"
    value_labels: dict[str, LocalizedText] = Field(default_factory=dict)
    special_values: dict[str, LocalizedText] = Field(
        default_factory=dict,
        description="Numeric sentinel values (as strings, e.g. '-1') and their words.",
    )
    phrases: dict[str, Phrases] = Field(
        default_factory=dict, description="Locale -> phrase templates."
    )
    actionable: Action | None = None
    show: bool = Field(default=True, description="False: never named to a rep.")
    code: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Z0-9_]{0,39}$",
        description="Stem of the reason codes (default: the column name in capitals).",
    )


class Catalog(BaseModel):
    """Catalog entries by raw column name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "1"
    features: dict[str, FeatureEntry] = Field(default_factory=dict)

    def entry(self, feature: str) -> FeatureEntry:
        return self.features.get(feature) or _EMPTY

    def hidden(self) -> frozenset[str]:
        return frozenset(name for name, e in self.features.items() if not e.show)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Catalog:
        """Build from a mapping: ``{"features": {...}}`` or directly ``{column: entry}``."""
        payload = dict(data)
        if "features" not in payload:
            payload = {"features": payload}
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            raise ParameterError(f"The catalog is not valid: {_first_error(exc)}") from exc

    @classmethod
    def from_file(cls, path: str | Path) -> Catalog:
        """Load a catalog from a ``.json``, ``.yaml`` or ``.yml`` file."""
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() in (".yaml", ".yml"):
            from .._optional import import_optional

            yaml = import_optional("yaml", extra="yaml", purpose="a YAML catalog")
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if not isinstance(data, Mapping):
            raise ParameterError(f"The catalog file {p.name!r} must hold a mapping at the top.")
        return cls.from_mapping(data)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"


_EMPTY = FeatureEntry()


def as_catalog(value: Catalog | Mapping[str, Any] | str | Path | None) -> Catalog:
    """Accept a Catalog, a mapping, a file path, or None (no entries)."""
    if value is None:
        return Catalog()
    if isinstance(value, Catalog):
        return value
    if isinstance(value, (str, Path)):
        return Catalog.from_file(value)
    return Catalog.from_mapping(value)
