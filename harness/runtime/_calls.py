"""The call path: bound functions, the raw-ctypes fast call, proxies and call context.

Why not `Func.__call__`? It re-derives the function type on every call (about
half of its cost, see FIELD_NOTES). A `BoundFunc` resolves types once and calls
`wasmtime_component_func_call` directly. A proxy is a raw C callback that hands
the caller's argument and result arrays straight to the provider's function: no
Python value is built on a cross-extension hop.

Safety rules enforced here:
- a `BoundFunc` owns its Store and Func together, created from one instance, so
  a Func can never be called with a foreign Store (that aborts the process);
- no Python exception ever escapes a C callback (it would be swallowed and the
  caller would see a misleading error); failures are recorded in the thread's
  `CallContext` and turned into a wasmtime error the guest propagates;
- nesting depth is capped well below Python's recursion limit.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Callable
from ctypes import byref
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any

from wasmtime import _bindings as _raw
from wasmtime import _ffi as ffi
from wasmtime.component import _enter as _stock_enter

from ..model._errors import (
    BadArgumentsError,
    CallError,
    CallTimeoutError,
    FuelExhaustedError,
    HostFunctionError,
    MemoryLimitError,
    TrapError,
)
from ..model._witypes import ValueType
from ._asynchost import run_host_coroutine
from ._fastpath import ArgumentProblem, compile_lift, compile_lower, free_vals
from ._values import ValueMisfit, describe_misfit, lifter, lowerer

__all__ = ["CALLER_STOPS", "BoundFunc", "CallContext", "Frame", "caller_stop", "classify_error", "current_context",
           "error_text", "forget_stock_exception", "lean", "stock_failure"]

_VAL = ffi.wasmtime_component_val_t


def lean(typed: Any, restype: Any = ctypes.c_void_p) -> Any:
    """The C function behind one of wasmtime-py's bindings, called without its declared types.

    wasmtime-py's binding of `wasmtime_component_func_call` converts each of its six
    arguments through `from_param` and wraps the result in a new pointer object: about a
    third of a ~2 µs call. Without argument types, ctypes passes ready ctypes objects
    (`c_void_p`, `c_size_t`, arrays, pointers) as they are; the result is a plain int
    (0 or None: success). Callers pass only such objects, never a bare Python int (it
    would go as a C int). The GIL is released during the call as with the typed binding.
    `restype` is the C result type (`c_uint32` for a rep, None for void).
    """
    fn: Any = ctypes.CFUNCTYPE(restype)(ctypes.cast(typed, ctypes.c_void_p).value or 0)
    fn.argtypes = None
    return fn


_func_call = lean(_raw._wasmtime_component_func_call)


class _Sizes(dict[int, ctypes.c_size_t]):
    """Counts as the `size_t` objects the untyped call needs, each made once."""

    def __missing__(self, n: int) -> ctypes.c_size_t:
        made = self[n] = ctypes.c_size_t(n)
        return made


SIZES = _Sizes()
_error_new = _raw._wasmtime_error_new
_error_delete = _raw._wasmtime_error_delete
_ERROR_PTR = ctypes.POINTER(ffi.wasmtime_error_t)


def error_text(err_ptr: Any) -> str:
    """The message of an owned `wasmtime_error_t*` (a pointer object or its address), which is freed."""
    if isinstance(err_ptr, int):
        err_ptr = ctypes.cast(err_ptr, _ERROR_PTR)
    vec = ffi.wasm_byte_vec_t()
    ffi.wasmtime_error_message(err_ptr, byref(vec))
    text = ffi.to_str(vec)
    ffi.wasm_byte_vec_delete(byref(vec))
    _error_delete(err_ptr)
    return str(text)


def forget_stock_exception() -> None:
    """wasmtime-py parks a host function's exception in a global for its own `Func.__call__`
    to re-raise later; we report it through the call context, so drop the stale copy."""
    _stock_enter.LAST_EXCEPTION = None


def new_error(message: str) -> int:
    """A fresh `wasmtime_error_t*` as the integer a C callback returns."""
    ptr = _error_new(message.encode("utf-8", "replace"))
    return ctypes.cast(ptr, ctypes.c_void_p).value or 0


# One extension entered on this thread: (extension, function). A tuple, not a dataclass:
# one is built on every call and every proxy hop.
Frame = tuple[str, str]


@dataclass(slots=True)
class CallContext:
    """Per-thread call state: the chain of frames and the first failure recorded in it."""

    frames: list[Frame] = field(default_factory=list)
    pending: CallError | None = None
    thread_id: int = field(default_factory=threading.get_ident)
    deadline: float | None = None  # time.monotonic() after which the running guest is stopped
    cancel: threading.Event | None = None  # set by another thread to stop the running guest
    last_host: str | None = None  # the host function that returned last (to blame a bad result)
    # native stack of this thread (see _threads.py), in bytes above the lowest address a guest
    # may reach: a conservative estimate of what is left below the host code running now, and
    # what is left where outer calls start (-1: not measured yet)
    room: int = 0
    outer_room: int = -1
    stack_lo: int = 0
    prepared: bool = False
    # Python recursion levels known to be free for the hop running now (see _gate.py); 0: unknown
    levels: int = 0
    interrupt: tuple[int, Any] | None = None  # a SIGINT recorded while a guest ran (signum, frame)
    loop: Any = None  # the event loop awaiting the `acall` running here: async host functions run on it

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def chain(self) -> list[str]:
        return [f"{ext}:{func}" for ext, func in self.frames]


_local = threading.local()


def current_context() -> CallContext:
    try:
        return _local.ctx  # type: ignore[no-any-return]
    except AttributeError:
        ctx = _local.ctx = CallContext()
        return ctx


# Why guest code may be stopped for its caller's sake (the reason of a `timeout` error)
CALLER_STOPS = ("cancelled", "closed", "interrupted")


def caller_stop(failure: CallError) -> str | None:
    """"cancelled", "closed" or "interrupted" when `failure` stopped guest code for its caller's
    sake, None when the extension itself failed (a trap, its own time limit, ...). The fault a
    caller causes is not the extension's: it is not charged to its restart budget."""
    if isinstance(failure, CallTimeoutError):
        why = str(failure.details.get("reason", "")).removeprefix("ext-harness: ")
        if why in CALLER_STOPS:
            return why
    return None


