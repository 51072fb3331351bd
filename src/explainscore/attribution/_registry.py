"""The table of attribution backends and the rule that picks one.

Each :class:`Backend` says which models it supports, in which input space it works, its
default output space for a model, and how to build its attributor. ``method="auto"`` takes the
first backend in :data:`BACKENDS` whose ``auto`` flag is set and whose ``supports`` accepts the
model; a name picks that backend. Adding a backend is adding a row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._output import ModelKind
from ..exceptions import UnsupportedModelError
from ._base import Attributor, ExplainContext, InputSpace, OutputSpace

__all__ = ["BACKENDS", "Backend", "get_backend", "method_names"]


@dataclass(frozen=True)
class Backend:
    """One row of the backend table.

    Attributes
    ----------
    name : str
        The ``method=`` value that selects it.
    input_space : {"model", "raw"}
        ``"model"``: explains the final estimator on a Pipeline's transformed columns and needs
        an exact column map; ``"raw"``: explains the whole model on the raw columns.
    supports : callable
        ``supports(estimator) -> bool`` for the estimator it would explain (the final step for
        ``"model"`` backends, the whole model for ``"raw"`` ones).
    native_space : callable
        ``native_space(estimator, kind) -> OutputSpace``: the default output space.
    module, factory : str
        Where the attributor class lives; imported only when the backend is used.
    options : tuple of str
        The ``method_options`` keys it reads; any other key is refused.
    auto : bool
        Whether ``method="auto"`` may choose it.
    """

    name: str
    input_space: InputSpace
    supports: Callable[[Any], bool]
    native_space: Callable[[Any, ModelKind], OutputSpace]
    module: str
    factory: str
    options: tuple[str, ...] = ()
    auto: bool = True

    def build(self, context: ExplainContext) -> Attributor:
        cls = getattr(importlib.import_module(self.module, __package__), self.factory)
        attributor: Attributor = cls(context)
        return attributor


def _margin_or_raw(estimator: Any, kind: ModelKind) -> OutputSpace:
    if not kind.is_classifier:
        return "raw"
    return "log_odds" if kind.has_proba else "raw"


def _probability_or_raw(estimator: Any, kind: ModelKind) -> OutputSpace:
    if not kind.is_classifier:
        return "raw"
    return "probability" if kind.has_proba else "raw"


def _tree_native(estimator: Any, kind: ModelKind) -> OutputSpace:
    from ._tree_support import tree_native_space

    return tree_native_space(estimator, kind)


def _supports_tree(estimator: Any) -> bool:
    from ._linear import is_gblinear
    from ._tree_support import is_tree_model

    # An XGBoost model with booster="gblinear" has no trees: the linear backend explains it.
    return is_tree_model(estimator) and not is_gblinear(estimator)


def _supports_linear(estimator: Any) -> bool:
    from ._linear import is_linear_model

    return is_linear_model(estimator)


def _linear_native(estimator: Any, kind: ModelKind) -> OutputSpace:
    from ._linear import linear_native_space

    return linear_native_space(estimator, kind)


def _supports_catboost(estimator: Any) -> bool:
    from ._catboost import supports_catboost

    return supports_catboost(estimator)


def _supports_anything(estimator: Any) -> bool:
    return any(
        callable(getattr(estimator, m, None))
        for m in ("predict_proba", "decision_function", "predict")
    )


#: The backends, in the order ``method="auto"`` tries them.
BACKENDS: tuple[Backend, ...] = (
    Backend(
        "tree",
        "model",
        _supports_tree,
        _tree_native,
        "._tree",
        "TreeAttributor",
        options=("memory_budget",),
    ),
    Backend(
        "linear",
        "model",
        _supports_linear,
        _linear_native,
        "._linear",
        "LinearAttributor",
        options=("max_exact_players",),
    ),
    Backend(
        "catboost",
        "raw",
        _supports_catboost,
        _margin_or_raw,
        "._catboost",
        "CatBoostAttributor",
    ),
    Backend(
        "kernel",
        "raw",
        _supports_anything,
        _probability_or_raw,
        "._kernel",
        "KernelAttributor",
        options=(
            "estimator",
            "n_samples",
            "n_permutations",
            "n_evaluations",
            "target_std_error",
            "max_exact_players",
            "background_summary",
            "n_summary_rows",
            "memory_budget",
        ),
    ),
    Backend(
        "lime",
        "raw",
        _supports_anything,
        _probability_or_raw,
        "._lime",
        "LimeAttributor",
        options=("num_samples",),
        auto=False,
    ),
)


def method_names() -> list[str]:
    return ["auto", *(b.name for b in BACKENDS)]


def get_backend(name: str) -> Backend:
    for backend in BACKENDS:
        if backend.name == name:
            return backend
    raise UnsupportedModelError(f"No explanation method is called {name!r}.")
