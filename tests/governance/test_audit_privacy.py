"""Personal data: lead ids are pseudonymized or refused, raw inputs are digested unless asked
for, subject access finds exactly one lead's records, errors never quote lead values."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainscore._records import FeatureAttribution, LeadExplanation, ReasonCode
from explainscore.exceptions import ExplainScoreError, ParameterError
from explainscore.governance._audit import AuditLog
from explainscore.governance._audit_canon import input_digest

KEY = b"test-pseudonym-key-0123456789abcdef"
LEADS = ["lead-alice@example.com", "lead-bob@example.com", "4711"]


def _stored_bytes(path: Path) -> bytes:
    """Everything on disk for the log (SQLite: the database, WAL and shared memory)."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _explanation(**overrides: Any) -> LeadExplanation:
    """A LeadExplanation with every required field filled (whatever fields it has now)."""
    values: dict[str, Any] = {
        "status": "ok",
        "score": 0.82,
        "output": 1.5163,
        "base_value": -0.2,
        "output_space": "log_odds",
        "attributions": (
            FeatureAttribution(feature="poutcome", value="success", contribution=1.2),
            FeatureAttribution(feature="campaign", value=3, contribution=-0.4),
        ),
        "other_contribution": 0.9163,
        "reason": "High (0.82): Previous campaign outcome is success, which raises the score.",
        "band": "High",
        "reason_codes": (
            ReasonCode(
                code="POUTCOME_UP",
                feature="poutcome",
                direction="up",
                contribution=1.2,
                text="Previous campaign outcome is success",
            ),
        ),
        "explainer": "tree_path_dependent",
        "exact": True,
        "target_class": 1,
        "model_fingerprint": "sha256:" + "cd" * 32,
        "model_version": "2024.06",
        "explained_at": "2024-06-01T10:00:00+00:00",
        "signed_off": True,
        "policy_version": "policy-7",
    }
    values.update(overrides)
    fields = LeadExplanation.model_fields
    missing = [n for n, f in fields.items() if f.is_required() and n not in values]
    assert not missing, f"LeadExplanation has new required fields: {missing}"
    return LeadExplanation(**{k: v for k, v in values.items() if k in fields})


def test_lead_ids_are_stored_as_keyed_pseudonyms(log_path: Path) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY)
    for i, lead in enumerate(LEADS * 2):
        log.append({"event": "explanation", "lead_id": lead, "score": i / 10})
    log.close()
    data = _stored_bytes(log_path)
    for lead in LEADS:
        # A digits-only id can occur by chance inside a hex hash or a time stamp, so look for
        # it as a stored JSON value (quoted string, or a number after a colon).
        for token in (f'"{lead}"', f":{lead},", f":{lead}}}"):
            assert token.encode() not in data
        if not lead.isdigit():
            assert lead.encode() not in data
        assert hashlib.sha256(lead.encode()).hexdigest().encode() not in data
    mac = hmac.new(KEY, b"4711", hashlib.sha256).hexdigest()
    assert log.pseudonym(4711) == log.pseudonym("4711")
    assert log.pseudonym("4711").endswith(":" + mac)
    assert mac.encode() in data


def test_subject_access_returns_exactly_that_leads_records(log_path: Path) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY)
    for i in range(12):
        log.append({"event": "explanation", "lead_id": LEADS[i % 3], "request_id": f"r{i}"})
    log.append({"event": "kill_switch_engaged", "actor": "ops", "reason": "drift"})
    got = log.subject_access(LEADS[1])
    assert [r["request_id"] for r in got] == ["r1", "r4", "r7", "r10"]
    assert {r["lead_id"] for r in got} == {log.pseudonym(LEADS[1])}
    assert log.subject_access("nobody") == []
    # Another key finds nothing: the pseudonyms are bound to the key.
    other = AuditLog(log_path, pseudonym_key=b"another-key-of-sufficient-length")
    assert other.subject_access(LEADS[1]) == []


