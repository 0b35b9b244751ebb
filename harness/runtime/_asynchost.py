"""Async host functions: an `async def` served to guests through `Host.load(..., interfaces=...)`.

A guest calls host functions synchronously, on the thread its call runs on, so the
coroutine must be run to completion while that thread waits. Where it runs:
- a guest call made by `Host.acall` runs on a worker thread; the coroutine runs on the
  event loop that awaits the `acall` (`run_coroutine_threadsafe`), so it shares the
  loop's connections, locks and tasks, and the loop is never blocked;
- a sync call (`host.call`) runs it on a private event loop of the calling thread, made
  once per thread and reused (a loop per call would cost a selector and a socket pair);
  if that thread is already running an event loop (a sync call made from a coroutine),
  on a helper thread's loop instead, since one thread cannot run two loops.

While it waits, the guest's thread checks what the epoch callback checks for a running
guest: the call's deadline, its cancellation, Ctrl-C and `Host.close()`. When one of them
fires, the coroutine is cancelled (it sees `CancelledError`), the call fails with a
`timeout` error saying why, and the guest is stopped as after a timeout.

A coroutine that calls back into an extension its guest call holds would wait for itself
(the extension's lock is held by the thread waiting for the coroutine): `awaiting()` tells
`acall` and `host.call` which extensions that is, so they refuse with `reentrancy`
instead of hanging until the deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from ..model._errors import CallTimeoutError, HostFunctionError, ReentrancyError

__all__ = ["AWAITING", "Awaiting", "awaiting", "refuse_awaited", "run_host_coroutine"]

POLL = 0.02  # seconds between checks of the deadline, cancellation, Ctrl-C and close()
SETTLE = 1.0  # seconds a cancelled coroutine gets to finish unwinding before the guest is stopped


class _Context(Protocol):
    """What this module reads of the thread's `CallContext` (`_calls.py`)."""

    frames: list[tuple[str, str]]
    thread_id: int
    deadline: float | None
    interrupt: tuple[int, Any] | None
    loop: asyncio.AbstractEventLoop | None

    @property
    def cancelled(self) -> bool: ...

    def chain(self) -> list[str]: ...


@dataclass(slots=True)
class Awaiting:
    """A guest call waiting for a host coroutine: the extensions it holds meanwhile."""

    function: str
    extensions: frozenset[str]
    active: bool = True


AWAITING: ContextVar[Awaiting | None] = ContextVar("ext_harness_awaiting", default=None)


def awaiting() -> Awaiting | None:
    """The guest call the running coroutine was started for, while that call waits for it."""
    found = AWAITING.get()
    return found if found is not None and found.active else None


def refuse_awaited(found: Awaiting, extension: str, function: str) -> None:
    """Raise `reentrancy` if calling `extension` from the coroutine of `found` would wait for itself."""
    if extension in found.extensions:
        raise ReentrancyError(
            f"{extension} is waiting for the async host function {found.function} to finish; calling "
            f"{extension}:{function} from it would wait for itself, so it is refused",
            extension=extension, function=function, chain=[f"host:{found.function}", f"{extension}:{function}"])


