"""Data sets for examples and tests: real bank-marketing leads and synthetic CRM leads.

- :func:`load_bank_marketing`: the UCI Bank Marketing data (CC BY 4.0), bundled with the
  package, with :data:`BANK_FEATURE_INFO`, plain-English names for its columns.
- :func:`make_leads`: synthetic leads drawn from a documented logistic model, whose true
  coefficients are :data:`LEADS_COEFFICIENTS` and true log-odds :func:`leads_true_logit`.

Public names are imported when first used (see ``explainscore._lazy``).
"""

import typing as _typing

from .._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from ._bank import load_bank_marketing
    from ._bank_catalog import BANK_FEATURE_INFO, load_bank_catalog
    from ._leads import LEADS_COEFFICIENTS, leads_true_logit, make_leads

_EXPORTS = {
    "BANK_FEATURE_INFO": "._bank_catalog",
    "LEADS_COEFFICIENTS": "._leads",
    "leads_true_logit": "._leads",
    "load_bank_catalog": "._bank_catalog",
    "load_bank_marketing": "._bank",
    "make_leads": "._leads",
}

__all__ = [
    "BANK_FEATURE_INFO",
    "LEADS_COEFFICIENTS",
    "leads_true_logit",
    "load_bank_catalog",
    "load_bank_marketing",
    "make_leads",
]

__getattr__, __dir__ = _attach(__name__, globals(), _EXPORTS)
