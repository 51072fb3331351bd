"""Signing keys and a trusted keyring for tests that sign model cards.

The ``signers`` fixture (tests/conftest.py) builds one per test: ``ana`` owns models, ``ben``
approves them, both trusted in a keyring file that ``EXPLAINSCORE_TRUSTED_KEYS`` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from explainscore.governance import Keyring, SigningKey, generate_key

ENV = "EXPLAINSCORE_TRUSTED_KEYS"


@dataclass
class Signers:
    """Keys on disk and the keyring trusting them."""

    root: Path
    ana: SigningKey
    ben: SigningKey
    keyring: Keyring
    keyring_path: Path

    def key_file(self, who: str) -> Path:
        return self.root / f"{who}.key"

    def add(self, identity: str, *, trust: bool = True, file: str | None = None) -> SigningKey:
        """Another key (saved as ``file.key`` / ``.pub``, default the identity), trusted unless
        ``trust=False``."""
        key = generate_key(identity)
        key.save(self.root / f"{file or identity}.key")
        if trust:
            self.keyring.trust(key.public_key)
            self.keyring.save(self.keyring_path)
        return key


def make_signers(root: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> Signers:
    root.mkdir(parents=True, exist_ok=True)
    ana, ben = generate_key("ana"), generate_key("ben")
    ana.save(root / "ana.key")
    ben.save(root / "ben.key")
    ring = Keyring()
    ring.trust(ana.public_key)
    ring.trust(ben.public_key)
    ring_path = root / "trusted.json"
    ring.save(ring_path)
    if monkeypatch is not None:
        monkeypatch.setenv(ENV, str(ring_path))
    return Signers(root, ana, ben, ring, ring_path)
