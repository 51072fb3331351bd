"""Every Python block of the README and the docs runs, and the docs site builds strictly.

A page's blocks run in order in one namespace, in a temporary directory, after the page's
hidden set-up (an HTML comment ``<!-- docs-setup ... -->``, visible in the page source), so a
snippet that uses a name defined earlier on the page works as a reader would run it. A block
right after ``<!-- docs-skip: why -->`` is not run; ``why`` is required, and the marker is
meant only for blocks that need a server, a Spark cluster or files outside the working
directory.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import yaml

import explainscore

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [
    p for p in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))] if "```python" in p.read_text()
]
BLOCK = re.compile(r"(<!-- docs-skip: (?P<why>[^>]*) -->\n)?```python\n(?P<code>.*?)```", re.S)
SETUP = re.compile(r"<!-- docs-setup\n(?P<code>.*?)-->", re.S)


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(text: str) -> list[tuple[int, str, str | None]]:
    return [
        (i, m.group("code"), m.group("why")) for i, m in enumerate(BLOCK.finditer(text), start=1)
    ]


@pytest.mark.parametrize("page", PAGES, ids=[_name(p) for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = page.read_text()
    name = _name(page)
    blocks = _blocks(text)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    try:
        for setup in SETUP.finditer(text):
            exec(compile(setup.group("code"), f"{name}:setup", "exec"), namespace)
        for number, code, why in blocks:
            if why is not None:
                assert why.strip(), f"{name}, Python block {number}: docs-skip needs a reason"
                continue
            try:
                exec(compile(code, f"{name}:block{number}", "exec"), namespace)
            except Exception as exc:  # re-raised with the page and block named
                raise AssertionError(f"{name}, Python block {number} failed: {exc!r}") from exc
    finally:
        plt.close("all")


def _nav_pages(entries: object) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in _nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in _nav_pages(value)]
    return []


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages


def test_api_reference_lists_every_public_name() -> None:
    reference = (DOCS / "reference" / "explainscore.md").read_text()
    missing = [name for name in explainscore.__all__ if f"`{name}`" not in reference]
    assert not missing, f"docs/reference/explainscore.md does not list {missing}"


def test_benchmark_page_includes_the_generated_results() -> None:
    # The page includes each results file from line 2 on, under its own heading: line 1 must
    # be the file's title (written by benchmarks/run.py), or the page would lose content.
    page = (DOCS / "benchmarks.md").read_text()
    for suite in ("tree", "kernel", "service"):
        path = f"benchmarks/results/{suite}.md"
        assert f'--8<-- "{path}:2:"' in page
        assert (ROOT / path).is_file(), f"{path} is missing: run `make bench`"
        assert (ROOT / path).read_text().startswith("# "), f"{path} does not start with a title"


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
