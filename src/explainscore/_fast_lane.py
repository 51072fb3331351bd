"""One lead, fast: ``explain_one`` without pandas for compiled tree models.

Why a second path
-----------------
A rep opening a lead, or a CRM calling the sidecar, wants the answer in well under a
millisecond. The batch path builds DataFrames, validates column by column, runs a Pipeline's
preprocessing and calls the model's own ``predict`` (twice), which costs milliseconds for one
row. When the final estimator is a tree ensemble explainscore compiles, this lane:

* checks the row once per lead against what it knows it can take: numbers (no infinity, NaN
  only where the model takes it) and, behind a Pipeline, known categories;
* runs a column-wise preprocessing as compiled tables (``_row_encoder``) instead of pandas;
* scores the row from the compiled ensemble (one pass over the trees, no copies) and
  explains it with the same TreeSHAP core as batches;
* writes the reason and the next best action from plain arrays.

It never decides what is accepted: a row it cannot take with certainty (text where a number
belongs, an unseen category, a missing value behind a Pipeline) goes to the batch path, which
accepts it or raises the typed error. It is built only after its scores agree with the
model's own on the background rows, so a lead gets the same numbers either way (to the
float32 rounding of boosters that score in float32).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._records import LeadExplanation, lead_record
from ._row_encoder import RowEncoder, plain_cell
from .governance._flow import audit_explanations, queue_for_review
from .governance._review import review_reasons_row
from .reasons._actions import action_candidates, choose_actions

if TYPE_CHECKING:
    from ._categories import CategoryCodes
    from .attribution.tree import TreeShapCore
    from .governance._review import InputProfile, ReviewRules
    from .reasons._catalog import Catalog
    from .reasons._compose import ReasonWriter

__all__ = ["FastLane", "LaneSlot"]

FloatArray = npt.NDArray[np.float64]
#: Tolerance of the build-time agreement check (float32 boosters round their scores).
_AGREE = 1e-5
_INF = math.inf
_NAN = math.nan
_NONE = type(None)
#: Exact cell types that are never text (``isinstance(v, _TEXT)`` is False for them).
_PLAIN = frozenset({float, int, _NONE})
_TEXT = (str, bytes)
_ARRAY: frozenset[type] = frozenset()


@dataclass(frozen=True)
class FastLane:
    """Everything one lead needs, prepared once per fitted model."""

    core: TreeShapCore
    names: tuple[str, ...]
    #: Columns where NaN is a value the model takes (missing allowed).
    nan_ok: npt.NDArray[np.bool_]
    #: Raw ensemble outputs (rows x outputs) -> score of the explained class.
    link: Callable[[FloatArray], FloatArray]
    #: Column of ``raw`` (the ensemble's outputs given to ``link``) that is explained.
    output_col: int
    #: The score needs only the explained output, which the SHAP pass yields: ``raw`` is
    #: then that one column.
    one_pass: bool
    #: -1 when the explained output is the mirror of the ensemble's (binary class 0).
    sign: float
    candidates: tuple[tuple[str, Any], ...]
    candidate_cols: npt.NDArray[np.intp]
    candidate_values: FloatArray
    hidden: npt.NDArray[np.bool_]
    tolerance: float
    #: The compiled preprocessing of a Pipeline; None when the model takes the raw numbers.
    encoder: RowEncoder | None = None
    #: A bare model with native categorical columns: each column's category codes (None
    #: for a plain numeric column); None when every column is a plain number.
    codes: tuple[CategoryCodes | None, ...] | None = None
    #: The model's scores in its library's own arithmetic (``LibraryScores``), when the
    #: batch path reads them so: the lane then reports the batch's numbers bit for bit.
    library: Any = None

    def __post_init__(self) -> None:
        # Plain-Python copies of the masks, read per lead without numpy calls.
        hidden = [bool(h) for h in self.hidden]
        derived = {
            "_nan_ok": [bool(v) for v in self.nan_ok],
            "_hidden": hidden,
            "_any_hidden": any(hidden),
            "_n_shown": hidden.count(False),
            "_candidate_cols": [int(c) for c in self.candidate_cols],
            "_names_list": list(self.names),
            "_labels_seen": [None],
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen dataclass: set once, here

    _nan_ok: list[bool] = field(init=False, repr=False, compare=False)
    _hidden: list[bool] = field(init=False, repr=False, compare=False)
    _any_hidden: bool = field(init=False, repr=False, compare=False)
    _n_shown: int = field(init=False, repr=False, compare=False)
    _candidate_cols: list[int] = field(init=False, repr=False, compare=False)
    _names_list: list[str] = field(init=False, repr=False, compare=False)
    #: The last column Index found equal to ``names`` (pandas shares a frame's Index
    #: between the frames ``iloc`` cuts from it): a mutable one-element cache.
    _labels_seen: list[Any] = field(init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        *,
        attributor: Any,
        structure: Any,
        kind: Any,
        schema: Any,
        target_index: int | None,
        writer: ReasonWriter,
        catalog: Catalog,
        allowed: Sequence[str],
        background: Any,
        score_fn: Callable[[Any], FloatArray],
        output_fn: Callable[[Any], FloatArray],
        tolerance: float,
        categories: Mapping[str, Sequence[Any]],
    ) -> FastLane | None:
        """The lane for this model, or None when it does not apply (the batch path serves)."""
        # Imported here: the tree backend pulls in numba, which ``import explainscore`` avoids.
        from .attribution._tree import TreeAttributor

        if not isinstance(attributor, TreeAttributor) or attributor.core is None:
            return None
        encoder = None
        if structure.preprocessor is not None and structure.categories:
            # Native categories behind the preprocessing: its tables do not hold the final
            # estimator's codes, so such a lead takes the batch path (exact, same numbers).
            return None
        if structure.preprocessor is not None:
            encoder = RowEncoder.build(
                structure.preprocessor,
                column_map=structure.column_map,
                kinds=[c.kind for c in schema.columns],
                reference=background,
                categories=categories,
            )
            if encoder is None:
                return None
        elif any(c.kind != "numeric" and c.categories is None for c in schema.columns):
            return None
        codes = (
            tuple(c.categories for c in schema.columns)
            if encoder is None and schema.has_codes
            else None
        )
        core = attributor.core
        ens = core.ensemble
        one_pass = ens.n_outputs == 1 or ens.native_space == "probability"
        link = _score_link(
            ens.native_space, kind, target_index, ens.n_outputs, core.output if one_pass else None
        )
        if link is None:
            return None
        candidates = action_candidates(catalog, allowed)
        names = tuple(schema.names)
        cand_values = np.zeros(len(candidates), dtype=np.float64)
        if encoder is None:
            try:
                cand_values = np.array(
                    [_target_code(codes, names.index(f), t) for f, t in candidates],
                    dtype=np.float64,
                )
            except (TypeError, ValueError):
                return None  # a target value outside the tables: the batch path handles it
        lane = cls(
            core=core,
            names=names,
            nan_ok=np.array([c.allow_missing for c in schema.columns], dtype=bool),
            link=link,
            output_col=0 if one_pass else core.output,
            one_pass=one_pass,
            sign=-1.0 if attributor.mirrored else 1.0,
            candidates=tuple(candidates),
            candidate_cols=np.array([names.index(f) for f, _ in candidates], dtype=np.intp),
            candidate_values=cand_values,
            hidden=writer.hidden_mask.copy(),
            tolerance=tolerance,
            encoder=encoder,
            codes=codes,
            library=getattr(attributor, "_library", None) if one_pass else None,
        )
        # Trust, then verify: the lane must reproduce the model on the background rows, and
        # every next-best-action change must be one the lane can score.
        if encoder is None:
            bg = schema.model_array(schema.to_frame(background, where="background"))
        else:
            cells = [[plain_cell(v) for v in r] for r in background.to_numpy(dtype=object)]
            encoded = [encoder.encode(c) for c in cells]
            rows = [e for e in encoded if e is not None]
            if len(rows) < len(encoded) or lane._changed(cells[0], rows[0]) is None:
                return None
            bg = np.vstack(rows)
        model_in = schema.model_input(schema.to_frame(background, where="background"))
        raw = lane._raw(bg)
        if not (
            np.allclose(lane.link(raw), score_fn(model_in), rtol=0, atol=_AGREE)
            and np.allclose(lane.sign * raw[:, lane.output_col], output_fn(model_in), atol=_AGREE)
        ):
            return None
        return lane

    def accept(self, row: Any) -> tuple[list[Any], FloatArray] | None:
        """The row's cells and its model input (1, n), or None to leave it to the batch path."""
        if type(row) is list and len(row) == 1 and isinstance(row[0], Mapping):
            row = row[0]  # a list of one record, as JSON clients send a lead
        values: Any = row
        if type(row) is not np.ndarray:  # an array, the common case, is none of these
            if isinstance(row, pd.DataFrame | pd.Series):
                values = self._pandas_row(row)
                if values is None:
                    return None
            elif isinstance(row, Mapping):
                if len(row) != len(self.names):
                    return None
                try:
                    values = [row[n] for n in self.names]
                except KeyError:
                    return None
            elif isinstance(row, np.ndarray | list | tuple):
                values = row
            else:
                return None
        if self.encoder is not None:
            if len(values) != len(self.names) or (
                isinstance(values, np.ndarray) and values.ndim != 1
            ):
                return None
            cells = [plain_cell(v) for v in values]
            x = self.encoder.encode(cells)
            if x is None:
                return None
            for j, v in enumerate(cells):
                if v is None or v != v:  # a missing value the compiled tables took
                    if not self._nan_ok[j]:
                        return None  # the batch path refuses it, naming the column
                    cells[j] = None  # missing, as the batch path reports it
            return cells, x
        if self.codes is not None:
            return self._accept_coded(values)
        # The cells' exact types, read once: a row of plain floats, ints and Nones (the
        # common one) holds no text, so the per-cell checks below are skipped for it.
        # (An array's cells are checked by its dtype instead.)
        kinds = _ARRAY if isinstance(values, np.ndarray) else set(map(type, values))
        if _NONE in kinds:
            # None is JSON's missing value: the same NaN the batch path reads it as (and
            # reports as None below); text is still left to the batch path.
            values = [_NAN if v is None else v for v in values]
        try:
            x = np.array(values, dtype=np.float64, ndmin=2)
        except (TypeError, ValueError):
            return None
        if x.shape != (1, len(self.names)):
            return None
        if isinstance(values, np.ndarray) and values.dtype.kind not in "fiub":
            return None  # object arrays may hold text that float() would parse
        if not kinds <= _PLAIN and any(isinstance(v, _TEXT) for v in values):
            return None  # the batch path parses text and reports it by column
        cells = x[0].tolist()
        # A sum of floats is finite only when every term is: the common, complete row is
        # vouched for without an element-wise pass (an overflowing sum takes the long way).
        total = sum(cells)
        if total - total == 0.0:
            return cells, x
        if _INF in cells or -_INF in cells:
            return None
        for j in np.isnan(x[0]).nonzero()[0].tolist():
            if not self._nan_ok[j]:
                return None
            cells[j] = None  # missing, as the batch path reports it
        return cells, x

    def _pandas_row(self, row: pd.DataFrame | pd.Series) -> Any:
        """The cells of a 1-row DataFrame or a Series in the model's column order, as the
        Python scalars ``to_dict`` gives (pandas' missing markers as None), or None.

        Read with one ``to_numpy`` call: ``to_dict("records")`` costs milliseconds for one
        row. Columns (or index labels) must be exactly the model's, in its order; anything
        else (a reordered, partial or 2-row frame) takes the batch path.
        """
        labels = row.columns if isinstance(row, pd.DataFrame) else row.index
        if len(labels) != len(self.names) or (isinstance(row, pd.DataFrame) and len(row) != 1):
            return None
        if labels is not self._labels_seen[0]:  # one check per distinct Index object
            if labels.tolist() != self._names_list:
                return None
            self._labels_seen[0] = labels
        array = row.to_numpy()
        cells = array.reshape(-1)
        if array.dtype != object:
            return cells  # one numpy dtype, read as a 1-D array (like an array row)
        out = [plain_cell(v) for v in cells]
        if isinstance(row, pd.DataFrame):
            # The batch path reads nullable numbers (Int64, Float64, boolean) as float64.
            for j, dtype in enumerate(row.dtypes.tolist()):
                if _nullable_number(dtype) and out[j] is not None:
                    out[j] = float(out[j])
        return out

    def _accept_coded(self, values: Any) -> tuple[list[Any], FloatArray] | None:
        """:meth:`accept` for a bare model with native categorical columns: a category
        the model knows becomes its code; a missing or unseen one takes the batch path."""
        assert self.codes is not None  # for mypy: the caller checked
        if len(values) != len(self.names) or (isinstance(values, np.ndarray) and values.ndim != 1):
            return None
        cells = [plain_cell(v) for v in values]
        x = np.empty((1, len(cells)), dtype=np.float64)
        row = x[0]
        for j, (v, codes) in enumerate(zip(cells, self.codes, strict=True)):
            if codes is not None:
                code = codes.code(v)
                if code is None or code != code:
                    return None
                row[j] = code
            elif type(v) is bool or not isinstance(v, int | float):
                return None  # text, None, ...: the batch path parses and reports it
            elif v != v:
                if not self._nan_ok[j]:
                    return None
                cells[j] = None  # missing, as the batch path reports it
                row[j] = math.nan
            elif v in (_INF, -_INF):
                return None
            else:
                row[j] = v
        return cells, x

    def explain(
        self,
        accepted: tuple[list[Any], FloatArray],
        *,
        writer: ReasonWriter,
        catalog: Catalog,
        k: int,
        exact_check: Callable[[float, float, float, float], None],
        metadata: dict[str, Any],
        display_names: Sequence[str],
    ) -> LeadExplanation:
        """Score, attributions, reason and next best action of one accepted row.

        One row is plain Python floats after the kernel: numpy calls on one-element arrays
        cost more than the arithmetic they do, and this path is timed in microseconds.
        """
        cells, x = accepted
        core = self.core
        library = self.library
        if library is not None:
            # The margin summed as the library sums it, in the same pass: the score and
            # output are then the batch's (and the model's) bit for bit.
            values, margin = core.shap_values_and_margin(x, dtype=library.dtype, base=library.base)
            scores, outputs = library.from_margin(margin)
            output = float(outputs[0])
        else:
            if self.one_pass:
                values, explained = core.values_and_output(x)
                raw = explained[:, None]
            else:  # a multiclass softmax needs every class's margin
                values = core.shap_values(x)
                raw = self._raw(x)
            scores = self.link(raw)
            output = self.sign * float(raw[0, self.output_col])  # times 1 or -1: exact
        score = float(scores[0])
        base = float(core.expected_value)
        if self.sign < 0:
            values, base = -values, -base
        row = values[0]
        total = float(row.sum())
        exact_check(total, base, output, self.tolerance)
        action = None
        if self.candidates and writer.config.next_best_action != "off":
            same = np.array([cells[c] == t for c, (_, t) in zip(
                self._candidate_cols, self.candidates, strict=True
            )])[:, None]  # fmt: skip
            # A lead already at every target value has no change to suggest (``choose_actions``
            # gives None whatever the new scores): it is not re-scored.
            if not (same.dtype == np.bool_ and same.all()):
                changed = self._changed(cells, x)
                if changed is None:  # pragma: no cover - every target is checked at build
                    raise RuntimeError("a next-best-action change the lane cannot score")
                new_scores = self.link(self._raw(changed))[:, None]
                action = choose_actions(
                    self.candidates, new_scores, scores, same, catalog=catalog, locale=writer.locale
                )[0]
        # One stable sort by |contribution| serves the reason and the record's top columns.
        order: list[int] = (-np.abs(row)).argsort(kind="stable").tolist()
        composed = writer.compose(score, row, cells, action, order=order)
        reason, codes = composed.render(writer.config.max_length)
        # Hidden columns are never listed; the shown ones keep the stable order (as a sort
        # with hidden magnitudes set to -1 gives them).
        if self._any_hidden:
            hidden = self._hidden
            order = [j for j in order if not hidden[j]]
        return lead_record(
            values=cells,
            attributions=row,
            top=order[: min(k, self._n_shown)],
            feature_names=self.names,
            display_names=display_names,
            score=score,
            output=output,
            base_value=base,
            reason=reason,
            band=composed.band,
            reason_codes=codes,
            next_best_action=action,
            exact=True,
            review_reasons=(),
            audit_seq=None,
            metadata={**metadata, "explained_at": _now()},
            total=total,
        )

    def govern(
        self,
        record: LeadExplanation,
        accepted: tuple[list[Any], FloatArray],
        *,
        review: ReviewRules | None,
        profile: InputProfile,
        audit_log: Any,
        review_queue: Any,
        hidden: frozenset[str],
        actor: str | None = None,
        request_id: str | None = None,
    ) -> LeadExplanation:
        """Review flags, the audit record and the review-queue item of one lane record: the
        batch path's governance (same rules, same audit content through the same function)
        at a cost independent of the batch machinery."""
        cells = accepted[0]
        flags: tuple[str, ...] = ()
        if review is not None:
            flags = review_reasons_row(
                rules=review,
                profile=profile,
                names=self.names,
                cells=cells,
                score=math.nan if record.score is None else record.score,
                reason_features=[c.feature for c in record.reason_codes],
                hidden=hidden,
            )
            record = record.model_copy(update={"review_reasons": flags})
        seqs: list[int | None] = [None]
        if audit_log is not None:
            seqs = audit_explanations(
                audit_log,
                [record],
                names=self.names,
                rows=[cells],
                hidden=hidden,
                lead_ids=None,
                actor=actor,
                request_id=request_id,
                policy_version=record.policy_version,
            )
            record = record.model_copy(update={"audit_seq": seqs[0]})
        if review_queue is not None:
            queue_for_review(
                review_queue, [record], flags=[flags], seqs=seqs, request_id=request_id
            )
        return record

    def score(self, accepted: tuple[list[Any], FloatArray]) -> float:
        """The score ``explain`` reports for an accepted row, from one pass over the trees."""
        if self.library is not None:  # the library's own arithmetic, as ``explain`` reports
            return float(self.library(accepted[1])[0][0])
        return float(self.link(self._raw(accepted[1]))[0])

    def _changed(self, cells: list[Any], x: FloatArray) -> FloatArray | None:
        """Model inputs of the row with each next-best-action change applied; None when a
        change falls outside the compiled preprocessing's tables."""
        encoder = self.encoder
        if encoder is None:
            rows = np.repeat(x, len(self.candidates), axis=0)
            rows[np.arange(len(self.candidates)), self.candidate_cols] = self.candidate_values
            return rows
        out = []
        for col, (_, target) in zip(self.candidate_cols.tolist(), self.candidates, strict=True):
            changed = list(cells)
            changed[col] = target
            encoded = encoder.encode(changed)
            if encoded is None:
                return None
            out.append(encoded)
        return np.vstack(out) if out else np.empty((0, encoder.n_out))

    def _raw(self, X: FloatArray) -> FloatArray:
        """What ``link`` takes: every output of the ensemble, or the explained one."""
        raw = self.core.ensemble.predict_raw(X)
        return raw[:, [self.core.output]] if self.one_pass else raw


