"""A crafted ``compiled.npz`` is refused with a typed error before a kernel reads it.

The compiled form (``_compiled``) feeds tree arrays to compiled kernels that do not check
bounds, so every index is checked first. The attacker here controls the whole bundle
directory: each file is crafted and the manifest rewritten to match (``crafted.rehash``), so
the digest check passes and the file reaches the parser. A byte flip without the rehash is
refused by the digest, on the compiled door as on the others.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from xgboost import XGBClassifier

import explainscore
from explainscore import ExplainedModel
from explainscore.cli import main
from explainscore.io import ModelFileError, load_for_batch

from . import crafted

MARKER = "FILE-TEXT-MARKER-5be1"  # written into crafted files; never in an error
Arrays = dict[str, np.ndarray[Any, Any]]


@pytest.fixture(scope="module")
def pristine(leads: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = leads
    num = X.select_dtypes("number").astype(float)
    em = ExplainedModel(XGBClassifier(n_estimators=8, max_depth=3)).fit(num, y)
    bundle = explainscore.save(em, tmp_path_factory.mktemp("compiled") / "bundle")
    assert (bundle / "compiled.npz").is_file()
    num.iloc[:20].to_csv(bundle.parent / "leads.csv", index=False)
    return bundle


@pytest.fixture
def bundle(pristine: Path, tmp_path: Path) -> Path:
    import shutil

    target = Path(shutil.copytree(pristine, tmp_path / "bundle"))
    shutil.copy(pristine.parent / "leads.csv", tmp_path / "leads.csv")
    return target


def _arrays(bundle: Path) -> Arrays:
    with np.load(bundle / "compiled.npz", allow_pickle=False) as npz:
        return {name: npz[name].copy() for name in npz.files}


def _write(bundle: Path, data: bytes) -> None:
    (bundle / "compiled.npz").write_bytes(data)
    crafted.rehash(bundle, "compiled.npz")


def _savez(arrays: Arrays, *, compress: bool = False, pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    if pickle:  # np.savez refuses nothing: an object array is pickled into the member
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, value in arrays.items():
                member = io.BytesIO()
                np.save(member, value, allow_pickle=True)
                archive.writestr(f"{name}.npy", member.getvalue())
        return buffer.getvalue()
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def _meta(arrays: Arrays) -> dict[str, Any]:
    return json.loads(arrays["meta"].tobytes())


def _set_meta(arrays: Arrays, meta: dict[str, Any]) -> None:
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def _inner(arrays: Arrays) -> int:
    return int(np.flatnonzero(arrays["left"] != -1)[0])


def _leaf(arrays: Arrays) -> int:
    return int(np.flatnonzero(arrays["left"] == -1)[0])


def _edit(key: str, fn: Callable[[np.ndarray[Any, Any], Arrays], Any]) -> Callable[[Arrays], None]:
    def apply(arrays: Arrays) -> None:
        result = fn(arrays[key], arrays)
        if result is not None:
            arrays[key] = result

    return apply


def _meta_edit(**changes: Any) -> Callable[[Arrays], None]:
    def apply(arrays: Arrays) -> None:
        _set_meta(arrays, {**_meta(arrays), **changes})

    return apply


def _set(a: np.ndarray[Any, Any], i: int, v: Any) -> None:
    a[i] = v


#: name -> an edit of the arrays a save wrote; each must be refused.
ARRAY_ATTACKS: dict[str, Callable[[Arrays], None]] = {
    "child is its own parent (cycle)": _edit("left", lambda a, r: _set(a, _inner(r), _inner(r))),
    "child points back to the root": _edit("right", lambda a, r: _set(a, _inner(r) + 1, 0)),
    "child beyond the node arrays": _edit("left", lambda a, r: _set(a, _inner(r), 10**9)),
    "child in the next tree": _edit(
        "left", lambda a, r: _set(a, _inner(r), int(r["tree_start"][1]) + 1)
    ),
    "negative child": _edit("right", lambda a, r: _set(a, _inner(r), -7)),
    "one child": _edit("left", lambda a, r: _set(a, _inner(r), -1)),
    "two parents share a child": _edit(
        "right", lambda a, r: _set(a, _inner(r), r["left"][_inner(r)])
    ),
    "feature out of range": _edit("feature", lambda a, r: _set(a, _inner(r), 10**6)),
    "negative feature": _edit("feature", lambda a, r: _set(a, _inner(r), -2)),
    "leaf with a feature": _edit("feature", lambda a, r: _set(a, _leaf(r), 0)),
    "int64 children": _edit("left", lambda a, r: a.astype(np.int64)),
    "float features": _edit("feature", lambda a, r: a.astype(np.float64)),
    "2-D thresholds": _edit("threshold", lambda a, r: a.reshape(-1, 1)),
    "short cover": _edit("cover", lambda a, r: a[:-1].copy()),
    "NaN threshold": _edit("threshold", lambda a, r: _set(a, _inner(r), np.nan)),
    "infinite leaf value": _edit("value", lambda a, r: _set(a, _leaf(r), np.inf)),
    "negative cover": _edit("cover", lambda a, r: _set(a, 0, -1.0)),
    "categorical split flag": _edit("flags", lambda a, r: _set(a, _inner(r), 4)),
    "category list": _edit("cat_len", lambda a, r: _set(a, _inner(r), 3)),
    "tree offsets past the end": _edit("tree_start", lambda a, r: _set(a, -1, a[-1] + 5)),
    "tree offsets not rising": _edit("tree_start", lambda a, r: _set(a, 1, a[2])),
    "two outputs": _edit("value", lambda a, r: np.hstack([a, a])),
    "tree output 1": _edit("tree_output", lambda a, r: _set(a, 0, 1)),
    "column map out of range": _edit("groups", lambda a, r: _set(a, 0, 10**6)),
    "float column map": _edit("groups", lambda a, r: a.astype(np.float64)),
    "text meta": _edit("meta", lambda a, r: np.array([MARKER])),
    "meta not JSON": _edit("meta", lambda a, r: np.frombuffer(MARKER.encode(), np.uint8)),
    "meta not UTF-8": _edit("meta", lambda a, r: np.frombuffer(b"\xff\xfe" * 5, np.uint8)),
    "unknown meta key": lambda r: _set_meta(r, {**_meta(r), MARKER: 1}),
    "other format": _meta_edit(format=99),
    "unknown link": _meta_edit(link=MARKER),
    "unknown arithmetic": _meta_edit(library_dtype="object"),
    "unknown column kind": lambda r: _set_meta(
        r, {**_meta(r), "columns": [{**c, "kind": MARKER} for c in _meta(r)["columns"]]}
    ),
    "duplicate columns": lambda r: _set_meta(
        r, {**_meta(r), "columns": [_meta(r)["columns"][0]] * len(_meta(r)["columns"])}
    ),
    "absurd memory budget": _meta_edit(memory_budget=10**30),
    "zero columns": _meta_edit(n_features=0),
    "more columns than the trees": _meta_edit(n_features=10**5),
    "reason settings": _meta_edit(reasons={MARKER: 1}),
}


def _refused(bundle: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(ModelFileError) as info:
        load_for_batch(bundle)
    message = str(info.value)
    assert "compiled.npz" in message
    assert MARKER not in message
    assert "\n" not in message
    out = bundle.parent / "out.csv"
    argv = ["explain", str(bundle), "--input", str(bundle.parent / "leads.csv")]
    assert main([*argv, "--output", str(out), "--allow-unsigned"]) == 1
    err = capsys.readouterr().err
    assert "compiled.npz" in err
    assert MARKER not in err
    assert "Traceback" not in err
    assert not out.exists()
    return message


@pytest.mark.parametrize("attack", list(ARRAY_ATTACKS))
def test_crafted_arrays_are_refused(
    bundle: Path, attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arrays = _arrays(bundle)
    ARRAY_ATTACKS[attack](arrays)
    _write(bundle, _savez(arrays))
    assert "cannot be used" in _refused(bundle, capsys)


@pytest.mark.parametrize(
    "archive",
    [
        "compressed",
        "pickled object array",
        "extra member",
        "missing member",
        "not a zip",
        "empty",
        "truncated",
    ],
)
def test_crafted_archives_are_refused(
    bundle: Path, archive: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arrays = _arrays(bundle)
    if archive == "compressed":
        data = _savez(arrays, compress=True)
    elif archive == "pickled object array":
        arrays["groups"] = np.array([MARKER, {"x": 1}], dtype=object)
        data = _savez(arrays, pickle=True)
    elif archive == "extra member":
        data = _savez({**arrays, "evil": np.zeros(3)})
    elif archive == "missing member":
        arrays.pop("cover")
        data = _savez(arrays)
    elif archive == "not a zip":
        data = MARKER.encode() * 10
    elif archive == "empty":
        data = b""
    else:
        data = (bundle / "compiled.npz").read_bytes()[:-100]
    _write(bundle, data)
    _refused(bundle, capsys)


def test_a_member_that_claims_to_be_huge_is_not_inflated(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deflated member of 50 MB of zeros (a few kB on disk) is refused from its header."""
    arrays = _arrays(bundle)
    arrays["cover"] = np.zeros(50 << 17)  # 50 MiB
    _write(bundle, _savez(arrays, compress=True))
    assert (bundle / "compiled.npz").stat().st_size < 1 << 20
    _refused(bundle, capsys)


def test_an_edited_compiled_file_fails_the_digest(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundle / "compiled.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"compiled\.npz"):
        load_for_batch(bundle)
    with pytest.raises(ModelFileError, match=r"compiled\.npz"):
        explainscore.load(bundle)


def test_the_pristine_file_still_explains(bundle: Path) -> None:
    """The attacks above are edits of a file that works: the refusals are not a broken fixture."""
    arrays = _arrays(bundle)
    _write(bundle, _savez(arrays))
    leads = pd.read_csv(bundle.parent / "leads.csv")
    got = load_for_batch(bundle).explain(leads)
    want = explainscore.load(bundle).explain(leads)
    assert got.scores.tobytes() == want.scores.tobytes()
    assert got.attributions.tobytes() == want.attributions.tobytes()
