"""Every language-specific word of a reason, one template set per locale.

The templates are the only language-specific part of reason composition: adding a locale is
adding an entry to :data:`LOCALES` (and translated catalog text).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCALES", "Locale"]


@dataclass(frozen=True)
class Locale:
    """Templates and number conventions of one language."""

    code: str
    decimal: str
    thousands: str
    default_phrase: str  # placeholders {name}, {value}
    factor: str  # placeholders {phrase}, {direction}
    up: str  # placeholder {strength}
    down: str
    strengths: tuple[str, str, str]  # strong, normal, slight (each with a trailing space or "")
    head: str  # placeholders {band}, {score}
    joiner: str
    end: str
    no_factor: str
    too_long: str  # placeholder {limit}
    other_up: str
    other_down: str
    next_best_action: str  # placeholders {action}, {score}
    yes: str
    no: str
    missing: str
    days: str  # placeholder {n}
    days_ago: str  # placeholder {n}
    today: str
    band_labels: tuple[str, str, str]  # high, medium, low


LOCALES: dict[str, Locale] = {
    "en": Locale(
        code="en",
        decimal=".",
        thousands=",",
        default_phrase="{name} is {value}",
        factor="{phrase}, {direction}",
        up="which {strength}raises the score",
        down="which {strength}lowers the score",
        strengths=("strongly ", "", "slightly "),
        head="{band} ({score}): ",
        joiner="; ",
        end=".",
        no_factor="no single factor moved the score",
        too_long="factors too long to show in {limit} characters",
        other_up="other factors raise the score",
        other_down="other factors lower the score",
        next_best_action="{action} would raise the score to about {score}.",
        yes="yes",
        no="no",
        missing="missing",
        days="{n} days",
        days_ago="{n} days ago",
        today="today",
        band_labels=("High", "Medium", "Low"),
    ),
    "de": Locale(
        code="de",
        decimal=",",
        thousands=".",
        default_phrase="{name} ist {value}",
        factor="{phrase}, {direction}",
        up="was den Score {strength}erhöht",
        down="was den Score {strength}senkt",
        strengths=("stark ", "", "leicht "),
        head="{band} ({score}): ",
        joiner="; ",
        end=".",
        no_factor="kein einzelner Faktor hat den Score bewegt",
        too_long="Faktoren zu lang für {limit} Zeichen",
        other_up="weitere Faktoren erhöhen den Score",
        other_down="weitere Faktoren senken den Score",
        next_best_action="{action} würde den Score auf etwa {score} erhöhen.",
        yes="ja",
        no="nein",
        missing="fehlend",
        days="{n} Tage",
        days_ago="vor {n} Tagen",
        today="heute",
        band_labels=("Hoch", "Mittel", "Niedrig"),
    ),
}
