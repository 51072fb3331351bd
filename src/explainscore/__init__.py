"""explainscore: exact, fast, auditable explanations for lead-scoring models.

>>> from explainscore import ExplainedModel
>>> em = ExplainedModel(model, background=X_train, top_k=3)   # doctest: +SKIP
>>> em.explain_one(lead).reason                                # doctest: +SKIP
"""

from ._model import ExplainedModel
from ._records import Explanations, FeatureAttribution, LeadExplanation, RejectedRow
from ._version import __version__

__all__ = [
    "ExplainedModel",
    "Explanations",
    "FeatureAttribution",
    "LeadExplanation",
    "RejectedRow",
    "__version__",
]
