"""Governance: policy, model cards and sign-off, kill switch, audit log, fairness, review.

Public names are imported when first used (see ``explainscore._lazy``).
"""

import typing as _typing

from .._lazy import attach as _attach

if _typing.TYPE_CHECKING:
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

_EXPORTS = {
    "AttributeSummary": "._fairness_report",
    "AuditLog": "._audit",
    "AuditReceipt": "._audit",
    "check_signed_off": "._card",
    "Checkpoint": "._audit",
    "fairness_audit": "._fairness",
    "FairnessReport": "._fairness_report",
    "generate_key": "._keys",
    "GroupRate": "._fairness_report",
    "GroupRejections": "._fairness_report",
    "Keyring": "._keys",
    "KillState": "._kill_switch",
    "KillSwitch": "._kill_switch",
    "load_signing_key": "._keys",
    "ModelCard": "._card",
    "ModelRegistry": "._registry",
    "Policy": "._policy",
    "proxy_check": "._proxy",
    "ProxyColumn": "._fairness_report",
    "ProxyDriver": "._fairness_report",
    "ProxyReport": "._fairness_report",
    "PublicKey": "._keys",
    "ReasonShare": "._fairness_report",
    "RegistryEntry": "._registry",
    "ReviewDecision": "._review",
    "ReviewItem": "._review",
    "ReviewQueue": "._review",
    "ReviewRules": "._review",
    "sign_off": "._card",
    "SigningKey": "._keys",
    "SignOff": "._card",
    "TrustedKey": "._keys",
    "VerifyResult": "._audit",
}

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

__getattr__, __dir__ = _attach(__name__, globals(), _EXPORTS)
