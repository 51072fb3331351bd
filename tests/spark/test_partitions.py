"""explain_dataframe spreads a one-partition input over the session's cores."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from explainscore import ExplainedModel
from explainscore.datasets import make_leads
from explainscore.exceptions import ExplainScoreWarning
from explainscore.spark import _check_worker_reuse, _spread, explain_dataframe

pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


def _one_partition(spark: Any, frame: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(frame).coalesce(1)


def test_a_one_partition_input_is_split_over_the_cores(spark: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = make_leads(120, seed=5)
    X = X.select_dtypes("number")
    em = ExplainedModel(LogisticRegression(max_iter=300), top_k=2).fit(X, y)
    sdf = _one_partition(spark, X.assign(lead_id=range(len(X))))
    assert sdf.rdd.getNumPartitions() == 1
    parallelism = spark.sparkContext.defaultParallelism
    assert parallelism == 2  # tests/spark/conftest.py: local[2]
    out = explain_dataframe(sdf, em, id_columns=["lead_id"])
    assert out.rdd.getNumPartitions() == parallelism
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        rows = out.select("lead_id", "status").collect()
    assert sorted(r.lead_id for r in rows) == list(range(len(X)))
    assert {r.status for r in rows} == {"ok"}


def test_enough_partitions_are_left_alone(spark: Any) -> None:
    X, _ = make_leads(40, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        sdf = spark.createDataFrame(X.select_dtypes("number")).repartition(3)
    assert _spread(sdf) is sdf


def test_worker_reuse_off_is_warned() -> None:
    # spark.python.worker.reuse is a static setting (a session cannot change it): a stand-in
    # session reports it off.
    class Conf:
        def get(self, key: str, default: str) -> str:
            return "false" if key == "spark.python.worker.reuse" else default

    class Session:
        conf = Conf()

    class Frame:
        sparkSession = Session()  # noqa: N815 - the pyspark attribute

    with pytest.warns(ExplainScoreWarning, match="worker.reuse"):
        _check_worker_reuse(Frame())
