"""explainscore: exact, fast, auditable explanations for lead-scoring models.

>>> from explainscore import ExplainedModel
>>> em = ExplainedModel(model, background=X_train, top_k=3)   # doctest: +SKIP
>>> em.explain_one(lead).reason                                # doctest: +SKIP
"""

from ._crm import CrmField, CrmFields
from ._model import ExplainedModel
from ._records import (
    Explanations,
    FeatureAttribution,
    LeadExplanation,
    NextBestAction,
    ReasonCode,
    RejectedRow,
)
from ._version import __version__
from .governance import (
    AuditLog,
    Keyring,
    KillSwitch,
    ModelCard,
    Policy,
    ReviewQueue,
    ReviewRules,
    SignOff,
    fairness_audit,
    generate_key,
    sign_off,
)
from .io import load, save
from .reasons import Catalog, ReasonConfig, ScoreBands

__all__ = [
    "AuditLog",
    "Catalog",
    "CrmField",
    "CrmFields",
    "ExplainedModel",
    "Explanations",
    "FeatureAttribution",
    "Keyring",
    "KillSwitch",
    "LeadExplanation",
    "ModelCard",
    "NextBestAction",
    "Policy",
    "ReasonCode",
    "ReasonConfig",
    "RejectedRow",
    "ReviewQueue",
    "ReviewRules",
    "ScoreBands",
    "SignOff",
    "__version__",
    "fairness_audit",
    "generate_key",
    "load",
    "save",
    "sign_off",
]
