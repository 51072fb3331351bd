"""Ed25519 keys for signed sign-offs, and the keyring of public keys a door trusts.

Three kinds of file, each with one job:

* a **signing key** (``ben.key``): the private key in PEM (PKCS#8, optionally encrypted with
  a passphrase), preceded by one comment line naming the identity it was created for. Written
  with file mode 0600; it never leaves the approver.
* a **public key** (``ben.pub``): JSON with ``identity``, ``key_id`` (the SHA-256 of the raw
  32-byte public key, in hex), ``public_key`` (base64) and ``created_at``. Safe to share.
* a **keyring** (``trusted.json``): the public keys a production door trusts, each bound to
  one identity, with when it was trusted and, once revoked, when and why. Revoked keys stay
  listed so the record of what was trusted is kept; their signatures stop counting.

The identity a signature stands for is the one the *keyring* binds to the key id, never the
name a card or a key file claims: whoever controls the keyring decides who may approve.

``cryptography`` is imported only when a key is created, read or used, so ``import
explainscore`` stays light.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..exceptions import KeyFileError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "Keyring",
    "PublicKey",
    "SigningKey",
    "TrustedKey",
    "generate_key",
    "load_signing_key",
]

#: Environment variable naming the keyring file the production doors trust by default.
TRUSTED_KEYS_ENV = "EXPLAINSCORE_TRUSTED_KEYS"

# Size limits: every file here is read before anything in it is trusted, so none may make
# the reader allocate without bound. Real files are far smaller (a key ~300 bytes, a keyring
# entry ~400 bytes).
_MAX_KEY_FILE = 16 * 1024
_MAX_KEYRING_FILE = 4 * 1024 * 1024
_MAX_KEYRING_KEYS = 10_000
_MAX_IDENTITY = 200
_MAX_REASON = 1_000

_KEY_ID_PATTERN = r"^[0-9a-f]{64}$"
_PUBLIC_KEY_PATTERN = r"^[A-Za-z0-9+/]{43}=$"  # 32 bytes in standard base64
_IDENTITY_LINE = "# explainscore signing key for identity: "


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _crypto() -> Any:
    """The Ed25519 and serialization modules of ``cryptography`` (imported on first use)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519, serialization


def key_id_of(raw_public_key: bytes) -> str:
    """The key id: SHA-256 of the raw 32-byte Ed25519 public key, in lowercase hex."""
    return hashlib.sha256(raw_public_key).hexdigest()


def check_identity(identity: Any, *, where: str) -> str:
    """An identity as given, refused when empty, too long or holding control characters."""
    if not isinstance(identity, str) or not identity.strip():
        raise ParameterError(
            f"The 'identity' parameter of {where} must be a non-empty str naming the key's "
            "holder (for example 'ben' or 'ben@corp.example')."
        )
    if len(identity) > _MAX_IDENTITY:
        raise ParameterError(
            f"The 'identity' parameter of {where} must be at most {_MAX_IDENTITY} characters. "
            f"Got {len(identity)} instead."
        )
    # Control characters (new lines, escapes) would let an identity forge lines in a listing
    # or a log; they are never part of a person's name.
    if any(unicodedata.category(ch) == "Cc" for ch in identity):
        raise ParameterError(
            f"The 'identity' parameter of {where} must not contain control characters."
        )
    return identity


