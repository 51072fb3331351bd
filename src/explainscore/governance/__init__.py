"""Governance: policy, model cards and sign-off, kill switch, audit log, fairness, review."""

from ._audit import AuditLog, AuditReceipt, Checkpoint, VerifyResult
from ._card import ModelCard, SignOff, check_signed_off, sign_off
from ._fairness import fairness_audit
from ._fairness_report import (
    AttributeSummary,
    FairnessReport,
    GroupRate,
    GroupRejections,
    ProxyColumn,
    ProxyDriver,
    ProxyReport,
    ReasonShare,
)
from ._keys import Keyring, PublicKey, SigningKey, TrustedKey, generate_key, load_signing_key
from ._kill_switch import KillState, KillSwitch
from ._policy import Policy
from ._proxy import proxy_check
from ._registry import ModelRegistry, RegistryEntry
from ._review import ReviewDecision, ReviewItem, ReviewQueue, ReviewRules

__all__ = [
    "AttributeSummary",
    "AuditLog",
    "AuditReceipt",
    "Checkpoint",
    "FairnessReport",
    "GroupRate",
    "GroupRejections",
    "Keyring",
    "KillState",
    "KillSwitch",
    "ModelCard",
    "ModelRegistry",
    "Policy",
    "ProxyColumn",
    "ProxyDriver",
    "ProxyReport",
    "PublicKey",
    "ReasonShare",
    "RegistryEntry",
    "ReviewDecision",
    "ReviewItem",
    "ReviewQueue",
    "ReviewRules",
    "SignOff",
    "SigningKey",
    "TrustedKey",
    "VerifyResult",
    "check_signed_off",
    "fairness_audit",
    "generate_key",
    "load_signing_key",
    "proxy_check",
    "sign_off",
]
