"""Floors for bench_calls.py: the same components linked with bare C callbacks that do only the
C calls a link needs (no gate, no budgets, no handle-table checks, no error handling), so a
figure of ext-harness can be read against what the work itself costs in the same run."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from harness.runtime import _handles as h
from harness.runtime._calls import SIZES, _func_call, new_error
from harness.testing._chains import chain_wat

_KEEP: list[Any] = []  # callbacks, buffers and objects the C side points at, alive until exit
_VAL = ffi.wasmtime_component_val_t
_ANY = ctypes.POINTER(ffi.wasmtime_component_resource_any_t)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(_data: Any) -> None:
    return None


def _pointers(func: wc.Func, store: wasmtime.Store) -> tuple[ctypes.c_void_p, ctypes.c_void_p]:
    _KEEP.append((func, store))
    return (ctypes.c_void_p(ctypes.addressof(func._func)),
            ctypes.c_void_p(ctypes.cast(store._context(), ctypes.c_void_p).value))


def _define(li: Any, name: str, callback: Any) -> None:
    raw = name.encode()
    buf = ctypes.create_string_buffer(raw)
    _KEEP.extend((buf, callback))
    assert not ffi.wasmtime_component_linker_instance_add_func(li.ptr(), buf, len(raw), callback, None, _finalize)


def stock_func(store: wasmtime.Store, inst: wc.Instance, iface: str, name: str) -> wc.Func:
    """`iface#name` of `inst`, found with wasmtime-py's stock API."""
    func = inst.get_func(store, inst.get_export_index(store, name, inst.get_export_index(store, iface)))
    assert func is not None
    return func


def _caller(func: wc.Func, store: wasmtime.Store) -> Callable[[int], Any]:
    def call(k: int) -> Any:
        result = func(store, k)
        func.post_return(store)
        return result
    return call


