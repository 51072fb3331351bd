"""Model cards and named sign-off before a model goes live.

A :class:`ModelCard` records what a model is (owner, intended use, training data, metrics,
features, policy version, library versions) and the SHA-256 fingerprint of exactly which model
it describes. :func:`sign_off` adds who approved that fingerprint and when. The production
doors (``ExplainedModel(..., require_sign_off=True)``, the CLI's ``explain`` and ``serve`` on a
saved model) refuse a model whose fingerprint has no sign-off on its card.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..exceptions import NotSignedOffError, ParameterError

__all__ = ["ModelCard", "SignOff", "check_signed_off", "sign_off"]

_LIBRARIES = ("explainscore", "scikit-learn", "numpy", "pandas", "shap", "xgboost", "lightgbm")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's behaviour, as installed now."""
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


class SignOff(BaseModel):
    """One approval of one model fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approver: str = Field(min_length=1)
    fingerprint: str
    signed_at: str
    note: str = ""


class ModelCard(BaseModel):
    """What a model is, who owns it, and who approved it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    intended_use: str = Field(min_length=1)
    training_data: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    features: tuple[str, ...] = ()
    policy_version: str | None = None
    library_versions: dict[str, str] = Field(default_factory=library_versions)
    model_fingerprint: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    created_at: str = Field(default_factory=_now)
    sign_offs: tuple[SignOff, ...] = ()

    @classmethod
    def for_model(
        cls,
        explained: Any,
        *,
        name: str,
        owner: str,
        intended_use: str,
        training_data: str = "",
        metrics: dict[str, float] | None = None,
    ) -> ModelCard:
        """A card for a fitted :class:`~explainscore.ExplainedModel` (fingerprint included)."""
        fingerprint = getattr(explained, "model_fingerprint_", None)
        if fingerprint is None:
            raise ParameterError(
                "ModelCard.for_model needs a fitted ExplainedModel: call fit or explain first."
            )
        policy = getattr(explained, "policy", None)
        return cls(
            name=name,
            owner=owner,
            intended_use=intended_use,
            training_data=training_data,
            metrics=dict(metrics or {}),
            features=tuple(str(f) for f in explained.feature_names_in_),
            policy_version=None if policy is None else policy.version,
            model_fingerprint=fingerprint,
        )

    def is_signed_off(self, fingerprint: str | None = None) -> bool:
        """True when some sign-off approves ``fingerprint`` (default: the card's own)."""
        target = fingerprint or self.model_fingerprint
        return target == self.model_fingerprint and any(
            s.fingerprint == target for s in self.sign_offs
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def sign_off(
    card: ModelCard, *, approver: str, note: str = "", allow_self_approval: bool = False
) -> ModelCard:
    """Approve the card's model fingerprint; returns the card with the sign-off added.

    The owner may not approve their own model unless ``allow_self_approval`` is set (the
    four-eyes principle compliance teams expect).
    """
    if not approver or not approver.strip():
        raise ParameterError(
            "The 'approver' parameter of sign_off must be a non-empty name. Got '' instead."
        )
    if approver.strip() == card.owner.strip() and not allow_self_approval:
        raise ParameterError(
            "sign_off refused: the approver is the model's owner. Ask a second person to "
            "approve, or pass allow_self_approval=True where one person may do both."
        )
    entry = SignOff(
        approver=approver.strip(), fingerprint=card.model_fingerprint, signed_at=_now(), note=note
    )
    return card.model_copy(update={"sign_offs": (*card.sign_offs, entry)})


def check_signed_off(card: ModelCard | None, fingerprint: str, *, where: str) -> None:
    """Raise :class:`NotSignedOffError` unless ``card`` approves ``fingerprint``."""
    if card is None:
        raise NotSignedOffError(
            f"{where} refused: the model has no model card with a sign-off. Create one with "
            "ModelCard.for_model, have it approved with sign_off, and pass card=...; for "
            "development only, run without require_sign_off (or with --allow-unsigned)."
        )
    if card.model_fingerprint != fingerprint:
        raise NotSignedOffError(
            f"{where} refused: the model's fingerprint ({fingerprint[:19]}...) differs from the "
            f"one on its card ({card.model_fingerprint[:19]}...); the model changed after it "
            "was approved. Sign off the new model."
        )
    if not card.is_signed_off(fingerprint):
        raise NotSignedOffError(
            f"{where} refused: the model card {card.name!r} has no sign-off yet. Have it "
            "approved with sign_off(card, approver=...)."
        )
