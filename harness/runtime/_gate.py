"""The gate: the one enter/leave protocol of a guest call, for direct calls and proxies alike.

Entering an extension takes its lock for this thread (refusing re-entry, the depth cap and
deadlocks instead of hanging: the wait-for graph lives here), budgets the native stack and
Python's recursion, and finds the live bound function (restarting a faulted extension).
`Host._invoke` (Python → guest) and `proxy_callback` (guest → guest) both call `enter` and
`leave`, so the rules cannot drift apart between the two.

Two stack budgets are kept per thread in the `CallContext`, both as conservative estimates
that are measured only when they run out:
- native stack (`room`): each hop lowers it by the Store's wasm stack plus `HOP_MARGIN`;
- Python recursion (`levels`): past `FAST_DEPTH` hops, a hop through Python host code could
  run out of Python's recursion limit inside a ctypes callback (swallowed and misreported),
  so the room is probed once when a chain crosses that depth, then lowered by `HOP_LEVELS`
  per proxy hop (a raw C callback: bounded cost). A hop made by Python host code
  (`Host._invoke` inside a chain) costs an unknown number of frames, so it probes again.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..model._errors import (
    CallError,
    CallTimeoutError,
    DeadlockError,
    NoSuchFunctionError,
    ReentrancyError,
    TrapError,
)
from ._asynchost import AWAITING
from ._calls import (
    SIZES,
    BoundFunc,
    CallContext,
    _func_call,
    _local,
    caller_stop,
    classify_error,
    current_context,
    error_text,
    forget_stock_exception,
    stock_failure,
)
from ._threads import HOP_MARGIN, deliver_interrupt, stack_pointer

if TYPE_CHECKING:
    from ._extension import ExtensionRuntime

__all__ = ["FAST_DEPTH", "HOP_LEVELS", "Gate", "StoreGone", "has_levels", "note_nested_fault"]

FAST_DEPTH = 16  # hops below this depth do not budget Python's recursion
STACK_HEADROOM = 150  # recursion kept free for one more hop and for unwinding errors through it
HOP_LEVELS = 6  # recursion one proxy hop uses (2 measured on 3.11, tests/test_gate.py), with a margin

Restart = Callable[["ExtensionRuntime", CallContext, str], None]
# `Host._invoke(rt, key, args, timeout, cancel)`: the checked way into a guest from Python
Invoke = Callable[["ExtensionRuntime", str, tuple[Any, ...], "float | None", "threading.Event | None"], Any]
_NONE, _ONE = SIZES[0], SIZES[1]
_monotonic = time.monotonic
Record = Callable[[str, str, str], None]
Refusal = Callable[[str, str], CallError]  # (extension, function) → the error a closed host raises


def _probe(k: int) -> int:
    return k if k <= 0 else _probe(k - 1)


@functools.lru_cache(maxsize=32)
def _nested(levels: int) -> Any:
    """`int` inside tuples nested `levels + 1` deep: `isinstance(0, it)` enters C recursion
    once per tuple (`Py_EnterRecursiveCall`), the outermost one standing for the probe's
    own call, so it answers exactly as `levels` Python calls would."""
    t: Any = int
    for _ in range(levels + 1):
        t = (t,)
    return t


def has_levels(levels: int) -> bool:
    """Whether `levels` more calls fit under Python's recursion limit.

    Counting frames is not enough: calls made from C (ctypes callbacks, object
    construction in wasmtime-py) use the same budget, so it is probed directly.
    On 3.11 C code (`Py_EnterRecursiveCall`) and Python frames draw on that one budget,
    so `isinstance` over nested tuples probes it with the same answer about 30× faster
    than Python calls (tests/test_gate.py checks both agree at several depths); from 3.12
    C recursion has a budget of its own, so Python calls probe it.
    """
    try:
        if _C_SHARES_BUDGET:
            return isinstance(0, _nested(levels))
        _probe(levels)
    except RecursionError:
        return False
    return True


_C_SHARES_BUDGET = sys.version_info < (3, 12)


def note_nested_fault(rt: ExtensionRuntime, key: str, ctx: CallContext, failure: CallError) -> CallError:
    """A fault in a re-entered Store poisons the Store its outer frames still run in: when a
    host function catches that error and returns into the guest anyway, wasmtime reports only
    "BUG: current thread is not a host thread". Remember the nested fault; report it instead."""
    if rt.depth > 1:
        rt.nested_fault = failure
        return failure
    nested = rt.nested_fault
    if nested is None or not isinstance(failure, TrapError) or nested is failure:
        return failure
    rt.nested_fault = None
    why = nested.details.get("reason") or nested.message
    err = type(nested)(
        f"{rt.name}: {key} cannot go on: a nested call into {rt.name} ({nested.function}) failed earlier in this "
        f"call ({nested.code}: {why}), which lost {rt.name}'s state, and the host function that made it "
        "returned into the guest anyway", extension=rt.name, function=key, chain=ctx.chain(), frames=nested.frames,
        details={**nested.details, "nested": nested.function, "wasmtime": failure.details.get("reason")})
    err.__cause__ = nested
    return err


class StoreGone(Exception):
    """`Gate.enter(..., restart=False)`: the extension has no Store now (it faulted, or the host
    closed), so whatever was to be done in that Store (dropping a resource) is moot."""


class Gate:
    """What every call into a host's extensions goes through; also the owner its runtimes
    report to (`ExtensionRuntime`'s `Owner`: engine, config, closed, record)."""

    def __init__(self, engine: Any, engine_config: Any, *, max_depth: int, reentrancy: bool,
                 restart: Restart, record: Record, closed_error: Refusal) -> None:
        self.engine = engine
        self.engine_config = engine_config
        self.max_depth = max_depth
        self.reentrancy = reentrancy
        self.closed = False
        self.fast = True  # whether `caller` may take its inlined path (tests compare both ways)
        self.fuel = bool(engine_config.consume_fuel)
        # native stack a thread must have left to enter one more extension (see _threads.py)
        self.stack_need: int = engine_config.max_wasm_stack + HOP_MARGIN
        self._restart = restart
        self._closed_error = closed_error
        self.record = record
        self._graph = threading.Lock()
        self._waiting: dict[int, tuple[ExtensionRuntime, CallContext, str]] = {}

    # ------------------------------------------------------------------ enter / leave

    def enter(self, rt: ExtensionRuntime, ctx: CallContext, key: str, *, frame: str | None = None,
              restart: bool = True) -> BoundFunc:
        """Take `rt` for this thread and return `key`'s live bound function. The caller saved
        `ctx.room` and `ctx.levels` before and passes them to `leave` after the call; if this
        raises, nothing is held and both are restored already. Kept flat: it is the hot path.
        `frame` names the frame when it is not `key` (a destructor); with `restart=False` an
        extension without a Store is not instantiated again: `StoreGone` is raised instead."""
        frames = ctx.frames
        depth = len(frames)
        room, levels = ctx.room, ctx.levels
        label = key if frame is None else frame
        # The frame goes first and comes off last (`leave`): while it is pushed the SIGINT guard
        # defers Ctrl-C, so it never lands with `rt` taken and nothing on the stack to undo it.
        frames.append((rt.name, label))
        try:
            if FAST_DEPTH <= depth < self.max_depth:  # (the depth cap is `_take`'s to report)
                left = levels - HOP_LEVELS
                ctx.levels = left if left >= STACK_HEADROOM else self._probe_levels(rt, ctx, label, depth)
            if rt.owner != ctx.thread_id and depth < self.max_depth and rt.lock.acquire(False):
                rt.owner = ctx.thread_id  # uncontended: no need for the wait-for graph
                rt.depth = 1
                rt.active = ctx
            else:
                self._take(rt, ctx, label)
        except BaseException:
            ctx.levels = levels
            frames.pop()
            raise
        try:
            need = self.stack_need  # the estimate is enough: a few integer ops; else measure
            ctx.room = (room if room >= need else self.stack_room(rt, ctx, label)) - need
            bound = rt.funcs.get(key) if rt.store is not None and not self.fuel else None
            if bound is None:
                if not restart and (rt.store is None or self.closed):
                    raise StoreGone(rt.name)
                bound = self.live_function(rt, ctx, key)
            return bound
        except BaseException:
            self.leave(rt, ctx, room, levels)
            raise

    def leave(self, rt: ExtensionRuntime, ctx: CallContext, room: int, levels: int) -> None:
        """Undo `enter`: restore the stack budgets, release `rt`, pop the frame (last)."""
        ctx.room = room
        ctx.levels = levels
        rt.depth -= 1
        if rt.depth == 0:
            rt.owner = None
            rt.active = None
        rt.lock.release()
        ctx.frames.pop()

    def caller(self, rt: ExtensionRuntime, key: str, invoke: Invoke) -> Callable[..., Any]:
        """`key` of `rt` as a Python callable `(*args, timeout=None)`, with `enter` and `leave`
        inlined for the common call: the outermost on its thread, `rt` free, no timeout given,
        scalar arguments, no resource handles, no fuel, no async host function awaiting. Any
        other call, and any argument the fast lowering refuses, goes to `invoke`
        (`Host._invoke`: `enter`, the full lowering, `leave`), so every rule and message has one
        home there; what is inlined here is the uncontended branch of `enter` and all of
        `leave`, nothing else (tests/test_fast_caller.py runs the same calls both ways). A call is
        ~1.2 µs of C; `enter` + `leave` as two method calls cost another ~0.5 µs."""
        if rt.handle_sigs.get(key) is not None or self.fuel:
            def checked(*args: Any, timeout: float | None = None) -> Any:
                return invoke(rt, key, args, timeout, None)
            return checked
        need = self.stack_need
        frame = (rt.name, key)
        fail = self.call_failed

        def call(*args: Any, timeout: float | None = None) -> Any:
            try:
                ctx = _local.ctx
            except AttributeError:
                ctx = current_context()
            frames = ctx.frames
            room = ctx.outer_room
            if (frames or timeout is not None or room < need or rt.owner is not None or not self.fast
                    or AWAITING.get() is not None):
                return invoke(rt, key, args, timeout, None)
            # The frame goes first and comes off last: while it is pushed the SIGINT guard defers
            # Ctrl-C (delivered at the end), so it never lands with `rt` held and no frame to undo.
            frames.append(frame)
            if not rt.lock.acquire(False):
                frames.pop()
                return invoke(rt, key, args, timeout, None)
            try:
                bound = rt.funcs.get(key)
                # a restart, compound values, a wrong count: the checked path
                arr = None if bound is None or bound.needs_free or len(args) != bound.nparams else bound.lower(args)
            except Exception:
                arr = None  # the checked path says which argument is wrong
            except BaseException:
                rt.lock.release()
                frames.pop()
                raise
            if arr is None or bound is None:
                rt.lock.release()
                frames.pop()
                return invoke(rt, key, args, timeout, None)
            rt.owner = ctx.thread_id
            rt.depth = 1
            rt.active = ctx
            ctx.pending = None
            ctx.room = room - need
            limit = rt.timeout_s
            ctx.deadline = _monotonic() + limit if limit else None
            try:
                lift = bound.lift
                if lift is not None:
                    err = _func_call(bound._fref, bound._ctx, arr, bound.nargs, bound.result_ref, _ONE)
                else:
                    err = _func_call(bound._fref, bound._ctx, arr, bound.nargs, None, _NONE)
                if err:
                    raise fail(rt, key, ctx, err)
                return None if lift is None else lift(bound.result_slot)
            finally:
                ctx.room = room
                ctx.deadline = None
                rt.depth = 0
                rt.owner = None
                rt.active = None
                rt.lock.release()
                frames.pop()
                if ctx.interrupt is not None:  # Ctrl-C arrived while the frame was pushed
                    deliver_interrupt(ctx)

        return call

    def call_failed(self, rt: ExtensionRuntime, key: str, ctx: CallContext, err: Any) -> CallError:
        """The error to raise for a call from Python whose guest call returned the owned wasmtime
        error `err`: the chain's recorded failure, a host function's bad result, or the trap
        classified; `rt` is marked faulted. Called with `rt` still held."""
        text = error_text(err)
        pending, ctx.pending = ctx.pending, None
        failure = pending or stock_failure(text, ctx) or classify_error(
            text, extension=rt.name, function=key, chain=ctx.chain(),
            memory_limited=rt.limits.memory_mb is not None)
        forget_stock_exception()
        failure = note_nested_fault(rt, key, ctx, failure)
        rt.mark_faulted("interrupted" if ctx.interrupt is not None else caller_stop(failure) or failure.code)
        return failure

    def _probe_levels(self, rt: ExtensionRuntime, ctx: CallContext, key: str, depth: int) -> int:
        """Python recursion known free for this hop, probed when the estimate (less `HOP_LEVELS`
        per hop) runs out: at the first crossing of `FAST_DEPTH`, after Python host code, near
        the limit. It asks for room for the rest of the chain `max_depth` allows, so one probe
        usually covers it; if that does not fit, less, down to one hop plus `STACK_HEADROOM`."""
        want = STACK_HEADROOM + HOP_LEVELS * max(0, self.max_depth - depth - 1)
        while not has_levels(want):
            if want <= STACK_HEADROOM:
                # Hops through Python host functions cost many frames each; running out inside a
                # ctypes callback would be swallowed and misreported, so refuse the hop here.
                raise ReentrancyError(
                    f"call depth {depth} calling {rt.name}:{key} would exceed Python's recursion limit "
                    f"({sys.getrecursionlimit()}); the chain is too deep for the host functions it passes "
                    "through", extension=rt.name, function=key, chain=ctx.chain())
            want = max(STACK_HEADROOM, want // 2)
        return want

    def _take(self, rt: ExtensionRuntime, ctx: CallContext, label: str) -> None:
        """The checked way to take `rt`: the depth cap, re-entry, waiting (with deadlock detection).
        `enter` has pushed the frame for `rt` already: it is the last of `ctx.chain()`."""
        me = ctx.thread_id
        depth = len(ctx.frames) - 1
        if depth >= self.max_depth:
            raise ReentrancyError(
                f"call depth {depth} reached the cap ({self.max_depth}) calling {rt.name}:{label}",
                extension=rt.name, function=label, chain=ctx.chain())
        if rt.owner == me:
            if not self.reentrancy:
                raise ReentrancyError(
                    f"{rt.name} is already running on this call chain; re-entering it is refused",
                    extension=rt.name, function=label, chain=ctx.chain())
            rt.lock.acquire()
            rt.depth += 1
        else:
            if not rt.lock.acquire(blocking=False):
                self._wait_for(rt, ctx, label)
            rt.owner = me
            rt.depth = 1
            rt.active = ctx

    def _wait_for(self, rt: ExtensionRuntime, ctx: CallContext, label: str) -> None:
        me = ctx.thread_id
        with self._graph:
            self._waiting[me] = (rt, ctx, label)
        try:
            while True:
                if rt.lock.acquire(timeout=0.02):
                    return
                with self._graph:
                    other = self._cycle_through(me, rt)
                if other is not None:  # (each chain ends with the frame its thread waits to enter)
                    theirs = other.chain()[:-1]
                    mine = ctx.chain()
                    raise DeadlockError(
                        f"deadlock: this thread ({' → '.join(mine)}) waits for {rt.name}, which is held "
                        f"by a thread waiting for an extension this one holds ({' → '.join(theirs)})",
                        extension=rt.name, function=label, chain=mine,
                        details={"other_chain": theirs})
                if ctx.cancelled or ctx.interrupt is not None or (ctx.deadline is not None
                                                                  and time.monotonic() >= ctx.deadline):
                    why = "cancelled" if ctx.cancelled else "interrupted" if ctx.interrupt else "timed out"
                    raise CallTimeoutError(f"{rt.name}: {label} {why} waiting for {rt.name} to be free "
                                           f"(another thread is calling it)",
                                           extension=rt.name, function=label, chain=ctx.chain())
        finally:
            with self._graph:
                self._waiting.pop(me, None)

    def _cycle_through(self, me: int, rt: ExtensionRuntime) -> CallContext | None:
        """If the owner of `rt` waits (transitively) for something `me` holds, that owner's context.

        Every thread of a cycle sees it; only one (the highest thread id) is reported, so the
        others go on once it gives up instead of all failing at once."""
        owner = rt.owner
        seen: set[int] = set()
        first: CallContext | None = None
        while owner is not None and owner not in seen:
            seen.add(owner)
            entry = self._waiting.get(owner)
            if entry is None:
                return None
            if first is None:
                first = entry[1]
            nxt = entry[0].owner
            if nxt == me:
                return first if me > max(seen) else None
            owner = nxt
        return None

    # ------------------------------------------------------------------ stack, live function

    def stack_room(self, rt: ExtensionRuntime, ctx: CallContext, key: str) -> int:
        """The stack really left, measured when the estimate says there is no room for entering
        `rt`; refuses the hop if there is none. A Store entered again keeps the budget it got
        first, so re-entering one needs only the host frames of a hop."""
        sp = stack_pointer()
        if not sp:  # pragma: no cover - cannot measure here
            return self.stack_need
        needed = HOP_MARGIN if rt.depth > 1 else self.stack_need
        left = sp - ctx.stack_lo
        if left < needed:
            chain = ctx.chain()
            raise TrapError(
                f"{rt.name}: {key} not entered: call stack exhausted: {left // 1024} KiB of native stack are "
                f"left on this thread after {len(chain) - 1} extension call(s), entering {rt.name} needs "
                f"{needed // 1024} KiB (its max_wasm_stack plus {HOP_MARGIN // 1024} KiB for host frames)",
                extension=rt.name, function=key, chain=chain,
                details={"reason": "call stack exhausted", "stack_left": left, "stack_needed": needed})
        return left

    def live_function(self, rt: ExtensionRuntime, ctx: CallContext, key: str) -> BoundFunc:
        """The bound function of `key`, instantiating `rt` again first if it faulted."""
        if self.closed:
            raise self._closed_error(rt.name, key)
        if rt.store is None:
            self._restart(rt, ctx, key)
        bound = rt.funcs.get(key)
        if bound is None:
            raise NoSuchFunctionError(f"{rt.name} exports no function {key!r}", extension=rt.name,
                                      function=key, chain=ctx.chain())
        if self.fuel and rt.limits.fuel is not None and rt.store is not None:
            rt.store.set_fuel(rt.limits.fuel)
        return bound
