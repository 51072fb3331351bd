"""Benchmark the paths users take, against shap and the native library in the same run.

Usage::

    python benchmarks/bench_paths.py [--quick] [--only SECTION ...]

Sections (issue 16, "Benchmarks of the user paths"), all measured in one run:

1. ``forms``: ``explain_one`` p50/p99 on the benchmark XGBoost model (300 trees, depth 6, 40
   columns) for each input form (dict, 1-D array, Series, 1-row DataFrame ``X.iloc[[i]]``,
   list of one dict), governance off and on (an ``AuditLog`` with ``durability="os"`` and
   ``"full"``, ``ReviewRules``, a ``Policy`` hiding a column); the anchor is shap's
   ``TreeExplainer(model).shap_values(row)`` on a numpy row, timed in the same run.
2. ``bank``: the bundled bank Pipeline (one-hot + XGBoost, as ``explainscore._demo``):
   ``explain_one`` for a known lead, a lead with an unseen category and one with a missing
   value; the anchor is shap on the Pipeline's XGBoost with the lead's transformed numpy row.
3. ``batch``: ``explain`` on 5,000 rows end to end (score, attributions, reasons, codes) in
   rows/s against XGBoost's native ``pred_contribs``; the kernel alone
   (``em.engine_.attributor.attribute`` on the model-space array) and the reason composition
   alone (``engine.writer.compose`` + ``render`` for every row, as ``_explain_frame`` does it)
   timed on the same rows, as shares of the end-to-end time.
4. ``cold``: fresh subprocesses, repeated (min / median): ``python -c "import explainscore"``,
   ``explainscore --version``, ``explainscore explain MODEL --allow-unsigned`` on 100 bank
   rows with a warm numba cache and with an empty one (``EXPLAINSCORE_CACHE_DIR`` a fresh
   temporary directory each run).
5. ``sidecar``: ``explainscore.service.serve`` (2 workers) on the saved bank Pipeline, without
   and with an SQLite audit log, p50/p99 at 1 and 4 clients (reuses ``bench_service.py``'s
   client). Full run only unless ``--only sidecar`` is given.
6. ``spark``: ``explain_dataframe`` on Spark ``local[2]`` against in-process ``explain`` on the
   same rows (100k; 10k with ``--quick``), and the first task's time on a fresh worker after
   ``explainscore warmup``. Skipped with a note without pyspark or Java.

Writes ``benchmarks/results/paths.md`` and ``benchmarks/results/paths.json``. No figure is
hard-coded: every number in the report is measured by this script in this run; the issue's
targets are the only constants.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

import pandas as pd  # noqa: E402
import shap  # noqa: E402
import xgboost as xgb  # noqa: E402
from _timing import N_FEATURES, best_time, make_data  # noqa: E402

import explainscore  # noqa: E402
from explainscore import ExplainedModel  # noqa: E402

SECTIONS = ["forms", "bank", "batch", "cold", "sidecar", "spark"]
BATCH = 5_000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# The targets (issue 16, "Targets"); the only constants in the report.
T_ONE_VS_SHAP = 15.0  # explain_one >= 15x shap, every form, governance on, Pipeline leads
T_P99_OVER_P50 = 3.0  # p99 <= 3x p50
T_BATCH_VS_NATIVE = 30.0  # explain end to end >= 30x native pred_contribs
T_REASON_SHARE = 0.25  # reason composition <= 25% of batch time
T_SIDECAR_P99_1 = 5.0  # ms, audit log on, 1 client
T_SIDECAR_AUDIT_OVER_PLAIN = 2.0  # p99 with the log <= 2x p99 without
T_IMPORT_S = 1.0
T_VERSION_S = 0.5
T_CLI_WARM_S = 2.0
T_CLI_EMPTY_S = 8.0
T_SPARK_FIRST_TASK_S = 3.0
T_SPARK_VS_INPROC = 0.9


def _quiet_shap(explainer: Any) -> Callable[[np.ndarray], Any]:
    def run(A: np.ndarray) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return explainer.shap_values(A)

    return run


#: Seconds one latency cell may take (after ``MIN_CALLS``); set by ``main`` for ``--quick``.
BUDGET_S = 20.0
MIN_CALLS = 50


def _lat(fn: Callable[[Any], Any], inputs: list[Any], reps: int, warm: int = 20) -> dict[str, Any]:
    """p50 / p99 (ms) of ``fn`` over ``reps`` calls cycling through ``inputs`` (fewer, but at
    least ``MIN_CALLS``, when the calls take longer than ``BUDGET_S`` in all)."""
    for i in range(min(warm, reps)):
        fn(inputs[i % len(inputs)])
    times: list[float] = []
    stop = time.perf_counter() + BUDGET_S
    for i in range(reps):
        if i >= MIN_CALLS and time.perf_counter() > stop:
            break
        x = inputs[i % len(inputs)]
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    ms = np.asarray(times) * 1e3
    p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
    return {"p50_ms": p50, "p99_ms": p99, "p99_over_p50": p99 / p50, "calls": len(times)}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


# --- 1. input forms and governance ---------------------------------------------------------


def bench_model(quick: bool) -> dict[str, Any]:
    """The benchmark XGBoost model of ``bench_tree.py`` (same data builder and settings),
    fitted on named columns so that dicts, Series and DataFrames can name them."""
    X, y = make_data(BATCH + (8_000 if quick else 20_000))
    names = [f"feat_{i}" for i in range(N_FEATURES)]  # not x0..: a policy needs real names
    Xtr, ytr, Xte = X[BATCH:], y[BATCH:], X[:BATCH]
    model = xgb.XGBClassifier(n_estimators=300, max_depth=6, n_jobs=1, random_state=0)
    model.fit(pd.DataFrame(Xtr, columns=names), ytr)
    booster = model.get_booster()
    booster.set_param({"nthread": 1})
    return {"model": model, "booster": booster, "names": names, "X": Xte, "Xtr": Xtr}


def forms(bm: dict[str, Any], workdir: Path, quick: bool) -> dict[str, Any]:
    from explainscore.governance import AuditLog, Policy, ReviewRules

    model, names, X = bm["model"], bm["names"], bm["X"]
    reps = 200 if quick else 2000
    reps_full = 100 if quick else 1000  # a durable audit append per call
    frame = pd.DataFrame(X, columns=names)
    background = pd.DataFrame(bm["Xtr"][:500], columns=names)
    n = 200
    inputs = {
        "dict": frame[:n].to_dict("records"),  # missing values as float NaN
        "dict from JSON (None for missing)": [
            {k: _plain(v) for k, v in r.items()} for r in frame[:n].to_dict("records")
        ],
        "1-D array": [X[i] for i in range(n)],
        "Series": [frame.iloc[i] for i in range(n)],
        "1-row DataFrame (X.iloc[[i]])": [frame.iloc[[i]] for i in range(n)],
        "list of one dict": None,
    }
    inputs["list of one dict"] = [[d] for d in inputs["dict"]]

    explainer = shap.TreeExplainer(model)
    run_shap = _quiet_shap(explainer)
    shap_lat = _lat(run_shap, [X[i : i + 1] for i in range(n)], 50 if quick else 300, warm=5)

    plain = ExplainedModel(model, background=background, top_k=3)
    # Governance on: a hidden column (policy), review rules, an audit log.
    governed = ExplainedModel(
        model,
        background=background,
        top_k=3,
        policy=Policy(hidden=(names[-1],), version="bench"),
        review=ReviewRules(threshold=0.5),
    )
    configs: list[tuple[str, ExplainedModel, Any]] = [("off", plain, None)]
    for durability in ("os", "full"):
        configs.append((f"on, audit {durability}", governed, durability))
    rows: list[dict[str, Any]] = []
    for label, em, durability in configs:
        log = None
        if durability is not None:
            log = AuditLog(workdir / f"forms-{durability}.db", durability=durability)
        em.set_params(audit_log=log)
        for form, xs in inputs.items():
            row: dict[str, Any] = {"form": form, "governance": label}
            try:
                r = reps_full if durability == "full" else reps
                row.update(_lat(em.explain_one, xs, r))
                row["vs_shap"] = shap_lat["p50_ms"] / row["p50_ms"]
            except Exception as exc:  # one failing form does not stop the others
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            rows.append(row)
            print(
                f"forms: {form} / {label}: {row.get('p50_ms', row.get('error'))}", file=sys.stderr
            )
        if log is not None:
            em.set_params(audit_log=None)
            log.close()
    # Each governance piece alone, on a dict.
    singles = [
        ("policy (hidden column) only", governed, {"review": None, "audit_log": None}),
        ("review rules only", plain, {"review": ReviewRules(threshold=0.5)}),
    ]
    for label, em, params in singles:
        em.set_params(**params)
        row = {"form": "dict", "governance": label}
        try:
            row.update(_lat(em.explain_one, inputs["dict"], reps))
            row["vs_shap"] = shap_lat["p50_ms"] / row["p50_ms"]
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
        rows.append(row)
    plain.set_params(review=None)
    for durability in ("os", "full"):
        log = AuditLog(workdir / f"alone-{durability}.db", durability=durability)
        plain.set_params(audit_log=log)
        row = {"form": "dict", "governance": f"audit log {durability} only"}
        try:
            row.update(
                _lat(plain.explain_one, inputs["dict"], reps_full if durability == "full" else reps)
            )
            row["vs_shap"] = shap_lat["p50_ms"] / row["p50_ms"]
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
        rows.append(row)
        plain.set_params(audit_log=None)
        log.close()
    return {"shap_numpy_row": shap_lat, "rows": rows}


# --- 2. the bank Pipeline ------------------------------------------------------------------


def bank_model() -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    from explainscore._demo import build_pipeline
    from explainscore.datasets import load_bank_catalog, load_bank_marketing

    X, y = load_bank_marketing()
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    pipe = build_pipeline(X_train)
    pipe.set_params(model__n_jobs=1)
    em = ExplainedModel(pipe, top_k=3, catalog=load_bank_catalog())
    em.fit(X_train, y_train)
    # fit fits a clone: the fitted Pipeline is the model's ``model_``.
    return {"em": em, "pipe": em.model_, "X_test": X_test.reset_index(drop=True)}


def bank(bk: dict[str, Any], quick: bool) -> dict[str, Any]:
    em, pipe, X_test = bk["em"], bk["pipe"], bk["X_test"]
    reps = 200 if quick else 2000
    n = 200
    leads = [{k: _plain(v) for k, v in r.items()} for r in X_test[:n].to_dict("records")]
    categorical = [c for c in X_test.columns if not pd.api.types.is_numeric_dtype(X_test[c])]
    numeric = [c for c in X_test.columns if c not in categorical]
    unseen = [dict(d, **{categorical[0]: "a-category-never-seen"}) for d in leads]
    missing = [dict(d, **{numeric[0]: None}) for d in leads]
    # The anchor: shap on the Pipeline's XGBoost with the lead's transformed numpy row.
    pre, clf = pipe[:-1], pipe[-1]
    Z = pre.transform(X_test[:n])
    Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
    Z = np.asarray(Z, dtype=np.float64)
    run_shap = _quiet_shap(shap.TreeExplainer(clf))
    shap_lat = _lat(run_shap, [Z[i : i + 1] for i in range(n)], 50 if quick else 300, warm=5)
    out: dict[str, Any] = {
        "shap_numpy_row": shap_lat,
        "unseen_column": categorical[0],
        "missing_column": numeric[0],
        "rows": [],
    }
    lane = getattr(getattr(em, "engine_", None), "lane", None)
    for label, xs in (("known lead", leads), (f"unseen category ({categorical[0]})", unseen),
                      (f"missing value ({numeric[0]})", missing)):  # fmt: skip
        row: dict[str, Any] = {"lead": label}
        try:
            row.update(_lat(em.explain_one, xs, reps))
            row["vs_shap"] = shap_lat["p50_ms"] / row["p50_ms"]
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
        if lane is not None and hasattr(lane, "accept"):
            with contextlib.suppress(Exception):  # the lane's API is internal: a bonus figure
                row["fast_lane_share"] = float(np.mean([lane.accept(x) is not None for x in xs]))
        out["rows"].append(row)
    return out


# --- 3. batch: end to end, kernel alone, reasons alone ---------------------------------------


def batch(bm: dict[str, Any], quick: bool) -> dict[str, Any]:
    model, booster, names, X = bm["model"], bm["booster"], bm["names"], bm["X"]
    repeats = 2 if quick else 3
    frame = pd.DataFrame(X[:BATCH], columns=names)
    em = ExplainedModel(model, background=pd.DataFrame(bm["Xtr"][:500], columns=names), top_k=3)
    em.explain(frame[:50])  # build and compile
    t_e2e = best_time(lambda: em.explain(frame), repeats)
    out: dict[str, Any] = {"rows": BATCH, "explain_rows_s": BATCH / t_e2e, "explain_s": t_e2e}
    n_native = 1_000 if quick else BATCH
    native = X[:n_native]
    t_nat = best_time(
        lambda: booster.predict(xgb.DMatrix(native, feature_names=names, nthread=1),
                                pred_contribs=True),
        repeats,
    )  # fmt: skip
    out["native_rows"] = n_native
    out["native_rows_s"] = n_native / t_nat
    out["vs_native"] = out["explain_rows_s"] / out["native_rows_s"]
    engine = em.engine_
    try:
        from explainscore._model import _model_space

        A = _model_space(engine.structure, engine.schema, frame)
        out["kernel_input"] = (
            "explainscore._model._model_space(engine.structure, engine.schema, frame)"
        )
    except Exception as exc:  # the helper moved: a bare model's model space is its columns
        A = frame.to_numpy(dtype=np.float64)
        out["kernel_input"] = f"frame.to_numpy(float64) ({type(exc).__name__} from _model_space)"
    t_kernel = best_time(lambda: engine.attributor.attribute(A), repeats)
    out["kernel_s"] = t_kernel
    out["kernel_rows_s"] = BATCH / t_kernel
    out["kernel_vs_native"] = out["kernel_rows_s"] / out["native_rows_s"]
    out["outside_kernel_share"] = max(0.0, 1 - t_kernel / t_e2e)
    # Reason composition alone: what ``_explain_frame`` does after the kernel (all rows'
    # reasons and codes at once, ``writer.compose_batch``), timed on the kernel's output.
    try:
        result = engine.attributor.attribute(A)
        scores = (
            engine.final_fns[0](A)
            if engine.final_fns is not None
            else model.predict_proba(frame)[:, 1]
        )
        writer = engine.writer
        actions = [None] * BATCH

        def compose() -> None:
            writer.compose_batch(scores, result.values, frame, actions)

        t_reason = best_time(compose, repeats)
        out["reasons_s"] = t_reason
        out["reason_share"] = t_reason / t_e2e
        out["reason_method"] = (
            "engine.writer.compose_batch(scores, values, frame, actions) for the 5,000 rows, as "
            "`_explain_frame` calls it, timed alone on the kernel's output (next best action "
            "off, as the default model has no catalog)"
        )
    except Exception as exc:
        out["reason_error"] = f"{type(exc).__name__}: {exc}"[:200]
    # A profile as a cross-check: cumulative time inside explainscore.reasons during explain.
    try:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        em.explain(frame)
        prof.disable()
        stats = pstats.Stats(prof)
        total = stats.total_tt  # type: ignore[attr-defined]
        reasons_pkg = os.sep + os.path.join("explainscore", "reasons") + os.sep
        own = sum(v[2] for k, v in stats.stats.items() if reasons_pkg in k[0])  # type: ignore[attr-defined]
        out["profile_reasons_share"] = own / total if total else None
    except Exception as exc:
        out["profile_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return out


# --- 4. cold processes -----------------------------------------------------------------------


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("explainscore")
    return [str(script)] if script.exists() else [sys.executable, "-m", "explainscore"]


def _time_proc(cmd: list[str], env: dict[str, str], runs: int, fresh_cache: Path | None = None,
               ) -> dict[str, Any]:  # fmt: skip
    times, codes = [], []
    for k in range(runs):
        run_env = dict(env)
        if fresh_cache is not None:
            cache = fresh_cache / f"empty-{k}"
            cache.mkdir(parents=True)
            run_env["EXPLAINSCORE_CACHE_DIR"] = str(cache)
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        codes.append(proc.returncode)
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200], "runs": k + 1}
    return {"min_s": min(times), "median_s": statistics.median(times), "max_s": max(times),
            "runs": runs}  # fmt: skip


def cold(bk: dict[str, Any], workdir: Path, quick: bool) -> dict[str, Any]:
    runs = 3 if quick else 5
    model_dir = explainscore.save(bk["em"], workdir / "bank-model")
    csv = workdir / "leads100.csv"
    bk["X_test"].head(100).to_csv(csv, index=False)
    base = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    base.update(ONE_THREAD)
    base["PYTHONPATH"] = str(ROOT / "src")
    warm_cache = workdir / "warm-cache"
    warm_cache.mkdir()
    warm_env = dict(base, EXPLAINSCORE_CACHE_DIR=str(warm_cache))
    cli = _cli()
    explain = [*cli, "explain", str(model_dir), "--allow-unsigned", "--input", str(csv),
               "--output", str(workdir / "out.csv")]  # fmt: skip
    out: dict[str, Any] = {"command": " ".join(Path(c).name for c in cli), "runs": runs}
    # A tree bundle the tables reproduce runs from its compiled form, without scikit-learn.
    out["compiled_form"] = (model_dir / "compiled.npz").is_file()
    out["import"] = _time_proc([sys.executable, "-c", "import explainscore"], warm_env, runs)
    out["version"] = _time_proc([*cli, "--version"], warm_env, runs)
    # Fill the warm cache with one untimed run, then time warm runs.
    subprocess.run(explain, env=warm_env, capture_output=True)
    out["cli_warm"] = _time_proc(explain, warm_env, runs)
    out["cli_empty"] = _time_proc(explain, base, runs, fresh_cache=workdir / "empty")
    out["model_dir"] = str(model_dir)
    return out


# --- 5. the sidecar --------------------------------------------------------------------------

FACTORY = """
import os

