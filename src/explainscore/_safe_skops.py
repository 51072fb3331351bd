"""Reading a skops model file that may be hostile: limits first, then a closed allow-list.

Why explainscore checks the file itself
---------------------------------------
A skops file is a zip holding ``schema.json`` (a tree of *nodes*) and binary members
(``.npy`` arrays, raw booster bytes). Each node names a *loader* (``__loader__``: which skops
class rebuilds it) and a type (``__module__`` + ``__class__``). Those names are only text
written in the file: skops imports the module and looks the name up when it builds the
object. A crafted file can therefore label a node with a type we trust and still make skops
import a module, call a function (``FunctionNode``), fetch a bound method (``MethodNode``), bind
arguments (``PartialNode``) or build an ``operator.methodcaller`` (``OperatorFuncNode``). Trusting
type names by prefix (``"xgboost.sklearn."``) let such a file reach ``builtins.eval``.

So before skops reads anything, :func:`load_model_file`

1. bounds the file: size on disk, number of zip members, uncompressed size per member and in
   total, compression ratio, member names, ``schema.json`` size, container count and nesting
   depth (a 2 MB zip bomb is refused from the zip's directory, without inflating it);
2. checks the skops protocol is the installed one (an older protocol would select older,
   laxer node classes), then walks every node of ``schema.json`` and accepts it only when
   its loader is one of :data:`_LOADERS` and its ``(module, class)`` pair is *exactly* one
   listed for that loader. Loaders that call or look up functions (``FunctionNode`` except
   for a few pure NumPy ufuncs, ``MethodNode``, ``PartialNode``, ``OperatorFuncNode``,
   ``ConstructorFromReduceNode``, ...) are refused outright (unless the caller passes
   ``trust=True``, which runs whatever the file holds);
3. only then hands the same bytes (read once: no second read of a file that could have
   changed) to skops' node loaders with exactly the types it found, all of which are on the
   list.

Which skops code builds the objects
-----------------------------------
``import skops.io`` builds skops' *default* trusted-type lists (``skops.io._trusted_types``:
it imports every scikit-learn estimator and scans SciPy's and NumPy's ufuncs), about 1.3 s of
a cold process, and skops adds those defaults to any ``trusted=`` list it is given. Neither is
needed here: the walk above is the gate. So :func:`_loaders` runs skops' own, unchanged loader
modules (``_audit``, ``_utils``, ``_general``, ``_numpy``, ``_scipy``; ``_sklearn`` only when
the file holds a ``TreeNode`` or ``LossNode``) a second time under a private package name,
with every default trusted list *empty* (the bit generators a ``RandomGeneratorNode`` may
name are listed as skops lists them). skops' audit then trusts exactly the types the walk
approved, and nothing by default: a second gate stricter than skops' own. The ``skops.io``
package the rest of the process sees is not imported or changed; ``trust=True`` loads
through it as before.

Errors name the offending loader, type or limit; they never quote the file's content.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import re
import sys
import threading
import types
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._optional import import_optional
from .exceptions import ExplainScoreError

__all__ = ["LIMITS", "Limits", "ModelFileError", "load_model_file"]


class ModelFileError(ExplainScoreError, ValueError):
    """A saved model cannot be loaded: missing, truncated, corrupted, changed or unsafe."""


@dataclass(frozen=True)
class Limits:
    """Bounds checked before a model file is unpacked (values in bytes unless stated)."""

    #: Size of the skops file on disk (it is read into memory once).
    max_file_bytes: int = 1 << 30
    #: Number of members in the zip (a 500-tree forest has about 2,500).
    max_members: int = 100_000
    #: Uncompressed size of one member, and of all members together.
    max_member_bytes: int = 1 << 30
    max_total_bytes: int = 2 << 30
    #: Uncompressed / compressed size, per member and overall. ``explainscore.save`` stores
    #: members uncompressed (ratio 1); the bound only matters for members above
    #: ``ratio_floor`` bytes, so small, very regular arrays stay loadable.
    max_ratio: float = 100.0
    ratio_floor: int = 1 << 20
    #: ``schema.json``: bytes, JSON containers (``{`` and ``[``, counted before parsing) and
    #: nesting depth (a 1,000-estimator gradient boosting model: 21 MB, 80,000, 18).
    max_schema_bytes: int = 128 << 20
    max_schema_containers: int = 2_000_000
    max_schema_depth: int = 64


#: The limits :func:`explainscore.load` applies.
LIMITS = Limits()

# --- the allow-list -----------------------------------------------------------------------
#
# Every entry is an exact fully qualified type name, checked as the exact (module, class)
# pair skops will import; nothing is matched by prefix.

#: ObjectNode: skops creates the instance with ``cls.__new__(cls)`` and restores its
#: attributes (``__setstate__`` or ``__dict__``); no constructor or method of the file's
#: choosing runs. These are the estimators and transformers explainscore supports, and the
#: internal objects their fitted state holds.
_OBJECT_TYPES = frozenset(
    {
        # Composition: the Pipelines and ColumnTransformers explainscore decomposes.
        "sklearn.pipeline.Pipeline",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.compose._column_transformer.make_column_selector",  # column selection only
        # Preprocessing explainscore maps back to raw columns (or explains with kernel).
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.preprocessing._target_encoder.TargetEncoder",
        "sklearn.preprocessing._label.LabelEncoder",  # classes_ of boosters and HGB
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.MaxAbsScaler",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._discretization.KBinsDiscretizer",
        # FunctionTransformer: ColumnTransformer's ``remainder="passthrough"`` is one (func
        # None). A ``func`` can only be a node this list allows (a pure ufunc below).
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.impute._base.MissingIndicator",  # SimpleImputer(add_indicator=True)
        # Single trees and forests (exact TreeSHAP).
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        # Gradient boosting; its init_ estimator is a Dummy* model.
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.dummy.DummyClassifier",
        "sklearn.dummy.DummyRegressor",
        # HistGradientBoosting and its fitted internals (binning, per-iteration predictors).
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # Loss and link objects the boosting models keep (pure arithmetic).
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.HuberLoss",
        "sklearn._loss.loss.PinballLoss",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss.loss.ExponentialLoss",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.HalfLogitLink",
        "sklearn._loss.link.LogLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.link.Interval",
        # Linear models (closed-form attributions).
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.linear_model._ridge.RidgeClassifier",
        "sklearn.linear_model._coordinate_descent.Lasso",
        "sklearn.linear_model._coordinate_descent.ElasticNet",
        "sklearn.linear_model._stochastic_gradient.SGDClassifier",
        "sklearn.linear_model._stochastic_gradient.SGDRegressor",
        # XGBoost and LightGBM scikit-learn wrappers and their boosters; a booster's state
        # is its own serialisation (bytes / model text) parsed by the library's loader.
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.core.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
    }
)

#: NumPy scalar types: NdArrayNode rebuilds a scalar as ``type(array)``, TypeNode and
#: DTypeNode name dtypes (OneHotEncoder's ``dtype``, fitted arrays' scalars).
_NUMPY_SCALARS = frozenset(
    "numpy." + name
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "str_",
    )
)

#: Plain Python types: containers rebuilt by calling the type on their items.
_BUILTIN_TYPES = frozenset(
    "builtins." + name for name in ("str", "int", "float", "bool", "list", "tuple", "dict", "set")
)

#: Pure NumPy ufuncs a FunctionTransformer may hold (``func=np.log1p``): elementwise
#: arithmetic on the array passed, no I/O, no Python callbacks. ``numpy.savetxt``, ``save``,
#: ``load``, ``fromfile`` ... are functions, not ufuncs, and are not here.
_UFUNCS = frozenset(
    "numpy." + name
    for name in ("log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "square", "absolute")
)

#: For each skops loader, the exact types it may build. A loader not in this table is
#: refused whatever type it names.
_LOADERS: Mapping[str, frozenset[str]] = {
    "ObjectNode": _OBJECT_TYPES,
    # A fitted sklearn tree (``Tree``), rebuilt through its fixed constructor.
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    # Cython losses of GradientBoosting; skops calls the named class, so the list is exact.
    "LossNode": frozenset(
        "sklearn._loss._loss." + name
        for name in (
            "CyHalfBinomialLoss",
            "CyHalfMultinomialLoss",
            "CyHalfSquaredError",
            "CyAbsoluteError",
            "CyHuberLoss",
            "CyPinballLoss",
            "CyHalfPoissonLoss",
            "CyHalfGammaLoss",
            "CyExponentialLoss",
        )
    ),
    # Containers: DictNode calls the named type (dict or OrderedDict, which LightGBM uses).
    "DictNode": frozenset({"builtins.dict", "collections.OrderedDict"}),
    "DefaultDictNode": frozenset({"collections.defaultdict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),  # no namedtuple: none is needed
    "SetNode": frozenset({"builtins.set"}),
    "SliceNode": frozenset({"builtins.slice"}),
    # Raw bytes (an XGBoost booster's own serialisation).
    "BytesNode": frozenset({"builtins.bytes"}),
    "BytearrayNode": frozenset({"builtins.bytearray"}),
    # JSON literals: parsed by json.loads; the type name is never imported.
    "JsonNode": _BUILTIN_TYPES | {"builtins.NoneType"},
    # Arrays: np.load(allow_pickle=False), or an object array of allowed nodes.
    "NdArrayNode": _NUMPY_SCALARS | {"numpy.ndarray"},
    "DTypeNode": frozenset({"numpy.dtype"}),
    # Types held as values (``dtype=np.float64``, defaultdict factories).
    "TypeNode": _BUILTIN_TYPES | _NUMPY_SCALARS | {"collections.OrderedDict"},
    "FunctionNode": _UFUNCS,
    # Seeded random states of fitted models; the bit generator is checked below.
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
}
#: A reference to a node already read (the same object twice); it names no type.
_CACHED = "CachedNode"
#: Bit generators a RandomGeneratorNode may name (skops calls the named class).
_BIT_GENERATORS = frozenset({"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"})
#: Zip member names skops writes: ``schema.json``, ``<id>.npy``, ``<uuid>.bin``.
_MEMBER_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def _split(name: str) -> tuple[str, str]:
    module, _, cls = name.rpartition(".")
    return module, cls


_ALLOWED_PAIRS: Mapping[str, frozenset[tuple[str, str]]] = {
    loader: frozenset(_split(n) for n in names) for loader, names in _LOADERS.items()
}


def allowed_types() -> dict[str, list[str]]:
    """The allow-list, per skops loader (for documentation and tests)."""
    return {loader: sorted(names) for loader, names in _LOADERS.items()}


# --- checks -----------------------------------------------------------------------------


def load_model_file(data: bytes, *, name: str, trust: bool, limits: Limits | None = None) -> Any:
    """Check ``data`` (the bytes of a skops file) and build the model it holds.

    With ``trust=True`` the type allow-list is waived (the file may build any type skops
    knows, and run code: the caller vouches for it); the size limits and zip checks apply.
    ``limits`` defaults to :data:`LIMITS`.
    """
    limits = LIMITS if limits is None else limits
    if len(data) > limits.max_file_bytes:
        raise ModelFileError(
            f"{name} is larger than the {limits.max_file_bytes} bytes explainscore loads."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ModelFileError(f"{name} is not a readable skops file (not a valid zip).") from exc
    with archive:
        _check_members(archive, name, limits, len(data))
        schema = _read_schema(archive, name, limits)
    loaders: set[str] = set()
    found = _check_nodes(schema, name, trust=trust, loaders=loaders)
    try:
        if trust:
            sio = import_optional("skops.io", extra="skops", purpose="explainscore.load")
            try:
                found = set(sio.get_untrusted_types(data=data))
            except Exception as exc:
                raise ModelFileError(f"{name} is not a readable skops file.") from exc
            return sio.loads(data, trusted=sorted(found))
        return _loads(data, trusted=sorted(found), sklearn_nodes=bool(loaders & _SKLEARN_LOADERS))
    except ModelFileError:
        raise
    except RecursionError as exc:
        raise ModelFileError(f"{name} nests its objects too deeply to be loaded.") from exc
    except Exception as exc:
        raise ModelFileError(f"{name} could not be loaded ({type(exc).__name__}).") from exc


def _check_members(archive: zipfile.ZipFile, name: str, limits: Limits, size: int) -> None:
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise ModelFileError(
            f"{name} has more than {limits.max_members} zip members; refusing to load it."
        )
    seen: set[str] = set()
    total = 0
    for info in infos:
        member = info.filename
        if not _MEMBER_NAME.fullmatch(member) or ".." in member:
            raise ModelFileError(
                f"{name} holds a zip member with a name skops never writes (a path, or "
                "characters outside letters, digits, '.', '_' and '-'); refusing to load it."
            )
        if member in seen:
            raise ModelFileError(f"{name} holds two zip members with the same name.")
        seen.add(member)
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{name} holds an encrypted zip member.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                f"{name} uses a zip compression method other than stored or deflate."
            )
        if info.file_size > limits.max_member_bytes:
            raise ModelFileError(
                f"{name} holds a zip member of more than {limits.max_member_bytes} bytes "
                "uncompressed (limit max_member_bytes)."
            )
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise ModelFileError(
                f"{name} holds a zip member compressed more than {limits.max_ratio:g} to 1 "
                "(limit max_ratio): a zip bomb, or not a file explainscore.save wrote."
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ModelFileError(
                f"{name} would unpack to more than {limits.max_total_bytes} bytes (limit "
                "max_total_bytes); refusing to load it."
            )
    if total > limits.ratio_floor and total > limits.max_ratio * max(size, 1):
        raise ModelFileError(
            f"{name} would unpack to more than {limits.max_ratio:g} times its size (limit "
            "max_ratio): a zip bomb, or not a file explainscore.save wrote."
        )
    if "schema.json" not in seen:
        raise ModelFileError(f"{name} is not a skops file (it has no schema.json).")


def _read_schema(archive: zipfile.ZipFile, name: str, limits: Limits) -> Any:
    info = archive.getinfo("schema.json")
    if info.file_size > limits.max_schema_bytes:
        raise ModelFileError(
            f"{name}'s schema.json is larger than {limits.max_schema_bytes} bytes (limit "
            "max_schema_bytes)."
        )
    try:
        with archive.open(info) as fh:
            # Read at most the declared size plus one byte: a member that inflates past
            # what its header declares is refused without being inflated further.
            raw = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ModelFileError(f"{name}'s schema.json cannot be read (corrupted zip).") from exc
    if len(raw) > info.file_size:
        raise ModelFileError(f"{name}'s schema.json is larger than its zip header says.")
    # Bound the memory json.loads will need before calling it: one Python object per
    # container, counted in C.
    if raw.count(b"{") + raw.count(b"[") > limits.max_schema_containers:
        raise ModelFileError(
            f"{name}'s schema.json has more than {limits.max_schema_containers} JSON "
            "objects and arrays (limit max_schema_containers)."
        )
    try:
        schema = json.loads(raw)
    except RecursionError as exc:
        raise ModelFileError(
            f"{name}'s schema.json nests deeper than {limits.max_schema_depth} levels "
            "(limit max_schema_depth)."
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{name}'s schema.json is not valid JSON (corrupted).") from exc
    if _depth(schema) > limits.max_schema_depth:
        raise ModelFileError(
            f"{name}'s schema.json nests deeper than {limits.max_schema_depth} levels "
            "(limit max_schema_depth)."
        )
    if not isinstance(schema, dict):
        raise ModelFileError(f"{name}'s schema.json is not a skops schema.")
    return schema


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    best = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            best = max(best, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            best = max(best, depth)
            stack.extend((v, depth + 1) for v in item)
    return best


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every dict of the schema that carries a loader, wherever it sits.

    This visits more than skops will build (skops follows only the keys each loader reads),
    so every node skops could build is checked.
    """
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_nodes(
    schema: dict[str, Any], name: str, *, trust: bool, loaders: set[str] | None = None
) -> set[str]:
    """Refuse any node outside the allow-list; return the types the file builds (and add the
    loaders it names to ``loaders``)."""
    PROTOCOL = _loaders(sklearn_nodes=False).protocol

    protocol = schema.get("protocol")
    if type(protocol) is not int or protocol != PROTOCOL:
        raise ModelFileError(
            f"{name} was written with a skops protocol other than the installed one "
            f"({PROTOCOL}); save the model again with explainscore.save."
        )
    found: set[str] = set()
    bad_loaders: set[str] = set()
    bad_types: set[str] = set()
    for node in _nodes(schema):
        loader, module, cls = node.get("__loader__"), node.get("__module__"), node.get("__class__")
        if loader == _CACHED:
            continue
        if not (isinstance(loader, str) and isinstance(module, str) and isinstance(cls, str)):
            raise ModelFileError(f"{name} holds a malformed skops node.")
        if loaders is not None:
            loaders.add(loader)
        if trust:
            continue  # the caller vouches for the file; skops' own audit lists its types
        type_name = f"{module}.{cls}"
        pairs = _ALLOWED_PAIRS.get(loader)
        if pairs is None:
            bad_loaders.add(loader)
            bad_types.add(type_name)
        elif (module, cls) not in pairs:
            bad_types.add(type_name)
        elif loader == "RandomGeneratorNode":
            _check_bit_generator(node, name)
        found.add(type_name)
    if bad_loaders:
        raise ModelFileError(
            f"{name} would build objects through the skops loader(s) {_listed(bad_loaders)}, "
            "which explainscore never allows (they call or look up functions), naming "
            f"{_listed(bad_types)}. Refusing to load it."
        )
    if bad_types:
        raise ModelFileError(
            f"{name} would build object types explainscore does not allow: "
            f"{_listed(bad_types)}. Load it with trust=True only if you trust its source "
            "(the CLI: --trust-pickle)."
        )
    return found


