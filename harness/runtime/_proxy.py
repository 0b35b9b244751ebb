"""Proxy functions: a consumer's library import forwarding to the provider's export.

Each proxy is a raw C callback registered with `wasmtime_component_linker_instance_add_func`.
It hands the caller's argument and result arrays straight to the provider's function (no
Python values are built on a hop) and looks the provider's function up on every call, so
a provider restarted in a fresh Store is picked up without relinking.
"""

from __future__ import annotations

import ctypes
import itertools
from typing import TYPE_CHECKING, Any

from wasmtime import _ffi as ffi

from ..model._errors import CallError, ExtensionFaultedError
from ._calls import classify_error, current_context, error_text, new_error, note_nested_fault, stock_failure

if TYPE_CHECKING:
    from ._extension import ExtensionRuntime
    from ._host import Host

__all__ = ["FAST_DEPTH", "PROXIES", "Proxy", "proxy_callback", "proxy_finalize", "register"]

FAST_DEPTH = 16  # deeper chains take the checked path, which also measures Python's stack


class Proxy:
    """One imported function of a consumer, forwarding to the provider's export."""

    __slots__ = ("consumer", "host", "key", "label", "provider")

    def __init__(self, host: Host, consumer: str, provider: ExtensionRuntime, key: str) -> None:
        self.host = host
        self.consumer = consumer
        self.provider = provider
        self.key = key
        self.label = key

    def forward(self, args: Any, nargs: int, results: Any, nresults: int) -> int:
        """Hand the caller's C arrays to the provider's function; never raises into C."""
        host = self.host
        ctx = current_context()
        rt = self.provider
        frames = ctx.frames
        try:
            if rt.owner != ctx.thread_id and len(frames) < FAST_DEPTH and rt.lock.acquire(False):
                rt.owner = ctx.thread_id
                rt.depth = 1
                rt.active = ctx
                frames.append((rt.name, self.key, rt))
            else:
                host._enter(rt, ctx, self.key)
        except CallError as e:
            if ctx.pending is None:
                ctx.pending = e
            return new_error(str(e))
        room = ctx.room
        try:
            need = host._stack_need  # the estimate is enough: a few integer ops; else measure
            ctx.room = (room if room >= need else host._stack_room(rt, ctx, self.key)) - need
            bound = rt.funcs.get(self.key) if rt.store is not None and not host._fuel else None
            if bound is None:
                bound = host._live_function(rt, ctx, self.key)
            err = bound.raw_call(args, nargs, results, nresults)
            if err:
                text = error_text(err)
                if ctx.pending is None:
                    failure = stock_failure(text, ctx) or classify_error(
                        text, extension=rt.name, function=self.key, chain=ctx.chain(),
                        memory_limited=rt.limits.memory_mb is not None)
                    ctx.pending = note_nested_fault(rt, self.key, ctx, failure)
                elif rt.depth > 1:
                    rt.nested_fault = ctx.pending
                rt.mark_faulted(ctx.pending.code)
                return new_error(text)
            return 0
        except CallError as e:
            if ctx.pending is None:
                ctx.pending = e
            return new_error(str(e))
        except BaseException as e:  # never into C
            if ctx.pending is None:
                err2 = ExtensionFaultedError(f"{rt.name}: proxy failed: {e!r}", extension=rt.name,
                                             function=self.key, chain=ctx.chain())
                err2.__cause__ = e
                ctx.pending = err2
            return new_error(f"ext-harness: proxy failed: {e!r}")
        finally:
            ctx.room = room
            frames.pop()
            rt.depth -= 1
            if rt.depth == 0:
                rt.owner = None
                rt.active = None
            rt.lock.release()


PROXIES: dict[int, Proxy] = {}
_proxy_ids = itertools.count(1)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def proxy_callback(data: Any, _context: Any, _ty: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
    try:
        return PROXIES[data or 0].forward(args, nargs, results, nresults)
    except BaseException as e:  # pragma: no cover - forward() already catches
        return new_error(f"ext-harness: proxy failed: {e!r}")


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def proxy_finalize(data: Any) -> None:
    PROXIES.pop(data or 0, None)


def register(proxy: Proxy) -> int:
    """Keep `proxy` alive under a fresh id, the `data` pointer its C callback receives."""
    pid = next(_proxy_ids)
    PROXIES[pid] = proxy
    return pid
