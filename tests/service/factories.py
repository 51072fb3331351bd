"""Model factories for ServiceConfig.factory in the tests (a worker imports and calls one)."""

from __future__ import annotations

from typing import Any


def small_models() -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    from explainscore import ExplainedModel
    from explainscore.datasets import make_leads

    X, y = make_leads(300, seed=3)
    X = X[["pages_viewed", "emails_opened", "demo_booked"]].astype(float)
    return {"tiny": ExplainedModel(LogisticRegression(max_iter=500)).fit(X, y)}
