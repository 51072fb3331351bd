"""Exact TreeSHAP for tree ensembles.

Two computations, both exact and both by explainscore's own compiled core (``attribution.tree``)
with the raw columns as the players (the transformed columns a raw column produced, such as a
one-hot block, are one player):

* In the model's native space (log-odds for boosted classifiers, probability for forests, raw
  for regressors): the **path-dependent** game of Lundberg et al. (2020), where an absent
  feature is integrated out using the training cover recorded in the trees. No background
  data is needed (:class:`~.tree.TreeShapCore`).
* In probability space for boosted binary classifiers: **interventional** values on the
  background rows (:class:`~.tree.InterventionalTreeCore`), as shap's interventional
  ``TreeExplainer`` with ``model_output="probability"`` defines them. For each background row
  ``b`` the exact Shapley values of the margin game ``m_b(S) = margin(x_S, b_~S)`` are rescaled
  by ``(p(x) - p(b)) / (m(x) - m(b))`` and then averaged. They add up exactly,
  ``mean_b p(b) + sum(phi) = p(x)``, but they are *not* the Shapley values of the probability
  game ``v(S) = mean_b sigmoid(margin(x_S, b_~S))`` (``method="kernel"`` computes those).
* In response space for regressors with a link (``predict = f(margin)``: ``exp`` for Poisson,
  gamma and Tweedie, the logistic for ``reg:logistic`` and ``cross_entropy``): the same
  interventional rescaling with the regressor's own link, ``(f(m(x)) - f(m(b))) / (m(x) -
  m(b))``, which adds up to ``predict`` exactly. In ``margin`` space such a regressor gets the
  path-dependent game of its margin, the default.

A multi-output model (a regressor with several targets) is one ensemble output per target; the
one explained is ``target_class`` (``ExplainedModel(target=...)``).

Models the core cannot compile fall back to shap, per transformed column, summed per raw
column.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .._optional import import_optional
from ..exceptions import UnsupportedModelError
from ._base import Attribution, Attributor, ExplainContext
from ._fold import fold_to_players
from ._tree_support import is_averaging_ensemble, is_tree_subclass, known_base_name

# The compiled core (``.tree``, which imports numba) is imported where a model is built.
if TYPE_CHECKING:
    from .tree import InterventionalTreeCore, TreeShapCore
    from .tree._library_scores import LibraryScores

__all__ = ["TreeAttributor"]

_PROBABILITY_GAME = (
    "interventional tree values in probability on the background rows: per background row, "
    "the exact Shapley values of the margin game over the raw columns, rescaled by the row's "
    "probability difference over its margin difference and averaged (adds up to the "
    "probability exactly; not the Shapley value of the probability game)"
)


_RESPONSE_GAME = (
    "interventional tree values in response on the background rows: per background row, "
    "the exact Shapley values of the margin game over the raw columns, rescaled by the row's "
    "response difference over its margin difference (the link's derivative at equal "
    "margins) and averaged (adds up to predict exactly; not the Shapley value of the "
    "response game)"
)


def _shap() -> Any:
    """shap, the backend for the models the compiled core cannot compile."""
    return import_optional("shap", extra="shap", purpose="method='tree'")


class TreeAttributor(Attributor):
    """Exact TreeSHAP (path-dependent in the native space, interventional for probability)."""

    name = "tree"

    _core: TreeShapCore | None = None
    _interventional: InterventionalTreeCore | None = None
    _library: LibraryScores | None = None

    def __init__(self, context: ExplainContext) -> None:
        # shap is imported only where it computes the values (a model the core cannot
        # compile): the compiled core never needs it, and it costs seconds to import.
        self._context = context
        est = context.estimator
        averaging = is_averaging_ensemble(est)
        space = context.output_space
        self._negate = False
        classes = getattr(est, "classes_", None)
        self._binary = classes is not None and len(classes) == 2
        # shap reports binary margins (and RF probabilities of boosted models) for class 1.
        self._target = 1 if context.target_class is None else context.target_class
        if space == "probability" and not averaging:
            self.game = _PROBABILITY_GAME
            self._interventional = self._own_interventional(est, context, self._target)
            if self._interventional is None:
                self.game += "; by shap, per transformed column, summed per raw column"
                self._explainer = _shap().TreeExplainer(
                    est,
                    data=np.asarray(context.background, dtype=np.float64),
                    feature_perturbation="interventional",
                    model_output="probability",
                )
        elif space == "response":
            self.game = _RESPONSE_GAME
            self._interventional = self._own_response(est, context)
        elif space == "log_odds" and averaging:
            raise UnsupportedModelError(
                f"{type(est).__name__} averages leaf probabilities, so its log-odds is not a "
                "sum over trees and has no exact tree attribution. Use "
                "output_space='probability' (exact), or method='kernel' for log-odds."
            )
        else:
            self.game = "path-dependent tree game over the raw columns, in the native output"
            self._core = self._own_core(est, context)
            if self._core is not None:
                self._check_native_output(self._core, context)
            if self._core is None:
                self._explainer = _shap().TreeExplainer(
                    est, feature_perturbation="tree_path_dependent"
                )

    @property
    def core(self) -> TreeShapCore | None:
        """explainscore's compiled core, or None when shap computes the values."""
        return self._core

    @property
    def interventional(self) -> InterventionalTreeCore | None:
        """explainscore's interventional core (probability space), or None."""
        return self._interventional

    def library_scores(
        self, *, classifier: bool, n_classes: int, reference: Any, expected: Any
    ) -> Any:
        """Scores and outputs in the library's own arithmetic from the compiled trees
        (:mod:`.tree._library_scores`), or None when they would not equal the library's bit
        for bit on ``reference`` (rows in the model's space; ``expected`` the library's own
        scores and outputs on them)."""
        core = self._core if self._core is not None else self._interventional
        if core is None:
            return None
        from .tree._library_scores import library_scores

        own = self._core
        scorer = library_scores(
            core.ensemble,
            classifier=classifier,
            n_classes=n_classes,
            target=self._context.target_class,
            space=self._context.output_space,
            reference=reference,
            expected=expected,
            margin=None
            if own is None
            else lambda rows, dtype, base: own.shap_values_and_margin(rows, dtype=dtype, base=base)[
                1
            ],
        )
        if scorer is not None and self._core is not None:
            # From now on the TreeSHAP pass also sums the leaves each row reaches in the
            # library's arithmetic (``Attribution.library_margin``): the scores then cost
            # no walk of their own.
            self._library = scorer
        return scorer

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
        from .tree import TreeShapCore, can_compile, compile_ensemble

        if not can_compile(est):
            return None
        ensemble = compile_ensemble(est)
        target = 1 if context.target_class is None else context.target_class
        # A binary margin model has one output (class 1); forests have one per class.
        output = 0 if ensemble.n_outputs == 1 else target
        options = context.options or {}
        budget = int(options.get("memory_budget", 256 * 2**20))
        return TreeShapCore(ensemble, groups=context.groups, output=output, memory_budget=budget)

    def _check_native_output(self, core: TreeShapCore, context: ExplainContext) -> None:
        """Refuse, with a way forward, the outputs that are not the sum the trees make.

        * a regressor whose ``predict`` applies a link to the margin (XGBoost
          ``count:poisson``, ``reg:gamma``, ``reg:tweedie``, ``reg:logistic``; LightGBM
          ``poisson``, ``gamma``, ``tweedie``, ``cross_entropy``; HistGradientBoosting
          ``loss="poisson"``): the values add up to the margin, not to ``predict``;
        * a LightGBM random forest in log-odds when the model's log-odds is read from
          ``raw_score=True``, which sums the trees that ``predict_proba`` averages.
        """
        ens = core.ensemble
        name = type(context.estimator).__name__
        is_regressor = getattr(context.estimator, "classes_", None) is None
        if context.output_space == "raw" and is_regressor and ens.link != "identity":
            # Output spaces are resolved before the backend: a regressor with a link is
            # explained in 'margin' or 'response', never 'raw'. Kept as a guard.
            raise UnsupportedModelError(
                f"{name}'s predict applies a link ({ens.link}) to the sum of its trees, so "
                "tree values in 'raw' space would not add up to predict. Use "
                "output_space='margin' (the sum of its trees) or output_space='response' "
                "(its predict)."
            )
        rf_log_odds = context.output_space == "log_odds" and ens.raw_score_scale != 1.0
        subclass = is_tree_subclass(context.estimator)
        if not (rf_log_odds or subclass):
            return
        background = np.asarray(context.background, dtype=np.float64)[:32]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            expected = np.asarray(context.value_function(background), dtype=np.float64)
        margin = ens.predict_raw(background)[:, core.output]
        explained = -margin if self.mirrored else margin
        # A subclass is only checked for an override of its prediction, not for float32
        # rounding (its output may be the logit of a float32 probability).
        rel = 1e-5 if rf_log_odds else 1e-3
        if np.all(np.abs(explained - expected) <= rel * np.maximum(1.0, np.abs(expected))):
            return
        if rf_log_odds:
            forward = (
                "output_space='probability' (exact interventional tree values) or method='kernel'"
                if ens.n_outputs == 1
                else "method='kernel'"
            )
            raise UnsupportedModelError(
                f"{name} is a LightGBM random forest (boosting_type='rf'): its probability is "
                "the logistic of the mean of its trees, but its raw score (the log-odds read "
                "from raw_score=True) is their sum, so tree values cannot add up to it. Use "
                f"{forward}."
            )
        raise UnsupportedModelError(
            f"{name} extends {known_base_name(context.estimator)}, but its output in "
            f"{context.output_space!r} space is not the one its trees compute (a subclass may "
            "override its prediction), so tree values would not add up to it. Use "
            "method='kernel', which explains the output the model actually gives."
        )

    @staticmethod
    def _own_response(est: Any, context: ExplainContext) -> InterventionalTreeCore:
        """The interventional core in response space (a regressor with a link)."""
        from .tree import InterventionalTreeCore, compile_ensemble

        name = type(est).__name__
        ensemble = compile_ensemble(est)
        output = 0 if context.target_class is None else context.target_class
        core = InterventionalTreeCore(
            ensemble,
            context.background,
            groups=context.groups,
            output=output,
            output_space="response",
        )
        # The rescaling assumes predict = link(margin) for this output.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            expected = np.asarray(context.value_function(context.background), dtype=np.float64)
        got = core.predict(context.background)
        if not np.all(np.abs(got - expected) <= 1e-5 * np.maximum(1.0, np.abs(expected))):
            raise UnsupportedModelError(
                f"{name}'s predict is not the {ensemble.link} link of the sum of its trees, so "
                "tree values cannot add up to it. Use output_space='margin', or "
                "method='kernel' for its predict."
            )
        return core

    @staticmethod
    def _own_interventional(
        est: Any, context: ExplainContext, target: int
    ) -> InterventionalTreeCore | None:
        """The interventional core in probability space; None to let shap compute."""
        from .tree import InterventionalTreeCore, can_compile, compile_ensemble

        if not can_compile(est):
            return None
        ensemble = compile_ensemble(est)
        name = type(est).__name__
        if ensemble.n_outputs != 1 or ensemble.native_space != "margin":
            raise UnsupportedModelError(
                f"{name} has {ensemble.n_outputs} class margins joined by a softmax. Tree "
                "values in probability space exist only for binary classifiers (one logistic "
                "margin), as in shap. Use output_space='log_odds' (exact, per class margin) "
                "or method='kernel' (exact Shapley values of the probability game up to 12 "
                "raw columns)."
            )
        try:
            core = InterventionalTreeCore(
                ensemble, context.background, groups=context.groups, output_space="probability"
            )
        except UnsupportedModelError:
            # One margin, so the only refusal left is a path through more than 63 distinct
            # players, which shap's path-walking algorithm handles.
            return None
        # The rescaling assumes P(class 1) = sigmoid(margin); a custom link or loss (such as
        # GradientBoosting's loss="exponential") would not add up to the probability.
        p1 = core.predict(context.background)
        with warnings.catch_warnings():
            # The background is a plain matrix; a model fitted on a frame says so, harmlessly.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            expected = np.asarray(context.value_function(context.background), dtype=np.float64)
        explained = p1 if target == 1 else 1.0 - p1
        if not np.allclose(explained, expected, rtol=0, atol=1e-5):
            raise UnsupportedModelError(
                f"{name}'s predict_proba is not the logistic of its summed tree margin, so "
                "its tree values cannot add up to the probability. Use "
                "output_space='log_odds', or method='kernel' for the probability."
            )
        return core

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        ctx = self._context
        if self._core is not None:
            return self._attribute_core(self._core, X)
        if self._interventional is not None:
            values = self._interventional.shap_values(np.asarray(X, dtype=np.float64))
            base = self._interventional.expected_value
            if self._binary and self._target == 0:
                # The core explains P(class 1); P(class 0) = 1 - P(class 1) mirrors it.
                values, base = -values, 1.0 - base
            return Attribution(
                values=values, base_values=np.full(len(values), base, dtype=np.float64), exact=True
            )
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
        return core_attribution(core, X, library=self._library, mirrored=self.mirrored)


def core_attribution(
    core: TreeShapCore, X: np.ndarray[Any, Any], *, library: Any, mirrored: bool
) -> Attribution:
    """The compiled core's values for ``X`` (the model's space), with the margins summed in
    the library's arithmetic when ``library`` (a ``LibraryScores``) is given; ``mirrored``:
    explain class 0 of a binary margin model (the negative of class 1's)."""
    margin = None
    if library is None:
        values = core.shap_values(np.asarray(X, dtype=np.float64))
    else:
        values, margin = core.shap_values_and_margin(
            np.asarray(X, dtype=np.float64), dtype=library.dtype, base=library.base
        )
    base = core.expected_value
    if mirrored:
        # The single binary margin is class 1's log-odds; class 0's is its negative.
        values, base = -values, -base
    return Attribution(
        values=values,
        base_values=np.full(len(values), base, dtype=np.float64),
        exact=True,
        library_margin=margin,
    )
