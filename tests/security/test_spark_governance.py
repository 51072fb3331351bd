"""Governance on Spark: the kill switch, blocked or hidden id columns, hidden rejects.

Attacks that once worked: ``EXPLAINSCORE_KILL_SWITCH=1`` did not stop ``explain_dataframe``
for a model without its own ``KillSwitch``; ``id_columns=["age"]`` copied a blocked column into
the output; a rejected row named a hidden column in ``reject_column``.

Spark runs locally (the session fixture of ``tests/spark``, skipped without pyspark or Java);
the checks that need no Spark go through :func:`explainscore.spark.output_columns`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainscore import ExplainedModel, Policy
from explainscore.exceptions import MissingColumnError, PolicyViolationError, ScoringPausedError
from explainscore.spark import output_columns
from tests.spark.conftest import spark  # noqa: F401  (the session fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

HIDDEN = "a hidden column"
CYR_A = "\u0430"  # CYRILLIC SMALL LETTER A
LEAK = re.compile(r"visit|\bage\b|77\d\d\.125|42\d\d\.5", re.IGNORECASE)


def _data(n: int = 60) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(11)
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n).round(1),
            "tenure": rng.integers(0, 20, n).astype(float),
            "visits": 7700 + rng.integers(0, 99, n) + 0.125,
        }
    )
    y = (X["income"] - 50) / 10 + (X["visits"] - 7750) / 30 + rng.normal(size=n) > 0
    return X, y.astype(int).to_numpy()


@pytest.fixture(scope="module")
def governed() -> tuple[ExplainedModel, pd.DataFrame]:
    X, y = _data()
    policy = Policy(version="s1", blocked=("age",), hidden=("VISITS",))
    em = ExplainedModel(LogisticRegression(max_iter=500), policy=policy).fit(X, y)
    frame = X.assign(lead_id=np.arange(len(X)), age=4242.5 + np.arange(len(X)) % 3)
    return em, frame


def _to_spark(session: Any, frame: pd.DataFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return session.createDataFrame(frame).repartition(2)


def _collect(sdf: Any) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = pd.DataFrame([r.asDict() for r in sdf.collect()], columns=sdf.columns)
    return out.sort_values("lead_id").reset_index(drop=True)


@pytest.mark.parametrize("name", ["age", " age", "AGE", f"{CYR_A}ge", "visits", "Visits "])
def test_blocked_or_hidden_id_columns_are_refused_without_their_name(
    governed: tuple[ExplainedModel, pd.DataFrame], name: str
) -> None:
    em, _ = governed
    with pytest.raises(PolicyViolationError) as info:
        output_columns(em, id_columns=["lead_id", name])
    text = str(info.value)
    assert "id_columns" in text
    assert name.strip() not in text
    assert not LEAK.search(text)
    assert output_columns(em, id_columns=["lead_id"]).id_columns == ("lead_id",)


def test_kill_switch_env_and_file_pause_every_row(
    spark: Any,  # noqa: F811
    governed: tuple[ExplainedModel, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from explainscore.spark import explain_dataframe

    em, frame = governed
    sdf = _to_spark(spark, frame)
    monkeypatch.delenv("EXPLAINSCORE_KILL_SWITCH", raising=False)
    monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH_FILE", str(tmp_path / "STOP"))
    assert em.kill_switch is None
    for engage in ("env", "file"):
        if engage == "env":
            monkeypatch.setenv("EXPLAINSCORE_KILL_SWITCH", "1")
        else:
            monkeypatch.delenv("EXPLAINSCORE_KILL_SWITCH")
            (tmp_path / "STOP").write_bytes(b"true")  # any content: stopped
        out = _collect(explain_dataframe(sdf, em, id_columns=["lead_id"]))
        assert len(out) == len(frame)
        assert (out["status"] == "paused").all()
        assert out["score"].isna().all()
        assert out["output"].isna().all()
        assert out[[c for c in out.columns if c.startswith("contrib_")]].isna().all().all()
        assert out["reason_code_1"].isna().all()
        em.set_params(on_pause="raise")
        try:
            with pytest.raises(ScoringPausedError):
                explain_dataframe(sdf, em, id_columns=["lead_id"])
        finally:
            em.set_params(on_pause="status")
    (tmp_path / "STOP").unlink()
    out = _collect(explain_dataframe(sdf, em, id_columns=["lead_id"]))
    assert (out["status"] == "ok").all()


def test_rejects_and_errors_never_name_a_hidden_column(
    spark: Any,  # noqa: F811
    governed: tuple[ExplainedModel, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from explainscore.spark import explain_dataframe

    monkeypatch.delenv("EXPLAINSCORE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("EXPLAINSCORE_KILL_SWITCH_FILE", raising=False)
    em, frame = governed
    bad = frame.copy()
    bad.loc[[3, 7], "visits"] = np.inf
    out = _collect(explain_dataframe(_to_spark(spark, bad), em, id_columns=["lead_id"]))
    rejected = out[out["status"] == "rejected"]
    assert list(rejected["lead_id"]) == [3, 7]
    assert set(rejected["reject_column"]) == {HIDDEN}
    assert not [c for c in out.columns if LEAK.search(c)]
    assert not LEAK.search(out.drop(columns=["lead_id"]).to_csv())
    with pytest.raises(MissingColumnError) as info:
        explain_dataframe(_to_spark(spark, frame.drop(columns=["visits"])), em)
    assert info.value.columns == [HIDDEN]
    assert not LEAK.search(str(info.value))
