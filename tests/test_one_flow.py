"""One flow from row to record: a 1-row DataFrame, governance and unseen categories or missing
values behind a Pipeline take the fast lane, and its record is the batch path's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from explainscore import AuditLog, ExplainedModel, LeadExplanation
from explainscore.governance import ReviewQueue, ReviewRules
from explainscore.governance._review import review_reasons, review_reasons_row

#: Scores from the compiled core are float64; XGBoost's own are float32.
_F32 = 1e-6


def _identical(fast: LeadExplanation, slow: LeadExplanation) -> None:
    """Every field equal except the time; the attributions bit for bit; the score and
    output to XGBoost's float32 rounding (the batch path asks the model, the lane the core)."""
    a, b = fast.model_dump(), slow.model_dump()
    for d in (a, b):
        d.pop("explained_at")
    for key in ("score", "output"):
        assert a.pop(key) == pytest.approx(b.pop(key), abs=_F32, rel=_F32)
    nba_a, nba_b = a.pop("next_best_action"), b.pop("next_best_action")
    assert (nba_a is None) == (nba_b is None)
    if nba_a is not None:
        for key in ("new_score", "gain"):
            assert nba_a.pop(key) == pytest.approx(nba_b.pop(key), abs=_F32, rel=_F32)
        assert nba_a == nba_b
    assert [x["contribution"] for x in a["attributions"]] == [
        x["contribution"] for x in b["attributions"]
    ]  # bit for bit
    assert a == b


def _numeric(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"f{i}" for i in range(8)])
    y = (X["f0"] + X["f1"] * X["f2"] > 0).astype(int).to_numpy()
    return X, y


def _mixed(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(2)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "balance": rng.normal(1000, 300, n),
            "job": rng.choice(["admin", "tech", "services"], n),
            "contact": pd.Categorical(rng.choice(["cell", "phone"], n)),
            "calls": pd.array(rng.integers(0, 5, n), dtype="Int64"),
        }
    )
    y = ((X["balance"] > 1000) ^ (X["job"] == "tech")).astype(int).to_numpy()
    return X, y


def _pipeline(handle_unknown: str = "ignore") -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "balance"]),
            ("pass", "passthrough", ["calls"]),
            ("cat", OneHotEncoder(handle_unknown=handle_unknown), ["job", "contact"]),
        ]
    )
    return Pipeline([("prep", pre), ("model", XGBClassifier(n_estimators=30, n_jobs=1))])


def test_a_one_row_frame_takes_the_lane_and_gives_the_batch_record() -> None:
    X, y = _numeric()
    em = ExplainedModel(XGBClassifier(n_estimators=30, n_jobs=1).fit(X, y), background=X[:100])
    em.explain_one(X.iloc[0].to_dict())
    lane = em.engine_.lane
    assert lane is not None
    slow = em.explain(X[:20])
    for i in range(20):
        assert lane.accept(X.iloc[[i]]) is not None
        assert lane.accept(X.iloc[i]) is not None
        _identical(em.explain_one(X.iloc[[i]]), slow[i])
        _identical(em.explain_one(X.iloc[i]), slow[i])
    # Reordered, partial or 2-row frames, and text, take the batch path (which decides).
    assert lane.accept(X.iloc[[0], ::-1]) is None
    assert lane.accept(X.iloc[[0], :-1]) is None
    assert lane.accept(X.iloc[:2]) is None
    assert lane.accept(X.iloc[[0]].astype(str)) is None


def test_a_one_row_frame_of_mixed_dtypes_behind_a_pipeline() -> None:
    X, y = _mixed()
    em = ExplainedModel(_pipeline().fit(X, y), background=X[:100], top_k=3)
    em.explain(X[:1])
    lane = em.engine_.lane
    assert lane is not None
    assert lane.encoder is not None
    slow = em.explain(X[100:120])
    for i in range(100, 120):
        row = X.iloc[[i]]  # int64, float64, object, category, Int64 columns
        assert lane.accept(row) is not None
        _identical(em.explain_one(row), slow[i - 100])


def test_unseen_categories_and_missing_values_on_the_lane() -> None:
    X, y = _mixed()
    pipe = _pipeline().fit(X, y)
    em = ExplainedModel(pipe, background=X[:100], top_k=3)
    em.explain(X[:1])
    lane = em.engine_.lane
    assert lane is not None
    assert lane.encoder is not None
    # The compiled tables are the fitted transformers' own outputs.
    odd = X.iloc[[5]].copy()
    odd["job"] = "astronaut"
    odd["balance"] = np.nan
    expected = pipe[:-1].transform(odd)
    rows = [{**X.iloc[i].to_dict(), "job": "astronaut"} for i in range(100, 110)] + [
        {**X.iloc[i].to_dict(), "balance": np.nan, "age": None} for i in range(110, 120)
    ]
    rows.append(odd.iloc[0].to_dict())
    for row in rows:
        accepted = lane.accept(row)
        assert accepted is not None
        # The scaler's affine table agrees to 1e-9 (as the build check); zeros and NaN exactly.
        assert np.allclose(
            accepted[1][0], pipe[:-1].transform(pd.DataFrame([row]))[0], rtol=0, atol=1e-9,
            equal_nan=True,
        )  # fmt: skip
        _identical(em.explain_one(row), em.explain(pd.DataFrame([row]))[0])
    # A missing count passed through to XGBoost: the batch path's record, whichever path.
    row = {**X.iloc[120].to_dict(), "calls": None}
    _identical(em.explain_one(row), em.explain(pd.DataFrame([row]))[0])
    assert np.allclose(lane.accept(odd)[1][0], expected[0], rtol=0, atol=1e-9, equal_nan=True)
    # An unseen category in a categorical column: the one-hot block is all zeros.
    assert lane.encoder is not None
    assert all(c.unknown is not None and not c.unknown.any() for c in lane.encoder.categorical)