#: The last second ``_now`` formatted, and its text: records carry whole seconds, so the
#: text changes once a second and formatting it once is enough.
_clock: tuple[int, str] = (-1, "")


def _now() -> str:
    """The current UTC time, ISO 8601 to the second (``datetime.now`` truncated)."""
    global _clock
    second = time.time_ns() // 1_000_000_000  # integer arithmetic: no float rounding up
    if second != _clock[0]:
        stamp = dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds")
        _clock = (second, stamp)
    return _clock[1]


def _nullable_number(dtype: Any) -> bool:
    """A pandas nullable numeric or boolean dtype (``Int64``, ``Float64``, ``boolean``)."""
    return (
        isinstance(dtype, pd.api.extensions.ExtensionDtype)
        and not isinstance(dtype, pd.CategoricalDtype)
        and (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    )


def _target_code(codes: Sequence[CategoryCodes | None] | None, column: int, target: Any) -> float:
    """A next-best-action target as the compiled trees read it (a category's code)."""
    spec = None if codes is None else codes[column]
    if spec is None:
        return float(target)
    code = spec.code(target)
    if code is None or code != code:
        raise ValueError("a target category the model does not know")
    return code


def _score_link(
    native: str, kind: Any, target: int | None, n_outputs: int, column: int | None
) -> Callable[[FloatArray], FloatArray] | None:
    """Raw ensemble outputs -> the score ``explain`` reports (what ``predict_proba`` or
    ``predict`` gives for the explained class). ``column`` set: ``raw`` holds only that
    output of the ensemble."""
    if not kind.is_classifier:
        return (lambda raw: raw[:, 0]) if n_outputs == 1 else None
    if not kind.has_proba:
        return None
    t = 1 if target is None else target
    if native == "probability":  # forests average class probabilities
        return (lambda raw: raw[:, 0]) if column == t else None
    if n_outputs == 1:
        p1 = _sigmoid
        return (lambda raw: p1(raw[:, 0])) if t == 1 else (lambda raw: 1.0 - p1(raw[:, 0]))

    def softmax(raw: FloatArray) -> FloatArray:
        z = np.exp(raw - raw.max(axis=1, keepdims=True))
        return np.asarray(z[:, t] / z.sum(axis=1), dtype=np.float64)

    return softmax


def _sigmoid(m: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-m)), dtype=np.float64)


class LaneSlot:
    """The lane of one fitted model, built on first use.

    Building a lane checks it against the model on the background rows (its scores, and
    behind a Pipeline its compiled preprocessing against the transformers' own), which
    costs about half a second on the bank Pipeline. A process that only explains batches
    (the CLI over a file, a Spark task) never needs it. Concurrent first callers (the
    sidecar's threads) build it once.
    """

    __slots__ = ("_build", "_lane", "_lock")

    def __init__(self, build: Callable[[], FastLane | None] | None) -> None:
        self._build = build
        self._lane: FastLane | None = None
        self._lock = threading.Lock()

    @classmethod
    def none(cls) -> LaneSlot:
        """A slot for a model that has no lane."""
        return cls(None)

    def get(self) -> FastLane | None:
        """The lane (built now if this is the first call), or None."""
        if self._build is None:
            return self._lane
        with self._lock:
            build = self._build
            if build is not None:
                self._lane = build()
                self._build = None  # the closure holds the background frame: let it go
        return self._lane
