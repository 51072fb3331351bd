"""Shared fixtures: small real and synthetic lead data, and model factories."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainscore.datasets import load_bank_marketing, make_leads


@pytest.fixture(scope="session")
def leads() -> tuple[pd.DataFrame, pd.Series]:
    """1,500 synthetic leads with known effects (mixed numeric and text columns)."""
    return make_leads(1500, seed=7)


@pytest.fixture(scope="session")
def leads_numeric(leads: tuple[pd.DataFrame, pd.Series]) -> tuple[pd.DataFrame, pd.Series]:
    """The numeric columns of the synthetic leads (8 or fewer, for brute force)."""
    X, y = leads
    num = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    return X[num].astype(np.float64), y


@pytest.fixture(scope="session")
def bank() -> tuple[pd.DataFrame, pd.Series]:
    """A 4,000-row stratified sample of the bundled bank data."""
    X, y = load_bank_marketing()
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(X), size=4000, replace=False))
    return X.iloc[pick].reset_index(drop=True), y.iloc[pick].reset_index(drop=True)


@pytest.fixture
def signers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Keys of an owner (``ana``) and an approver (``ben``) in a keyring that
    ``EXPLAINSCORE_TRUSTED_KEYS`` names (tests/signing.py)."""
    from tests.signing import make_signers

    return make_signers(tmp_path_factory.mktemp("keys"), monkeypatch)
