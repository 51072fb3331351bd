"""explainscore: exact, fast, auditable explanations for lead-scoring models.

>>> from explainscore import ExplainedModel
>>> em = ExplainedModel(model, background=X_train, top_k=3)   # doctest: +SKIP
>>> em.explain_one(lead).reason                                # doctest: +SKIP

``import explainscore`` is light: the public names below are imported when first used (so
scikit-learn, pandas and pydantic load with the first model, numba with the first compiled
kernel, shap only where it is the backend). See docs/cli.md, "Cold start".
"""

import typing as _typing

from ._lazy import attach as _attach
from ._numba_cache import configure_numba_cache as _configure_numba_cache
from ._version import __version__

# Where numba keeps the compiled kernels: a per-user cache directory, set before numba is
# imported (a read-only site-packages must still work). Sets no directory, only a variable.
_configure_numba_cache()

if _typing.TYPE_CHECKING:
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

_EXPORTS = {
    "AuditLog": ".governance._audit",
    "Catalog": ".reasons._catalog",
    "CrmField": "._crm",
    "CrmFields": "._crm",
    "ExplainedModel": "._model",
    "Explanations": "._records",
    "FeatureAttribution": "._records",
    "Keyring": ".governance._keys",
    "KillSwitch": ".governance._kill_switch",
    "LeadExplanation": "._records",
    "ModelCard": ".governance._card",
    "NextBestAction": "._records",
    "Policy": ".governance._policy",
    "ReasonCode": "._records",
    "ReasonConfig": ".reasons._config",
    "RejectedRow": "._records",
    "ReviewQueue": ".governance._review",
    "ReviewRules": ".governance._review",
    "ScoreBands": ".reasons._config",
    "SignOff": ".governance._card",
    "fairness_audit": ".governance._fairness",
    "generate_key": ".governance._keys",
    "load": ".io",
    "save": ".io",
    "sign_off": ".governance._card",
}

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

__getattr__, __dir__ = _attach(__name__, globals(), _EXPORTS)
