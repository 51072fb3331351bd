"""The command line: explain files in chunks with rejects, card and sign-off, exit codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import explainscore
from explainscore import ExplainedModel
from explainscore.cli import main


@pytest.fixture(scope="module")
def saved(leads, tmp_path_factory):
    X, y = leads
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["industry", "lead_source"]),
            remainder=StandardScaler(),
        ),
        LogisticRegression(max_iter=2000),
    )
    em = ExplainedModel(pipe).fit(X, y)
    path = tmp_path_factory.mktemp("m") / "model"
    explainscore.save(em, path)
    return path, em


def _input(leads, tmp_path, n=250):
    X, _ = leads
    frame = X.iloc[:n].copy()
    frame.insert(0, "lead_id", [f"L{i:05d}" for i in range(n)])
    frame["pages_viewed"] = frame["pages_viewed"].astype(object)
    if n > 123:
        frame.iloc[7, frame.columns.get_loc("pages_viewed")] = "lots"
        frame.iloc[123, frame.columns.get_loc("company_size")] = np.nan
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_explain_file_every_row_accounted_for(saved, leads, tmp_path, capsys) -> None:
    model, em = saved
    src, frame = _input(leads, tmp_path)
    out = tmp_path / "scored.csv"
    code = main([
        "explain", str(model), "--input", str(src), "--output", str(out),
        "--chunk-size", "64", "--id-column", "lead_id", "--allow-unsigned",
    ])  # fmt: skip
    assert code == 0
    scored = pd.read_csv(out, keep_default_na=False)
    rejects = pd.read_csv(tmp_path / "scored.rejects.csv")
    assert len(scored) + len(rejects) == len(frame)
    assert sorted(rejects["row"]) == [7, 123]
    assert set(rejects["reject_column"]) == {"pages_viewed", "company_size"}
    assert rejects.set_index("row").loc[7, "lead_id"] == "L00007"
    assert "explained 248 of 250 rows, rejected 2" in capsys.readouterr().out
    good = frame.drop(index=[7, 123]).drop(columns="lead_id")
    good["pages_viewed"] = good["pages_viewed"].astype(int)
    expected = em.explain(good)
    np.testing.assert_allclose(scored["score"], expected.scores, atol=1e-12)
    assert list(scored["lead_id"]) == list(frame.drop(index=[7, 123])["lead_id"])
    assert scored["reason"].str.len().max() <= 255
    assert {"reason_code_1", "contrib_pages_viewed", "model_version"} <= set(scored.columns)


def test_parquet_in_and_out(saved, leads, tmp_path) -> None:
    pytest.importorskip("pyarrow")
    model, _ = saved
    X, _ = leads
    src = tmp_path / "leads.parquet"
    X.iloc[:100].to_parquet(src)
    out = tmp_path / "scored.parquet"
    assert main(["explain", str(model), "--input", str(src), "--output", str(out),
                 "--allow-unsigned", "--chunk-size", "30"]) == 0  # fmt: skip
    assert len(pd.read_parquet(out)) == 100


def test_unsigned_model_is_refused_in_one_line(saved, leads, tmp_path, capsys) -> None:
    model, _ = saved
    src, _ = _input(leads, tmp_path, n=10)
    code = main(["explain", str(model), "--input", str(src), "--output", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(
        "explainscore: error: explainscore explain refused: the model has no model card"
    )
    assert err.count("\n") == 1
    assert "Traceback" not in err
    # The command line's words, not Python's.
    assert "'explainscore card" in err
    assert "'explainscore sign-off" in err
    assert "--allow-unsigned" in err
    for python in ("require_sign_off", "ModelCard", "sign_off", "card="):
        assert python not in err


def test_card_sign_off_then_production_run(saved, leads, tmp_path, capsys, signers) -> None:
    import shutil

    model, _ = saved
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    src, _ = _input(leads, tmp_path, n=20)
    ana, ben = signers.key_file("ana"), signers.key_file("ben")
    assert main(["card", str(copy), "--name", "leads", "--owner-key", str(ana),
                 "--intended-use", "rank leads"]) == 0  # fmt: skip
    assert main(["sign-off", str(copy), "--key", str(ana)]) == 1  # owner may not approve
    assert "belongs to the model's owner" in capsys.readouterr().err
    assert main(["sign-off", str(copy), "--key", str(ben)]) == 0
    assert (
        main(["explain", str(copy), "--input", str(src), "--output", str(tmp_path / "o.csv")]) == 0
    )


def test_usage_and_user_errors(saved, tmp_path, capsys) -> None:
    model, _ = saved
    with pytest.raises(SystemExit) as info:
        main(["explain", str(model)])  # --input missing
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert main(["explain", str(tmp_path / "none"), "--input", "x.csv", "--output", "y.csv"]) == 1
    assert "No saved model" in capsys.readouterr().err
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"not really a pickle")
    assert main(["explain", str(pkl), "--input", "x.csv", "--output", "y.csv"]) == 1
    assert "--trust-pickle" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    ["demo", "explain", "serve", "card", "sign-off", "keys", "audit", "fairness", "bench"],
)
def test_every_subcommand_has_help(command, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: explainscore" in capsys.readouterr().out


def test_fairness_report_from_the_command_line(saved, leads, tmp_path, capsys) -> None:
    model, _ = saved
    X, _ = leads
    frame = X.iloc[:400].copy()
    frame["region"] = np.where(np.arange(400) % 3 == 0, "north", "south")
    src = tmp_path / "leads.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "fairness.html"
    code = main(["fairness", str(model), "--input", str(src), "--sensitive", "region",
                 "--threshold", "0.25", "--output", str(out), "--allow-unsigned"])  # fmt: skip
    assert code == 0
    html = out.read_text()
    assert "north" in html
    assert "south" in html
    assert "<table" in html
    assert "group(s) below four-fifths" in capsys.readouterr().out
    assert main(["fairness", str(model), "--input", str(src), "--sensitive", "gender",
                 "--threshold", "0.25", "--output", str(out), "--allow-unsigned"]) == 1  # fmt: skip


def test_python_dash_m_runs_the_same_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "explainscore", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == f"explainscore {explainscore.__version__}"
