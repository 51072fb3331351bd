"""Tests of BANK_FEATURE_INFO, the display catalog of the bundled bank data."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pytest

from explainscore.datasets import BANK_FEATURE_INFO, load_bank_marketing
from explainscore.datasets._bank import BANK_COLUMNS

KEYS = {"display_name", "description", "kind", "unit", "value_labels", "special_values"}


@pytest.fixture(scope="module")
def bank_inputs() -> pd.DataFrame:
    return load_bank_marketing(include_duration=True)[0]


def test_covers_every_column_and_nothing_else(bank_inputs: pd.DataFrame) -> None:
    assert list(BANK_FEATURE_INFO) == list(BANK_COLUMNS)
    assert set(BANK_FEATURE_INFO) == set(bank_inputs.columns)
    assert len(BANK_FEATURE_INFO) == 16


@pytest.mark.parametrize("column", BANK_COLUMNS)
def test_entry_shape(column: str, bank_inputs: pd.DataFrame) -> None:
    info = BANK_FEATURE_INFO[column]
    assert set(info) == KEYS
    assert isinstance(info["display_name"], str)
    assert info["display_name"]
    assert isinstance(info["description"], str)
    assert info["unit"] is None or isinstance(info["unit"], str)
    assert isinstance(info["value_labels"], Mapping)
    assert isinstance(info["special_values"], Mapping)
    numeric = pd.api.types.is_integer_dtype(bank_inputs[column].dtype)
    assert info["kind"] == ("numeric" if numeric else "categorical")


@pytest.mark.parametrize("column", BANK_COLUMNS)
def test_value_labels_cover_every_code(column: str, bank_inputs: pd.DataFrame) -> None:
    info = BANK_FEATURE_INFO[column]
    labels = info["value_labels"]
    assert isinstance(labels, Mapping)
    if info["kind"] == "categorical":
        # Every code in the data has a label, and every label is for a code in the data.
        assert set(labels) == set(bank_inputs[column].unique())
        assert all(isinstance(v, str) and v for v in labels.values())
        assert info["special_values"] == {}
    else:
        assert labels == {}


def test_special_values_are_real_sentinels(bank_inputs: pd.DataFrame) -> None:
    specials = BANK_FEATURE_INFO["pdays"]["special_values"]
    assert specials == {-1: "not previously contacted"}
    for column in BANK_COLUMNS:
        values = BANK_FEATURE_INFO[column]["special_values"]
        assert isinstance(values, Mapping)
        for code in values:
            assert (bank_inputs[column] == code).any(), (column, code)


@pytest.mark.parametrize(
    ("column", "display_name"),
    [
        ("pdays", "Days since previous contact"),
        ("poutcome", "Previous campaign outcome"),
        ("campaign", "Contacts this campaign"),
        ("balance", "Average yearly balance (EUR)"),
        ("housing", "Housing loan"),
        ("loan", "Personal loan"),
        ("default", "Credit in default"),
        ("contact", "Contact channel"),
        ("day", "Day of month of last contact"),
        ("month", "Month of last contact"),
        ("previous", "Contacts before this campaign"),
    ],
)
def test_display_names(column: str, display_name: str) -> None:
    assert BANK_FEATURE_INFO[column]["display_name"] == display_name


def test_selected_labels_and_units() -> None:
    job = BANK_FEATURE_INFO["job"]["value_labels"]
    month = BANK_FEATURE_INFO["month"]["value_labels"]
    assert isinstance(job, Mapping)
    assert isinstance(month, Mapping)
    assert job["admin."] == "admin"
    assert job["blue-collar"] == "blue-collar worker"
    assert job["unknown"] == "unknown"
    assert month["may"] == "May"
    assert BANK_FEATURE_INFO["balance"]["unit"] == "EUR"
    assert BANK_FEATURE_INFO["pdays"]["unit"] == "days"
    assert BANK_FEATURE_INFO["job"]["unit"] is None


def test_read_only_at_every_level() -> None:
    with pytest.raises(TypeError):
        BANK_FEATURE_INFO["age"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        BANK_FEATURE_INFO["age"]["unit"] = "months"  # type: ignore[index]
    labels = BANK_FEATURE_INFO["job"]["value_labels"]
    assert isinstance(labels, Mapping)
    with pytest.raises(TypeError):
        labels["admin."] = "x"  # type: ignore[index]
