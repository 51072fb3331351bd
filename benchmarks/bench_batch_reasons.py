"""explain() end to end on a batch, reasons and codes included, against XGBoost's
``pred_contribs`` in the same run; and the share of the batch spent composing reasons.

Usage::

    NUMBA_NUM_THREADS=1 python benchmarks/bench_batch_reasons.py [--rows 5000] [--repeats 5]

The benchmark model of ``bench_tree.py`` (XGBoost 300 trees depth 6, 40 columns, 2% NaN), one
thread. Reason composition is timed by wrapping ``ReasonWriter.compose_batch`` during extra
runs. ``--per-row`` also measures, in the same run, the per-row composition explain used before
(``plain_cell`` of every cell, then ``ReasonWriter.compose`` and ``render`` per row), swapped in
for ``compose_batch``. A batch composed in bulk builds its ``ReasonCode`` records on access; the
time to build all of them is reported too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import numba  # noqa: E402
import xgboost as xgb  # noqa: E402
from _timing import best_time, make_data  # noqa: E402

from explainscore import ExplainedModel  # noqa: E402
from explainscore.reasons import _bulk, _compose  # noqa: E402


def per_row(self, scores, contributions, frame, actions):  # type: ignore[no-untyped-def]
    """The composition ``_explain_frame`` did before bulk composition (the per-row path the
    bulk composer keeps for small batches)."""
    return _bulk._per_row(self, scores, contributions, frame, actions)


def measure(em, Xte, repeats):  # type: ignore[no-untyped-def]
    """Best explain() time, and (share, seconds) of composition in the best wrapped run."""
    full = best_time(lambda: em.explain(Xte), repeats)
    W = _compose.ReasonWriter
    fn = W.compose_batch
    spent = [0.0]

    def timed(*a, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - t

    W.compose_batch = timed  # type: ignore[method-assign]
    shares = []
    try:
        for _ in range(repeats):
            spent[0] = 0.0
            t = time.perf_counter()
            em.explain(Xte)
            shares.append((spent[0] / (time.perf_counter() - t), spent[0]))
    finally:
        W.compose_batch = fn  # type: ignore[method-assign]
    return full, min(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--per-row", action="store_true", help="also time the per-row path")
    args = parser.parse_args()
    numba.set_num_threads(1)
    n = args.rows
    X, y = make_data(n + 20_000)
    Xtr, ytr, Xte = X[n:], y[n:], X[:n]
    model = xgb.XGBClassifier(n_estimators=300, max_depth=6, n_jobs=1, random_state=0)
    model.fit(Xtr, ytr)
    booster = model.get_booster()
    booster.set_param({"nthread": 1})
    em = ExplainedModel(model, background=Xtr[-500:])
    em.explain(Xte[:50])

    native = best_time(
        lambda: booster.predict(xgb.DMatrix(Xte, nthread=1), pred_contribs=True), args.repeats
    )
    full, (share, comp) = measure(em, Xte, args.repeats)
    batch = em.explain(Xte)
    t = time.perf_counter()
    all_codes = list(batch.reason_codes)
    codes_s = time.perf_counter() - t
    assert len(all_codes) == n
    before = None
    if args.per_row:
        fn = _compose.ReasonWriter.compose_batch
        _compose.ReasonWriter.compose_batch = per_row  # type: ignore[method-assign]
        try:
            ref = em.explain(Xte)
            assert ref.reasons == batch.reasons
            before = measure(em, Xte, args.repeats)
        finally:
            _compose.ReasonWriter.compose_batch = fn  # type: ignore[method-assign]

    print(f"rows: {n}, one thread")
    print(f"xgboost pred_contribs: {n / native:,.0f} rows/s ({native * 1e3:.1f} ms)")
    if before is not None:
        b_full, (b_share, b_comp) = before
        print(
            f"before (per-row reasons): {n / b_full:,.0f} rows/s ({b_full * 1e3:.1f} ms), "
            f"{native / b_full:.1f}x pred_contribs; composition {b_comp * 1e3:.1f} ms, "
            f"{b_share:.0%} of the batch"
        )
    print(
        f"after (bulk reasons): {n / full:,.0f} rows/s ({full * 1e3:.1f} ms), "
        f"{native / full:.1f}x pred_contribs; composition {comp * 1e3:.1f} ms, "
        f"{share:.0%} of the batch"
    )
    print(
        f"building all {n} rows' ReasonCode records afterwards (on access): "
        f"{codes_s * 1e3:.1f} ms; explain + all codes {n / (full + codes_s):,.0f} rows/s, "
        f"{native / (full + codes_s):.1f}x"
    )


if __name__ == "__main__":
    main()
