"""Synthetic CRM leads whose true conversion model is known, for tests that need ground truth.

Real data never says how much each column *truly* moves the score, so an explanation of a
model fitted on it cannot be checked against the truth. :func:`make_leads` draws leads from
a documented logistic model instead: :data:`LEADS_COEFFICIENTS` holds its coefficients and
:func:`leads_true_logit` computes its log-odds for any rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._params import check_int, param_error
from ..exceptions import ColumnTypeError, MissingColumnError, ParameterError

__all__ = [
    "LEADS_COEFFICIENTS",
    "LEADS_COLUMNS",
    "LEADS_INDUSTRIES",
    "LEADS_SOURCES",
    "leads_true_logit",
    "make_leads",
]

#: The columns of :func:`make_leads`, in order.
LEADS_COLUMNS: tuple[str, ...] = (
    "company_size",
    "industry",
    "lead_source",
    "pages_viewed",
    "emails_opened",
    "days_since_last_contact",
    "demo_booked",
    "budget_known",
    "noise",
)

#: Levels of ``industry``; the first, ``"software"``, is the reference level (offset 0).
LEADS_INDUSTRIES: tuple[str, ...] = (
    "software",
    "finance",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
)
_INDUSTRY_PROBS = (0.25, 0.20, 0.15, 0.15, 0.15, 0.10)

#: Levels of ``lead_source``; the first, ``"web"``, is the reference level (offset 0).
LEADS_SOURCES: tuple[str, ...] = ("web", "referral", "event", "cold_call", "partner")
_SOURCE_PROBS = (0.40, 0.15, 0.10, 0.20, 0.15)

LEADS_COEFFICIENTS: Mapping[str, float] = MappingProxyType(
    {
        "intercept": -3.5,
        "log_company_size": 0.15,
        "pages_viewed": 0.12,
        "emails_opened": 0.10,
        "days_since_last_contact": -0.02,
        "demo_booked": 1.2,
        "budget_known": 0.8,
        "demo_booked:pages_viewed": 0.08,
        # Listed so that the absence of an effect is documented, not just implied.
        "noise": 0.0,
        "industry_software": 0.0,
        "industry_finance": 0.3,
        "industry_healthcare": -0.2,
        "industry_manufacturing": -0.4,
        "industry_retail": -0.6,
        "industry_education": -0.8,
        "lead_source_web": 0.0,
        "lead_source_referral": 0.9,
        "lead_source_event": 0.5,
        "lead_source_cold_call": -0.7,
        "lead_source_partner": 0.6,
    }
)
"""The true coefficients of the log-odds of conversion of :func:`make_leads`.

A read-only mapping from term name to coefficient. The log-odds of lead ``i`` is::

    logit_i = intercept
              + log_company_size        * ln(company_size_i)
              + pages_viewed            * pages_viewed_i
              + emails_opened           * emails_opened_i
              + days_since_last_contact * days_since_last_contact_i
              + demo_booked             * demo_booked_i
              + budget_known            * budget_known_i
              + demo_booked:pages_viewed * demo_booked_i * pages_viewed_i
              + industry_<industry_i>
              + lead_source_<lead_source_i>
              + noise                   * noise_i          (coefficient 0: no effect)

Term names of one-hot levels match scikit-learn's ``OneHotEncoder`` feature names
(``industry_finance``). Reference levels (``industry_software``, ``lead_source_web``) and
``noise`` are listed with coefficient 0.0.
"""

_NUMERIC_TERMS: tuple[str, ...] = (
    "pages_viewed",
    "emails_opened",
    "days_since_last_contact",
    "demo_booked",
    "budget_known",
)
# ``noise`` is deliberately absent: the formula never reads it.
_REQUIRED_COLUMNS: tuple[str, ...] = ("company_size", "industry", "lead_source", *_NUMERIC_TERMS)


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # exp(-|z|) never overflows, unlike exp(-z) for large negative z.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logit(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The documented formula, on a frame already known to hold valid columns."""
    c = LEADS_COEFFICIENTS
    size = frame["company_size"].to_numpy(dtype=np.float64)
    logit = np.full(len(frame), c["intercept"], dtype=np.float64)
    logit += c["log_company_size"] * np.log(size)
    for term in _NUMERIC_TERMS:
        logit += c[term] * frame[term].to_numpy(dtype=np.float64)
    demo = frame["demo_booked"].to_numpy(dtype=np.float64)
    pages = frame["pages_viewed"].to_numpy(dtype=np.float64)
    logit += c["demo_booked:pages_viewed"] * demo * pages
    for column in ("industry", "lead_source"):
        offsets = {level: c[f"{column}_{level}"] for level in _levels(column)}
        logit += frame[column].map(offsets).to_numpy(dtype=np.float64)
    return logit


