"""A bundle's compiled form explains what the full model explains, without scikit-learn.

``explainscore explain`` runs :func:`explainscore.io.load_for_batch`, which opens
``compiled.npz`` when the bundle has one (issue 16: the CLI spent most of its time importing
scikit-learn and skops). These tests hold the compiled flow to the full model's records, field
by field and bit for bit, on the rows users send: known, unseen and missing categories,
missing numbers, bad cells, overrides, sign-off, input that is not a frame, a paused model.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import explainscore
from explainscore import ExplainedModel, ModelCard, sign_off
from explainscore._compiled import COMPILED_FILE, CompiledModel
from explainscore._demo import build_pipeline
from explainscore.datasets import load_bank_catalog
from explainscore.exceptions import InputError, NotSignedOffError, ScoringPausedError
from explainscore.io import load_for_batch

#: Fields that differ between two calls by design (the clock) or hold helpers, not results.
_NOT_RESULTS = {"explained_at", "composed", "reason_writer", "data"}


def assert_same(a: Any, b: Any) -> None:
    """Every result field of two ``Explanations`` equal, arrays bit for bit."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        if f.name in _NOT_RESULTS:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f.name)
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), f.name
        else:
            assert x == y, f.name
    pd.testing.assert_frame_equal(a.data, b.data)


