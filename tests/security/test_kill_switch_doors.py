"""The kill switch holds at every Python door, from the environment and from a file.

Attacks that once worked: ``EXPLAINSCORE_KILL_SWITCH=1`` did not stop ``predict`` or
``predict_proba``; a model without its own ``KillSwitch`` ignored the process-wide switch; a
STOP file holding ``1`` or ``true`` crashed ``explain`` (an AttributeError deep in the switch)
instead of pausing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from explainscore import ExplainedModel, KillSwitch
from explainscore.exceptions import ExplainScoreError, ScoringPausedError
from explainscore.governance._kill_switch import process_engaged

ENV = "EXPLAINSCORE_KILL_SWITCH"
FILE_ENV = "EXPLAINSCORE_KILL_SWITCH_FILE"
MARKER = "KS-MARKER-7f3a"

#: Every file content the switch must read as "stopped" (bytes written to the file).
CONTENTS: dict[str, bytes] = {
    "empty": b"",
    "one": b"1",
    "true": b"true",
    "false": b"false",  # a file that says "false" still exists: stopped
    "zero": b"0",
    "json-list": b'[1, "two", {"reason": 3}]',
    "json-number": b"3.5",
    "json-string": b'"stop"',
    "json-null": b"null",
    "json-object-odd": b'{"actor": ["x"], "reason": {"a": 1}, "since": true}',
    "json-deep": b"[" * 100_000 + b"]" * 100_000,
    "garbage": bytes(range(256)) * 4 + MARKER.encode(),
    "not-utf8-marker": b"\xff\xfe" + MARKER.encode("utf-16-le"),
    "text-marker": MARKER.encode(),
    "big": b"x" * (2 << 20),
    # A JSON object's reason is shown (it is the operator's), as short printable text.
    "lone-surrogate": b'{"reason": "\\ud800drift\\u0007\\u202e alarm"}',
}

#: Values of the environment variable that engage / do not engage the switch.
ENV_ON = ["1", "true", "yes", "on", " TRUE ", "stop", "2"]
ENV_OFF = ["", "0", "false", "off", "OFF", " 0 ", "False"]


def _data() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["income", "visits", "tenure", "pages"])
    y = (X["income"] + X["visits"] - X["pages"] + rng.normal(size=300) > 0).astype(int)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    X, y = _data()
    return {
        "X": X,
        "xgb": XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(X, y),
        "lr": LogisticRegression(max_iter=500).fit(X, y),
        "y": y,
    }


def _em(fitted: dict[str, Any], kind: str = "lr", **params: Any) -> ExplainedModel:
    return ExplainedModel(fitted[kind], background=fitted["X"].iloc[:100], **params)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(FILE_ENV, raising=False)


# --- the doors ------------------------------------------------------------------------------

#: door name -> (model kind, call). Each call scores rows of X; while paused each must either
#: answer "paused" without a score (explain, explain_one) or raise ScoringPausedError.
Door = Callable[[ExplainedModel, pd.DataFrame], Any]
DOORS: dict[str, tuple[str, Door]] = {
    "explain": ("lr", lambda em, X: em.explain(X.iloc[:3])),
    "explain-skip": ("lr", lambda em, X: em.explain(X.iloc[:3], on_error="skip")),
    "explain_one-fast-dict": ("xgb", lambda em, X: em.explain_one(X.iloc[0].to_dict())),
    "explain_one-fast-array": ("xgb", lambda em, X: em.explain_one(X.to_numpy()[0])),
    "explain_one-batch": ("lr", lambda em, X: em.explain_one(X.iloc[[0]])),
    "predict": ("lr", lambda em, X: em.predict(X.iloc[:3])),
    "predict_proba": ("lr", lambda em, X: em.predict_proba(X.iloc[:3])),
    "decision_function": ("lr", lambda em, X: em.decision_function(X.iloc[:3])),
    "score": ("lr", lambda em, X: em.score(X.iloc[:3], np.array([0, 1, 0]))),
    "predict-xgb": ("xgb", lambda em, X: em.predict(X.iloc[:3])),
    "predict_proba-xgb": ("xgb", lambda em, X: em.predict_proba(X.iloc[:3])),
}
_STATUS_DOORS = {"explain", "explain-skip", "explain_one-fast-dict", "explain_one-fast-array"}
_STATUS_DOORS |= {"explain_one-batch"}


def _assert_paused(door: str, em: ExplainedModel, X: pd.DataFrame) -> None:
    _kind, call = DOORS[door]
    if door in _STATUS_DOORS and em.on_pause == "status":
        out = call(em, X)
        records = list(out) if hasattr(out, "scores") else [out]
        if hasattr(out, "scores"):
            assert out.status == "paused"
            assert np.isnan(out.scores).all()
        for rec in records:
            assert rec.status == "paused"
            assert rec.score is None
            assert rec.output is None
            assert rec.attributions == ()
            assert rec.reason_codes == ()
            assert MARKER not in rec.reason
        return
    with pytest.raises(ScoringPausedError) as info:
        call(em, X)
    assert MARKER not in str(info.value)
    assert "paused" in str(info.value)


def _assert_scores(door: str, em: ExplainedModel, X: pd.DataFrame) -> None:
    """Released: the door scores (the same answer as the model's own)."""
    _, call = DOORS[door]
    out = call(em, X)
    if hasattr(out, "status"):
        assert out.status == "ok"
    if door.startswith("predict_proba"):
        # The validated rows are a new frame: with pandas 2 its array is C-ordered where
        # X.iloc[:3]'s is F-ordered, and BLAS sums a dot product in another order (1 ulp).
        np.testing.assert_allclose(out, em.model_.predict_proba(X.iloc[:3]), rtol=1e-14, atol=0)
    elif door.startswith("predict"):
        np.testing.assert_array_equal(out, em.model_.predict(X.iloc[:3]))


# --- the process-wide switch: environment -----------------------------------------------------


@pytest.mark.parametrize("door", sorted(DOORS))
@pytest.mark.parametrize("value", ENV_ON)
def test_env_switch_stops_every_door_without_a_kill_switch(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, door: str, value: str
) -> None:
    kind, _ = DOORS[door]
    em = _em(fitted, kind)
    assert em.kill_switch is None
    em.explain(fitted["X"].iloc[:1])  # built while released
    monkeypatch.setenv(ENV, value)
    _assert_paused(door, em, fitted["X"])
    state = em._kill_state()
    assert state.engaged
    assert state.source == "env"


@pytest.mark.parametrize("door", sorted(DOORS))
@pytest.mark.parametrize("value", ENV_OFF)
def test_env_switch_off_values_leave_every_door_scoring(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, door: str, value: str
) -> None:
    kind, _ = DOORS[door]
    em = _em(fitted, kind)
    monkeypatch.setenv(ENV, value)
    assert not em._kill_state().engaged
    _assert_scores(door, em, fitted["X"])


@pytest.mark.parametrize("door", ["explain", "explain_one-fast-dict", "explain_one-batch"])
def test_on_pause_raise_applies_to_the_process_switch(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, door: str
) -> None:
    kind, _ = DOORS[door]
    em = _em(fitted, kind, on_pause="raise")
    monkeypatch.setenv(ENV, "1")
    _assert_paused(door, em, fitted["X"])


# --- the process-wide switch: file, whatever it holds -------------------------------------------


def _make(path: Path, content: str) -> None:
    """Put ``content`` (a key of CONTENTS, or a special kind of entry) at ``path``."""
    if content == "directory":
        path.mkdir()
    elif content == "unreadable":
        path.write_bytes(MARKER.encode())
        path.chmod(0)
    elif content == "dangling-symlink":
        path.symlink_to(path.parent / "nowhere")
    elif content == "fifo":
        os.mkfifo(path)  # reading it would block: the switch must not try
    else:
        path.write_bytes(CONTENTS[content])


FILE_KINDS = [*CONTENTS, "directory", "unreadable", "dangling-symlink", "fifo"]


@pytest.mark.parametrize("content", FILE_KINDS)
def test_process_file_means_stopped_whatever_it_holds(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    stop = tmp_path / "STOP"
    monkeypatch.setenv(FILE_ENV, str(stop))
    em = _em(fitted, "lr")
    assert not em._kill_state().engaged
    assert not process_engaged()
    _make(stop, content)
    state = em._kill_state()  # never raises, whatever is at the path
    assert state.engaged
    assert state.source == "file"
    assert process_engaged()
    for text in (state.actor, state.reason, state.since):
        assert text is None or (MARKER not in text and text.isprintable() and len(text) <= 200)
    for door in DOORS:
        kind, _ = DOORS[door]
        _assert_paused(door, em if kind == "lr" else _em(fitted, kind), fitted["X"])


@pytest.mark.parametrize("content", FILE_KINDS)
def test_model_switch_file_means_stopped_whatever_it_holds(
    fitted: dict[str, Any], tmp_path: Path, content: str
) -> None:
    stop = tmp_path / "STOP"
    ems = {kind: _em(fitted, kind, kill_switch=KillSwitch(stop)) for kind in ("lr", "xgb")}
    _make(stop, content)
    assert ems["lr"].kill_switch is not None
    state = ems["lr"].kill_switch.state()
    assert state.engaged
    assert state.source == "file"
    assert ems["lr"]._kill_state().engaged
    for door, (kind, _) in DOORS.items():
        _assert_paused(door, ems[kind], fitted["X"])


def test_file_switch_keeps_who_and_why_of_a_proper_file(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stop = tmp_path / "STOP"
    monkeypatch.setenv(FILE_ENV, str(stop))
    KillSwitch(stop).engage(actor="ops@acme", reason="drift alarm")
    em = _em(fitted)
    state = em._kill_state()
    assert (state.engaged, state.actor, state.reason) == (True, "ops@acme", "drift alarm")
    assert "drift alarm" in em.explain(fitted["X"].iloc[:1])[0].reason
    with pytest.raises(ScoringPausedError, match="drift alarm"):
        em.predict_proba(fitted["X"].iloc[:1])


@pytest.mark.parametrize("door", sorted(DOORS))
def test_release_resumes_every_door(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, door: str
) -> None:
    stop = tmp_path / "STOP"
    monkeypatch.setenv(FILE_ENV, str(stop))
    kind, _ = DOORS[door]
    em = _em(fitted, kind)
    stop.write_text("1")
    _assert_paused(door, em, fitted["X"])
    stop.unlink()
    _assert_scores(door, em, fitted["X"])


def test_fast_lane_is_bypassed_only_while_paused(
    fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    em = _em(fitted, "xgb")
    row = fitted["X"].iloc[0].to_dict()
    assert em._explain_fast(row, top_k=None) is not None  # the lane serves this model
    monkeypatch.setenv(ENV, "1")
    assert em._explain_fast(row, top_k=None) is None
    assert em._score_fast(row) is None
    monkeypatch.delenv(ENV)
    stop = tmp_path / "STOP"
    monkeypatch.setenv(FILE_ENV, str(stop))
    assert em._explain_fast(row, top_k=None) is not None
    stop.write_bytes(b"true")
    assert em._explain_fast(row, top_k=None) is None
    assert em.explain_one(row).status == "paused"


def test_switch_directory_in_the_path_is_not_engaged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A file in place of a directory of the path: nothing can be there, released.
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv(FILE_ENV, str(tmp_path / "f" / "STOP"))
    assert not process_engaged()
    monkeypatch.setenv(FILE_ENV, "")
    assert not process_engaged()


def test_only_typed_errors_while_paused(fitted: dict[str, Any], tmp_path: Path) -> None:
    """Every door, every content: nothing but ScoringPausedError (or a paused answer)."""
    stop = tmp_path / "STOP"
    em = _em(fitted, "lr", kill_switch=KillSwitch(stop), on_pause="raise")
    for content in CONTENTS.values():
        stop.write_bytes(content)
        for door, (kind, call) in DOORS.items():
            if kind != "lr":
                continue
            with pytest.raises(ExplainScoreError) as info:
                call(em, fitted["X"])
            assert type(info.value) is ScoringPausedError, door


def test_kill_switch_pickles_and_reads_the_environment_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pickle

    switch = KillSwitch(tmp_path / "STOP", env_var="MY_STOP")
    clone = pickle.loads(pickle.dumps(switch))
    assert not clone.engaged
    monkeypatch.setenv("MY_STOP", "on")
    assert clone.engaged
    assert clone.state().source == "env"
    monkeypatch.delenv("MY_STOP")
    (tmp_path / "STOP").write_text(json.dumps({"reason": "r"}))
    assert clone.state().reason == "r"
