"""Model cards and signed, four-eyes sign-off before a model goes live.

A :class:`ModelCard` records what a model is (owner, intended use, training data, metrics,
features, policy version, library versions, whether raw rows are stored) and the fingerprint
of exactly which model it describes: for a saved model, the digest over every file of the
bundle. :func:`sign_off` adds an approval signed with the approver's Ed25519 key over the
card's canonical bytes, so changing any field of the card, or putting the sign-off on another
card, voids it.

:func:`check_signed_off` is what the production doors call. A sign-off counts only when

* its signature verifies with a key in the door's trusted keyring that is not revoked,
* the identity the *keyring* binds to that key is not the card's owner, compared as a person
  reads names (NFKC, case folding, invisible characters, confusable letters, the local part of
  an e-mail address: :func:`~explainscore.governance._identity.same_identity`), and
* the key is not the owner's key,

and only on a card its owner signed with a key the keyring trusts under the owner's name: a
card that merely *names* an owner would let one person write "owner: carl" and approve their
own model.

Messages never quote the card's text: a card is a file from outside.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._lib_versions import library_versions
from ..exceptions import KeyFileError, NotSignedOffError, ParameterError
from ..reasons._config import ScoreBands
from ._identity import same_identity
from ._keys import (
    TRUSTED_KEYS_ENV,
    Keyring,
    PublicKey,
    SigningKey,
    load_signing_key,
    resolve_keyring,
)

__all__ = ["ModelCard", "SignOff", "check_signed_off", "sign_off"]

_MAX_CARD_FILE = 4 * 1024 * 1024
_MAX_SIGN_OFFS = 64  # each one costs a signature check at every load
_MAX_TEXT = 10_000
_MAX_NAME = 200
_SIGNATURE_PATTERN = r"^[A-Za-z0-9+/]{86}==$"  # 64 bytes in standard base64
_KEY_ID_PATTERN = r"^[0-9a-f]{64}$"
# Domain separation: an owner's signature can never pass for an approval, nor the reverse.
_SIGN_OFF_PURPOSE = "explainscore model card sign-off v1"
_OWNER_PURPOSE = "explainscore model card owner v1"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _canonical(payload: dict[str, Any]) -> bytes:
    """The exact bytes a signature covers: sorted keys, no spaces, ASCII, no NaN."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class SignOff(BaseModel):
    """One signed approval of one model card.

    ``approver`` is the name the signing key was created with; a door identifies the approver
    by ``key_id`` through its own keyring instead. ``signature`` is the Ed25519 signature of
    the card's canonical bytes together with this sign-off's ``approver``, ``key_id``,
    ``signed_at`` and ``note``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    approver: str = Field(min_length=1, max_length=_MAX_NAME)
    key_id: str = Field(pattern=_KEY_ID_PATTERN)
    fingerprint: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    signed_at: str = Field(max_length=64)
    note: str = Field(default="", max_length=_MAX_TEXT)
    signature: str = Field(pattern=_SIGNATURE_PATTERN)


class ModelCard(BaseModel):
    """What a model is, who owns it, and who approved it.

    Create one with :meth:`for_model`; approve it with :func:`sign_off`. Every field except
    ``sign_offs`` and ``owner_signature`` is covered by each signature.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=_MAX_NAME)
    owner: str = Field(min_length=1, max_length=_MAX_NAME)
    intended_use: str = Field(min_length=1, max_length=_MAX_TEXT)
    training_data: str = Field(default="", max_length=_MAX_TEXT)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=200)
    features: tuple[str, ...] = Field(default=(), max_length=100_000)
    policy_version: str | None = Field(default=None, max_length=_MAX_NAME)
    library_versions: dict[str, str] = Field(default_factory=library_versions, max_length=64)
    model_fingerprint: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    #: Whether the saved bundle stores raw background rows ("raw"), a summary, or none.
    background_storage: Literal["none", "summary", "raw"] | None = None
    #: The score bands the model's reasons use (``ExplainedModel.score_bands_``): derived
    #: from the training scores unless set by hand; what a rep reads as High / Medium / Low.
    score_bands: ScoreBands | None = None
    created_at: str = Field(default_factory=_now, max_length=64)
    owner_key_id: str | None = Field(default=None, pattern=_KEY_ID_PATTERN)
    owner_public_key: str | None = Field(default=None, max_length=64)
    owner_signature: str | None = Field(default=None, pattern=_SIGNATURE_PATTERN)
    sign_offs: tuple[SignOff, ...] = Field(default=(), max_length=_MAX_SIGN_OFFS)

    @field_validator("metrics")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        # NaN has no stable JSON form: it would make the signed bytes unreproducible.
        if not all(math.isfinite(v) for v in value.values()):
            raise ValueError("metrics must be finite numbers")
        return value

    @model_validator(mode="after")
    def _owner_key_complete(self) -> Self:
        parts = (self.owner_key_id, self.owner_public_key, self.owner_signature)
        if any(p is not None for p in parts) and any(p is None for p in parts):
            raise ValueError("owner_key_id, owner_public_key and owner_signature go together")
        return self

    @classmethod
    def for_model(
        cls,
        explained: Any,
        *,
        name: str,
        intended_use: str,
        owner: str | None = None,
        owner_key: SigningKey | None = None,
        training_data: str = "",
        metrics: dict[str, float] | None = None,
    ) -> ModelCard:
        """A card for a fitted :class:`~explainscore.ExplainedModel` (fingerprint included).

        Parameters
        ----------
        explained : ExplainedModel
            Fitted, or loaded with :func:`explainscore.load` (then the fingerprint covers
            every file of the saved bundle).
        name, intended_use : str
            What the model is called and what it is for.
        owner : str, optional
            Who owns the model; default the identity of ``owner_key``.
        owner_key : SigningKey, optional
            The owner's key: the card then records it and carries the owner's signature, so
            the owner's key can never approve the card, whatever name it is trusted under.
        training_data : str, default=""
        metrics : dict of str to float, optional

        Returns
        -------
        ModelCard
        """
        fingerprint = getattr(explained, "model_fingerprint_", None)
        if fingerprint is None:
            raise ParameterError(
                "ModelCard.for_model needs a fitted ExplainedModel: call fit or explain first."
            )
        if owner_key is not None and not isinstance(owner_key, SigningKey):
            raise ParameterError(
                "The 'owner_key' parameter of ModelCard.for_model must be a SigningKey or "
                f"None. Got {type(owner_key).__name__} instead."
            )
        if owner is None:
            if owner_key is None:
                raise ParameterError(
                    "ModelCard.for_model needs the model's 'owner' (a name) or 'owner_key'."
                )
            owner = owner_key.identity
        elif owner_key is not None and not same_identity(owner, owner_key.identity):
            raise ParameterError(
                "The 'owner' parameter of ModelCard.for_model names someone other than the "
                "identity of 'owner_key'. Give the owner's own key, or leave 'owner' out."
            )
        policy = getattr(explained, "policy", None)
        storage = getattr(explained, "background_storage_", None)
        bands = getattr(explained, "score_bands_", None)
        card = cls(
            name=name,
            owner=owner,
            intended_use=intended_use,
            training_data=training_data,
            metrics=dict(metrics or {}),
            features=tuple(str(f) for f in explained.feature_names_in_),
            policy_version=None if policy is None else policy.version,
            model_fingerprint=fingerprint,
            background_storage=storage,
            score_bands=bands,
        )
        if owner_key is None:
            return card
        public = owner_key.public_key
        unsigned = card.model_copy(
            update={"owner_key_id": public.key_id, "owner_public_key": public.public_key}
        )
        signature = owner_key.sign(_canonical(unsigned._owner_payload()))
        return cls.model_validate(
            {
                **unsigned.model_dump(),
                "owner_key_id": public.key_id,
                "owner_public_key": public.public_key,
                "owner_signature": _b64(signature),
            }
        )

    # --- what the signatures cover -------------------------------------------------------

    def _content(self) -> dict[str, Any]:
        """Every field a signature covers: all but the signatures themselves."""
        content = self.model_dump(mode="json", exclude={"sign_offs", "owner_signature"})
        if content["score_bands"] is None:
            # Cards written before bands were recorded sign bytes without the key: they verify.
            del content["score_bands"]
        return content

    def _owner_payload(self) -> dict[str, Any]:
        return {"purpose": _OWNER_PURPOSE, "card": self._content()}

    def _sign_off_payload(
        self, *, approver: str, key_id: str, signed_at: str, note: str
    ) -> dict[str, Any]:
        return {
            "purpose": _SIGN_OFF_PURPOSE,
            "card": self._content(),
            "fingerprint": self.model_fingerprint,
            "approver": approver,
            "key_id": key_id,
            "signed_at": signed_at,
            "note": note,
        }

    def owner_signature_valid(self) -> bool | None:
        """Whether the owner's signature verifies (None when the card records no owner key)."""
        if self.owner_key_id is None:
            return None
        try:
            public = PublicKey(
                identity="owner",
                key_id=self.owner_key_id,
                public_key=self.owner_public_key or "",
            )
        except ValidationError:
            return False
        raw = _unb64(self.owner_signature or "")
        return raw is not None and public.verify(raw, _canonical(self._owner_payload()))

    def verified_approvers(
        self, fingerprint: str | None = None, *, keyring: Keyring | str | Path | None = None
    ) -> tuple[str, ...]:
        """Identities (as the keyring names them) whose sign-offs count; () when none do."""
        ring = resolve_keyring(keyring)
        if ring is None:
            return ()
        approvers, _ = _verify(self, fingerprint or self.model_fingerprint, ring)
        return approvers

    def is_signed_off(
        self, fingerprint: str | None = None, *, keyring: Keyring | str | Path | None = None
    ) -> bool:
        """True when a sign-off on the card *verifies* for ``fingerprint`` (default: the card's).

        ``keyring`` as for :func:`check_signed_off`; with none given or configured, or one that
        cannot be read, nothing is verified and the answer is False (the doors that require a
        sign-off call :func:`check_signed_off`, which says why).
        """
        try:
            return bool(self.verified_approvers(fingerprint, keyring=keyring))
        except KeyFileError:
            return False

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read a card; a malformed one raises ``ModelFileError`` without echoing its text."""
        from ..io import ModelFileError

        target = Path(path)
        try:
            with target.open("rb") as fh:
                data = fh.read(_MAX_CARD_FILE + 1)
        except OSError as exc:
            raise ModelFileError(
                f"The model card {target} cannot be read ({exc.strerror})."
            ) from None
        if len(data) > _MAX_CARD_FILE:
            raise ModelFileError(
                f"The model card {target} is larger than {_MAX_CARD_FILE:,} bytes; refusing it."
            )
        try:
            return cls.model_validate_json(data)
        except (ValidationError, ValueError, RecursionError):
            raise ModelFileError(
                f"The model card {target} is not a valid explainscore model card (fields "
                "missing or malformed, or written by an explainscore without signed "
                "sign-offs). Create it again with 'explainscore card'."
            ) from None


def sign_off(
    card: ModelCard,
    *,
    key: SigningKey | str | Path,
    note: str = "",
    passphrase: str | bytes | None = None,
) -> ModelCard:
    """Approve the card with the approver's key; returns the card with the signed sign-off.

    Parameters
    ----------
    card : ModelCard
        The card to approve (its fingerprint names the exact model).
    key : SigningKey, str or Path
        The approver's signing key, or the path of its file. The approver's identity is the
        key's; a door names the approver by the identity its keyring binds to the key.
    note : str, default=""
        What was reviewed.
    passphrase : str or bytes, optional
        The key file's passphrase, when ``key`` is a path.

    Returns
    -------
    ModelCard

    Raises
    ------
    ParameterError
        The key is the owner's key or belongs to the owner (the four-eyes principle: doors
        would refuse such a sign-off anyway), or the card's owner signature does not verify.
    """
    if not isinstance(card, ModelCard):
        raise ParameterError(
            f"The 'card' parameter of sign_off must be a ModelCard. Got {type(card).__name__} "
            "instead."
        )
    if isinstance(key, str | Path):
        key = load_signing_key(key, passphrase=passphrase)
    if not isinstance(key, SigningKey):
        raise ParameterError(
            "The 'key' parameter of sign_off must be a SigningKey or the path of a key file. "
            f"Got {type(key).__name__} instead."
        )
    if not isinstance(note, str) or len(note) > _MAX_TEXT:
        raise ParameterError(
            f"The 'note' parameter of sign_off must be a str of at most {_MAX_TEXT:,} characters."
        )
    if key.key_id == card.owner_key_id or same_identity(key.identity, card.owner):
        raise ParameterError(
            "sign_off refused: the key belongs to the model's owner. Ask a second person to "
            "approve with their own key."
        )
    if card.owner_signature_valid() is False:
        raise ParameterError(
            "sign_off refused: the card's owner signature does not verify; the card was "
            "changed after its owner created it. Create the card again."
        )
    if len(card.sign_offs) >= _MAX_SIGN_OFFS:
        raise ParameterError(f"A model card holds at most {_MAX_SIGN_OFFS} sign-offs.")
    signed_at = _now()
    payload = card._sign_off_payload(
        approver=key.identity, key_id=key.key_id, signed_at=signed_at, note=note
    )
    entry = SignOff(
        approver=key.identity,
        key_id=key.key_id,
        fingerprint=card.model_fingerprint,
        signed_at=signed_at,
        note=note,
        signature=_b64(key.sign(_canonical(payload))),
    )
    return card.model_copy(update={"sign_offs": (*card.sign_offs, entry)})


# Why a sign-off did not count, for the refusal message (counts only: no names, no text).
_WHY = {
    "signature": "a signature that does not verify (forged, or the card was edited after signing)",
    "untrusted": "a key that is not in the trusted keyring",
    "revoked": "a revoked key",
    "owner": "the owner's own identity or key (self-approval)",
    "fingerprint": "another model's fingerprint",
}
# Why the card itself cannot carry a sign-off, whatever its sign-offs are.
_OWNER_WHY = {
    "owner_unsigned": "the model card is not signed by its owner. Create it with 'explainscore "
    "card MODEL --owner-key OWNER.key' (ModelCard.for_model(..., owner_key=...)).",
    "owner_untrusted": "the model card's owner key is not in the trusted keyring under the "
    "owner's name, or is revoked. Trust the owner's public key with 'explainscore keys trust'.",
    "signature": "the model card's owner signature does not verify: the card was changed after "
    "its owner created it. Create the card again.",
}


def _verify(card: ModelCard, fingerprint: str, ring: Keyring) -> tuple[tuple[str, ...], list[str]]:
    """The identities whose sign-offs count, and why each other sign-off did not."""
    approvers: list[str] = []
    why: list[str] = []
    if card.model_fingerprint != fingerprint:
        return (), ["fingerprint"] * max(1, len(card.sign_offs))
    owner_problem = _owner_problem(card, ring)
    if owner_problem is not None:
        return (), [owner_problem] * max(1, len(card.sign_offs))
    owner_key_identity = None if card.owner_key_id is None else ring.identity_of(card.owner_key_id)
    for entry in card.sign_offs:
        if entry.fingerprint != fingerprint:
            why.append("fingerprint")
            continue
        trusted = ring.get(entry.key_id)
        if trusted is None:
            why.append("untrusted")
            continue
        if trusted.revoked:
            why.append("revoked")
            continue
        signature = _unb64(entry.signature)
        payload = card._sign_off_payload(
            approver=entry.approver,
            key_id=entry.key_id,
            signed_at=entry.signed_at,
            note=entry.note,
        )
        if signature is None or ring.verify(entry.key_id, signature, _canonical(payload)) is None:
            why.append("signature")
            continue
        # The keyring's identity decides; the name the sign-off claims is checked too, so a
        # key trusted as "ben" cannot carry a sign-off that calls itself the owner either.
        names = (trusted.identity, entry.approver)
        owners = [card.owner] + ([owner_key_identity] if owner_key_identity else [])
        if entry.key_id == card.owner_key_id or any(
            same_identity(n, o) for n in names for o in owners
        ):
            why.append("owner")
            continue
        if trusted.identity not in approvers:
            approvers.append(trusted.identity)
    return tuple(approvers), why


def _owner_problem(card: ModelCard, ring: Keyring) -> str | None:
    """Why the card's owner is not established, or None when a trusted owner signed it."""
    if card.owner_key_id is None:
        return "owner_unsigned"
    if card.owner_signature_valid() is not True:
        return "signature"
    trusted = ring.get(card.owner_key_id)
    if trusted is None or trusted.revoked or not same_identity(trusted.identity, card.owner):
        return "owner_untrusted"
    return None


