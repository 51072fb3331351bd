"""Exact TreeSHAP for tree ensembles.

Two games, both exact:

* In the model's native space (log-odds for boosted classifiers, probability for forests, raw
  for regressors): the **path-dependent** game of Lundberg et al. (2020), where an absent
  feature is integrated out using the training cover recorded in the trees. No background
  data is needed. Computed by explainscore's own core (``attribution.tree``) with the raw
  columns as the players: the transformed columns a raw column produced (a one-hot block) are
  one player, so the values are the exact Shapley values of the raw-column game. Models the
  core cannot compile fall back to shap, per transformed column, summed per raw column.
* In probability space for boosted classifiers: the **interventional** game on the background
  rows, v(S) = mean_b sigmoid(margin(x_S, b_~S)), which is the only way the probability of a
  boosted model decomposes exactly.

In probability space (shap's interventional TreeExplainer) values are computed per
transformed column and summed per raw column (see ``groups``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._optional import import_optional
from ..exceptions import UnsupportedModelError
from ._base import Attribution, Attributor, ExplainContext
from ._fold import fold_to_players
from ._tree_support import is_averaging_ensemble
from .tree import TreeShapCore, can_compile, compile_ensemble

__all__ = ["TreeAttributor"]


class TreeAttributor(Attributor):
    """Exact TreeSHAP (path-dependent in the native space, interventional for probability)."""

    name = "tree"

    _core: TreeShapCore | None = None

    def __init__(self, context: ExplainContext) -> None:
        shap = import_optional("shap", extra="shap", purpose="method='tree'")
        self._context = context
        est = context.estimator
        averaging = is_averaging_ensemble(est)
        space = context.output_space
        self._negate = False
        if space == "probability" and not averaging:
            self.game = "interventional game on the background rows, in probability"
            self._explainer = shap.TreeExplainer(
                est,
                data=np.asarray(context.background, dtype=np.float64),
                feature_perturbation="interventional",
                model_output="probability",
            )
        elif space == "log_odds" and averaging:
            raise UnsupportedModelError(
                f"{type(est).__name__} averages leaf probabilities, so its log-odds is not a "
                "sum over trees and has no exact tree attribution. Use "
                "output_space='probability' (exact), or method='kernel' for log-odds."
            )
        else:
            self.game = "path-dependent tree game over the raw columns, in the native output"
            self._core = self._own_core(est, context)
            if self._core is None:
                self._explainer = shap.TreeExplainer(
                    est, feature_perturbation="tree_path_dependent"
                )
        classes = getattr(est, "classes_", None)
        self._binary = classes is not None and len(classes) == 2
        # shap reports binary margins (and RF probabilities of boosted models) for class 1.
        self._target = 1 if context.target_class is None else context.target_class

    @property
    def core(self) -> TreeShapCore | None:
        """explainscore's compiled core, or None when shap computes the values."""
        return self._core

    @property
    def mirrored(self) -> bool:
        """Whether the explained output is the negative of the core's (binary class 0)."""
        core = self._core
        return (
            core is not None
            and core.ensemble.n_outputs == 1
            and self._binary
            and (self._target == 0)
        )

    @staticmethod
    def _own_core(est: Any, context: ExplainContext) -> TreeShapCore | None:
        if not can_compile(est):
            return None
        ensemble = compile_ensemble(est)
        target = 1 if context.target_class is None else context.target_class
        # A binary margin model has one output (class 1); forests have one per class.
        output = 0 if ensemble.n_outputs == 1 else target
        options = context.options or {}
        budget = int(options.get("memory_budget", 256 * 2**20))
        return TreeShapCore(ensemble, groups=context.groups, output=output, memory_budget=budget)

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        ctx = self._context
        if self._core is not None:
            return self._attribute_core(self._core, X)
        raw = self._explainer.shap_values(np.asarray(X, dtype=np.float64), check_additivity=False)
        values = np.asarray(raw, dtype=np.float64)
        expected = np.atleast_1d(np.asarray(self._explainer.expected_value, dtype=np.float64))
        if values.ndim == 3:
            col = self._target if values.shape[2] > 1 else 0
            values = values[:, :, col]
            base = float(expected[col] if expected.size > 1 else expected[0])
        else:
            base = float(expected[0])
            if self._binary and self._target == 0:
                # A single binary output is for class 1; class 0 is its mirror image.
                if ctx.output_space == "probability":
                    values, base = -values, 1.0 - base
                else:
                    values, base = -values, -base
        players = fold_to_players(values, ctx.groups, ctx.n_players)
        return Attribution(
            values=players,
            base_values=np.full(players.shape[0], base, dtype=np.float64),
            exact=True,
        )

    def _attribute_core(self, core: TreeShapCore, X: np.ndarray[Any, Any]) -> Attribution:
        values = core.shap_values(np.asarray(X, dtype=np.float64))
        base = core.expected_value
        if self.mirrored:
            # The single binary margin is class 1's log-odds; class 0's is its negative.
            values, base = -values, -base
        return Attribution(
            values=values, base_values=np.full(len(values), base, dtype=np.float64), exact=True
        )