@pytest.fixture(scope="module")
def bundle(bank: tuple[pd.DataFrame, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = bank
    X, y = X.iloc[:1500], y[:1500]
    em = ExplainedModel(
        build_pipeline(X, n_estimators=40), top_k=3, catalog=load_bank_catalog()
    ).fit(X, y)
    return explainscore.save(em, tmp_path_factory.mktemp("compiled") / "bank")


@pytest.fixture(scope="module")
def rows(bank: tuple[pd.DataFrame, Any]) -> pd.DataFrame:
    return bank[0].iloc[1500:1560].reset_index(drop=True)


def test_a_tree_pipeline_bundle_carries_a_compiled_form(bundle: Path) -> None:
    assert (bundle / COMPILED_FILE).is_file()
    compiled = load_for_batch(bundle)
    assert isinstance(compiled, CompiledModel)
    assert compiled.model_fingerprint_ == explainscore.load(bundle).model_fingerprint_


def test_compiled_records_equal_the_full_model_bit_for_bit(
    bundle: Path, rows: pd.DataFrame
) -> None:
    compiled = load_for_batch(bundle)
    assert_same(compiled.explain(rows), explainscore.load(bundle).explain(rows))
    assert compiled._full_model is None  # the full model was never needed


def test_an_unseen_category_stays_compiled_and_exact(bundle: Path, rows: pd.DataFrame) -> None:
    """One-hot with handle_unknown="ignore": an unseen text is a row of zeros in its block."""
    odd = rows.copy()
    odd.loc[[0, 3, 7], "job"] = "astronaut"
    odd.loc[5, "month"] = "smarch"
    compiled = load_for_batch(bundle)
    out = compiled.explain(odd)
    assert compiled._full_model is None
    assert_same(out, explainscore.load(bundle).explain(odd))


@pytest.mark.parametrize(
    ("column", "value"),
    [("job", None), ("job", np.nan), ("age", np.nan), ("balance", None)],
)
def test_a_missing_cell_gets_the_full_models_answer(
    bundle: Path, rows: pd.DataFrame, column: str, value: Any
) -> None:
    """A cell the tables do not cover goes to the full model: the same records or the same
    rejection as :func:`explainscore.load` gives, never a different number."""
    odd = rows.copy()
    if odd[column].dtype != object:
        odd[column] = odd[column].astype(float)
    odd.loc[[2, 4], column] = value
    full = explainscore.load(bundle)
    compiled = load_for_batch(bundle)
    assert_same(compiled.explain(odd, on_error="skip"), full.explain(odd, on_error="skip"))
    assert _outcome(compiled, odd) == _outcome(full, odd)


def _outcome(model: Any, rows: pd.DataFrame) -> tuple[str, str]:
    """What ``explain(rows)`` gives (scores, reasons) or raises (type, message): the full
    model's answer is the oracle for the compiled one."""
    try:
        out = model.explain(rows)
    except InputError as error:
        return type(error).__name__, str(error)
    return out.scores.tobytes().hex(), "|".join(out.reasons)


def test_bad_rows_are_reported_and_the_good_ones_explained(
    bundle: Path, rows: pd.DataFrame
) -> None:
    odd = rows.astype({"age": object})
    odd.loc[1, "age"] = "forty"
    odd.loc[6, "age"] = "1e400"
    compiled = load_for_batch(bundle)
    out = compiled.explain(odd, on_error="skip")
    assert [r.row for r in out.rejected] == [1, 6]
    assert len(out) == len(odd) - 2
    assert compiled._full_model is None
    assert_same(out, explainscore.load(bundle).explain(odd, on_error="skip"))
    kind, message = _outcome(compiled, odd)
    assert kind == "ColumnTypeError"
    assert (kind, message) == _outcome(explainscore.load(bundle), odd)


def test_runtime_overrides_keep_the_compiled_form(bundle: Path, rows: pd.DataFrame) -> None:
    catalog = {"age": {"display_name": "the lead's age"}, "balance": {"code": "BAL"}}
    compiled = load_for_batch(bundle, top_k=1, catalog=catalog)
    assert isinstance(compiled, CompiledModel)
    full = explainscore.load(bundle, top_k=1, catalog=catalog)
    assert_same(compiled.explain(rows), full.explain(rows))
    assert_same(compiled.explain(rows, top_k=5), full.explain(rows, top_k=5))


def test_other_overrides_load_the_full_model(bundle: Path) -> None:
    assert isinstance(load_for_batch(bundle, model_version="v9"), ExplainedModel)


def test_input_that_is_not_a_frame_goes_to_the_full_model(bundle: Path, rows: pd.DataFrame) -> None:
    compiled = load_for_batch(bundle)
    records = rows.iloc[:3].to_dict("records")
    assert_same(compiled.explain(records), explainscore.load(bundle).explain(records))
    assert compiled._full_model is not None


def test_the_fallback_uses_the_bytes_checked_at_open(
    bundle: Path, rows: pd.DataFrame, tmp_path: Path
) -> None:
    """A model file swapped after the bundle was opened is never read: the full model comes
    from the ``model.skops`` bytes whose digest was checked when ``load_for_batch`` ran."""
    import shutil

    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    compiled = load_for_batch(copy)
    (copy / "model.skops").write_bytes(b"swapped after the check")
    records = rows.iloc[:3].to_dict("records")
    assert_same(compiled.explain(records), explainscore.load(bundle).explain(records))


def test_a_signed_bundle_is_compiled_and_signed_off(
    bundle: Path, rows: pd.DataFrame, signers: Any, tmp_path: Path
) -> None:
    import shutil

    signed = Path(shutil.copytree(bundle, tmp_path / "signed"))
    with pytest.raises(NotSignedOffError):
        load_for_batch(signed, require_sign_off=True)
    card = ModelCard.for_model(
        explainscore.load(signed), name="bank", owner_key=signers.ana, intended_use="ranking"
    )
    sign_off(card, key=signers.ben).save(signed / "card.json")
    compiled = load_for_batch(signed, require_sign_off=True)
    assert isinstance(compiled, CompiledModel)
    assert compiled.signed_off_ is True
    out = compiled.explain(rows)
    assert out.signed_off is True
    assert_same(out, explainscore.load(signed, require_sign_off=True).explain(rows))
    # An override that changes what the model says voids the card, as ``load`` does.
    with pytest.raises(NotSignedOffError, match="voids its sign-off"):
        load_for_batch(signed, require_sign_off=True, catalog={})
    assert load_for_batch(signed, catalog={}).signed_off_ is False


def test_the_kill_switch_pauses_the_compiled_form(
    bundle: Path, rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = load_for_batch(bundle)
    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", "1")
    paused = compiled.explain(rows)
    assert paused.status == "paused"
    assert_same(paused, explainscore.load(bundle).explain(rows))
    with pytest.raises(ScoringPausedError) as compiled_error:
        load_for_batch(bundle, on_pause="raise").explain(rows)
    with pytest.raises(ScoringPausedError) as full_error:
        explainscore.load(bundle, on_pause="raise").explain(rows)
    assert str(compiled_error.value) == str(full_error.value)


@pytest.mark.parametrize(
    "estimator",
    [
        lambda: __import__("xgboost").XGBRegressor(n_estimators=15, max_depth=4),
        lambda: __import__("lightgbm").LGBMClassifier(n_estimators=15, verbose=-1),
        lambda: __import__("lightgbm").LGBMRegressor(n_estimators=15, verbose=-1),
    ],
    ids=["xgboost-regressor", "lightgbm-classifier", "lightgbm-regressor"],
)
def test_other_boosters_compile_bit_for_bit(
    estimator: Any, bank: tuple[pd.DataFrame, Any], tmp_path: Path
) -> None:
    X, y = bank
    num = X.select_dtypes("number").astype(float)
    em = ExplainedModel(estimator()).fit(num.iloc[:800], y[:800])
    saved = explainscore.save(em, tmp_path / "b")
    compiled = load_for_batch(saved)
    assert isinstance(compiled, CompiledModel)
    rows = num.iloc[800:900].copy()
    rows.iloc[::7, 1] = np.nan  # a missing number: the trees' own default direction
    assert_same(compiled.explain(rows), explainscore.load(saved).explain(rows))
    assert compiled._full_model is None


def test_the_command_line_stops_a_paused_compiled_bundle(
    bundle: Path, rows: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from explainscore.cli import main

    rows.to_csv(tmp_path / "leads.csv", index=False)
    out = tmp_path / "out.csv"
    argv = ["explain", str(bundle), "--input", str(tmp_path / "leads.csv"), "--output", str(out)]
    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", "1")
    assert main([*argv, "--allow-unsigned"]) != 0
    assert "paused" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", "0")
    assert main([*argv, "--allow-unsigned"]) == 0
    assert out.exists()


def test_a_model_the_tables_cannot_reproduce_has_no_compiled_form(
    bank: tuple[pd.DataFrame, Any], tmp_path: Path
) -> None:
    """A linear model, and a scaler (its arithmetic is not the tables' to the last bit),
    keep the full model: no compiled file, and ``load_for_batch`` is ``load``."""
    X, y = bank
    X, y = X.iloc[:800], y[:800]
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    text = [c for c in X.columns if c not in numeric]
    prep = ColumnTransformer(
        [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), text)]
    )
    em = ExplainedModel(Pipeline([("prep", prep), ("m", LogisticRegression(max_iter=500))]))
    saved = explainscore.save(em.fit(X, y), tmp_path / "linear")
    assert not (saved / COMPILED_FILE).exists()
    assert isinstance(load_for_batch(saved), ExplainedModel)


def test_the_command_line_explains_a_compiled_bundle_without_scikit_learn(
    bundle: Path, rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows.to_csv(tmp_path / "leads.csv", index=False)
    out = tmp_path / "out.csv"
    script = textwrap.dedent(
        f"""
        import sys
        from explainscore.cli import main
        code = main(["explain", {str(bundle)!r}, "--input", {str(tmp_path / "leads.csv")!r},
                     "--output", {str(out)!r}, "--allow-unsigned"])
        loaded = sorted(m for m in sys.modules if m == "sklearn" or m.startswith("sklearn."))
        print(code, len(loaded), "shap" in sys.modules, "skops" in sys.modules)
        """
    )
    env = {**os.environ, "EXPLAINSCORE_KILL_SWITCH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["0", "0", "False", "False"]
    written = pd.read_csv(out, float_precision="round_trip")
    full = explainscore.load(bundle).explain(rows)
    np.testing.assert_array_equal(written["score"].to_numpy(), full.scores)
    assert written["reason"].tolist() == full.reasons
