"""Crafted model files run nothing, at any door (issue 14).

Before: explainscore trusted skops type names by prefix (``"xgboost.sklearn."``), and a type
name is only text in the file, so a file could label a module node ``xgboost.sklearn``, walk
method nodes to ``builtins.eval`` and have a trusted transformer call it, or write a file
through ``numpy.savetxt``; a 2 MB zip bomb drove memory to 4.3 GB. Each file below (see
``crafted.py``) would create a canary file if its payload ran. It is planted in a bundle whose
manifest matches (the attacker controls the directory) and loaded through the Python API,
the CLI's ``explain`` and ``serve``, and the HTTP app factory: every door refuses it with a
typed error that does not echo the payload, and the canary directory stays empty.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

import explainscore
from explainscore import ExplainedModel
from explainscore._safe_skops import LIMITS, allowed_types, load_model_file
from explainscore.cli import main
from explainscore.exceptions import ExplainScoreError, NotSignedOffError
from explainscore.io import ModelFileError

from . import crafted

NAMES = sorted(crafted.payloads(Path("canary")))
#: Text of the payloads that must never appear in an error.
PAYLOAD_TEXT = ("pwned", "touch ", "open(", "to_csv")


@pytest.fixture(scope="module")
def template(leads: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = leads
    num = X.select_dtypes("number").astype(float)
    root = tmp_path_factory.mktemp("template")
    em = ExplainedModel(DecisionTreeClassifier(max_depth=3, random_state=0)).fit(num, y)
    explainscore.save(em, root / "bundle")
    num.iloc[:20].to_csv(root / "leads.csv", index=False)
    return {"bundle": root / "bundle", "input": root / "leads.csv"}


@pytest.fixture
def bundle(template: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(template["bundle"], tmp_path / "bundle"))


@pytest.fixture
def canaries(tmp_path: Path) -> Path:
    folder = tmp_path / "canaries"
    folder.mkdir()
    return folder


def _clean(message: str, canary: Path) -> None:
    assert str(canary) not in message
    assert canary.name not in message
    for text in PAYLOAD_TEXT:
        assert text not in message, text
    assert "Traceback" not in message


def _serve_must_not_run(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("serve was reached with a refused model")


@pytest.mark.parametrize("name", NAMES)
def test_crafted_file_is_refused_at_every_door(
    name: str,
    bundle: Path,
    canaries: Path,
    template: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    canary = canaries / "canary.txt"
    crafted.plant(bundle, crafted.payloads(canary)[name]())

    # The Python API.
    with pytest.raises(ModelFileError) as info:
        explainscore.load(bundle)
    _clean(str(info.value), canary)
    assert "model.skops" in str(info.value)

    # The CLI: explain and serve, with the sign-off check off so the model file is reached,
    # and with the default (sign-off required), which refuses before unpacking the model.
    output = tmp_path / "out.csv"
    argv = ["explain", str(bundle), "--input", str(template["input"]), "--output", str(output)]
    assert main([*argv, "--allow-unsigned"]) == 1
    err = capsys.readouterr().err
    assert "model.skops" in err
    _clean(err, canary)
    assert main(argv) == 1
    _clean(capsys.readouterr().err, canary)
    assert not output.exists()
    monkeypatch.setattr("explainscore.service.serve", _serve_must_not_run)
    assert main(["serve", str(bundle), "--allow-unsigned"]) == 1
    _clean(capsys.readouterr().err, canary)

    # The HTTP app, built from the path as `serve`'s workers and uvicorn --factory do.
    from explainscore.service import app_factory

    monkeypatch.delenv("EXPLAINSCORE_SERVICE_WORKER_SPEC", raising=False)
    monkeypatch.setenv("EXPLAINSCORE_SERVICE_MODEL_PATH", str(bundle))
    monkeypatch.setenv("EXPLAINSCORE_SERVICE_REQUIRE_SIGN_OFF", "0")
    with pytest.raises(ModelFileError) as served:
        app_factory()
    _clean(str(served.value), canary)
    monkeypatch.setenv("EXPLAINSCORE_SERVICE_REQUIRE_SIGN_OFF", "1")
    with pytest.raises(NotSignedOffError):
        app_factory()

    assert sorted(p.name for p in canaries.iterdir()) == []


@pytest.mark.parametrize("name", crafted.LIVE_AT_BUILD)
def test_payloads_are_live_when_trusted(name: str, canaries: Path) -> None:
    """The refusals above are real: the same bytes run their payload when skops is told to
    trust every type in them (what a prefix allow-list amounted to)."""
    canary = canaries / "canary.txt"
    data = crafted.payloads(canary)[name]()
    with pytest.raises(ModelFileError):
        load_model_file(data, name="model.skops", trust=False)
    assert list(canaries.iterdir()) == []
    # The payload runs while the object is built; what it returns does not matter.
    with contextlib.suppress(Exception):
        sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert list(canaries.iterdir()) != []


@pytest.mark.filterwarnings("ignore::explainscore.exceptions.FallbackWarning")
@pytest.mark.parametrize("payload", ["partial_exec", "methodcaller_to_csv"])
def test_a_skops_dumped_pipeline_payload_runs_only_with_trust(
    payload: str, leads: Any, template: dict[str, Path], bundle: Path, canaries: Path
) -> None:
    """A Pipeline dumped with skops itself, whose FunctionTransformer calls the payload on the
    rows it transforms: refused by default; ``trust=True`` (documented as running code) runs
    it when the model is prepared."""
    X, y = leads
    num = X.select_dtypes("number").astype(float)
    canary = canaries / "canary.txt"
    fn = crafted.live_pipeline_objects(canary)[payload]
    pipe = make_pipeline(FunctionTransformer(), DecisionTreeClassifier(max_depth=2))
    pipe.fit(num, y)
    pipe.steps[0][1].func = fn
    crafted.plant(bundle, sio.dumps(pipe))
    with pytest.raises(ModelFileError, match="never allows") as info:
        explainscore.load(bundle)
    _clean(str(info.value), canary)
    assert list(canaries.iterdir()) == []
    try:
        loaded = explainscore.load(bundle, trust=True, background=num.iloc[:20])
        loaded.explain(num.iloc[:2])
    except (ValueError, ExplainScoreError):
        pass  # the payload returned None to the Pipeline, after it ran (a typed ModelError)
    assert list(canaries.iterdir()) != []


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_two_megabyte_zip_bomb_is_refused_with_bounded_memory(bundle: Path) -> None:
    """A 2 MB deflate bomb (2 GiB of zeros) is refused from the zip directory; peak memory of
    the loading process stays under 500 MB (its VmHWM, measured in a fresh process)."""
    data = crafted.deflate_bomb(2 << 30)
    assert len(data) < 3 << 20
    crafted.plant(bundle, data)
    script = textwrap.dedent(
        f"""
        import sys
        import explainscore
        from explainscore.io import ModelFileError
        try:
            explainscore.load({str(bundle)!r})
        except ModelFileError as exc:
            print("refused:", exc)
        else:
            sys.exit("loaded")
        # VmHWM: this process's own peak resident memory (getrusage's ru_maxrss would
        # include the pytest process it was forked from, on Linux).
        with open("/proc/self/status") as fh:
            peak = [line.split()[1] for line in fh if line.startswith("VmHWM:")][0]
        print("maxrss_kb", peak)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert "refused:" in done.stdout
    assert "max_ratio" in done.stdout or "max_member_bytes" in done.stdout
    peak_kb = int(done.stdout.split("maxrss_kb")[1])
    assert peak_kb < 500 * 1024, peak_kb


