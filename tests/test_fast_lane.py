"""The single-lead fast path gives the batch path's record, and leaves what it cannot take to it."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from xgboost import XGBClassifier

from explainscore import AuditLog, Catalog, ExplainedModel, LeadExplanation
from explainscore.exceptions import ColumnTypeError, InputError, NonFiniteValueError


def _data(n: int = 600, seed: int = 0, nan: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    y = (X["f0"] + X["f1"] * X["f2"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    if nan:
        X.loc[rng.random(n) < 0.1, "f3"] = np.nan
    return X, y


def _same(fast: LeadExplanation, slow: LeadExplanation) -> None:
    """Same record up to the float rounding of the score (the lane scores in float64)."""
    assert fast.score == pytest.approx(slow.score, abs=1e-6)
    assert fast.output == pytest.approx(slow.output, abs=1e-5)
    assert fast.base_value == pytest.approx(slow.base_value, abs=1e-12)
    assert [a.feature for a in fast.attributions] == [a.feature for a in slow.attributions]
    for a, b in zip(fast.attributions, slow.attributions, strict=True):
        assert a.contribution == pytest.approx(b.contribution, abs=1e-12)
        assert a.value == b.value
    assert fast.other_contribution == pytest.approx(slow.other_contribution, abs=1e-12)
    assert fast.reason == slow.reason
    assert fast.reason_codes == slow.reason_codes
    assert fast.band == slow.band
    fa, sa = fast.next_best_action, slow.next_best_action
    assert (fa is None) == (sa is None)
    if fa is not None and sa is not None:
        assert (fa.feature, fa.target_value, fa.action, fa.text) == (
            sa.feature, sa.target_value, sa.action, sa.text,
        )  # fmt: skip
        assert fa.new_score == pytest.approx(sa.new_score, abs=1e-6)
        assert fa.gain == pytest.approx(sa.gain, abs=1e-6)
    keys = ("output_space", "explainer", "target_class", "model_fingerprint", "signed_off")
    assert {k: getattr(fast, k) for k in keys} == {k: getattr(slow, k) for k in keys}


MODELS = {
    "xgb": lambda: XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1),
    "xgb-class0": lambda: XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1),
    "lgb": lambda: lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1, n_jobs=1),
    "rf": lambda: RandomForestClassifier(20, max_depth=6, random_state=0, n_jobs=1),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
    "gbr": lambda: GradientBoostingRegressor(n_estimators=20, random_state=0),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fast_lane_matches_the_batch_path(name: str) -> None:
    X, y = _data(nan=name in ("xgb", "lgb", "hgb"))
    target = y if name != "gbr" else X["f0"].to_numpy() * 2.0
    model = MODELS[name]().fit(X.to_numpy(), target)
    options = {"target_class": 0} if name == "xgb-class0" else {}
    em = ExplainedModel(model, background=X.to_numpy()[:200], top_k=3, **options)
    em.explain(X.to_numpy()[:1])
    assert em.engine_.lane is not None
    rows = X.to_numpy()[:25]
    assert em.engine_.lane.accept(rows[0]) is not None
    slow = em.explain(rows)
    for i in range(25):
        _same(em.explain_one(rows[i]), slow[i])
    # A dict and a list take the lane too; both give the same record.
    _same(em.explain_one(dict(zip(em.feature_names_in_, rows[3], strict=True))), slow[3])
    _same(em.explain_one(rows[4].tolist()), slow[4])


def test_next_best_action_on_the_lane_matches_the_batch_path() -> None:
    X, y = _data()
    model = XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1).fit(X.to_numpy(), y)
    catalog = Catalog.model_validate(
        {
            "features": {
                "x0": {"actionable": {"targets": [1.5, 2.0], "text": "Raising x0 to {value}"}},
                "x1": {"actionable": {"targets": [-1.0], "text": "Setting x1 to {value}"}},
            }
        }
    )
    em = ExplainedModel(model, background=X.to_numpy()[:200], catalog=catalog)
    rows = X.to_numpy()[:30]
    slow = em.explain(rows)
    assert em.engine_.lane is not None
    assert any(r.next_best_action is not None for r in slow)
    for i in range(30):
        _same(em.explain_one(rows[i]), slow[i])
    # Rows already at every target: nothing to suggest, as in a batch (the lane skips the
    # re-scoring); rows at one of two targets of a column may still get the other.
    single = Catalog.model_validate(
        {"features": {"x1": {"actionable": {"targets": [-1.0], "text": "Setting x1"}}}}
    )
    one = ExplainedModel(model, background=X.to_numpy()[:200], catalog=single)
    at_target = rows.copy()
    at_target[:, 1] = -1.0
    for fast, slow_record in zip(
        [one.explain_one(r) for r in at_target], one.explain(at_target), strict=True
    ):
        assert fast.next_best_action is None
        _same(fast, slow_record)
    at_one = rows.copy()
    at_one[:, 0] = 1.5
    slow = em.explain(at_one)
    assert any(r.next_best_action is not None for r in slow)
    for i in range(30):
        _same(em.explain_one(at_one[i]), slow[i])


def test_rows_the_lane_cannot_take_get_the_batch_path_errors() -> None:
    X, y = _data()
    model = XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X.to_numpy(), y)
    em = ExplainedModel(model, background=X.to_numpy()[:200])
    row = X.to_numpy()[0].copy()
    row[3] = np.nan  # XGBoost takes missing values: the lane explains it like a batch
    _same(em.explain_one(row), em.explain(row[None, :])[0])
    row[3] = np.inf
    with pytest.raises(NonFiniteValueError, match="'x3'"):
        em.explain_one(row)
    gbr = GradientBoostingRegressor(n_estimators=5).fit(X.to_numpy(), X["f0"].to_numpy())
    no_nan = ExplainedModel(gbr, background=X.to_numpy()[:100])
    row[3] = np.nan
    with pytest.raises(NonFiniteValueError, match="'x3'"):
        no_nan.explain_one(row)
    text = X.to_numpy()[0].tolist()
    text[2] = "high"
    with pytest.raises(ColumnTypeError, match="'x2'"):
        em.explain_one(text)
    with pytest.raises(InputError):
        em.explain_one(X.to_numpy()[0][:4])
    # Numbers as text are parsed the same way as in a batch (the lane leaves them to it).
    as_text = [str(v) for v in X.to_numpy()[1]]
    assert em.explain_one(as_text).score == pytest.approx(em.explain_one(X.to_numpy()[1]).score)


def _records(X: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in X.to_dict("records")]  # fmt: skip


def test_pipelines_take_the_lane_with_compiled_preprocessing() -> None:
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), XGBClassifier(n_estimators=20, n_jobs=1))
    em = ExplainedModel(pipe.fit(X, y), background=X[:100], top_k=3)
    assert em.explain_one(_records(X)[0]) is not None
    assert em.engine_.lane is not None
    assert em.engine_.lane.encoder is not None
    slow = em.explain(X[:20])
    for i, rec in enumerate(_records(X[:20])):
        _same(em.explain_one(rec), slow[i])


def test_bank_pipeline_lane_matches_the_batch_path_with_a_categorical_action() -> None:
    from explainscore._demo import build_pipeline
    from explainscore.datasets import load_bank_catalog, load_bank_marketing

    X, y = load_bank_marketing()
    pick = np.random.default_rng(0).permutation(len(X))
    X, y = X.iloc[pick], y.iloc[pick]  # the file is in date order: every month in training
    X_train, y_train, X_new = X.iloc[:3000], y.iloc[:3000], X.iloc[3000:3060]
    em = ExplainedModel(
        build_pipeline(X_train, n_estimators=40), top_k=3, catalog=load_bank_catalog()
    ).fit(X_train, y_train)
    lane = em.engine_.lane
    assert lane is not None
    assert lane.encoder is not None
    slow = em.explain(X_new)
    assert any(r.next_best_action is not None for r in slow)  # "contact": a category
    records = _records(X_new)
    # Leads already at the action's target (not re-scored on the lane) and leads not at it.
    assert {rec["contact"] == "cellular" for rec in records} == {True, False}
    for i, rec in enumerate(records):
        assert lane.accept(rec) is not None
        _same(em.explain_one(rec), slow[i])
    # A category the model never saw: the one-hot encoder ignores it (a row of zeros), and so
    # does the lane's compiled table; the record is the batch's.
    unseen = {**records[0], "job": "astronaut"}
    assert lane.accept(unseen) is not None
    _same(em.explain_one(unseen), em.explain(pd.DataFrame([unseen]))[0])
    # A missing number passes through to XGBoost (which takes it), on the lane too.
    missing = {**records[1], "age": float("nan")}
    assert lane.accept(missing) is not None
    _same(em.explain_one(missing), em.explain(pd.DataFrame([missing]))[0])
    # Text where a number belongs, infinity: the batch path's typed errors.
    with pytest.raises(ColumnTypeError, match="'age'"):
        em.explain_one({**records[0], "age": "old"})
    with pytest.raises(NonFiniteValueError, match="'balance'"):
        em.explain_one({**records[0], "balance": float("inf")})


def test_lane_is_off_where_it_does_not_apply(tmp_path) -> None:
    X, y = _data()
    # A quantile transform is column-wise but not affine: no compiled preprocessing.
    pipe = make_pipeline(
        QuantileTransformer(n_quantiles=50), XGBClassifier(n_estimators=10, n_jobs=1)
    )
    em = ExplainedModel(pipe.fit(X, y), background=X[:100])
    em.explain(X[:1])
    assert em.engine_.lane is None
    model = XGBClassifier(n_estimators=10, n_jobs=1).fit(X.to_numpy(), y)
    audited = ExplainedModel(
        model, background=X.to_numpy()[:100], audit_log=AuditLog(tmp_path / "a.db")
    )
    one = audited.explain_one(X.to_numpy()[0])
    assert one.audit_seq == 1  # the batch path recorded it


def test_lane_records_follow_set_params() -> None:
    # The lane keeps the engine's record fields (version, class, output space) with the
    # engine: a parameter that rebuilds the engine must show in the next lane record.
    from explainscore import Policy

    X, y = _data()
    model = XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X.to_numpy(), y)
    rows = X.to_numpy()[:5]
    # The background names the columns: a policy cannot be applied to an unnamed x0, x1, ...
    em = ExplainedModel(model, background=X.iloc[:100], model_version="v1")
    keys = ("model_version", "policy_version", "target_class", "output_space", "signed_off")

    def check() -> LeadExplanation:
        slow = em.explain(rows)
        for i in range(len(rows)):
            fast = em.explain_one(rows[i])
            _same(fast, slow[i])
            assert {k: getattr(fast, k) for k in keys} == {k: getattr(slow[i], k) for k in keys}
        return em.explain_one(rows[0])

    first = check()
    assert (first.model_version, first.policy_version, first.target_class) == ("v1", None, 1)
    em.set_params(model_version="v2", policy=Policy(version="p7", hidden=("f1",)), target_class=0)
    assert em.engine_.lane is not None
    second = check()
    assert (second.model_version, second.policy_version, second.target_class) == ("v2", "p7", 0)
    assert "f1" not in [a.feature for a in second.attributions]
    assert all(c.feature != "f1" for c in second.reason_codes)


def test_explained_at_is_the_current_utc_second() -> None:
    import datetime as dt

    from explainscore._fast_lane import _now

    for _ in range(5):  # a second may turn between the reads: try again
        before = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        stamp = _now()
        after = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if before == after:
            assert stamp == before
            return
    raise AssertionError("the clock turned a second on every try")


def test_json_leads_take_the_lane_none_as_missing_and_a_list_of_one_record() -> None:
    """A JSON client sends missing values as null (None) and may wrap one lead in a list:
    both take the lane (they took the batch path at ~50x the time) with the batch's record."""
    X, y = _data(nan=True)
    model = XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1).fit(X, y)
    em = ExplainedModel(model, background=X.iloc[:200], top_k=3)
    missing = [i for i in range(60) if np.isnan(X["f3"].iloc[i])]
    assert missing, "the data must hold missing values"
    slow = em.explain(X.iloc[:60])
    for i in [*missing[:5], 0, 1]:
        record = {k: (None if v != v else v) for k, v in X.iloc[i].to_dict().items()}
        assert em.engine_.lane.accept(record) is not None
        assert em.engine_.lane.accept([record]) is not None
        _same(em.explain_one(record), slow[i])
        _same(em.explain_one([record]), slow[i])
        if i in missing:
            assert (
                em.explain_one(record).model_dump()["attributions"]
                == (slow[i].model_dump()["attributions"])
            )