def _levels(column: str) -> tuple[str, ...]:
    return LEADS_INDUSTRIES if column == "industry" else LEADS_SOURCES


def leads_true_logit(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Compute the true log-odds of conversion of leads, by the documented formula.

    The formula is the one :func:`make_leads` draws its labels from; see
    :data:`LEADS_COEFFICIENTS`. It works on any rows with the right columns, including
    rows edited by a test (a changed ``demo_booked``, say), which is what makes it a ground
    truth for explanations.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_leads, 9)
        Leads as returned by :func:`make_leads`. A DataFrame needs the columns the formula
        reads (every column of :data:`LEADS_COLUMNS` except ``noise``, which has no effect
        and may be absent); extra columns are ignored. An array must have the 9 columns of
        :data:`LEADS_COLUMNS`, in that order, as returned with ``as_frame=False``.

    Returns
    -------
    logit : ndarray of float64 of shape (n_leads,)
        The true log-odds of conversion of each lead. The true probability is
        ``1 / (1 + exp(-logit))``.

    Raises
    ------
    ParameterError
        If ``X`` is an array that does not have 9 columns.
    MissingColumnError
        If a column the formula reads is absent.
    ColumnTypeError
        If a numeric column is not numeric, ``company_size`` is not positive, or
        ``industry`` / ``lead_source`` holds a level not in :data:`LEADS_INDUSTRIES` /
        :data:`LEADS_SOURCES`.
    """
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X, dtype=object)
        if array.ndim != 2 or array.shape[1] != len(LEADS_COLUMNS):
            # Not ``param_error``: X holds leads, and messages never quote lead values.
            raise ParameterError(
                "The 'X' parameter of leads_true_logit must be a DataFrame or a 2-D array "
                f"with {len(LEADS_COLUMNS)} columns. Got an array of shape {array.shape} "
                "instead."
            )
        frame = pd.DataFrame(array, columns=list(LEADS_COLUMNS))

    missing = [c for c in _REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"leads_true_logit needs the columns {missing}, which are absent from X.",
            columns=missing,
        )
    for column in ("company_size", *_NUMERIC_TERMS):
        try:
            values = frame[column].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ColumnTypeError(
                f"Column {column!r} must be numeric for leads_true_logit.", column=column
            ) from None
        if not np.all(np.isfinite(values)):
            raise ColumnTypeError(
                f"Column {column!r} must hold finite numbers for leads_true_logit.",
                column=column,
            )
        if column == "company_size" and not np.all(values > 0):
            raise ColumnTypeError(
                "Column 'company_size' must be positive for leads_true_logit "
                "(the formula uses its logarithm).",
                column="company_size",
            )
    for column in ("industry", "lead_source"):
        if not frame[column].isin(_levels(column)).all():
            raise ColumnTypeError(
                f"Column {column!r} holds a level the leads formula does not know; "
                f"expected one of {list(_levels(column))}.",
                column=column,
            )
    return _logit(frame)


@overload
def make_leads(
    n: int = ..., *, seed: int = ..., as_frame: Literal[True] = ...
) -> tuple[pd.DataFrame, pd.Series]: ...


@overload
def make_leads(
    n: int = ..., *, seed: int = ..., as_frame: Literal[False]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]: ...


def make_leads(
    n: int = 1000, *, seed: int = 0, as_frame: bool = True
) -> tuple[pd.DataFrame, pd.Series] | tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """Generate synthetic CRM leads from a known, documented conversion model.

    For tests and examples that need ground truth: the true effect of every column is
    given by :data:`LEADS_COEFFICIENTS`, and :func:`leads_true_logit` computes the true
    log-odds of any rows. The labels are drawn as
    ``y ~ Bernoulli(1 / (1 + exp(-leads_true_logit(X))))``. About 19 % of leads convert.

    Parameters
    ----------
    n : int, default=1000
        Number of leads, at least 1.
    seed : int, default=0
        Seed of ``numpy.random.default_rng``, at least 0. The same ``n`` and ``seed`` give
        identical data with the same versions of explainscore and NumPy. A different ``n``
        gives different rows, not a prefix.
    as_frame : bool, default=True
        If True, return a DataFrame and a Series. If False, return NumPy arrays: ``X`` as a
        2-D object array with the columns in the order below, ``y`` as a 1-D int64 array.

    Returns
    -------
    X : DataFrame of shape (n, 9)
        One row per lead, columns in this order:

        - ``company_size`` : int64, employees, at least 1. Lognormal: the rounded value of
          ``exp(N(ln 50, 1.3^2))``, median about 50.
        - ``industry`` : str, one of :data:`LEADS_INDUSTRIES` with probabilities
          0.25, 0.20, 0.15, 0.15, 0.15, 0.10.
        - ``lead_source`` : str, one of :data:`LEADS_SOURCES` (``"web"``, ``"referral"``,
          ``"event"``, ``"cold_call"``, ``"partner"``) with probabilities
          0.40, 0.15, 0.10, 0.20, 0.15.
        - ``pages_viewed`` : int64, Poisson with mean 5 for web leads and 3 otherwise, so
          it is correlated with ``lead_source``.
        - ``emails_opened`` : int64, Binomial(8, 0.35).
        - ``days_since_last_contact`` : int64, at least 0, geometric with mean 14.
        - ``demo_booked`` : int64, 0/1, Bernoulli with probability
          ``sigmoid(-2 + 0.25 * pages_viewed)``, so it is correlated with ``pages_viewed``.
        - ``budget_known`` : int64, 0/1, Bernoulli(0.35).
        - ``noise`` : float64, standard normal, independent of everything, and with **no
          effect** on conversion (coefficient 0, not read by the formula).

        Categorical columns hold plain strings (``str`` dtype in pandas 3), not
        ``category``. Columns are independent except as stated.
    y : Series of int64 of shape (n,)
        Named ``"converted"``: 1 if the lead converted, else 0.

    Notes
    -----
    The true log-odds of conversion is (coefficients in :data:`LEADS_COEFFICIENTS`)::

        logit = -3.5
                + 0.15 * ln(company_size)
                + 0.12 * pages_viewed
                + 0.10 * emails_opened
                - 0.02 * days_since_last_contact
                + 1.2  * demo_booked
                + 0.8  * budget_known
                + 0.08 * demo_booked * pages_viewed        (interaction)
                + industry offset:    software 0, finance +0.3, healthcare -0.2,
                                      manufacturing -0.4, retail -0.6, education -0.8
                + lead_source offset: web 0, referral +0.9, event +0.5,
                                      cold_call -0.7, partner +0.6

    The effect of ``pages_viewed`` is thus 0.12 per page without a demo and 0.20 with
    one. The model is linear in ``ln(company_size)``, not in ``company_size``.

    Examples
    --------
    >>> from explainscore.datasets import leads_true_logit, make_leads
    >>> X, y = make_leads(5, seed=1)
    >>> X.shape, y.name
    ((5, 9), 'converted')
    >>> leads_true_logit(X).shape
    (5,)
    """
    n = check_int(n, "n", "make_leads", low=1)
    seed = check_int(seed, "seed", "make_leads", low=0)
    if not isinstance(as_frame, bool | np.bool_):
        raise param_error("as_frame", "make_leads", "a bool", as_frame)

    # The order of the draws below fixes the data for a seed: append new draws at the end.
    rng = np.random.default_rng(seed)
    company_size = np.maximum(1, np.rint(rng.lognormal(np.log(50.0), 1.3, n))).astype(np.int64)
    industry = rng.choice(np.array(LEADS_INDUSTRIES, dtype=object), size=n, p=_INDUSTRY_PROBS)
    lead_source = rng.choice(np.array(LEADS_SOURCES, dtype=object), size=n, p=_SOURCE_PROBS)
    pages_viewed = rng.poisson(np.where(lead_source == "web", 5.0, 3.0)).astype(np.int64)
    emails_opened = rng.binomial(8, 0.35, n).astype(np.int64)
    # ``geometric`` counts trials up to the first success (>= 1); minus 1 gives days >= 0.
    days_since_last_contact = (rng.geometric(1.0 / 15.0, n) - 1).astype(np.int64)
    demo_p = _sigmoid(-2.0 + 0.25 * pages_viewed.astype(np.float64))
    demo_booked = (rng.random(n) < demo_p).astype(np.int64)
    budget_known = (rng.random(n) < 0.35).astype(np.int64)
    noise = rng.standard_normal(n)

    X = pd.DataFrame(
        {
            "company_size": company_size,
            "industry": pd.Series(industry, dtype=_string_dtype()),
            "lead_source": pd.Series(lead_source, dtype=_string_dtype()),
            "pages_viewed": pages_viewed,
            "emails_opened": emails_opened,
            "days_since_last_contact": days_since_last_contact,
            "demo_booked": demo_booked,
            "budget_known": budget_known,
            "noise": noise,
        }
    )
    p = _sigmoid(_logit(X))
    y = pd.Series((rng.random(n) < p).astype(np.int64), name="converted")
    if as_frame:
        return X, y
    X_array: npt.NDArray[np.object_] = X.to_numpy(dtype=object)
    y_array = np.asarray(y, dtype=np.int64)
    return X_array, y_array


def _string_dtype() -> Any:
    # The dtype pandas itself infers for strings: ``str`` in pandas 3, ``object`` in 2.x,
    # so these columns look like those of ``load_bank_marketing`` (read by ``read_csv``).
    return pd.Series(["a"]).dtype