def test_member_declaring_more_than_the_limit_is_refused_unread(bundle: Path) -> None:
    data = crafted.skops_file(crafted.schema(crafted.js(1)), {"0.npy": b"\0" * 64})
    crafted.plant(bundle, crafted.lying_size(data, "0.npy", 0xFFFFFFFF))
    with pytest.raises(ModelFileError, match="max_member_bytes"):
        explainscore.load(bundle)


def test_too_many_members_is_refused(bundle: Path) -> None:
    members = {"schema.json": b"{}", **{f"{i}.npy": b"" for i in range(LIMITS.max_members)}}
    crafted.plant(bundle, crafted.zip_bytes(members))
    with pytest.raises(ModelFileError, match="more than 100000 zip members"):
        explainscore.load(bundle)


def test_encrypted_member_is_refused(bundle: Path) -> None:
    data = bytearray(crafted.skops_file(crafted.schema(crafted.js(1))))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(signature)
        data[i + offset] |= 0x1
    crafted.plant(bundle, bytes(data))
    with pytest.raises(ModelFileError, match="encrypted"):
        explainscore.load(bundle)


def test_allow_list_is_exact_names_only() -> None:
    """No prefix, no wildcard, no module without a class: every entry is module.Class, and
    nothing that calls code by name (builtins eval/exec, os, subprocess, numpy I/O)."""
    listed = [name for names in allowed_types().values() for name in names]
    assert listed
    for name in listed:
        module, _, cls = name.rpartition(".")
        assert module
        assert cls
        assert not name.endswith(".")
        assert "*" not in name
    dangerous = {
        "builtins.eval", "builtins.exec", "builtins.open", "os.system", "numpy.savetxt",
        "numpy.save", "numpy.load", "functools.partial", "operator.methodcaller",
    }  # fmt: skip
    assert dangerous.isdisjoint(listed)
    for loader in ("MethodNode", "PartialNode", "OperatorFuncNode", "ConstructorFromReduceNode"):
        assert loader not in allowed_types()


