"""``explainscore warmup``: compile every kernel and import what a worker needs, once.

An image build step, a Spark executor's start-up script or a container's entry point runs it
so that the first lead a process explains does not pay numba's compilation (tens of seconds
on an empty cache) or the imports (seconds). Kernels are compiled for the argument types the
library passes them (float64 rows, the compiled ensemble's arrays), which do not depend on
the model, in every variant a model can select: the TreeSHAP kernels are compiled apart for
models with and without leaves that have no table, categorical or zero-as-missing splits,
and (one lead) tables too big for the cache, each left out of the variants that do not
need it (see ``attribution.tree._shap``). One warm-up serves every model. They are written
to the numba cache directory (see ``explainscore._numba_cache``); a later process loads them
from there.

Kernels are compiled on first use in any case: nothing here is needed for correctness.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WarmupReport", "warmup"]

#: What a worker imports before its first lead (optional ones are skipped when missing).
_WORKER_MODULES = (
    "numpy",
    "pandas",
    "pydantic",
    "sklearn.base",
    "explainscore._model",
    "explainscore.io",
    "explainscore._batch_files",
    "explainscore.reasons._compose",
    "explainscore.attribution._tree",
)
_OPTIONAL_MODULES = ("xgboost", "lightgbm")
#: What ``explainscore.load`` reads a skops file with: skops' loader modules, not the
#: ``skops.io`` package (see ``explainscore._safe_skops``).
_SKOPS_LOADERS = "skops loaders (explainscore._safe_skops)"

#: The modules holding numba kernels.
_KERNEL_MODULES = (
    "explainscore.attribution.tree._decision",
    "explainscore.attribution.tree._plan_kernels",
    "explainscore.attribution.tree._mask_kernels",
    "explainscore.attribution.tree._shap_kernels",
    "explainscore.attribution.tree._predict",
    "explainscore.attribution.tree._interventional",
)


@dataclass
class WarmupReport:
    """What :func:`warmup` did."""

    cache_dir: Path | None
    cache_enabled: bool
    seconds: float
    imported: list[str] = field(default_factory=list)
    #: kernel name -> number of compiled signatures (0 for kernels inlined into others).
    kernels: dict[str, int] = field(default_factory=dict)
    #: Signatures loaded from the cache / compiled now.
    cache_hits: int = 0
    compiled: int = 0

    def lines(self) -> list[str]:
        built = {k: n for k, n in self.kernels.items() if n}
        inlined = sorted(k for k, n in self.kernels.items() if not n)
        where = str(self.cache_dir) if self.cache_dir is not None else "numba's default"
        state = "" if self.cache_enabled else " (not writable: kernels are not cached)"
        out = [
            f"explainscore warmup: kernels ready in {self.seconds:.1f} s ({self.compiled} "
            f"compiled now, {self.cache_hits} loaded from the cache; a kernel loaded from "
            "the cache brings the kernels it calls)",
            f"cache: {where}{state}",
            "imported: " + ", ".join(self.imported),
        ]
        out += [f"  {name}: {n} signature(s)" for name, n in sorted(built.items())]
        if inlined:
            out.append("  inlined into the kernels above: " + ", ".join(inlined))
        return out


def _small_ensemble(rng: Any, n_features: int, *, special: bool = False) -> Any:
    """A boosted-looking ensemble: three depth-3 trees, one output in margin space.

    ``special=True`` makes one node of each tree categorical and one zero-as-missing (the
    kernels' variant for LightGBM, HistGradientBoosting and categorical XGBoost models).
    """
    import numpy as np

    from .attribution.tree._builder import EnsembleBuilder, bitset_from_categories
    from .attribution.tree._ensemble import (
        FLAG_CAT_SET_LEFT,
        FLAG_CATEGORICAL,
        FLAG_ZERO_MISSING,
    )

    builder = EnsembleBuilder(1)
    for _ in range(3):
        # Preorder, depth 3: internal nodes 0,1,2,5,8,9,12; leaves 3,4,6,7,10,11,13,14.
        left = [1, 2, 3, -1, -1, 6, -1, -1, 9, 10, -1, -1, 13, -1, -1]
        right = [8, 5, 4, -1, -1, 7, -1, -1, 12, 11, -1, -1, 14, -1, -1]
        internal = [i for i, v in enumerate(left) if v >= 0]
        feature = np.full(15, -1)
        feature[internal] = rng.integers(0, n_features, len(internal))
        cover = np.zeros(15)
        for leaf in (i for i, v in enumerate(left) if v < 0):
            cover[leaf] = rng.integers(5, 50)
        for node in reversed(internal):
            cover[node] = cover[left[node]] + cover[right[node]]
        flags = np.where(np.arange(15) % 2 == 0, 1, 0)  # NaN goes left on some nodes
        categories = None
        if special:
            flags[1] |= FLAG_CATEGORICAL | FLAG_CAT_SET_LEFT
            flags[8] |= FLAG_ZERO_MISSING
            categories = {1: bitset_from_categories([0, 2, 3])}
        builder.add_tree(
            left=left,
            right=right,
            feature=feature,
            threshold=rng.normal(size=15),
            flags=flags,
            cover=cover,
            value=rng.normal(size=15),
            output=0,
            categories=categories,
        )
    return builder.build(
        base_offset=[0.1],
        n_features=n_features,
        native_space="margin",
        float32_inputs=False,
        source="warmup",
    )


def _deep_ensemble(n_features: int) -> Any:
    """One chain tree splitting on ``n_features`` distinct columns: a path with more players
    than a fail mask holds (64), which the path-walking kernels serve."""
    import numpy as np

    from .attribution.tree._builder import EnsembleBuilder

    n = 2 * n_features + 1
    left, right = np.full(n, -1), np.full(n, -1)
    feature, cover = np.full(n, -1), np.zeros(n)
    for i in range(n_features):
        node = 2 * i
        left[node], right[node], feature[node] = node + 1, node + 2, i
    cover[n - 1] = 2.0
    for i in reversed(range(n_features)):
        node = 2 * i
        cover[node + 1] = 1.0 + i
        cover[node] = cover[node + 1] + cover[node + 2]
    builder = EnsembleBuilder(1)
    builder.add_tree(
        left=left,
        right=right,
        feature=feature,
        threshold=np.zeros(n),
        flags=np.zeros(n),
        cover=cover,
        value=np.linspace(-1.0, 1.0, n),
        output=0,
    )
    return builder.build(
        base_offset=[0.0],
        n_features=n_features,
        native_space="margin",
        float32_inputs=False,
        source="warmup",
    )


def _run_kernels(*, threads: tuple[int, ...] = (1, 2)) -> None:
    import numpy as np

    from .attribution.tree import InterventionalTreeCore, TreeShapCore

    rng = np.random.default_rng(0)
    n_features = 6
    ens = _small_ensemble(rng, n_features)
    rows = rng.normal(size=(80, n_features))
    rows[::7, 2] = np.nan
    rows[::5, 3] = np.floor(np.abs(rows[::5, 3]) * 3)  # category codes 0, 1, 2, ...
    background = rng.normal(size=(40, n_features))
    groups = np.array([0, 0, 1, 2, 3, 3])
    ens.predict_raw(rows)
    from dataclasses import replace

    from .attribution.tree._library_scores import LibraryScores

    for dtype in ("float32", "float64"):  # scores in XGBoost's and LightGBM's arithmetic
        scored = replace(ens, library_dtype=dtype, library_base=(0.1,))
        LibraryScores(ensemble=scored, logistic=True, target=0, output_is_score=False)(rows)
    # Every variant of the TreeSHAP kernels: plain numeric splits only, or also categorical
    # and zero-as-missing ones; subset tables, or leaves without one (budget 0); and, for
    # one lead, the prefetching variant of tables bigger than the cache.
    for ensemble in (ens, _small_ensemble(rng, n_features, special=True)):
        for budget in (256 * 2**20, 0):
            for g in (None, groups):
                core = TreeShapCore(ensemble, groups=g, memory_budget=budget)
                core.values_and_output(rows[:1])  # one lead
                core._few_rows(rows[:1], prefetch=True)
                core.shap_values(rows[:3])  # a few rows, row by row
                for n in threads:  # a batch, in blocks (n = 2: numba's parallel driver)
                    core.shap_values(rows, n_threads=n)
                for lib in (np.float32, np.float64):  # margins summed as XGBoost, LightGBM do
                    core.shap_values_and_margin(rows[:1], dtype=lib, base=lib(0.1))
                    core._few_rows(
                        rows[:1],
                        prefetch=True,
                        scored=(np.asarray(core._plan[9], dtype=lib), np.zeros(1, dtype=lib)),
                    )
                    for n in threads:
                        core.shap_values_and_margin(rows, dtype=lib, base=lib(0.1), n_threads=n)
    for space in ("probability", "margin"):
        icore = InterventionalTreeCore(ens, background, groups=groups, output_space=space)
        icore.values_and_output(rows[:1])
        icore.shap_values(rows[:3])
        for n in threads:
            icore.shap_values(rows, n_threads=n)
        icore.predict(rows[:3])
    deep = _deep_ensemble(66)
    deep_rows = rng.normal(size=(130, 66))
    dcore = TreeShapCore(deep)
    dcore.values_and_output(deep_rows[:1])
    for n in threads:
        dcore.shap_values(deep_rows, n_threads=n)


def _kernel_stats() -> tuple[dict[str, int], int, int]:
    from numba.core.registry import CPUDispatcher

    kernels: dict[str, int] = {}
    hits = misses = 0
    for name in _KERNEL_MODULES:
        module = importlib.import_module(name)
        short = name.rsplit(".", 1)[1].lstrip("_")
        for attr, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == name:
                kernels[f"{short}.{attr}"] = len(obj.signatures)
                stats = obj.stats
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    return kernels, hits, misses


def warmup(*, parallel: bool = True) -> WarmupReport:
    """Import what a worker needs and compile (or load from the cache) every kernel.

    ``parallel=False`` leaves out the kernels that run on numba's threads: running one
    starts numba's thread pool, after which a process must not fork (the Spark daemon of
    ``explainscore._spark_daemon`` forks its workers). They are then compiled on first use.
    """
    from ._numba_cache import cache_dir, kernel_cache

    start = time.perf_counter()
    imported = []
    for name in _WORKER_MODULES:
        importlib.import_module(name)
        imported.append(name)
    for name in _OPTIONAL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        imported.append(name)
    try:
        from ._safe_skops import _loaders

        _loaders(sklearn_nodes=True)
        imported.append(_SKOPS_LOADERS)
    except ImportError:
        pass
    # The look-alike character table every model build reads (hidden-column matching).
    from .governance._identity import skeleton

    skeleton("warmup")
    _run_kernels(threads=(1, 2) if parallel else (1,))
    kernels, hits, misses = _kernel_stats()
    return WarmupReport(
        cache_dir=cache_dir(),
        cache_enabled=kernel_cache(),
        seconds=time.perf_counter() - start,
        imported=imported,
        kernels=kernels,
        cache_hits=hits,
        compiled=misses,
    )
