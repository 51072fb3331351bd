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
from .governance import KillSwitch, ModelCard, Policy, SignOff, sign_off
from .reasons import Catalog, ReasonConfig, ScoreBands

__all__ = [
    "Catalog",
    "CrmField",
    "CrmFields",
    "ExplainedModel",
    "Explanations",
    "FeatureAttribution",
    "KillSwitch",
    "LeadExplanation",
    "ModelCard",
    "NextBestAction",
    "Policy",
    "ReasonCode",
    "ReasonConfig",
    "RejectedRow",
    "ScoreBands",
    "SignOff",
    "__version__",
    "sign_off",
]
