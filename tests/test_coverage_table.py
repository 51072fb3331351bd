"""docs/coverage.md's table is what the code does today (tests/coverage/).

Every case is fitted and explained; each outcome must be exact against its oracle,
approximate, or a typed refusal (never an untyped error, the "bug" message, or values that do
not match), and the page's generated table must equal a fresh run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .coverage.harness import describe_failures, generated, render, run_all

PAGE = Path(__file__).resolve().parent.parent / "docs" / "coverage.md"


@pytest.fixture
def _scratch_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Some libraries write training logs to the working directory.
    monkeypatch.chdir(tmp_path)


@pytest.mark.slow
@pytest.mark.usefixtures("_scratch_dir")
def test_coverage_table_is_true_and_current() -> None:
    results = run_all()
    failures = describe_failures(results)
    assert not failures, "cases that fail (bugs, not rows to delete):\n" + "\n".join(failures)
    fresh = render(results)
    page = PAGE.read_text() if PAGE.exists() else ""
    assert _stable(generated(page)) == _stable(fresh), (
        "docs/coverage.md is out of date with what the code does: run "
        "`python docs/_coverage.py --write` and review the diff"
    )


_FIGURE = re.compile(r"\d(?:\.\d+)?e[+-]\d+")


def _stable(blocks: dict[str, str]) -> dict[str, str]:
    """The page's blocks with the measured error figures of approximate rows masked: a sampled
    or fitted surrogate's error may round differently with another BLAS or library build,
    while the status, method and oracle of every row must match exactly."""
    return {
        name: "\n".join(
            _FIGURE.sub("<figure>", line) if "**approximate**" in line else line
            for line in text.splitlines()
        )
        for name, text in blocks.items()
    }
