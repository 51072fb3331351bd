"""Loader for the bundled UCI Bank Marketing data (``bank-full.csv``)."""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._params import param_error

__all__ = ["BANK_COLUMNS", "load_bank_marketing"]

_PACKAGE = "explainscore.datasets"
_DATA_FILE = "bank-full.csv.gz"

#: The 16 raw input columns, in file order.
BANK_COLUMNS: tuple[str, ...] = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
)

# Fixing the numeric dtypes means the result does not depend on the platform's default
# integer width; string columns are left to pandas (``str`` in pandas 3, ``object`` before).
_NUMERIC_DTYPES: dict[str, str] = dict.fromkeys(
    ("age", "balance", "day", "duration", "campaign", "pdays", "previous"), "int64"
)


def _read_raw() -> pd.DataFrame:
    # ``importlib.resources`` rather than a path next to ``__file__``, so that loading works
    # from a wheel, a zip import or any other loader that does not put files on disk.
    source = resources.files(_PACKAGE).joinpath("data", _DATA_FILE)
    with source.open("rb") as handle:
        frame: pd.DataFrame = pd.read_csv(
            handle,  # type: ignore[call-overload]  # a binary file object: read_csv takes it
            sep=";",
            compression="gzip",
            dtype=_NUMERIC_DTYPES,
        )
        return frame


@overload
def load_bank_marketing(
    *, include_duration: bool = ..., as_frame: Literal[True] = ...
) -> tuple[pd.DataFrame, pd.Series]: ...


@overload
def load_bank_marketing(
    *, include_duration: bool = ..., as_frame: Literal[False]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]: ...


def load_bank_marketing(
    *, include_duration: bool = False, as_frame: bool = True
) -> tuple[pd.DataFrame, pd.Series] | tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """Load the UCI Bank Marketing data bundled with explainscore.

    Real, public data for lead-conversion examples and tests: 45,211 clients of a
    Portuguese bank contacted by phone between May 2008 and November 2010, in date order,
    and whether each subscribed to a term deposit (11.70 %, 5,289 clients). There are no
    missing cells. The data is read from the package itself, with no download.

    Parameters
    ----------
    include_duration : bool, default=False
        Whether to keep the ``duration`` column. It is dropped by default: the length of
        the last call is known only after the call has ended, and it nearly determines the
        outcome, so a model that uses it scores a lead with information no one has when the
        score is needed. The UCI authors say to
        discard it for a realistic predictive model. Keep it only for benchmarking.
    as_frame : bool, default=True
        If True, return a DataFrame and a Series. If False, return NumPy arrays: ``X`` as a
        2-D object array (strings and ints, columns in the DataFrame's order) and ``y`` as a
        1-D int64 array.

    Returns
    -------
    X : DataFrame of shape (45211, 15), or (45211, 16) with ``duration``
        The input columns, in the order below. Categorical columns hold plain strings
        (``str`` dtype in pandas 3, ``object`` in pandas 2), not ``category``; numeric
        columns are int64. Plain-English names, units and value labels for every column are
        in :data:`~explainscore.datasets.BANK_FEATURE_INFO`.
    y : Series of shape (45211,)
        int64, named ``"y"``: 1 if the client subscribed to a term deposit (``"yes"`` in the
        file), 0 otherwise.

    Notes
    -----
    Columns (from the UCI description, ``bank-names.txt``):

    Client data

    - ``age`` : int, in years.
    - ``job`` : type of job: ``"admin."``, ``"blue-collar"``, ``"entrepreneur"``,
      ``"housemaid"``, ``"management"``, ``"retired"``, ``"self-employed"``,
      ``"services"``, ``"student"``, ``"technician"``, ``"unemployed"``, ``"unknown"``.
    - ``marital`` : ``"married"``, ``"single"``, ``"divorced"`` (divorced or widowed).
    - ``education`` : ``"primary"``, ``"secondary"``, ``"tertiary"``, ``"unknown"``.
    - ``default`` : has credit in default? ``"yes"`` / ``"no"``.
    - ``balance`` : int, average yearly balance in euros (can be negative).
    - ``housing`` : has a housing loan? ``"yes"`` / ``"no"``.
    - ``loan`` : has a personal loan? ``"yes"`` / ``"no"``.

    Last contact of the current campaign

    - ``contact`` : communication type: ``"cellular"``, ``"telephone"``, ``"unknown"``.
    - ``day`` : int, day of the month of the last contact (1-31).
    - ``month`` : month of the last contact: ``"jan"``, ``"feb"``, ..., ``"dec"``.
    - ``duration`` : int, duration of the last contact in seconds. Only with
      ``include_duration=True``; see above.

    Other attributes

    - ``campaign`` : int, number of contacts with this client during this campaign,
      including the last one.
    - ``pdays`` : int, days since the client was last contacted in a previous campaign.
      **-1 is a code, not a number of days**: it means the client was not previously
      contacted (about 82 % of rows). Treat it as such (for example with an indicator
      column) before using ``pdays`` as a quantity.
    - ``previous`` : int, number of contacts with this client before this campaign.
    - ``poutcome`` : outcome of the previous campaign: ``"failure"``, ``"other"``,
      ``"success"``, ``"unknown"``.

    Unknown values are not missing cells: they are coded as the string ``"unknown"`` in
    ``job``, ``education``, ``contact`` and ``poutcome`` (for ``poutcome`` mostly because
    there was no previous campaign). Keep ``"unknown"`` as a category of its own.

    ``day``, ``month``, ``contact`` and ``campaign`` describe the current campaign's calls;
    drop them too if the score must be made before the first call.

    Licence and citation: the data is licensed under Creative Commons Attribution 4.0
    International (CC BY 4.0) by its authors; attribution is required. Cite the data set
    as [1]_ and, as its authors request for this file, the paper [2]_. The attribution
    file ``explainscore/datasets/data/README.md`` travels with the data.

    References
    ----------
    .. [1] Moro, S., Rita, P., & Cortez, P. (2014). *Bank Marketing* [Dataset]. UCI Machine
       Learning Repository. https://doi.org/10.24432/C5K306
    .. [2] S. Moro, R. Laureano and P. Cortez. "Using Data Mining for Bank Direct Marketing:
       An Application of the CRISP-DM Methodology". In P. Novais et al. (Eds.), Proceedings
       of the European Simulation and Modelling Conference - ESM'2011, pp. 117-121,
       Guimarães, Portugal, October 2011. EUROSIS. http://hdl.handle.net/1822/14838

    Examples
    --------
    >>> from explainscore.datasets import load_bank_marketing
    >>> X, y = load_bank_marketing()
    >>> X.shape, int(y.sum())
    ((45211, 15), 5289)
    >>> "duration" in X.columns
    False
    """
    _check_bool(include_duration, "include_duration")
    _check_bool(as_frame, "as_frame")

    raw = _read_raw()
    columns = [c for c in BANK_COLUMNS if include_duration or c != "duration"]
    X = raw[columns]
    # The file's target is "yes"/"no"; scoring code wants the positive class as 1.
    y = (raw["y"] == "yes").astype("int64").rename("y")
    if as_frame:
        return X, y
    X_array: npt.NDArray[np.object_] = X.to_numpy(dtype=object)
    y_array = np.asarray(y, dtype=np.int64)
    return X_array, y_array


def _check_bool(value: Any, name: str) -> None:
    # ``bool(x)`` would silently accept "no" or 0.5; an option must be a real bool.
    if not isinstance(value, bool | np.bool_):
        raise param_error(name, "load_bank_marketing", "a bool", value)
