"""Plain-English names, units and value labels for the columns of the bundled bank data.

Reason texts shown to a salesperson must say "Days since previous contact", not ``pdays``.
This module holds that vocabulary for the 16 raw input columns of
:func:`~explainscore.datasets.load_bank_marketing`, following the UCI description
(``bank-names.txt``). It is kept as read-only plain mappings for now; a typed catalog will
replace it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from ..reasons._catalog import Catalog

__all__ = ["BANK_FEATURE_INFO"]

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_NO_SPECIALS: Mapping[int, str] = MappingProxyType({})

# Shared by the three yes/no columns; the codes are already plain English.
_YES_NO: Mapping[str, str] = MappingProxyType({"no": "no", "yes": "yes"})


def _numeric(
    display_name: str,
    description: str,
    unit: str | None,
    special_values: Mapping[int, str] = _NO_SPECIALS,
) -> Mapping[str, object]:
    return MappingProxyType(
        {
            "display_name": display_name,
            "description": description,
            "kind": "numeric",
            "unit": unit,
            "value_labels": _NO_LABELS,
            "special_values": MappingProxyType(dict(special_values)),
        }
    )


def _categorical(
    display_name: str, description: str, value_labels: Mapping[str, str]
) -> Mapping[str, object]:
    return MappingProxyType(
        {
            "display_name": display_name,
            "description": description,
            "kind": "categorical",
            "unit": None,
            "value_labels": MappingProxyType(dict(value_labels)),
            "special_values": _NO_SPECIALS,
        }
    )


BANK_FEATURE_INFO: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {
        "age": _numeric("Age", "Age of the client, in years.", "years"),
        "job": _categorical(
            "Job",
            "Type of job.",
            {
                "admin.": "admin",
                "blue-collar": "blue-collar worker",
                "entrepreneur": "entrepreneur",
                "housemaid": "housemaid",
                "management": "management",
                "retired": "retired",
                "self-employed": "self-employed",
                "services": "services",
                "student": "student",
                "technician": "technician",
                "unemployed": "unemployed",
                "unknown": "unknown",
            },
        ),
        "marital": _categorical(
            "Marital status",
            "Marital status; 'divorced' means divorced or widowed.",
            {
                "divorced": "divorced or widowed",
                "married": "married",
                "single": "single",
            },
        ),
        "education": _categorical(
            "Education",
            "Highest level of education.",
            {
                "primary": "primary",
                "secondary": "secondary",
                "tertiary": "tertiary",
                "unknown": "unknown",
            },
        ),
        "default": _categorical("Credit in default", "Has credit in default?", _YES_NO),
        "balance": _numeric(
            "Average yearly balance (EUR)", "Average yearly account balance, in euros.", "EUR"
        ),
        "housing": _categorical("Housing loan", "Has a housing loan?", _YES_NO),
        "loan": _categorical("Personal loan", "Has a personal loan?", _YES_NO),
        "contact": _categorical(
            "Contact channel",
            "Communication type of the last contact of this campaign.",
            {"cellular": "mobile phone", "telephone": "landline telephone", "unknown": "unknown"},
        ),
        "day": _numeric(
            "Day of month of last contact",
            "Day of the month of the last contact of this campaign (1-31).",
            None,
        ),
        "month": _categorical(
            "Month of last contact",
            "Month of the year of the last contact of this campaign.",
            {
                "jan": "January",
                "feb": "February",
                "mar": "March",
                "apr": "April",
                "may": "May",
                "jun": "June",
                "jul": "July",
                "aug": "August",
                "sep": "September",
                "oct": "October",
                "nov": "November",
                "dec": "December",
            },
        ),
        "duration": _numeric(
            "Duration of last call (seconds)",
            "Duration of the last contact, in seconds. Known only after the call ends, so "
            "not usable for a score made before the call.",
            "seconds",
        ),
        "campaign": _numeric(
            "Contacts this campaign",
            "Number of contacts with this client during this campaign, including the last.",
            "contacts",
        ),
        "pdays": _numeric(
            "Days since previous contact",
            "Days since the client was last contacted in a previous campaign; "
            "-1 if the client was not previously contacted.",
            "days",
            # -1 is a code, not a duration: a reason text must not say "-1 days".
            {-1: "not previously contacted"},
        ),
        "previous": _numeric(
            "Contacts before this campaign",
            "Number of contacts with this client before this campaign.",
            "contacts",
        ),
        "poutcome": _categorical(
            "Previous campaign outcome",
            "Outcome of the previous marketing campaign for this client.",
            {
                "failure": "failure",
                "other": "other",
                "success": "success",
                "unknown": "unknown",
            },
        ),
    }
)
"""Display metadata for each of the 16 raw input columns of the bundled bank data.

A read-only mapping from column name to a read-only mapping with the keys:

``display_name`` : str
    Plain-English name of the column, for reason texts and plots.
``description`` : str
    One-sentence meaning, from the UCI description of the data.
``kind`` : {"numeric", "categorical"}
    Numeric columns are int64; categorical columns hold string codes.
``unit`` : str or None
    Unit of a numeric value (``"EUR"``, ``"days"``, ...), or None.
``value_labels`` : Mapping[str, str]
    For categorical columns, a plain-English label for every raw code (``"admin."`` ->
    ``"admin"``, ``"may"`` -> ``"May"``); empty for numeric columns.
``special_values`` : Mapping[int, str]
    For numeric columns, sentinel values that are codes rather than quantities
    (``pdays`` ``-1`` -> ``"not previously contacted"``); empty otherwise.
"""


def load_bank_catalog() -> Catalog:
    """The complete reason catalog of the bundled bank data, the worked example.

    English and German names, value labels and phrases for all 16 columns, ``pdays = -1``
    worded as "Not contacted in an earlier campaign", and one actionable column (``contact``:
    calling the mobile phone) for the next-best-action suggestion. Stored as
    ``data/bank_catalog.json`` inside the package.

    Returns
    -------
    Catalog
    """
    text = resources.files("explainscore.datasets").joinpath("data/bank_catalog.json")
    return Catalog.model_validate_json(text.read_text(encoding="utf-8"))