def test_an_encoder_that_refuses_unseen_categories_leaves_them_to_the_batch_path() -> None:
    X, y = _mixed()
    em = ExplainedModel(_pipeline("error").fit(X, y), background=X[:100])
    em.explain(X[:1])
    lane = em.engine_.lane
    assert lane is not None
    assert lane.encoder is not None
    assert all(c.unknown is None for c in lane.encoder.categorical)
    assert lane.accept({**X.iloc[0].to_dict(), "job": "astronaut"}) is None


def _stored(log: AuditLog) -> list[dict[str, Any]]:
    out = []
    for rec in log.records():
        rec = dict(rec)
        for key in list(rec):
            if "time" in key or "hash" in key or key.endswith("_at") or key == "ts":
                rec.pop(key)
        expl = dict(rec.get("explanation") or {})
        expl.pop("explained_at", None)
        rec["explanation"] = expl
        # The score and output to XGBoost's float32 rounding (see ``_identical``).
        rec["score"] = round(rec["score"], 6)
        expl["output"] = round(expl["output"], 5)
        out.append(rec)
    return out


@pytest.mark.parametrize("durability", ["os", "full"])
def test_the_lane_writes_the_batch_audit_record_and_review_flags(tmp_path, durability) -> None:
    X, y = _mixed()
    pipe = _pipeline().fit(X, y)
    rules = ReviewRules(threshold=0.5, margin=0.2, proxy_features=("job",))

    def governed(name: str) -> ExplainedModel:
        log = AuditLog(tmp_path / f"{name}.db", durability=durability, store_inputs=True)
        queue = ReviewQueue(tmp_path / f"{name}-queue.db")
        return ExplainedModel(
            pipe, background=X[:100], top_k=3, audit_log=log, review=rules, review_queue=queue
        )

    fast, slow = governed("fast"), governed("slow")
    rows = [X.iloc[[i]] for i in range(100, 115)]
    rows.append(X.iloc[[115]].assign(job="astronaut", balance=1e6))  # unseen, out of range
    for row in rows:
        one = fast.explain_one(row)
        other = slow.explain(row)[0]
        _identical(one, other)
    assert fast.engine_.lane is not None
    assert fast.engine_.lane.accept(rows[-1]) is not None
    assert "unseen_category:job" in one.review_reasons
    assert "out_of_range:balance" in one.review_reasons
    stored_fast, stored_slow = _stored(fast.audit_log), _stored(slow.audit_log)
    assert len(stored_fast) == len(stored_slow) == len(rows)
    for a, b in zip(stored_fast, stored_slow, strict=True):
        assert {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)} == {}
    assert fast.audit_log.verify().ok
    strip = ("item_id", "created_at", "score")
    assert [
        {k: v for k, v in i.model_dump().items() if k not in strip}
        for i in fast.review_queue.items()
    ] == [
        {k: v for k, v in i.model_dump().items() if k not in strip}
        for i in slow.review_queue.items()
    ]


def test_review_rules_for_one_row_match_the_batch_function() -> None:
    X, _ = _mixed()
    from explainscore.governance._review import InputProfile

    profile = InputProfile.of(X[:200])
    rules = ReviewRules(threshold=0.4, margin=0.1, proxy_features=("age",))
    rows = X[200:260].copy()
    rows.loc[rows.index[::3], "balance"] = 1e7
    rows["job"] = rows["job"].astype(object)
    rows.loc[rows.index[::4], "job"] = "pilot"
    rows.loc[rows.index[::5], "age"] = None
    scores = np.linspace(0, 1, len(rows))
    feats = [["age"] if i % 2 else ["job"] for i in range(len(rows))]
    for hidden in (frozenset(), frozenset({"job"})):
        batch = review_reasons(
            rules=rules, profile=profile, frame=rows, scores=scores, reason_features=feats,
            hidden=hidden,
        )  # fmt: skip
        cells = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
        one = [
            review_reasons_row(
                rules=rules,
                profile=profile,
                names=list(rows.columns),
                cells=cells[i],
                score=float(scores[i]),
                reason_features=feats[i],
                hidden=hidden,
            )
            for i in range(len(rows))
        ]
        assert one == batch