def check_signed_off(
    card: ModelCard | None,
    fingerprint: str,
    *,
    where: str,
    keyring: Keyring | str | Path | None = None,
) -> tuple[str, ...]:
    """Raise :class:`NotSignedOffError` unless a sign-off on ``card`` verifies for ``fingerprint``.

    Parameters
    ----------
    card : ModelCard or None
        The model's card.
    fingerprint : str
        The fingerprint of the model that is about to run (for a saved model, the bundle's).
    where : str
        The door asking, for the message ("explainscore.load", "explainscore explain", ...).
    keyring : Keyring, str, Path or None
        The trusted public keys; a path is read as a keyring file; None reads the file named
        by the ``EXPLAINSCORE_TRUSTED_KEYS`` environment variable. With no keyring at all,
        every model is refused.

    Returns
    -------
    tuple of str
        The approvers whose sign-offs count, as the keyring names them.
    """
    if card is None:
        raise NotSignedOffError(
            f"{where} refused: the model has no model card with a sign-off. Create one with "
            "'explainscore card' (ModelCard.for_model), have a second person approve it with "
            "'explainscore sign-off' (sign_off), and give the door their public key in a "
            "trusted keyring; for development only, run without require_sign_off (or with "
            "--allow-unsigned)."
        )
    try:
        ring = resolve_keyring(keyring)
    except KeyFileError as exc:
        raise NotSignedOffError(f"{where} refused: {exc}") from None
    if ring is None:
        raise NotSignedOffError(
            f"{where} refused: no trusted keyring is configured, so no sign-off can be "
            f"verified. Pass --trusted-keys FILE (Python: trusted_keys=...) or set "
            f"{TRUSTED_KEYS_ENV} to a keyring file made with 'explainscore keys trust'."
        )
    if card.model_fingerprint != fingerprint:
        raise NotSignedOffError(
            f"{where} refused: the model's fingerprint ({fingerprint[:19]}...) differs from the "
            "one on its card; the model changed after it was approved. Sign off the new model."
        )
    owner_problem = _owner_problem(card, ring)
    if owner_problem is not None:
        raise NotSignedOffError(f"{where} refused: {_OWNER_WHY[owner_problem]}")
    approvers, why = _verify(card, fingerprint, ring)
    if approvers:
        return approvers
    if not card.sign_offs:
        raise NotSignedOffError(
            f"{where} refused: the model card has no sign-off yet. Have a second person approve "
            "it with 'explainscore sign-off MODEL --key THEIR.key'."
        )
    counts: dict[str, int] = {}
    for reason in why:
        counts[reason] = counts.get(reason, 0) + 1
    detail = "; ".join(f"{n} by {_WHY[r]}" for r, n in counts.items())
    raise NotSignedOffError(
        f"{where} refused: none of the card's {len(card.sign_offs)} sign-off(s) counts ({detail})."
        " A sign-off counts when it is signed by a trusted, unrevoked key of someone other "
        "than the owner."
    )
