"""Output records: one lead's explanation (pydantic, frozen) and a batch of them.

A :class:`LeadExplanation` is what travels: to a CRM, an audit log, an HTTP response. An
:class:`Explanations` batch keeps the numbers as arrays for analysis and builds records on
demand, so explaining ten thousand leads does not build ten thousand pydantic objects unless
they are asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ._inputs import RowProblem

__all__ = ["Explanations", "FeatureAttribution", "LeadExplanation", "RejectedRow"]

FloatArray = npt.NDArray[np.float64]
Scalar = str | int | float | bool | None


class FeatureAttribution(BaseModel):
    """One raw column's share of a lead's score."""

    model_config = ConfigDict(frozen=True)

    feature: str = Field(description="The raw input column.")
    value: Scalar = Field(description="The lead's value in that column.")
    contribution: float = Field(
        description="Shapley value in the explanation's output space: how much this column "
        "moves the output away from the base value."
    )


class LeadExplanation(BaseModel):
    """Why one lead got its score.

    ``base_value + sum of all contributions == output`` holds exactly (to 1e-6; to 1e-5 of
    the model's own output for float32 models). ``attributions`` holds the ``top_k`` largest
    by absolute contribution; ``other_contribution`` is the sum of the rest, so the record
    alone still adds up.
    """

    model_config = ConfigDict(frozen=True)

    score: float = Field(description="P(target class) for classifiers, the prediction otherwise.")
    output: float = Field(description="The model output in `output_space`.")
    base_value: float = Field(description="The output expected before looking at this lead.")
    output_space: Literal["log_odds", "probability", "raw"]
    attributions: tuple[FeatureAttribution, ...]
    other_contribution: float = Field(
        description="Sum of the contributions of the columns not listed in `attributions`."
    )
    reason: str = Field(description="Plain-language statement of the principal factors.")
    explainer: str = Field(description="The method that computed the attributions.")
    exact: bool = Field(description="True when the attributions are exact Shapley values.")
    target_class: Scalar = Field(description="The class whose score is explained, if any.")
    model_fingerprint: str = Field(description="SHA-256 of the explained model.")


class RejectedRow(BaseModel):
    """A row a batch could not explain, and why (the column, never the value)."""

    model_config = ConfigDict(frozen=True)

    row: int = Field(description="0-based position of the row in the input.")
    column: str
    problem: str


@dataclass(frozen=True, eq=False)
class Explanations:
    """Explanations of a batch of leads.

    Attributes
    ----------
    scores : ndarray of shape (n,)
    outputs : ndarray of shape (n,)
        Model output in ``output_space``.
    base_values : ndarray of shape (n,)
    attributions : ndarray of shape (n, n_features)
        One value per raw column, in ``feature_names`` order.
    feature_names : list of str
    output_space : str
    reasons : list of str
    data : DataFrame
        The explained rows (raw values), indexed like the input.
    explainer : str
    exact : bool
    target_class : scalar or None
    model_fingerprint : str
    top_k : int
    rejected : list of RejectedRow
        Rows that were not explained (``on_error='skip'``), with the reason.
    """

    scores: FloatArray
    outputs: FloatArray
    base_values: FloatArray
    attributions: FloatArray
    feature_names: list[str]
    output_space: Literal["log_odds", "probability", "raw"]
    reasons: list[str]
    data: pd.DataFrame
    explainer: str
    exact: bool
    target_class: Scalar
    model_fingerprint: str
    top_k: int
    rejected: list[RejectedRow] = field(default_factory=list)
    std_errors: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[LeadExplanation]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> LeadExplanation:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"explanation index {i} out of range for a batch of {n}")
        return self._record(i % n)

    def top_indices(self, k: int | None = None) -> npt.NDArray[np.intp]:
        """Column indices of each row's ``k`` largest |attributions|, strongest first.

        Ties are broken by column order, so the ranking is deterministic.
        """
        kk = self.top_k if k is None else k
        order = np.argsort(-np.abs(self.attributions), axis=1, kind="stable")
        return order[:, :kk]

    def _record(self, i: int) -> LeadExplanation:
        top = self.top_indices()[i]
        row = self.data.iloc[i]
        attrs = tuple(
            FeatureAttribution(
                feature=self.feature_names[j],
                value=_plain(row.iloc[j]),
                contribution=float(self.attributions[i, j]),
            )
            for j in top
        )
        total = float(self.attributions[i].sum())
        shown = float(sum(a.contribution for a in attrs))
        return LeadExplanation(
            score=float(self.scores[i]),
            output=float(self.outputs[i]),
            base_value=float(self.base_values[i]),
            output_space=self.output_space,
            attributions=attrs,
            other_contribution=total - shown,
            reason=self.reasons[i],
            explainer=self.explainer,
            exact=self.exact,
            target_class=self.target_class,
            model_fingerprint=self.model_fingerprint,
        )

    def to_frame(self, *, attributions: bool = True) -> pd.DataFrame:
        """One row per explained lead, indexed like the input.

        Columns: ``score``, ``output``, ``base_value``, ``reason``, ``reason_1`` ..
        ``reason_k`` (the top factors' column names), and ``contrib_<column>`` for every raw
        column when ``attributions`` is true.
        """
        top = self.top_indices()
        cols: dict[str, Any] = {
            "score": self.scores,
            "output": self.outputs,
            "base_value": self.base_values,
            "reason": self.reasons,
        }
        names = np.asarray(self.feature_names, dtype=object)
        for k in range(top.shape[1]):
            cols[f"reason_{k + 1}"] = names[top[:, k]]
        if attributions:
            for j, name in enumerate(self.feature_names):
                cols[f"contrib_{name}"] = self.attributions[:, j]
        return pd.DataFrame(cols, index=self.data.index)

    def rejected_frame(self) -> pd.DataFrame:
        """The rejected rows as a frame with ``row``, ``column`` and ``problem``."""
        return pd.DataFrame(
            [r.model_dump() for r in self.rejected], columns=["row", "column", "problem"]
        )


def rejected_rows(problems: dict[int, RowProblem]) -> list[RejectedRow]:
    return [
        RejectedRow(row=p.row, column=p.column, problem=p.message)
        for _, p in sorted(problems.items())
    ]


def _plain(value: Any) -> Scalar:
    """A JSON-friendly scalar for a cell (numpy scalars unwrapped, NaN kept as None)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
