"""Governance: policy, model cards and sign-off, kill switch, audit log, fairness, review."""

from ._audit import AuditLog, AuditReceipt, Checkpoint, VerifyResult
from ._card import ModelCard, SignOff, sign_off
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
    "KillState",
    "KillSwitch",
    "ModelCard",
    "ModelRegistry",
    "Policy",
    "ProxyColumn",
    "ProxyDriver",
    "ProxyReport",
    "ReasonShare",
    "RegistryEntry",
    "ReviewDecision",
    "ReviewItem",
    "ReviewQueue",
    "ReviewRules",
    "SignOff",
    "VerifyResult",
    "fairness_audit",
    "proxy_check",
    "sign_off",
]
