"""The private parts of wasmtime-py the host relies on, each exercised, so an upgrade that moves
or changes one fails here, loudly and by name, instead of deep inside a call.

The fast paths call wasmtime's C API through wasmtime-py's private ctypes bindings
(`wasmtime._bindings`, `wasmtime._ffi`), reach into `Func._func` / `Store._context()` for the raw
handles, and read the global where wasmtime-py parks a host function's exception
(`wasmtime.component._enter.LAST_EXCEPTION`). pyproject.toml pins wasmtime to the minor series
these were checked against; a new series means checking them again and updating the tables below.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.metadata
import re
import tomllib
from collections.abc import Callable
from ctypes import byref
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import _bindings, _ffi
from wasmtime import component as wc
from wasmtime.component import _enter

ROOT = Path(__file__).resolve().parent.parent
HOST = ROOT / "fixtures" / "wat" / "host"
CHECKED_SERIES = (50,)  # the wasmtime major versions these hooks were checked against

# Every private wasmtime module the host imports, and the attributes it reads from it.
# The scan below fails if harness uses one that is not listed here (so it gets a check).
HOOKS: dict[str, set[str]] = {
    "wasmtime._ffi": {
        "WASMTIME_COMPONENT_BOOL", "WASMTIME_COMPONENT_CHAR", "WASMTIME_COMPONENT_F32", "WASMTIME_COMPONENT_F64",
        "WASMTIME_COMPONENT_LIST", "WASMTIME_COMPONENT_S16", "WASMTIME_COMPONENT_S32", "WASMTIME_COMPONENT_S64",
        "WASMTIME_COMPONENT_S8", "WASMTIME_COMPONENT_U16", "WASMTIME_COMPONENT_U32", "WASMTIME_COMPONENT_U64",
        "WASMTIME_COMPONENT_U8", "to_str", "wasm_byte_vec_delete", "wasm_byte_vec_t",
        "wasmtime_component_func_callback_t", "wasmtime_component_linker_instance_add_func",
        "wasmtime_component_val_t", "wasmtime_component_vallist_delete", "wasmtime_component_vallist_new_uninit",
        "wasmtime_component_vallist_t", "wasmtime_context_t", "wasmtime_error_message", "wasmtime_error_t",
        "wasmtime_store_epoch_deadline_callback", "wasmtime_update_deadline_kind_t",
        # resource handles across links (runtime/_handles.py)
        "WASMTIME_COMPONENT_RESOURCE", "wasmtime_component_resource_any_t", "wasmtime_component_resource_host_t",
        "wasmtime_component_resource_host_new", "wasmtime_component_resource_host_to_any",
        "wasmtime_component_resource_any_drop", "wasmtime_component_linker_instance_add_resource",
        "wasmtime_component_resource_destructor_t",
    },
    "wasmtime._bindings": {"_wasmtime_component_func_call", "_wasmtime_component_val_delete",
                           "_wasmtime_error_delete", "_wasmtime_error_new",
                           "_wasmtime_component_resource_any_clone", "_wasmtime_component_resource_any_delete",
                           "_wasmtime_component_resource_any_to_host", "_wasmtime_component_resource_host_delete",
                           "_wasmtime_component_resource_host_rep", "_wasmtime_component_resource_host_type",
                           "_wasmtime_component_resource_any_drop", "_wasmtime_component_resource_host_new",
                           "_wasmtime_component_resource_host_to_any"},
    "wasmtime.component._enter": {"LAST_EXCEPTION"},
    # a private classmethod of a public class: a resource handle from a raw pointer (runtime/_handles.py)
    "wasmtime.component.ResourceAny._from_ptr": set(),
}
# private attributes of wasmtime-py objects: (regex over harness's source, what it reads)
OBJECT_HOOKS = {r"\b\w+\._func\b": "Func._func", r"\b\w+\._context\(\)": "Store._context()"}

# The C functions, with the ctypes signature wasmtime-py declares for them (size_t spelled out:
# ctypes names it c_ulong or c_ulonglong depending on the platform).
SIGNATURES: dict[str, tuple[list[str], str | None]] = {
    "wasm_byte_vec_delete": (["LP_wasm_byte_vec_t"], None),
    "wasmtime_component_func_call": (["LP_wasmtime_component_func", "LP_wasmtime_context",
                                      "LP_wasmtime_component_val", "size_t", "LP_wasmtime_component_val",
                                      "size_t"], "LP_wasmtime_error"),
    "wasmtime_component_linker_instance_add_func": (["LP_wasmtime_component_linker_instance_t", "LP_c_char",
                                                     "size_t", "CFunctionType", "c_void_p", "CFunctionType"],
                                                    "LP_wasmtime_error"),
    "wasmtime_component_linker_instance_add_resource": (["LP_wasmtime_component_linker_instance_t", "LP_c_char",
                                                         "size_t", "LP_wasmtime_component_resource_type",
                                                         "CFunctionType", "c_void_p", "CFunctionType"],
                                                        "LP_wasmtime_error"),
    "wasmtime_component_val_delete": (["LP_wasmtime_component_val"], None),
    "wasmtime_component_resource_any_to_host": (["LP_wasmtime_context", "LP_wasmtime_component_resource_any",
                                                 "LP_LP_wasmtime_component_resource_host"], "LP_wasmtime_error"),
    "wasmtime_component_resource_host_rep": (["LP_wasmtime_component_resource_host"], "c_uint"),
    "wasmtime_component_resource_host_type": (["LP_wasmtime_component_resource_host"], "c_uint"),
    "wasmtime_component_resource_host_delete": (["LP_wasmtime_component_resource_host"], None),
    "wasmtime_component_resource_any_clone": (["LP_wasmtime_component_resource_any"],
                                              "LP_wasmtime_component_resource_any"),
    "wasmtime_component_resource_any_delete": (["LP_wasmtime_component_resource_any"], None),
    "wasmtime_component_resource_host_to_any": (["LP_wasmtime_context", "LP_wasmtime_component_resource_host",
                                                 "LP_LP_wasmtime_component_resource_any"], "LP_wasmtime_error"),
    "wasmtime_component_resource_any_drop": (["LP_wasmtime_context", "LP_wasmtime_component_resource_any"],
                                             "LP_wasmtime_error"),
    "wasmtime_component_resource_host_new": (["c_bool", "c_uint", "c_uint"], "LP_wasmtime_component_resource_host"),
    "wasmtime_component_vallist_delete": (["LP_wasmtime_component_vallist"], None),
    "wasmtime_component_vallist_new_uninit": (["LP_wasmtime_component_vallist", "size_t"], None),
    "wasmtime_error_delete": (["LP_wasmtime_error"], None),
    "wasmtime_error_message": (["LP_wasmtime_error", "LP_wasm_byte_vec_t"], None),
    "wasmtime_error_new": (["LP_c_char"], "LP_wasmtime_error"),
    "wasmtime_store_epoch_deadline_callback": (["LP_wasmtime_store", "CFunctionType", "c_void_p", "CFunctionType"],
                                               None),
}
KINDS = {"BOOL": 0, "S8": 1, "U8": 2, "S16": 3, "U16": 4, "S32": 5, "U32": 6, "S64": 7, "U64": 8, "F32": 9,
         "F64": 10, "CHAR": 11, "LIST": 13}
UNION_FIELDS = ["boolean", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "character",
                "string", "list", "record", "tuple", "variant", "enumeration", "option", "result", "flags", "map",
                "resource"]

ADD = """(component
  (core module $m (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
                  (func (export "boom") (result i32) unreachable))
  (core instance $i (instantiate $m))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func (export "boom") (result u32) (canon lift (core func $i "boom"))))"""
# calls the host function `f` (result u32) and returns what it gave
CALLS_HOST = """(component
  (import "f" (func $f (result u32)))
  (core func $lf (canon lower (func $f)))
  (core module $m (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f))
  (core instance $i (instantiate $m (with "h" (instance (export "f" (func $lf))))))
  (func (export "g") (result u32) (canon lift (core func $i "g"))))"""


def _name(t: Any) -> str | None:
    if t is None:
        return None
    return "size_t" if t is ctypes.c_size_t else str(t.__name__)


def _used_by_harness() -> tuple[dict[str, set[str]], set[str]]:
    used: dict[str, set[str]] = {}
    objects: set[str] = set()
    for path in sorted((ROOT / "harness").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        alias: dict[str, str] = {}  # name bound to a private wasmtime module -> that module
        public: dict[str, str] = {}  # name bound to a public wasmtime module -> that module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wasmtime":
                for a in node.names:
                    target = alias if a.name.startswith("_") or "._" in node.module else public
                    target[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "wasmtime":
                        (alias if "._" in a.name else public)[a.asname or a.name] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in alias:
                    used.setdefault(alias[node.value.id], set()).add(node.attr)
                elif node.value.id in public and node.attr.startswith("_") and not node.attr.startswith("__"):
                    used.setdefault(f"{public[node.value.id]}.{node.attr}", set())  # e.g. wasmtime._ffi.X
        for pattern, hook in OBJECT_HOOKS.items():
            if re.search(pattern, text):
                objects.add(hook)
    return used, objects


def test_every_private_hook_harness_uses_is_listed_here() -> None:
    used, objects = _used_by_harness()
    assert used, "the scan found no private wasmtime import: it is broken"
    unlisted = {m: sorted(attrs - HOOKS.get(m, set())) for m, attrs in used.items() if attrs - HOOKS.get(m, set())}
    assert unlisted == {}, "a new private wasmtime-py hook: add it to HOOKS and check it below"
    assert sorted(set(used) - set(HOOKS)) == [], "a new private wasmtime-py module: add it to HOOKS"
    assert objects <= set(OBJECT_HOOKS.values())


def test_every_listed_hook_exists() -> None:
    for module, attrs in HOOKS.items():
        path, mod = module.split("."), None
        for cut in range(len(path), 0, -1):  # the longest importable prefix, then attributes
            try:
                mod = importlib.import_module(".".join(path[:cut]))
            except ImportError:
                continue
            for name in path[cut:]:
                mod = getattr(mod, name)
            break
        assert mod is not None, module
        missing = sorted(a for a in attrs if not hasattr(mod, a))
        assert missing == [], f"{module} lost {missing}"


def test_the_installed_wasmtime_is_the_pinned_series() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    pin = next(d for d in deps if re.match(r"wasmtime\b", d))
    assert re.fullmatch(r"wasmtime>=\d+\.\d+\.\d+,<(\d+)", pin.replace(" ", "")), f"no upper bound: {pin}"
    version = importlib.metadata.version("wasmtime")
    assert int(version.split(".")[0]) in CHECKED_SERIES, f"wasmtime {version}: check the hooks in this file again"
    assert wasmtime.__file__ and version


def test_the_c_functions_have_the_signatures_the_fast_paths_pass() -> None:
    got = {name: ([_name(t) for t in getattr(_bindings, "_" + name).argtypes],
                  _name(getattr(_bindings, "_" + name).restype)) for name in SIGNATURES}
    assert got == SIGNATURES
    cb = _ffi.wasmtime_component_func_callback_t
    assert [_name(t) for t in cb._argtypes_] == ["c_void_p", "LP_wasmtime_context", "LP_wasmtime_component_func_type_t",
                                                 "LP_wasmtime_component_val", "size_t", "LP_wasmtime_component_val",
                                                 "size_t"]
    assert _name(cb._restype_) == "size_t"
    dtor = _ffi.wasmtime_component_resource_destructor_t  # (data, context, rep) -> error address
    assert [_name(t) for t in dtor._argtypes_] == ["c_void_p", "LP_wasmtime_context", "c_uint"]
    assert _name(dtor._restype_) == "size_t"


def test_the_value_layout_the_fast_paths_write() -> None:
    assert {k: getattr(_ffi, f"WASMTIME_COMPONENT_{k}").value for k in KINDS} == KINDS
    val = _ffi.wasmtime_component_val_t
    assert [f[0] for f in val._fields_] == ["kind", "of"] and _name(val._fields_[0][1]) == "c_ubyte"
    assert [f[0] for f in val._fields_[1][1]._fields_] == UNION_FIELDS
    assert [f[0] for f in _ffi.wasm_byte_vec_t._fields_] == ["size", "data"]
    assert [f[0] for f in _ffi.wasmtime_component_vallist_t._fields_] == ["size", "data"]
    assert _ffi.wasmtime_update_deadline_kind_t is ctypes.c_ubyte


@pytest.fixture
def add() -> tuple[wasmtime.Store, Callable[[str], wc.Func]]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wc.Linker(engine).instantiate(store, wc.Component(engine, ADD))

    def func(name: str) -> wc.Func:
        f = instance.get_func(store, name)
        assert f is not None
        return f
    return store, func


def test_a_raw_call_through_func_func_and_store_context(add: tuple[wasmtime.Store, Callable[[str], Any]]) -> None:
    store, func = add
    f = func("add")
    assert isinstance(f._func, _ffi.wasmtime_component_func_t)
    ctx = store._context()
    assert isinstance(ctx, ctypes.POINTER(_ffi.wasmtime_context_t))
    args = (_ffi.wasmtime_component_val_t * 2)()
    for slot, value in zip(args, (40, 2), strict=True):
        slot.kind = _ffi.WASMTIME_COMPONENT_U32.value
        slot.of.u32 = value
    result = (_ffi.wasmtime_component_val_t * 1)()
    err = _bindings._wasmtime_component_func_call(byref(f._func), ctx, args, 2, result, 1)
    assert not err
    assert (result[0].kind, result[0].of.u32) == (_ffi.WASMTIME_COMPONENT_U32.value, 42)


def test_the_untyped_call_passes_ready_objects_and_returns_the_error_address(
        add: tuple[wasmtime.Store, Callable[[str], Any]]) -> None:
    """harness calls `wasmtime_component_func_call` without wasmtime-py's argument types (see
    `_calls.lean`): pointers as `c_void_p`, counts as `size_t` objects, the error as an int."""
    from harness.runtime._calls import SIZES, _func_call, error_text
    store, func = add
    f, boom = func("add"), func("boom")
    fref = ctypes.c_void_p(ctypes.addressof(f._func))
    cptr = ctypes.c_void_p(ctypes.cast(store._context(), ctypes.c_void_p).value)
    args = (_ffi.wasmtime_component_val_t * 2)()
    for slot, value in zip(args, (2**31 + 5, 7), strict=True):  # a u32 above the C int range
        slot.kind = _ffi.WASMTIME_COMPONENT_U32.value
        slot.of.u32 = value
    result = (_ffi.wasmtime_component_val_t * 1)()
    assert not _func_call(fref, cptr, args, SIZES[2], result, SIZES[1])
    assert result[0].of.u32 == 2**31 + 12
    err = _func_call(ctypes.c_void_p(ctypes.addressof(boom._func)), cptr, None, SIZES[0], result, SIZES[1])
    assert isinstance(err, int) and err
    assert "unreachable" in error_text(err)


def test_a_raw_trap_gives_an_error_whose_message_reads_and_frees(
        add: tuple[wasmtime.Store, Callable[[str], Any]]) -> None:
    store, func = add
    f = func("boom")
    result = (_ffi.wasmtime_component_val_t * 1)()
    err = _bindings._wasmtime_component_func_call(byref(f._func), store._context(), None, 0, result, 1)
    assert err
    vec = _ffi.wasm_byte_vec_t()
    _ffi.wasmtime_error_message(err, byref(vec))
    text = _ffi.to_str(vec)
    _ffi.wasm_byte_vec_delete(byref(vec))
    _bindings._wasmtime_error_delete(err)
    assert "unreachable" in text
    made = _bindings._wasmtime_error_new(b"made here")
    vec = _ffi.wasm_byte_vec_t()
    _ffi.wasmtime_error_message(made, byref(vec))
    assert _ffi.to_str(vec) == "made here"
    _ffi.wasm_byte_vec_delete(byref(vec))
    _bindings._wasmtime_error_delete(made)


def test_a_host_functions_exception_is_parked_in_last_exception() -> None:
    """wasmtime-py's own host-function glue stores the Python exception in
    `_enter.LAST_EXCEPTION` and returns a "python exception" error to C: harness reads it there."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    with linker.root() as root:
        root.add_func("f", lambda _store: "not a u32")
    f = linker.instantiate(store, wc.Component(engine, CALLS_HOST)).get_func(store, "g")
    assert f is not None
    _enter.LAST_EXCEPTION = None
    result = (_ffi.wasmtime_component_val_t * 1)()
    try:
        err = _bindings._wasmtime_component_func_call(byref(f._func), store._context(), None, 0, result, 1)
        assert err
        vec = _ffi.wasm_byte_vec_t()
        _ffi.wasmtime_error_message(err, byref(vec))
        assert "python exception" in _ffi.to_str(vec)
        _ffi.wasm_byte_vec_delete(byref(vec))
        _bindings._wasmtime_error_delete(err)
        assert isinstance(_enter.LAST_EXCEPTION, Exception)
    finally:
        _enter.LAST_EXCEPTION = None


def test_each_hook_through_the_host(tmp_path: Path) -> None:
    """The same hooks as the host uses them: a fast call, a proxy hop (linker_instance_add_func on
    `Instance.ptr()`), an epoch deadline callback on `Store.ptr()` (a timeout), a trap's message."""
    from harness import CallTimeoutError, Host, TrapError

    with Host.load(HOST / "calc.wat", HOST / "twice.wat", cache_dir=str(tmp_path), timeout_ms=200) as host:
        assert host.call("calc", "add", 2, 3) == 5
        assert host.call("twice", "twice", 21) == 42
        with pytest.raises(TrapError, match="unreachable"):
            host.call("calc", "boom")
        with pytest.raises(CallTimeoutError):
            host.call("calc", "spin")