# --- skops' loaders, without skops' default trusted types -----------------------------------

#: The private package name skops' loader modules run under (see the module docstring).
_PRIVATE = "explainscore._skops_loaders"
#: Loaders defined in ``skops.io._sklearn`` (importing it imports sklearn.cluster, 0.35 s).
_SKLEARN_LOADERS = frozenset({"TreeNode", "LossNode"})
_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Loaders:
    protocol: int
    utils: types.ModuleType
    audit: types.ModuleType


def _loaders(*, sklearn_nodes: bool) -> _Loaders:
    """skops' loader modules under :data:`_PRIVATE`, with empty default trusted lists.

    Imported once per process (``skops.io._sklearn`` only once a file needs it). This reads
    skops' internal module layout: a skops release that changes it is refused with a typed
    error (fail closed), never loaded another way.
    """
    try:
        return _private_loaders(sklearn_nodes=sklearn_nodes)
    except (ImportError, AttributeError) as exc:
        raise ModelFileError(
            "The installed skops release is not one explainscore's safe loader knows "
            f"({type(exc).__name__} in its loader modules). Install a skops release from the "
            "range explainscore supports, or report the version."
        ) from None


def _private_loaders(*, sklearn_nodes: bool) -> _Loaders:
    with _LOCK:
        pkg = sys.modules.get(_PRIVATE)
        if pkg is None:
            import_optional("skops", extra="skops", purpose="explainscore.load")
            spec = importlib.util.find_spec("skops.io")
            if spec is None or not spec.submodule_search_locations:
                raise ModelFileError("the installed skops has no skops.io package.")
            pkg = types.ModuleType(_PRIVATE)
            pkg.__path__ = list(spec.submodule_search_locations)
            pkg.__package__ = _PRIVATE
            sys.modules[_PRIVATE] = pkg
            sys.modules[f"{_PRIVATE}._trusted_types"] = _empty_trusted_types()
            audit = importlib.import_module(f"{_PRIVATE}._audit")
            for part in ("_general", "_numpy", "_scipy"):
                audit.NODE_TYPE_MAPPING.update(
                    importlib.import_module(f"{_PRIVATE}.{part}").NODE_TYPE_MAPPING
                )
        audit = sys.modules[f"{_PRIVATE}._audit"]
        if sklearn_nodes and f"{_PRIVATE}._sklearn" not in sys.modules:
            audit.NODE_TYPE_MAPPING.update(
                importlib.import_module(f"{_PRIVATE}._sklearn").NODE_TYPE_MAPPING
            )
        protocol = sys.modules[f"{_PRIVATE}._protocol"].PROTOCOL
        return _Loaders(protocol=protocol, utils=sys.modules[f"{_PRIVATE}._utils"], audit=audit)