def _read_limited(path: Path, limit: int, what: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise KeyFileError(f"The {what} {path} does not exist.") from None
    except OSError as exc:
        raise KeyFileError(f"The {what} {path} cannot be read ({exc.strerror}).") from None
    if len(data) > limit:
        raise KeyFileError(
            f"The {what} {path} is larger than {limit:,} bytes; it is not an explainscore {what}."
        )
    return data


def _load_json(path: Path, limit: int, what: str) -> Any:
    data = _read_limited(path, limit, what)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise KeyFileError(
            f"The {what} {path} is not valid JSON (truncated or corrupted)."
        ) from None


def _write_atomic(path: Path, text: str) -> None:
    # Readers see the old file or the new one, never half of it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _decode_public(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public_key must be standard base64") from None
    if len(raw) != 32:
        raise ValueError("public_key must encode 32 bytes (an Ed25519 public key)")
    return raw


class _KeyRecord(BaseModel):
    """An identity and its public key, as every key file states them.

    ``key_id`` must be the SHA-256 of the decoded key: a record whose id and key disagree is
    refused, so an id can never be paired with someone else's key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str = Field(min_length=1, max_length=_MAX_IDENTITY)
    key_id: str = Field(pattern=_KEY_ID_PATTERN)
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str = Field(pattern=_PUBLIC_KEY_PATTERN)

    @field_validator("identity")
    @classmethod
    def _identity_ok(cls, value: str) -> str:
        if not value.strip() or any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError("identity must be non-empty, without control characters")
        return value

    @model_validator(mode="after")
    def _id_matches(self) -> Self:
        if key_id_of(_decode_public(self.public_key)) != self.key_id:
            raise ValueError("key_id is not the SHA-256 of public_key")
        return self


class PublicKey(_KeyRecord):
    """A public key and the identity it was created for (the content of a ``.pub`` file)."""

    format: Literal["explainscore-public-key"] = "explainscore-public-key"
    created_at: str = Field(default_factory=_now, max_length=64)

    @property
    def raw(self) -> bytes:
        """The raw 32-byte public key."""
        return _decode_public(self.public_key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``data``."""
        ed25519, _ = _crypto()
        from cryptography.exceptions import InvalidSignature

        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def save(self, path: str | Path) -> None:
        """Write the public key as JSON (safe to share)."""
        _write_atomic(Path(path), self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PublicKey:
        """Read a ``.pub`` file written by :meth:`SigningKey.save` or ``keys create``."""
        target = Path(path)
        data = _load_json(target, _MAX_KEY_FILE, "public key file")
        try:
            return cls.model_validate(data)
        except ValidationError:
            raise KeyFileError(
                f"The public key file {target} is not an explainscore public key (fields "
                "missing or malformed, or its key_id does not match its key)."
            ) from None


class SigningKey:
    """A private Ed25519 key and the identity it was created for.

    Create one with :func:`generate_key`, keep it with :meth:`save` (file mode 0600, a
    passphrase is recommended) and read it back with :func:`load_signing_key`.

    Parameters
    ----------
    identity : str
        Who holds the key ("ben", "ben@corp.example"). A door does not take this at its word:
        it uses the identity its keyring binds to the key id.
    private_key : cryptography Ed25519PrivateKey
        The key itself.
    created_at : str, optional
        ISO 8601 creation time (default: now).
    """

    def __init__(
        self, identity: str, private_key: Ed25519PrivateKey, *, created_at: str | None = None
    ) -> None:
        self.identity = check_identity(identity, where="SigningKey")
        self._private = private_key
        self.created_at = created_at or _now()
        _, serialization = _crypto()
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._raw_public = raw
        self.key_id = key_id_of(raw)

    def __repr__(self) -> str:
        # Never the key material: a repr ends up in logs and tracebacks.
        return f"SigningKey(identity={self.identity!r}, key_id={self.key_id[:16]}...)"

    @property
    def public_key(self) -> PublicKey:
        """The shareable public half, as written to the ``.pub`` file."""
        return PublicKey(
            identity=self.identity,
            key_id=self.key_id,
            public_key=base64.b64encode(self._raw_public).decode("ascii"),
            created_at=self.created_at,
        )

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of ``data`` (64 bytes)."""
        return bytes(self._private.sign(data))

    def save(
        self,
        path: str | Path,
        *,
        passphrase: str | bytes | None = None,
        public_path: str | Path | None = None,
    ) -> Path:
        """Write the private key (mode 0600, never over an existing file) and its ``.pub``.

        Parameters
        ----------
        path : str or Path
            The private key file. An existing file is never overwritten: a key may be the only
            copy of someone's approval power.
        passphrase : str or bytes, optional
            Encrypt the private key with it (PKCS#8 with the best encryption available).
        public_path : str or Path, optional
            Where the public key goes; default ``path`` with the suffix ``.pub``.

        Returns
        -------
        Path
            The public key file written.
        """
        _, serialization = _crypto()
        target = Path(path)
        pub = Path(public_path) if public_path is not None else target.with_suffix(".pub")
        if pub == target:
            raise ParameterError(
                "The public key file of SigningKey.save must differ from the private key file."
            )
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        encryption = (
            serialization.BestAvailableEncryption(secret)
            if secret
            else serialization.NoEncryption()
        )
        pem = self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        header = (_IDENTITY_LINE + json.dumps(self.identity) + "\n").encode("utf-8")
        created = ("# created_at: " + json.dumps(self.created_at) + "\n").encode("utf-8")
        try:
            # O_EXCL: refuse to replace a key; mode 0600 from the first byte (no window in
            # which the file is readable by others).
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyFileError(
                f"{target} already exists; refusing to overwrite a key. Choose another path."
            ) from None
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o600)  # whatever the umask
            fh.write(header + created + pem)
        self.public_key.save(pub)
        return pub


def generate_key(identity: str) -> SigningKey:
    """A new Ed25519 signing key for ``identity``.

    Parameters
    ----------
    identity : str
        Who will hold the key ("ben", "ben@corp.example").

    Returns
    -------
    SigningKey
        Save it with :meth:`SigningKey.save`; give the ``.pub`` file to whoever keeps the
        keyring (``explainscore keys trust``).

    Examples
    --------
    >>> key = generate_key("ben")
    >>> key.public_key.identity, len(key.key_id)
    ('ben', 64)
    """
    check_identity(identity, where="generate_key")
    ed25519, _ = _crypto()
    return SigningKey(identity, ed25519.Ed25519PrivateKey.generate())


def load_signing_key(path: str | Path, *, passphrase: str | bytes | None = None) -> SigningKey:
    """Read a private key written by :meth:`SigningKey.save` or ``explainscore keys create``.

    Parameters
    ----------
    path : str or Path
        The private key file.
    passphrase : str or bytes, optional
        Its passphrase, if it was saved with one.

    Returns
    -------
    SigningKey
    """
    ed25519, serialization = _crypto()
    target = Path(path)
    data = _read_limited(target, _MAX_KEY_FILE, "signing key file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"The signing key file {target} is not a PEM text file.") from None
    identity: str | None = None
    created_at: str | None = None
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("-----BEGIN")), None)
    if start is None:
        raise KeyFileError(f"The signing key file {target} holds no PEM private key.")
    for line in lines[:start]:
        try:
            if line.startswith(_IDENTITY_LINE):
                identity = json.loads(line[len(_IDENTITY_LINE) :])
            elif line.startswith("# created_at: "):
                created_at = json.loads(line[len("# created_at: ") :])
        except ValueError:
            raise KeyFileError(
                f"The signing key file {target} has a malformed header line."
            ) from None
    if not isinstance(identity, str):
        raise KeyFileError(
            f"The signing key file {target} does not name its identity; create keys with "
            "'explainscore keys create'."
        )
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    pem = "".join(lines[start:]).encode("ascii", errors="replace")
    try:
        key = serialization.load_pem_private_key(pem, password=secret or None)
    except TypeError:
        # cryptography: a passphrase for an unencrypted key, or none for an encrypted one.
        need = "needs a passphrase" if not secret else "is not encrypted; give no passphrase"
        raise KeyFileError(f"The signing key file {target} {need}.") from None
    except ValueError:
        raise KeyFileError(
            f"The signing key file {target} cannot be read: a wrong passphrase, or the file is "
            "corrupted."
        ) from None
    except Exception:  # cryptography's UnsupportedAlgorithm and the like
        raise KeyFileError(f"The signing key file {target} is not a supported key.") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"The signing key file {target} is not an Ed25519 key.")
    try:
        return SigningKey(
            identity, key, created_at=created_at if isinstance(created_at, str) else None
        )
    except ParameterError:
        raise KeyFileError(
            f"The signing key file {target} names an identity explainscore does not accept."
        ) from None


class TrustedKey(_KeyRecord):
    """One public key in a keyring: whose it is, since when, and whether it was revoked."""

    created_at: str = Field(max_length=64)
    trusted_at: str = Field(max_length=64)
    revoked_at: str | None = Field(default=None, max_length=64)
    revoked_reason: str | None = Field(default=None, max_length=_MAX_REASON)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_public_key(self) -> PublicKey:
        return PublicKey(
            identity=self.identity,
            key_id=self.key_id,
            public_key=self.public_key,
            created_at=self.created_at,
        )


class _KeyringFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["explainscore-keyring"] = "explainscore-keyring"
    version: Literal[1] = 1
    keys: list[TrustedKey] = Field(default_factory=list, max_length=_MAX_KEYRING_KEYS)


class Keyring:
    """The public keys a production door trusts to approve models.

    Parameters
    ----------
    keys : iterable of TrustedKey, optional
        The entries (revoked ones included).
    path : str or Path, optional
        Where :meth:`save` writes by default (set by :meth:`load`).

    Examples
    --------
    >>> ring = Keyring()
    >>> entry = ring.trust(generate_key("ben").public_key)
    >>> ring.identity_of(entry.key_id)
    'ben'
    """

    def __init__(self, keys: Any = (), *, path: str | Path | None = None) -> None:
        self._keys: dict[str, TrustedKey] = {}
        for entry in keys:
            if entry.key_id in self._keys:
                raise KeyFileError("A keyring lists the same key id twice.")
            self._keys[entry.key_id] = entry
        self.path = None if path is None else Path(path)

    def __repr__(self) -> str:
        active = sum(not k.revoked for k in self._keys.values())
        return f"Keyring({active} trusted, {len(self._keys) - active} revoked)"

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        """Read a keyring file (a missing or malformed file is a :class:`KeyFileError`)."""
        target = Path(path)
        data = _load_json(target, _MAX_KEYRING_FILE, "keyring file")
        try:
            parsed = _KeyringFile.model_validate(data)
        except ValidationError:
            raise KeyFileError(
                f"The keyring file {target} is not an explainscore keyring (fields missing or "
                "malformed, a key whose key_id does not match its bytes, or more than "
                f"{_MAX_KEYRING_KEYS:,} keys)."
            ) from None
        try:
            return cls(parsed.keys, path=target)
        except KeyFileError:
            raise KeyFileError(f"The keyring file {target} lists the same key twice.") from None

    @classmethod
    def load_or_new(cls, path: str | Path) -> Keyring:
        """The keyring at ``path``, or an empty one to be saved there."""
        target = Path(path)
        return cls.load(target) if target.exists() else cls(path=target)

    def save(self, path: str | Path | None = None) -> None:
        """Write the keyring (atomically) to ``path`` or to the file it was loaded from."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ParameterError("Keyring.save needs a path: this keyring was not loaded from one.")
        body = _KeyringFile(keys=list(self._keys.values()))
        _write_atomic(target, body.model_dump_json(indent=2) + "\n")
        self.path = target

    def get(self, key_id: str) -> TrustedKey | None:
        """The entry for ``key_id`` (revoked or not), or None."""
        return self._keys.get(key_id)

    def identity_of(self, key_id: str) -> str | None:
        """The identity the keyring binds to ``key_id`` (None when the key is unknown)."""
        entry = self._keys.get(key_id)
        return None if entry is None else entry.identity

    def trust(self, public_key: PublicKey) -> TrustedKey:
        """Add a public key. Trusting the same key again with the same identity is a no-op.

        A key already in the keyring under another identity, or one that was revoked, is
        refused: a revoked key stays revoked (create a new key instead).
        """
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                "The 'public_key' parameter of Keyring.trust must be a PublicKey (read a .pub "
                f"file with PublicKey.load). Got {type(public_key).__name__} instead."
            )
        existing = self._keys.get(public_key.key_id)
        if existing is not None:
            if existing.revoked:
                raise ParameterError(
                    f"Key {public_key.key_id} was revoked; a revoked key cannot be trusted "
                    "again. Create a new key with 'explainscore keys create'."
                )
            if existing.identity != public_key.identity:
                raise ParameterError(
                    f"Key {public_key.key_id} is already trusted under another identity; a "
                    "key stands for one identity only."
                )
            return existing
        entry = TrustedKey(
            identity=public_key.identity,
            key_id=public_key.key_id,
            public_key=public_key.public_key,
            created_at=public_key.created_at,
            trusted_at=_now(),
        )
        self._keys[entry.key_id] = entry
        return entry

    def revoke(self, key_id: str, *, reason: str) -> TrustedKey:
        """Revoke a key: it stays listed (with when and why) and its signatures stop counting."""
        if not isinstance(reason, str) or not reason.strip():
            raise ParameterError(
                "The 'reason' parameter of Keyring.revoke must be a non-empty str (why the key "
                "is revoked: left the company, key lost, rotated, ...)."
            )
        if len(reason) > _MAX_REASON:
            raise ParameterError(
                f"The 'reason' parameter of Keyring.revoke must be at most {_MAX_REASON} "
                f"characters. Got {len(reason)} instead."
            )
        entry = self._keys.get(key_id)
        if entry is None:
            raise ParameterError(
                "The key id given to Keyring.revoke is not in the keyring; 'explainscore keys "
                "list' shows the full ids."
            )
        if entry.revoked:
            return entry
        revoked = entry.model_copy(update={"revoked_at": _now(), "revoked_reason": reason})
        self._keys[key_id] = revoked
        return revoked

    def verify(self, key_id: str, signature: bytes, data: bytes) -> TrustedKey | None:
        """The trusted, unrevoked entry whose key made ``signature`` over ``data``, or None."""
        entry = self._keys.get(key_id)
        if entry is None or entry.revoked:
            return None
        return entry if entry.as_public_key().verify(signature, data) else None


def resolve_keyring(keyring: Keyring | str | Path | None) -> Keyring | None:
    """A Keyring from a Keyring, a path, or (None) the file named by ``EXPLAINSCORE_TRUSTED_KEYS``.

    Returns None when nothing is configured.
    """
    if isinstance(keyring, Keyring):
        return keyring
    if isinstance(keyring, str | Path):
        if not str(keyring):
            return None
        return Keyring.load(keyring)
    if keyring is None:
        path = os.environ.get(TRUSTED_KEYS_ENV, "").strip()
        return Keyring.load(path) if path else None
    raise ParameterError(
        "The 'trusted_keys' parameter must be a Keyring, a path to a keyring file, or None. "
        f"Got {type(keyring).__name__} instead."
    )
