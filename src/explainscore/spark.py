"""Explain a Spark DataFrame on the executors with ``mapInPandas``.

>>> from explainscore.spark import explain_dataframe
>>> out = explain_dataframe(leads_sdf, em, id_columns=["lead_id"])   # doctest: +SKIP

How it runs
-----------
The driver pickles the fitted :class:`~explainscore.ExplainedModel` once (cloudpickle, as
Spark ships its own closures) and broadcasts the bytes. Each executor Python worker unpickles
them the first time it meets that model (keyed by the SHA-256 of the bytes) and keeps the
result for the following tasks, so a worker rebuilds the derived explainer once per model and
never re-fits anything: unpickling restores the fitted model and background as they are.

Why a pickle rather than the bytes of a directory written by :func:`explainscore.save`: the
pickle is made by the driver from the object in memory, in the same job, and is never read from
storage, so it carries no more risk than the closures Spark pickles anyway; it keeps the model's
fingerprint and version exactly (a saved model's fingerprint is the digest of its file), so the
executors' results equal ``em.explain`` in the driver bit for bit; and it needs no skops on
the executors. Load a model from shared storage on the driver with :func:`explainscore.load`
(the safe format, checked once) and pass the loaded object here.

Rows that cannot be explained are kept: their ``status`` is ``"rejected"``, their scores and
attributions are null and ``reject_column`` / ``reject_problem`` say why (the column, never the
value; "a hidden column" for a column hidden by the catalog or the policy). Output rows ==
input rows.

Governance holds on Spark as in ``explain``: with a kill switch engaged (the model's own, or
the process-wide ``EXPLAINSCORE_KILL_SWITCH`` / ``EXPLAINSCORE_KILL_SWITCH_FILE``) when the job
is defined, every output row has status ``"paused"`` and null scores, or
``ScoringPausedError`` is raised at once with ``on_pause="raise"``; each task checks the
switches of its own executor again before scoring. ``id_columns`` may not name a column that
the policy blocks or that the catalog or policy hides: they would be copied to the output.

pyspark is imported inside :func:`explain_dataframe`, so this module imports without it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._crm import CrmFields
from ._optional import import_optional
from ._params import check_int, param_error
from ._records import reason_code_columns
from .exceptions import (
    ColumnTypeError,
    MissingColumnError,
    NonFiniteValueError,
    ParameterError,
    PolicyViolationError,
    ScoringPausedError,
)
from .governance._kill_switch import paused_message

if TYPE_CHECKING:
    from ._model import ExplainedModel
    from ._records import Explanations

__all__ = ["explain_dataframe", "output_columns"]

_WHERE = "explain_dataframe"
#: Status of a row that passed validation (``"paused"`` comes from the batch itself).
_OK = "ok"
_REJECTED = "rejected"
_PAUSED = "paused"
#: Explained models kept per executor Python worker (a few, so alternating jobs do not rebuild).
_CACHE_SIZE = 4
_MODEL_CACHE: OrderedDict[str, ExplainedModel] = OrderedDict()


def explain_dataframe(
    spark_df: Any,
    em: ExplainedModel,
    *,
    top_k: int | None = None,
    id_columns: Sequence[str] = (),
    crm_fields: str | CrmFields | None = None,
    attributions: bool = True,
    batch_size: int = 1000,
) -> Any:
    """Score and explain every row of a Spark DataFrame on the executors.

    Parameters
    ----------
    spark_df : pyspark.sql.DataFrame
        Rows with the model's raw columns (``em.feature_names_in_``); other columns are
        ignored unless named in ``id_columns``.
    em : ExplainedModel
        A fitted (or prefit, with ``background``) explained model. It must not carry an
        ``audit_log`` or a ``review_queue``: executors cannot write the driver's files.
    top_k : int, optional
        How many of the factors each reason names get their own ``reason_code_<i>`` /
        ``reason_text_<i>`` columns; default ``em.top_k``.
    id_columns : sequence of str, default=()
        Columns copied unchanged to the output (lead ids, keys to join back on). A column the
        policy blocks, or that the catalog or policy hides, is refused.
    crm_fields : {"salesforce", "dynamics", "hubspot"} or CrmFields, optional
        Output the CRM fields of :meth:`Explanations.to_crm` (under their configured names,
        each within its budget) instead of the default explanation columns.
    attributions : bool, default=True
        Add one ``contrib_<column>`` double per raw column (the exact attributions).
    batch_size : int, default=1000
        Rows explained at a time inside a task; bounds a worker's memory.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per input row, with the schema :func:`output_columns` describes: the id
        columns, then ``score, output, base_value, band, reason, reason_code_1..k,
        reason_text_1..k, next_best_action, review_reasons, model_version, explained_at``
        (or the CRM fields), the ``contrib_<column>`` columns, and ``status``
        (``"ok"``, ``"rejected"`` or ``"paused"``), ``reject_column``, ``reject_problem``.

    Raises
    ------
    MissingDependencyError
        pyspark is not installed (``pip install "explainscore[spark]"``).
    ParameterError
        A parameter is out of range, or an output column name would be used twice.
    MissingColumnError
        ``spark_df`` lacks a model column or an id column.
    PolicyViolationError
        ``id_columns`` names a blocked or hidden column (the message does not name it).
    ScoringPausedError
        A kill switch is engaged and ``em.on_pause == "raise"``.
    """
    import_optional("pyspark.sql", extra="spark", purpose="explainscore.spark")
    from pyspark.sql import DataFrame

    from ._model import ExplainedModel

    if not isinstance(spark_df, DataFrame):
        raise param_error("spark_df", _WHERE, "a pyspark.sql.DataFrame", spark_df)
    if not isinstance(em, ExplainedModel):
        raise param_error("em", _WHERE, "an ExplainedModel", em)
    em._ensure_built()
    for name in ("audit_log", "review_queue"):
        if getattr(em, name) is not None:
            # Fail closed: dropping it silently would explain leads without their audit trail.
            raise ParameterError(
                f"explain_dataframe cannot use the ExplainedModel's {name!r}: executors cannot "
                "write the driver's files. Explain without it (em.set_params("
                f"{name}=None)) and record the output table instead."
            )
    # The driver's switches, read once when the job is defined; each task reads its own
    # executor's again (em.explain), as the job may run later.
    state = em._kill_state()
    paused = None
    if state.engaged:
        if em.on_pause == "raise":
            raise ScoringPausedError(
                paused_message(state, _WHERE) + " explain_dataframe started no job."
            )
        paused = state.reason or "kill switch engaged"
    layout = output_columns(
        em,
        top_k=top_k,
        id_columns=id_columns,
        crm_fields=crm_fields,
        attributions=attributions,
    )
    check_int(batch_size, "batch_size", _WHERE, low=1)
    features = [str(c) for c in em.feature_names_in_]
    present = set(spark_df.columns)
    missing = [c for c in features if c not in present]
    if missing:
        label = em._engine().schema.label
        raise MissingColumnError(
            f"explain_dataframe got a DataFrame without "
            f"{em._engine().schema._names_text(missing)} that the model was built on.",
            columns=[label(c) for c in missing],
        )
    missing_ids = [c for c in layout.id_columns if c not in present]
    if missing_ids:
        raise MissingColumnError(
            f"The 'id_columns' parameter of explain_dataframe names {_quote(missing_ids)}, "
            "which the DataFrame does not have.",
            columns=missing_ids,
        )
    schema = _spark_schema(spark_df, layout)
    _check_worker_reuse(spark_df)
    payload = _pickle(em)
    digest = hashlib.sha256(payload).hexdigest()
    source: Any = _broadcast(spark_df, payload)
    task = _PartitionExplainer(
        source=source,
        digest=digest,
        features=tuple(features),
        layout=layout,
        batch_size=batch_size,
        paused=paused,
    )
    # Only the columns needed travel to Python; each name quoted, as a name may hold a dot.
    wanted = list(dict.fromkeys([*layout.id_columns, *features]))
    selected = _spread(spark_df.select(*[spark_df[_quoted(c)] for c in wanted]))
    return selected.mapInPandas(task, schema)


def _spread(df: Any) -> Any:
    """``df`` with at least as many partitions as the session runs tasks at once.

    A task explains its partition on one core, so an input with fewer partitions than the
    session's parallelism (a single Parquet or CSV file is often read as one partition) would
    leave cores idle: such an input is repartitioned (round robin, one shuffle) to
    ``sparkContext.defaultParallelism``. An input with enough partitions is left as it is.
    Where the partitions cannot be counted (Spark Connect), the input is left as it is too.
    """
    try:
        context = df.sparkSession.sparkContext
        parallelism = int(context.defaultParallelism)
        partitions = int(df.rdd.getNumPartitions())
    except Exception:
        return df
    if partitions >= parallelism:
        return df
    return df.repartition(parallelism)


def _check_worker_reuse(spark_df: Any) -> None:
    """Warn when Spark starts a Python worker per task (``spark.python.worker.reuse=false``):
    each task would then import explainscore and unpickle the model again."""
    try:
        reuse = str(spark_df.sparkSession.conf.get("spark.python.worker.reuse", "true"))
    except Exception:
        return
    if reuse.strip().lower() == "false":
        import warnings

        from .exceptions import ExplainScoreWarning

        warnings.warn(
            "spark.python.worker.reuse is false: every task starts a new Python worker, "
            "which imports explainscore and unpickles the model again (seconds per task). "
            "Set it to true (Spark's default).",
            ExplainScoreWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class OutputLayout:
    """The output columns of :func:`explain_dataframe`, in order, with their kinds.

    Attributes
    ----------
    id_columns : tuple of str
    columns : tuple of (name, kind)
        The columns after the id columns; kind is ``"double"``, ``"string"`` or
        ``"strings"`` (an array of strings).
    top_k : int
    crm : CrmFields or None
    attributions : bool
    contrib_names : tuple of str
        ``contrib_<column>`` for each raw column, when ``attributions``.
    """

    id_columns: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    top_k: int
    crm: CrmFields | None
    attributions: bool
    contrib_names: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [*self.id_columns, *(name for name, _ in self.columns)]


def output_columns(
    em: ExplainedModel,
    *,
    top_k: int | None = None,
    id_columns: Sequence[str] = (),
    crm_fields: str | CrmFields | None = None,
    attributions: bool = True,
) -> OutputLayout:
    """The output layout :func:`explain_dataframe` builds for these options (no Spark needed).

    Parameters
    ----------
    em : ExplainedModel
        A fitted explained model.
    top_k, id_columns, crm_fields, attributions
        As in :func:`explain_dataframe`.

    Returns
    -------
    OutputLayout
    """
    n_features = len(em.feature_names_in_)
    # Clipped to the number of columns, as ExplainedModel.explain does.
    k = min(check_int(em.top_k if top_k is None else top_k, "top_k", _WHERE, low=1), n_features)
    if not isinstance(attributions, bool):
        raise param_error("attributions", _WHERE, "a bool", attributions)
    if isinstance(id_columns, str) or not isinstance(id_columns, Iterable):
        raise param_error("id_columns", _WHERE, "a sequence of column names", id_columns)
    ids = tuple(id_columns)
    for c in ids:
        if not isinstance(c, str):
            raise param_error("id_columns", _WHERE, "a sequence of column names (str)", c)
    _check_id_columns(em, ids)
    crm: CrmFields | None
    if crm_fields is None:
        crm = None
    elif isinstance(crm_fields, str):
        crm = CrmFields.preset(crm_fields)
    elif isinstance(crm_fields, CrmFields):
        crm = crm_fields
    else:
        raise param_error("crm_fields", _WHERE, "a preset name, a CrmFields or None", crm_fields)
    cols: list[tuple[str, str]] = []
    if crm is None:
        cols += [("score", "double"), ("output", "double"), ("base_value", "double")]
        cols += [("band", "string"), ("reason", "string")]
        cols += [(f"reason_code_{i}", "string") for i in range(1, k + 1)]
        cols += [(f"reason_text_{i}", "string") for i in range(1, k + 1)]
        cols += [("next_best_action", "string"), ("review_reasons", "strings")]
        cols += [("model_version", "string"), ("explained_at", "string")]
    else:
        cols += [
            (f.name, "double" if source == "score" else "string")
            for source, f in crm.fields.items()
        ]
    # Hidden columns (catalog or policy) are used by the model but never shown: no contrib_.
    contrib = tuple(f"contrib_{c}" for _, c in _shown_features(em)) if attributions else ()
    cols += [(name, "double") for name in contrib]
    cols += [("status", "string"), ("reject_column", "string"), ("reject_problem", "string")]
    seen: set[str] = set()
    for name in [*ids, *(n for n, _ in cols)]:
        if name in seen:
            what = "id_columns" if name in ids else "crm_fields"
            raise ParameterError(
                f"The output column {name!r} of explain_dataframe would appear twice; rename "
                f"it in {what!r} (the output names explanation columns score, band, reason, "
                "reason_code_<i>, contrib_<column>, status, reject_column, reject_problem)."
            )
        seen.add(name)
    return OutputLayout(ids, tuple(cols), k, crm, attributions, contrib)


# --- driver helpers ------------------------------------------------------------------------


def _check_id_columns(em: ExplainedModel, ids: Sequence[str]) -> None:
    """Refuse id columns that are blocked or hidden: they would be copied to the output.

    The messages name neither the column nor its position in ``id_columns`` beyond the
    policy's own entry number.
    """
    policy = em.policy
    schema = em._engine().schema
    for c in ids:
        entry = None if policy is None else policy.blocked_entry(c)
        if entry is not None and policy is not None:
            raise PolicyViolationError(
                f"The 'id_columns' parameter of explain_dataframe names a column blocked by "
                f"policy version {policy.version!r} (blocked entry {entry}); a blocked column "
                "is never copied to any output. Remove it from id_columns.",
                policy_version=policy.version,
                entry=entry,
            )
        if schema.is_secret(c):
            raise PolicyViolationError(
                "The 'id_columns' parameter of explain_dataframe names a hidden column; a "
                "hidden column is never written to any output. Remove it from id_columns.",
                policy_version=None if policy is None else policy.version,
            )


def _quote(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_schema(spark_df: Any, layout: OutputLayout) -> Any:
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    kinds = {"double": DoubleType(), "string": StringType(), "strings": ArrayType(StringType())}
    fields = [spark_df.schema[c] for c in layout.id_columns]
    fields += [StructField(name, kinds[kind], nullable=True) for name, kind in layout.columns]
    return StructType(fields)


def _pickle(em: ExplainedModel) -> bytes:
    # cloudpickle, as for Spark's own closures: a model class defined in a notebook (__main__)
    # is shipped by value, where plain pickle would name a module the executors lack.
    cloudpickle = import_optional(
        "pyspark.cloudpickle", extra="spark", purpose="explainscore.spark"
    )
    payload: bytes = cloudpickle.dumps(em)
    return payload


def _broadcast(spark_df: Any, payload: bytes) -> Any:
    """A broadcast of the model bytes, or the bytes themselves where there is no SparkContext.

    Spark Connect (Databricks serverless and shared clusters) has no ``sparkContext``; there
    the bytes travel inside the task closure, once per task instead of once per executor.
    """
    try:
        context = spark_df.sparkSession.sparkContext
    except Exception:
        return payload
    return context.broadcast(payload)


# --- executor side -------------------------------------------------------------------------


@dataclass(frozen=True)
class _PartitionExplainer:
    """The function ``mapInPandas`` runs: a picklable object, small apart from ``source``."""

    source: Any
    digest: str
    features: tuple[str, ...]
    layout: OutputLayout
    batch_size: int
    #: Why scoring is paused (the driver's kill switch was engaged), or None.
    paused: str | None = None

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        em = self._model()
        for pdf in batches:
            for start in range(0, len(pdf), self.batch_size):
                chunk = pdf.iloc[start : start + self.batch_size]
                yield explain_pandas(em, chunk, self.layout, paused=self.paused)

    def _model(self) -> ExplainedModel:
        em = _MODEL_CACHE.get(self.digest)
        if em is None:
            import pickle

            payload = self.source if isinstance(self.source, bytes) else self.source.value
            # Safe here: the bytes were made by this job's driver (see the module docstring).
            em = pickle.loads(payload)
            _MODEL_CACHE[self.digest] = em
            while len(_MODEL_CACHE) > _CACHE_SIZE:
                _MODEL_CACHE.popitem(last=False)
        else:
            _MODEL_CACHE.move_to_end(self.digest)
        return em


def explain_pandas(
    em: ExplainedModel, pdf: pd.DataFrame, layout: OutputLayout, *, paused: str | None = None
) -> pd.DataFrame:
    """Explain one pandas batch into the output columns of ``layout`` (what each task runs).

    Parameters
    ----------
    em : ExplainedModel
    pdf : DataFrame
        The id columns and the model's raw columns.
    layout : OutputLayout
        From :func:`output_columns`.
    paused : str, optional
        Why scoring is paused: every row gets status ``"paused"``, null scores and the
        paused reason, and nothing is scored.

    Returns
    -------
    DataFrame
        One row per row of ``pdf``, in order, with ``layout.names`` as columns.
    """
    pdf = pdf.reset_index(drop=True)
    n = len(pdf)
    features = [str(c) for c in em.feature_names_in_]
    out: dict[str, Any] = {c: pdf[c] for c in layout.id_columns}
    empty_num = np.full(n, np.nan)
    empty_str: list[Any] = [None] * n
    status: list[str] = [_REJECTED] * n
    reject_column: list[str | None] = [None] * n
    reject_problem: list[str | None] = [None] * n
    cells: dict[str, Any] = {
        name: (empty_num.copy() if kind == "double" else list(empty_str))
        for name, kind in layout.columns
    }
    if n and paused is not None:
        batch = em._paused(em._engine(), pdf[features], layout.top_k, paused)
        status = [_PAUSED] * n
        _fill(cells, batch, np.ones(n, dtype=bool), np.arange(n), layout)
    elif n:
        batch, offset = _explain(em, pdf[features], layout.top_k)
        labels = batch.data.index.to_numpy()
        keep = labels >= offset  # the pad row, if any, is label 0 of the padded batch
        rows = labels[keep] - offset
        for r in batch.rejected:
            if r.row >= offset:
                reject_column[r.row - offset] = r.column
                reject_problem[r.row - offset] = r.problem
        for pos in rows:
            status[pos] = batch.status if batch.status != "ok" else _OK
        _fill(cells, batch, keep, rows, layout)
    cells["status"] = status
    cells["reject_column"] = reject_column
    cells["reject_problem"] = reject_problem
    for name, _ in layout.columns:
        out[name] = cells[name]
    return pd.DataFrame(out, index=pdf.index)


def _explain(em: ExplainedModel, frame: pd.DataFrame, k: int) -> tuple[Explanations, int]:
    """``em.explain(frame, on_error="skip")``, and the offset of ``frame``'s rows in it.

    A task's batch can be small (one row, with more partitions than rows), and then a column
    that holds text in every row of the batch, or a batch with no good row, raises instead of
    being reported per row. Explaining it again behind one row known to be good keeps those
    checks per row, with the same messages; every row is explained on its own, so the pad
    changes no other row's numbers.
    """
    try:
        return em.explain(frame, top_k=k, on_error="skip"), 0
    except (ColumnTypeError, NonFiniteValueError):
        pad = _good_row(em)
        if pad is None:
            raise
    padded = pd.concat([pad, frame], ignore_index=True)
    return em.explain(padded, top_k=k, on_error="skip"), 1


def _good_row(em: ExplainedModel) -> pd.DataFrame | None:
    """The first background row the model's schema accepts, as a one-row frame."""
    bg = em.background_
    validated = em._engine().schema.validate(bg, where="background")
    good = np.flatnonzero(validated.good)
    return bg.iloc[[int(good[0])]] if good.size else None


