"""Promoting signed-off models and rolling back in one call."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

import explainscore
from explainscore import AuditLog, ExplainedModel, ModelCard, sign_off
from explainscore.exceptions import NotSignedOffError
from explainscore.governance import ModelRegistry


def _saved(path, num, y, c: float, *, signers=None):
    explainscore.save(ExplainedModel(LogisticRegression(C=c, max_iter=1000)).fit(num, y), path)
    if signers is not None:
        loaded = explainscore.load(path)
        card = ModelCard.for_model(
            loaded, name=f"c{c}", owner_key=signers.ana, intended_use="rank leads"
        )
        sign_off(card, key=signers.ben).save(path / "card.json")
    return path


def test_promote_and_roll_back(leads, tmp_path, signers) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    log = AuditLog(tmp_path / "audit.db")
    registry = ModelRegistry(tmp_path / "registry", audit_log=log)
    v1 = _saved(tmp_path / "v1", num, y, 1.0, signers=signers)
    v2 = _saved(tmp_path / "v2", num, y, 0.01, signers=signers)
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


def test_unsigned_model_cannot_be_promoted(leads, tmp_path, signers) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    unsigned = _saved(tmp_path / "u", num, y, 1.0)
    with pytest.raises(NotSignedOffError):
        ModelRegistry(tmp_path / "registry").promote(unsigned, actor="ana")


def test_registry_records_only_verified_approvers(leads, tmp_path, signers) -> None:
    """A second, hand-written sign-off on the card never reaches the registry's record."""
    X, y = leads
    num = X.select_dtypes("number")
    path = _saved(tmp_path / "v", num, y, 1.0, signers=signers)
    card = ModelCard.load(path / "card.json")
    forged = card.sign_offs[0].model_copy(update={"approver": "cfo", "key_id": "0" * 64})
    card.model_copy(update={"sign_offs": (*card.sign_offs, forged)}).save(path / "card.json")
    entry = ModelRegistry(tmp_path / "registry").promote(path, actor="ana")
    assert entry.approvers == ("ben",)


def test_promotion_needs_a_trusted_keyring(leads, tmp_path, signers, monkeypatch) -> None:
    X, y = leads
    num = X.select_dtypes("number")
    path = _saved(tmp_path / "v", num, y, 1.0, signers=signers)
    monkeypatch.delenv("EXPLAINSCORE_TRUSTED_KEYS")
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.raises(NotSignedOffError, match="EXPLAINSCORE_TRUSTED_KEYS"):
        registry.promote(path, actor="ana")
    entry = ModelRegistry(tmp_path / "r2", trusted_keys=signers.keyring_path).promote(
        path, actor="ana"
    )
    assert entry.approvers == ("ben",)
