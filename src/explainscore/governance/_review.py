"""Human review: route explanations to a reviewer when a rule fires, record the decision.

Rules (:class:`ReviewRules`), each giving a named reason:

``near_threshold``
    The score lies within ``margin`` of the decision ``threshold``: a small change would flip
    the decision, so a person should look.
``out_of_range``
    A numeric input lies outside the range seen in the training (or background) data: the
    model is extrapolating.
``unseen_category``
    A text input holds a category never seen in that data.
``proxy_in_reasons``
    A feature flagged as a proxy for a sensitive attribute is among the principal reasons.

Reasons name the rule and, for input rules, the column (never its value). A
:class:`ReviewQueue` (SQLite) holds the routed items; a reviewer's decision (accept, or
override the score or reason, with a comment) is stored with the item and, when an audit log
is attached, recorded there linked to the original explanation's audit record.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .._params import param_error

__all__ = [
    "ReviewDecision",
    "ReviewItem",
    "ReviewQueue",
    "ReviewRules",
    "review_reasons",
    "review_reasons_row",
]


class ReviewRules(BaseModel):
    """When an explanation goes to a human reviewer (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float | None = Field(default=None, description="The decision threshold.")
    margin: float = Field(default=0.05, ge=0)
    check_ranges: bool = True
    check_categories: bool = True
    proxy_features: tuple[str, ...] = ()


class InputProfile(BaseModel):
    """Ranges and categories seen in the reference data, per column."""

    model_config = ConfigDict(frozen=True)

    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    categories: dict[str, frozenset[str]] = Field(default_factory=dict)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> InputProfile:
        ranges: dict[str, tuple[float, float]] = {}
        categories: dict[str, frozenset[str]] = {}
        for name in frame.columns:
            col = frame[name]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                values = col.to_numpy(dtype=np.float64, na_value=np.nan)
                finite = values[np.isfinite(values)]
                if finite.size:
                    ranges[str(name)] = (float(finite.min()), float(finite.max()))
            elif not pd.api.types.is_bool_dtype(col):
                categories[str(name)] = frozenset(str(v) for v in col.dropna().unique())
        return cls(ranges=ranges, categories=categories)


def review_reasons(
    *,
    rules: ReviewRules,
    profile: InputProfile,
    frame: pd.DataFrame,
    scores: np.ndarray[Any, Any],
    reason_features: Sequence[Sequence[str]],
    hidden: frozenset[str] = frozenset(),
) -> list[tuple[str, ...]]:
    """The review reasons of each row (empty when no rule fires)."""
    n = len(frame)
    out: list[list[str]] = [[] for _ in range(n)]
    if rules.threshold is not None:
        near = np.abs(scores - rules.threshold) <= rules.margin
        for i in np.flatnonzero(near):
            out[i].append("near_threshold")
    for name in frame.columns:
        shown = name not in hidden  # a hidden column is flagged without its name
        label = name if shown else "a hidden column"
        col = frame[name]
        if rules.check_ranges and name in profile.ranges:
            lo, hi = profile.ranges[name]
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
            outside = (values < lo) | (values > hi)
            for i in np.flatnonzero(outside):
                out[i].append(f"out_of_range:{label}")
        if rules.check_categories and name in profile.categories:
            seen = profile.categories[name]

            def _unseen(v: Any, s: Any = seen) -> bool:
                return v is not None and v == v and str(v) not in s

            unseen = col.map(_unseen)
            for i in np.flatnonzero(unseen.to_numpy(dtype=bool)):
                out[i].append(f"unseen_category:{label}")
    if rules.proxy_features:
        proxies = set(rules.proxy_features)
        for row, feats in enumerate(reason_features):
            if proxies.intersection(feats):
                out[row].append("proxy_in_reasons")
    return [tuple(r) for r in out]


def review_reasons_row(
    *,
    rules: ReviewRules,
    profile: InputProfile,
    names: Sequence[str],
    cells: Sequence[Any],
    score: float,
    reason_features: Sequence[str],
    hidden: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """:func:`review_reasons` of one row given as plain Python cells (the fast lane's): the
    same rules in the same order, at a cost of one look-up per column.

    Numeric cells are numbers or None and text cells are strings or None on the lane; any
    other cell is judged as :func:`review_reasons` judges it.
    """
    out: list[str] = []
    if rules.threshold is not None and abs(score - rules.threshold) <= rules.margin:
        out.append("near_threshold")
    ranges = profile.ranges if rules.check_ranges else {}
    categories = profile.categories if rules.check_categories else {}
    for name, v in zip(names, cells, strict=True):
        bounds = ranges.get(name)
        seen = categories.get(name)
        if bounds is None and seen is None:
            continue
        label = name if name not in hidden else "a hidden column"
        if bounds is not None:
            x = _as_number(v)
            if x < bounds[0] or x > bounds[1]:
                out.append(f"out_of_range:{label}")
        if seen is not None and v is not None and v == v and str(v) not in seen:
            out.append(f"unseen_category:{label}")
    if rules.proxy_features and set(rules.proxy_features).intersection(reason_features):
        out.append("proxy_in_reasons")
    return tuple(out)


def _as_number(v: Any) -> float:
    """``pd.to_numeric(errors="coerce")`` of one cell: plain numbers directly (NaN for None)."""
    if type(v) is float or type(v) is int:
        return float(v)
    if v is None:
        return float("nan")
    value = pd.to_numeric(pd.Series([v], dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    return float(value[0])


class ReviewItem(BaseModel):
    """One explanation waiting for (or given) a human decision."""

    model_config = ConfigDict(frozen=True)

    item_id: int
    created_at: str
    reasons: tuple[str, ...]
    score: float | None
    reason: str
    model_fingerprint: str
    audit_seq: int | None = None
    request_id: str | None = None
    status: Literal["pending", "decided"] = "pending"


class ReviewDecision(BaseModel):
    """A reviewer's decision on one item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: int
    reviewer: str = Field(min_length=1)
    decision: Literal["accept", "override"]
    score: float | None = None
    reason: str | None = None
    comment: str = ""
    decided_at: str
    audit_seq: int | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    decision TEXT
);
"""


class ReviewQueue:
    """A SQLite queue of explanations awaiting human review.

    Parameters
    ----------
    path : str or Path
        The SQLite file.
    audit_log : AuditLog, optional
        Decisions are recorded there, linked to the explanation's audit record.
    """

    def __init__(self, path: str | Path, *, audit_log: Any = None) -> None:
        self.path = Path(path)
        self.audit_log = audit_log
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def submit(
        self,
        *,
        reasons: Sequence[str],
        score: float | None,
        reason: str,
        model_fingerprint: str,
        audit_seq: int | None = None,
        request_id: str | None = None,
    ) -> ReviewItem:
        now = _now()
        payload = {
            "reasons": list(reasons),
            "score": score,
            "reason": reason,
            "model_fingerprint": model_fingerprint,
            "audit_seq": audit_seq,
            "request_id": request_id,
        }
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO review_items (created_at, payload) VALUES (?, ?)",
                (now, json.dumps(payload, sort_keys=True)),
            )
            item_id = int(cur.lastrowid or 0)
        return ReviewItem(item_id=item_id, created_at=now, **payload)  # type: ignore[arg-type]

    def items(self, *, status: str | None = "pending") -> list[ReviewItem]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT item_id, created_at, payload, decision FROM review_items ORDER BY item_id"
            ).fetchall()
        out = []
        for item_id, created_at, payload, decision in rows:
            state: Literal["pending", "decided"] = "decided" if decision else "pending"
            if status is not None and state != status:
                continue
            out.append(
                ReviewItem(
                    item_id=item_id, created_at=created_at, status=state, **json.loads(payload)
                )
            )
        return out

    def decide(
        self,
        item_id: int,
        *,
        reviewer: str,
        decision: Literal["accept", "override"],
        score: float | None = None,
        reason: str | None = None,
        comment: str = "",
    ) -> ReviewDecision:
        """Record a reviewer's decision (and in the audit log, linked to the original)."""
        if decision not in ("accept", "override"):
            raise param_error(
                "decision", "ReviewQueue.decide", "one of 'accept', 'override'", decision
            )
        if decision == "override" and score is None and reason is None:
            raise param_error(
                "score", "ReviewQueue.decide", "a number (or pass reason=) for an override", score
            )
        pending = {i.item_id: i for i in self.items(status="pending")}
        if item_id not in pending:
            raise param_error("item_id", "ReviewQueue.decide", "the id of a pending item", item_id)
        item = pending[item_id]
        audit_seq = None
        if self.audit_log is not None:
            receipt = self.audit_log.append(
                {
                    "event": "review_decision",
                    "actor": reviewer,
                    "decision": decision,
                    "score": score,
                    "reason": reason,
                    "comment": comment,
                    "links_to": item.audit_seq,
                    "model_fingerprint": item.model_fingerprint,
                }
            )
            audit_seq = getattr(receipt, "seq", None)
        result = ReviewDecision(
            item_id=item_id,
            reviewer=reviewer,
            decision=decision,
            score=score,
            reason=reason,
            comment=comment,
            decided_at=_now(),
            audit_seq=audit_seq,
        )
        with self._connect() as db:
            db.execute(
                "UPDATE review_items SET decision = ? WHERE item_id = ? AND decision IS NULL",
                (result.model_dump_json(), item_id),
            )
        return result

    def decision(self, item_id: int) -> ReviewDecision | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT decision FROM review_items WHERE item_id = ?", (item_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return ReviewDecision.model_validate_json(row[0])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
