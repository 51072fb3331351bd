"""Every Python block of the README and the docs runs, shows what it prints, and the docs
site builds strictly.

A page's blocks run in order in one namespace, in a temporary directory, after the page's
hidden set-up (an HTML comment ``<!-- docs-setup ... -->``, visible in the page source), so a
snippet that uses a name defined earlier on the page works as a reader would run it. A block
right after ``<!-- docs-skip: why -->`` is not run; ``why`` is required, and the marker is
meant only for blocks that need a server, a Spark cluster or files outside the working
directory.

**Shown output is checked.** A ```` ```python ```` block followed (blank lines aside) by a
```` ```text ```` block is run with its standard output captured, and the output must be the
text block's content exactly. The only normalisation: trailing spaces at the ends of lines
and blank lines at the start and end are ignored. Nothing is masked (no timings or paths are
printed by the checked blocks), so every score, band, reason and number a page shows is what
the code prints. A skipped block cannot have an output block.

A page that holds the names ``y`` and ``y_train`` (and ``y_test``) after its blocks ran must
have split them stratified: each part's conversion rate within 1 point of the whole data's.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import yaml

import explainscore

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [
    p for p in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))] if "```python" in p.read_text()
]
BLOCK = re.compile(
    r"(<!-- docs-skip: (?P<why>[^>]*) -->\n)?```python\n(?P<code>.*?)```"
    r"(?:\s*?\n```text\n(?P<shown>.*?)```)?",
    re.S,
)
SETUP = re.compile(r"<!-- docs-setup\n(?P<code>.*?)-->", re.S)


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(text: str) -> list[tuple[int, str, str | None, str | None]]:
    """``(number, code, why skipped, shown output)`` of each Python block, in page order."""
    return [
        (i, m.group("code"), m.group("why"), m.group("shown"))
        for i, m in enumerate(BLOCK.finditer(text), start=1)
    ]


def _normal(output: str) -> str:
    """The documented normalisation: trailing spaces and outer blank lines only."""
    return "\n".join(line.rstrip() for line in output.strip("\n").splitlines()).strip("\n")


def run_page(text: str, name: str) -> dict[str, Any]:
    """Run a page's set-up and blocks in one namespace (in the current directory); raise
    ``AssertionError`` naming the block when one fails or prints other than it shows."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict[str, Any] = {"__name__": f"docs_{Path(name).stem.replace('-', '_')}"}
    try:
        for setup in SETUP.finditer(text):
            exec(compile(setup.group("code"), f"{name}:setup", "exec"), namespace)
        for number, code, why, shown in _blocks(text):
            where = f"{name}, Python block {number}"
            if why is not None:
                assert why.strip(), f"{where}: docs-skip needs a reason"
                assert shown is None, f"{where}: a skipped block's output cannot be checked"
                continue
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed) if shown is not None else _nothing():
                    exec(compile(code, f"{name}:block{number}", "exec"), namespace)
            except Exception as exc:  # re-raised with the page and block named
                raise AssertionError(f"{where} failed: {exc!r}") from exc
            if shown is not None and _normal(printed.getvalue()) != _normal(shown):
                raise AssertionError(
                    f"{where} prints other than the page shows.\n--- shown\n{_normal(shown)}"
                    f"\n--- printed\n{_normal(printed.getvalue())}"
                )
    finally:
        plt.close("all")
    return namespace


@contextlib.contextmanager
def _nothing() -> Any:
    yield


def _check_split(namespace: dict[str, Any], name: str) -> None:
    """An example that trains on part of the bank data splits it stratified: the file is
    sorted by date, so a head slice is one season and channel with 3 % conversions."""
    if "y" not in namespace or "y_train" not in namespace:
        return
    overall = float(namespace["y"].mean())
    for part in ("y_train", "y_test"):
        if part in namespace:
            rate = float(namespace[part].mean())
            assert abs(rate - overall) < 0.01, (
                f"{name}: {part} converts at {rate:.1%} against {overall:.1%} overall; "
                "split with train_test_split(..., stratify=y)"
            )


@pytest.mark.parametrize("page", PAGES, ids=[_name(p) for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = run_page(page.read_text(), _name(page))
    _check_split(namespace, _name(page))


def test_output_blocks_are_compared_and_an_edited_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checker itself, on a real page: docs/index.md shows what its example prints.
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "index.md").read_text()
    shown = [s for _, _, _, s in _blocks(text) if s is not None]
    assert shown, "docs/index.md shows no output block"
    run_page(text, "docs/index.md")
    edited = text.replace(shown[0], shown[0].replace("(0.", "(1.", 1), 1)
    assert edited != text
    with pytest.raises(AssertionError, match="prints other than the page shows"):
        run_page(edited, "docs/index.md")
    # A trailing space is the one difference the checker ignores, by design.
    spaced = text.replace(shown[0], shown[0].replace("\n", "  \n", 1), 1)
    run_page(spaced, "docs/index.md")


def test_a_block_shown_without_printing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = "```python\nx = 2\n```\n\n```text\n2\n```\n"
    with pytest.raises(AssertionError, match="prints other than the page shows"):
        run_page(page, "page.md")
    assert run_page(page.replace("x = 2", "print(2)"), "page.md")["__name__"] == "docs_page"
    # Prose between the two blocks: the text block is an illustration, not checked output.
    assert _blocks("```python\nx = 2\n```\nSo:\n```text\n3\n```\n")[0][3] is None


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


def test_no_example_trains_on_a_head_slice_of_the_bank_data() -> None:
    # Labels are only sliced to train: y[:8000] of the date-sorted file is one season with
    # 3 % conversions (ROC AUC 0.53 on the rest). Split with train_test_split(stratify=y).
    head = re.compile(r"\by(?:_\w+)?(?:\.iloc)?\[:\s*\d+\s*\]")
    sources = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    sources += [ROOT / "notebooks" / "_build.py", ROOT / "src" / "explainscore" / "_demo.py"]
    offenders = [
        _name(path)
        for path in sources
        if "load_bank_marketing" in (text := path.read_text()) and head.search(text)
    ]
    assert not offenders, f"{offenders} train on the first rows of the bank data"
