"""Promoting signed-off models and rolling back in one call."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

import explainscore
from explainscore import AuditLog, ExplainedModel, ModelCard, sign_off
from explainscore.exceptions import NotSignedOffError
from explainscore.governance import ModelRegistry


def _saved(path, num, y, c: float, *, signed: bool = True):
    explainscore.save(ExplainedModel(LogisticRegression(C=c, max_iter=1000)).fit(num, y), path)
    if signed:
        loaded = explainscore.load(path)
        card = ModelCard.for_model(loaded, name=f"c{c}", owner="ana", intended_use="rank leads")
        sign_off(card, approver="ben").save(path / "card.json")
    return path


def test_promote_and_roll_back(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    log = AuditLog(tmp_path / "audit.db")
    registry = ModelRegistry(tmp_path / "registry", audit_log=log)
    v1 = _saved(tmp_path / "v1", num, y, 1.0)
    v2 = _saved(tmp_path / "v2", num, y, 0.01)
    first = registry.promote(v1, actor="ana")
    second = registry.promote(v2, actor="ana")
    assert registry.live() == second
    assert first.approvers == ("ben",)
    assert registry.load_live().model_fingerprint_ == second.fingerprint

    back = registry.rollback(actor="ops", reason="v2 drifted")
    assert back == first
    assert registry.load_live().model_fingerprint_ == first.fingerprint
    # another process reading the same folder sees the rollback
    assert ModelRegistry(tmp_path / "registry").live() == first
    events = [r["event"] for r in log.records()]
    assert events == ["model_promoted", "model_promoted", "model_rolled_back"]
    assert log.verify().ok
    with pytest.raises(NotSignedOffError, match="no earlier signed-off model"):
        registry.rollback(actor="ops", reason="again")


def test_unsigned_model_cannot_be_promoted(leads, tmp_path) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    unsigned = _saved(tmp_path / "u", num, y, 1.0, signed=False)
    with pytest.raises(NotSignedOffError):
        ModelRegistry(tmp_path / "registry").promote(unsigned, actor="ana")