def _fill(
    cells: dict[str, Any],
    batch: Explanations,
    keep: np.ndarray[Any, Any],
    rows: np.ndarray[Any, Any],
    layout: OutputLayout,
) -> None:
    """Write the explained rows of ``batch`` (``keep``) to output positions ``rows``."""
    idx = np.flatnonzero(keep)
    if layout.crm is not None:
        crm = batch.to_crm(layout.crm)
        for source, spec in layout.crm.fields.items():
            values = crm[spec.name].to_numpy()
            _put(cells[spec.name], rows, values[idx], numeric=source == "score")
    else:
        _put(cells["score"], rows, batch.scores[idx], numeric=True)
        _put(cells["output"], rows, batch.outputs[idx], numeric=True)
        _put(cells["base_value"], rows, batch.base_values[idx], numeric=True)
        code_cols, text_cols = reason_code_columns(batch, layout.top_k)
        # Column by column (a task's batch is thousands of rows): each text column is one
        # list built in one pass, then written to its output positions.
        at = idx.tolist()
        bands, reasons, actions = batch.bands, batch.reasons, batch.next_best_actions
        flags = batch.review_reasons
        texts: dict[str, list[Any]] = {
            "band": [bands[i] or None for i in at],
            "reason": [reasons[i] for i in at],
            "next_best_action": [None if (a := actions[i]) is None else a.text for i in at],
            "review_reasons": [list(flags[i]) for i in at] if flags else [[] for _ in at],
            "model_version": [batch.model_version] * len(at),
            "explained_at": [batch.explained_at] * len(at),
        }
        for j in range(layout.top_k):
            codes, words = code_cols[j], text_cols[j]
            texts[f"reason_code_{j + 1}"] = [codes[i] for i in at]
            texts[f"reason_text_{j + 1}"] = [words[i] for i in at]
        for name, column in texts.items():
            _put(cells[name], rows, column, numeric=False)
    if layout.attributions:
        for j, name in _shown_features_of(batch):
            _put(cells[f"contrib_{name}"], rows, batch.attributions[idx, j], numeric=True)


def _shown_features(em: Any) -> list[tuple[int, str]]:
    """(index, name) of the model's columns that may be shown (not hidden)."""
    hidden = em._hidden_columns()
    return [(j, str(c)) for j, c in enumerate(em.feature_names_in_) if str(c) not in hidden]


def _shown_features_of(batch: Any) -> list[tuple[int, str]]:
    return [(j, n) for j, n in enumerate(batch.feature_names) if n not in batch.hidden]


def _put(target: Any, rows: np.ndarray[Any, Any], values: Any, *, numeric: bool) -> None:
    if numeric:
        target[rows] = np.asarray(values, dtype=np.float64)
    elif len(values) == len(target) and np.array_equal(rows, np.arange(len(target))):
        target[:] = list(values)  # every row explained, in order: the common batch
    else:
        for pos, value in zip(rows.tolist(), values, strict=True):
            target[pos] = value
