"""Human review: rules that route explanations, the queue, and recorded decisions."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from explainscore import ExplainedModel
from explainscore.exceptions import ParameterError
from explainscore.governance import ReviewQueue, ReviewRules


@pytest.fixture
def model_and_data(leads):
    X, y = leads
    num = X.select_dtypes("number").iloc[:1000]
    return LogisticRegression(max_iter=1000).fit(num, y.iloc[:1000]), num


def test_near_threshold_out_of_range_and_proxy_rules(model_and_data, tmp_path) -> None:
    model, num = model_and_data
    queue = ReviewQueue(tmp_path / "review.db")
    em = ExplainedModel(
        model,
        background=num,
        review=ReviewRules(threshold=0.3, margin=0.05, proxy_features=("company_size",)),
        review_queue=queue,
    )
    rows = num.iloc[:200].copy()
    rows.iloc[0, rows.columns.get_loc("pages_viewed")] = num["pages_viewed"].max() + 100
    batch = em.explain(rows)
    flags = batch.review_reasons
    assert "out_of_range:pages_viewed" in flags[0]
    near = [i for i, s in enumerate(batch.scores) if abs(s - 0.3) <= 0.05]
    assert near
    assert all("near_threshold" in flags[i] for i in near)
    assert all("near_threshold" not in flags[i] for i in range(len(rows)) if i not in near)
    proxy = [
        i
        for i, codes in enumerate(batch.reason_codes)
        if any(c.feature == "company_size" for c in codes)
    ]
    assert all("proxy_in_reasons" in flags[i] for i in proxy)
    flagged = [i for i, f in enumerate(flags) if f]
    assert len(queue.items()) == len(flagged)
    assert batch[0].needs_review
    assert batch[0].review_reasons == flags[0]
    # a value is never part of a reason: only the rule and the column
    assert all(":" not in r or r.split(":")[1] in rows.columns for f in flags for r in f)


def test_unseen_category(leads, tmp_path) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = leads
    X = X.drop(columns="lead_source")
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["industry"]), remainder="passthrough"
        ),
        LogisticRegression(max_iter=2000),
    ).fit(X, y)
    em = ExplainedModel(pipe, background=X, review=ReviewRules())
    rows = X.iloc[:3].copy()
    rows.iloc[1, rows.columns.get_loc("industry")] = "space_mining"
    batch = em.explain(rows)
    assert batch.review_reasons[1] == ("unseen_category:industry",)
    assert batch.review_reasons[0] == ()


def test_reviewer_decisions_are_recorded(model_and_data, tmp_path) -> None:
    model, num = model_and_data
    queue = ReviewQueue(tmp_path / "review.db")
    em = ExplainedModel(
        model, background=num, review=ReviewRules(threshold=0.2, margin=1.0), review_queue=queue
    )
    em.explain(num.iloc[:3])
    items = queue.items()
    assert len(items) == 3
    accepted = queue.decide(items[0].item_id, reviewer="rita", decision="accept", comment="fine")
    overridden = queue.decide(
        items[1].item_id, reviewer="rita", decision="override", score=0.9, comment="known customer"
    )
    assert accepted.decision == "accept"
    assert overridden.score == 0.9
    assert [i.item_id for i in queue.items()] == [items[2].item_id]
    assert queue.decision(items[1].item_id) == overridden
    assert len(ReviewQueue(tmp_path / "review.db").items(status="decided")) == 2
    with pytest.raises(ParameterError, match="the id of a pending item"):
        queue.decide(items[0].item_id, reviewer="rita", decision="accept")
    with pytest.raises(ParameterError, match="for an override"):
        queue.decide(items[2].item_id, reviewer="rita", decision="override")
