"""Cold start: what ``import explainscore`` and the CLI import, and where numba caches kernels.

Each check runs in a fresh interpreter (a subprocess): what this test process has imported
already says nothing about a cold one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import explainscore
from explainscore import _numba_cache

SRC = Path(explainscore.__file__).resolve().parent.parent
HEAVY = {
    "sklearn",
    "shap",
    "numba",
    "xgboost",
    "lightgbm",
    "pyspark",
    "fastapi",
    "matplotlib",
    "pandas",
}
#: Also kept out of ``import explainscore`` and the CLI's --version / --help.
ALSO_LIGHT = {"numpy", "scipy", "pydantic", "skops"}

_LOADED = (
    "import sys, json; "
    "print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({names}))))"
)


def _run(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    full = {**os.environ, **(env or {})}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _loaded_after(statement: str, env: dict[str, str] | None = None) -> list[str]:
    names = sorted(HEAVY | ALSO_LIGHT)
    stdout = _run(f"{statement}\n" + _LOADED.format(names=names), env)
    loaded: list[str] = json.loads(stdout.strip().splitlines()[-1])
    return loaded


def test_import_explainscore_imports_nothing_heavy() -> None:
    # The brief's own check: none of these is needed before the first call. Every public
    # name is resolved on first use (explainscore.__getattr__).
    code = (
        "import explainscore; import sys; print(sorted(m for m in sys.modules if "
        "m.split('.')[0] in {'sklearn','shap','numba','xgboost','lightgbm','pyspark',"
        "'fastapi','matplotlib','pandas'}))"
    )
    assert _run(code).strip().splitlines()[-1] == "[]"
    assert _loaded_after("import explainscore") == []


def test_subpackages_import_light() -> None:
    statement = "import explainscore.governance, explainscore.reasons, explainscore.datasets"
    assert _loaded_after(statement) == []


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_cli_version_and_help_import_nothing_heavy(flag: str) -> None:
    statement = (
        "import contextlib, io\n"
        "from explainscore.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main([{flag!r}])"
    )
    assert _loaded_after(statement) == []


def test_public_names_resolve_lazily_and_are_listed() -> None:
    assert set(explainscore.__all__) <= set(dir(explainscore))
    for name in explainscore.__all__:
        assert getattr(explainscore, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        explainscore.nope  # noqa: B018
    from explainscore import ExplainedModel
    from explainscore._model import ExplainedModel as Direct

    assert ExplainedModel is Direct


def test_a_tree_model_served_by_the_core_never_imports_shap() -> None:
    statement = (
        "import numpy as np\n"
        "from sklearn.ensemble import GradientBoostingClassifier\n"
        "from explainscore import ExplainedModel\n"
        "rng = np.random.default_rng(0); X = rng.normal(size=(200, 4)); y = X[:, 0] > 0\n"
        "em = ExplainedModel(GradientBoostingClassifier(n_estimators=5, max_depth=2))\n"
        "em.fit(X, y).explain(X[:20])\n"
        "assert em.method_ == 'tree', em.method_"
    )
    loaded = _loaded_after(statement)
    assert "numba" in loaded
    assert "shap" not in loaded


def test_a_linear_model_imports_neither_numba_nor_shap() -> None:
    statement = (
        "import numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from explainscore import ExplainedModel\n"
        "rng = np.random.default_rng(0); X = rng.normal(size=(200, 4)); y = X[:, 0] > 0\n"
        "ExplainedModel(LogisticRegression()).fit(X, y).explain(X[:20])"
    )
    loaded = _loaded_after(statement)
    assert "numba" not in loaded
    assert "shap" not in loaded


# --- where the kernels are cached -----------------------------------------------------------


def test_cache_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("EXPLAINSCORE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    _numba_cache.configure_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(Path("/xdg/explainscore/numba"))
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    _numba_cache.configure_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(Path("/home/someone/.cache/explainscore/numba"))
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("EXPLAINSCORE_CACHE_DIR", "/ours")
    _numba_cache.configure_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(Path("/ours/numba"))
    # The user's own NUMBA_CACHE_DIR is never replaced.
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/theirs")
    _numba_cache.configure_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == "/theirs"


def _read_only_package(tmp_path: Path) -> Path:
    """A copy of the package whose directories cannot take a ``__pycache__``.

    Tests may run as root, for whom file modes do not stop a write: a regular file named
    ``__pycache__`` does (numba then has no in-tree cache, as in a read-only site-packages).
    """
    site = tmp_path / "site"
    shutil.copytree(
        SRC / "explainscore", site / "explainscore", ignore=shutil.ignore_patterns("__pycache__")
    )
    for folder in [site / "explainscore", *(p for p in (site / "explainscore").rglob("*"))]:
        if folder.is_dir():
            (folder / "__pycache__").write_text("not a directory")
    for path in site.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    return site


#: Compiles one small kernel (the ensemble's prediction) through the public core.
_PREDICT = (
    "import warnings\n"
    "warnings.simplefilter('always')\n"
    "import numpy as np\n"
    "import explainscore\n"
    "from explainscore._warmup import _small_ensemble\n"
    "ens = _small_ensemble(np.random.default_rng(0), 4)\n"
    "out = ens.predict_raw(np.zeros((3, 4)))\n"
    "assert out.shape == (3, 1), out.shape\n"
    "print(explainscore.__file__)"
)


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.pop("EXPLAINSCORE_CACHE_DIR", None)
    env["PYTHONPATH"] = str(site)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


@pytest.mark.slow
def test_a_read_only_package_caches_kernels_in_the_user_cache(tmp_path: Path) -> None:
    site = _read_only_package(tmp_path)
    cache = tmp_path / "cache"
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PREDICT],
            capture_output=True,
            text=True,
            env=_env(site, EXPLAINSCORE_CACHE_DIR=str(cache)),
            timeout=600,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.strip().startswith(str(site))
        assert "cannot write" not in out.stderr
        index = list((cache / "numba").rglob("*.nbi"))
        assert any("predict_kernel" in p.name for p in index), index
    finally:
        for path in site.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.slow
def test_nothing_writable_still_explains_and_warns_once(tmp_path: Path) -> None:
    site = _read_only_package(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PREDICT],
            capture_output=True,
            text=True,
            # Neither explainscore's cache, nor the user's home can hold a directory.
            env=_env(
                site,
                EXPLAINSCORE_CACHE_DIR=str(blocker / "cache"),
                HOME=str(blocker / "home"),
                XDG_CACHE_HOME=str(blocker / "xdg"),
            ),
            timeout=600,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stderr.count("cannot write its compiled-kernel cache") == 1, out.stderr
    finally:
        for path in site.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_warmup_report_lines() -> None:
    from explainscore._warmup import WarmupReport

    report = WarmupReport(
        cache_dir=Path("/c/numba"),
        cache_enabled=True,
        seconds=1.25,
        imported=["pandas"],
        kernels={"predict.predict_kernel": 1, "decision.goes_left": 0},
        cache_hits=1,
        compiled=0,
    )
    text = "\n".join(report.lines())
    assert "1.2 s" in text or "1.3 s" in text
    assert "cache: /c/numba" in text
    assert "predict.predict_kernel: 1" in text
    assert "inlined into the kernels above: decision.goes_left" in text


def test_warmup_is_a_command() -> None:
    from explainscore.cli import _parser

    args = _parser().parse_args(["warmup"])
    assert args.func.__name__ == "_warmup"
