"""Edited, removed and added bundle files are refused; the sign-off covers the whole bundle.

Issue 14: the sign-off covered only ``model.skops``. Emptying or deleting ``policy.json`` in
a signed bundle kept it signed, and the CLI then named a hidden column in every reason; a
corrupt card, policy or catalog raised pydantic's multi-line error echoing the file; a saved
bundle held 200 raw training rows in ``background.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeRegressor
from xgboost import XGBClassifier

import explainscore
from explainscore import ExplainedModel, ModelCard, Policy, sign_off
from explainscore.cli import main
from explainscore.exceptions import NotSignedOffError, ParameterError
from explainscore.io import ModelFileError

from . import crafted

MARKER = "FILE-TEXT-MARKER-91c2"  # written into corrupt files; never in an error
# An XGBoost tree model also carries its compiled form, which the command line runs
# (``_compiled``): it is listed, hashed and refused when edited like every other file.
FILES = ("model.skops", "background.json", "catalog.json", "policy.json", "compiled.npz")


@pytest.fixture(scope="module")
def data(leads: Any) -> tuple[pd.DataFrame, Any]:
    X, y = leads
    return X.select_dtypes("number").astype(float), y


@pytest.fixture
def signed(data: tuple[pd.DataFrame, Any], tmp_path: Path, signers: Any) -> Path:
    """A bundle with a hidden column, signed off by ``ben`` (keyring in the environment)."""
    num, y = data
    em = ExplainedModel(
        XGBClassifier(n_estimators=10, max_depth=3), policy=Policy(hidden=("noise",))
    ).fit(num, y)
    bundle = explainscore.save(em, tmp_path / "bundle")
    loaded = explainscore.load(bundle)
    card = ModelCard.for_model(loaded, name="m", owner_key=signers.ana, intended_use="ranking")
    sign_off(card, key=signers.ben).save(bundle / "card.json")
    assert explainscore.load(bundle, require_sign_off=True).signed_off_ is True
    num.iloc[:10].to_csv(tmp_path / "leads.csv", index=False)
    return bundle


def _refused_everywhere(bundle: Path, error: type[Exception] = ModelFileError) -> str:
    """Refused by load (with and without sign-off) and by the CLI; returns load's message."""
    with pytest.raises(error) as info:
        explainscore.load(bundle)
    with pytest.raises((ModelFileError, NotSignedOffError)):
        explainscore.load(bundle, require_sign_off=True)
    out = bundle.parent / "out.csv"
    argv = ["explain", str(bundle), "--input", str(bundle.parent / "leads.csv")]
    assert main([*argv, "--output", str(out)]) == 1
    assert not out.exists()
    return str(info.value)


@pytest.mark.parametrize("name", FILES)
def test_an_edited_file_is_refused(signed: Path, name: str) -> None:
    path = signed / name
    path.write_bytes(path.read_bytes() + b" ")
    assert name in _refused_everywhere(signed)


def test_an_edited_manifest_voids_the_sign_off(signed: Path) -> None:
    """The manifest is what the fingerprint is computed over: any change to what it says
    (not to its whitespace) is a different bundle, refused by every signed door."""
    path = signed / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["params"]["top_k"] = 1
    path.write_text(json.dumps(manifest))
    assert explainscore.load(signed).signed_off_ is False
    with pytest.raises(NotSignedOffError, match="fingerprint"):
        explainscore.load(signed, require_sign_off=True)
    out = signed.parent / "out.csv"
    argv = ["explain", str(signed), "--input", str(signed.parent / "leads.csv")]
    assert main([*argv, "--output", str(out)]) == 1
    assert not out.exists()


@pytest.mark.parametrize("name", [*FILES, "manifest.json"])
def test_a_removed_file_is_refused(signed: Path, name: str) -> None:
    (signed / name).unlink()
    assert name in _refused_everywhere(signed)


