"""What ``:predict`` and ``:explain`` do, once, for both ways a request reaches them.

A request comes either through FastAPI's routing (the documented routes, and every request
the direct path leaves alone) or through :mod:`._direct`, which serves well-formed bodies
without FastAPI's per-request machinery. Both call :class:`Endpoints`, so the answers are the
same: the same checks in the same order, the same refusals, the same bytes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..exceptions import (
    AuditLogError,
    ExplanationError,
    InputError,
    NotSignedOffError,
    ParameterError,
    PolicyViolationError,
    ScoringPausedError,
)
from ._config import ServiceConfig
from ._http import json_bytes, json_list, json_object, record_json
from ._metrics import Metrics
from ._refusals import RefusalError, input_refusal, rejected, unnamed
from ._schemas import InferenceRequest
from ._scoring import (
    audit_predictions,
    hidden_columns,
    kill_state,
    model_version,
    score_rows,
)

__all__ = ["BusyError", "Endpoints", "Served", "check_models", "governed"]

_LOG = logging.getLogger("explainscore.service")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class BusyError(Exception):
    """The model is busy with another request and the caller asked not to wait."""


@dataclass
class Served:
    """One served model and what the service keeps about it."""

    name: str
    em: Any
    # Columns the model hides (catalog or policy): never named in an HTTP body.
    hidden: frozenset[str] = frozenset()
    # ExplainedModel does not promise thread safety; one explanation at a time per model and
    # process, and more throughput from more worker processes.
    lock: threading.Lock = field(default_factory=threading.Lock)


def check_models(models: Mapping[str, Any]) -> dict[str, Served]:
    """The models of ``create_app``, checked, by name."""
    from .._model import ExplainedModel

    if not isinstance(models, Mapping) or not models:
        raise ParameterError(
            "The 'models' parameter of create_app must be a non-empty mapping of name -> "
            "ExplainedModel."
        )
    served = {}
    for name, em in models.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ParameterError(
                f"Model name {name!r} cannot be used in a URL: use 1-128 letters, digits or '_.-'."
            )
        if not isinstance(em, ExplainedModel):
            raise ParameterError(
                f"The model {name!r} passed to create_app must be an ExplainedModel; got "
                f"{type(em).__name__}."
            )
        # Build now, the one-lead lane included: a model that cannot be explained fails at
        # start, and the first request does not pay for the lane's checks.
        _ = em._engine().lane
        served[name] = Served(name, em, hidden=hidden_columns(em))
    return served


def _frame(body: InferenceRequest, names: list[str]) -> pd.DataFrame:
    """The instances as a frame indexed by position; column problems left to the model."""
    instances = body.instances
    records = [isinstance(i, dict) for i in instances]
    if all(records):
        return pd.DataFrame(instances, index=range(len(instances)))
    if any(records):
        raise RefusalError(
            422,
            "Instances must all be records (objects) or all rows (arrays), not a mix.",
            problems=[{"field": "instances", "problem": "mixes records and rows"}],
        )
    for i, row in enumerate(instances):
        if len(row) != len(names):
            raise RefusalError(
                422,
                f"Instance {i} has {len(row)} values, but the model takes {len(names)} columns "
                "(their order is listed by GET /v1/models/{name}).",
                problems=[{"field": f"instances.{i}", "problem": "wrong number of values"}],
            )
    return pd.DataFrame(instances, columns=names, index=range(len(instances)))


@contextmanager
def _holding(lock: threading.Lock, *, wait: bool) -> Iterator[None]:
    # Without waiting, a busy model raises BusyError before anything is done, so the caller
    # (the event loop) can hand the request to a thread rather than block on the lock.
    if not lock.acquire(blocking=wait):
        raise BusyError
    try:
        yield
    finally:
        lock.release()


class Endpoints:
    """The model endpoints: checks, governance, scoring, metrics and the encoded answer.

    Each endpoint returns ``(status, JSON bytes)`` or raises :class:`RefusalError`.
    ``wait=False`` raises :class:`BusyError` instead of waiting for a model another request
    holds; nothing has been done or counted then, so the request can be run again.
    """

    def __init__(
        self, served: dict[str, Served], *, config: ServiceConfig, metrics: Metrics
    ) -> None:
        self.served = served
        self.config = config
        self.metrics = metrics

    def lookup(self, name: str) -> Served:
        entry = self.served.get(name)
        if entry is None:
            raise RefusalError(404, "No model of that name is served; GET /v1/models lists them.")
        return entry

    def readiness(self, entry: Served) -> tuple[str, str | None]:
        em = entry.em
        # The model's own switch and the process-wide one (EXPLAINSCORE_KILL_SWITCH and the
        # file named by EXPLAINSCORE_KILL_SWITCH_FILE), read on every request.
        kill = kill_state(em)
        if kill.engaged:
            return "paused", f"Scoring is paused by the kill switch ({kill.why})."
        if self.config.require_sign_off and not em.signed_off_:
            return "not_signed_off", (
                "The model is not signed off on its model card; the service requires a "
                "sign-off (ServiceConfig.require_sign_off)."
            )
        return "ready", None

    def require_ready(self, entry: Served) -> None:
        status, reason = self.readiness(entry)
        if reason is not None:
            raise RefusalError(503, reason, model_status=status)

    def ready_entry(self, name: str, body: InferenceRequest) -> Served:
        """The model entry, checked: it exists, the body is not too large, it is ready."""
        entry = self.lookup(name)
        if len(body.instances) > self.config.max_instances:
            raise RefusalError(
                413,
                f"{len(body.instances)} instances exceed the limit of "
                f"{self.config.max_instances} per request; split the batch.",
            )
        self.require_ready(entry)
        return entry

    def predict(
        self,
        name: str,
        body: InferenceRequest,
        *,
        request_id: str,
        caller: str | None,
        wait: bool = True,
    ) -> tuple[int, bytes]:
        """``POST /v1/models/{name}:predict``."""
        entry = self.ready_entry(name, body)
        em = entry.em
        if len(body.instances) == 1:
            # One lead: scored by the fast lane when it can vouch for the row, so a score
            # here is the one :explain reports for it.
            with _holding(entry.lock, wait=wait):
                one = governed(entry, lambda: em._score_fast(body.instances[0]))
            if one is not None:
                self.metrics.count_rows(name, "predicted", 1)
                out = {
                    "model_name": name,
                    "model_version": model_version(em),
                    "request_id": request_id,
                    "predictions": [one],
                    "rejected": [],
                    "audit_seqs": None,  # the lane takes no model with an audit log
                }
                return 200, json_bytes(out)
        frame = _frame(body, [str(c) for c in em.feature_names_in_])
        with _holding(entry.lock, wait=wait):
            # Scoring goes through the engine, not em.predict: the switch is checked here
            # again, right before the scores are made (it may have flipped since the check).
            self.require_ready(entry)
            scored = governed(entry, lambda: score_rows(em, frame))
            # Nothing leaves without its audit record, as for :explain.
            audit = governed(
                entry,
                lambda: audit_predictions(em, scored, actor=caller, request_id=request_id),
            )
        predictions: list[float | None] = [None] * len(frame)
        seqs: list[int | None] = [None] * len(frame)
        for pos, score, seq in zip(scored.positions, scored.scores, audit, strict=True):
            predictions[pos] = score
            seqs[pos] = seq
        self.metrics.count_rows(name, "predicted", len(scored.positions))
        self.metrics.count_rows(name, "rejected", len(scored.rejected))
        out = {
            "model_name": name,
            "model_version": model_version(em),
            "request_id": request_id,
            "predictions": predictions,
            "rejected": [rejected(r, entry.hidden) for r in scored.rejected],
            "audit_seqs": seqs if em.audit_log is not None else None,
        }
        return 200, json_bytes(out)

    def explain(
        self,
        name: str,
        body: InferenceRequest,
        *,
        request_id: str,
        caller: str | None,
        wait: bool = True,
    ) -> tuple[int, bytes]:
        """``POST /v1/models/{name}:explain``."""
        entry = self.ready_entry(name, body)
        em = entry.em
        top_k = body.parameters.top_k if body.parameters is not None else None
        start = time.perf_counter()
        if len(body.instances) == 1:
            # One lead: the model's fast lane when it can vouch for the row (no pandas); it
            # returns None for anything it leaves to the batch path's checks.
            with _holding(entry.lock, wait=wait):
                one = governed(
                    entry,
                    lambda: em._explain_fast(
                        body.instances[0], top_k=top_k, actor=caller, request_id=request_id
                    ),
                )
            if one is not None:
                self.metrics.observe_explain(name, time.perf_counter() - start)
                self.metrics.count_rows(name, "explained", 1)
                self.metrics.count_rows(name, "rejected", 0)
                return 200, json_object(
                    {
                        "model_name": name,
                        "model_version": one.model_version,
                        "request_id": request_id,
                        # Encoded by pydantic straight to JSON: no dict of the record first.
                        "explanations": json_list([record_json(one)]),
                        "rejected": [],
                        "audit_seqs": [one.audit_seq] if em.audit_log is not None else None,
                    }
                )
        frame = _frame(body, [str(c) for c in em.feature_names_in_])
        with _holding(entry.lock, wait=wait):
            self.require_ready(entry)  # the switch may have flipped while the lock was awaited
            batch = governed(
                entry,
                lambda: em.explain(
                    frame, top_k=top_k, on_error="skip", actor=caller, request_id=request_id
                ),
            )
        self.metrics.observe_explain(name, time.perf_counter() - start)
        if batch.status == "paused":  # the switch flipped between the check and the call
            reason = unnamed(str(batch.reasons[0]), entry.hidden)
            raise RefusalError(503, reason, model_status="paused")
        explanations: list[bytes | None] = [None] * len(frame)
        seqs: list[int | None] = [None] * len(frame)
        for pos, record in zip(batch.data.index, batch, strict=True):
            explanations[int(pos)] = record_json(record)
            seqs[int(pos)] = record.audit_seq
        self.metrics.count_rows(name, "explained", len(batch))
        self.metrics.count_rows(name, "rejected", len(batch.rejected))
        return 200, json_object(
            {
                "model_name": name,
                "model_version": batch.model_version,
                "request_id": request_id,
                "explanations": json_list(explanations),
                "rejected": [rejected(r, entry.hidden) for r in batch.rejected],
                "audit_seqs": seqs if em.audit_log is not None else None,
            }
        )


def governed(entry: Served, call: Callable[[], Any]) -> Any:
    """``call()``, with the model's governance and input errors turned into refusals."""
    hidden = entry.hidden
    try:
        return call()
    except ScoringPausedError as exc:
        raise RefusalError(503, unnamed(str(exc), hidden), model_status="paused") from None
    except NotSignedOffError as exc:
        message = unnamed(str(exc), hidden)
        raise RefusalError(503, message, model_status="not_signed_off") from None
    except PolicyViolationError as exc:
        raise RefusalError(422, unnamed(str(exc), hidden)) from None
    except InputError as exc:
        raise input_refusal(exc, hidden) from None
    except ParameterError as exc:
        raise RefusalError(422, unnamed(str(exc), hidden)) from None
    except ExplanationError:
        # Attributions that do not add up to the score: seen for finite values so extreme
        # (1.8e308) that the model's arithmetic overflows. Nothing is answered rather than
        # an inexact explanation; the log keeps the type, not the values.
        # Logged as an error: the same exception also reports a bug of an explainer.
        _LOG.error("explanation refused as not exact (model %s)", entry.name)
        raise RefusalError(
            422,
            "The instances cannot be explained exactly (an extreme value may overflow "
            "the model's arithmetic); check that every value is within a plausible range.",
        ) from None
    except AuditLogError:
        # Nothing leaves without its audit record: refuse rather than answer unrecorded.
        message = "The audit log cannot be written; no result is returned."
        raise RefusalError(503, message) from None