_BACKTRACE = re.compile(r"^\s*\d+:\s+(.*)$")


def _frames_of(text: str) -> list[str]:
    frames: list[str] = []
    in_trace = False
    for line in text.splitlines():
        if "wasm backtrace" in line:
            in_trace = True
            continue
        if in_trace:
            m = _BACKTRACE.match(line)
            if m:
                frames.append(m.group(1).strip())
            elif line.strip() and not line.startswith(" "):
                in_trace = False
    return frames


def _reason_of(text: str) -> str:
    """The trap's own cause line. wasmtime prints the backtrace first, then "Caused by:" and the
    cause, possibly followed by a paragraph of boilerplate (its "BUG: ..." traps), possibly a
    numbered chain of causes, and a proxied error nests a whole error text inside: so the
    innermost "Caused by:" section counts, and in it the last numbered cause, first line only."""
    lines = text.strip().splitlines()
    heads = [i for i, ln in enumerate(lines) if ln.strip() == "Caused by:"]
    if not heads:
        return next((ln.strip() for ln in lines if ln.strip()), "wasm trap")
    section = [ln for ln in lines[heads[-1] + 1:] if ln.strip()]
    if not section:
        return lines[0].strip() or "wasm trap"
    indent = len(section[0]) - len(section[0].lstrip())
    numbered = [m.group(1).strip() for ln in section
                if len(ln) - len(ln.lstrip()) == indent and (m := _NUMBERED.match(ln.strip()))]
    return numbered[-1] if numbered else section[0].strip()


_NUMBERED = re.compile(r"^\d+: (.*)$")


