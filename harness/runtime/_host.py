"""`Host`: load a set of extensions, link them, and call them (sync or asyncio).

Linking follows the resolution's load order. Each consumer gets a Linker whose
library imports are raw proxies into the provider's current Store (looked up on
every call, so a restarted provider is picked up without relinking), whose
`ext:host/*` imports are the host API, and whose `wasi:*` imports are WASI p2 in
a sandbox that denies everything the manifest does not grant.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import difflib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ..model._diagnostics import Diagnostic, sort_diagnostics
from ..model._errors import (
    CallError,
    CallTimeoutError,
    ExtensionFaultedError,
    HostClosedError,
    LoadError,
    NoSuchFunctionError,
    UsageError,
)
from ..model._hostconfig import HostConfig, HostEvent, LogRecord, TraceEvent
from ..model._records import Analysed, Capabilities, Resolution, Status
from ..model._text import printable
from ..model._witypes import InstanceT, ResourceItem
from ..pipeline._sandbox import CapabilityDeniedError, open_preopen, plan_preopens, preopen_path, protected_files
from ..pipeline._serves import HOST_API, host_interface_for, served_interfaces
from ._asynchost import AWAITING, awaiting, refuse_awaited
from ._calls import (
    CALLER_STOPS,
    SIZES,
    CallContext,
    _func_call,
    _reason_of,
    caller_stop,
    classify_error,
    current_context,
    error_text,
    forget_stock_exception,
    stock_failure,
    wrap_host_function,
)
from ._extension import ExtensionRuntime, RuntimeLimits
from ._fastpath import ArgumentProblem
from ._gate import Gate
from ._handles import (
    HandleTable,
    ResourceDrop,
    ResourceProxy,
    api_args,
    api_result,
    callback_of,
    give_away,
    has_handle,
    resource_drop_callback,
)
from ._proxy import PROXIES, Proxy, proxy_finalize, register
from ._threads import big_stack_pool, deliver_interrupt, prepare_thread

if TYPE_CHECKING:
    from ._commands import CommandRegistry

__all__ = ["Host", "HostConfig", "HostEvent", "LogRecord", "TraceEvent"]

log = logging.getLogger("harness.host")
_monotonic = time.monotonic
_NONE, _ONE = SIZES[0], SIZES[1]

_LEVELS = {"trace": logging.DEBUG - 5, "debug": logging.DEBUG, "info": logging.INFO,
           "warn": logging.WARNING, "error": logging.ERROR}
_CLOSE_GRACE = 5.0  # seconds `close()` waits for running calls to stop


def _check_timeout(timeout: float | None) -> None:
    """A per-call timeout of 0 or less would mean "no limit" or "already over": refuse it."""
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                    and timeout > 0):
        raise UsageError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def _closed_error(extension: str, function: str) -> HostClosedError:
    return HostClosedError(f"{extension}: {function}: the host is closed", extension=extension,
                           function=function)


class Host:
    """A loaded, linked set of extensions. Use `Host.load(...)` as a context manager."""

    def __init__(self, inspection: Any, config: HostConfig) -> None:
        from ..pipeline._analysis import AnalysisConfig  # noqa: F401 - engine settings live with analysis
        self.config = config
        self.inspection = inspection
        self.engine: wasmtime.Engine = inspection.engine
        self.engine_config = inspection.engine_config
        self.resolution: Resolution = inspection.resolution
        self.runtimes: dict[str, ExtensionRuntime] = {}
        self.events: list[HostEvent] = []
        self.logs: collections.deque[LogRecord] = collections.deque(maxlen=config.max_log_records)
        self.logs_dropped = 0  # records pushed out of `logs` by newer ones
        self._log_lock = threading.Lock()
        self.traces: list[TraceEvent] = []
        self._seq = itertools.count()
        self._link_diags: list[Diagnostic] = []
        self._status: dict[str, Status] = dict(self.resolution.status)
        self._proxy_keys: list[int] = []  # this host's entries in `PROXIES`, dropped on close
        # (consumer, provider) → the provider's resources the consumer holds (`_handles`)
        self._handle_tables: dict[tuple[str, str], HandleTable] = {}
        # (extension, name as the caller spelt it) → (runtime, canonical key); a runtime outlives
        # its restarts, so an entry stays right for the host's lifetime
        self._names: dict[tuple[str, str], Callable[..., Any]] = {}  # (extension, function) → `function()`
        # enter/leave, stack budgets, the wait-for graph; the runtimes' owner
        self._gate = Gate(self.engine, self.engine_config, max_depth=config.max_depth,
                          reentrancy=config.reentrancy, restart=self._restart, record=self._record,
                          closed_error=_closed_error)
        self._stop_ticker = threading.Event()
        self._ticker: threading.Thread | None = None
        if self.engine_config.epoch_interruption:
            self._ticker = threading.Thread(target=self._tick, name="ext-harness-epoch", daemon=True)
            self._ticker.start()
        try:
            self._link_all()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, *paths: str | Path, **config: Any) -> Host:
        """Discover, analyse, resolve and link the extensions under `paths`."""
        from ..pipeline._inspect import inspect

        cfg = HostConfig.from_kwargs(config)
        inspection = inspect(*paths, cache_dir=cfg.cache_dir, use_cache=cfg.use_cache,
                             max_file_size=cfg.max_file_size, consume_fuel=cfg.fuel is not None or None,
                             memory64=cfg.memory64, host_interfaces=cfg.interfaces,
                             grant_outside_folder=cfg.grant_outside_folder,
                             store_limits=lambda c: RuntimeLimits.of(cfg, c.manifest.limits).store_limits())
        host = cls(inspection, cfg)
        if cfg.strict and host.errors:
            host.close()
            raise LoadError(host.errors)
        return host

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop everything: new calls are refused, running guests are interrupted at the next
        epoch tick (their callers get a `timeout` error saying the host was closed), queued
        async calls fail with `host-closed`. Waits up to `_CLOSE_GRACE` seconds for
        running calls; a call stuck inside a Python host function is not waited for longer."""
        if self._gate.closed:
            return
        self._gate.closed = True  # seen by `interrupt_reason`, `Gate.live_function` and `_run_async`
        for rt in self.runtimes.values():
            rt.stop_worker()
        give_up = time.monotonic() + _CLOSE_GRACE
        idle = True
        for rt in self.runtimes.values():
            # Holding the lock while the Store is dropped: a call that gets in later finds no
            # Store and is refused instead of instantiating the extension again.
            got = rt.lock.acquire(timeout=max(0.0, give_up - time.monotonic()))
            if not got:
                # Left registered, so the epoch callback still finds it and stops the guest
                # ("closed") as soon as it runs wasm again.
                idle = False
                log.warning("closing: %s is still busy after %.0f s; not waiting for it", rt.name, _CLOSE_GRACE)
                continue
            try:
                rt.close()
            finally:
                rt.lock.release()
        self._stop_ticker.set()  # the ticker keeps going while any guest still runs
        if self._ticker is not None and idle and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=1)
        for pid in self._proxy_keys:
            PROXIES.pop(pid, None)
        self._proxy_keys.clear()
        for table in self._handle_tables.values():
            table.clear()

    def _is_closed(self) -> bool:
        return self._gate.closed

    def _tick(self) -> None:
        period = self.config.tick_ms / 1000
        while True:
            if self._stop_ticker.wait(period) and not any(rt.active is not None for rt in
                                                          list(self.runtimes.values())):
                return
            self.engine.increment_epoch()

    # ------------------------------------------------------------------ state

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return sort_diagnostics([*self.inspection.diagnostics, *self._link_diags])

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def status(self) -> dict[str, Status]:
        return dict(self._status)

    def held_handles(self, provider: str) -> dict[str, int]:
        """How many of `provider`'s resources each other extension holds through a dynamic link
        (consumer → count, zero counts left out): the conformance suite's leak check reads it."""
        held: dict[str, int] = {}
        for (consumer, prov), table in self._handle_tables.items():
            n = len(table.entries)
            if prov == provider and n:
                held[consumer] = held.get(consumer, 0) + n
        return held

    @property
    def extensions(self) -> tuple[str, ...]:
        """The names of the linked (callable) extensions, in load order."""
        return tuple(n for n in self.resolution.load_order if n in self.runtimes)

    @property
    def commands(self) -> CommandRegistry:
        """The commands the extensions offer; each `list-commands` is called on first use."""
        registry: CommandRegistry | None = self.__dict__.get("_commands")
        if registry is None:
            from ._commands import CommandRegistry
            registry = self.__dict__.setdefault("_commands", CommandRegistry(self))
        return registry

    def functions(self, extension: str) -> list[str]:
        return self._runtime(extension, "").function_keys()

    def _record(self, kind: str, extension: str, message: str) -> None:
        self.events.append(HostEvent(kind, extension, message))

    # ------------------------------------------------------------------ linking

    def _link_all(self) -> None:
        ctx = current_context()
        if not ctx.prepared:
            prepare_thread(ctx)
        if ctx.outer_room < self._gate.stack_need:  # start functions and init run guest code: not on a tiny stack
            big_stack_pool()(self._link_all).result()
            return
        by_name: dict[str, Analysed] = {a.name: a for a in self.inspection.analysed}
        for name in self.resolution.load_order:
            a = by_name[name]
            failed_dep = next((link.provider for link in self.resolution.links_of(name)
                               if link.provider not in self.runtimes), None)
            if failed_dep is not None:
                why = self._status.get(failed_dep, "error")
                self._fail(name, "blocked-by-dependency", failed_dep,
                           f"{name} is not loaded: its dependency {failed_dep} failed to link ({why})",
                           details={"dependency": failed_dep, "reason": "instantiation-failed"},
                           status="blocked")
                continue
            try:
                rt = self._link_one(a)
            except _LinkFailure as f:
                self._fail(name, f.code, f.subject, f.message, details=f.details)
                continue
            try:
                self._instantiate_at_load(rt, ctx)
            except Exception as e:
                text = str(e)
                reason = _reason_of(text) if text else repr(e)
                if reason.startswith("ext-harness: "):  # stopped by the epoch callback
                    stop = reason[len("ext-harness: "):]
                    if stop == "timeout" or stop.startswith("timed out"):
                        stop = f"timed out after {rt.limits.timeout_ms} ms"
                    reason = f"its start function was stopped: {stop}"
                self._fail(name, "instantiation-failed", a.candidate.component_path.name,
                           f"{name} did not instantiate: {reason}", details={"reason": reason, "text": text})
                rt.close()
                if ctx.interrupt is not None:
                    deliver_interrupt(ctx)
                continue
            self.runtimes[name] = rt
            if self.config.run_init:
                problem = self._run_init(rt)
                if problem is not None:
                    self.runtimes.pop(name)
                    rt.close()
                    self._fail(name, "init-failed", "ext:host/lifecycle#init",
                               f"{name}: init failed: {problem}", details={"reason": problem})

    def _instantiate_at_load(self, rt: ExtensionRuntime, ctx: CallContext) -> None:
        """Instantiate as if called: core start functions run under the extension's time limit
        (which also bounds the calls they make into providers), budgeted on the native stack,
        with Ctrl-C deferred like in a call."""
        ctx.frames.append((rt.name, "instantiate"))
        rt.active = ctx
        ctx.deadline = rt.start_deadline = _monotonic() + rt.timeout_s if rt.timeout_s else None
        room = ctx.room
        ctx.room = room - self._gate.stack_need
        try:
            rt.instantiate()
        finally:
            ctx.room = room
            ctx.deadline = rt.start_deadline = None
            rt.active = None
            ctx.frames.pop()

    def _fail(self, name: str, code: str, subject: str | None, message: str, *,
              details: dict[str, Any] | None = None, status: Status = "error") -> None:
        self._link_diags.append(Diagnostic(code, message, extension=name, subject=subject,
                                           details=details or {}))
        self._status[name] = status

    def _link_one(self, a: Analysed) -> ExtensionRuntime:
        if self.config.link == "fused" and a.library_imports():
            a = self._fused(a)
        limits = RuntimeLimits.of(self.config, a.candidate.manifest.limits)
        linker = wc.Linker(self.engine)
        needs_wasi = any(i.kind == "wasi" for i in a.imports)
        wasi_factory = None
        if needs_wasi:
            linker.add_wasip2()
            wasi_factory = self._wasi_factory(a)
        rt = ExtensionRuntime(self._gate, a, linker, limits, wasi_factory)
        links = {link.import_name: link for link in self.resolution.links_of(a.name)}
        try:
            with linker.root() as root:
                for imp in a.imports:
                    if imp.kind == "host":
                        self._define_host_import(root, a.name, imp.name, imp.item)
                    elif imp.kind == "library":
                        link = links.get(imp.name)
                        if link is None:
                            raise _LinkFailure("missing-import", imp.name,
                                               f"{a.name}: nothing links {imp.name}")
                        provider = self.runtimes[link.provider]
                        self._define_proxies(root, a.name, imp.name, imp.item, provider, link.export_name)
        except BaseException:
            rt.close()
            raise
        for (consumer, _), table in self._handle_tables.items():
            if consumer == a.name:
                table.consumer_rt = rt  # its restarts lose its handles: the table sweeps them
        return rt

    def _fused(self, a: Analysed) -> Analysed:
        """`a` as its fused closure (`pipeline._compose`): its providers are private instances inside
        one component, so only host and WASI imports are left for the linker, and one Store runs it."""
        from ..pipeline._cache import CompileCache
        from ..pipeline._compose import ComposeFailure, fused_analysed, fused_unit

        cfg = self.config
        cache = CompileCache(Path(cfg.cache_dir) if cfg.cache_dir is not None else None, enabled=cfg.use_cache)
        try:
            return fused_analysed(fused_unit(self.resolution, self.inspection.analysed, a.name), self.engine,
                                  self.engine_config, cache)
        except ComposeFailure as e:
            d = e.diagnostic
            raise _LinkFailure(d.code, d.subject or a.name, d.message, details=dict(d.details)) from e

    def _define_host_import(self, root: Any, ext: str, name: str, item: Any) -> None:
        """Serve a host-kind import, by the same rule `inspect` checked it with (`_serves`)."""
        found = host_interface_for(name, served_interfaces(self.config.interfaces))
        if found is None:
            raise _LinkFailure("missing-import", name,
                               f"{ext} imports {name}, which the host does not provide "
                               f"(it provides {', '.join(HOST_API)})")
        served, _, from_config = found
        if from_config:
            funcs = self.config.interfaces[served]
            wanted = [f for f, _ in item.funcs()] if isinstance(item, InstanceT) else []
            missing = [f for f in wanted if f not in funcs]
            if missing:
                raise _LinkFailure("missing-import", name,
                                   f"{ext} imports {name}#{missing[0]}, which the host's {served} lacks")
            with root.add_instance(name) as inst:
                for f in wanted:
                    sig = item.get(f)
                    inst.add_func(f, wrap_host_function(f"{name}#{f}", funcs[f], sig.result,
                                                        tuple(t for _, t in sig.params), closed=self._is_closed))
            return

        cap = self.config.max_log_message

        def host_log(level: str, message: str) -> None:
            # Bounded: a guest may log without end (2000 × 1 MiB took 2 GB before).
            lvl = str(level)
            text = str(message)
            cut = len(text) - cap
            if cut > 0:
                text = f"{text[:cap]}… [truncated: {cut} more characters]"
            with self._log_lock:
                if len(self.logs) == self.logs.maxlen:
                    self.logs_dropped += 1
                self.logs.append(LogRecord(ext, lvl, text, max(cut, 0)))
            py_level = _LEVELS.get(lvl, logging.INFO)
            if log.isEnabledFor(py_level):
                log.log(py_level, "[%s] %s", printable(ext, one_line=True), printable(text))

        with root.add_instance(name) as inst:
            inst.add_func("log", wrap_host_function(f"{name}#log", host_log))

    def _define_proxies(self, root: Any, consumer: str, import_name: str, item: Any,
                        provider: ExtensionRuntime, export_name: str) -> None:
        assert isinstance(item, InstanceT)
        table = self._handle_tables.get((consumer, provider.name))
        if table is None:
            table = self._handle_tables[(consumer, provider.name)] = HandleTable(consumer, provider)
        iface = import_name.partition("@")[0]
        with root.add_instance(import_name) as inst:
            for rname, ritem in item.exports:
                if isinstance(ritem, ResourceItem):  # a host type here; handles go through `table`
                    drop = ResourceDrop(self._gate, consumer, provider, f"{iface}#[dtor]{rname}", table)
                    pid = register(drop)
                    self._proxy_keys.append(pid)
                    raw = rname.encode("utf-8")
                    rtype = table.resource_type(iface, rname)  # alive until the linker has copied it
                    err = ffi.wasmtime_component_linker_instance_add_resource(
                        inst.ptr(), ctypes.create_string_buffer(raw), len(raw), rtype.ptr(),
                        resource_drop_callback, pid, proxy_finalize)
                    del rtype
                    if err:
                        raise _LinkFailure("instantiation-failed", import_name,
                                           f"{consumer}: cannot define the resource {import_name}#{rname}: "
                                           f"{error_text(err)}")
            for fname, sig in item.funcs():
                key = f"{export_name}#{fname}"
                slow = has_handle(sig)
                proxy = ResourceProxy(self._gate, consumer, provider, key, sig, table) if slow else \
                    Proxy(self._gate, consumer, provider, key)
                pid = register(proxy)
                self._proxy_keys.append(pid)
                raw = fname.encode("utf-8")
                err = ffi.wasmtime_component_linker_instance_add_func(
                    inst.ptr(), ctypes.create_string_buffer(raw), len(raw),
                    callback_of(proxy), pid, proxy_finalize)
                if err:
                    raise _LinkFailure("instantiation-failed", import_name,
                                       f"{consumer}: cannot define {import_name}#{fname}: {error_text(err)}")

    def _wasi_factory(self, a: Analysed) -> Callable[[], wasmtime.WasiConfig]:
        """WASI for `a` as its manifest grants it. Preopens are checked now and again by every
        call of the factory (each instantiation, restarts included): see `_sandbox`."""
        caps: Capabilities = a.candidate.manifest.capabilities
        try:
            grants = plan_preopens(a.name, a.candidate.root, caps, protected_files(a.candidate),
                                   outside=self.config.grant_outside_folder)
        except CapabilityDeniedError as e:
            raise _LinkFailure(e.code, e.preopen, f"{e.message}; {e.hint}",
                               details={"preopen": e.preopen, "hint": e.hint}) from e

        def make() -> wasmtime.WasiConfig:
            w = wasmtime.WasiConfig()
            if caps.inherit_stdio:
                w.inherit_stdin()
                w.inherit_stdout()
                w.inherit_stderr()
            if caps.inherit_env:
                w.inherit_env()
            elif caps.env:
                w.env = [list(p) for p in caps.env]  # a setter property, not a method
            if caps.args:
                w.argv = list(caps.args)
            for grant in grants:
                fd = open_preopen(a.name, grant)  # raises CapabilityDeniedError
                try:
                    w.preopen_dir(preopen_path(fd, grant), grant.guest, grant.write)
                except wasmtime.WasmtimeError as e:
                    raise CapabilityDeniedError(a.name, grant.host, f"preopen {grant.host!r} (guest "
                                                f"{grant.guest}) could not be opened: {e}") from e
                finally:
                    os.close(fd)
            return w

        return make

    @staticmethod
    def _init_key(rt: ExtensionRuntime) -> str | None:
        return next((k for k in rt.function_keys()
                     if k.startswith("ext:host/lifecycle") and k.endswith("#init")), None)

    def _run_init(self, rt: ExtensionRuntime) -> str | None:
        key = self._init_key(rt)
        if key is None:
            return None
        try:
            result = self._invoke(rt, key, (), timeout=None, cancel=None)
        except CallTimeoutError as e:
            if "ran past its time limit" in e.message:
                return f"timeout: timed out after {rt.limits.timeout_ms} ms"
            return f"{e.code}: {e.message}"
        except CallError as e:
            return f"{e.code}: {e.message}"
        if isinstance(result, dict) and "err" in result:  # result<_, string>: {"err": why}
            return str(result["err"])
        self._record("init", rt.name, "ok")
        return None

    def _rerun_init(self, rt: ExtensionRuntime, ctx: CallContext) -> CallError | str | None:
        """`init` after a restart: the error it returned, how it failed, or None. The caller
        already holds `rt` (the restart happens inside a call), so this calls the guest
        directly instead of through `_invoke`; `_restart` sets its time limit."""
        key = self._init_key(rt)
        bound = rt.funcs.get(key) if key is not None else None
        if bound is None or bound.lift is None:
            return None
        arr = bound.lower(())
        err = _func_call(bound._fref, bound._ctx, arr, SIZES[0], bound.result_ref, SIZES[1])
        if err:  # as `Gate.call_failed` reads it: a failure recorded inside (a host function's) comes first
            text = error_text(err)
            pending, ctx.pending = ctx.pending, None
            failure = pending or stock_failure(text, ctx) or classify_error(
                text, extension=rt.name, function=bound.name, chain=ctx.chain())
            forget_stock_exception()
            rt.mark_faulted(caller_stop(failure) or "init-failed")
            return failure
        result = bound.lift(bound.result_slot)
        return str(result["err"]) if isinstance(result, dict) and "err" in result else None

    # ------------------------------------------------------------------ calls

    def _runtime(self, extension: str, function: str) -> ExtensionRuntime:
        if self._gate.closed:
            raise _closed_error(extension, function)
        rt = self.runtimes.get(extension)
        if rt is None:
            status = self._status.get(extension)
            if status is not None:
                why = next((d for d in self.diagnostics if d.extension == extension and d.is_error), None)
                raise NoSuchFunctionError(
                    f"{extension} is not loaded ({status}: {why.code if why else 'unknown'}"
                    f"{': ' + why.message if why else ''})", extension=extension, function=function)
            near = difflib.get_close_matches(extension, list(self.runtimes), n=3)
            raise NoSuchFunctionError(
                f"no extension named {extension!r}" + (f"; did you mean {', '.join(near)}?" if near else
                                                       f"; loaded: {', '.join(self.runtimes) or 'none'}"),
                extension=extension, function=function)
        return rt

    def _resolve_key(self, rt: ExtensionRuntime, function: str) -> str:
        key = rt.canonical(function)
        if key is None:
            keys = rt.function_keys()
            names = {**{k: k for k in keys}, **rt.aliases}
            near = sorted({names[m] for m in difflib.get_close_matches(function, list(names), n=3, cutoff=0.6)})
            raise NoSuchFunctionError(
                f"{rt.name} exports no function {function!r}"
                + (f"; did you mean {', '.join(near)}?" if near else f"; it exports: {', '.join(keys)}"),
                extension=rt.name, function=function)
        return key

    def _restart(self, rt: ExtensionRuntime, ctx: CallContext, key: str) -> None:
        reason = rt.faulted or "not instantiated"
        charged = reason not in CALLER_STOPS  # a Store lost for the caller's sake is not the extension's fault
        if charged and rt.restarts >= self.config.restart_budget:
            raise ExtensionFaultedError(
                f"{rt.name} faulted ({reason}) and has used its {self.config.restart_budget} restart(s); "
                f"{key} cannot be called", extension=rt.name, function=key, chain=ctx.chain(),
                details={"fault": reason, "restarts": rt.restarts})
        # A restart runs guest code (start functions, init) the way a load does: under the
        # extension's own time limit, not the call's deadline, which is pushed back by the time
        # the restart took (a call right after a fault must not fail for the restart's sake).
        # Cancellation, close and Ctrl-C still stop it, and then the restart is not charged.
        rt.restarts += charged
        deadline, began = ctx.deadline, _monotonic()
        ctx.deadline = rt.start_deadline = began + rt.timeout_s if rt.timeout_s else None
        try:
            self._restart_guest(rt, ctx, key, reason, charged)
        finally:
            rt.start_deadline = None
            ctx.deadline = deadline + (_monotonic() - began) if deadline is not None else None
        self._record("restart", rt.name, f"restart {rt.restarts} after {reason}" if charged else
                     f"restart after {reason} (for the caller's sake: not charged to the restart budget)")

    def _restart_guest(self, rt: ExtensionRuntime, ctx: CallContext, key: str, reason: str, charged: bool) -> None:
        try:
            rt.instantiate()
        except Exception as e:
            text = str(e)
            failure = classify_error(text, extension=rt.name, function=key, chain=ctx.chain())
            if _stopped_by_caller(failure):
                rt.restarts -= charged
                raise _restart_stopped(failure, rt.name, key, ctx, "starting it again") from e
            why = failure.details["reason"] if text else repr(e)
            if why.startswith("ext-harness: "):
                why = f"its start function was stopped: {why.removeprefix('ext-harness: ')}"
            self._record("restart-failed", rt.name, why)
            err = ExtensionFaultedError(f"{rt.name} could not be restarted to call {key}: {why}",
                                        extension=rt.name, function=key, chain=ctx.chain(),
                                        details={"fault": reason, "reason": why, "text": text})
            raise err from e
        problem = self._rerun_init(rt, ctx) if self.config.run_init else None
        if isinstance(problem, CallError) and _stopped_by_caller(problem):
            rt.restarts -= charged
            raise _restart_stopped(problem, rt.name, key, ctx, "running its init again")
        if problem is not None:
            text = problem.message if isinstance(problem, CallError) else problem
            self._record("restart-failed", rt.name, f"init failed: {text}")
            raise ExtensionFaultedError(f"{rt.name} restarted to call {key} but its init failed: {text}",
                                        extension=rt.name, function=key, chain=ctx.chain(),
                                        details={"fault": reason})

    def _invoke(self, rt: ExtensionRuntime, key: str, args: tuple[Any, ...], timeout: float | None = None,
                cancel: threading.Event | None = None) -> Any:
        """The checked way into a guest from Python (`Gate.caller` inlines the common case)."""
        if timeout is not None:
            _check_timeout(timeout)
        ctx = current_context()
        frames = ctx.frames
        outer = not frames
        if outer:  # nested calls run under the outermost call's deadline and cancellation
            room = ctx.outer_room
            if room < self._gate.stack_need:  # this thread's stack not measured yet, or too small
                if not ctx.prepared:
                    prepare_thread(ctx)
                room = ctx.outer_room
                if room < self._gate.stack_need:
                    return self._invoke_on_big_stack(rt, key, args, timeout, cancel)
            ctx.pending = None
            awaited = AWAITING.get()
            if awaited is not None and awaited.active:  # from an async host function's coroutine
                refuse_awaited(awaited, rt.name, key)
        else:
            room = ctx.room
        gate = self._gate
        levels = ctx.levels
        try:
            if outer:
                limit = timeout if timeout is not None else rt.timeout_s
                ctx.deadline = _monotonic() + limit if limit else None  # waiting for the lock counts
                ctx.cancel = cancel
                ctx.room = room
            ctx.levels = 0  # Python code (a host function, or the caller's) ran since the last hop: not budgeted
            bound = gate.enter(rt, ctx, key)
        except BaseException:
            ctx.levels = levels
            if outer:
                ctx.deadline = ctx.cancel = None
                if ctx.interrupt is not None:  # Ctrl-C while waiting for `rt` (the frame was pushed): it wins
                    deliver_interrupt(ctx)
            raise
        try:
            hsig = rt.handle_sigs.get(key) if rt.handle_sigs else None
            if hsig is not None:  # resource handles: `Handle` objects ↔ the extension's resources
                args, given = api_args(rt, key, hsig, args)
            if len(args) != bound.nparams:
                bound.lower_args(args)  # raises the bad-arguments error
            lowering = _monotonic() if bound.needs_free else 0.0  # compound values can take a while
            try:
                arr = bound.lower(args)
            except ArgumentProblem:
                bound.lower_args(args)  # re-raises as bad-arguments, naming the parameter
                raise
            if lowering and ctx.deadline is not None:  # host-side lowering is not the guest's time
                ctx.deadline += _monotonic() - lowering
            lift = bound.lift
            if lift is not None:
                err = _func_call(bound._fref, bound._ctx, arr, bound.nargs, bound.result_ref, _ONE)
            else:
                err = _func_call(bound._fref, bound._ctx, arr, bound.nargs, None, _NONE)
            if hsig is not None and given:  # the call ran: what it took as `own` is the extension's now
                give_away(given)
            if bound.needs_free:
                bound.free(arr)
            if err:
                raise gate.call_failed(rt, key, ctx, err)
            if hsig is not None:
                return None if lift is None else api_result(gate, rt, hsig, lift(bound.result_slot))
            return None if lift is None else lift(bound.result_slot)
        finally:
            if outer:  # before `leave` pops the frame: until then Ctrl-C is deferred
                ctx.deadline = ctx.cancel = None
            gate.leave(rt, ctx, room, levels)
            if outer and ctx.interrupt is not None:  # Ctrl-C arrived while the frame was pushed
                deliver_interrupt(ctx)

    def _invoke_on_big_stack(self, rt: ExtensionRuntime, key: str, args: tuple[Any, ...], timeout: float | None,
                             cancel: threading.Event | None) -> Any:
        """A sync call from a thread whose stack cannot hold one extension (`ulimit -s 1024`):
        it runs on a thread with a big stack while this one waits. Ctrl-C while waiting stops
        the guest too."""
        limit = timeout if timeout is not None else rt.timeout_s
        deadline = _monotonic() + limit if limit else None
        stop = cancel if cancel is not None else threading.Event()
        fut = big_stack_pool()(self._run_handed_off, rt, key, args, deadline, stop)
        try:
            return fut.result()
        except BaseException:
            if not fut.done():
                stop.set()
            raise

    def _run_handed_off(self, rt: ExtensionRuntime, key: str, args: tuple[Any, ...], deadline: float | None,
                        cancel: threading.Event) -> Any:
        remaining = None
        if deadline is not None:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise CallTimeoutError(f"{rt.name}: {key} timed out waiting for a thread to run it",
                                       extension=rt.name, function=key)
        return self._invoke(rt, key, args, timeout=remaining, cancel=cancel)

    def call(self, extension: str, function: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `function` (`ns:pkg/iface@ver#func`, unversioned, or bare if unique) synchronously.
        `timeout` (seconds, > 0) replaces the extension's limit; waiting for the extension counts."""
        found = self._names.get((extension, function))
        if found is None or self._gate.closed:
            found = self._names[(extension, function)] = self.function(extension, function)
        return found(*args, timeout=timeout)

    def function(self, extension: str, function: str) -> Callable[..., Any]:
        """A bound callable `(*args, timeout=None)`: the name lookups are done once."""
        rt = self._runtime(extension, function)
        key = self._resolve_key(rt, function)
        bound = self._gate.caller(rt, key, self._invoke)
        bound.__name__ = bound.__qualname__ = f"{extension}:{key}"
        return bound

    async def acall(self, extension: str, function: str, *args: Any, timeout: float | None = None) -> Any:
        """Call without blocking the event loop. Calls into one extension run one at a time;
        calls into different extensions run in parallel. `timeout` and cancellation stop the guest.

        `timeout` counts from this call, not from when the worker starts it: time spent queued
        behind other calls into the same extension counts, so `timeout` bounds what the caller
        waits (plus, if the extension must be restarted first, the restart, which runs under
        the extension's own limit). Closing the host stops a running call (`timeout` error)
        and fails queued ones."""
        _check_timeout(timeout)
        rt = self._runtime(extension, function)
        key = self._resolve_key(rt, function)
        awaited = awaiting()
        if awaited is not None:  # from an async host function's coroutine: it must not wait for itself
            refuse_awaited(awaited, rt.name, key)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        limit = timeout if timeout is not None else rt.timeout_s
        deadline = time.monotonic() + limit if limit else None
        try:
            fut = rt.executor().submit(self._run_async, rt, key, args, deadline, cancel, loop)
        except RuntimeError as e:  # the worker was stopped by a concurrent close()
            raise _closed_error(rt.name, key) from e
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _run_async(self, rt: ExtensionRuntime, key: str, args: tuple[Any, ...], deadline: float | None,
                   cancel: threading.Event, loop: asyncio.AbstractEventLoop | None = None) -> Any:
        if self._gate.closed:
            raise _closed_error(rt.name, key)
        if cancel.is_set():
            raise CallTimeoutError(f"{rt.name}: {key} was cancelled before it started",
                                   extension=rt.name, function=key)
        remaining = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallTimeoutError(f"{rt.name}: {key} timed out waiting for its turn",
                                       extension=rt.name, function=key)
        ctx = current_context()
        ctx.loop = loop  # async host functions the guest calls run on the loop awaiting this call
        try:
            if not self.config.trace:
                return self._invoke(rt, key, args, timeout=remaining, cancel=cancel)
            self.traces.append(TraceEvent("start", rt.name, key, next(self._seq)))
            outcome = "ok"
            try:
                return self._invoke(rt, key, args, timeout=remaining, cancel=cancel)
            except CallError as e:
                outcome = e.code
                raise
            finally:
                self.traces.append(TraceEvent("end", rt.name, key, next(self._seq), outcome))
        finally:
            ctx.loop = None

    async def agather(self, calls: Iterable[tuple[str, str, Sequence[Any]]]) -> list[Any]:
        """Run several calls concurrently; results (or CallError instances) in order."""
        return list(await asyncio.gather(*(self.acall(e, f, *a) for e, f, a in calls),
                                         return_exceptions=True))


def _stopped_by_caller(failure: CallError) -> bool:
    """Whether guest code was stopped for the caller's sake (a cancellation, Ctrl-C, close),
    not because the extension did something wrong."""
    return caller_stop(failure) is not None


def _restart_stopped(failure: CallError, name: str, key: str, ctx: CallContext, doing: str) -> CallTimeoutError:
    why = str(failure.details.get("reason", "")).removeprefix("ext-harness: ")
    what = {"cancelled": "was cancelled", "closed": "was stopped: the host was closed",
            "interrupted": "was interrupted (SIGINT)"}.get(why, why)
    err = CallTimeoutError(f"{name}: {key} {what} while {name} was {doing} after a fault", extension=name,
                           function=key, chain=ctx.chain(), details=failure.details)
    err.__cause__ = failure
    return err


class _LinkFailure(Exception):
    def __init__(self, code: str, subject: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.subject = subject
        self.message = message
        self.details = details or {}
