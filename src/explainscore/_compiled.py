"""A saved model's engine in compiled form: explain files without scikit-learn.

Why
---
``explainscore explain`` on 100 leads spent about three seconds starting: importing
scikit-learn (about 1.1 s, most of it scipy.stats), skops (about 0.7 s) and unpacking the
Pipeline, for a job that then explains the rows in a twentieth of a second. Yet what the
explanation uses of the model is already compiled: the tree ensemble, the scorer in the
library's own arithmetic (``attribution.tree._library_scores``) and, for a column-wise
Pipeline, the encoder tables (``_row_encoder``). :func:`compiled_bytes` writes those, with the
schema and the reason settings, into ``compiled.npz`` beside ``model.skops``;
:class:`CompiledModel` runs the same batch flow (``_engine.explain_frame``) from them.

Trust
-----
The file is one of the bundle's listed files: its SHA-256 is in the manifest, so the bundle
fingerprint a model card signs covers it, and a changed file is refused before it is read.
It is still parsed as hostile input: an ``.npz`` of stored (uncompressed) numeric arrays only
(no pickle), exact member names, dtypes and shapes, and every index of the tree arrays
checked to stay inside its tree before a compiled kernel walks it (the kernels do not check
bounds). The metadata is JSON validated by a pydantic model that forbids unknown keys.

Exactness
---------
A bundle gets a compiled form only when it gives the same numbers as the full model bit for
bit: tree models whose scores come from the library scorer, preprocessing whose tables are
exact (one-hot lookups, passthrough numbers, an imputer's fill), dense output, no native
categories. ``compiled_bytes`` then checks the compiled engine against the full one on the
reference rows, byte for byte, and writes nothing on any difference. At run time a row the
tables do not cover (an unseen category the encoder has no row for, a missing value the
Pipeline has no fill for) sends its whole batch to the full model, unpacked then, once, from
the bytes ``io.load_for_batch`` already checked.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from ._engine import Engine, explain_frame, hidden_by, lead_fields, secret_test
from ._fast_lane import LaneSlot
from ._inputs import ColumnSpec, Schema
from ._output import ModelKind
from ._params import check_choice, check_int
from ._pipeline import ModelStructure
from ._records import Explanations, rejected_rows
from ._row_encoder import RowEncoder, _Affine, _Lookup
from ._safe_skops import ModelFileError
from .attribution._base import Attribution, Attributor
from .attribution._registry import get_backend
from .governance._kill_switch import KillState, combined_engaged, combined_state
from .governance._policy import Policy
from .reasons._catalog import Catalog
from .reasons._compose import ReasonWriter
from .reasons._config import ReasonConfig

__all__ = ["COMPILED_FILE", "CompiledModel", "compiled_bytes", "open_compiled"]

COMPILED_FILE = "compiled.npz"
_FORMAT = 1
#: The tree arrays, their dtypes and whether they have one entry per node.
_TREE_ARRAYS: Mapping[str, tuple[type[np.generic], bool]] = {
    "left": (np.int32, True),
    "right": (np.int32, True),
    "feature": (np.int32, True),
    "threshold": (np.float64, True),
    "flags": (np.uint8, True),
    "cat_start": (np.int32, True),
    "cat_len": (np.int32, True),
    "cover": (np.float64, True),
    "value": (np.float64, True),
    "cat_words": (np.uint32, False),
    "tree_start": (np.int64, False),
    "tree_output": (np.int32, False),
    "base_offset": (np.float64, False),
}
_MEMBERS = frozenset({*_TREE_ARRAYS, "groups", "meta"})
#: The split flags a compiled form may hold (no categorical splits: see ``compiled_bytes``).
_PLAIN_FLAGS = 1 | 2  # FLAG_DEFAULT_LEFT | FLAG_ZERO_MISSING
_MAX_META = 16 << 20


class _Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    name: str = Field(max_length=1000)
    kind: Literal["numeric", "categorical"]
    allow_missing: bool
    missing_as_none: bool


class _Numeric(BaseModel):
    """A passthrough number column of the encoder (``out = x``), with its missing fill."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    column: int
    outputs: list[int]
    missing: list[float] | None


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    column: int
    outputs: list[int]
    labels: list[str]
    table: list[list[float]]
    unknown: list[float] | None


#: The links a one-output tree model's ``predict`` applies (the converters' values).
_Link = Literal["identity", "logistic", "exp", "softplus"]
#: Bounds that keep a crafted file from asking for an absurd allocation.
_MAX_COLUMNS = 1 << 20
_MAX_BUDGET = 1 << 40


