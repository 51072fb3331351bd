"""From what a caller passes to ``append`` / ``record_explanation`` to the fields of a record.

This is where personal data is kept out of the log: lead ids are pseudonymized (or refused),
raw input values become a digest unless storing them was asked for, and the raw value beside
each attribution is dropped with them.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ParameterError
from ._audit_canon import (
    canonical_json,
    canonical_json_trusted,
    check_json,
    plain_inputs,
    plain_inputs_checked,
)
from ._pseudonym import lead_text

if TYPE_CHECKING:
    from .._records import LeadExplanation

__all__ = [
    "EVENT_TYPES",
    "RESERVED_EVENTS",
    "EventRules",
    "event_fields",
    "explanation_event",
]

#: Event types explainscore itself writes or expects; any other name matching
#: ``[a-z][a-z0-9_.-]*`` (at most 64 characters) is accepted too.
EVENT_TYPES = frozenset(
    {
        "explanation",
        "kill_switch",
        "kill_switch_engaged",
        "kill_switch_released",
        "review_decision",
        "sign_off",
        "policy_change",
        "model_deployed",
        "purge",
        "log_repair",
    }
)
#: Written only by the log itself (``purge()``, ``repair()``), never through ``append``.
RESERVED_EVENTS = frozenset({"purge", "log_repair"})

_EVENT_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TEXT_FIELDS = ("model_fingerprint", "policy_version", "actor", "request_id", "reason")
_KNOWN = frozenset(
    {
        "event",
        *_TEXT_FIELDS,
        "inputs",
        "input_digest",
        "score",
        "attributions",
        "reason_codes",
        "explanation",
        "lead_id",
        "links_to",
        "details",
    }
)
#: The parts of a LeadExplanation recorded under ``explanation`` (score, attributions, reason,
#: reason codes, fingerprint and policy version have fields of their own).
_EXPLANATION_META = (
    "status",
    "output",
    "base_value",
    "output_space",
    "other_contribution",
    "band",
    "explainer",
    "exact",
    "target_class",
    "model_version",
    "explained_at",
    "signed_off",
    "review_reasons",
    "next_best_action",
)


@dataclass(frozen=True)
class EventRules:
    """How an :class:`AuditLog` treats personal data."""

    store_inputs: bool
    pseudonymize: Callable[[Any], str] | None
    allow_plain_ids: bool


def event_fields(
    event: Mapping[str, Any], rules: EventRules, *, internal: bool = False
) -> dict[str, Any]:
    """Validate ``event`` and return the record fields it sets (all of them, ``None`` where
    not given). Keys outside the record's fields go under ``details``."""
    if not isinstance(event, Mapping):
        raise ParameterError(f"An audit event must be a dict, not {type(event).__name__}.")
    name = event.get("event")
    if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
        raise ParameterError(
            "An audit event needs 'event': a name like 'explanation' or 'review_decision' "
            "(lower case letters, digits, '_', '.', '-'; at most 64 characters)."
        )
    if name in RESERVED_EVENTS and not internal:
        raise ParameterError(f"The audit event type {name!r} is written by the log itself.")
    out: dict[str, Any] = {"event": name}
    for key in _TEXT_FIELDS:
        out[key] = _text(event.get(key), key)
    out["score"] = _score(event.get("score"))
    out["attributions"] = _attributions(event.get("attributions"), rules.store_inputs)
    out["reason_codes"] = _reason_codes(event.get("reason_codes"))
    out["explanation"] = _json_object(event.get("explanation"), "explanation")
    out["input_digest"], out["inputs"] = _inputs(
        event.get("inputs"), event.get("input_digest"), rules.store_inputs
    )
    out["lead_id"] = _lead_id(event.get("lead_id"), rules)
    out["links_to"] = _links_to(event.get("links_to"))
    details = dict(_json_object(event.get("details"), "details") or {})
    for key in sorted(set(event) - _KNOWN):
        if not isinstance(key, str):
            raise ParameterError("Audit event keys must be str.")
        if key in details:
            raise ParameterError(f"The audit event key {key!r} is also in 'details'.")
        details[key] = event[key]
    out["details"] = details or None
    check_json(out["details"])  # refuse what JSON cannot hold now, not at write time
    return out


