"""A stable SHA-256 fingerprint of a fitted model, recorded with every explanation.

Three sources, tried in order:

1. XGBoost and LightGBM models: their own JSON/text dumps, which are deterministic.
2. Any other model: its pickle bytes (only *writing* a pickle, which is safe).
3. A model that cannot be pickled (a ``FunctionTransformer(lambda ...)``, a closure, a local
   class): a **structural** fingerprint, SHA-256 over a canonical description of the model,
   built by :func:`_describe`:

   - every object's module and qualified class name;
   - an estimator's parameters (``get_params(deep=False)``, each described recursively) and
     its fitted attributes (public names ending in ``_``), so nested estimators are covered;
   - arrays as dtype, shape and raw bytes; scalars and strings as their ``repr``;
     lists, tuples, dicts and sets element by element (sets and dict keys in sorted order);
   - a function or lambda as its module, ``__qualname__``, a SHA-256 of its bytecode and
     constants (recursively, for nested functions), its default arguments and the values its
     closure captures;
   - any other object through its pickle bytes if it has them, else its ``__dict__``.

   Memory addresses never enter the description, so the same model gives the same
   fingerprint in every process. What it does not cover: global variables a function reads
   at call time (only their names are in the bytecode) and the code of modules it calls.
"""

from __future__ import annotations

import hashlib
import pickle
import types
from typing import Any

import numpy as np

__all__ = ["model_fingerprint"]


def model_fingerprint(model: Any) -> str:
    """``"sha256:<hex>"`` of the model's serialized state (structural when not picklable).

    XGBoost and LightGBM models are hashed through their own text/JSON dumps, which are
    deterministic; other models through their pickle bytes (only *writing* a pickle, which is
    safe), and a model that cannot be pickled (a lambda in a ``FunctionTransformer``) through
    a canonical description of its structure (see the module docstring). Two fits with the
    same data and seed give the same fingerprint.
    """
    digest = hashlib.sha256()
    digest.update(type(model).__module__.encode() + b"." + type(model).__qualname__.encode())
    digest.update(b"\0")
    digest.update(_state_bytes(model))
    return "sha256:" + digest.hexdigest()


def _state_bytes(model: Any) -> bytes:
    native = _native_bytes(model)
    if native is not None:
        return native
    try:
        return pickle.dumps(model, protocol=5)
    except Exception:  # PicklingError, AttributeError, TypeError: it depends on the object
        # A different prefix keeps a structural hash from ever equalling a pickle hash.
        return b"structural\0" + _describe(model, set())


def _native_bytes(model: Any) -> bytes | None:
    module = type(model).__module__.split(".")[0]
    if module == "xgboost" and (hasattr(model, "get_booster") or hasattr(model, "save_raw")):
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        return bytes(booster.save_raw("json"))
    if module == "lightgbm":
        booster = getattr(model, "booster_", model)
        if hasattr(booster, "model_to_string"):
            return str(booster.model_to_string()).encode()
    return None


def _tag(obj: Any) -> bytes:
    cls = type(obj)
    return f"<{cls.__module__}.{cls.__qualname__}>".encode()


def _describe(obj: Any, seen: set[int]) -> bytes:
    """A canonical, address-free byte description of ``obj`` (see the module docstring)."""
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes):
        return _tag(obj) + repr(obj).encode()
    if isinstance(obj, np.generic):
        return _tag(obj) + repr(obj.item()).encode()
    if isinstance(obj, np.ndarray):
        head = _tag(obj) + f"{obj.dtype.str}{obj.shape}".encode()
        if obj.dtype.hasobject:
            return head + _sequence(obj.ravel().tolist(), seen)
        return head + hashlib.sha256(np.ascontiguousarray(obj).tobytes()).digest()
    if id(obj) in seen:
        return b"<cycle>"
    seen = seen | {id(obj)}
    if isinstance(obj, types.FunctionType | types.LambdaType):
        return _function(obj, seen)
    if isinstance(obj, types.BuiltinFunctionType | types.MethodType | type):
        return _tag(obj) + f"{getattr(obj, '__module__', '')}.{obj.__qualname__}".encode()
    if isinstance(obj, list | tuple):
        return _tag(obj) + _sequence(list(obj), seen)
    if isinstance(obj, set | frozenset):
        return _tag(obj) + b"{" + b",".join(sorted(_describe(v, seen) for v in obj)) + b"}"
    if isinstance(obj, dict):
        items = sorted((_describe(k, seen), _describe(v, seen)) for k, v in obj.items())
        return _tag(obj) + b"{" + b",".join(k + b":" + v for k, v in items) + b"}"
    native = _native_bytes(obj)
    if native is not None:
        return _tag(obj) + hashlib.sha256(native).digest()
    if callable(getattr(obj, "get_params", None)):
        return _estimator(obj, seen)
    try:
        return _tag(obj) + hashlib.sha256(pickle.dumps(obj, protocol=5)).digest()
    except Exception:
        state = getattr(obj, "__dict__", None)
        if state is None:
            return _tag(obj)
        return _tag(obj) + _describe(dict(state), seen)


def _sequence(items: list[Any], seen: set[int]) -> bytes:
    return b"[" + b",".join(_describe(v, seen) for v in items) + b"]"


def _estimator(obj: Any, seen: set[int]) -> bytes:
    params = obj.get_params(deep=False)
    fitted = {
        k: v
        for k, v in vars(obj).items()
        if k.endswith("_") and not k.startswith("_") and k not in params
    }
    return (
        _tag(obj) + b"params" + _describe(dict(params), seen) + b"fitted" + _describe(fitted, seen)
    )


def _function(fn: types.FunctionType, seen: set[int]) -> bytes:
    closure = [c.cell_contents for c in (fn.__closure__ or ()) if _has_contents(c)]
    return (
        _tag(fn)
        + f"{fn.__module__}.{fn.__qualname__}".encode()
        + _code_hash(fn.__code__)
        + b"defaults"
        + _describe(fn.__defaults__, seen)
        + _describe(fn.__kwdefaults__, seen)
        + b"closure"
        + _sequence(closure, seen)
    )


def _has_contents(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises ValueError
    except ValueError:
        return False
    return True


def _code_hash(code: types.CodeType) -> bytes:
    digest = hashlib.sha256(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            digest.update(_code_hash(const))
        elif isinstance(const, frozenset):  # `x in {"a", "b"}`: its order varies by process
            digest.update(repr(sorted(repr(c) for c in const)).encode())
        else:
            digest.update(repr(const).encode())
    return digest.digest()