def build():
    from explainscore import load
    from explainscore.governance import AuditLog
    return load(os.environ["BENCH_PATHS_MODEL"], require_sign_off=False,
                audit_log=AuditLog(os.environ["BENCH_PATHS_AUDIT"]))
"""


def sidecar(bk: dict[str, Any], model_dir: Path, workdir: Path, quick: bool) -> dict[str, Any]:
    import secrets

    import httpx
    from bench_service import HOST, free_port, run_phase, start_server

    leads = [
        {k: _plain(v) for k, v in r.items()} for r in bk["X_test"].head(2000).to_dict("records")
    ]
    n, seconds = (300, 20.0) if quick else (2000, 90.0)
    token = secrets.token_urlsafe(32)
    token_file = workdir / "tokens"
    token_file.write_text(f"bench:{token}\n", encoding="utf-8")
    out: dict[str, Any] = {"workers": 2}

    def phase(url: str, clients: int) -> dict[str, Any]:
        # The client shares the 2 CPUs with the server: its own CPU time per request (this
        # process is only the client during a phase) is reported beside the latencies.
        cpu = time.process_time()
        got = run_phase(url, token, leads, clients=clients, n=n, seconds=seconds)
        got["client_cpu_ms"] = round((time.process_time() - cpu) / max(got["requests"], 1) * 1e3, 2)
        return got

    def phases(url: str) -> dict[str, Any]:
        run_phase(url, token, leads, clients=2, n=60, seconds=60)  # warm-up, both workers
        return {f"{c}": phase(url, c) for c in (1, 4)}

    port = free_port()
    proc = start_server(model_dir, token_file, port, 2)
    try:
        out["plain"] = phases(f"http://{HOST}:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    (workdir / "bench_paths_factory.py").write_text(FACTORY, encoding="utf-8")
    port = free_port()
    code = (
        "from explainscore.service import ServiceConfig, serve\n"
        "config = ServiceConfig(workers=2, factory='bench_paths_factory:build', "
        f"token_file={str(token_file)!r}, require_sign_off=False, log_level='warning')\n"
        f"serve(None, name='bank', host={HOST!r}, port={port}, config=config)\n"
    )
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{workdir}",
           "BENCH_PATHS_MODEL": str(model_dir), "BENCH_PATHS_AUDIT": str(workdir / "sidecar.db")}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server with the audit log did not start")
            time.sleep(0.2)
        out["audit"] = phases(url)
        out["audit_log"] = "SQLite, durability 'full' (the default), shared by both workers"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


# --- 6. Spark --------------------------------------------------------------------------------


def spark(bk: dict[str, Any], model_dir: Path, workdir: Path, quick: bool) -> dict[str, Any]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return {"skipped": "pyspark is not installed"}
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return {"skipped": "no Java runtime (java not on PATH, JAVA_HOME unset)"}
    from pyspark.sql import SparkSession

    from explainscore.spark import explain_dataframe

    n = 10_000 if quick else 100_000
    em = bk["em"]
    base = bk["X_test"]
    reps = int(np.ceil(n / len(base)))
    rows = pd.concat([base] * reps, ignore_index=True).head(n)
    # The workers start after ``explainscore warmup``, as an image or a cluster's init script
    # would run it; on the cache the ``cold`` section filled when it ran (warmup then only
    # checks it), else on an empty per-run cache (warmup compiles every kernel).
    cache = workdir / "warm-cache"
    if not cache.exists():
        cache = workdir / "spark-cache"
    os.environ.pop("NUMBA_CACHE_DIR", None)
    os.environ.update(ONE_THREAD)
    os.environ.update({"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
                       "EXPLAINSCORE_CACHE_DIR": str(cache)})  # fmt: skip
    os.environ["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    # "partly filled": the CLI runs compiled only the variants they used; warmup compiles the
    # rest (every model kind, margins in float32 and float64, one and two threads).
    out: dict[str, Any] = {
        "rows": n,
        "warmup_cache": "partly filled (by the CLI runs)" if cache.exists() else "empty",
    }
    t = time.perf_counter()
    warm = subprocess.run([*_cli(), "warmup"], env=dict(os.environ), capture_output=True, text=True)
    out["warmup_s"] = time.perf_counter() - t
    out["warmup_rc"] = warm.returncode
    t = time.perf_counter()
    em.explain(rows)
    out["in_process_s"] = time.perf_counter() - t
    out["in_process_rows_s"] = n / out["in_process_s"]
    t = time.perf_counter()
    session = (
        SparkSession.builder.master("local[2]").appName("bench_paths")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.python.worker.reuse", "true").config("spark.driver.memory", "2g")
        # Workers forked from a daemon that ran ``explainscore warmup`` (docs/spark.md).
        .config("spark.python.daemon.module", "explainscore._spark_daemon")
        .getOrCreate()
    )  # fmt: skip
    session.sparkContext.setLogLevel("ERROR")
    out["session_s"] = time.perf_counter() - t
    try:
        pq = workdir / "rows.parquet"
        rows.to_parquet(pq, index=False)
        sdf = session.read.parquet(str(pq))
        out["input_partitions"] = sdf.rdd.getNumPartitions()
        first = session.createDataFrame(base.head(1000)).coalesce(1)
        first.cache().count()  # the rows are in the JVM before the clock starts
        # Start the daemon (its warm-up) and both workers with a job that needs no model.
        t = time.perf_counter()
        session.sparkContext.parallelize(range(2), 2).map(lambda x: x).collect()
        out["daemon_start_s"] = time.perf_counter() - t
        # Spark's own first Arrow job (the JVM side of mapInPandas), with no model: a warm-up
        # every first job pays, whatever it runs.
        t = time.perf_counter()
        first.mapInPandas(lambda it: (pdf.head(0) for pdf in it), first.schema).count()
        out["arrow_warmup_s"] = time.perf_counter() - t
        t = time.perf_counter()
        explain_dataframe(first, em).count()  # fresh Python worker: its first task
        out["first_task_s"] = time.perf_counter() - t
        explain_dataframe(first, em).count()  # both workers started, the model shipped
        t = time.perf_counter()
        explain_dataframe(sdf, em).count()
        out["spark_s"] = time.perf_counter() - t
        out["spark_rows_s"] = n / out["spark_s"]
        out["vs_in_process"] = out["spark_rows_s"] / out["in_process_rows_s"]
    finally:
        session.stop()
    return out


# --- report ----------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def _f(v: float | None, nd: int = 2) -> str:
    return "—" if v is None else f"{v:,.{nd}f}"


def table(r: dict[str, Any]) -> list[str]:
    """One row per figure: the figure, its anchor, the ratio, the target and met / not met."""
    lines = [
        "| path | figure | anchor (same run) | ratio | target | verdict |",
        "|---|---:|---:|---:|---|---|",
    ]

    def add(path: str, fig: str, anchor: str, ratio: str, target: str, ok: bool | None) -> None:
        lines.append(f"| {path} | {fig} | {anchor} | {ratio} | {target} | {_verdict(ok)} |")

    fm = r.get("forms")
    if fm and "rows" in fm:
        s = fm["shap_numpy_row"]["p50_ms"]
        for row in fm["rows"]:
            name = f"`explain_one({row['form']})`, governance {row['governance']}"
            if "error" in row:
                add(name, "failed: " + row["error"].replace("|", "/"), "", "", "", False)
                continue
            add(name, f"p50 {_f(row['p50_ms'], 3)} ms", f"shap p50 {_f(s, 3)} ms",
                f"{row['vs_shap']:.1f}x", f">= {T_ONE_VS_SHAP:g}x shap",
                row["vs_shap"] >= T_ONE_VS_SHAP)  # fmt: skip
            add(name + ": tail", f"p99 {_f(row['p99_ms'], 3)} ms", f"own p50 {_f(row['p50_ms'], 3)} ms",
                f"{row['p99_over_p50']:.1f}x", f"p99 <= {T_P99_OVER_P50:g}x p50",
                row["p99_over_p50"] <= T_P99_OVER_P50)  # fmt: skip
    bk = r.get("bank")
    if bk and "rows" in bk:
        s = bk["shap_numpy_row"]["p50_ms"]
        for row in bk["rows"]:
            name = f"bank Pipeline `explain_one`, {row['lead']}"
            if "fast_lane_share" in row:
                name += f" (fast lane {100 * row['fast_lane_share']:.0f}%)"
            if "error" in row:
                add(name, "failed: " + row["error"].replace("|", "/"), "", "", "", False)
                continue
            add(name, f"p50 {_f(row['p50_ms'], 3)} ms", f"shap p50 {_f(s, 3)} ms (model-space row)",
                f"{row['vs_shap']:.1f}x", f">= {T_ONE_VS_SHAP:g}x shap",
                row["vs_shap"] >= T_ONE_VS_SHAP)  # fmt: skip
            add(name + ": tail", f"p99 {_f(row['p99_ms'], 3)} ms", f"own p50 {_f(row['p50_ms'], 3)} ms",
                f"{row['p99_over_p50']:.1f}x", f"p99 <= {T_P99_OVER_P50:g}x p50",
                row["p99_over_p50"] <= T_P99_OVER_P50)  # fmt: skip
    b = r.get("batch")
    if b and "explain_rows_s" in b:
        add(f"`explain({b['rows']:,} rows)` with reasons and codes",
            f"{_f(b['explain_rows_s'], 0)} rows/s", f"native `pred_contribs` {_f(b['native_rows_s'], 0)} rows/s",
            f"{b['vs_native']:.1f}x", f">= {T_BATCH_VS_NATIVE:g}x native",
            b["vs_native"] >= T_BATCH_VS_NATIVE)  # fmt: skip
        add("attribution kernel alone (same rows)", f"{_f(b['kernel_rows_s'], 0)} rows/s",
            f"native {_f(b['native_rows_s'], 0)} rows/s", f"{b['kernel_vs_native']:.1f}x",
            "(kernel about 35x)", None)  # fmt: skip
        if "reason_share" in b:
            add("reason composition share of `explain`", f"{100 * b['reason_share']:.0f}%",
                f"end to end {_f(b['explain_s'] * 1e3, 0)} ms",
                f"outside the kernel {100 * b['outside_kernel_share']:.0f}%",
                f"<= {100 * T_REASON_SHARE:.0f}%", b["reason_share"] <= T_REASON_SHARE)  # fmt: skip
    c = r.get("cold")
    if c and "import" in c:
        for key, label, target in (("import", "`python -c \"import explainscore\"`", T_IMPORT_S),
                                   ("version", "`explainscore --version`", T_VERSION_S),
                                   ("cli_warm", "`explainscore explain` 100 rows, warm cache", T_CLI_WARM_S),
                                   ("cli_empty", "`explainscore explain` 100 rows, empty cache", T_CLI_EMPTY_S)):  # fmt: skip
            v = c[key]
            if "error" in v:
                add(label, "failed: " + v["error"].replace("|", "/"), "", "", "", False)
                continue
            form = "—"
            if key.startswith("cli_") and "compiled_form" in c:
                form = "compiled form" if c["compiled_form"] else "full model (no compiled form)"
            add(label, f"median {_f(v['median_s'])} s (min {_f(v['min_s'])}, max {_f(v['max_s'])}, "
                f"{v['runs']} runs)", form, "—", f"<= {target:g} s", v["median_s"] <= target)  # fmt: skip
    sc = r.get("sidecar")
    if sc and "plain" in sc:
        for clients in ("1", "4"):
            p, a = sc["plain"][clients], sc.get("audit", {}).get(clients)
            cpu = f"client's own CPU {p['client_cpu_ms']} ms/req" if "client_cpu_ms" in p else "—"
            add(f"sidecar, {clients} client(s), no audit log", f"p50 {p['p50_ms']} / p99 {p['p99_ms']} ms",
                cpu, "—", "—", None)  # fmt: skip
            if a:
                ratio = a["p99_ms"] / p["p99_ms"] if p["p99_ms"] else None
                ok = ratio is not None and ratio <= T_SIDECAR_AUDIT_OVER_PLAIN
                target = f"p99 <= {T_SIDECAR_AUDIT_OVER_PLAIN:g}x without"
                if clients == "1":
                    ok = ok and a["p99_ms"] <= T_SIDECAR_P99_1
                    target += f" and <= {T_SIDECAR_P99_1:g} ms"
                add(f"sidecar, {clients} client(s), SQLite audit log",
                    f"p50 {a['p50_ms']} / p99 {a['p99_ms']} ms", f"p99 without {p['p99_ms']} ms",
                    f"{ratio:.1f}x" if ratio else "—", target, ok)  # fmt: skip
    elif sc and "skipped" in sc:
        add("sidecar", sc["skipped"], "", "", "", None)
    elif sc and "error" in sc:
        add("sidecar", "failed: " + sc["error"].replace("|", "/"), "", "", "", False)
    sp = r.get("spark")
    if sp and "spark_rows_s" in sp:
        add(f"Spark `local[2]`, {sp['rows']:,} rows (parquet, {sp['input_partitions']} input partition(s))",
            f"{_f(sp['spark_rows_s'], 0)} rows/s", f"in-process `explain` {_f(sp['in_process_rows_s'], 0)} rows/s",
            f"{sp['vs_in_process']:.2f}x", f">= {T_SPARK_VS_INPROC:g}x in-process",
            sp["vs_in_process"] >= T_SPARK_VS_INPROC)  # fmt: skip
    if sp and "first_task_s" in sp:
        ft = sp["first_task_s"]
        add("Spark: first explain task (1,000 rows, one partition) of a Python worker forked "
            "by `explainscore._spark_daemon` (model unpickled and built in the task)",
            f"{_f(ft)} s",
            f"session start {_f(sp['session_s'])} s, `explainscore warmup` {_f(sp['warmup_s'])} s"
            f" on a {sp.get('warmup_cache', '?')} cache, daemon start and its warm-up "
            f"{_f(sp.get('daemon_start_s'))} s, Spark's own first Arrow job without a model "
            f"{_f(sp.get('arrow_warmup_s'))} s (not counted)",
            "—", f"<= {T_SPARK_FIRST_TASK_S:g} s", ft <= T_SPARK_FIRST_TASK_S)  # fmt: skip
    elif sp and "skipped" in sp:
        add("Spark", "skipped: " + sp["skipped"], "", "", "", None)
    elif sp and "error" in sp:
        add("Spark", "failed: " + sp["error"].replace("|", "/"), "", "", "", False)
    return lines


def render(r: dict[str, Any]) -> str:
    m = r["meta"]
    lines = [
        "# User paths benchmark",
        "",
        f"Command: `{m['command']}` — {m['date']}, {m['machine']}, {m['cpus']} CPUs, Python "
        f"{m['python']}; load average before {m['load_before']}, after {m['load_after']} (a "
        "shared machine: figures vary between runs). One thread (`OMP_NUM_THREADS=1`, numba "
        "1 thread). Every figure and its anchor are measured in this run; the targets are "
        "issue 16's.",
        "",
        "Anchors: shap `TreeExplainer(model).shap_values(row)` on a numpy row of the same "
        "model (the bank leads: the Pipeline's XGBoost on the lead's transformed row); "
        "XGBoost's `booster.predict(DMatrix, pred_contribs=True)` at one thread. Governance "
        "'on' = `Policy(hidden=(<last column>,))` + `ReviewRules(threshold=0.5)` + an SQLite "
        "`AuditLog` with the durability named.",
        "",
        *table(r),
        "",
    ]
    b = r.get("batch")
    if b and "reason_method" in b:
        lines += [
            "Reason share, method: end to end = best of "
            f"{m['repeats']} `em.explain(frame)` on {b['rows']:,} rows; kernel alone = "
            f"`em.engine_.attributor.attribute(A)` with A = `{b['kernel_input']}`; reasons "
            f"alone = {b['reason_method']}. Profile cross-check (cProfile, own time inside "
            "`explainscore/reasons/` over the whole `explain`, inflated by the profiler's "
            f"per-call cost): {_f(100 * (b.get('profile_reasons_share') or 0), 0)}%.",
            "",
        ]
    if r.get("skipped_sections"):
        lines += [
            f"Not run in this mode: {', '.join(r['skipped_sections'])} (full run, or `--only`).",
            "",
        ]
    for name in SECTIONS:
        if isinstance(r.get(name), dict) and "traceback" in r[name]:
            lines += [f"{name} failed:", "", "```", r[name]["traceback"], "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    args = parser.parse_args()
    global BUDGET_S
    BUDGET_S = 1.0 if args.quick else 20.0
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:
        pass
    wanted = args.only or [s for s in SECTIONS if not (args.quick and s == "sidecar")]
    load_before = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bm = bk = None
        model_dir = None

        def section(name: str, fn: Callable[[], dict[str, Any]]) -> None:
            if name not in wanted:
                return
            t = time.perf_counter()
            try:
                result[name] = fn()
            except Exception as exc:
                result[name] = {"error": f"{type(exc).__name__}: {exc}"[:200],
                                "traceback": textwrap.shorten(traceback.format_exc()[-1500:], 1500)}  # fmt: skip
            result.setdefault("section_s", {})[name] = round(time.perf_counter() - t, 1)
            print(f"{name}: {result['section_s'][name]} s", file=sys.stderr)

        if {"forms", "batch"} & set(wanted):
            bm = bench_model(args.quick)
        if {"bank", "cold", "sidecar", "spark"} & set(wanted):
            bk = bank_model()
        section("forms", lambda: forms(bm, workdir, args.quick))
        section("bank", lambda: bank(bk, args.quick))
        section("batch", lambda: batch(bm, args.quick))
        section("cold", lambda: cold(bk, workdir, args.quick))
        if {"sidecar", "spark"} & set(wanted):
            model_dir = Path(result.get("cold", {}).get("model_dir") or
                             explainscore.save(bk["em"], workdir / "bank-model-2"))  # fmt: skip
        section("sidecar", lambda: sidecar(bk, model_dir, workdir, args.quick))
        section("spark", lambda: spark(bk, model_dir, workdir, args.quick))
    result["skipped_sections"] = [s for s in SECTIONS if s not in wanted]
    result["meta"] = {
        "command": "python benchmarks/bench_paths.py" + (" --quick" if args.quick else "")
        + (f" --only {' '.join(args.only)}" if args.only else ""),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "repeats": 2 if args.quick else 3,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "versions": {"explainscore": getattr(explainscore, "__version__", "?"),
                     "shap": shap.__version__, "xgboost": xgb.__version__, "numpy": np.__version__},
    }  # fmt: skip
    out = HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    # A run of every section is the report, whichever way its sections were named.
    suffix = "" if not args.only or set(args.only) == set(SECTIONS) else "-" + "-".join(args.only)
    (out / f"paths{suffix}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = render(result)
    (out / f"paths{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
