"""Forged, edited and self-approved sign-offs are refused at every production door.

Issue 14: ``card.json`` carried no signature and self-approval was an exact string match, so
``ANA``, ``Ana``, ``ana`` with a zero-width space, a Cyrillic a (U+0430) or ``ana@corp`` could
approve owner ``ana``'s model and anyone could write a sign-off into the card. Each attack
below builds a card the way an attacker would (bypassing :func:`sign_off`'s own early refusal
where it has one) and checks that every door refuses it: ``load(require_sign_off=True)``,
the CLI's ``explain`` and ``serve``, and the HTTP app's readiness under
``ServiceConfig.require_sign_off``. The happy path goes through the same doors.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

import explainscore
from explainscore import ExplainedModel
from explainscore.cli import main
from explainscore.exceptions import ExplainScoreError, NotSignedOffError, ParameterError
from explainscore.governance import Keyring, ModelCard, SigningKey, SignOff, generate_key, sign_off
from explainscore.governance._card import _canonical, check_signed_off

MARKER = "CARD-TEXT-MARKER-7f3a"  # written into cards; must never appear in a refusal
OWNER_VARIANTS = ["ANA", "Ana", "a\u200bna", "\u0430na", "ana@corp", "\uff41\uff4e\uff41", " ana "]


# --- bundles ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundles(leads: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two saved models (the one under attack and another one) and a small input file."""
    X, y = leads
    num = X.select_dtypes("number")
    root = tmp_path_factory.mktemp("bundles")
    for name, c in (("model", 1.0), ("other", 0.05)):
        em = ExplainedModel(LogisticRegression(C=c, max_iter=1000)).fit(num, y)
        explainscore.save(em, root / name)
    src = root / "leads.csv"
    num.iloc[:15].to_csv(src, index=False)
    return {"model": root / "model", "other": root / "other", "input": src}


@pytest.fixture
def bundle(bundles: dict[str, Any], tmp_path: Path) -> Path:
    """A fresh copy of the model under attack (each test writes its own card)."""
    target = tmp_path / "model"
    shutil.copytree(bundles["model"], target)
    return target


def _card(path: Path, owner_key: SigningKey | None, owner: str | None = None) -> ModelCard:
    return ModelCard.for_model(
        explainscore.load(path),
        name=f"leads {MARKER}",
        owner=owner,
        owner_key=owner_key,
        intended_use=f"rank inbound leads {MARKER}",
        metrics={"auc": 0.81},
    )


def _force_sign(card: ModelCard, key: SigningKey, *, note: str = "") -> ModelCard:
    """A sign-off made as an attacker would: correctly signed, without sign_off's checks."""
    signed_at = "2026-01-01T00:00:00+00:00"
    payload = card._sign_off_payload(
        approver=key.identity, key_id=key.key_id, signed_at=signed_at, note=note
    )
    entry = SignOff(
        approver=key.identity,
        key_id=key.key_id,
        fingerprint=card.model_fingerprint,
        signed_at=signed_at,
        note=note,
        signature=base64.b64encode(key.sign(_canonical(payload))).decode(),
    )
    return card.model_copy(update={"sign_offs": (*card.sign_offs, entry)})


def _edit(card: ModelCard, **fields: Any) -> ModelCard:
    """The card with fields changed *after* signing (re-validated like a file on disk)."""
    return ModelCard.model_validate({**card.model_dump(), **fields})


# --- the attacks ------------------------------------------------------------------------------
# Each writes a forged card.json into the bundle (and may change the keyring).


def _handwritten(path: Path, bundles: dict[str, Any], s: Any) -> None:
    card = _card(path, s.ana)
    fake = SignOff(
        approver="ben",
        key_id=s.ben.key_id,
        fingerprint=card.model_fingerprint,
        signed_at="2026-01-01T00:00:00+00:00",
        signature=base64.b64encode(bytes(64)).decode(),
    )
    card.model_copy(update={"sign_offs": (fake,)}).save(path / "card.json")


