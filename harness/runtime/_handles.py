"""Resources across a dynamic link: a handle table per consumer ↔ provider pair.

A resource handle means something only in the Store that made it, and each extension has a
Store of its own. So the consumer's linker defines each imported resource as a *host*
resource type (`ResourceType.host(kind)`), and the host keeps, per pair, a table from the
consumer-side host rep to the provider's `ResourceAny`:

* a provider result `own<r>` is stored under a fresh rep and reaches the consumer as
  `ResourceHost.own(rep, kind)`;
* a consumer argument is mapped back through the table: `borrow<r>` lends the provider its
  own resource for the call, `own<r>` moves it (the entry leaves the table);
* the consumer dropping its handle runs the host destructor, which drops the provider's
  resource (the provider's destructor runs), with the provider taken through the `Gate`;
* an entry remembers the provider's generation: after a restart it is stale, and using it is
  `stale-handle` (its resource died with the old Store, which must never be touched again:
  a `ResourceAny` used with another Store aborts the process).

Handles may sit anywhere in a value (records, lists, options, results, variants): `mapper`
builds, once per type, a function that rewrites only the handles in a wasmtime-py value.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wasmtime import _bindings as _raw
from wasmtime import _ffi as ffi
from wasmtime.component import ResourceAny, ResourceHost, ResourceType, Variant

from ..model._errors import BadArgumentsError, CallError, StaleHandleError
from ..model._witypes import (
    FuncT,
    HandleT,
    ListT,
    OptionT,
    RecordT,
    ResultT,
    TupleT,
    ValueType,
    VariantT,
    cases_of,
    has_handle,
    render,
)
from ._asynchost import AWAITING, refuse_awaited
from ._calls import SIZES, BoundFunc, CallContext, _func_call, current_context, error_text, lean, new_error
from ._fastpath import free_vals
from ._gate import StoreGone
from ._proxy import PROXIES, Proxy, provider_failed, proxy_callback
from ._threads import deliver_interrupt
from ._values import _exact as exact_classes
from ._values import is_tagged

if TYPE_CHECKING:
    from ._extension import ExtensionRuntime
    from ._gate import Gate

__all__ = ["Handle", "HandleTable", "ResourceDrop", "ResourceProxy", "api_args", "api_result", "callback_of",
           "give_away", "has_handle", "mapper", "resource_drop_callback", "resource_flat_callback",
           "resource_proxy_callback"]

_VAL = ffi.wasmtime_component_val_t
# the C functions themselves, without wasmtime-py's wrappers: the flat proxy's hot path
_HOST_PTR = ctypes.POINTER(ffi.wasmtime_component_resource_host_t)
_ANY_PTR = ctypes.POINTER(ffi.wasmtime_component_resource_any_t)
_byref = ctypes.byref
_any_clone = _raw._wasmtime_component_resource_any_clone
_any_delete = _raw._wasmtime_component_resource_any_delete
# untyped (`_calls.lean`): the flat proxy's and the destructor's calls, about 0.3 µs each less
_to_host = lean(_raw._wasmtime_component_resource_any_to_host)
_host_rep = lean(_raw._wasmtime_component_resource_host_rep, ctypes.c_uint32)
_host_type = lean(_raw._wasmtime_component_resource_host_type, ctypes.c_uint32)
_host_delete = lean(_raw._wasmtime_component_resource_host_delete, None)
# (bool, u32, u32): Python ints go untyped as C ints, whose 32 bits are the u32's
_host_new = lean(_raw._wasmtime_component_resource_host_new, _HOST_PTR)
_host_to_any = lean(_raw._wasmtime_component_resource_host_to_any)
_any_drop = lean(_raw._wasmtime_component_resource_any_drop)
_RESOURCE = ffi.WASMTIME_COMPONENT_RESOURCE.value
_VAL_SIZE = ctypes.sizeof(_VAL)
_UNION_AT = _VAL.of.offset
_ONE = SIZES[1]
_kinds = itertools.count(0x6568_0000)  # host resource type ids: unique per table and resource
_Mapper = Callable[[Any], Any]


def mapper(t: ValueType | None, f: Callable[[HandleT, Any], Any]) -> _Mapper | None:
    """A function rewriting each handle in a wasmtime-py value of `t` with `f(handle type, value)`;
    None when `t` holds no handle (the value passes as it is)."""
    if t is None or not has_handle(t):
        return None
    if isinstance(t, HandleT):
        h = t
        return lambda v: f(h, v)
    if isinstance(t, ListT):
        m = mapper(t.element, f)
        assert m is not None
        return lambda v: [m(e) for e in v]
    if isinstance(t, TupleT):
        ms = [mapper(e, f) for e in t.elements]
        return lambda v: tuple(x if m is None else m(x) for m, x in zip(ms, v, strict=True))
    if isinstance(t, RecordT):
        fields = [(n, m) for n, ft in t.fields if (m := mapper(ft, f)) is not None]

        def rec(v: Any) -> Any:
            for n, m in fields:
                setattr(v, n, m(getattr(v, n)))
            return v
        return rec
    if isinstance(t, (OptionT, ResultT, VariantT)):
        cases = {n: mapper(p, f) for n, p in cases_of(t)}
        # untagged, a value's class tells its case (the classes of the cases are disjoint), also when a
        # handle sits deeper in it: option<result<own<r>, bool>> is None, a resource or a bool
        direct = [(tuple(exact_classes(p)), m) for n, p in cases_of(t) if (m := cases[n]) is not None]
        tagged = is_tagged(t)  # else a Variant is a case's payload (option<result<own<r>, own<r>>>)

        def case(v: Any) -> Any:
            if tagged and isinstance(v, Variant):
                m = cases.get(v.tag)
                return v if m is None else Variant(v.tag, m(v.payload))
            if v is None:
                return v
            for classes, m in direct:
                if isinstance(v, classes):
                    return m(v)
            return v
        return case
    return None


class _Ctx:
    """A Storelike for wasmtime-py calls made inside a host callback: its raw context."""

    __slots__ = ("_ptr",)

    def __init__(self, ptr: Any) -> None:
        self._ptr = ptr

    def _context(self) -> Any:
        return self._ptr


class HandleTable:
    """Handles one consumer holds of one provider's resources: host rep → provider resource."""

    def __init__(self, consumer: str, provider: ExtensionRuntime) -> None:
        self.consumer = consumer
        self.provider = provider
        self.kinds: dict[tuple[str, str], int] = {}  # (interface, resource) → host type id
        # host rep → (provider generation, its resource, (interface, resource name), the resource's address)
        self.entries: dict[int, tuple[int, ResourceAny, tuple[str, str], int]] = {}
        self._reps = itertools.count(1)
        self._lock = threading.Lock()
        self.consumer_rt: ExtensionRuntime | None = None  # set once linked
        self.consumer_gen = 0  # the consumer's instance the entries belong to
        self.drop_key: str | None = None  # the provider function `drop` enters it under

    def sweep_if_restarted(self) -> None:
        """The consumer restarted (its Store, and the handles in it, are gone): drop what it held.
        Called with the provider taken (inside a proxy hop), so its destructors may run."""
        crt = self.consumer_rt
        if crt is None or crt.generation == self.consumer_gen:
            return
        self.consumer_gen = crt.generation
        with self._lock:
            old = list(self.entries.values())
            self.entries.clear()
        rt = self.provider
        for gen, res, *_ in old:
            if gen == rt.generation and rt.store is not None:
                res.drop(rt.store)

    def kind(self, interface: str, resource: str) -> int:
        key = (interface, resource)
        k = self.kinds.get(key)
        if k is None:
            k = self.kinds[key] = next(_kinds)
        return k

    def resource_type(self, interface: str, resource: str) -> ResourceType:
        return ResourceType.host(self.kind(interface, resource))

    def put(self, t: HandleT, provided: ResourceAny) -> ResourceHost:
        """The provider handed out `provided` (an own): a fresh consumer-side handle for it."""
        return ResourceHost.own(*self.put_rep(t, provided))

    def put_rep(self, t: HandleT, provided: ResourceAny, address: int | None = None,
                kind: int = 0) -> tuple[int, int]:
        """`put`, as the (rep, host type id) of the new handle (no wasmtime-py object made).
        An entry keeps the address of `provided`'s pointer too: what a borrow hands the provider.
        `address` and `kind` (the host type id of `t`) may be given when known."""
        if address is None:
            address = ctypes.cast(provided.ptr(), ctypes.c_void_p).value or 0
        with self._lock:
            rep = next(self._reps) & 0xFFFF_FFFF
            while rep == 0 or rep in self.entries:  # after 2**32 handles the numbers come round again
                rep = next(self._reps) & 0xFFFF_FFFF
            self.entries[rep] = (self.provider.generation, provided, (t.interface, t.resource), address)
        return rep, kind or self.kind(t.interface, t.resource)

    def take(self, t: HandleT, held: Any, store: Any, function: str) -> ResourceAny:
        """The provider's resource behind the consumer's `held`; an own leaves the table."""
        host = held.to_host(store) if isinstance(held, ResourceAny) else held
        if not isinstance(host, ResourceHost):
            raise self._foreign(t, function)
        return self.take_rep(t, host.rep, host.type, function)

    def _foreign(self, t: HandleT, function: str) -> BadArgumentsError:
        return BadArgumentsError(
            f"{self.consumer}: {function}: a handle of another resource type or provider was given where "
            f"{render(t)} of {self.provider.name} is expected", extension=self.provider.name, function=function)

    def take_rep(self, t: HandleT, rep: int, kind: int, function: str) -> ResourceAny:
        """`take` for a handle already read as (rep, host type id)."""
        if kind != self.kinds.get((t.interface, t.resource)):
            raise self._foreign(t, function)
        if t.kind == "own":
            with self._lock:
                entry = self.entries.pop(rep, None)
        else:
            entry = self.entries.get(rep)  # a read: atomic under the GIL
        if entry is None or entry[0] != self.provider.generation:
            if entry is not None:
                with self._lock:
                    self.entries.pop(rep, None)
            raise StaleHandleError(
                f"{self.consumer}: {function}: the {t.resource} handle is stale: "
                + ("it was dropped or moved" if entry is None else
                   f"{self.provider.name} restarted since it was made, which lost its resources"),
                extension=self.provider.name, function=function,
                details={"resource": t.resource, "interface": t.interface})
        return entry[1]

    def drop(self, gate: Gate, rep: int) -> None:
        """The consumer dropped its handle: drop the provider's resource (its destructor runs)."""
        with self._lock:
            entry = self.entries.pop(rep, None)
        rt = self.provider
        if entry is None or entry[0] != rt.generation or rt.store is None:
            return  # moved, or its Store is gone: nothing to drop (never touch an old Store)
        key = self.drop_key
        if key is None:  # any export: `enter` hands out a live function of the provider
            key = self.drop_key = next(iter(rt.function_keys()), "")
        ctx = current_context()
        room, levels = ctx.room, ctx.levels
        label = f"{entry[2][0]}#[dtor]{entry[2][1]}"
        try:
            bound = gate.enter(rt, ctx, key, frame=label, restart=False)
        except StoreGone:  # it faulted meanwhile: the resource died with its Store
            return
        except BaseException:  # not dropped (re-entry refused, a deadlock, the host closing): still held
            with self._lock:
                self.entries.setdefault(rep, entry)
            raise
        try:
            if entry[0] == rt.generation and rt.store is not None:
                _drop_in(gate, rt, ctx, bound, entry[1], label)
        finally:
            gate.leave(rt, ctx, room, levels)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()


