"""Every Python block of the README and the docs runs, and the docs site builds strictly.

A page's blocks run in order in one namespace, in a temporary directory, after the page's
hidden set-up (an HTML comment ``<!-- docs-setup ... -->``, visible in the page source), so a
snippet that uses a name defined earlier on the page works as a reader would run it. A block
right after ``<!-- docs-skip: why -->`` is not run (a server that blocks, a Spark cluster);
``why`` is required.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- docs-skip: (?P<why>[^>]+) -->\n)?```python\n(?P<code>.*?)```", re.S)
SETUP = re.compile(r"<!-- docs-setup\n(?P<code>.*?)-->", re.S)


def _blocks(page: Path) -> list[tuple[int, str, str | None]]:
    text = page.read_text()
    return [
        (i, m.group("code"), m.group("why")) for i, m in enumerate(BLOCK.finditer(text), start=1)
    ]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no Python blocks")
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for setup in SETUP.finditer(page.read_text()):
        exec(compile(setup.group("code"), f"{page.name}:setup", "exec"), namespace)
    for number, code, why in blocks:
        if why is not None:
            assert why.strip(), f"{page.name} block {number}: docs-skip needs a reason"
            continue
        try:
            exec(compile(code, f"{page.name}:block{number}", "exec"), namespace)
        except Exception as exc:  # re-raised with the page and block named
            raise AssertionError(f"{page.name}, Python block {number} failed: {exc!r}") from exc


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
