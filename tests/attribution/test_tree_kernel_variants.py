"""The TreeSHAP kernels' compile-time variants: what a model leaves out is never compiled, every
variant gives the same values bit for bit, and ``explainscore warmup`` compiles them all.

A model without categorical or zero-as-missing splits passes None for their rule, and one
whose leaves all have tables passes None for the direct-leaf code: numba then drops that code
when it compiles the kernel (seconds of an empty-cache start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from explainscore._warmup import _KERNEL_MODULES, _run_kernels, _small_ensemble
from explainscore.attribution.tree import InterventionalTreeCore, TreeShapCore
from explainscore.attribution.tree._compile import compile_ensemble
from explainscore.attribution.tree._mask_kernels import block_work, mask_block, mask_rows

from ..tree.bruteforce import brute_force_shap
from ..tree.cases import get_case

#: Runs in a fresh interpreter with an empty cache: which kernels does each model compile?
_COMPILED = """
import json, sys
import numpy as np
from explainscore._warmup import _small_ensemble
from explainscore.attribution.tree import TreeShapCore
from explainscore.attribution.tree import _decision, _mask_kernels, _plan_kernels

def compiled():
    return {
        "special": len(_decision._special.signatures),
        "direct": len(_mask_kernels._direct_leaf_into.signatures),
        "direct_values": len(_plan_kernels.direct_slot_values.signatures),
    }

rng = np.random.default_rng(0)
rows = rng.normal(size=(40, 6))
out = {}
core = TreeShapCore(_small_ensemble(rng, 6))
core.values_and_output(rows[:1])
core.shap_values(rows)
out["plain"] = compiled()
core = TreeShapCore(_small_ensemble(rng, 6, special=True), memory_budget=0)
core.values_and_output(rows[:1])
core.shap_values(rows)
out["special_direct"] = compiled()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_model_compiles_only_the_code_it_uses(tmp_path: Any) -> None:
    env = {**os.environ, "EXPLAINSCORE_CACHE_DIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", _COMPILED],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # Plain numeric splits, every leaf with a table: neither rule is compiled.
    assert out["plain"] == {"special": 0, "direct": 0, "direct_values": 0}
    # Categorical and zero-as-missing splits, no tables (budget 0): both are.
    assert all(n >= 1 for n in out["special_direct"].values()), out


def _plain_core(budget: int) -> tuple[TreeShapCore, np.ndarray]:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(70, 6))
    rows[::6, 1] = np.nan
    return TreeShapCore(_small_ensemble(rng, 6), memory_budget=budget), rows


@pytest.mark.parametrize("budget", [256 * 2**20, 0, 2000])
def test_every_variant_of_the_mask_kernels_gives_the_same_bits(budget: int) -> None:
    # A plain model run with the rules it leaves out compiled in (the variant of a model
    # that needs them) gives the same floats: the variants differ only in dead code.
    core, rows = _plain_core(budget)
    plan = core._plan
    assert core._special is None
    # Merged sibling leaves among them when value tables fit (``KIND_PAIR``).
    assert (core.n_pairs > 0) == (budget > 0)
    weights, words, subsets = plan[24], plan[5], plan[23]
    results = []
    for direct in (core._direct_weights, weights):
        for special in (None, words):
            XT = np.ascontiguousarray(rows.T)
            outT = np.zeros((core.n_players, rows.shape[0]))
            work = block_work(core._max_nodes, core._max_d, 32)
            for lo in range(0, rows.shape[0], 32):
                hi = min(rows.shape[0], lo + 32)
                mask_block(XT, outT, lo, hi, plan, direct, special, work)
            results.append(np.ascontiguousarray(outT.T))
            for ahead in (None, subsets):
                out = np.zeros((rows.shape[0], core.n_players))
                reached = np.full(rows.shape[0], core.ensemble.base_offset[0])
                mask_rows(
                    rows, out, reached, plan, core._max_nodes, core._max_d, direct, ahead, special
                )
                results.append(out)
    first = results[0]
    for other in results[1:]:
        assert np.array_equal(first.view(np.uint64), other.view(np.uint64))
    # And they are the Shapley values: efficiency and brute force on a few rows.
    predicted = core.ensemble.predict_raw(rows)[:, 0]
    np.testing.assert_allclose(first.sum(1) + core.expected_value, predicted, rtol=0, atol=1e-6)
    exact, base = brute_force_shap(core.ensemble, rows[:4])
    np.testing.assert_allclose(first[:4], exact, rtol=1e-6, atol=1e-6)
    assert core.expected_value == pytest.approx(base, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("budget", [256 * 2**20, 0])
def test_the_categorical_variant_is_exact(budget: int) -> None:
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(40, 6))
    rows[::2, :] = np.floor(np.abs(rows[::2, :]) * 2)  # category codes on half the rows
    rows[::3, 0] = 0.0  # zero, which a zero-as-missing node reads as missing
    core = TreeShapCore(_small_ensemble(rng, 6, special=True), memory_budget=budget)
    assert core._special is not None
    batch = core.shap_values(rows)
    lead, output = core.values_and_output(rows[:5])
    assert np.array_equal(batch[:5], lead)
    np.testing.assert_allclose(output, core.ensemble.predict_raw(rows[:5])[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        batch.sum(1) + core.expected_value, core.ensemble.predict_raw(rows)[:, 0], rtol=0, atol=1e-6
    )
    exact, _ = brute_force_shap(core.ensemble, rows[:6])
    np.testing.assert_allclose(batch[:6], exact, rtol=1e-6, atol=1e-6)


def _signatures() -> dict[str, int]:
    import importlib

    from numba.core.registry import CPUDispatcher

    found = {}
    for name in _KERNEL_MODULES:
        for attr, obj in vars(importlib.import_module(name)).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == name:
                found[f"{name}.{attr}"] = len(obj.signatures)
    return found


@pytest.mark.slow
def test_warmup_compiles_every_variant_a_model_selects() -> None:
    # After the warm-up, explaining models of every family (plain and categorical splits,
    # zero-as-missing, forests, a tight memory budget, threads) adds no kernel signature:
    # a process that loads the warmed cache compiles nothing.
    _run_kernels(threads=(1, 2))
    before = _signatures()
    for name in ("xgb-clf", "xgb-cat", "lgb-cat", "lgb-zero", "rf-multi", "hgb-clf", "gb-reg"):
        model, X, _ = get_case(name)
        ens = compile_ensemble(model)
        ens.predict_raw(X[:5])
        for budget in (256 * 2**20, 0):
            core = TreeShapCore(ens, memory_budget=budget, output=ens.n_outputs - 1)
            core.values_and_output(X[:1])
            core.shap_values(X[:100])
            core.shap_values(X[:100], n_threads=2)
            for lib in (np.float32, np.float64):  # margins in XGBoost's, LightGBM's dtype
                for rows, n in ((X[:1], 1), (X[:100], 1), (X[:100], 2)):
                    core.shap_values_and_margin(rows, dtype=lib, base=lib(0.0), n_threads=n)
        if ens.n_outputs == 1:
            icore = InterventionalTreeCore(ens, X[100:140], output_space="margin")
            icore.values_and_output(X[:1])
            icore.shap_values(X[:60], n_threads=2)
    assert _signatures() == before
