"""The prepared engine and the batch flow every door runs: frame in, explanations out.

:class:`~explainscore.ExplainedModel` builds an engine from a fitted model; the command line
builds the same engine from a saved bundle's compiled form (``_compiled``) without importing
scikit-learn. Both explain a validated frame with :func:`explain_frame`, so the numbers, the
exactness check and the records cannot drift apart between them. Nothing here imports
scikit-learn: that is what lets a CLI process start in about a second.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._fast_lane import FastLane, LaneSlot
from ._inputs import Schema
from ._output import ModelKind, OutputFn
from ._pipeline import ModelStructure
from ._records import Explanations, NextBestAction
from ._row_encoder import plain_cell
from .attribution._base import Attributor, OutputSpace
from .attribution._registry import Backend
from .exceptions import ExplanationError, InputError
from .governance._identity import skeleton
from .governance._policy import Policy
from .reasons._actions import next_best_actions
from .reasons._catalog import Catalog
from .reasons._compose import ReasonWriter

__all__ = [
    "ENGINE_PARAMS",
    "Engine",
    "batch_metadata",
    "check_efficiency",
    "check_efficiency_one",
    "explain_frame",
    "hidden_by",
    "lead_fields",
    "secret_test",
    "target_label",
]

#: Parameters baked into the prepared engine: changing one with ``set_params`` rebuilds it.
ENGINE_PARAMS = frozenset(
    {
        "background",
        "method",
        "output_space",
        "target_class",
        "target",
        "n_background",
        "catalog",
        "reasons",
        "model_version",
        "policy",
        "card",
        "require_sign_off",
        "trusted_keys",
        "method_options",
        "random_state",
    }
)

#: Rows of a validated frame -> the attributor's input (the model's space or the raw one).
ModelSpace = Callable[[pd.DataFrame], np.ndarray[Any, Any]]


@dataclass(frozen=True)
class Engine:
    """Everything built once per fitted model and reused for every batch."""

    schema: Schema
    structure: ModelStructure
    kind: ModelKind
    backend: Backend
    attributor: Attributor
    output_space: OutputSpace
    target_index: int | None
    score_fn: OutputFn
    output_fn: OutputFn
    #: Score and output from the final estimator on already-transformed rows, when the
    #: preprocessing is traced exactly (so a Pipeline's transform runs once per batch).
    final_fns: tuple[OutputFn, OutputFn] | None
    #: Both from the compiled trees in the library's own arithmetic, equal to the library's
    #: bit for bit (a ``LibraryScores``, see ``attribution.tree._library_scores``); None:
    #: ask the library.
    library: Any
    fingerprint: str
    tolerance: float
    writer: ReasonWriter
    catalog: Catalog
    version: str
    #: Builds the single-lead fast path on first use (see ``_fast_lane``): a process that
    #: only explains batches (the CLI, a Spark task) never pays for its checks.
    lane_slot: LaneSlot = field(default_factory=LaneSlot.none)
    #: Record fields fixed by the engine (see ``lead_fields``), for the fast path.
    lead_fields: Mapping[str, Any] = field(default_factory=dict)
    #: The model's columns never named to a rep (catalog or policy, any spelling).
    hidden: frozenset[str] = frozenset()

    @property
    def lane(self) -> FastLane | None:
        """The single-lead fast path, or None when the model allows none."""
        return self.lane_slot.get()


def explain_frame(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    k: int,
    rejected: list[Any],
    model_space: ModelSpace,
    signed_off: bool,
    policy: Policy | None,
) -> Explanations:
    """Score and explain the validated rows of ``frame``: one attribution pass, the exactness
    check, reasons composed in bulk."""
    attr_in = model_space(frame)
    result = engine.attributor.attribute(attr_in)
    if engine.library is not None:
        # The model's own numbers, bit for bit: from the margins the TreeSHAP pass summed in
        # the library's arithmetic, or from a walk of the trees.
        margin = result.library_margin
        if margin is not None:
            scores, outputs = engine.library.from_margin(margin)
        else:
            scores, outputs = engine.library(attr_in)
    elif engine.final_fns is not None:
        scores, outputs = engine.final_fns[0](attr_in), engine.final_fns[1](attr_in)
    else:
        model_in = engine.schema.model_input(frame)
        scores, outputs = engine.score_fn(model_in), engine.output_fn(model_in)
    check_efficiency(result.values, result.base_values, outputs, engine.tolerance)
    names = engine.schema.names
    writer = engine.writer
    actions: list[NextBestAction | None] = [None] * len(frame)
    if writer.config.next_best_action != "off":
        schema = engine.schema
        actions = next_best_actions(
            frame,
            scores,
            catalog=engine.catalog,
            locale=writer.locale,
            score_rows=lambda rows_: engine.score_fn(schema.model_input(rows_)),
            allowed=[n for n in names if n not in engine.hidden],
        )
    # All rows' reasons at once (the same text as ``writer.compose`` row by row).
    reasons = writer.compose_batch(scores, result.values, frame, actions)
    return Explanations(
        scores=scores,
        outputs=outputs,
        base_values=result.base_values,
        attributions=result.values,
        reasons=reasons.reasons,
        bands=reasons.bands,
        reason_codes=reasons.codes,
        next_best_actions=actions,
        data=frame,
        exact=result.exact,
        target_class=target_label(engine),
        rejected=rejected,
        std_errors=result.std_errors,
        display_names=writer.display_names,
        composed=reasons.composed,
        reason_writer=writer,
        **batch_metadata(engine, k, signed_off=signed_off, policy=policy),
    )


def batch_metadata(
    engine: Engine, k: int, *, signed_off: bool, policy: Policy | None
) -> dict[str, Any]:
    """The fields every batch carries, explained or paused."""
    return {
        "feature_names": list(engine.schema.names),
        "output_space": engine.output_space,
        "explainer": engine.backend.name,
        "model_fingerprint": engine.fingerprint,
        "model_version": engine.version,
        "explained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "top_k": k,
        "hidden": engine.hidden,
        "signed_off": signed_off,
        "policy_version": None if policy is None else policy.version,
    }


def lead_fields(engine: Engine) -> dict[str, Any]:
    """The record fields an engine fixes: the same values ``batch_metadata`` gives."""
    return {
        "output_space": engine.output_space,
        "explainer": engine.backend.name,
        "target_class": target_label(engine),
        "model_fingerprint": engine.fingerprint,
        "model_version": engine.version,
    }


def target_label(engine: Engine) -> Any:
    """The explained class's label (a plain scalar), or None for regressors."""
    if engine.target_index is None or engine.kind.classes is None:
        return None
    return plain_cell(engine.kind.classes[engine.target_index])


