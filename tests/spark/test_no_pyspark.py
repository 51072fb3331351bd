"""Without pyspark, explainscore.spark imports and explain_dataframe names the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_import_without_pyspark_and_clear_error() -> None:
    # A fresh interpreter in which importing pyspark fails, whatever is installed.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pyspark"] = None
        sys.modules["pyspark.sql"] = None
        import explainscore.spark as s
        from explainscore.exceptions import MissingDependencyError
        try:
            s.explain_dataframe(object(), object())
        except MissingDependencyError as exc:
            assert 'pip install "explainscore[spark]"' in str(exc), str(exc)
            print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
