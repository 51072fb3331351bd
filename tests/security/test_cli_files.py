"""The command line's file path: every row accounted for, atomic outputs, governance, words.

Attacks and losses that once worked, and stay here:

- a chunk where one column is bad in every row aborted the job (rows neither explained nor
  rejected); a row with too many fields or an undecodable byte aborted the whole file; a row
  with too few fields was explained with NaN;
- ``kill -9`` mid-run left a clean-looking partial CSV at the final path, and an earlier
  complete output was deleted when a run started;
- an extra blocked column in the input was silently dropped, yet its values were written to
  the rejects file; ``--id-column`` of a blocked column copied it into the output;
- ``EXPLAINSCORE_KILL_SWITCH=1`` did not stop ``explainscore explain``;
- messages cited ``--trust`` (the flag is ``--trust-pickle``) and Python hints (``card=``).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import explainscore
from explainscore import ExplainedModel
from explainscore._batch_files import explain_file
from explainscore.cli import cli_message, main
from explainscore.exceptions import ScoringPausedError
from explainscore.governance import Policy

BLOCKED = "gender"
HIDDEN = "noise"
KILL_ENV = "EXPLAINSCORE_KILL_SWITCH"
KILL_FILE_ENV = "EXPLAINSCORE_KILL_SWITCH_FILE"


@pytest.fixture(autouse=True)
def _switch_released(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KILL_ENV, raising=False)
    monkeypatch.delenv(KILL_FILE_ENV, raising=False)


@pytest.fixture(scope="module")
def model(leads: tuple[pd.DataFrame, pd.Series], tmp_path_factory: Any) -> Path:
    """A saved model whose policy blocks ``gender`` and hides ``noise`` (a model input)."""
    X, y = leads
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
            remainder=StandardScaler(),
        ),
        LogisticRegression(max_iter=2000),
    )
    policy = Policy(blocked=(BLOCKED,), hidden=(HIDDEN,))
    em = ExplainedModel(pipe, policy=policy).fit(X, y)
    path = tmp_path_factory.mktemp("cli_files") / "model"
    explainscore.save(em, path)
    return path


@pytest.fixture(scope="module")
def loaded(model: Path) -> Any:
    return explainscore.load(model)


def _frame(leads: tuple[pd.DataFrame, pd.Series], n: int) -> pd.DataFrame:
    X, _ = leads
    frame = X.iloc[:n].copy().reset_index(drop=True)
    frame.insert(0, "lead_id", [f"L{i:05d}" for i in range(n)])
    return frame


def _lines(frame: pd.DataFrame) -> list[str]:
    """The CSV text of ``frame`` as lines (header first), no line ends."""
    return frame.to_csv(index=False, lineterminator="\n").splitlines()


def _write(path: Path, lines: list[str], *, raw: dict[int, bytes] | None = None) -> Path:
    data = [line.encode("utf-8") for line in lines]
    for i, content in (raw or {}).items():
        data[i] = content
    path.write_bytes(b"\n".join(data) + b"\n")
    return path


def _run(model: Path, src: Path, out: Path, *extra: str) -> int:
    return main(["explain", str(model), "--input", str(src), "--output", str(out),
                 "--allow-unsigned", *extra])  # fmt: skip


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp-*"))


def _assert_nothing_written(folder: Path, *names: str) -> None:
    for name in names:
        assert not (folder / name).exists(), name
    assert _temporaries(folder) == []


# --- every row accounted for ----------------------------------------------------------------


def test_odd_rows_are_rejected_with_line_numbers_and_the_rest_explained(
    model: Path, loaded: Any, leads: Any, tmp_path: Path, capsys: Any
) -> None:
    frame = _frame(leads, 60)
    lines = _lines(frame)  # lines[0] is the header (line 1); data row r is lines[r + 1]
    lines[3] += ",surplus"  # row 2: one field too many
    lines[5] = lines[5].rsplit(",", 2)[0]  # row 4: two fields too few
    # Row 6 holds a quoted line break: it spans two physical lines, so later rows' line
    # numbers are one more than their position + 2.
    industry = frame.columns.get_loc("industry")
    cells = lines[7].split(",")
    cells[industry] = f'"{cells[industry][:3]}\n{cells[industry][3:]}"'
    lines[7] = ",".join(cells)
    raw = lines[10].encode().replace(b",", b",\xff\xfe", 1)  # row 9: bytes that are not UTF-8
    src = _write(tmp_path / "odd.csv", lines, raw={10: raw})
    out = tmp_path / "scored.csv"

    assert _run(model, src, out, "--chunk-size", "8", "--id-column", "lead_id") == 0
    scored, rejects = _read(out), _read(tmp_path / "scored.rejects.csv")
    assert len(scored) + len(rejects) == len(frame)
    assert rejects["row"].tolist() == ["2", "4", "9"]
    assert rejects["line"].tolist() == ["4", "6", "12"]  # row 9 is after the two-line row 6
    problems = rejects["reject_problem"].tolist()
    assert problems[0] == "the row has 11 fields, more than the header's 10"
    assert problems[1] == "the row has 8 fields, fewer than the header's 10"
    assert problems[2] == "the row holds bytes that are not valid UTF-8"
    assert set(rejects["reject_column"]) == {""}
    # The undecodable row is written with its bad bytes replaced, never as they were.
    assert rejects.loc[2, "lead_id"] == "L00009"
    assert b"\xff" not in (tmp_path / "scored.rejects.csv").read_bytes()
    assert "\ufffd" in (tmp_path / "scored.rejects.csv").read_text(encoding="utf-8")
    # The explained rows are the API's numbers for the same rows.
    good = frame.drop(index=[2, 4, 9])
    good.loc[6, "industry"] = good.loc[6, "industry"][:3] + "\n" + good.loc[6, "industry"][3:]
    expected = loaded.explain(good.drop(columns="lead_id"))
    np.testing.assert_allclose(scored["score"].astype(float), expected.scores, atol=1e-12)
    assert scored["lead_id"].tolist() == good["lead_id"].tolist()
    assert scored["row"].astype(int).tolist() == good.index.tolist()
    assert "explained 57 of 60 rows, rejected 3" in capsys.readouterr().out


def test_a_stray_quote_rejects_its_line_and_the_rows_after_it_are_read(
    model: Path, leads: Any, tmp_path: Path
) -> None:
    frame = _frame(leads, 30)
    lines = _lines(frame)
    lines[20] = lines[20].replace(",", ',"', 1)  # row 19: a quote never closed, to the end
    src = _write(tmp_path / "quote.csv", lines)
    out = tmp_path / "scored.csv"
    assert _run(model, src, out, "--chunk-size", "7") == 0
    scored, rejects = _read(out), _read(tmp_path / "scored.rejects.csv")
    assert len(scored) + len(rejects) == 30
    assert rejects["row"].tolist() == ["19"]
    assert rejects["line"].tolist() == ["21"]
    assert "not closed before the end of the file" in rejects.loc[0, "reject_problem"]
    assert scored["row"].astype(int).tolist() == [r for r in range(30) if r != 19]


def test_a_chunk_with_a_column_bad_in_every_row_is_rejected_row_by_row(
    model: Path, leads: Any, tmp_path: Path
) -> None:
    frame = _frame(leads, 40)
    frame["pages_viewed"] = frame["pages_viewed"].astype(object)
    frame["company_size"] = frame["company_size"].astype(object)
    frame.loc[10:19, "pages_viewed"] = "lots"  # the whole second chunk: text in a number
    frame.loc[20:29, "company_size"] = None  # the whole third chunk: missing values
    src = tmp_path / "bad_chunks.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    assert _run(model, src, out, "--chunk-size", "10", "--id-column", "lead_id") == 0
    scored, rejects = _read(out), _read(tmp_path / "scored.rejects.csv")
    assert len(scored) == 20
    assert rejects["row"].astype(int).tolist() == list(range(10, 30))
    assert set(rejects["reject_column"][:10]) == {"pages_viewed"}
    assert set(rejects["reject_column"][10:]) == {"company_size"}
    assert rejects["line"].astype(int).tolist() == list(range(12, 32))
    assert rejects["lead_id"].tolist() == frame.loc[10:29, "lead_id"].tolist()


def test_a_file_where_every_row_is_bad_is_rejected_not_aborted(
    model: Path, leads: Any, tmp_path: Path, capsys: Any
) -> None:
    frame = _frame(leads, 12)
    frame["emails_opened"] = "many"
    src = tmp_path / "all_bad.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    assert _run(model, src, out, "--chunk-size", "5") == 0
    assert len(_read(out)) == 0
    assert _read(tmp_path / "scored.rejects.csv")["row"].astype(int).tolist() == list(range(12))
    assert "explained 0 of 12 rows, rejected 12" in capsys.readouterr().out


def test_text_in_a_number_column_is_rejected_not_read_as_missing(
    model: Path, leads: Any, tmp_path: Path
) -> None:
    frame = _frame(leads, 10)
    frame["demo_booked"] = frame["demo_booked"].astype(object)
    frame.loc[3, "demo_booked"] = "yes"
    frame.loc[4, "demo_booked"] = "NA"  # pandas' missing spellings stay missing
    src = tmp_path / "leads.csv"
    frame.to_csv(src, index=False)
    assert _run(model, src, tmp_path / "scored.csv") == 0
    rejects = _read(tmp_path / "scored.rejects.csv")
    assert rejects["row"].tolist() == ["3", "4"]
    assert "holds text where a number is expected" in rejects.loc[0, "reject_problem"]
    assert "is missing" in rejects.loc[1, "reject_problem"]


def test_blank_lines_are_not_rows_and_a_header_only_file_gives_empty_outputs(
    model: Path, leads: Any, tmp_path: Path, capsys: Any
) -> None:
    lines = _lines(_frame(leads, 5))
    src = _write(tmp_path / "blank.csv", [lines[0], "", *lines[1:3], "", "", *lines[3:]])
    assert _run(model, src, tmp_path / "a.csv") == 0
    assert len(_read(tmp_path / "a.csv")) == 5
    header_only = _write(tmp_path / "header.csv", lines[:1])
    assert _run(model, header_only, tmp_path / "b.csv") == 0
    assert len(_read(tmp_path / "b.csv")) == 0
    assert "explained 0 of 0 rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"company_size,company_size\n1,2\n", "names one column twice"),
        (b"company_\xffsize,industry\n1,a\n", "not valid UTF-8"),
    ],
)
def test_unusable_headers_are_refused_in_one_line(
    model: Path, tmp_path: Path, capsys: Any, content: bytes, expected: str
) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    assert _run(model, src, tmp_path / "scored.csv") == 1
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1
    _assert_nothing_written(tmp_path, "scored.csv", "scored.rejects.csv")


# --- governance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        BLOCKED,
        "Gender",
        " gender",
        "gender ",
        "\uff27\uff25\uff2e\uff24\uff25\uff32",
        "g\u0435nder",
        "gen\u200bder",
    ],
    ids=["exact", "case", "leading-space", "trailing-space", "full-width", "cyrillic-e", "zwsp"],
)
def test_an_input_with_a_blocked_column_is_refused_not_dropped(
    model: Path, leads: Any, tmp_path: Path, capsys: Any, spelling: str
) -> None:
    frame = _frame(leads, 20)
    frame[spelling] = "SECRET-VALUE-" + pd.Series(range(20)).astype(str)
    frame.loc[3, "pages_viewed"] = -1  # a row that would be rejected, if the file were read
    src = tmp_path / "leads.csv"
    frame.to_csv(src, index=False)
    assert _run(model, src, tmp_path / "scored.csv") == 1
    err = capsys.readouterr().err
    assert "blocks (blocked entry 1)" in err
    assert BLOCKED not in err.lower()
    assert spelling not in err
    assert "SECRET" not in err
    _assert_nothing_written(tmp_path, "scored.csv", "scored.rejects.csv")


@pytest.mark.parametrize("column", [BLOCKED, HIDDEN, "NOISE"])
def test_an_id_column_that_is_hidden_or_blocked_is_refused(
    model: Path, leads: Any, tmp_path: Path, capsys: Any, column: str
) -> None:
    frame = _frame(leads, 10)
    src = tmp_path / "leads.csv"
    frame.to_csv(src, index=False)
    code = _run(model, src, tmp_path / "scored.csv", "--id-column", "lead_id",
                "--id-column", column)  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "--id-column number 2" in err
    assert column.lower() not in err.lower()
    _assert_nothing_written(tmp_path, "scored.csv", "scored.rejects.csv")


def test_rejects_never_hold_a_hidden_column_name_or_value(
    model: Path, leads: Any, tmp_path: Path
) -> None:
    frame = _frame(leads, 30)
    frame[HIDDEN] = frame[HIDDEN].astype(object)
    frame.loc[4, HIDDEN] = "HIDDEN-TEXT"  # rejected for the hidden column itself
    frame.loc[5:14, HIDDEN] = "HIDDEN-TEXT"  # ... and a chunk where it is bad in every row
    frame["pages_viewed"] = frame["pages_viewed"].astype(object)
    frame.loc[20, "pages_viewed"] = "lots"  # rejected for a shown column
    lines = _lines(frame)
    lines[23] += ",surplus"  # a row with too many fields in a file with a hidden column
    raw = lines[24].encode().replace(b"L0", b"L\xff0", 1)  # undecodable
    src = _write(tmp_path / "leads.csv", lines, raw={24: raw})
    out = tmp_path / "scored.csv"
    assert _run(model, src, out, "--chunk-size", "5", "--id-column", "lead_id") == 0
    text = (tmp_path / "scored.rejects.csv").read_text(encoding="utf-8")
    rejects = _read(tmp_path / "scored.rejects.csv")
    assert len(rejects) + len(_read(out)) == 30
    assert HIDDEN not in text.lower()
    assert "HIDDEN-TEXT" not in text
    values = frame[HIDDEN].astype(str).tolist()
    assert not any(v in text for v in values if v != "HIDDEN-TEXT")
    by_row = rejects.set_index("row")
    assert by_row.loc["4", "reject_column"] == "a hidden column"
    assert by_row.loc["4", "reject_problem"].startswith("a hidden column ")
    assert set(by_row.loc[[str(r) for r in range(5, 15)], "reject_column"]) == {"a hidden column"}
    assert by_row.loc["20", "reject_column"] == "pages_viewed"
    assert by_row.loc["22", "reject_problem"].startswith("the row has 11 fields")
    assert by_row.loc["22", "lead_id"] == ""  # misaligned fields are not written at all
    assert by_row.loc["23", "lead_id"] == "L\ufffd00023"
    assert HIDDEN not in "".join(_read(out).columns).lower()


# --- the kill switch -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "file-empty", "file-1", "file-true", "file-garbage"])
def test_the_kill_switch_refuses_the_run_and_keeps_the_previous_output(
    model: Path, leads: Any, tmp_path: Path, capsys: Any, monkeypatch: Any, how: str
) -> None:
    src = tmp_path / "leads.csv"
    _frame(leads, 20).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    assert _run(model, src, out) == 0
    before = out.read_bytes(), (tmp_path / "scored.rejects.csv").read_bytes()
    if how == "env":
        monkeypatch.setenv(KILL_ENV, "1")
    else:
        stop = tmp_path / "STOP"
        stop.write_bytes({"file-empty": b"", "file-1": b"1", "file-true": b"true",
                          "file-garbage": b"\xff{not json"}[how])  # fmt: skip
        monkeypatch.setenv(KILL_FILE_ENV, str(stop))
    capsys.readouterr()
    assert _run(model, src, out) == 1
    err = capsys.readouterr().err
    assert "scoring is paused by" in err
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert (out.read_bytes(), (tmp_path / "scored.rejects.csv").read_bytes()) == before
    assert _temporaries(tmp_path) == []


def test_the_kill_switch_engaged_mid_run_stops_it_and_keeps_the_previous_output(
    model: Path, leads: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    em = explainscore.load(model)
    src = tmp_path / "leads.csv"
    _frame(leads, 50).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    explain_file(em, src, out, chunk_size=50)
    before = out.read_bytes()
    stop = tmp_path / "STOP"
    monkeypatch.setenv(KILL_FILE_ENV, str(stop))
    explain = em.explain
    calls = []

    def explain_then_engage(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            stop.write_text("1")  # engaged while the run is under way
        return explain(*args, **kwargs)

    monkeypatch.setattr(em, "explain", explain_then_engage)
    with pytest.raises(ScoringPausedError, match="stopped: scoring is paused"):
        explain_file(em, src, out, chunk_size=10)
    assert out.read_bytes() == before
    assert _temporaries(tmp_path) == []


# --- atomic outputs ------------------------------------------------------------------------


def test_a_failed_run_keeps_the_previous_output_and_leaves_no_temporary(
    model: Path, leads: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    em = explainscore.load(model)
    src = tmp_path / "leads.csv"
    _frame(leads, 40).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    explain_file(em, src, out)
    before = out.read_bytes(), (tmp_path / "scored.rejects.csv").read_bytes()
    explain = em.explain
    calls = []

    def fail_on_third(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return explain(*args, **kwargs)

    monkeypatch.setattr(em, "explain", fail_on_third)
    with pytest.raises(OSError, match="No space left"):
        explain_file(em, src, out, chunk_size=10)
    assert (out.read_bytes(), (tmp_path / "scored.rejects.csv").read_bytes()) == before
    assert _temporaries(tmp_path) == []


def _wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


# A process that loads the model once, then forks one run per request, so that each SIGKILL
# costs a fork rather than an interpreter start and a model load. Each run writes chunks of
# one row, slowly enough to be killed at a chosen moment.
_HARNESS = """
import os, sys
from pathlib import Path
import explainscore
from explainscore._batch_files import explain_file
em = explainscore.load(sys.argv[1])
em._ensure_built()
src = Path(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            explain_file(em, src, Path(line.strip()), chunk_size=1, progress=False)
        finally:
            os._exit(0)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""


class _Runs:
    def __init__(self, model: Path, src: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, KILL_FILE_ENV)}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HARNESS, str(model), str(src)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def kill_during(self, out: Path, *, after_bytes: int) -> None:
        """Start a run writing ``out``; SIGKILL it once its output temporary holds
        ``after_bytes`` bytes (0: as soon as the temporary exists)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{out}\n")
        self.proc.stdin.flush()
        pid = int(self._line())
        pattern = f".{out.name}.tmp-{pid}-*"

        def ready() -> bool:
            temps = list(out.parent.glob(pattern))
            return bool(temps) and temps[0].stat().st_size >= after_bytes

        try:
            _wait_for(ready)
        finally:
            os.kill(pid, signal.SIGKILL)
        status = int(self._line())
        assert os.WIFSIGNALED(status)
        assert os.WTERMSIG(status) == signal.SIGKILL

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_kill_9_never_leaves_a_partial_file_at_the_final_path(
    model: Path, leads: Any, tmp_path: Path
) -> None:
    src = tmp_path / "leads.csv"
    frame = pd.concat([_frame(leads, 1500)] * 2, ignore_index=True)
    frame["emails_opened"] = frame["emails_opened"].astype(object)
    frame.loc[5, "emails_opened"] = "many"  # one row for the rejects file
    frame.to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    rejects = tmp_path / "scored.rejects.csv"
    runs = _Runs(model, src)
    try:
        # No earlier output: a killed run leaves nothing at the final paths.
        runs.kill_during(tmp_path / "first.csv", after_bytes=0)
        assert not (tmp_path / "first.csv").exists()
        assert not (tmp_path / "first.rejects.csv").exists()
        # An earlier complete output stays exactly as it was, whenever the run is killed.
        small = tmp_path / "small.csv"
        frame.iloc[:30].to_csv(small, index=False)
        assert _run(model, small, out) == 0
        before = out.read_bytes(), rejects.read_bytes()
        for after_bytes in (0, 1, 20_000):
            runs.kill_during(out, after_bytes=after_bytes)
            assert (out.read_bytes(), rejects.read_bytes()) == before
    finally:
        runs.close()
    # A SIGKILL may leave temporaries (hidden, named after the dead process), never more.
    for leftover in _temporaries(tmp_path):
        assert leftover.name.startswith((".first.", ".scored.csv.tmp-", ".scored.rejects.csv.tmp-"))
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {
        "leads.csv", "small.csv", "scored.csv", "scored.rejects.csv"
    }  # fmt: skip


def test_sigterm_removes_the_temporaries_and_keeps_the_previous_output(
    model: Path, leads: Any, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    src = tmp_path / "leads.csv"
    _frame(leads, 40).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    out.write_text("previous,complete\n1,2\n")
    explain = ExplainedModel.explain
    calls = []

    def explain_then_terminated(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # a real SIGTERM, delivered while the run is under way
            os.kill(os.getpid(), signal.SIGTERM)
        return explain(self, *args, **kwargs)

    monkeypatch.setattr(ExplainedModel, "explain", explain_then_terminated)
    previous = signal.getsignal(signal.SIGTERM)
    assert _run(model, src, out, "--chunk-size", "10") == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler is put back
    err = capsys.readouterr().err
    assert err == (
        "explainscore: error: stopped by SIGTERM; an earlier output file is left as it was\n"
    )
    assert out.read_text() == "previous,complete\n1,2\n"
    assert _temporaries(tmp_path) == []


# --- messages ----------------------------------------------------------------------------------


def test_expected_failures_print_one_line_without_traceback_or_file_content(
    model: Path, tmp_path: Path, capsys: Any
) -> None:
    assert _run(model, tmp_path / "missing.csv", tmp_path / "scored.csv") == 1
    err = capsys.readouterr().err
    assert err == f"explainscore: error: No such file or directory: {tmp_path / 'missing.csv'}\n"
    bad_gzip = tmp_path / "leads.csv.gz"
    bad_gzip.write_bytes(b"SECRET-ROW-VALUE,1,2\n")
    assert _run(model, bad_gzip, tmp_path / "scored.csv") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SECRET" not in err
    assert "Traceback" not in err
    assert _run(model, tmp_path / "in.csv", tmp_path / "scored.csv", "--sep", ";;") == 1
    assert "The --sep option must be one character" in capsys.readouterr().err
    assert _run(model, tmp_path / "in.csv", tmp_path / "scored.csv", "--chunk-size", "0") == 1
    assert "The --chunk-size option must be an int >= 1" in capsys.readouterr().err
    _assert_nothing_written(tmp_path, "scored.csv", "scored.rejects.csv")


def test_messages_name_flags_and_commands_not_python_arguments(
    model: Path, tmp_path: Path, capsys: Any
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("company_size\n1\n")
    assert _run(model, src, tmp_path / "o.csv", "--top-k", "0") == 1
    err = capsys.readouterr().err
    assert "The --top-k option must be" in err
    assert "'top_k'" not in err
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"not a pickle")
    assert main(["explain", str(pkl), "--input", str(src), "--output", "o.csv"]) == 1
    err = capsys.readouterr().err
    assert "--trust-pickle" in err
    assert "trust=True" not in err
    # Every Python hint the library gives, as the command line says it.
    said = {
        "Load it with trust=True only if you trust its source (the CLI: --trust).":
            "Load it with --trust-pickle only if you trust its source.",
        "pass trust=True for this file (the CLI: --trust-pickle); prefer":
            "pass --trust-pickle for this file; prefer",
        "Create one with ModelCard.for_model, have it approved with sign_off, and pass "
        "card=...; for development only, run without require_sign_off (or with "
        "--allow-unsigned).":
            "Create one with 'explainscore card MODEL', have it approved with "
            "'explainscore sign-off MODEL --key KEY'; for development only, run with "
            "--allow-unsigned.",
        "Have it approved with sign_off(card, approver=...).":
            "Have it approved with 'explainscore sign-off MODEL --key KEY'.",
        "Pass --trusted-keys FILE (Python: trusted_keys=...) or set X.":
            "Pass --trusted-keys FILE or set X.",
        "explainscore.load refused: the override(s) 'catalog', 'top_k' change what":
            "explainscore explain refused: the option(s) --catalog, --top-k change what",
        "Save the changed model and have it signed off, or load without require_sign_off "
        "(development only).":
            "Save the changed model and have it signed off, or run with --allow-unsigned "
            "(development only).",
    }  # fmt: skip
    for python, cli in said.items():
        assert cli_message(python, "explain") == cli


# --- fairness reads through the same door ----------------------------------------------------


def test_fairness_refuses_a_blocked_column_unless_it_is_the_audited_one(
    model: Path, leads: Any, tmp_path: Path, capsys: Any
) -> None:
    frame = _frame(leads, 300).drop(columns="lead_id")
    frame[BLOCKED] = np.where(np.arange(300) % 2 == 0, "f", "m")
    frame["region"] = np.where(np.arange(300) % 3 == 0, "north", "south")
    src = tmp_path / "leads.csv"
    frame.to_csv(src, index=False)
    report = tmp_path / "fairness.md"
    base = ["fairness", str(model), "--input", str(src), "--threshold", "0.25",
            "--output", str(report), "--allow-unsigned"]  # fmt: skip
    assert main([*base, "--sensitive", "region"]) == 1
    err = capsys.readouterr().err
    assert "blocks" in err
    assert BLOCKED not in err
    assert not report.exists()
    assert main([*base, "--sensitive", BLOCKED]) == 0
    assert "| f" in report.read_text() or "f" in report.read_text()
    assert _temporaries(tmp_path) == []


def test_rejects_file_is_valid_csv_with_the_documented_columns(
    model: Path, leads: Any, tmp_path: Path
) -> None:
    frame = _frame(leads, 10)
    lines = _lines(frame)
    lines[2] += ",x"
    src = _write(tmp_path / "leads.csv", lines)
    assert _run(model, src, tmp_path / "scored.csv", "--id-column", "lead_id") == 0
    with (tmp_path / "scored.rejects.csv").open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:2] == ["line", "row"]
    assert header[-2:] == ["reject_column", "reject_problem"]
    assert HIDDEN not in header
    assert header[2:-2] == [c for c in frame.columns if c != HIDDEN]


def test_sign_off_refusals_speak_the_command_line(
    model: Path, leads: Any, tmp_path: Path, capsys: Any, signers: Any, monkeypatch: Any
) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    src = tmp_path / "leads.csv"
    _frame(leads, 5).to_csv(src, index=False)
    out = str(tmp_path / "o.csv")
    assert main(["card", str(copy), "--name", "leads", "--owner-key",
                 str(signers.key_file("ana")), "--intended-use", "rank leads"]) == 0  # fmt: skip
    assert main(["sign-off", str(copy), "--key", str(signers.key_file("ben"))]) == 0
    capsys.readouterr()
    # A signed model: --catalog changes what it says, so the sign-off does not cover the run.
    catalog = tmp_path / "catalog.json"
    catalog.write_text('{"features": {"pages_viewed": {"label": "pages seen"}}}')
    code = main(["explain", str(copy), "--input", str(src), "--output", out,
                 "--catalog", str(catalog)])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "the option(s) --catalog" in err
    assert "require_sign_off" not in err
    assert "--allow-unsigned" in err
    assert "'catalog'" not in err
    assert "--top-k keeps the sign-off." in err
    assert "audit_log" not in err
    # No keyring configured: the flag and the variable, not the Python argument.
    monkeypatch.delenv("EXPLAINSCORE_TRUSTED_KEYS")
    assert main(["explain", str(copy), "--input", str(src), "--output", out]) == 1
    err = capsys.readouterr().err
    assert "--trusted-keys" in err
    assert "trusted_keys=" not in err
    assert "Python" not in err
    assert err.startswith("explainscore: error: explainscore explain refused")
    assert not Path(out).exists()


def test_a_parquet_input_with_a_blocked_column_is_refused(
    model: Path, leads: Any, tmp_path: Path, capsys: Any
) -> None:
    pytest.importorskip("pyarrow")
    frame = _frame(leads, 10)
    frame["GENDER"] = "SECRET-VALUE"
    src = tmp_path / "leads.parquet"
    frame.to_parquet(src)
    assert _run(model, src, tmp_path / "scored.parquet") == 1
    err = capsys.readouterr().err
    assert "blocks (blocked entry 1)" in err
    assert "gender" not in err.lower()
    _assert_nothing_written(tmp_path, "scored.parquet", "scored.rejects.parquet")


# --- the reader alone ------------------------------------------------------------------------


def _read_all(path: Path, content: bytes, chunk: int = 100) -> tuple[list[Any], list[Any]]:
    """(parsed rows as (line, row, fields), problems as (line, row, problem start))."""
    from explainscore._csv_reader import CsvRows

    path.write_bytes(content)
    parsed, problems = [], []
    with CsvRows(path, sep=",", chunk_size=chunk) as reader:
        for c in reader.chunks():
            assert c.count == len(c.rows) + len(c.problems)
            parsed += list(zip(c.lines, c.positions, c.rows, strict=True))
            problems += [(p.line, p.row, p.problem[:24]) for p in c.problems]
    return parsed, problems


@pytest.mark.parametrize(
    ("content", "parsed", "problems"),
    [
        (b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n", [(2, 0, ["1", "2"]), (3, 1, ["3", "4"])], []),
        (b"a,b\r1,2\r3,4\r", [(2, 0, ["1", "2"]), (3, 1, ["3", "4"])], []),
        (b'a,b\n"x"y,2\n3,4\n', [(3, 1, ["3", "4"])], [(2, 0, "a quoted field is follow")]),
        (b"a,b\n" + b"x" * 200_000 + b",1\n3,4\n", [(3, 1, ["3", "4"])],
         [(2, 0, "a field is longer than t")]),
        (b'a,b\n1,2\n"3,4\n5,6\n7,8', [(2, 0, ["1", "2"]), (4, 2, ["5", "6"]), (5, 3, ["7", "8"])],
         [(3, 1, "a quoted field starts on")]),
        (b'a,b\n"1\n2",3\n\n4,5\n', [(2, 0, ["1\n2", "3"]), (5, 1, ["4", "5"])], []),
    ],
    ids=["bom-crlf", "cr-only", "char-after-quote", "field-over-limit", "quote-to-eof",
         "quoted-newline-and-blank-line"],
)  # fmt: skip
def test_the_reader_accounts_for_every_record(
    tmp_path: Path, content: bytes, parsed: list[Any], problems: list[Any]
) -> None:
    for chunk in (1, 2, 100):  # the same answer whatever the chunk boundaries
        assert _read_all(tmp_path / "in.csv", content, chunk) == (parsed, problems)


def test_a_missing_hidden_model_column_is_not_named(
    model: Path, leads: Any, tmp_path: Path, capsys: Any
) -> None:
    src = tmp_path / "leads.csv"
    _frame(leads, 5).drop(columns=[HIDDEN, "pages_viewed"]).to_csv(src, index=False)
    assert _run(model, src, tmp_path / "scored.csv") == 1
    err = capsys.readouterr().err
    assert "lacks 'pages_viewed', a hidden column, which the model was built on" in err
    assert HIDDEN not in err
    _assert_nothing_written(tmp_path, "scored.csv", "scored.rejects.csv")