def test_lane_reads_cell_types_once_and_still_leaves_text_to_the_batch_path() -> None:
    """``accept`` skips the per-cell text check for rows of plain floats, ints and Nones:
    any other cell type (a str or bytes subclass, a numpy scalar, a bool) still gets it."""

    class Label(str):
        pass

    X, y = _data(nan=True)
    model = XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)
    em = ExplainedModel(model, background=X.iloc[:200], top_k=3)
    em.explain_one(X.iloc[0].to_dict())
    lane = em.engine_.lane
    assert lane is not None
    names = list(X.columns)
    base = [float(v) for v in X.iloc[1]]
    slow = em.explain(X.iloc[[1]])[0]
    # Text in any form is left to the batch path, which parses or reports it by column.
    for text in ("0.5", Label("0.5"), b"0.5"):
        cells = list(base)
        cells[2] = text
        assert lane.accept(cells) is None
        assert lane.accept(dict(zip(names, cells, strict=True))) is None
    # Numbers of other types are taken, as the same floats.
    for number in (np.float64(base[2]), np.float32(0.5), 1, True):
        cells = list(base)
        cells[2] = number
        taken = lane.accept(cells)
        assert taken is not None
        assert taken[1][0, 2] == float(number)
    # Ints and Nones together: the Nones are missing values, the record is the batch's.
    cells = list(base)
    cells[3] = None
    taken = lane.accept(cells)
    assert taken is not None
    assert taken[0][3] is None
    assert np.isnan(taken[1][0, 3])
    _same(em.explain_one(dict(zip(names, base, strict=True))), slow)
