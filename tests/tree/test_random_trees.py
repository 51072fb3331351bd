"""Hypothesis: random trees (repeated features, uneven covers, NaN defaults, groups) agree with
brute force, with tables and with the direct per-leaf formula."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from explainscore.attribution.tree import TreeShapCore
from explainscore.attribution.tree._builder import EnsembleBuilder

from .bruteforce import brute_force_shap


def _random_tree(rng: np.random.Generator, n_features: int, max_depth: int) -> dict[str, list]:
    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    flags: list[int] = []
    cover: list[float] = []
    value: list[float] = []

    def grow(depth: int, weight: float) -> int:
        me = len(left)
        for arr, v in ((left, -1), (right, -1), (feature, -1), (threshold, 0.0), (flags, 0)):
            arr.append(v)
        cover.append(weight)
        value.append(0.0)
        if depth >= max_depth or rng.random() < 0.2:
            value[me] = float(rng.normal())
            return me
        feature[me] = int(rng.integers(n_features))
        threshold[me] = float(rng.normal())
        flags[me] = int(rng.integers(2))
        share = float(rng.uniform(0.05, 0.95))
        left[me] = grow(depth + 1, weight * share)
        right[me] = grow(depth + 1, weight * (1 - share))
        return me

    grow(0, float(rng.uniform(1, 100)))
    return {"left": left, "right": right, "feature": feature, "threshold": threshold,
            "flags": flags, "cover": cover, "value": value}  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 6),
    n_trees=st.integers(1, 4),
    max_depth=st.integers(0, 7),
    grouped=st.booleans(),
)
def test_random_ensembles_match_brute_force(
    seed: int, n_features: int, n_trees: int, max_depth: int, grouped: bool
) -> None:
    rng = np.random.default_rng(seed)
    builder = EnsembleBuilder(1)
    for _ in range(n_trees):
        builder.add_tree(**_random_tree(rng, n_features, max_depth), output=0)
    ens = builder.build(
        base_offset=[float(rng.normal())],
        n_features=n_features,
        native_space="margin",
        float32_inputs=False,
        source="test.RandomTrees",
    )
    groups = rng.integers(0, max(1, n_features - 1), size=n_features) if grouped else None
    if groups is not None:
        groups = np.unique(groups, return_inverse=True)[1]  # players 0..k-1, none empty
    X = rng.normal(size=(4, n_features))
    X[rng.random(size=X.shape) < 0.2] = np.nan
    expected, base = brute_force_shap(ens, X, groups=groups)
    for budget in (2**30, 0):
        core = TreeShapCore(ens, groups=groups, memory_budget=budget)
        np.testing.assert_allclose(core.shap_values(X), expected, rtol=1e-9, atol=1e-9)
        assert abs(core.expected_value - base) <= 1e-9 * max(1.0, abs(base))
