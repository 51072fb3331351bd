"""CRM export: the explanation as the fields a CRM stores, each within its text budget.

Budgets of the presets follow each CRM's standard field types: Salesforce Text(255);
Microsoft Dynamics 365 single line of text (default 100) and multiple lines of text (default
2,000) for the reason; HubSpot single-line text (65,536).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ._params import param_error

if TYPE_CHECKING:
    from ._records import Explanations

__all__ = ["CrmField", "CrmFields", "crm_frame"]

_N_FACTORS = 4


class CrmField(BaseModel):
    """One CRM field: its name in the export and its character budget (None: unlimited)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    max_length: int | None = Field(default=None, ge=60)


def _fields(text_budget: int | None, reason_budget: int | None) -> dict[str, CrmField]:
    out = {
        "score": CrmField(name="score"),
        "band": CrmField(name="band", max_length=text_budget),
        "reason": CrmField(name="reason", max_length=reason_budget),
    }
    for k in range(1, _N_FACTORS + 1):
        out[f"reason_{k}"] = CrmField(name=f"reason_{k}", max_length=text_budget)
    for k in range(1, _N_FACTORS + 1):
        out[f"reason_code_{k}"] = CrmField(name=f"reason_code_{k}", max_length=text_budget)
    out["next_best_action"] = CrmField(name="next_best_action", max_length=text_budget)
    out["model_version"] = CrmField(name="model_version", max_length=text_budget)
    out["explained_at"] = CrmField(name="explained_at", max_length=text_budget)
    return out


class CrmFields(BaseModel):
    """Which fields to export, under which names, within which budgets.

    Keys are the sources: ``score``, ``band``, ``reason``, ``reason_1``..``reason_4``,
    ``reason_code_1``..``reason_code_4``, ``next_best_action``, ``model_version``,
    ``explained_at``. Leave a source out to skip it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: dict[str, CrmField]

    @classmethod
    def preset(cls, name: str) -> CrmFields:
        presets = {
            "salesforce": (255, 255),
            "dynamics": (100, 2000),
            "hubspot": (65_536, 65_536),
        }
        if name not in presets:
            raise param_error("fields", "to_crm", f"one of {sorted(presets)}", name)
        text, reason = presets[name]
        return cls(fields=_fields(text, reason))


def crm_frame(batch: Explanations, fields: Any) -> pd.DataFrame:
    spec = CrmFields.preset(fields) if isinstance(fields, str) else fields
    if not isinstance(spec, CrmFields):
        raise param_error("fields", "to_crm", "a preset name or a CrmFields", fields)
    unknown = set(spec.fields) - set(_fields(None, None))
    if unknown:
        raise param_error("fields", "to_crm", "fields from the documented sources", sorted(unknown))
    n = len(batch)
    # The principal factors (up to max_factors), not only those that fit the reason's budget.
    factors = [c.factors for c in batch.composed]
    columns: dict[str, list[Any]] = {}
    for source, field in spec.fields.items():
        values: list[Any]
        if source == "score":
            values = [float(s) for s in batch.scores]
        elif source == "reason":
            values = [
                c.render(field.max_length)[0] if field.max_length else batch.reasons[i]
                for i, c in enumerate(batch.composed)
            ]
        elif source.startswith("reason_code_"):
            k = int(source.rsplit("_", 1)[1]) - 1
            values = [f[k].code if k < len(f) else "" for f in factors]
        elif source.startswith("reason_"):
            k = int(source.rsplit("_", 1)[1]) - 1
            values = [f[k].text if k < len(f) else "" for f in factors]
        elif source == "band":
            values = list(batch.bands)
        elif source == "next_best_action":
            values = [a.text if a else "" for a in batch.next_best_actions]
        elif source == "model_version":
            values = [batch.model_version] * n
        else:  # explained_at
            values = [batch.explained_at] * n
        if field.max_length is not None and source != "reason":
            # A phrase longer than its field is left out, never cut mid-word.
            values = [v if len(str(v)) <= field.max_length else "" for v in values]
        columns[field.name] = values
    return pd.DataFrame(columns, index=batch.data.index)
