"""Exact agreement with brute-force Shapley values through the public API, every family.

Tree models: the path-dependent game with the raw columns as players (a one-hot block is one
player), enumerated over all coalitions on the compiled ensemble (whose predictions are
checked against each library in tests/tree). Linear and model-agnostic backends: the
interventional game, enumerated (tests/attribution/bruteforce.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from explainscore import ExplainedModel
from explainscore._pipeline import decompose
from explainscore.attribution.tree import compile_ensemble

from .models import TREE_MODELS, Factory, ids
from .tree.bruteforce import brute_force_shap

TEXT = ["industry", "lead_source"]


@pytest.mark.parametrize(("name", "factory", "classifier"), TREE_MODELS, ids=ids(TREE_MODELS))
def test_tree_pipeline_equals_raw_column_brute_force(
    name: str, factory: Factory, classifier: bool, leads
) -> None:
    X, y = leads
    X = X.drop(columns=["noise", "budget_known"])  # 7 raw players: 2^7 coalitions
    target = y if classifier else pd.Series(X["pages_viewed"] + y * 3.0)
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), TEXT), remainder="passthrough"
    )
    em = ExplainedModel(make_pipeline(pre, factory()), top_k=2).fit(X, target)
    if em.output_space_ == "log_odds" and classifier and name.startswith("rf"):
        pytest.skip("forests explain probabilities")
    rows = X.iloc[:6]
    batch = em.explain(rows)
    structure = decompose(em.model_, X.shape[1], list(X.columns))
    ensemble = compile_ensemble(structure.estimator)
    Xt = np.asarray(structure.preprocessor.transform(rows), dtype=float)
    output = 0 if ensemble.n_outputs == 1 else 1
    expected, base = brute_force_shap(ensemble, Xt, groups=structure.column_map, output=output)
    np.testing.assert_allclose(batch.attributions, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(batch.base_values, base, rtol=0, atol=1e-6)
