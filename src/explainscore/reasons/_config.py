"""Reason settings: score bands, strength words, factor selection, budget, locale."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..exceptions import ParameterError

__all__ = ["ReasonConfig", "ScoreBands", "StrengthCutoffs"]


class ScoreBands(BaseModel):
    """Labels for score ranges; ``labels[i]`` applies from ``thresholds[i]`` upwards.

    ``thresholds`` are descending; the last label applies below the last threshold. Labels of
    ``None`` take the locale's words (High / Medium / Low).

    Bands set by hand leave ``derived_from`` as ``None``. :meth:`from_scores` derives them
    from a model's training scores (what :class:`~explainscore.ExplainedModel` does when
    :class:`ReasonConfig` gives no ``bands``) and records how: ``"base_rate"`` (multiples of
    the mean training probability, kept in ``base_rate``) or ``"quantiles"`` (of the training
    outputs), with the number of training scores read in ``n_scores``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    thresholds: tuple[float, ...] = (0.5, 0.2)
    labels: tuple[str, ...] | None = None
    derived_from: Literal["base_rate", "quantiles"] | None = None
    base_rate: float | None = None
    n_scores: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ScoreBands:
        if not all(math.isfinite(t) for t in self.thresholds):
            raise ValueError("thresholds must be finite numbers")
        if list(self.thresholds) != sorted(self.thresholds, reverse=True):
            raise ValueError("thresholds must be in descending order")
        if self.labels is not None and len(self.labels) != len(self.thresholds) + 1:
            raise ValueError("there must be one more label than thresholds")
        if self.labels is None and len(self.thresholds) != 2:
            raise ValueError("the locale's High/Medium/Low labels need exactly two thresholds")
        return self

    @classmethod
    def high_medium_low(cls, *, high: float = 0.5, medium: float = 0.2) -> ScoreBands:
        """High from ``high``, Medium from ``medium``, Low below (fixed cut-offs)."""
        return cls(thresholds=(high, medium))

    @classmethod
    def grades(cls, *, a: float = 0.5, b: float = 0.3, c: float = 0.15) -> ScoreBands:
        """Grades A (best) to D."""
        return cls(thresholds=(a, b, c), labels=("A", "B", "C", "D"))

    @classmethod
    def from_scores(cls, scores: ArrayLike, *, probability: bool) -> ScoreBands:
        """High / Medium / Low cut-offs read off a model's training scores.

        Parameters
        ----------
        scores : array-like of float
            The model's scores of its training rows (P(converts) for a classifier).
        probability : bool
            Whether the scores are probabilities of the explained class.

        Returns
        -------
        ScoreBands
            For probabilities, with ``base_rate`` the mean score: Medium from the base rate
            (a lead at least as likely to convert as the average lead), High from twice the
            base rate, or from halfway between the base rate and 1 when that is lower (a base
            rate above 1/3). Otherwise (a regressor's output, a decision function): High
            from the 80th percentile of the scores, Medium from their median. Cut-offs are
            rounded to 4 decimals.
        """
        values = np.asarray(scores, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ParameterError(
                "The 'scores' parameter of ScoreBands.from_scores must hold at least one "
                "finite number. Got none instead."
            )
        # A "probability" outside [0, 1] is not one (XGBoost's binary:logitraw answers
        # predict_proba with margins): its cut-offs are quantiles, as for any other output.
        if probability and values.min() >= 0.0 and values.max() <= 1.0:
            base = float(values.mean())
            high = min(2.0 * base, (1.0 + base) / 2.0)
            return cls(
                thresholds=(round(high, 4), round(base, 4)),
                derived_from="base_rate",
                base_rate=round(base, 4),
                n_scores=int(values.size),
            )
        high, medium = np.quantile(values, [0.8, 0.5])
        return cls(
            thresholds=(round(float(high), 4), round(float(medium), 4)),
            derived_from="quantiles",
            n_scores=int(values.size),
        )

    def describe(self) -> str:
        """The cut-offs in words, with how they were derived: ``"High from 0.234 (twice the
        base rate 11.7%), Medium from 0.117 (the base rate), Low below"``."""
        labels = self.labels if self.labels is not None else ("High", "Medium", "Low")
        notes = [""] * len(self.thresholds)
        if self.derived_from == "base_rate" and self.base_rate is not None:
            twice = self.base_rate <= 1 / 3  # from_scores: min(2 b, (1 + b) / 2)
            notes = [
                f" (twice the base rate {self.base_rate:.1%})"
                if twice
                else " (halfway from the base rate to 1)",
                " (the base rate)",
            ]
        elif self.derived_from == "quantiles":
            notes = [" (80th percentile)", " (median)"]
        parts = [
            f"{label} from {threshold:.3f}{note}"
            for label, threshold, note in zip(labels, self.thresholds, notes, strict=False)
        ]
        return ", ".join([*parts, f"{labels[-1]} below"])

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


#: What a ReasonWriter used on its own takes when no bands are given (no training scores).
_FIXED_BANDS = ScoreBands()


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
    bands : ScoreBands, optional
        The score bands that lead the reason. Default ``None``: :class:`ExplainedModel
        <explainscore.ExplainedModel>` derives them from the model's training scores when it
        is fitted (:meth:`ScoreBands.from_scores`; its ``score_bands_``); a
        :class:`ReasonWriter` used on its own, with no training scores, takes the fixed
        ``ScoreBands()`` (0.5 / 0.2).
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
    bands: ScoreBands | None = None
    strength: StrengthCutoffs | None = None
    mention_hidden: bool = True
    next_best_action: Literal["field", "append", "off"] = "field"

    @property
    def score_bands(self) -> ScoreBands:
        """The bands reasons are written with: ``bands``, or the fixed ``ScoreBands()``."""
        return self.bands if self.bands is not None else _FIXED_BANDS

    def strength_for(self, space: str) -> StrengthCutoffs:
        return self.strength or DEFAULT_STRENGTH[space]
