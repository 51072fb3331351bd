"""Reason settings: score bands, strength words, factor selection, budget, locale."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ReasonConfig", "ScoreBands", "StrengthCutoffs"]


class ScoreBands(BaseModel):
    """Labels for score ranges; ``labels[i]`` applies from ``thresholds[i]`` upwards.

    ``thresholds`` are descending; the last label applies below the last threshold. Labels of
    ``None`` take the locale's words (High / Medium / Low).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    thresholds: tuple[float, ...] = (0.5, 0.2)
    labels: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> ScoreBands:
        if list(self.thresholds) != sorted(self.thresholds, reverse=True):
            raise ValueError("thresholds must be in descending order")
        if self.labels is not None and len(self.labels) != len(self.thresholds) + 1:
            raise ValueError("there must be one more label than thresholds")
        if self.labels is None and len(self.thresholds) != 2:
            raise ValueError("the locale's High/Medium/Low labels need exactly two thresholds")
        return self

    @classmethod
    def high_medium_low(cls, *, high: float = 0.5, medium: float = 0.2) -> ScoreBands:
        return cls(thresholds=(high, medium))

    @classmethod
    def grades(cls, *, a: float = 0.5, b: float = 0.3, c: float = 0.15) -> ScoreBands:
        """Grades A (best) to D."""
        return cls(thresholds=(a, b, c), labels=("A", "B", "C", "D"))

    def band(self, score: float, locale_labels: tuple[str, str, str]) -> str:
        labels = self.labels if self.labels is not None else locale_labels
        for threshold, label in zip(self.thresholds, labels, strict=False):
            if score >= threshold:
                return label
        return labels[-1]


class StrengthCutoffs(BaseModel):
    """|contribution| cut-offs for the strength words, in the explanation's output space.

    ``strong`` and above: "strongly"; below ``slight``: "slightly"; between: no adverb.
    Defaults: log-odds 1.0 / 0.2 (the odds multiplied by at least e^1 = 2.7, or by less than
    e^0.2 = 1.22); probability 0.10 / 0.02 (ten and two percentage points); raw outputs are
    measured in standard deviations of the background outputs, 0.5 / 0.1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strong: float = Field(gt=0)
    slight: float = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> StrengthCutoffs:
        if self.slight > self.strong:
            raise ValueError("slight must not exceed strong")
        return self


DEFAULT_STRENGTH: dict[str, StrengthCutoffs] = {
    "log_odds": StrengthCutoffs(strong=1.0, slight=0.2),
    "probability": StrengthCutoffs(strong=0.10, slight=0.02),
    "raw": StrengthCutoffs(strong=0.5, slight=0.1),
    # A regressor's margin and response are in its own units too, scaled like raw.
    "margin": StrengthCutoffs(strong=0.5, slight=0.1),
    "response": StrengthCutoffs(strong=0.5, slight=0.1),
}


class ReasonConfig(BaseModel):
    """How reasons are written.

    Parameters
    ----------
    max_factors : int, default=4
        Principal factors named at most (the adverse-action convention is four).
    direction : {"both", "positive", "negative"}, default="both"
        Name factors that raise the score, lower it, or both.
    locale : {"en", "de"}, default="en"
    max_length : int, default=255
        Characters at most (the CRM text-field limit). Whole factors are dropped to fit.
    bands : ScoreBands
        The score band that leads the reason.
    strength : StrengthCutoffs, optional
        Cut-offs for "strongly"/"slightly"; default per output space (see StrengthCutoffs).
    mention_hidden : bool, default=True
        Say "other factors raise/lower the score" when hidden columns outweigh the weakest
        named factor (their names are never shown).
    next_best_action : {"field", "append", "off"}, default="field"
        Compute the next best action into its own field, also append it to the reason when it
        fits, or skip it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_factors: int = Field(default=4, ge=1, le=10)
    direction: Literal["both", "positive", "negative"] = "both"
    locale: Literal["en", "de"] = "en"
    max_length: int = Field(default=255, ge=60, le=100_000)
    bands: ScoreBands = Field(default_factory=ScoreBands)
    strength: StrengthCutoffs | None = None
    mention_hidden: bool = True
    next_best_action: Literal["field", "append", "off"] = "field"

    def strength_for(self, space: str) -> StrengthCutoffs:
        return self.strength or DEFAULT_STRENGTH[space]