def classify_error(text: str, *, extension: str, function: str, chain: list[str],
                   memory_limited: bool = False) -> CallError:
    """Turn wasmtime's error text into the right coded exception."""
    first = _reason_of(text)
    frames = _frames_of(text)
    kwargs: dict[str, Any] = {"extension": extension, "function": function, "chain": chain,
                              "frames": frames, "details": {"reason": first, "text": text}}
    # Matched on the cause line only: names in the backtrace are the guest's to choose.
    low = first.lower()
    if low.startswith("ext-harness: timed out after"):  # an instantiation or init past its own limit
        return CallTimeoutError(f"{extension}: {function} {first[len('ext-harness: '):]}", **kwargs)
    if "ext-harness: timeout" in low or "wasm trap: interrupt" in low:
        return CallTimeoutError(f"{extension}: {function} ran past its time limit", **kwargs)
    if "ext-harness: cancelled" in low:
        return CallTimeoutError(f"{extension}: {function} was cancelled", **kwargs)
    if "ext-harness: closed" in low:
        return CallTimeoutError(f"{extension}: {function} was stopped: the host was closed", **kwargs)
    if "ext-harness: interrupted" in low:
        return CallTimeoutError(f"{extension}: {function} was interrupted (SIGINT)", **kwargs)
    if "all fuel consumed" in low or ("fuel" in low and "consumed" in low):
        return FuelExhaustedError(f"{extension}: {function} used up its fuel", **kwargs)
    if "memory" in low and ("limit" in low or "exceeds" in low):
        return MemoryLimitError(f"{extension}: {function} hit its memory limit: {first}", **kwargs)
    if memory_limited and ("unreachable" in low or "out of bounds" in low):
        # A refused memory.grow is not a trap in wasm: the guest sees -1 and aborts on its
        # own. wasmtime's C API does not report the refusal, so a guest that aborts under
        # a memory limit is reported as having hit it (documented in docs/errors.md).
        return MemoryLimitError(
            f"{extension}: {function} trapped ({first}) under its memory limit; "
            "a refused memory.grow is the likely cause", **kwargs)
    return TrapError(f"{extension}: {function} trapped: {first}", **kwargs)


class BoundFunc:
    """A component function bound to the Store it belongs to, with its types resolved once."""

    __slots__ = (
        "_ctx",
        "_fref",
        "extension",
        "func",
        "lift",
        "lower",
        "name",
        "nargs",
        "needs_free",
        "nparams",
        "param_names",
        "param_types",
        "result_ref",
        "result_slot",
        "result_type",
        "store",
    )

    def __init__(self, extension: str, store: Any, func: Any, name: str) -> None:
        fty = func.type(store)
        self.extension = extension
        self.store = store
        self.func = func
        self.name = name
        params = fty.params
        self.param_names = tuple(n for n, _ in params)
        self.param_types = tuple(t for _, t in params)
        self.nparams = len(params)
        self.result_type = fty.result
        self.lower, self.needs_free = compile_lower(self.param_types, store)
        self.lift = compile_lift(self.result_type)
        # Reused for every call: a nested call into the same function completes (and its
        # result is read) before the outer call writes its own result.
        self.result_slot = _VAL()
        self.result_ref = ctypes.c_void_p(ctypes.addressof(self.result_slot))
        # The untyped `_func_call`'s arguments, made once. Both pointers stay valid as long as
        # `store` and `func` do; this object holds them.
        self._fref = ctypes.c_void_p(ctypes.addressof(func._func))
        self._ctx = ctypes.c_void_p(ctypes.cast(store._context(), ctypes.c_void_p).value)
        self.nargs = SIZES[self.nparams]

    def raw_call(self, args: Any, nargs: int, results: Any, nresults: int) -> Any:
        """Call with C arrays; returns the owned error's address (falsy on success)."""
        return _func_call(self._fref, self._ctx, args, SIZES[nargs], results, SIZES[nresults])

    def lower_args(self, values: tuple[Any, ...]) -> Any:
        """Python values → a C array; raises bad-arguments naming the parameter."""
        if len(values) != self.nparams:
            raise BadArgumentsError(
                f"{self.extension}: {self.name} takes {self.nparams} argument(s) "
                f"({', '.join(self.param_names)}), got {len(values)}",
                extension=self.extension, function=self.name)
        try:
            return self.lower(values)
        except ArgumentProblem as e:
            raise BadArgumentsError(
                f"{self.extension}: {self.name}: argument {self.param_names[e.index]!r}: {e.problem}",
                extension=self.extension, function=self.name) from e

    def free(self, arr: Any) -> None:
        if self.needs_free:
            free_vals(arr, self.nparams)