@pytest.mark.parametrize("extra", ["extra.json", ".hidden", "model.skops.bak", "policy.yaml"])
def test_an_unlisted_file_is_refused(signed: Path, extra: str) -> None:
    (signed / extra).write_text(MARKER)
    message = _refused_everywhere(signed)
    assert "does not list" in message
    assert MARKER not in message


def test_an_unlisted_directory_or_link_is_refused(signed: Path, tmp_path: Path) -> None:
    (signed / "sub").mkdir()
    _refused_everywhere(signed)
    (signed / "sub").rmdir()
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (signed / "catalog.json").unlink()
    (signed / "catalog.json").symlink_to(target)
    assert "not a regular file" in _refused_everywhere(signed)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("policy.json", lambda text: json.dumps({**json.loads(text), "hidden": []})),
        ("policy.json", None),  # deleted, and removed from the manifest
        ("catalog.json", lambda text: text + "\n"),  # even a byte of whitespace
        ("background.json", lambda text: text.replace('"raw_scale"', '"raw_scale" ', 1)),
        ("model.skops", lambda text: text),  # same model, manifest re-dumped below
    ],
)
def test_a_consistent_rewrite_voids_the_sign_off(
    signed: Path, name: str, edit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attacker who edits a file AND rewrites the manifest to match changes the bundle's
    fingerprint: the bundle still loads for development, but every signed door refuses it."""
    path = signed / name
    if edit is None:
        path.unlink()
    elif name != "model.skops":
        path.write_text(edit(path.read_text()))
    crafted.rehash(signed, name)
    if name == "model.skops":  # a cosmetic manifest change is still a different bundle
        manifest = json.loads((signed / "manifest.json").read_text())
        manifest["created_at"] = "2000-01-01T00:00:00+00:00"
        (signed / "manifest.json").write_text(json.dumps(manifest))
    loaded = explainscore.load(signed)
    assert loaded.signed_off_ is False
    with pytest.raises(NotSignedOffError, match="fingerprint"):
        explainscore.load(signed, require_sign_off=True)
    out = signed.parent / "out.csv"
    argv = ["explain", str(signed), "--input", str(signed.parent / "leads.csv")]
    assert main([*argv, "--output", str(out)]) == 1
    assert "fingerprint" in capsys.readouterr().err
    assert not out.exists()


def test_overrides_that_change_what_the_model_says_void_the_sign_off(signed: Path) -> None:
    for override in (
        {"policy": Policy()},
        {"catalog": {}},
        {"method": "kernel"},
        {"output_space": "probability"},
        {"model_version": "v9"},
    ):
        with pytest.raises(NotSignedOffError, match="voids its sign-off"):
            explainscore.load(signed, require_sign_off=True, **override)
    unsigned = explainscore.load(signed, policy=Policy())
    assert unsigned.card is None
    assert unsigned.signed_off_ is False
    runtime = explainscore.load(signed, require_sign_off=True, top_k=1, on_pause="raise")
    assert runtime.signed_off_ is True
    assert runtime.top_k == 1
    with pytest.raises(ParameterError, match="unknown override"):
        explainscore.load(signed, requires_sign_off=True)


@pytest.mark.parametrize("name", ["card.json", "policy.json", "catalog.json", "background.json"])
@pytest.mark.parametrize(
    "content",
    [
        '{"' + MARKER + '": 1}',
        MARKER,
        "",
        "[" * 5000,
        '{"hidden": ["' + MARKER + '"], "blocked": 7}',
    ],
)
def test_corrupt_side_files_are_typed_errors(signed: Path, name: str, content: str) -> None:
    (signed / name).write_text(content)
    if name != "card.json":
        crafted.rehash(signed, name)
    with pytest.raises(ModelFileError) as info:
        explainscore.load(signed)
    message = str(info.value)
    assert MARKER not in message
    assert "\n" not in message
    assert name in message or "model card" in message


@pytest.mark.parametrize(
    "content",
    ['{"' + MARKER + '": 1}', MARKER, "", "[" * 5000, '{"format_version": "2"}', "[]"],
)
def test_a_corrupt_manifest_is_a_typed_error(signed: Path, content: str) -> None:
    (signed / "manifest.json").write_text(content)
    with pytest.raises(ModelFileError, match="manifest") as info:
        explainscore.load(signed)
    assert MARKER not in str(info.value)
    assert "\n" not in str(info.value)


def test_an_old_format_bundle_is_refused_with_a_re_save_message(signed: Path) -> None:
    manifest = json.loads((signed / "manifest.json").read_text())
    old = {"format_version": 1, "model_file": "model.skops", "model_sha256": "sha256:00"}
    (signed / "manifest.json").write_text(json.dumps({**manifest, **old}))
    with pytest.raises(ModelFileError, match="save the model again"):
        explainscore.load(signed)


def test_the_fingerprint_is_the_canonical_manifest_digest(signed: Path) -> None:
    import hashlib

    manifest = json.loads((signed / "manifest.json").read_text())
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert explainscore.load(signed).model_fingerprint_ == expected
    listed = manifest["files"]
    assert set(listed) == set(FILES)
    for name, entry in listed.items():
        data = (signed / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert manifest["params"]["reasons"] is None or isinstance(manifest["params"]["reasons"], dict)


# --- no raw rows by default ----------------------------------------------------------------


def _cells(bundle: Path) -> str:
    return (bundle / "background.json").read_text()


def test_tree_bundles_store_no_rows_and_explain_bit_for_bit(leads: Any, tmp_path: Path) -> None:
    X, y = leads
    em = ExplainedModel(_pipe(XGBClassifier(n_estimators=15, max_depth=3)), top_k=3).fit(X, y)
    bundle = explainscore.save(em, tmp_path / "m")
    document = json.loads(_cells(bundle))
    assert document["storage"] == "none"
    assert document["rows"] is None
    assert document["clusters"] is None
    assert json.loads((bundle / "manifest.json").read_text())["background_storage"] == "none"
    loaded = explainscore.load(bundle)
    assert loaded.background_storage_ == "none"
    rows = X.iloc[:200]
    a, b = em.explain(rows), loaded.explain(rows)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    np.testing.assert_array_equal(a.base_values, b.base_values)
    assert a.reasons == b.reasons
    assert a.reason_codes == b.reason_codes
    for i in range(5):
        one, two = em.explain_one(X.iloc[i]), loaded.explain_one(X.iloc[i])
        assert one.score == two.score
        assert one.reason == two.reason
        np.testing.assert_array_equal(one.attributions, two.attributions)
    assert loaded.input_profile_ == em.input_profile_
    # Review rules read the saved profile: an out-of-range value is flagged the same way.
    odd = X.iloc[:3].copy()
    odd["pages_viewed"] = 10_000
    from explainscore import ReviewRules

    em.review, loaded.review = ReviewRules(), ReviewRules()
    assert em.explain(odd).review_reasons == loaded.explain(odd).review_reasons


def test_a_raw_output_tree_keeps_its_reason_wording(data: Any, tmp_path: Path) -> None:
    num, y = data
    target = num["pages_viewed"] * 2.0 + y
    em = ExplainedModel(DecisionTreeRegressor(max_depth=4, random_state=0)).fit(
        num.drop(columns="pages_viewed"), target
    )
    bundle = explainscore.save(em, tmp_path / "m")
    loaded = explainscore.load(bundle)
    assert loaded.background_storage_ == "none"
    rows = num.drop(columns="pages_viewed").iloc[:100]
    assert em.explain(rows).reasons == loaded.explain(rows).reasons


def test_summary_bundles_hold_no_training_row(data: Any, tmp_path: Path) -> None:
    num, y = data
    em = ExplainedModel(LogisticRegression(max_iter=2000)).fit(num, y)
    bundle = explainscore.save(em, tmp_path / "m")
    document = json.loads(_cells(bundle))
    assert document["storage"] == "summary"
    assert document["rows"] is None
    clusters = document["clusters"]
    assert 1 <= len(clusters) <= 20
    assert all(c["size"] >= 5 for c in clusters)
    raw = {tuple(r) for r in em.background_.to_numpy().round(9).tolist()}
    for cluster in clusters:
        centre = tuple(round(cluster["means"][c], 9) for c in num.columns)
        assert centre not in raw
    loaded = explainscore.load(bundle)
    assert loaded.background_storage_ == "summary"
    a, b = em.explain(num.iloc[:100]), loaded.explain(num.iloc[:100])
    # The linear closed form reads the background's mean, which the summary keeps.
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=0, atol=1e-9)
    assert a.reasons == b.reasons


def test_raw_rows_only_on_opt_in(data: Any, tmp_path: Path) -> None:
    num, y = data
    em = ExplainedModel(LogisticRegression(max_iter=2000)).fit(num, y)
    bundle = explainscore.save(em, tmp_path / "m", background="raw")
    document = json.loads(_cells(bundle))
    assert document["storage"] == "raw"
    assert len(document["rows"]) == len(em.background_)
    loaded = explainscore.load(bundle)
    assert loaded.background_storage_ == "raw"
    pd.testing.assert_frame_equal(
        loaded.background_.reset_index(drop=True), em.background_.reset_index(drop=True)
    )
    with pytest.raises(ParameterError, match="background='none'"):
        explainscore.save(em, tmp_path / "n", background="none")
    with pytest.raises(ParameterError, match="'background' parameter of save"):
        explainscore.save(em, tmp_path / "n", background="rows")


def test_a_rowless_bundle_refuses_a_method_that_needs_rows(data: Any, tmp_path: Path) -> None:
    num, y = data
    em = ExplainedModel(XGBClassifier(n_estimators=5, max_depth=2)).fit(num, y)
    bundle = explainscore.save(em, tmp_path / "m")
    with pytest.raises(ParameterError, match="stores no background rows"):
        explainscore.load(bundle, output_space="probability")
    again = explainscore.load(bundle, output_space="probability", background=num.iloc[:50])
    assert again.explain(num.iloc[:3]).exact


def _pipe(est: Any) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    return make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
            remainder="passthrough",
        ),
        est,
    )


def test_save_over_a_bundle_replaces_it_whole(signed: Path, data: Any) -> None:
    num, y = data
    em = ExplainedModel(LogisticRegression(max_iter=500)).fit(num, y)
    (signed / "policy.json").exists()
    explainscore.save(em, signed, overwrite=True)
    assert not (signed / "policy.json").exists()
    assert not (signed / "card.json").exists()
    assert explainscore.load(signed).policy is None
    (signed / "notes.txt").write_text("x")
    with pytest.raises(ParameterError, match="not part of an explainscore bundle"):
        explainscore.save(em, signed, overwrite=True)
    shutil.rmtree(signed)


def test_a_rowless_model_keeps_its_saved_facts_when_rebuilt(data: Any, tmp_path: Path) -> None:
    """set_params and pickling rebuild the engine on the same rows: the saved profile,
    missing-value flags and raw scale are reused, not re-measured on synthesized rows."""
    import pickle

    from sklearn.base import clone

    num, y = data
    target = num["pages_viewed"] * 3.0 + y
    X = num.drop(columns="pages_viewed")
    em = ExplainedModel(DecisionTreeRegressor(max_depth=4, random_state=0)).fit(X, target)
    loaded = explainscore.load(explainscore.save(em, tmp_path / "m"))
    loaded.set_params(catalog={})
    again = pickle.loads(pickle.dumps(loaded))
    expected = em.explain(X.iloc[:50])
    for model in (loaded, again):
        got = model.explain(X.iloc[:50])
        assert got.reasons == expected.reasons
        np.testing.assert_array_equal(got.attributions, expected.attributions)
        assert model.input_profile_ == em.input_profile_
    assert clone(loaded).background is None  # a refit uses its own training rows