class _Meta(BaseModel):
    """The compiled form's settings: every field typed to the values a save writes."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    format: int
    # The ensemble's scalars (``TreeEnsemble``).
    n_features: int = Field(ge=1, le=_MAX_COLUMNS)
    native_space: Literal["margin"]
    float32_inputs: bool
    source: str = Field(max_length=200)
    missing_value: float
    link: _Link
    raw_score_scale: float = Field(allow_inf_nan=False)
    library_dtype: Literal["float32", "float64"]
    library_base: list[float] = Field(min_length=1, max_length=1)
    # The attribution and the scorer.
    output: Literal[0]
    memory_budget: int = Field(ge=1, le=_MAX_BUDGET)
    mirrored: bool
    logistic: bool
    target: Literal[0, 1]
    output_is_score: bool
    # What the records say.
    is_classifier: bool
    classes: list[StrictBool | StrictInt | StrictFloat | StrictStr] | None = Field(
        default=None, max_length=2
    )
    has_proba: bool
    has_margin: bool
    float32: bool
    kind_link: _Link | None
    target_index: Literal[0, 1] | None
    output_space: Literal["log_odds", "probability", "raw", "margin", "response"]
    probability: bool
    raw_scale: float = Field(allow_inf_nan=False)
    reasons: dict[str, Any]
    # The rows.
    columns: list[_Column] = Field(min_length=1, max_length=_MAX_COLUMNS)
    wants_frame: bool
    encoder_width: int | None = Field(default=None, ge=1, le=_MAX_COLUMNS)
    numeric: list[_Numeric]
    lookups: list[_Table]


# --- writing ---------------------------------------------------------------------------------


def compiled_bytes(explained: Any) -> bytes | None:
    """The compiled form of a fitted ExplainedModel, or None when it has none that gives
    the same numbers bit for bit (see the module docstring)."""
    engine = explained._ensure_built()
    core = getattr(engine.attributor, "core", None)
    library = engine.library
    structure = engine.structure
    if (
        engine.backend.name != "tree"
        or engine.backend.input_space != "model"
        or core is None
        or library is None
        or engine.schema.has_codes
        or structure.categories
        or structure.column_map is None
        or np.any(core.ensemble.flags & ~np.uint8(_PLAIN_FLAGS))
    ):
        return None
    numeric: list[_Numeric] = []
    lookups: list[_Table] = []
    width: int | None = None
    if structure.preprocessor is not None:
        encoder = _exact_encoder(explained, engine)
        if encoder is None:
            return None
        width = encoder.n_out
        for a in encoder.numeric:
            numeric.append(
                _Numeric(
                    column=a.column,
                    outputs=a.outputs.tolist(),
                    missing=None if a.missing is None else a.missing.tolist(),
                )
            )
        for c in encoder.categorical:
            labels = sorted(c.table)
            lookups.append(
                _Table(
                    column=c.column,
                    outputs=c.outputs.tolist(),
                    labels=labels,
                    table=[c.table[v].tolist() for v in labels],
                    unknown=None if c.unknown is None else c.unknown.tolist(),
                )
            )
    try:
        meta = _meta(explained, engine, core, library, width, numeric, lookups)
    except ValidationError:
        return None  # a setting outside what a compiled form holds (e.g. several outputs)
    arrays: dict[str, np.ndarray[Any, Any]] = {
        name: np.ascontiguousarray(getattr(library.ensemble, name), dtype=dtype)
        for name, (dtype, _) in _TREE_ARRAYS.items()
    }
    arrays["groups"] = np.asarray(structure.column_map, dtype=np.int64)
    arrays["meta"] = np.frombuffer(meta.model_dump_json().encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    data = buffer.getvalue()
    # Trust, then verify: the compiled engine must explain the reference rows exactly as the
    # full one does, or the bundle gets no compiled form.
    try:
        compiled = open_compiled(
            data,
            catalog=engine.catalog,
            policy=explained.policy,
            fingerprint=engine.fingerprint,
            version=engine.version,
            top_k=explained.top_k,
            signed_off=False,
            full=lambda: explained,
        )
    except ModelFileError:
        return None
    if not _same(compiled, explained, engine):
        return None
    return data


def _meta(
    explained: Any,
    engine: Any,
    core: Any,
    library: Any,
    width: int | None,
    numeric: list[_Numeric],
    lookups: list[_Table],
) -> _Meta:
    ens = library.ensemble
    kind = engine.kind
    writer = engine.writer
    return _Meta(
        format=_FORMAT,
        n_features=ens.n_features,
        native_space=ens.native_space,
        float32_inputs=ens.float32_inputs,
        source=ens.source,
        missing_value=ens.missing_value,
        link=ens.link,
        raw_score_scale=ens.raw_score_scale,
        library_dtype=ens.library_dtype,
        library_base=list(ens.library_base),
        output=core.output,
        memory_budget=int((explained.method_options or {}).get("memory_budget", 256 * 2**20)),
        mirrored=bool(engine.attributor.mirrored),
        logistic=library.logistic,
        target=library.target,
        output_is_score=library.output_is_score,
        is_classifier=kind.is_classifier,
        classes=None if kind.classes is None else [_plain(c) for c in kind.classes],
        has_proba=kind.has_proba,
        has_margin=kind.has_margin,
        float32=kind.float32,
        kind_link=kind.link,
        target_index=engine.target_index,
        output_space=engine.output_space,
        probability=writer.probability,
        raw_scale=writer.raw_scale,
        reasons=writer.config.model_dump(mode="json"),
        columns=[
            _Column(
                name=c.name,
                kind=c.kind,
                allow_missing=c.allow_missing,
                missing_as_none=c.missing_as_none,
            )
            for c in engine.schema.columns
        ],
        wants_frame=engine.schema.wants_frame,
        encoder_width=width,
        numeric=numeric,
        lookups=lookups,
    )


def _exact_encoder(explained: Any, engine: Any) -> RowEncoder | None:
    """The fast lane's encoder when its tables are exact (lookups, passthrough numbers and
    fills) and the preprocessing's output is dense; else None."""
    lane = engine.lane
    encoder = None if lane is None else lane.encoder
    if encoder is None:
        return None
    for a in encoder.numeric:
        if not (np.all(a.offset == 0.0) and np.all(a.slope == 1.0)):
            return None  # ``offset + slope * x`` is not ``(x - mean) / scale`` to the bit
    probe = explained.background_.iloc[:1]
    out = engine.structure.preprocessor.transform(engine.schema.model_input(probe))
    if hasattr(out, "toarray"):
        return None  # a sparse output: XGBoost reads its implicit zeros as missing
    exact: RowEncoder = encoder
    return exact