def _drop_in(gate: Gate, rt: ExtensionRuntime, ctx: CallContext, bound: BoundFunc, res: ResourceAny,
             label: str) -> None:
    """Drop `res` in `rt`'s Store, entered as `bound` (its destructor runs) and free its pointer now
    rather than in the wrapper's finalizer. A destructor that traps is the call's failure, read as
    any failed call is (`Gate.call_failed`: `rt` is marked faulted and restarts)."""
    ptr = res._consume()
    err = _any_drop(bound._ctx, ptr)
    _any_delete(ptr)
    if err:
        raise gate.call_failed(rt, label, ctx, err)


class ResourceProxy(Proxy):
    """A proxy for a function whose signature holds handles: slower than `Proxy` (values are
    built in Python to translate the handles), used only for such functions."""

    __slots__ = ("arr_type", "flat", "lend_arr", "lend_views", "out", "out_view", "own_kind", "own_result", "scratch",
                 "sig", "slots", "table")

    def __init__(self, gate: Gate, consumer: str, provider: ExtensionRuntime, key: str, sig: FuncT,
                 table: HandleTable) -> None:
        super().__init__(gate, consumer, provider, key)
        self.sig = sig
        self.table = table
        # Handles only at the top level (the usual case: methods, constructors, `make`): the
        # caller's C array is copied as it is and only the handle slots are rewritten in C.
        flat_params = all(isinstance(t, HandleT) or not has_handle(t) for _, t in sig.params)
        # (index, type, host type id, own?) of each handle parameter
        self.slots = [(i, t, table.kind(t.interface, t.resource), t.kind == "own")
                      for i, (_, t) in enumerate(sig.params) if isinstance(t, HandleT)]
        r = sig.result
        self.own_result = r if isinstance(r, HandleT) else None
        self.own_kind = table.kind(r.interface, r.resource) if isinstance(r, HandleT) else 0
        self.flat = flat_params and (r is None or isinstance(r, HandleT) or not has_handle(r))
        self.arr_type = _VAL * max(len(sig.params), 1)
        hp = ctypes.c_void_p()  # a `resource_host_t*` the flat path reads a handle into
        self.scratch = (hp, _byref(hp))
        self.out = (_VAL * 1)()  # an own result, read as soon as the call returns (as `BoundFunc.result_slot`)
        self.lend_arr = self.arr_type() if self.slots and not any(owned for *_, owned in self.slots) else None
        # the handle field of each borrow slot of `lend_arr`, as a `c_void_p` over its bytes: read it,
        # it is the consumer's handle; set it, the provider's (no ctypes objects built per call)
        self.lend_views = [ctypes.c_void_p.from_buffer(self.lend_arr, i * _VAL_SIZE + _UNION_AT)
                           for i, *_ in self.slots] if self.lend_arr is not None else []
        self.out_view = ctypes.c_void_p.from_buffer(self.out, _UNION_AT)  # `out`'s resource pointer

    def forward_ctx(self, store_ptr: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
        gate = self.gate
        ctx = current_context()
        rt = self.provider
        room, levels = ctx.room, ctx.levels
        cstore = _Ctx(store_ptr)
        table = self.table
        key = self.key
        try:
            bound = gate.enter(rt, ctx, key)
        except BaseException as e:  # never into C
            return self._failed(rt, ctx, e)
        if table.consumer_gen != getattr(table.consumer_rt, "generation", 0):
            try:
                table.sweep_if_restarted()
            except BaseException as e:  # a destructor that traps: this call's failure
                gate.leave(rt, ctx, room, levels)
                return self._failed(rt, ctx, e)
        arr = None
        try:
            pstore = bound.store
            # the caller's values, its handles swapped for the provider's resources
            values = [ty.convert_from_c(args[i]) for i, ty in enumerate(bound.param_types)]
            taken: list[ResourceAny] = []

            def take(t: HandleT, v: Any) -> Any:
                res = table.take(t, v, cstore, key)
                if t.kind == "own":
                    taken.append(res)
                return res
            try:
                for i, (_, pt) in enumerate(self.sig.params):
                    m = mapper(pt, take)
                    if m is not None:
                        values[i] = m(values[i])
            except CallError:  # a handle refused: the call never runs, with the owns already taken
                _drop_unsent(pstore, [res.ptr() for res in taken])
                raise
            arr = (_VAL * len(values))()
            for i, ty in enumerate(bound.param_types):
                ty.convert_to_c(pstore, values[i], ctypes.pointer(arr[i]))
            out = (_VAL * max(nresults, 1))()
            err = bound.raw_call(arr, len(values), out, nresults)
            if err:
                return provider_failed(rt, key, ctx, err)
            if nresults and bound.result_type is not None:
                value = bound.result_type.convert_from_c(out[0])
                free_vals(out, 1)
                m = mapper(self.sig.result, lambda t, v: table.put(t, v) if t.kind == "own" else v)
                if m is not None:
                    value = m(value)
                bound.result_type.convert_to_c(cstore, value, results)
            return 0
        except BaseException as e:  # never into C
            return self._failed(rt, ctx, e)
        finally:
            if arr is not None:
                free_vals(arr, len(arr))
            gate.leave(rt, ctx, room, levels)


def _drop_unsent(provider_store: Any, resources: list[Any]) -> None:
    """Owns a consumer gave for a call that was refused before the provider ran (a later handle was
    stale or foreign): nobody holds them any more, so they are dropped in the provider (its destructors
    run) instead of staying alive and unreachable in its Store. Called with the provider taken."""
    for ptr in resources:  # each through a copy of the pointer: the caller deletes its own
        with contextlib.suppress(Exception):  # a destructor that traps: the call fails anyway, with the refusal
            ResourceAny._from_ptr(_any_clone(ptr)).drop(provider_store)


class ResourceDrop(Proxy):
    """The destructor of a proxied resource type in a consumer's linker: the consumer dropped its
    handle, so the provider's resource is dropped (`HandleTable.drop`). Registered raw, as proxies
    are, so a drop costs no wasmtime-py glue."""

    __slots__ = ("table",)

    def __init__(self, gate: Gate, consumer: str, provider: ExtensionRuntime, label: str,
                 table: HandleTable) -> None:
        super().__init__(gate, consumer, provider, label)
        self.table = table


@ffi.wasmtime_component_resource_destructor_t  # type: ignore[untyped-decorator]
def resource_drop_callback(data: Any, _context: Any, rep: int) -> int:
    """The C destructor of every proxied resource type; never raises into C."""
    try:
        drop = PROXIES[data or 0]
        assert isinstance(drop, ResourceDrop)
    except BaseException as e:  # pragma: no cover - a destructor outliving its host
        return new_error(f"ext-harness: resource drop failed: {e!r}")
    try:
        drop.table.drop(drop.gate, rep)
        return 0
    except BaseException as e:  # never into C
        return drop._failed(drop.provider, current_context(), e)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def resource_flat_callback(data: Any, cptr: Any, _ty: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
    """The C callback of a proxy whose handles are all at the top level of its signature (methods,
    constructors, `make`): the caller's C array is copied and only the handle slots are rewritten;
    never raises into C. One function, as `proxy_callback` is: a chain keeps one frame per hop."""
    try:
        self: ResourceProxy = PROXIES[data or 0]  # type: ignore[assignment]
        gate = self.gate
        ctx = current_context()
        rt = self.provider
        room, levels = ctx.room, ctx.levels
        table = self.table
        key = self.key
    except BaseException as e:  # pragma: no cover - a proxy outliving its host
        return new_error(f"ext-harness: proxy failed: {e!r}")
    try:
        bound = gate.enter(rt, ctx, key)
    except BaseException as e:  # never into C
        return self._failed(rt, ctx, e)
    if table.consumer_gen != getattr(table.consumer_rt, "generation", 0):
        try:
            table.sweep_if_restarted()
        except BaseException as e:  # a destructor that traps: this call's failure
            gate.leave(rt, ctx, room, levels)
            return self._failed(rt, ctx, e)
    done: list[int] | None = None  # slots whose own was moved into `arr` (made where handles are taken)
    arr = args  # no handle among the arguments (a constructor): the caller's array as it is
    try:
        slots = self.slots
        if self.lend_arr is not None:
            # Borrows only: one array per proxy will do, as for `BoundFunc.result_slot` (wasmtime
            # reads the arguments before any guest code runs, and nothing is read back after).
            lent: list[ResourceAny] = []
            arr = self.lend_arr
            ctypes.memmove(arr, args, _VAL_SIZE * nargs)  # the caller keeps what its values own
            hp, hp_ref = self.scratch  # the provider is held: no other thread uses them meanwhile
            entries = table.entries
            gen = rt.generation
            for (_, t, kind, _), view in zip(slots, self.lend_views, strict=True):
                err = _to_host(cptr, view, hp_ref)
                if err:  # not a host resource: not one of ours
                    error_text(err)  # (frees it)
                    raise table._foreign(t, key)
                rep = _host_rep(hp)
                found = _host_type(hp)
                _host_delete(hp)
                entry = entries.get(rep)  # a read: atomic under the GIL
                if entry is None or entry[0] != gen or found != kind:
                    table.take_rep(t, rep, found, key)  # raises: foreign or stale
                    raise table._foreign(t, key)  # (not reached)
                view.value = entry[3]  # lend the table's own resource
                lent.append(entry[1])  # (kept alive until the call returns)
        elif slots:
            done, lent = [], []
            arr = self.arr_type()
            ctypes.memmove(arr, args, _VAL_SIZE * nargs)  # the caller keeps what its values own
            hp, hp_ref = self.scratch
            entries = table.entries
            gen = rt.generation
            for i, t, kind, owned in slots:
                err = _to_host(cptr, args[i].of.resource, hp_ref)
                if err:  # not a host resource: not one of ours
                    error_text(err)  # (frees it)
                    raise table._foreign(t, key)
                rep = _host_rep(hp)
                found = _host_type(hp)
                _host_delete(hp)
                if owned:
                    res = table.take_rep(t, rep, found, key)
                    arr[i].of.resource = res._consume()
                    done.append(i)
                else:  # the call reads its arguments, never takes them: lend the table's own pointer
                    entry = entries.get(rep)  # a read: atomic under the GIL
                    res = entry[1] if entry is not None and entry[0] == gen and found == kind else \
                        table.take_rep(t, rep, found, key)  # (raises: foreign or stale)
                    arr[i].of.resource = res.ptr()
                    lent.append(res)  # (kept alive until the call returns)
        own = self.own_result
        if own is None:
            err = _func_call(bound._fref, bound._ctx, arr, SIZES[nargs], results, SIZES[nresults])
        else:
            out = self.out  # read before any other call of this proxy can write it
            err = _func_call(bound._fref, bound._ctx, arr, SIZES[nargs], out, _ONE)
        if err:
            return provider_failed(rt, key, ctx, err)
        if own is not None:
            view = self.out_view  # take the pointer out of `out`, then NULL
            address = view.value or 0
            view.value = None
            provided = ResourceAny._from_ptr(ctypes.cast(address, _ANY_PTR))
            rep, kind = table.put_rep(own, provided, address, self.own_kind)
            hp = _host_new(1, rep, kind)
            anyp = _ANY_PTR()
            try:
                err = _host_to_any(cptr, hp, _byref(anyp))
            finally:
                _host_delete(hp)
            if err:
                raise RuntimeError(error_text(err))
            res0 = results[0]
            res0.kind = _RESOURCE
            res0.of.resource = anyp
        return 0
    except BaseException as e:  # never into C
        if done and isinstance(e, CallError):  # a handle refused: the call never ran, with the owns taken
            _drop_unsent(bound.store, [arr[i].of.resource for i in done])
        return self._failed(rt, ctx, e)
    finally:
        if done:
            for i in done:
                _any_delete(arr[i].of.resource)
        gate.leave(rt, ctx, room, levels)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def resource_proxy_callback(data: Any, context: Any, _ty: Any, args: Any, nargs: int, results: Any,
                            nresults: int) -> int:
    try:
        proxy = PROXIES[data or 0]
        assert isinstance(proxy, ResourceProxy)
        return proxy.forward_ctx(context, args, nargs, results, nresults)
    except BaseException as e:  # pragma: no cover - forward_ctx() already catches
        return new_error(f"ext-harness: proxy failed: {e!r}")


def callback_of(proxy: Proxy) -> Any:
    """The C callback `proxy` is registered with: the cheaper the path, the fewer values it builds."""
    if isinstance(proxy, ResourceProxy):
        return resource_flat_callback if proxy.flat else resource_proxy_callback
    return proxy_callback


# --------------------------------------------------------------------------- the Python API's handles

class Handle:
    """A resource an extension handed to Python (`host.call` returned `own<r>`).

    Pass it back as an argument (`borrow<r>` lends it, `own<r>` gives it away), and `drop()` it
    when done (or use it as a context manager): the extension's destructor runs then. A handle
    of a restarted extension is stale; using it is `stale-handle`, never a touch of the old Store.
    """

    __slots__ = ("_gate", "_gen", "_res", "_rt", "type")

    def __init__(self, gate: Gate, rt: ExtensionRuntime, t: HandleT, res: ResourceAny) -> None:
        self._gate = gate
        self._rt = rt
        self._gen = rt.generation
        self._res: ResourceAny | None = res
        self.type = t

    @property
    def extension(self) -> str:
        return self._rt.name

    @property
    def live(self) -> bool:
        """Not dropped or given away, and its extension has not restarted since."""
        return self._res is not None and self._gen == self._rt.generation and self._rt.store is not None

    def drop(self) -> None:
        """Drop the resource now (its destructor runs); again, or after a restart, does nothing.
        If it cannot be dropped now (its extension is busy past the time limit, Ctrl-C, re-entry
        refused), the error is raised and the handle stays live: drop it again later."""
        res = self._res
        rt = self._rt
        if res is None:
            return
        if self._gen != rt.generation or rt.store is None:
            self._res = None  # its Store is gone, and the resource with it (never touch an old Store)
            return
        # A destructor is guest code: it runs as a call does, through the gate and under the
        # extension's time limit, so a looping one is stopped and Ctrl-C and close() reach it.
        gate = self._gate
        ctx = current_context()
        outer = not ctx.frames
        label = f"{self.type.interface}#[dtor]{self.type.resource}"
        if outer:
            awaited = AWAITING.get()
            if awaited is not None and awaited.active:  # from an async host function's coroutine
                refuse_awaited(awaited, rt.name, label)
        room, levels = ctx.room, ctx.levels
        try:
            if outer:
                limit = rt.timeout_s
                ctx.deadline = time.monotonic() + limit if limit else None
                ctx.pending = None
            try:
                bound = gate.enter(rt, ctx, next(iter(rt.function_keys()), label), frame=label, restart=False)
            except StoreGone:  # it faulted while this waited: the resource died with its Store
                self._res = None
                return
            try:
                if self._res is res:  # (not dropped by another thread meanwhile)
                    self._res = None
                    if self._gen == rt.generation:
                        _drop_in(gate, rt, ctx, bound, res, label)
            finally:
                if outer:
                    ctx.deadline = None
                gate.leave(rt, ctx, room, levels)
        finally:
            if outer:
                ctx.deadline = None
                if ctx.interrupt is not None:  # Ctrl-C while the destructor ran
                    deliver_interrupt(ctx)

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.drop()

    def __repr__(self) -> str:
        state = "live" if self.live else "dropped" if self._res is None else "stale"
        return f"<handle {self.type.resource} of {self._rt.name} ({state})>"

    def _take(self, t: HandleT, rt: ExtensionRuntime, function: str, given: list[Handle]) -> ResourceAny:
        """The resource to lower for `t`. An own is lowered from a copy of the pointer (lowering
        consumes it) and only noted in `given`: it is gone once the call has run (`give_away`), not
        when a later argument or the arity is refused before it."""
        if rt is not self._rt or (t.interface, t.resource) != (self.type.interface, self.type.resource):
            raise BadArgumentsError(
                f"{rt.name}: {function}: a handle to {self.type.resource} of {self._rt.name} was given where "
                f"{render(t)} of {rt.name} is expected", extension=rt.name, function=function)
        res = self._res
        if res is None or self._gen != rt.generation:
            raise StaleHandleError(
                f"{rt.name}: {function}: the {self.type.resource} handle is stale: "
                + ("it was dropped or given away" if res is None else
                   f"{rt.name} restarted since it was made, which lost its resources"),
                extension=rt.name, function=function,
                details={"resource": self.type.resource, "interface": self.type.interface})
        if t.kind == "own":
            if self in given:  # the same own twice in one call: the second is already given away
                raise StaleHandleError(
                    f"{rt.name}: {function}: the {self.type.resource} handle is stale: it was given away "
                    "earlier in the same call", extension=rt.name, function=function,
                    details={"resource": self.type.resource, "interface": self.type.interface})
            given.append(self)
            return ResourceAny._from_ptr(_any_clone(res.ptr()))
        return res


def _walk(t: ValueType | None, v: Any, f: Callable[[HandleT, Any], Any]) -> Any:
    """`v` (a value in the mapping of docs/values.md) with each handle replaced by `f(type, handle)`."""
    if t is None or (v is None and not isinstance(t, HandleT)) or not has_handle(t):
        return v
    if isinstance(t, HandleT):
        return f(t, v)
    if isinstance(t, ListT) and isinstance(v, list):
        return [_walk(t.element, e, f) for e in v]
    if isinstance(t, TupleT) and isinstance(v, (tuple, list)):
        return tuple(_walk(et, e, f) for et, e in zip(t.elements, v, strict=False))
    if isinstance(t, RecordT) and isinstance(v, dict):
        types = dict(t.fields)
        return {k: _walk(types.get(k), x, f) for k, x in v.items()}
    if isinstance(t, OptionT):
        if isinstance(t.payload, OptionT) and isinstance(v, dict) and v.keys() == {"some"}:
            return {"some": _walk(t.payload, v["some"], f)}  # the mapping's some(x) of a nested option
        return _walk(t.payload, v, f)
    if isinstance(t, ResultT) and isinstance(v, dict) and len(v) == 1:
        [(k, x)] = v.items()
        return {k: _walk(t.ok if k == "ok" else t.err if k == "err" else None, x, f)}
    if isinstance(t, VariantT) and isinstance(v, dict) and "tag" in v:
        payload = dict(t.cases).get(v["tag"])
        return {**v, "value": _walk(payload, v.get("value"), f)} if "value" in v else v
    return v


def api_args(rt: ExtensionRuntime, key: str, sig: FuncT,
             args: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[Handle]]:
    """Python arguments with each `Handle` swapped for its resource (checked: extension, type, liveness),
    and the handles passed as `own`: `give_away` them once the call has run."""
    given: list[Handle] = []

    def one(t: HandleT, v: Any) -> Any:
        if isinstance(v, Handle):
            return v._take(t, rt, key, given)
        raise BadArgumentsError(
            f"{rt.name}: {key}: expected a handle ({render(t)}) that an earlier call returned, got "
            f"{type(v).__name__}", extension=rt.name, function=key)
    out = tuple(_walk(pt, a, one) for (_, pt), a in zip(sig.params, args, strict=False)) + args[len(sig.params):]
    return out, given


def give_away(given: list[Handle]) -> None:
    """The call ran (even if it then trapped): the extension owns what was passed as `own`."""
    for h in given:
        h._res = None


def api_result(gate: Gate, rt: ExtensionRuntime, sig: FuncT, value: Any) -> Any:
    """A result with each resource wrapped in a `Handle` of `rt`."""
    return _walk(sig.result, value, lambda t, v: Handle(gate, rt, t, v) if isinstance(v, ResourceAny) else v)