def test_errors_are_typed_explainscore_errors() -> None:
    assert issubclass(ModelFileError, ExplainScoreError)
    assert issubclass(ModelFileError, ValueError)


def test_supported_models_written_by_save_still_load(leads: Any, tmp_path: Path) -> None:
    """The allow-list covers what explainscore.save writes for the models it supports."""
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
        TargetEncoder,
    )

    X, y = leads
    X, y = X.iloc[:400], y.iloc[:400]
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    nums = [c for c in X.columns if c not in cats]

    def pre(encoder: Any) -> Any:
        return make_column_transformer(
            (encoder, cats),
            (make_pipeline(SimpleImputer(), StandardScaler()), nums),
        )

    models = {
        "xgb": make_pipeline(pre(OneHotEncoder(handle_unknown="ignore")),
                             xgb.XGBClassifier(n_estimators=10, max_depth=3)),
        "lgbm": make_pipeline(pre(OrdinalEncoder()),
                              lgb.LGBMClassifier(n_estimators=10, verbose=-1)),
        "rf": make_pipeline(pre(OneHotEncoder(handle_unknown="ignore")),
                            RandomForestClassifier(n_estimators=5, max_depth=4)),
        "et": make_pipeline(pre(OrdinalEncoder()),
                            ExtraTreesClassifier(n_estimators=5, max_depth=4)),
        "gb": make_pipeline(pre(OrdinalEncoder()), GradientBoostingClassifier(n_estimators=5)),
        "hgb": make_pipeline(pre(OrdinalEncoder()), HistGradientBoostingClassifier(max_iter=5)),
        "logreg": make_pipeline(pre(OneHotEncoder(handle_unknown="ignore")),
                                LogisticRegression(max_iter=2000)),
        "target-enc": make_pipeline(pre(TargetEncoder()), LogisticRegression(max_iter=2000)),
        "log1p": make_pipeline(
            make_column_transformer((OneHotEncoder(handle_unknown="ignore"), cats),
                                    (FunctionTransformer(np.log1p), ["pages_viewed"]),
                                    remainder=MinMaxScaler()),
            LogisticRegression(max_iter=2000),
        ),
    }  # fmt: skip
    for name, model in models.items():
        kernel = name in ("target-enc", "log1p")  # not column-wise maps: the raw columns
        em = ExplainedModel(model, method="kernel" if kernel else "auto")
        em.fit(X, y)
        explainscore.save(em, tmp_path / name)
        loaded = explainscore.load(tmp_path / name)
        np.testing.assert_array_equal(
            loaded.predict_proba(X.iloc[:20]), em.predict_proba(X.iloc[:20]), err_msg=name
        )
    ridge = ExplainedModel(Ridge()).fit(X[nums], y.astype(float))
    explainscore.save(ridge, tmp_path / "ridge")
    assert explainscore.load(tmp_path / "ridge").background_storage_ == "summary"


def test_a_corrupt_zip_is_a_typed_error(bundle: Path) -> None:
    data = (bundle / "model.skops").read_bytes()
    crafted.plant(bundle, data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model\.skops"):
        explainscore.load(bundle)
    broken = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        last = zf.infolist()[-1]
    broken[last.header_offset + 30 + len(last.filename) + 8] ^= 0xFF  # inside its data
    crafted.plant(bundle, bytes(broken))
    with pytest.raises(ExplainScoreError):
        explainscore.load(bundle)
    with pytest.raises(NotSignedOffError):
        explainscore.load(bundle, require_sign_off=True, trusted_keys=None)


class _Canary:
    """Unpickling this creates the canary file (what a hostile pickle would do)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("suffix", [".pkl", ".joblib"])
def test_a_trusted_pickle_is_refused_by_production_doors_before_it_is_unpickled(
    tmp_path: Path, suffix: str
) -> None:
    import joblib

    canary = tmp_path / "canary"
    file = tmp_path / f"model{suffix}"
    joblib.dump(_Canary(canary), file)
    with pytest.raises(NotSignedOffError, match="cannot carry a sign-off"):
        explainscore.load(file, trust=True, require_sign_off=True)
    assert not canary.exists()
    # The same file with trust and no sign-off requirement does run: the payload is real.
    with contextlib.suppress(ModelFileError):
        explainscore.load(file, trust=True)
    assert canary.exists()