def _empty_trusted_types() -> types.ModuleType:
    """Stands in for ``skops.io._trusted_types`` in the private loaders: nothing is trusted
    by default. Every name skops imports from it is an allow-list (a type is trusted when
    listed), so an empty list only refuses more. The bit generators are listed the way
    skops lists them (``RandomGeneratorNode`` accepts only those; explainscore's walk
    narrows them further)."""
    import numpy as np

    module = types.ModuleType(f"{_PRIVATE}._trusted_types")
    for list_name in (
        "PRIMITIVE_TYPE_NAMES",
        "CONTAINER_TYPE_NAMES",
        "SKLEARN_ESTIMATOR_TYPE_NAMES",
        "SKLEARN_INTERNAL_TYPE_NAMES",
        "SCIPY_UFUNC_TYPE_NAMES",
        "NUMPY_UFUNC_TYPE_NAMES",
        "NUMPY_DTYPE_TYPE_NAMES",
    ):
        setattr(module, list_name, [])
    module.NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES = sorted(  # type: ignore[attr-defined]
        f"numpy.random.{attr}"
        for attr in dir(np.random)
        if isinstance(obj := getattr(np.random, attr), type)
        and issubclass(obj, np.random.BitGenerator)
        and obj is not np.random.BitGenerator
    )
    return module


