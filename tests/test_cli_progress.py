"""What the command line says while it works: progress bar, -q / -v, the missing-cell notice,
help on every option, and messages that name commands and flags (never Python)."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import explainscore
from explainscore import ExplainedModel, _progress
from explainscore._batch_files import explain_file
from explainscore._progress import Console
from explainscore.cli import _parser, main


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, to see the bar a person would see."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def tree_model(leads_numeric: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # A tree model takes missing values, so a lead with an empty cell is explained.
    from xgboost import XGBClassifier

    X, y = leads_numeric
    em = ExplainedModel(XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1)).fit(X, y)
    path = tmp_path_factory.mktemp("m") / "model"
    explainscore.save(em, path)
    return path, em


def _csv(leads_numeric: Any, path: Path, n: int, empty: dict[str, list[int]]) -> Path:
    X, _ = leads_numeric
    frame = pd.concat([X] * (n // len(X) + 1)).iloc[:n].reset_index(drop=True)
    frame = frame.astype(object)
    for column, rows in empty.items():
        for r in rows:
            frame.loc[r, column] = ""
    frame.to_csv(path, index=False)
    return path


def test_progress_bar_has_total_rate_and_time_left(
    tree_model: Any, leads_numeric: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "BAR_DELAY", 0.0)
    # Every update redrawn: a fast run must not skip the frames near the end.
    monkeypatch.setattr(_progress, "REDRAW_INTERVAL", 0.0)
    _, em = tree_model
    src = _csv(leads_numeric, tmp_path / "leads.csv", 6000, {})
    out = tmp_path / "scored.csv"
    term = _Terminal()
    summary = explain_file(em, src, out, chunk_size=500, stream=term)
    drawn = term.getvalue()
    assert summary.explained == 6000
    # tqdm's frames: percent of the file, rows and rows/s, elapsed<remaining.
    frames = [f for f in re.split(r"[\r\n]", drawn) if "rows/s" in f]
    assert frames, drawn
    assert re.search(r"\d+%\|.*\| [\d,]+ rows, [\d,]+ rows/s \[\d\d:\d\d<\d\d:\d\d\]", frames[-1])
    percents = [int(m) for m in re.findall(r"(\d+)%\|", drawn)]
    assert percents == sorted(percents)
    assert max(percents) >= 90  # bytes read against the file's size reach the end
    shown_rows = [int(m.replace(",", "")) for m in re.findall(r"([\d,]+) rows,", drawn)]
    assert max(shown_rows) <= 6000
    assert "rows/s" not in out.read_text()  # never in the output file


def test_no_bar_off_a_terminal_or_when_quiet(
    tree_model: Any, leads_numeric: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "BAR_DELAY", 0.0)
    _, em = tree_model
    src = _csv(leads_numeric, tmp_path / "leads.csv", 1200, {"pages_viewed": [3]})
    piped = io.StringIO()  # not a terminal
    explain_file(em, src, tmp_path / "a.csv", chunk_size=300, stream=piped)
    assert "rows/s" not in piped.getvalue()
    term = _Terminal()
    explain_file(em, src, tmp_path / "b.csv", chunk_size=300, stream=term,
                 console=Console(-1, term))  # fmt: skip
    assert term.getvalue() == ""  # quiet: no bar and no note either


def test_a_short_run_shows_no_bar_and_never_imports_tqdm(tmp_path: Path) -> None:
    code = (
        "import io, sys\n"
        "from explainscore._progress import Progress\n"
        "class T(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "bar = Progress(T(), enabled=True, total=100, in_bytes=False)\n"
        "bar.update(100, 100); bar.close()\n"
        "print('tqdm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_missing_numeric_cells_are_told_once_and_counted(
    tree_model: Any, leads_numeric: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, em = tree_model
    empty = {"pages_viewed": [1, 5, 400, 401], "emails_opened": [7]}
    src = _csv(leads_numeric, tmp_path / "leads.csv", 900, empty)
    out = tmp_path / "scored.csv"
    code = main(["explain", str(model), "--input", str(src), "--output", str(out),
                 "--allow-unsigned", "--chunk-size", "200"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if "read as missing" in line]
    assert len(notes) == 1  # once per run, not once per chunk
    assert notes[0].startswith("explainscore: note: 5 empty (or NA) cell(s) in numeric columns")
    assert "'pages_viewed': 4" in notes[0]
    assert "'emails_opened': 1" in notes[0]
    assert "explained 900 of 900 rows" in captured.out
    # The rows were explained as missing, exactly as the library explains NaN.
    scored = pd.read_csv(out)
    X, _ = leads_numeric
    lead = X.iloc[1:2].copy()
    lead["pages_viewed"] = np.nan
    np.testing.assert_allclose(scored.loc[1, "score"], em.explain(lead).scores[0], atol=1e-12)
    # No empty cell: no note.
    clean = _csv(leads_numeric, tmp_path / "clean.csv", 300, {})
    assert main(["explain", str(model), "--input", str(clean), "--output",
                 str(tmp_path / "c.csv"), "--allow-unsigned"]) == 0  # fmt: skip
    assert "read as missing" not in capsys.readouterr().err


def test_quiet_and_verbose(
    tree_model: Any, leads_numeric: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _ = tree_model
    src = _csv(leads_numeric, tmp_path / "leads.csv", 300, {"pages_viewed": [2]})
    args = ["explain", str(model), "--input", str(src), "--allow-unsigned"]
    assert main(["-q", *args, "--output", str(tmp_path / "q.csv")]) == 0
    quiet = capsys.readouterr()
    assert (quiet.out, quiet.err) == ("", "")
    assert (tmp_path / "q.csv").exists()
    assert main([*args, "--output", str(tmp_path / "v.csv"), "--verbose"]) == 0  # after too
    verbose = capsys.readouterr()
    stages = [line for line in verbose.err.splitlines() if re.match(r"explainscore: \[ *\d", line)]
    assert any("loading the model" in line for line in stages)
    assert any("300 rows read" in line for line in stages)
    times = [float(re.search(r"\[ *([\d.]+) s\]", line).group(1)) for line in stages]  # type: ignore[union-attr]
    assert times == sorted(times)  # one clock for the whole run
    assert "explained 300 of 300 rows" in verbose.out
    # Quiet still shows errors.
    assert main(["-q", "explain", str(tmp_path / "nope"), "--input", str(src),
                 "--output", str(tmp_path / "x.csv")]) == 1  # fmt: skip
    assert capsys.readouterr().err.startswith("explainscore: error:")
    with pytest.raises(SystemExit) as info:
        main(["-q", "-v", "warmup"])
    assert info.value.code == 2  # one or the other


def _walk(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _walk(child, f"{path} {name}")
        else:
            found.append((path, action))
    return found


def test_every_option_of_every_command_has_help() -> None:
    actions = _walk(_parser(), "explainscore")
    commands = {path for path, _ in actions}
    assert {
        "explainscore card",
        "explainscore keys create",
        "explainscore audit verify",
    } <= commands
    missing = [
        f"{path}: {action.option_strings or action.dest}"
        for path, action in actions
        if not (action.help and action.help.strip()) and action.help != argparse.SUPPRESS
    ]
    assert missing == []


def test_card_help_explains_each_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["card", "--help"])
    text = capsys.readouterr().out
    for flag in ("--name", "--intended-use", "--training-data", "--owner-key", "--owner",
                 "--passphrase-env", "--trusted-keys"):  # fmt: skip
        block = text[text.index(flag) :].split("\n  -")[0]
        assert len(block.split()) > 3, block  # the flag, its metavar and words about it


_PYTHON = re.compile(r"\b\w+=\S|\w\(\)|\w\(\.\.\.\)|require_sign_off|ModelCard|sign_off\b")


def test_unsigned_and_card_messages_name_commands_and_flags(
    tree_model: Any, leads_numeric: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    model, _ = tree_model
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    src = _csv(leads_numeric, tmp_path / "leads.csv", 20, {})
    out = str(tmp_path / "o.csv")
    assert main(["explain", str(copy), "--input", str(src), "--output", out]) == 1
    unsigned = capsys.readouterr().err
    assert "'explainscore card MODEL --name NAME --intended-use TEXT --owner-key" in unsigned
    assert "'explainscore sign-off MODEL --key THEIR.key'" in unsigned
    assert "--trusted-keys KEYRING" in unsigned
    assert "--allow-unsigned" in unsigned
    assert not _PYTHON.search(unsigned), unsigned
    assert main(["sign-off", str(copy), "--key", "k.key"]) == 1  # no card yet
    no_card = capsys.readouterr().err
    assert f"'explainscore card {copy} --name NAME --intended-use TEXT" in no_card
    assert main(["card", str(copy), "--name", "leads", "--intended-use", "rank"]) == 1
    assert "--owner-key KEY" in capsys.readouterr().err
    assert main(["card", str(copy), "--name", "leads", "--intended-use", "rank",
                 "--owner", "ana"]) == 0  # fmt: skip
    written = capsys.readouterr().out
    assert f"'explainscore sign-off {copy} --key KEY'" in written
    assert main(["explain", str(copy), "--input", str(src), "--output", out,
                 "--trusted-keys", str(tmp_path / "none.json")]) == 1  # fmt: skip
    for message in capsys.readouterr().err.splitlines():
        assert not _PYTHON.search(message), message


def test_library_refusals_read_as_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explainscore.cli import cli_message
    from explainscore.exceptions import ExplainScoreError
    from explainscore.governance._card import _OWNER_WHY, check_signed_off

    messages = [f"explainscore.load refused: {why}" for why in _OWNER_WHY.values()]
    with pytest.raises(ExplainScoreError) as no_card:
        check_signed_off(None, "sha256:" + "0" * 64, where="explainscore.load")
    messages.append(str(no_card.value))
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(b"not a pickle")
    for sign_off in (True, False):  # the signed door, then the untrusted file
        with pytest.raises(ExplainScoreError) as refused:
            explainscore.load(pkl, require_sign_off=sign_off)
        messages.append(str(refused.value))
    for message in messages:
        said = cli_message(message, "explain")
        assert not _PYTHON.search(said), said
        assert "explainscore.load" not in said
    said = [cli_message(m, "explain") for m in messages]
    assert any("'explainscore card MODEL --name NAME" in m for m in said)
    assert any("--trust-pickle" in m for m in said)


def test_missing_cell_note_never_names_a_hidden_column(
    leads_numeric: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xgboost import XGBClassifier

    from explainscore.governance import Policy

    X, y = leads_numeric
    em = ExplainedModel(
        XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1), policy=Policy(hidden=("noise",))
    ).fit(X, y)
    path = tmp_path / "model"
    explainscore.save(em, path)
    src = _csv(
        leads_numeric, tmp_path / "leads.csv", 200, {"noise": [1, 2, 3], "pages_viewed": [4]}
    )
    assert main(["explain", str(path), "--input", str(src), "--output",
                 str(tmp_path / "o.csv"), "--allow-unsigned"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "4 empty (or NA) cell(s)" in err
    assert "'a hidden column': 3" in err
    assert "'pages_viewed': 1" in err
    assert "noise" not in err
