"""The governance pieces working together around one ExplainedModel."""

from __future__ import annotations

import json

from sklearn.linear_model import LogisticRegression

from explainscore import AuditLog, ExplainedModel, KillSwitch, Policy
from explainscore.governance import ReviewQueue, ReviewRules


def test_explanations_flips_and_decisions_land_in_one_verifiable_log(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    log = AuditLog(tmp_path / "audit.db", pseudonym_key=b"k" * 32)
    switch = KillSwitch(tmp_path / "STOP", audit_log=log)
    queue = ReviewQueue(tmp_path / "review.db", audit_log=log)
    em = ExplainedModel(
        LogisticRegression(max_iter=1000),
        policy=Policy(version="p7", hidden=("company_size",)),
        audit_log=log,
        kill_switch=switch,
        review=ReviewRules(threshold=0.2, margin=1.0),
        review_queue=queue,
    ).fit(num, y)
    batch = em.explain(
        num.iloc[:5], actor="crm-sync", request_id="req-1", lead_ids=[f"lead-{i}" for i in range(5)]
    )
    assert [r.audit_seq for r in batch] == [1, 2, 3, 4, 5]
    switch.engage(actor="ops", reason="drift")
    switch.release(actor="ops", reason="resolved")
    item = queue.items()[0]
    assert item.audit_seq == 1
    decision = queue.decide(item.item_id, reviewer="rita", decision="override", score=0.5)
    records = list(log.records())
    assert [r["event"] for r in records][-3:] == [
        "kill_switch_engaged",
        "kill_switch_released",
        "review_decision",
    ]
    assert records[-1]["links_to"] == 1
    assert decision.audit_seq == records[-1]["seq"]
    assert log.verify().ok
    text = json.dumps(records)
    assert "company_size" not in text  # hidden columns are never written as text
    assert "lead-3" not in text  # lead ids are pseudonymized
    assert records[0]["policy_version"] == "p7"
    assert records[0]["actor"] == "crm-sync"
    assert len(log.subject_access("lead-3")) == 1