def _forward(fref: ctypes.c_void_p, fctx: ctypes.c_void_p) -> Any:
    @ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
    def forward(_d: Any, _c: Any, _t: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
        if _func_call(fref, fctx, args, SIZES[nargs], results, SIZES[nresults]):
            return new_error("raw call failed")
        return 0
    return forward


def raw_passthrough(engine: wasmtime.Engine, wat: Path, padd: wc.Func, pstore: wasmtime.Store) -> Any:
    """`twice.sum-to` whose `add` import is a bare C callback handing the arrays to calc's `add`:
    what any proxy costs at least (no lock, no frame, no budget, no error handling). It makes the
    call the cheapest way harness knows, the untyped one."""
    forward = _forward(*_pointers(padd, pstore))
    linker = wc.Linker(engine)
    with linker.root() as root, root.add_instance("test:calc/lib@1.0.0") as li:
        for name in ("add", "boom", "spin"):
            _define(li, name, forward)
    store = wasmtime.Store(engine)
    inst = linker.instantiate(store, wc.Component(engine, wasmtime.wat2wasm((wat / "twice.wat").read_text())))
    func = stock_func(store, inst, "test:twice/lib@1.0.0", "sum-to")

    def call(s: wasmtime.Store, k: int) -> Any:
        return func(s, k)

    call.store = store  # type: ignore[attr-defined]
    return call


def raw_chain(engine: wasmtime.Engine, depth: int) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    """A chain of `depth` extensions (harness.testing's `chain_wat`), each import a bare pass-through
    callback into the next one's Store: (call the first, call the last)."""
    callers: list[Callable[[int], Any]] = []
    nxt: tuple[wc.Func, wasmtime.Store] | None = None
    for k in reversed(range(depth)):
        linker = wc.Linker(engine)
        if nxt is not None:
            with linker.root() as root, root.add_instance(f"test:chain{k + 1}/lib@1.0.0") as li:
                _define(li, "down", _forward(*_pointers(*nxt)))
        store = wasmtime.Store(engine)
        inst = linker.instantiate(store, wc.Component(engine, wasmtime.wat2wasm(chain_wat(k, k == depth - 1))))
        func = stock_func(store, inst, f"test:chain{k}/lib@1.0.0", "down")
        nxt = (func, store)
        callers.append(_caller(func, store))
    return callers[-1], callers[0]


def raw_resource_link(engine: wasmtime.Engine, wat: Path) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    """counter_user linked to counter through bare callbacks that make only the C calls a resource
    link needs (the consumer's handle read as a host rep, the provider's resource found in a dict,
    a fresh host handle for a constructed resource, the provider's drop): (inc-loop, churn)."""
    lib = "test:res/counter@1.0.0"
    pstore = wasmtime.Store(engine)
    pinst = wc.Linker(engine).instantiate(pstore, wc.Component(engine, wasmtime.wat2wasm((wat / "counter.wat")
                                                                                        .read_text())))
    fctor, pctx = _pointers(stock_func(pstore, pinst, lib, "[constructor]counter"), pstore)
    finc, _ = _pointers(stock_func(pstore, pinst, lib, "[method]counter.inc"), pstore)
    kind = 0x7E57
    table: dict[int, Any] = {}
    reps = iter(range(1, 2**32))
    out = (_VAL * 1)()
    hp = ctypes.c_void_p()
    hp_ref = ctypes.byref(hp)
    arr = (_VAL * 1)()

    @ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
    def ctor(_d: Any, cptr: Any, _t: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
        if _func_call(fctor, pctx, args, SIZES[nargs], out, SIZES[1]):
            return new_error("ctor failed")
        ptr = ctypes.cast(out[0].of.resource, _ANY)
        out[0].of.resource = None
        rep = next(reps)
        table[rep] = ptr
        host = h._host_new(1, rep, kind)
        anyp = _ANY()
        h._host_to_any(cptr, host, ctypes.byref(anyp))
        h._host_delete(host)
        results[0].kind = h._RESOURCE
        results[0].of.resource = anyp
        return 0

    @ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
    def inc(_d: Any, cptr: Any, _t: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
        ctypes.memmove(arr, args, h._VAL_SIZE * nargs)
        h._to_host(cptr, args[0].of.resource, hp_ref)
        rep = h._host_rep(hp)
        h._host_type(hp)
        h._host_delete(hp)
        arr[0].of.resource = table[rep]
        if _func_call(finc, pctx, arr, SIZES[nargs], results, SIZES[nresults]):
            return new_error("inc failed")
        return 0

    @ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
    def unused(_d: Any, _c: Any, _t: Any, _a: Any, _n: int, _r: Any, _m: int) -> int:
        return new_error("not part of the benchmark")

    @ffi.wasmtime_component_resource_destructor_t  # type: ignore[untyped-decorator]
    def dtor(_d: Any, _c: Any, rep: int) -> int:
        ptr = table.pop(rep)
        h._any_drop(pctx, ptr)
        h._any_delete(ptr)
        return 0

    _KEEP.append(dtor)
    linker = wc.Linker(engine)
    with linker.root() as root, root.add_instance(lib) as li:
        rtype = wc.ResourceType.host(kind)
        raw = b"counter"
        buf = ctypes.create_string_buffer(raw)
        assert not ffi.wasmtime_component_linker_instance_add_resource(li.ptr(), buf, len(raw), rtype.ptr(), dtor,
                                                                       None, _finalize)
        for name, cb in (("[constructor]counter", ctor), ("[method]counter.inc", inc), ("make", unused),
                         ("bump-twice", unused), ("take", unused), ("maybe", unused)):
            _define(li, name, cb)
    cstore = wasmtime.Store(engine)
    cinst = linker.instantiate(cstore, wc.Component(engine, wasmtime.wat2wasm((wat / "counter_user.wat")
                                                                            .read_text())))
    user = "test:res/user@1.0.0"
    inc_loop = _caller(stock_func(cstore, cinst, user, "inc-loop"), cstore)
    churn = _caller(stock_func(cstore, cinst, user, "churn"), cstore)
    assert inc_loop(10) == 10 and churn(10) == 0 and not table
    return inc_loop, churn
