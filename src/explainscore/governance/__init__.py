"""Governance: policy, model cards and sign-off, kill switch, audit log, fairness, review."""

from ._card import ModelCard, SignOff, sign_off
from ._kill_switch import KillState, KillSwitch
from ._policy import Policy

__all__ = ["KillState", "KillSwitch", "ModelCard", "Policy", "SignOff", "sign_off"]
