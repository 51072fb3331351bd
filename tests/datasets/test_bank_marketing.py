"""Tests of load_bank_marketing and the bundled UCI Bank Marketing file."""

from __future__ import annotations

import gzip
import hashlib
import time
from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd
import pytest

from explainscore.datasets import load_bank_marketing
from explainscore.datasets._bank import BANK_COLUMNS
from explainscore.exceptions import ParameterError

N_ROWS = 45_211
N_POSITIVE = 5_289
CSV_SHA256 = "d1513ec63b385506f7cfce9f2c5caa9fe99e7ba4e8c3fa264b3aaf0f849ed32d"
NUMERIC = ["age", "balance", "day", "duration", "campaign", "pdays", "previous"]
CATEGORICAL = [
    "job",
    "marital",
    "education",
    "default",
    "housing",
    "loan",
    "contact",
    "month",
    "poutcome",
]


@pytest.fixture(scope="module")
def bank() -> tuple[pd.DataFrame, pd.Series]:
    return load_bank_marketing()


@pytest.fixture(scope="module")
def bank_with_duration() -> tuple[pd.DataFrame, pd.Series]:
    return load_bank_marketing(include_duration=True)


def _data_file() -> Traversable:
    return resources.files("explainscore.datasets").joinpath("data", "bank-full.csv.gz")


def test_bundled_csv_checksum() -> None:
    # Checked here rather than on every load: hashing 4.6 MB would double the load time.
    with _data_file().open("rb") as handle:
        digest = hashlib.sha256(gzip.decompress(handle.read())).hexdigest()
    assert digest == CSV_SHA256


def test_attribution_file_travels_with_the_data() -> None:
    readme = resources.files("explainscore.datasets").joinpath("data", "README.md")
    text = readme.read_text(encoding="utf-8")
    assert "CC BY 4.0" in text
    assert "10.24432/C5K306" in text
    assert "Moro" in text
    assert CSV_SHA256 in text


def test_shape_and_columns_without_duration(bank: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = bank
    assert X.shape == (N_ROWS, 15)
    assert "duration" not in X.columns
    assert list(X.columns) == [c for c in BANK_COLUMNS if c != "duration"]
    assert len(y) == N_ROWS
    assert X.index.equals(y.index)


def test_shape_and_columns_with_duration(
    bank: tuple[pd.DataFrame, pd.Series], bank_with_duration: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = bank_with_duration
    assert X.shape == (N_ROWS, 16)
    assert list(X.columns) == list(BANK_COLUMNS)
    pd.testing.assert_frame_equal(X.drop(columns="duration"), bank[0])
    pd.testing.assert_series_equal(y, bank[1])


def test_dtypes(bank_with_duration: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = bank_with_duration
    for column in NUMERIC:
        assert X[column].dtype == np.dtype("int64"), column
    for column in CATEGORICAL:
        dtype = X[column].dtype
        assert not isinstance(dtype, pd.CategoricalDtype), column
        assert pd.api.types.is_string_dtype(dtype), column
        assert all(isinstance(v, str) for v in X[column].unique()), column
    assert y.dtype == np.dtype("int64")
    assert y.name == "y"


def test_target_positive_rate(bank: tuple[pd.DataFrame, pd.Series]) -> None:
    _, y = bank
    assert set(y.unique()) == {0, 1}
    assert int(y.sum()) == N_POSITIVE
    assert round(100 * float(y.mean()), 2) == 11.70


def test_target_is_yes_in_the_file(bank: tuple[pd.DataFrame, pd.Series]) -> None:
    # Read the file independently of the loader, so that a flipped target would show.
    with _data_file().open("rb") as handle:
        raw = pd.read_csv(handle, sep=";", compression="gzip", usecols=["y"])
    np.testing.assert_array_equal(bank[1].to_numpy(), (raw["y"] == "yes").to_numpy())


def test_no_missing_values(bank_with_duration: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = bank_with_duration
    assert not X.isna().any().any()
    assert not y.isna().any()


def test_documented_conventions(bank_with_duration: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = bank_with_duration
    # pdays = -1 is the "not previously contacted" code; real values are positive days.
    assert (X["pdays"] == -1).any()
    assert (X.loc[X["pdays"] != -1, "pdays"] > 0).all()
    assert (X.loc[X["pdays"] == -1, "previous"] == 0).all()
    for column in ["job", "education", "contact", "poutcome"]:
        assert (X[column] == "unknown").any(), column
    assert X["day"].between(1, 31).all()


def test_as_frame_false(bank: tuple[pd.DataFrame, pd.Series]) -> None:
    X_arr, y_arr = load_bank_marketing(as_frame=False)
    assert isinstance(X_arr, np.ndarray)
    assert X_arr.dtype == object
    assert X_arr.shape == (N_ROWS, 15)
    assert y_arr.dtype == np.int64
    np.testing.assert_array_equal(y_arr, bank[1].to_numpy())
    assert X_arr[0, 0] == bank[0].iloc[0, 0]


def test_returns_fresh_copies() -> None:
    X1, y1 = load_bank_marketing()
    X1.iloc[0, 0] = -999
    y1.iloc[0] = 7
    X2, y2 = load_bank_marketing()
    assert X2.iloc[0, 0] != -999
    assert y2.iloc[0] != 7


def test_loading_is_fast() -> None:
    load_bank_marketing()  # warm up imports and the file cache
    start = time.perf_counter()
    load_bank_marketing()
    assert time.perf_counter() - start < 1.0


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        load_bank_marketing(True)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("name", "value"),
    [("include_duration", "yes"), ("include_duration", 1), ("as_frame", None), ("as_frame", 0)],
)
def test_bad_parameters(name: str, value: object) -> None:
    with pytest.raises(ParameterError, match=f"'{name}' parameter of load_bank_marketing"):
        load_bank_marketing(**{name: value})  # type: ignore[call-overload]
