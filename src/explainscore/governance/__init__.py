"""Governance: policy, model cards and sign-off, kill switch, audit log, fairness, review."""

from ._card import ModelCard, SignOff, sign_off
from ._kill_switch import KillState, KillSwitch
from ._policy import Policy
from ._review import ReviewDecision, ReviewItem, ReviewQueue, ReviewRules

__all__ = [
    "KillState",
    "KillSwitch",
    "ModelCard",
    "Policy",
    "ReviewDecision",
    "ReviewItem",
    "ReviewQueue",
    "ReviewRules",
    "SignOff",
    "sign_off",
]