class _Owned:
    """A thread's private loop; dropped with the thread's locals when the thread ends, which closes it."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.close()


_private = threading.local()
_helper: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
_helper_lock = threading.Lock()


def _private_loop() -> asyncio.AbstractEventLoop:
    owned: _Owned | None = getattr(_private, "owned", None)
    if owned is None or owned.loop.is_closed():
        owned = _private.owned = _Owned()
    return owned.loop


def _helper_loop() -> asyncio.AbstractEventLoop:
    """A loop on a daemon thread of its own, for coroutines of sync calls made on a thread
    that already runs an event loop (started the first time that happens)."""
    global _helper
    with _helper_lock:
        if _helper is None or not _helper[1].is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="ext-harness-host-coroutines", daemon=True)
            thread.start()
            _helper = (loop, thread)
        return _helper[0]


def _stop_reason(ctx: _Context, closed: Callable[[], bool] | None) -> str | None:
    if ctx.interrupt is not None:
        return "interrupted"
    if ctx.cancelled:
        return "cancelled"
    if closed is not None and closed():
        return "closed"
    deadline = ctx.deadline
    if deadline is not None and time.monotonic() >= deadline:
        return "timeout"
    return None


def _step(ctx: _Context) -> float:
    deadline = ctx.deadline
    if deadline is None:
        return POLL
    return max(0.0, min(POLL, deadline - time.monotonic()))


_WHAT = {"timeout": "ran past the call's time limit", "cancelled": "was cancelled with the call",
         "closed": "was stopped: the host was closed", "interrupted": "was interrupted (SIGINT)",
         "loop closed": "could not finish: the event loop it ran on was closed"}


def _stopped(name: str, why: str, ctx: _Context) -> CallTimeoutError:
    top = ctx.frames[-1][0] if ctx.frames else None
    return CallTimeoutError(
        f"{top + ': ' if top else ''}async host function {name} {_WHAT[why]}; it was cancelled",
        extension=top, function=name, chain=[*ctx.chain(), f"host:{name}"],
        details={"reason": f"ext-harness: {'cancelled' if why == 'loop closed' else why}"})


def _cancelled_itself(name: str, ctx: _Context) -> HostFunctionError:
    """The coroutine ended cancelled with nobody having asked (its own `CancelledError`, a task it
    awaited being cancelled): the host function failed, which is not a stop for the caller's sake."""
    top = ctx.frames[-1][0] if ctx.frames else None
    return HostFunctionError(
        f"async host function {name} ended cancelled on its own (a CancelledError nobody asked for)",
        extension=top, function=name, chain=[*ctx.chain(), f"host:{name}"])


def run_host_coroutine(name: str, coro: Coroutine[Any, Any, Any], ctx: _Context,
                       closed: Callable[[], bool] | None = None) -> Any:
    """Run the coroutine a host function returned, to completion, while the guest waits."""
    mark = Awaiting(name, frozenset(ext for ext, _ in ctx.frames))
    finished = threading.Event()
    gate = threading.Lock()
    state = {"started": False, "abandoned": False}

    async def run() -> Any:
        with gate:
            if state["abandoned"]:
                return None
            state["started"] = True
        AWAITING.set(mark)  # in the task's own copy of the context: seen by calls it makes
        try:
            return await coro
        finally:
            finished.set()

    main = run()
    try:
        loop = ctx.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return _run_here(name, main, ctx, closed)
            loop = _helper_loop()  # this thread runs a loop already: it cannot run another one
        try:
            fut = asyncio.run_coroutine_threadsafe(main, loop)
        except RuntimeError:  # the loop was closed just now
            return _run_here(name, main, ctx, closed)
        return _wait_threadsafe(name, fut, loop, finished, ctx, closed)
    finally:
        mark.active = False
        with gate:
            if not state["started"]:  # stopped before it began: it never will
                state["abandoned"] = True
                coro.close()  # (no "never awaited" warning)


def _wait_threadsafe(name: str, fut: concurrent.futures.Future[Any], loop: asyncio.AbstractEventLoop,
                     finished: threading.Event, ctx: _Context, closed: Callable[[], bool] | None) -> Any:
    while True:
        why = "loop closed" if loop.is_closed() else _stop_reason(ctx, closed)  # its task never runs again
        if why is not None:
            fut.cancel()  # cancels the task on its loop
            if why not in ("closed", "loop closed"):  # close() may be running on that very loop: no waiting
                finished.wait(SETTLE)
            raise _stopped(name, why, ctx)
        concurrent.futures.wait((fut,), timeout=_step(ctx))
        if fut.done():
            if fut.cancelled():  # cancelled on the loop's side: the loop shutting down, or by itself
                raise _stopped(name, "loop closed", ctx) if loop.is_closed() else _cancelled_itself(name, ctx)
            return fut.result()


def _run_here(name: str, main: Coroutine[Any, Any, Any], ctx: _Context, closed: Callable[[], bool] | None) -> Any:
    loop = _private_loop()
    task = loop.create_task(main)
    try:
        while not task.done():
            why = _stop_reason(ctx, closed)
            if why is not None:
                task.cancel()
                loop.run_until_complete(asyncio.wait((task,), timeout=SETTLE))
                raise _stopped(name, why, ctx)
            loop.run_until_complete(asyncio.wait((task,), timeout=_step(ctx)))
        if task.cancelled():  # nobody here cancelled it (that is the loop above): it did
            raise _cancelled_itself(name, ctx)
        return task.result()
    finally:
        if not task.done():  # it ignored its cancellation: it goes on the next time this loop runs
            task.cancel()