def _loads(data: bytes, *, trusted: list[str], sklearn_nodes: bool) -> Any:
    """``skops.io.loads(data, trusted=trusted)``, through the private loaders: the same
    steps (read the schema, build the node tree, audit it, construct), with nothing trusted
    beyond ``trusted``."""
    loaders = _loaders(sklearn_nodes=sklearn_nodes)
    with zipfile.ZipFile(io.BytesIO(data), "r") as zip_file:
        schema, load_context = loaders.utils.read_schema(zip_file)
        tree = loaders.audit.get_tree(schema, load_context, trusted=trusted)
        loaders.audit.audit_tree(tree, trusted=trusted)
        return tree.construct()


def _listed(names: set[str]) -> str:
    shown = sorted(_shown(n) for n in names)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return ", ".join(shown[:10]) + more


def _check_bit_generator(node: Mapping[str, Any], name: str) -> None:
    try:
        raw = node["content"]["bit_generator"]["content"]["bit_generator"]["content"]
        generator = json.loads(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{name} holds a malformed random generator.") from exc
    if generator not in _BIT_GENERATORS:
        raise ModelFileError(f"{name} names a random bit generator explainscore does not allow.")


def _shown(text: str) -> str:
    """A type or loader name for a message: printable ASCII, bounded, quoted.

    Type names come from the file, so they are shown only when they look like a dotted
    Python name, and cut short.
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,199}", text):
        return repr(text)
    return "(a name that is not a Python identifier)"
