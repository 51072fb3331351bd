"""explain_dataframe on Spark local mode equals em.explain in process, row for row."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainscore import CrmFields, ExplainedModel
from explainscore._demo import build_pipeline
from explainscore.datasets import load_bank_marketing, make_leads
from explainscore.exceptions import MissingColumnError, ParameterError
from explainscore.spark import explain_dataframe, output_columns

pytestmark = pytest.mark.filterwarnings(
    # pyspark 4 warns about pandas 3 on every conversion; it is not what these tests check.
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


@pytest.fixture(scope="module")
def bank_em() -> tuple[ExplainedModel, pd.DataFrame]:
    X, y = load_bank_marketing()
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(X), size=2000, replace=False))
    X, y = X.iloc[pick].reset_index(drop=True), y.iloc[pick].reset_index(drop=True)
    em = ExplainedModel(build_pipeline(X, n_estimators=50), top_k=3).fit(X, y)
    return em, X


@pytest.fixture(scope="module")
def leads_em() -> tuple[ExplainedModel, pd.DataFrame]:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = make_leads(600, seed=3)
    cat = ["industry", "lead_source"]
    num = [c for c in X.columns if c not in cat]
    pre = ColumnTransformer(
        [("num", StandardScaler(), num), ("cat", OneHotEncoder(handle_unknown="ignore"), cat)]
    )
    em = ExplainedModel(Pipeline([("prep", pre), ("clf", LogisticRegression(max_iter=500))]))
    return em.fit(X, y), X


def _to_spark(spark: Any, frame: pd.DataFrame, partitions: int = 2) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(frame).repartition(partitions)


def _collect(sdf: Any, key: str = "lead_id") -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        rows = [r.asDict() for r in sdf.collect()]
    out = pd.DataFrame(rows, columns=sdf.columns)
    return out.sort_values(key).reset_index(drop=True) if len(out) else out


def _plain(column: pd.Series) -> list[Any]:
    """Values as Python objects, nulls as None (pandas may hold a null string as NaN)."""
    return [None if pd.isna(v) else v for v in column]


def _check_same(em: ExplainedModel, X: pd.DataFrame, out: pd.DataFrame, k: int) -> None:
    """Every explained row of ``out`` equals em.explain(X, on_error='skip') in process."""
    ref = em.explain(X, top_k=k, on_error="skip")
    ok = out[out["status"] == "ok"].set_index("lead_id")
    assert sorted(ok.index) == list(ref.data.index)
    ok = ok.loc[ref.data.index]
    np.testing.assert_allclose(ok["score"], ref.scores, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ok["output"], ref.outputs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ok["base_value"], ref.base_values, rtol=0, atol=1e-9)
    contrib = ok[[f"contrib_{c}" for c in ref.feature_names]].to_numpy(dtype=float)
    np.testing.assert_allclose(contrib, ref.attributions, rtol=0, atol=1e-9)
    assert list(ok["reason"]) == ref.reasons
    assert list(ok["band"]) == ref.bands
    for j in range(k):
        want = [c[j].code if j < len(c) else None for c in ref.reason_codes]
        text = [c[j].text if j < len(c) else None for c in ref.reason_codes]
        assert _plain(ok[f"reason_code_{j + 1}"]) == want
        assert _plain(ok[f"reason_text_{j + 1}"]) == text
    assert set(ok["model_version"]) == {ref.model_version}
    rejected = out[out["status"] == "rejected"].set_index("lead_id")
    want_rej = {r.row: (r.column, r.problem) for r in ref.rejected}
    got_rej = {
        int(i): (row["reject_column"], row["reject_problem"]) for i, row in rejected.iterrows()
    }
    assert got_rej == want_rej
    assert rejected["score"].isna().all()


def test_bank_matches_in_process(spark: Any, bank_em: tuple[ExplainedModel, pd.DataFrame]) -> None:
    em, X = bank_em
    frame = X.copy()
    frame.insert(0, "lead_id", np.arange(len(X)))
    out = _collect(explain_dataframe(_to_spark(spark, frame, 3), em, id_columns=["lead_id"]))
    assert len(out) == len(X)
    assert (out["status"] == "ok").all()
    assert out["reject_column"].isna().all()
    _check_same(em, X, out, em.top_k)


def test_leads_bad_rows_reported_per_row(
    spark: Any, leads_em: tuple[ExplainedModel, pd.DataFrame]
) -> None:
    em, X = leads_em
    # A numeric column read as text (as from a CSV without a schema), with one word in it, and
    # a NaN where a logistic regression cannot take one.
    frame = X.copy()
    frame["pages_viewed"] = frame["pages_viewed"].astype(str).astype(object)
    frame.loc[5, "pages_viewed"] = "many"
    frame["emails_opened"] = frame["emails_opened"].astype(float)
    frame.loc[[7, 100], "emails_opened"] = np.nan
    frame.insert(0, "lead_id", np.arange(len(X)))
    sdf = _to_spark(spark, frame, 4)
    out = _collect(explain_dataframe(sdf, em, id_columns=["lead_id"], top_k=2))
    assert len(out) == len(X)
    assert list(out["status"] == "rejected") == [i in (5, 7, 100) for i in range(len(X))]
    assert out.loc[5, "reject_column"] == "pages_viewed"
    assert out.loc[7, "reject_column"] == "emails_opened"
    assert "missing" in out.loc[100, "reject_problem"]
    assert out.loc[[5, 7, 100], [c for c in out if c.startswith("contrib_")]].isna().all().all()
    _check_same(em, frame.drop(columns="lead_id"), out, 2)


def test_more_partitions_than_rows_and_bad_single_rows(
    spark: Any, leads_em: tuple[ExplainedModel, pd.DataFrame]
) -> None:
    # Each task sees one row: a one-row batch whose only cell is text or NaN would fail the
    # column-level checks; it must still come back as one rejected row.
    em, X = leads_em
    frame = X.head(5).copy()
    frame["pages_viewed"] = frame["pages_viewed"].astype(str).astype(object)
    frame.loc[1, "pages_viewed"] = "many"
    frame["emails_opened"] = frame["emails_opened"].astype(float)
    frame.loc[3, "emails_opened"] = np.nan
    frame.insert(0, "lead_id", np.arange(5))
    out = _collect(explain_dataframe(_to_spark(spark, frame, 12), em, id_columns=["lead_id"]))
    assert list(out["lead_id"]) == [0, 1, 2, 3, 4]
    assert list(out["status"]) == ["ok", "rejected", "ok", "rejected", "ok"]
    assert _plain(out["reject_column"]) == [None, "pages_viewed", None, "emails_opened", None]
    _check_same(em, frame.drop(columns="lead_id"), out, em.top_k)


def test_empty_dataframe(spark: Any, leads_em: tuple[ExplainedModel, pd.DataFrame]) -> None:
    em, X = leads_em
    frame = X.head(3).copy()
    frame.insert(0, "lead_id", np.arange(3))
    sdf = _to_spark(spark, frame).limit(0)
    result = explain_dataframe(sdf, em, id_columns=["lead_id"])
    assert result.count() == 0
    assert result.columns == output_columns(em, id_columns=["lead_id"]).names


def test_ids_carried_schema_crm_and_batching(
    spark: Any, leads_em: tuple[ExplainedModel, pd.DataFrame]
) -> None:
    em, X = leads_em
    frame = X.head(50).copy()
    frame.insert(0, "lead_id", [f"L-{i:03d}" for i in range(50)])
    frame.insert(1, "region", ["north", "south"] * 25)
    sdf = _to_spark(spark, frame)
    result = explain_dataframe(
        sdf,
        em,
        id_columns=["lead_id", "region"],
        crm_fields="salesforce",
        attributions=False,
        batch_size=7,
    )
    types = dict(result.dtypes)
    assert types["lead_id"] == "string"
    assert types["score"] == "double"
    assert "contrib_noise" not in types
    out = _collect(result)
    assert list(out["lead_id"]) == list(frame["lead_id"])
    assert list(out["region"]) == list(frame["region"])
    ref = em.explain(X.head(50)).to_crm("salesforce")
    for col in ref.columns:
        if col == "explained_at":
            continue
        if col == "score":
            np.testing.assert_allclose(out[col], ref[col], rtol=0, atol=1e-9)
        else:
            assert list(out[col]) == list(ref[col]), col


def test_errors_name_the_parameter(
    spark: Any, leads_em: tuple[ExplainedModel, pd.DataFrame]
) -> None:
    em, X = leads_em
    sdf = _to_spark(spark, X.head(5))
    with pytest.raises(MissingColumnError, match="'lead_id'"):
        explain_dataframe(sdf, em, id_columns=["lead_id"])
    with pytest.raises(MissingColumnError, match="'noise'"):
        explain_dataframe(sdf.drop("noise"), em)
    with pytest.raises(ParameterError, match="top_k"):
        explain_dataframe(sdf, em, top_k=0)  # a top_k above the columns is clipped
    with pytest.raises(ParameterError, match="batch_size"):
        explain_dataframe(sdf, em, batch_size=0)
    with pytest.raises(ParameterError, match="'score'"):
        explain_dataframe(
            sdf.withColumnRenamed("noise", "score"), em.set_params(), id_columns=["score"]
        )
    with pytest.raises(ParameterError, match="spark_df"):
        explain_dataframe(X, em)
    with pytest.raises(ParameterError, match="crm_fields"):
        explain_dataframe(sdf, em, crm_fields=CrmFields.preset("salesforce").fields)  # type: ignore[arg-type]


def test_kill_switch(spark: Any, leads_em: tuple[ExplainedModel, pd.DataFrame]) -> None:
    import pickle

    from explainscore import KillSwitch
    from explainscore.exceptions import ScoringPausedError

    em, X = leads_em
    paused = pickle.loads(pickle.dumps(em))
    switch = KillSwitch(env_var="EXPLAINSCORE_TEST_SPARK_SWITCH")
    switch.engage(actor="test", reason="drift")
    paused.set_params(kill_switch=switch)
    frame = X.head(6).copy()
    frame.insert(0, "lead_id", np.arange(6))
    sdf = _to_spark(spark, frame, 3)
    out = _collect(explain_dataframe(sdf, paused, id_columns=["lead_id"]))
    assert list(out["status"]) == ["paused"] * 6
    assert out["score"].isna().all()
    assert out["reason"].str.contains("drift").all()
    paused.set_params(on_pause="raise")
    with pytest.raises(ScoringPausedError):
        explain_dataframe(sdf, paused)


def test_hidden_columns_never_reach_the_output(spark: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    from explainscore import Policy
    from explainscore.spark import explain_dataframe

    X, y = make_leads(300, seed=5)
    num = X.select_dtypes("number")
    em = ExplainedModel(
        LogisticRegression(max_iter=500), policy=Policy(hidden=("company_size",))
    ).fit(num, y)
    frame = num.iloc[:20].assign(lead_id=[f"L{i}" for i in range(20)])
    out = _collect(explain_dataframe(_to_spark(spark, frame), em, id_columns=("lead_id",)))
    assert "contrib_company_size" not in out.columns
    assert "contrib_pages_viewed" in out.columns
    text = " ".join(out["reason"].astype(str))
    assert "company" not in text.lower()