def hidden_by(name: str, catalog: Catalog, policy: Policy | None) -> bool:
    """Whether the catalog or the policy hides column ``name`` (any spelling of it)."""
    return secret_test(catalog, None)(name) or (policy is not None and policy.is_hidden(name))


def secret_test(catalog: Catalog, policy: Policy | None) -> Any:
    """The test of a name that may not be written anywhere: a column hidden by the catalog
    or the policy, or blocked by the policy, in any spelling of it."""
    hidden = frozenset(skeleton(n) for n in catalog.hidden())

    def secret(name: str) -> bool:
        # No hidden name, no spelling to compare: the look-alike table (a quarter of a
        # second to build) is then never needed.
        return (bool(hidden) and skeleton(name) in hidden) or (
            policy is not None and policy.is_secret(name)
        )

    return secret


# --- the exactness check ---------------------------------------------------------------------


def check_efficiency(
    values: np.ndarray[Any, Any],
    base: np.ndarray[Any, Any],
    outputs: np.ndarray[Any, Any],
    tol: float,
) -> None:
    """Raise unless ``base + sum(values)`` equals ``outputs`` to ``tol`` on every row."""
    total = base + values.sum(axis=1)
    if total.shape != np.shape(outputs):
        # One output per row is explained (multi-output models: the target's column).
        raise _not_exact(len(total), 0, math.inf, tol)
    overflow = np.flatnonzero(~(np.isfinite(outputs) & np.isfinite(total)))
    if overflow.size:
        raise _overflow(overflow.tolist())
    err = np.abs(total - outputs)
    bound = tol * np.maximum(1.0, np.abs(outputs))
    bad = np.flatnonzero(~(err <= bound))
    if bad.size:
        worst = int(bad[np.argmax(err[bad])])
        raise _not_exact(bad.size, worst, float(err[worst]), float(bound[worst]))


def check_efficiency_one(total: float, base: float, output: float, tol: float) -> None:
    """``check_efficiency`` for one row in plain floats (``total``: its attributions' sum)."""
    if not (math.isfinite(output) and math.isfinite(base + total)):
        raise _overflow([0])
    err = abs(base + total - output)
    # np.maximum propagates NaN, max() does not: keep the batch check's bound exactly.
    bound = tol * max(1.0, abs(output)) if output == output else math.nan
    if not err <= bound:
        raise _not_exact(1, 0, err, bound)


def _overflow(rows: list[int]) -> InputError:
    # Finite inputs whose output or attributions are not finite: values so large that the
    # model's own arithmetic (or the attribution's) overflows. The input, not a bug.
    shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
    return InputError(
        f"The model's output or its attributions overflow for {len(rows)} row(s) (rows "
        f"{shown}, 0-based positions): some values are too large for the model's arithmetic. "
        "Clip or rescale those values to the range the model was trained on."
    )


def _not_exact(n_bad: int, worst: int, err: float, bound: float) -> ExplanationError:
    return ExplanationError(
        f"Attributions of {n_bad} row(s) do not add up to the model output "
        f"(worst: row {worst}, off by {err:.3g}, tolerance {bound:.3g}). "
        "This is a bug in explainscore; please report it with the model type."
    )