def test_raw_lead_ids_are_refused_without_a_key(log_path: Path) -> None:
    log = AuditLog(log_path)
    with pytest.raises(ParameterError, match="no pseudonym_key") as info:
        log.append({"event": "explanation", "lead_id": LEADS[0]})
    assert LEADS[0] not in str(info.value)
    assert not log_path.exists()  # nothing was written
    log.append({"event": "explanation"})  # without a lead id it is fine
    with pytest.raises(ParameterError):
        log.subject_access(LEADS[0])


def test_plain_ids_only_when_allowed(log_path: Path) -> None:
    log = AuditLog(log_path, allow_plain_ids=True)
    log.append({"event": "explanation", "lead_id": "crm-42"})
    assert [r["lead_id"] for r in log.subject_access("crm-42")] == ["plain:crm-42"]


def test_key_from_an_environment_variable(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_TEST_KEY", KEY.decode())
    by_env = AuditLog(log_path, pseudonym_key="AUDIT_TEST_KEY")
    assert by_env.pseudonym("x") == AuditLog(log_path, pseudonym_key=KEY).pseudonym("x")
    assert KEY.decode() not in repr(by_env)
    monkeypatch.delenv("AUDIT_TEST_KEY")
    with pytest.raises(ParameterError, match="AUDIT_TEST_KEY"):
        AuditLog(log_path, pseudonym_key="AUDIT_TEST_KEY")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"short", "too short"),
        ("not a variable name: s3cr3t-key-value", "not a variable name"),
        (12345, "must be bytes"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(log_path: Path, key: Any, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        AuditLog(log_path, pseudonym_key=key)
    assert "s3cr3t" not in str(info.value)


def test_inputs_are_digested_not_stored_by_default(log_path: Path) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY)
    inputs = {"email_domain": "alice-private.example", "age": 41, "balance": 1234.5}
    log.record_explanation(_explanation(), inputs=inputs, lead_id=LEADS[0], actor="api")
    rec = next(log.records())
    assert rec["inputs"] is None
    assert rec["input_digest"] == input_digest(inputs)
    assert [a for a in rec["attributions"] if "value" in a] == []  # the lead's own values
    log.close()
    data = _stored_bytes(log_path)
    assert b"alice-private" not in data


def test_inputs_are_stored_when_asked(log_path: Path) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY, store_inputs=True)
    inputs = {"job": "admin.", "age": 41}
    log.record_explanation(_explanation(), inputs=inputs)
    rec = next(log.records())
    assert rec["inputs"] == inputs
    assert rec["attributions"][0] == {
        "feature": "poutcome",
        "contribution": 1.2,
        "value": "success",
    }


def test_record_explanation_records_the_explanation(log_path: Path) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY)
    receipt = log.record_explanation(
        _explanation(), inputs={"a": 1}, lead_id="L1", actor="api", request_id="req-9"
    )
    rec = next(log.records())
    assert (rec["seq"], rec["hash"]) == (receipt.seq, receipt.record_hash)
    assert rec["event"] == "explanation"
    assert rec["score"] == 0.82
    assert rec["reason"].startswith("High (0.82)")
    assert rec["model_fingerprint"] == "sha256:" + "cd" * 32
    assert rec["policy_version"] == "policy-7"
    assert rec["reason_codes"][0]["code"] == "POUTCOME_UP"
    assert (rec["actor"], rec["request_id"]) == ("api", "req-9")
    assert rec["explanation"]["base_value"] == -0.2
    assert rec["explanation"]["output_space"] == "log_odds"
    assert [a["feature"] for a in rec["attributions"]] == ["poutcome", "campaign"]
    log.record_explanation(_explanation(), policy_version="policy-8", reason_codes=["R1"])
    second = list(log.records())[1]
    assert (second["policy_version"], second["reason_codes"]) == ("policy-8", ["R1"])
    assert log.verify().ok