def _same(compiled: CompiledModel, explained: Any, engine: Any) -> bool:
    frame = explained.background_
    k = min(explained.top_k, len(engine.schema.names))
    attr_in = compiled.encode(frame)
    if attr_in is None:
        return False
    mine = compiled._explain_validated(frame, attr_in, k, [])
    theirs = explained._explain_frame(engine, frame, k, [])
    return (
        all(
            np.array_equal(getattr(mine, f), getattr(theirs, f))
            for f in ("scores", "outputs", "base_values", "attributions")
        )
        and list(mine.reasons) == list(theirs.reasons)
        and list(mine.bands) == list(theirs.bands)
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- reading ---------------------------------------------------------------------------------


def open_compiled(
    data: bytes,
    *,
    catalog: Catalog,
    policy: Policy | None,
    fingerprint: str,
    version: str,
    top_k: int,
    signed_off: bool,
    full: Callable[[], Any],
) -> CompiledModel:
    """The :class:`CompiledModel` in ``data`` (a ``compiled.npz``'s bytes).

    Raises
    ------
    ModelFileError
        The file is not a compiled form this version wrote, or an array is out of bounds.
    """
    arrays = _read_arrays(data)
    try:
        meta = _Meta.model_validate_json(arrays.pop("meta").tobytes())
    except (ValidationError, UnicodeDecodeError):
        raise _corrupt("its settings are not valid") from None
    if meta.format != _FORMAT:
        raise _corrupt("it was written by another explainscore version")
    from .attribution.tree import TreeEnsemble
    from .attribution.tree._library_scores import LibraryScores

    groups = arrays.pop("groups")
    _check_trees(arrays, meta)
    ensemble = TreeEnsemble(
        **arrays,
        n_features=meta.n_features,
        native_space="margin",
        float32_inputs=meta.float32_inputs,
        source=meta.source,
        missing_value=meta.missing_value,
        link=meta.link,
        raw_score_scale=meta.raw_score_scale,
        library_dtype=meta.library_dtype,
        library_base=tuple(meta.library_base),
    )
    schema = _schema(meta)
    n_players = len(schema.columns)
    if (
        groups.dtype != np.int64
        or groups.shape != (meta.n_features,)
        or np.any((groups < 0) | (groups >= n_players))
    ):
        raise _corrupt("its column map does not fit its columns")
    encoder = _encoder(meta, n_players)
    if (encoder is None) != (meta.encoder_width is None) or (
        encoder is not None and encoder.n_out != meta.n_features
    ):
        raise _corrupt("its encoder does not fit its trees")
    if encoder is None and meta.n_features != n_players:
        raise _corrupt("its trees do not fit its columns")
    library = LibraryScores(
        ensemble=ensemble,
        logistic=meta.logistic,
        target=meta.target,
        output_is_score=meta.output_is_score,
    )
    from .attribution.tree import TreeShapCore

    core = TreeShapCore(
        ensemble, groups=groups.astype(np.intp), output=0, memory_budget=meta.memory_budget
    )
    try:
        config = ReasonConfig.model_validate(meta.reasons)
    except ValidationError:
        raise _corrupt("its reason settings are not valid") from None
    names = schema.names
    hidden = frozenset(n for n in names if hidden_by(n, catalog, policy))
    schema = schema.with_secret(secret_test(catalog, policy))
    kind = ModelKind(
        is_classifier=meta.is_classifier,
        classes=None if meta.classes is None else np.asarray(meta.classes),
        has_proba=meta.has_proba,
        has_margin=meta.has_margin,
        float32=meta.float32,
        link=meta.kind_link,
    )
    attributor = _CompiledTrees(core, library, mirrored=meta.mirrored)
    writer = ReasonWriter(
        catalog=catalog,
        config=config,
        feature_names=names,
        output_space=meta.output_space,
        probability=meta.probability,
        raw_scale=meta.raw_scale,
        hidden=hidden,
    )

    def model_fn(pick: int) -> Callable[[Any], Any]:
        # What the next best actions score (changed copies of the leads): the library's
        # numbers from the compiled trees, or the full model's for a row outside the tables.
        def fn(rows: Any) -> Any:
            x = schema.model_array(rows) if encoder is None else encoder.encode_frame(rows)
            if x is None:
                engine = full()._ensure_built()
                return (engine.score_fn, engine.output_fn)[pick](rows)
            return library(x)[pick]

        return fn

    engine = Engine(
        schema=schema,
        structure=ModelStructure(
            preprocessor=None, estimator=None, column_map=groups, map_problem=None
        ),
        kind=kind,
        backend=get_backend("tree"),
        attributor=attributor,
        output_space=meta.output_space,
        target_index=meta.target_index,
        score_fn=model_fn(0),
        output_fn=model_fn(1),
        final_fns=None,
        library=library,
        fingerprint=fingerprint,
        tolerance=1e-5 if meta.float32 else 1e-6,
        writer=writer,
        catalog=catalog,
        version=version,
        lane_slot=LaneSlot.none(),
        hidden=hidden,
    )
    engine = replace(engine, lead_fields=lead_fields(engine))
    return CompiledModel(
        engine=engine,
        encoder=encoder,
        policy=policy,
        top_k=top_k,
        signed_off=signed_off,
        full=full,
    )


def _corrupt(why: str) -> ModelFileError:
    return ModelFileError(
        f"{COMPILED_FILE} cannot be used: {why}. Save the model again with explainscore.save."
    )


def _read_arrays(data: bytes) -> dict[str, np.ndarray[Any, Any]]:
    """The members of a stored-only ``.npz`` of plain numeric arrays (no pickle)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if sorted(names) != sorted(f"{m}.npy" for m in _MEMBERS):
                raise _corrupt("it does not hold the arrays a compiled form holds")
            # Stored members only, each no larger than the file: nothing to inflate.
            if any(i.compress_type != zipfile.ZIP_STORED or i.file_size > len(data) for i in infos):
                raise _corrupt("it holds compressed or oversized members")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in _MEMBERS}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        raise _corrupt("it is not a valid array archive") from None
    meta = arrays["meta"]
    if meta.dtype != np.uint8 or meta.ndim != 1 or meta.size > _MAX_META:
        raise _corrupt("its settings are not valid")
    return arrays


def _check_trees(arrays: dict[str, np.ndarray[Any, Any]], meta: _Meta) -> None:
    """Every array's dtype and shape, and every index the kernels follow, inside bounds."""
    for name, (dtype, _) in _TREE_ARRAYS.items():
        a = arrays[name]
        if a.dtype != np.dtype(dtype) or not a.flags.c_contiguous:
            raise _corrupt(f"its {name!r} array has the wrong type")
    n = arrays["left"].shape[0]
    for name, (_, per_node) in _TREE_ARRAYS.items():
        a = arrays[name]
        want = 2 if name == "value" else 1
        if a.ndim != want or (per_node and a.shape[0] != n):
            raise _corrupt(f"its {name!r} array has the wrong shape")
    value, base = arrays["value"], arrays["base_offset"]
    n_outputs = value.shape[1]
    if n_outputs != 1 or base.shape != (1,) or len(meta.library_base) != 1:
        raise _corrupt("it is not a one-output model")
    if meta.n_features < 1 or meta.native_space != "margin":
        raise _corrupt("its trees are not valid")
    starts = arrays["tree_start"]
    if (
        starts.size < 2
        or starts[0] != 0
        or starts[-1] != n
        or np.any(np.diff(starts) < 1)
        or arrays["tree_output"].shape != (starts.size - 1,)
        or np.any(arrays["tree_output"] != 0)
    ):
        raise _corrupt("its tree offsets are not valid")
    left, right, feature = arrays["left"], arrays["right"], arrays["feature"]
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        raise _corrupt("a node has one child")
    tree_of = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    node = np.arange(n)
    end = starts[1:][tree_of]
    inner = ~leaf
    for child in (left, right):
        # Children come after their parent, inside its tree: no cycle, no jump out.
        if np.any(inner & ((child <= node) | (child >= end))):
            raise _corrupt("a node's child lies outside its tree")
    parents = np.bincount(np.concatenate([left[inner], right[inner]]), minlength=n)
    roots = np.zeros(n, dtype=bool)
    roots[starts[:-1]] = True
    if np.any(parents != np.where(roots, 0, 1)):
        raise _corrupt("its trees are not trees")
    if np.any(inner & ((feature < 0) | (feature >= meta.n_features))) or np.any(
        leaf & (feature != -1)
    ):
        raise _corrupt("a split names a column the model does not have")
    if np.any(arrays["flags"] & ~np.uint8(_PLAIN_FLAGS)) or np.any(arrays["cat_len"] != 0):
        raise _corrupt("it holds a split kind a compiled form does not")
    finite = (arrays["cover"], value, base)
    if not all(np.isfinite(a).all() for a in finite) or np.any(arrays["cover"] < 0):
        raise _corrupt("it holds values that are not finite or covers below zero")
    if np.any(np.isnan(arrays["threshold"][inner])):
        raise _corrupt("a split has no threshold")
    if meta.library_dtype not in ("float32", "float64") or not math.isfinite(meta.library_base[0]):
        raise _corrupt("its scorer is not valid")


def _schema(meta: _Meta) -> Schema:
    columns = []
    for c in meta.columns:
        columns.append(
            ColumnSpec(
                c.name,
                c.kind,
                allow_missing=c.allow_missing,
                missing_as_none=c.missing_as_none,
            )
        )
    if not columns or len({c.name for c in columns}) != len(columns):
        raise _corrupt("its columns are not valid")
    return Schema(tuple(columns), meta.wants_frame)


def _encoder(meta: _Meta, n_players: int) -> RowEncoder | None:
    if meta.encoder_width is None:
        if meta.numeric or meta.lookups:
            raise _corrupt("its encoder is not valid")
        return None
    width = meta.encoder_width
    seen: list[int] = []
    numeric: list[_Affine] = []
    categorical: list[_Lookup] = []

    def outputs(column: int, out: list[int], *rows: list[float] | None) -> npt.NDArray[np.intp]:
        idx = np.asarray(out, dtype=np.intp)
        if not 0 <= column < n_players or idx.size == 0 or np.any((idx < 0) | (idx >= width)):
            raise _corrupt("its encoder is not valid")
        if any(r is not None and len(r) != idx.size for r in rows):
            raise _corrupt("its encoder is not valid")
        seen.extend(out)
        return idx

    for a in meta.numeric:
        idx = outputs(a.column, a.outputs, a.missing)
        ones = np.ones(idx.size)
        missing = None if a.missing is None else np.asarray(a.missing, dtype=np.float64)
        numeric.append(_Affine(a.column, idx, np.zeros(idx.size), ones, missing))
    for c in meta.lookups:
        idx = outputs(c.column, c.outputs, c.unknown, *c.table)
        if len(c.labels) != len(c.table) or len(set(c.labels)) != len(c.labels):
            raise _corrupt("its encoder is not valid")
        table = {
            label: np.asarray(row, dtype=np.float64)
            for label, row in zip(c.labels, c.table, strict=True)
        }
        unknown = None if c.unknown is None else np.asarray(c.unknown, dtype=np.float64)
        categorical.append(_Lookup(c.column, idx, table, unknown))
    if sorted(seen) != list(range(width)):
        raise _corrupt("its encoder does not fill every column")
    return RowEncoder(width, tuple(numeric), tuple(categorical))


class _CompiledTrees(Attributor):
    """TreeSHAP from the compiled core, margins summed in the library's arithmetic."""

    name = "tree"
    game = "path-dependent tree game over the raw columns, in the native output"

    def __init__(self, core: Any, library: Any, *, mirrored: bool) -> None:
        self._core = core
        self._library = library
        self._mirrored = mirrored

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        from .attribution._tree import core_attribution

        return core_attribution(self._core, X, library=self._library, mirrored=self._mirrored)


class CompiledModel:
    """What ``explainscore explain`` needs of an ExplainedModel, from a compiled form.

    Rows its tables cover are explained by :func:`~explainscore._engine.explain_frame`, as
    :class:`~explainscore.ExplainedModel` explains them; anything else (a row outside the
    tables, an engaged kill switch) is handed to the full model, loaded on first need.
    """

    kill_switch = None
    audit_log = None
    review = None
    review_queue = None

    def __init__(
        self,
        *,
        engine: Engine,
        encoder: RowEncoder | None,
        policy: Policy | None,
        top_k: int,
        signed_off: bool,
        full: Callable[[], Any],
    ) -> None:
        self.engine_ = engine
        self.policy = policy
        self.top_k = top_k
        self.signed_off_ = signed_off
        self.feature_names_in_ = np.asarray(engine.schema.names, dtype=object)
        self.n_features_in_ = len(engine.schema.names)
        self.model_fingerprint_ = engine.fingerprint
        self._encoder = encoder
        self._load_full = full
        self._full_model: Any = None

    def _ensure_built(self) -> Engine:
        return self.engine_

    def _kill_state(self) -> KillState:
        return combined_state(None)

    def full(self) -> Any:
        """The ExplainedModel from ``model.skops`` (loaded once, when first needed)."""
        if self._full_model is None:
            self._full_model = self._load_full()
        return self._full_model

    def encode(self, frame: pd.DataFrame) -> np.ndarray[Any, Any] | None:
        """Validated rows in the model's space, or None when a value is outside the tables."""
        if self._encoder is None:
            return self.engine_.schema.model_array(frame)
        return self._encoder.encode_frame(frame)

    def explain(self, X: Any, *, top_k: int | None = None, on_error: str = "raise") -> Explanations:
        """:meth:`ExplainedModel.explain <explainscore.ExplainedModel.explain>` for a frame."""
        engine = self.engine_
        check_choice(on_error, "on_error", "explain", ("raise", "skip"))
        k = check_int(self.top_k if top_k is None else top_k, "top_k", "explain", low=1)
        if combined_engaged(None) or not isinstance(X, pd.DataFrame):
            return self.full().explain(X, top_k=top_k, on_error=on_error)  # type: ignore[no-any-return]
        if self.policy is not None:
            self.policy.check_inputs([str(c) for c in X.columns], where="explain")
        validated = engine.schema.validate(X, where="explain")
        if on_error == "raise":
            validated.raise_first()
        good = validated.good
        if not good.any():
            validated.raise_first()
        frame = validated.frame[good] if validated.problems else validated.frame
        attr_in = self.encode(frame)
        if attr_in is None:
            return self.full().explain(X, top_k=top_k, on_error=on_error)  # type: ignore[no-any-return]
        k = min(k, self.n_features_in_)
        return self._explain_validated(frame, attr_in, k, rejected_rows(validated.problems))

    def _explain_validated(
        self, frame: pd.DataFrame, attr_in: np.ndarray[Any, Any], k: int, rejected: list[Any]
    ) -> Explanations:
        batch = explain_frame(
            self.engine_,
            frame,
            k=k,
            rejected=rejected,
            model_space=lambda _: attr_in,
            signed_off=self.signed_off_,
            policy=self.policy,
        )
        # What ``ExplainedModel._govern`` gives a batch with no review rules, log or queue.
        return replace(batch, review_reasons=[()] * len(batch))
