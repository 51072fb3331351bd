"""The complete example of docs/spark.md runs as written on a local two-core session, and its
numbers are the driver's.

test_docs skips the block (it starts a Spark JVM); this test runs it in the Spark tests'
session, which the example's ``SparkSession.builder...getOrCreate()`` returns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "spark.md"
MARK = "# Example: explain a Spark DataFrame end to end."

pytestmark = pytest.mark.filterwarnings(
    # pyspark 4 warns about pandas 3 on every conversion (docs/spark.md, pandas versions).
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if b.startswith(MARK)]
    assert len(found) == 1, "docs/spark.md lost its complete example"
    return found[0]


def test_the_complete_example_runs_and_matches_the_driver(
    spark: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_spark_example"}
    try:
        exec(compile(_example(), "docs/spark.md:example", "exec"), namespace)
    finally:
        # The example sets a session option; the other Spark tests run with the default.
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    leads, scored, same, X_new = (namespace[k] for k in ("leads", "scored", "same", "X_new"))
    assert namespace["spark"] is spark  # getOrCreate returned the local[2] session
    assert leads.rdd.getNumPartitions() == 2 * spark.sparkContext.defaultParallelism == 4
    # Every lead came back once, explained, with the driver's numbers.
    assert len(scored) == len(X_new) == 3000
    assert scored.index.is_unique
    assert (scored["status"] == "ok").all()
    np.testing.assert_allclose(scored["score"], same.scores, rtol=0, atol=1e-12)
    contrib = scored[[f"contrib_{c}" for c in X_new.columns]].to_numpy()
    np.testing.assert_allclose(contrib, same.attributions, rtol=0, atol=1e-12)
    # Efficiency on the executors' output: base value + sum of contributions = output, to
    # the tolerance every batch is checked to (docs/explainers.md, "Exactness checks"):
    # 1e-5 x max(1, |output|) for XGBoost, whose own margin is summed in float32.
    total = scored["base_value"] + contrib.sum(axis=1)
    bound = 1e-5 * np.maximum(1.0, np.abs(scored["output"]))
    assert (np.abs(total - scored["output"]) <= bound).all()
    assert list(scored["reason"]) == [lead.reason for lead in same]
    printed = capsys.readouterr().out
    assert printed.startswith("3,000 leads, 4 partitions, largest score difference")