HostCallable = Callable[..., Any]


def stock_failure(text: str, ctx: CallContext) -> CallError | None:
    """A failure wasmtime-py's own host-function glue caught (a host function's result that does
    not fit its WIT type): a `host-error` naming the function, instead of a bare trap."""
    exc = _stock_enter.LAST_EXCEPTION
    if exc is None or "python exception" not in text:
        return None
    _stock_enter.LAST_EXCEPTION = None
    name = ctx.last_host or "?"
    top = ctx.frames[-1][0] if ctx.frames else None
    err = HostFunctionError(
        f"host function {name} returned a value its WIT type does not allow: {type(exc).__name__}: {exc}",
        extension=top, function=name, chain=[*ctx.chain(), f"host:{name}"])
    err.__cause__ = exc
    return err


def wrap_host_function(name: str, fn: HostCallable, result: ValueType | None = None,
                       params: tuple[ValueType, ...] = (), closed: Callable[[], bool] | None = None) -> HostCallable:
    """Wrap a Python host function so its exceptions become `host-error` in the call context.

    wasmtime-py's own callback turns the exception into a trap; we record the
    Python cause first so the outer caller gets a `HostFunctionError` chained to it.
    With the function's WIT types, the function receives its arguments and returns its
    result in the value mapping (docs/values.md), as `host.call` does; a result that does
    not fit its type (an integer out of range: wasmtime-py would truncate it silently) is a
    `host-error` naming the function and the value.

    An `async def` function (any that returns a coroutine) is run to completion while the
    guest waits (`_asynchost.py`): on the event loop of the `acall` the guest call came from,
    else on a private loop; `closed` says whether the host was closed meanwhile.
    """
    lifts = tuple(lifter(p) for p in params)
    lift_args = any(c is not None for c in lifts)
    lower = lowerer(result) if result is not None else None

    def wrapper(store: Any, *args: Any) -> Any:
        try:
            if lift_args:
                args = tuple(a if c is None else c(a) for c, a in zip(lifts, args, strict=False))
            value = fn(*args)
            if type(value) is CoroutineType:
                value = run_host_coroutine(name, value, current_context(), closed)
        except CallError as e:  # a nested host.call failed: keep its code and chain
            ctx = current_context()
            if ctx.pending is None:
                ctx.pending = e
            raise
        except BaseException as e:
            ctx = current_context()
            if ctx.pending is None:
                top = ctx.frames[-1][0] if ctx.frames else None
                err = HostFunctionError(
                    f"host function {name} raised {type(e).__name__}: {e}",
                    extension=top, function=name,
                    chain=[*ctx.chain(), f"host:{name}"])
                err.__cause__ = e
                ctx.pending = err
            raise
        ctx = current_context()
        if lower is not None:
            try:
                value = lower(value)
            except ValueMisfit as m:
                top = ctx.frames[-1][0] if ctx.frames else None
                if m.misfit is not None:
                    message = f"host function {name} returned {describe_misfit(m.misfit)}"
                    details: dict[str, Any] = {"type": m.misfit[2], "path": m.misfit[0] or None}
                else:
                    message = (f"host function {name} returned a value its WIT type does not allow: "
                               f"{m.where + ': ' if m.where else ''}{m.problem}")
                    details = {"path": m.where or None}
                err = HostFunctionError(message, extension=top, function=name,
                                        chain=[*ctx.chain(), f"host:{name}"], details=details)
                if ctx.pending is None:
                    ctx.pending = err
                raise err from None
        # wasmtime-py converts `value` after we return; if that fails it reports only
        # "python exception", so remember who returned it (see `stock_failure`).
        ctx.last_host = name
        return value

    return wrapper
