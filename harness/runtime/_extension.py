"""One loaded extension: its Store, instance, function registry, lock and fault state.

Each extension lives in a Store of its own because a trap poisons a whole Store:
one faulting extension must not take the others down. A poisoned Store is
thrown away and the extension is instantiated again on its next call.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ..model._errors import CallError
from ..model._hostconfig import RuntimeLimits
from ..model._records import Analysed
from ..model._witypes import FuncT, InstanceT, has_handle
from ._calls import BoundFunc, CallContext, new_error
from ._workers import Lane

__all__ = ["ExtensionRuntime", "Owner", "RuntimeLimits"]


class Owner(Protocol):
    """What a runtime needs from the host it belongs to (the host's `Gate` provides it)."""

    engine: wasmtime.Engine
    engine_config: Any
    closed: bool

    def record(self, kind: str, extension: str, message: str) -> None: ...

_EPOCH_CB = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.POINTER(ffi.wasmtime_context_t), ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_FINALIZE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_RUNTIMES: dict[int, ExtensionRuntime] = {}
_ids = itertools.count(1)
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE


@_EPOCH_CB  # type: ignore[untyped-decorator]
def _on_epoch(_ctx: Any, data: Any, delta: Any, kind: Any) -> int:
    """Called each tick while a Store runs past its deadline: stop it or let it go on."""
    try:
        rt = _RUNTIMES.get(data or 0)
        reason = rt.interrupt_reason() if rt is not None else None
        if reason is not None:
            return new_error(f"ext-harness: {reason}")
        delta[0] = 1
        kind[0] = _CONTINUE
        return 0
    except BaseException:  # never let an exception into C
        delta[0] = 1
        kind[0] = _CONTINUE
        return 0


@_FINALIZE  # type: ignore[untyped-decorator]
def _no_finalize(_data: Any) -> None:
    return None


class ExtensionRuntime:
    """The live state of one extension inside a `Host`."""

    def __init__(self, owner: Owner, analysed: Analysed, linker: wc.Linker, limits: RuntimeLimits,
                 wasi_factory: Callable[[], wasmtime.WasiConfig] | None) -> None:
        self._owner = owner
        self.analysed = analysed
        self.name = analysed.name
        self.linker = linker
        self.limits = limits
        self._wasi_factory = wasi_factory
        self.id = next(_ids)
        self.lock = threading.RLock()
        self.owner: int | None = None  # thread id holding `lock`
        self.depth = 0  # re-entries by the owner
        self.active: CallContext | None = None
        self.store: wasmtime.Store | None = None
        self.funcs: dict[str, BoundFunc] = {}
        self.aliases: dict[str, str] = {}
        self.faulted: str | None = None
        self.restarts = 0
        self.generation = 0
        # while instantiating (core start functions) and re-running init on a restart: when
        # the extension's own time limit runs out (a stop then is reported as its fault)
        self.start_deadline: float | None = None
        self.nested_fault: CallError | None = None  # a re-entrant call that poisoned the running Store
        self._executor: Lane | None = None
        self._executor_lock = threading.Lock()
        self.timeout_s: float | None = limits.timeout_ms / 1000 if limits.timeout_ms else None
        _RUNTIMES[self.id] = self
        self._keys = self._collect_keys()  # in export order
        self._key_set = frozenset(self._keys)
        # functions whose values may hold resource handles (`_handles`): empty for most extensions
        self.handle_sigs: dict[str, FuncT] = {
            k: sig for k in self._keys if (sig := self.signature(k)) is not None and has_handle(sig)}
        self._build_aliases()

    # ------------------------------------------------------------------ naming

    def _build_aliases(self) -> None:
        """Accept `iface@ver#f`, `iface#f` (unversioned, if unambiguous) and `f` (if unique)."""
        counts: dict[str, list[str]] = {}
        for key in self.function_keys():
            iface, _, func = key.rpartition("#")
            alts = [func] if iface else []
            if iface and "@" in iface:
                alts.append(f"{iface.split('@', 1)[0]}#{func}")
            for alt in alts:
                counts.setdefault(alt, []).append(key)
        self.aliases = {alt: keys[0] for alt, keys in counts.items() if len(keys) == 1}

    def function_keys(self) -> list[str]:
        return list(self._keys)

    def _collect_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for e in self.analysed.exports:
            if isinstance(e.item, InstanceT):
                keys += [f"{e.name}#{n}" for n, _ in e.item.funcs()]
            elif isinstance(e.item, FuncT):
                keys.append(e.name)
        return tuple(keys)

    def canonical(self, ref: str) -> str | None:
        if ref in self._key_set:
            return ref
        if "." in ref and "#" not in ref:  # `iface.func` as some tools spell it
            iface, _, func = ref.rpartition(".")
            if f"{iface}#{func}" in self._key_set:
                return f"{iface}#{func}"
        return self.aliases.get(ref)

    def signature(self, key: str) -> FuncT | None:
        iface, _, func = key.rpartition("#")
        for e in self.analysed.exports:
            if iface and e.name == iface and isinstance(e.item, InstanceT):
                item = e.item.get(func)
                return item if isinstance(item, FuncT) else None
            if not iface and e.name == key and isinstance(e.item, FuncT):
                return e.item
        return None

    # ------------------------------------------------------------------ lifecycle

    def instantiate(self) -> None:
        """A fresh Store and instance; every bound function is rebuilt with it."""
        engine = self._owner.engine
        store = wasmtime.Store(engine)
        lim = self.limits
        # Always set, defaults included: one extension must not take the memory, or the address
        # space (each linear memory reserves several GiB of it), the others need.
        store.set_limits(**lim.store_limits())
        if self._wasi_factory is not None:
            store.set_wasi(self._wasi_factory())
        if self._owner.engine_config.epoch_interruption:
            ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_epoch, self.id, _no_finalize)
            store.set_epoch_deadline(1)
        if self._owner.engine_config.consume_fuel:
            store.set_fuel(lim.fuel if lim.fuel is not None else 2**62)
        # Core start functions run here; the caller sets `start_deadline` (the host's load and
        # restart do), or a looping one would hang for good.
        instance = self.linker.instantiate(store, self.analysed.component)
        funcs: dict[str, BoundFunc] = {}
        for key in self.function_keys():
            iface, _, fname = key.rpartition("#")
            if iface:
                parent = instance.get_export_index(store, iface)
                idx = instance.get_export_index(store, fname, parent) if parent is not None else None
            else:
                idx = instance.get_export_index(store, fname)
            func = instance.get_func(store, idx) if idx is not None else None
            if func is not None:
                funcs[key] = BoundFunc(self.name, store, func, key)
        self.store = store
        self.funcs = funcs
        self.faulted = None
        self.nested_fault = None
        self.generation += 1

    def mark_faulted(self, reason: str) -> None:
        """The Store is poisoned: drop it; the next call instantiates again."""
        if self.faulted is None:
            self.faulted = reason
            self._owner.record("fault", self.name, reason)
        self.funcs = {}
        self.store = None

    def interrupt_reason(self) -> str | None:
        ctx = self.active
        start = self.start_deadline
        if ctx is None and start is None:
            return None
        if self._owner.closed:
            return "closed"
        now = time.monotonic()
        if ctx is not None:
            if ctx.interrupt is not None:
                return "interrupted"
            if ctx.cancelled:
                return "cancelled"
            d = ctx.deadline
            if d is not None and now >= d and (start is None or d < start):
                return "timeout"  # the caller's: not the extension's fault
        if start is not None and now >= start:
            return f"timed out after {self.limits.timeout_ms} ms"  # its own limit, while starting
        return None

    def executor(self) -> Lane:
        """This extension's lane of the shared worker pool: async calls into it run one at a
        time, in order; calls into different extensions run in parallel (`_workers`)."""
        with self._executor_lock:  # two event loops in two threads must not make two lanes
            if self._executor is None:
                self._executor = Lane()
            return self._executor

    def stop_worker(self) -> None:
        """No new async calls; queued ones still run, and fail at once because the host is closed
        (cancelling them would hand their callers a bare `CancelledError`)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = Lane()  # so that submit() refuses
            self._executor.shutdown()

    def close(self) -> None:
        """Drop the Store. Call with `lock` held (or when no call can be running)."""
        self.funcs = {}
        self.store = None
        _RUNTIMES.pop(self.id, None)