def explanation_event(
    explanation: LeadExplanation,
    *,
    inputs: Any,
    lead_id: Any,
    actor: str | None,
    request_id: str | None,
    policy_version: str | None,
    reason_codes: Sequence[Any] | None,
) -> dict[str, Any]:
    """The ``explanation`` event for one :class:`~explainscore.LeadExplanation`."""
    # model_dump rather than attribute access: the record grows fields over time, and only
    # the ones named here are copied, so a new field is never logged by surprise.
    data = explanation.model_dump(mode="json")
    codes: Any = reason_codes
    if codes is None and data.get("reason_codes"):
        codes = data["reason_codes"]
    return {
        "event": "explanation",
        "model_fingerprint": data.get("model_fingerprint"),
        "policy_version": policy_version
        if policy_version is not None
        else data.get("policy_version"),
        "score": data.get("score"),
        "attributions": data.get("attributions") or [],
        "reason": data.get("reason"),
        "reason_codes": codes,
        "explanation": {k: data[k] for k in _EXPLANATION_META if k in data},
        "inputs": inputs,
        "lead_id": lead_id,
        "actor": actor,
        "request_id": request_id,
    }


def _text(value: Any, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ParameterError(f"The audit field {key!r} must be a str or None.")


def _score(value: Any) -> float | None:
    if value is None:
        return None
    if value.__class__ is float and value - value == 0.0:  # finite: the common case first
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError("The audit field 'score' must be a number or None.")
    score = float(value)
    if not math.isfinite(score):
        raise ParameterError("The audit field 'score' must be finite.")
    return score


def _attributions(value: Any, store_values: bool) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ParameterError("The audit field 'attributions' must be a list.")
    out = []
    for item in value:
        feature, contribution, raw = (_part(item, k) for k in ("feature", "contribution", "value"))
        if not isinstance(feature, str):
            raise ParameterError("Each attribution needs a 'feature' (str).")
        entry: dict[str, Any] = {"feature": feature, "contribution": _score(contribution)}
        if store_values:
            # The lead's own value: personal data, kept only when inputs are kept.
            entry["value"] = plain_inputs({feature: raw})[feature]
        out.append(entry)
    return out


def _part(item: Any, key: str) -> Any:
    # An attribution as a dict or as a FeatureAttribution (or anything with the attributes).
    if item.__class__ is dict or isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _reason_codes(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ParameterError("The audit field 'reason_codes' must be a list.")
    codes = [c.model_dump(mode="json") if hasattr(c, "model_dump") else c for c in value]
    check_json(codes)
    return codes


def _json_object(value: Any, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ParameterError(f"The audit field {key!r} must be a dict or None.")
    out = dict(value)
    check_json(out)
    return out


def _inputs(inputs: Any, digest: Any, store: bool) -> tuple[str | None, dict[str, Any] | None]:
    if digest is not None and (not isinstance(digest, str) or not _DIGEST.fullmatch(digest)):
        raise ParameterError("The audit field 'input_digest' must be 'sha256:' + 64 hex digits.")
    if inputs is None:
        return digest, None
    plain, checked = plain_inputs_checked(inputs)
    text = canonical_json_trusted(plain) if checked else canonical_json(plain)
    computed = "sha256:" + hashlib.sha256(text).hexdigest()  # input_digest
    if digest is not None and digest != computed:
        raise ParameterError("The audit fields 'inputs' and 'input_digest' disagree.")
    return computed, (plain if store else None)


def _lead_id(value: Any, rules: EventRules) -> str | None:
    if value is None:
        return None
    if rules.pseudonymize is not None:
        return rules.pseudonymize(value)
    if rules.allow_plain_ids:
        return "plain:" + lead_text(value)
    raise ParameterError(
        "A lead_id was given but the audit log has no pseudonym_key: raw lead ids are not "
        "written. Pass pseudonym_key= (or allow_plain_ids=True if the ids are not personal "
        "data)."
    )


def _links_to(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ParameterError("The audit field 'links_to' must be a sequence number (int >= 1).")
    return int(value)
