"""Request and response bodies (KServe V1 data plane), for validation and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._records import LeadExplanation, RejectedRow

__all__ = [
    "ErrorBody",
    "ExplainResponse",
    "FieldProblem",
    "InferenceRequest",
    "ModelList",
    "ModelStatus",
    "Parameters",
    "PredictResponse",
]

Scalar = str | int | float | bool | None
_SCALARS = (str, int, float, bool, type(None))


class Parameters(BaseModel):
    """Options of one request."""

    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(default=None, ge=1, description="Principal factors per lead.")


class InferenceRequest(BaseModel):
    """``{"instances": [...]}``: records (objects keyed by column) or rows (arrays in the
    model's column order, as ``GET /v1/models/{name}`` lists them); not both in one request."""

    model_config = ConfigDict(extra="forbid")

    instances: list[dict[str, Scalar] | list[Scalar]] = Field(min_length=1)
    parameters: Parameters | None = None

    @field_validator("instances", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        # Checked before the typed union, which would report each bad cell once per member
        # type under locations like 'dict[str,nullable[union[...]]]'. One message per
        # request, naming the instance and the column, never the value.
        if not isinstance(value, list):
            return value
        for i, instance in enumerate(value):
            if isinstance(instance, dict):
                cells: Any = instance.items()
            elif isinstance(instance, list):
                cells = enumerate(instance)
            else:
                raise ValueError(f"instance {i} must be an object (record) or an array (row)")
            for key, cell in cells:
                if not isinstance(cell, _SCALARS):
                    raise ValueError(
                        f"instance {i}, column {key!r}: a cell must be a string, number, "
                        "boolean or null"
                    )
        return value


class _Batch(BaseModel):
    model_name: str
    model_version: str
    request_id: str
    rejected: list[RejectedRow] = Field(
        description="Instances not scored: position, column and problem (never the value)."
    )


class PredictResponse(_Batch):
    """One score per instance, in order; ``null`` for a rejected instance."""

    predictions: list[float | None]


class ExplainResponse(_Batch):
    """One explanation per instance, in order; ``null`` for a rejected instance."""

    explanations: list[LeadExplanation | None]
    audit_seqs: list[int | None] | None = Field(
        default=None, description="Audit record numbers, when the model has an audit log."
    )


class ModelStatus(BaseModel):
    """Whether a model is ready to score, and which model it is."""

    name: str
    ready: bool
    status: Literal["ready", "paused", "not_signed_off"]
    reason: str | None = None
    model_version: str
    model_fingerprint: str
    signed_off: bool
    features: list[str] = Field(description="The input columns, in row order.")


class ModelList(BaseModel):
    """The models this caller may use."""

    models: list[str]


class FieldProblem(BaseModel):
    """One problem with the request, by location (never the value)."""

    field: str
    problem: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str
    request_id: str
    column: str | None = None
    columns: list[str] | None = None
    problems: list[FieldProblem] | None = None
    model_status: str | None = Field(
        default=None, description="With 503: 'paused' (kill switch) or 'not_signed_off'."
    )