def _copied_from_other_model(path: Path, bundles: dict[str, Any], s: Any) -> None:
    other = sign_off(_card(bundles["other"], s.ana), key=s.ben)
    card = _card(path, s.ana)
    moved = other.sign_offs[0].model_copy(update={"fingerprint": card.model_fingerprint})
    card.model_copy(update={"sign_offs": (moved,)}).save(path / "card.json")


def _copied_from_other_card(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # Same model, but ben approved a card with another intended use.
    other_use = ModelCard.for_model(
        explainscore.load(path), name="leads", owner_key=s.ana, intended_use="tests"
    )
    approved = sign_off(other_use, key=s.ben)
    card = _card(path, s.ana)
    card.model_copy(update={"sign_offs": approved.sign_offs}).save(path / "card.json")


def _other_models_card(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # A valid, signed card -- of another model -- dropped into this bundle.
    sign_off(_card(bundles["other"], s.ana), key=s.ben).save(path / "card.json")


def _edited(**fields: Any) -> Callable[[Path, dict[str, Any], Any], None]:
    def attack(path: Path, bundles: dict[str, Any], s: Any) -> None:
        signed = sign_off(_card(path, s.ana), key=s.ben, note="reviewed")
        _edit(signed, **fields).save(path / "card.json")

    return attack


def _edited_sign_off(**fields: Any) -> Callable[[Path, dict[str, Any], Any], None]:
    def attack(path: Path, bundles: dict[str, Any], s: Any) -> None:
        signed = sign_off(_card(path, s.ana), key=s.ben, note="reviewed")
        entry = signed.sign_offs[0].model_copy(update=fields)
        signed.model_copy(update={"sign_offs": (entry,)}).save(path / "card.json")

    return attack


def _owner_key_stripped(path: Path, bundles: dict[str, Any], s: Any) -> None:
    signed = sign_off(_card(path, s.ana), key=s.ben)
    _edit(signed, owner_key_id=None, owner_public_key=None, owner_signature=None).save(
        path / "card.json"
    )


def _owner_signature_forged(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # The card is changed after ana signed it as owner, then approved: her signature no
    # longer fits, so the card is not the one its owner wrote and no approval of it counts.
    card = _edit(_card(path, s.ana), intended_use="something else")
    _force_sign(card, s.ben).save(path / "card.json")


def _revoked(path: Path, bundles: dict[str, Any], s: Any) -> None:
    sign_off(_card(path, s.ana), key=s.ben).save(path / "card.json")
    s.keyring.revoke(s.ben.key_id, reason="laptop stolen")
    s.keyring.save(s.keyring_path)


def _untrusted(path: Path, bundles: dict[str, Any], s: Any) -> None:
    sign_off(_card(path, s.ana), key=generate_key("carl")).save(path / "card.json")


def _owners_key(path: Path, bundles: dict[str, Any], s: Any) -> None:
    _force_sign(_card(path, s.ana), s.ana).save(path / "card.json")


def _owners_key_under_another_name(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # ana's own private key, trusted in the door's keyring as "zed" (not as ana).
    ring = Keyring()
    ring.trust(s.ben.public_key)
    as_zed = SigningKey("zed", s.ana._private)
    ring.trust(as_zed.public_key)
    ring.save(s.keyring_path)
    _force_sign(_card(path, s.ana), as_zed).save(path / "card.json")


def _self_approval(variant: str) -> Callable[[Path, dict[str, Any], Any], None]:
    def attack(path: Path, bundles: dict[str, Any], s: Any) -> None:
        # The alias is not the owner's key: only the identity comparison stands between ana
        # and her second key, trusted under a look-alike name.
        alias = generate_key(variant)
        s.keyring.trust(alias.public_key)
        s.keyring.save(s.keyring_path)
        _force_sign(_card(path, s.ana), alias).save(path / "card.json")

    return attack


def _claims_owner_name(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # A key trusted as "dave" whose sign-off calls itself "Ana": the claim is refused too.
    dave = s.add("dave")
    claim = SigningKey("Ana", dave._private)
    _force_sign(_card(path, s.ana), claim).save(path / "card.json")


def _no_keyring(path: Path, bundles: dict[str, Any], s: Any) -> None:
    sign_off(_card(path, s.ana), key=s.ben).save(path / "card.json")
    s.keyring_path.unlink()
    import os

    os.environ.pop("EXPLAINSCORE_TRUSTED_KEYS", None)  # monkeypatch restores it


def _corrupt_keyring(path: Path, bundles: dict[str, Any], s: Any) -> None:
    sign_off(_card(path, s.ana), key=s.ben).save(path / "card.json")
    s.keyring_path.write_text('{"format": "explainscore-keyring", "keys": [' + MARKER)


def _card_not_signed_by_its_owner(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # Ben writes a card naming carl as owner and approves it himself: no owner signature.
    sign_off(_card(path, None, owner="carl"), key=s.ben).save(path / "card.json")


def _owner_key_not_trusted(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # Ben makes a key for "carl" (not in the keyring), signs the card as carl, approves it.
    carl = generate_key("carl")
    sign_off(_card(path, carl), key=s.ben).save(path / "card.json")


def _owner_key_revoked(path: Path, bundles: dict[str, Any], s: Any) -> None:
    sign_off(_card(path, s.ana), key=s.ben).save(path / "card.json")
    s.keyring.revoke(s.ana.key_id, reason="left the company")
    s.keyring.save(s.keyring_path)


def _owner_key_trusted_under_another_name(path: Path, bundles: dict[str, Any], s: Any) -> None:
    # The card says owner "carl", signed with a key the keyring trusts as "dave".
    dave = s.add("dave")
    card = _card(path, SigningKey("carl", dave._private))
    sign_off(card, key=s.ben).save(path / "card.json")


def _no_sign_off(path: Path, bundles: dict[str, Any], s: Any) -> None:
    _card(path, s.ana).save(path / "card.json")


ATTACKS: dict[str, Callable[[Path, dict[str, Any], Any], None]] = {
    "handwritten sign-off": _handwritten,
    "signature copied from another model": _copied_from_other_model,
    "signature copied from another card": _copied_from_other_card,
    "another model's signed card": _other_models_card,
    "intended use edited": _edited(intended_use="score employees"),
    "owner edited": _edited(owner="zed"),
    "name edited": _edited(name="leads v2"),
    "metrics edited": _edited(metrics={"auc": 0.99}),
    "background storage edited": _edited(background_storage="raw"),
    "features edited": _edited(features=("a", "b")),
    "sign-off note edited": _edited_sign_off(note="not reviewed"),
    "sign-off approver edited": _edited_sign_off(approver="cfo"),
    "sign-off time edited": _edited_sign_off(signed_at="2030-01-01T00:00:00+00:00"),
    "owner key stripped": _owner_key_stripped,
    "owner signature no longer fits": _owner_signature_forged,
    "revoked key": _revoked,
    "untrusted key": _untrusted,
    "owner's key": _owners_key,
    "owner's key under another name": _owners_key_under_another_name,
    "sign-off claims the owner's name": _claims_owner_name,
    **{f"self-approval as {v!r}": _self_approval(v) for v in OWNER_VARIANTS},
    "card not signed by its owner": _card_not_signed_by_its_owner,
    "owner key not trusted": _owner_key_not_trusted,
    "owner key revoked": _owner_key_revoked,
    "owner key trusted under another name": _owner_key_trusted_under_another_name,
    "no keyring configured": _no_keyring,
    "corrupt keyring": _corrupt_keyring,
    "no sign-off": _no_sign_off,
}


def _assert_clean(message: str) -> None:
    assert MARKER not in message
    assert "Traceback" not in message


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_forged_card_is_refused_by_load(attack, bundle, bundles, signers) -> None:
    ATTACKS[attack](bundle, bundles, signers)
    with pytest.raises(NotSignedOffError) as info:
        explainscore.load(bundle, require_sign_off=True)
    _assert_clean(str(info.value))
    if attack.startswith("self-approval") or attack in (
        "owner's key",
        "sign-off claims the owner's name",
    ):
        assert "self-approval" in str(info.value)  # refused for the right reason
    if attack == "owner's key under another name":
        # Trusted as "zed", the key cannot establish the card's owner "ana" either.
        assert "owner key is not in the trusted keyring" in str(info.value)
    if attack.startswith(("card not signed", "owner key")):
        assert "owner" in str(info.value)
    if attack == "no keyring configured":
        assert "--trusted-keys" in str(info.value)
        assert "EXPLAINSCORE_TRUSTED_KEYS" in str(info.value)
    # Without the requirement the model loads, and says it is not signed off.
    assert explainscore.load(bundle).signed_off_ is False


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_forged_card_is_refused_by_cli_explain_and_serve(
    attack, bundle, bundles, signers, tmp_path, capsys
) -> None:
    ATTACKS[attack](bundle, bundles, signers)
    out = tmp_path / "scored.csv"
    code = main(["explain", str(bundle), "--input", str(bundles["input"]), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "refused" in err
    _assert_clean(err)
    assert not out.exists()
    assert main(["serve", str(bundle), "--port", "1"]) == 1
    _assert_clean(capsys.readouterr().err)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_forged_card_is_not_ready_in_the_service(attack, bundle, bundles, signers) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from explainscore.service import ServiceConfig, create_app

    ATTACKS[attack](bundle, bundles, signers)
    em = explainscore.load(bundle)  # a development load: the service must still refuse it
    app = create_app({"leads": em}, config=ServiceConfig(require_sign_off=True))
    client = TestClient(app)
    status = client.get("/v1/models/leads")
    assert status.status_code == 503
    assert status.json()["signed_off"] is False
    r = client.post("/v1/models/leads:explain", json={"instances": [[0.0] * em.n_features_in_]})
    assert r.status_code == 503
    assert r.json()["model_status"] == "not_signed_off"


# --- the happy path, through the same doors ---------------------------------------------------


def test_a_properly_signed_card_opens_every_door(bundle, bundles, signers, tmp_path) -> None:
    sign_off(_card(bundle, signers.ana), key=signers.ben, note="reviewed").save(
        bundle / "card.json"
    )
    em = explainscore.load(bundle, require_sign_off=True)
    assert em.signed_off_ is True
    assert em.card.verified_approvers() == ("ben",)
    out = tmp_path / "scored.csv"
    code = main(["explain", str(bundle), "--input", str(bundles["input"]), "--output", str(out)])
    assert code == 0
    assert out.exists()

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from explainscore.service import ServiceConfig, create_app

    client = TestClient(create_app({"leads": em}, config=ServiceConfig(require_sign_off=True)))
    status = client.get("/v1/models/leads")
    assert (status.status_code, status.json()["signed_off"]) == (200, True)


def test_trusted_keys_flag_and_parameter_replace_the_environment(
    bundle, bundles, signers, tmp_path, monkeypatch, capsys
) -> None:
    sign_off(_card(bundle, signers.ana), key=signers.ben).save(bundle / "card.json")
    monkeypatch.delenv("EXPLAINSCORE_TRUSTED_KEYS")
    with pytest.raises(NotSignedOffError, match="--trusted-keys"):
        explainscore.load(bundle, require_sign_off=True)
    ring = signers.keyring_path
    assert explainscore.load(bundle, require_sign_off=True, trusted_keys=ring).signed_off_
    loaded = Keyring.load(ring)
    assert explainscore.load(bundle, require_sign_off=True, trusted_keys=loaded).signed_off_
    out = tmp_path / "o.csv"
    args = ["explain", str(bundle), "--input", str(bundles["input"]), "--output", str(out)]
    assert main(args) == 1
    assert "--trusted-keys" in capsys.readouterr().err
    assert main([*args, "--trusted-keys", str(ring)]) == 0


def test_revocation_takes_effect_for_old_signatures(bundle, bundles, signers) -> None:
    sign_off(_card(bundle, signers.ana), key=signers.ben).save(bundle / "card.json")
    assert explainscore.load(bundle, require_sign_off=True).signed_off_
    # Rotation: ben's new key signs too, then the old key is revoked; the card stays approved.
    card = ModelCard.load(bundle / "card.json")
    new_ben = signers.add("ben", file="ben-2027")
    sign_off(card, key=new_ben).save(bundle / "card.json")
    signers.keyring.revoke(signers.ben.key_id, reason="rotated")
    signers.keyring.save(signers.keyring_path)
    assert explainscore.load(bundle, require_sign_off=True).card.verified_approvers() == ("ben",)
    signers.keyring.revoke(new_ben.key_id, reason="left the company")
    signers.keyring.save(signers.keyring_path)
    with pytest.raises(NotSignedOffError, match="2 by a revoked key"):
        explainscore.load(bundle, require_sign_off=True)


# --- the Python API refuses early, and checks the same way ------------------------------------


@pytest.mark.parametrize("variant", OWNER_VARIANTS)
def test_sign_off_refuses_look_alike_owner_keys(variant, bundle, signers) -> None:
    card = _card(bundle, None, owner="ana")
    with pytest.raises(ParameterError, match="belongs to the model's owner"):
        sign_off(card, key=generate_key(variant))


def test_sign_off_refuses_the_owners_key_and_an_edited_card(bundle, signers) -> None:
    card = _card(bundle, signers.ana)
    with pytest.raises(ParameterError, match="belongs to the model's owner"):
        sign_off(card, key=SigningKey("zed", signers.ana._private))
    with pytest.raises(ParameterError, match="owner signature does not verify"):
        sign_off(_edit(card, intended_use="other"), key=signers.ben)


def test_check_signed_off_names_the_approvers_from_the_keyring(bundle, signers) -> None:
    # ben's key file says "ben", the keyring binds the key to "Ben Okafor": the keyring wins.
    ring = Keyring()
    ring.trust(signers.ana.public_key)
    ring.trust(SigningKey("Ben Okafor", signers.ben._private).public_key)
    card = sign_off(_card(bundle, signers.ana), key=signers.ben)
    assert check_signed_off(card, card.model_fingerprint, where="t", keyring=ring) == (
        "Ben Okafor",
    )


def test_a_card_with_too_many_sign_offs_is_refused(bundle, signers) -> None:
    card = sign_off(_card(bundle, signers.ana), key=signers.ben)
    payload = card.model_dump(mode="json")
    payload["sign_offs"] = payload["sign_offs"] * 65
    import json

    (bundle / "card.json").write_text(json.dumps(payload))
    with pytest.raises(ExplainScoreError) as info:
        explainscore.load(bundle, require_sign_off=True)
    _assert_clean(str(info.value))


def test_a_corrupt_card_is_a_typed_error_without_its_text(bundle, signers) -> None:
    (bundle / "card.json").write_text('{"name": "' + MARKER + '", "owner": 3')
    with pytest.raises(ExplainScoreError) as info:
        ModelCard.load(bundle / "card.json")
    _assert_clean(str(info.value))
    assert "\n" not in str(info.value)


def test_set_params_with_a_forged_card_is_no_longer_signed_off(bundle, signers, leads) -> None:
    X, _ = leads
    num = X.select_dtypes("number")
    card = sign_off(_card(bundle, signers.ana), key=signers.ben)
    em = explainscore.load(bundle)
    assert em.set_params(card=card).signed_off_ is True
    assert em.set_params(card=_edit(card, intended_use="other")).signed_off_ is False
    assert em.explain(num.iloc[:1])[0].signed_off is False
    with pytest.raises(NotSignedOffError):
        em.set_params(require_sign_off=True)


def test_the_verified_verdict_survives_pickling_without_the_keyring(
    bundle, signers, monkeypatch
) -> None:
    """A Spark executor or service worker unpickling a verified model needs no keyring."""
    import pickle

    sign_off(_card(bundle, signers.ana), key=signers.ben).save(bundle / "card.json")
    em = explainscore.load(bundle, require_sign_off=True)
    blob = pickle.dumps(em)
    monkeypatch.delenv("EXPLAINSCORE_TRUSTED_KEYS")
    assert pickle.loads(blob).signed_off_ is True
