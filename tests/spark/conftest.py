"""A local Spark session for the Spark tests, skipped cleanly without pyspark or Java."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    # Skipped here, not at import, so the tests that need no Spark still run without it.
    pytest.importorskip(
        "pyspark", reason="pyspark is not installed: pip install 'explainscore[spark]'"
    )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java: none on PATH and no JAVA_HOME")
    # The Python workers must run this interpreter (the venv with explainscore), not the
    # first python3 on PATH.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("explainscore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.executorEnv.NUMBA_NUM_THREADS", "1")
        # The daemon the docs recommend: workers forked with explainscore preloaded.
        .config("spark.python.daemon.module", "explainscore._spark_daemon")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
