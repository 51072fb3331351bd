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
#: Integers beyond +-2**53 are refused: JSON numbers past that are not exact in most parsers
#: (nor in float64, which every model column becomes), and a 400-digit integer does not fit a
#: float at all. Send such a magnitude as a float (``1e300``) if it is meant.
MAX_EXACT_INT = 2**53


def _bad_text(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (``"\\ud800"`` in JSON): not Unicode text, so it
    can be neither stored, logged nor written back as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _cell_problem(cell: Any) -> str | None:
    """What is wrong with one cell, or None; the message never quotes the cell."""
    if not isinstance(cell, _SCALARS):
        return "a cell must be a string, number, boolean or null"
    if isinstance(cell, str) and _bad_text(cell):
        return "a text cell holds a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode"
    if isinstance(cell, int) and not isinstance(cell, bool) and abs(cell) > MAX_EXACT_INT:
        return (
            f"an integer must be within +-{MAX_EXACT_INT} (2**53); send a larger magnitude "
            "as a float"
        )
    return None


def _missing_as_null(instance: Any) -> Any:
    """``NaN`` (a token Python's JSON parser accepts, JSON itself has not) as ``null``.

    Both mean a missing value, and ``null`` is the one every column takes as missing: a float
    NaN in a text column would reach the model's encoder as a number among strings.
    Infinities are kept: they are values out of range, refused by the model per row.
    """
    if isinstance(instance, dict):
        if any(isinstance(v, float) and v != v for v in instance.values()):
            return {
                k: (None if isinstance(v, float) and v != v else v) for k, v in instance.items()
            }
        return instance
    if any(isinstance(v, float) and v != v for v in instance):
        return [None if isinstance(v, float) and v != v else v for v in instance]
    return instance


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
        # request, naming the instance and the cell's position (the n-th key of a record or
        # the n-th value of a row), never the value nor the key: a key is the caller's text
        # too, and may be a column the model hides.
        if not isinstance(value, list):
            return value
        for i, instance in enumerate(value):
            if isinstance(instance, dict):
                for j, key in enumerate(instance):
                    if not isinstance(key, str) or _bad_text(key):
                        raise ValueError(
                            f"instance {i}, key {j} (0-based): a column name must be valid "
                            "Unicode text (no lone surrogate)"
                        )
                cells: Any = instance.values()
            elif isinstance(instance, list):
                cells = instance
            else:
                raise ValueError(f"instance {i} must be an object (record) or an array (row)")
            for j, cell in enumerate(cells):
                problem = _cell_problem(cell)
                if problem is not None:
                    raise ValueError(f"instance {i}, cell {j} (0-based, as sent): {problem}")
        return [_missing_as_null(instance) for instance in value]


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
    audit_seqs: list[int | None] | None = Field(
        default=None,
        description="Audit record numbers ('prediction' events), when the model has an audit log.",
    )


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
    features: list[str] = Field(
        description="The input columns, in row order; a column hidden by the model's catalog "
        "or policy is listed as 'a hidden column' (its place in a row is kept, its name is "
        "not shown)."
    )


class ModelList(BaseModel):
    """The models this caller may use."""

    models: list[str]


class FieldProblem(BaseModel):
    """One problem with the request, by location (never the value)."""

    field: str
    problem: str


class ErrorBody(BaseModel):
    """Every error answer (4xx and 5xx, from every endpoint and from the outer layer: 401,
    403, 404, 405, 413, 422, 503, 500). It never quotes a value or header of the request,
    nor a column the model hides; a key the caller sent is named only as an unexpected
    column, and only when it is a plain name (letters, digits, ' ', '_', '.', '-'; at most
    64 characters)."""

    error: str
    request_id: str
    column: str | None = None
    columns: list[str] | None = None
    problems: list[FieldProblem] | None = None
    model_status: str | None = Field(
        default=None, description="With 503: 'paused' (kill switch) or 'not_signed_off'."
    )