def test_input_digest_ignores_key_order_and_numpy_types() -> None:
    a = {"age": 41, "job": "admin.", "balance": 1234.5, "missing": None}
    b = {
        "missing": float("nan"),
        "balance": np.float64(1234.5),
        "job": "admin.",
        "age": np.int64(41),
    }
    assert input_digest(a) == input_digest(b)
    assert input_digest(a) == input_digest(pd.Series(b))
    assert input_digest(a) == input_digest(pd.DataFrame([b]))
    assert input_digest(a) != input_digest({**a, "age": 42})
    # RFC 8785 (canon version 2): JSON has one number type, so 1 and 1.0 are one value.
    assert input_digest({"x": 1}) == input_digest({"x": 1.0})
    assert input_digest({"x": 1}) != input_digest({"x": 1.5})
    text = json.dumps(a, sort_keys=True, separators=(",", ":"))
    assert input_digest(a) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "event",
    [
        {"event": "explanation", "inputs": {"age": float("inf")}},
        {"event": "explanation", "inputs": {"age": object()}},
        {"event": "explanation", "lead_id": 3.5},
        {"event": "explanation", "score": "0.9"},
        {"event": "Bad Name"},
        {"event": "purge"},
        {"actor": "x"},
        {"event": "explanation", "links_to": 0},
        {"event": "explanation", "details": {"ssn": float("nan")}},
    ],
)
def test_bad_events_are_refused_and_nothing_is_written(log_path: Path, event: Any) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY)
    with pytest.raises(ParameterError) as info:
        log.append(event)
    assert "3.5" not in str(info.value)
    assert not log_path.exists()


def test_links_to_must_name_an_earlier_record(audit_log: AuditLog) -> None:
    first = audit_log.append({"event": "explanation"})
    with pytest.raises(ParameterError, match="earlier record"):
        audit_log.append({"event": "review_decision", "links_to": 2})
    linked = audit_log.append({"event": "review_decision", "links_to": first.seq})
    assert list(audit_log.records())[-1]["links_to"] == 1
    assert linked.seq == 2


def test_extra_keys_go_to_details(audit_log: AuditLog, fill: Callable[..., None]) -> None:
    # What ReviewQueue.decide passes today.
    audit_log.append({"event": "explanation"})
    audit_log.append(
        {
            "event": "review_decision",
            "actor": "reviewer-1",
            "decision": "override",
            "score": 0.4,
            "reason": "manual check",
            "comment": "called the lead",
            "links_to": 1,
            "model_fingerprint": "sha256:" + "ab" * 32,
        }
    )
    rec = next(audit_log.records(event="review_decision"))
    assert rec["details"] == {"decision": "override", "comment": "called the lead"}
    assert rec["links_to"] == 1
    assert audit_log.verify().ok


def test_errors_are_explainscore_errors(tmp_path: Path) -> None:
    with pytest.raises(ExplainScoreError, match="no audit log"):
        AuditLog(tmp_path / "missing.db").verify()
    with pytest.raises(ExplainScoreError, match="no audit log"):
        AuditLog(tmp_path / "missing.jsonl").verify()
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"SQLite format 3\0" + b"\0" * 200)
    with pytest.raises(ExplainScoreError):
        AuditLog(bogus).verify()


def test_batches_are_written_at_once_and_all_or_nothing(log_path: Path) -> None:
    log = AuditLog(log_path, pseudonym_key=KEY)
    receipts = log.record_explanations(
        [_explanation(), _explanation(score=0.1)],
        inputs=[{"a": 1}, {"a": 2}],
        lead_ids=["L1", "L2"],
        actor="batch",
    )
    assert [r.seq for r in receipts] == [1, 2]
    assert [r["score"] for r in log.subject_access("L2")] == [0.1]
    with pytest.raises(ParameterError):
        log.append_many([{"event": "sign_off"}, {"event": "explanation", "links_to": 99}])
    with pytest.raises(ParameterError):
        log.append_many([{"event": "sign_off"}, {"event": "explanation", "score": "x"}])
    with pytest.raises(ParameterError, match="one entry per explanation"):
        log.record_explanations([_explanation()], lead_ids=["a", "b"])
    assert log.verify().records == 2
    assert log.append_many([]) == []
    assert [r.seq for r in log.append_many([{"event": "sign_off"}] * 3)] == [3, 4, 5]
    assert log.verify().ok
