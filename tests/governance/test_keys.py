"""Signing keys, public keys and the trusted keyring: files, CLI commands, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys

import pytest

from explainscore.cli import main
from explainscore.exceptions import KeyFileError, ParameterError
from explainscore.governance import (
    Keyring,
    PublicKey,
    generate_key,
    load_signing_key,
)


def test_key_files_round_trip_with_mode_0600(tmp_path) -> None:
    key = generate_key("ben")
    pub = key.save(tmp_path / "ben.key")
    assert pub == tmp_path / "ben.pub"
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(tmp_path / "ben.key").st_mode) == 0o600
    again = load_signing_key(tmp_path / "ben.key")
    assert (again.identity, again.key_id) == ("ben", key.key_id)
    public = PublicKey.load(pub)
    assert public.key_id == hashlib.sha256(public.raw).hexdigest() == key.key_id
    data = b"what is signed"
    assert public.verify(again.sign(data), data)
    assert not public.verify(again.sign(data), data + b"!")
    assert "PRIVATE" not in repr(key)
    assert key.key_id[:16] in repr(key)


def test_a_key_is_never_overwritten(tmp_path) -> None:
    generate_key("ben").save(tmp_path / "ben.key")
    before = (tmp_path / "ben.key").read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key("ben").save(tmp_path / "ben.key")
    assert (tmp_path / "ben.key").read_bytes() == before


def test_passphrase_protects_the_key(tmp_path) -> None:
    key = generate_key("ben")
    key.save(tmp_path / "ben.key", passphrase="correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "ben.key").read_bytes()
    with pytest.raises(KeyFileError, match="needs a passphrase"):
        load_signing_key(tmp_path / "ben.key")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_signing_key(tmp_path / "ben.key", passphrase="wrong")
    assert load_signing_key(tmp_path / "ben.key", passphrase="correct horse").key_id == key.key_id


@pytest.mark.parametrize(
    "identity", ["", "   ", "ben\nserver: ok", "ben\x1b[31m", "x" * 201, None, 3]
)
def test_bad_identities_are_refused(identity) -> None:
    with pytest.raises(ParameterError, match="'identity' parameter of generate_key"):
        generate_key(identity)


def test_a_public_key_whose_id_does_not_match_is_refused(tmp_path) -> None:
    ben, eve = generate_key("ben"), generate_key("eve")
    body = json.loads(ben.public_key.model_dump_json())
    body["public_key"] = eve.public_key.public_key  # ben's id, eve's key
    (tmp_path / "x.pub").write_text(json.dumps(body))
    with pytest.raises(KeyFileError, match="key_id does not match") as info:
        PublicKey.load(tmp_path / "x.pub")
    assert eve.public_key.public_key not in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"\xff\xfe", b"[" * 100_000, b'{"format": "explainscore-keyring"}x',
     b'{"format": "other", "keys": []}', b" " * (5 * 1024 * 1024)],
)  # fmt: skip
def test_malformed_keyrings_are_typed_errors_without_their_text(tmp_path, content) -> None:
    path = tmp_path / "ring.json"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as info:
        Keyring.load(path)
    assert "\n" not in str(info.value)
    assert "not json" not in str(info.value)


def test_keyring_refuses_a_key_twice_and_revoked_keys_stay_revoked() -> None:
    ring = Keyring()
    ben = generate_key("ben")
    first = ring.trust(ben.public_key)
    assert ring.trust(ben.public_key) == first  # idempotent
    renamed = ben.public_key.model_copy(update={"identity": "eve"})
    with pytest.raises(ParameterError, match="already trusted under another identity"):
        ring.trust(renamed)
    with pytest.raises(ParameterError, match="non-empty str"):
        ring.revoke(ben.key_id, reason=" ")
    with pytest.raises(ParameterError, match="not in the keyring"):
        ring.revoke("0" * 64, reason="x")
    revoked = ring.revoke(ben.key_id, reason="left")
    assert revoked.revoked
    assert revoked.revoked_reason == "left"
    assert ring.verify(ben.key_id, ben.sign(b"x"), b"x") is None
    with pytest.raises(ParameterError, match="cannot be trusted again"):
        ring.trust(ben.public_key)


def test_keys_commands_create_trust_revoke_list(tmp_path, capsys, monkeypatch) -> None:
    ring = tmp_path / "trusted.json"
    monkeypatch.setenv("BEN_PASS", "s3cret phrase")
    assert main(["keys", "create", "--identity", "ben", "--out", str(tmp_path / "ben.key"),
                 "--passphrase-env", "BEN_PASS"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    public = PublicKey.load(tmp_path / "ben.pub")
    assert public.key_id in out
    assert "s3cret" not in out
    assert load_signing_key(tmp_path / "ben.key", passphrase="s3cret phrase").identity == "ben"
    assert main(["keys", "create", "--identity", "ana", "--out", str(tmp_path / "ana.key")]) == 0
    assert main(["keys", "trust", str(ring), str(tmp_path / "ben.pub")]) == 0
    assert main(["keys", "trust", str(ring), str(tmp_path / "ana.pub")]) == 0
    capsys.readouterr()
    assert main(["keys", "revoke", str(ring), public.key_id, "--reason", "rotated"]) == 0
    assert "revoked key" in capsys.readouterr().out
    assert main(["keys", "list", str(ring)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 2
    ben_line = next(line for line in listing if public.key_id in line)
    assert "REVOKED" in ben_line
    assert "reason: rotated" in ben_line
    assert Keyring.load(ring).get(public.key_id).revoked


def test_keys_command_errors_are_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    args = ["keys", "create", "--identity", "ben", "--out", str(tmp_path / "b.key")]
    assert main([*args, "--passphrase-env", "NO_SUCH_VAR"]) == 1
    err = capsys.readouterr().err
    assert "--passphrase-env" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "b.key").exists()
    assert main(["keys", "list", str(tmp_path / "missing.json")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "ring.json").write_text("[1, 2")
    assert main(["keys", "revoke", str(tmp_path / "ring.json"), "0" * 64, "--reason", "x"]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["keys", "revoke", str(tmp_path / "ring.json"), "0" * 64])  # --reason missing
    assert info.value.code == 2


def test_listing_neutralises_control_characters(tmp_path, capsys) -> None:
    ring = Keyring()
    ben = generate_key("ben")
    ring.trust(ben.public_key)
    ring.revoke(ben.key_id, reason="gone\n0000 trusted admin\x1b[2J")
    ring.save(tmp_path / "ring.json")
    assert main(["keys", "list", str(tmp_path / "ring.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "\x1b" not in out
