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
from ._calls import (
    SIZES,
    CallContext,
    _func_call,
    caller_stop,
    classify_error,
    current_context,
    error_text,
    new_error,
    stock_failure,
)
from ._gate import Gate, note_nested_fault

if TYPE_CHECKING:
    from ._extension import ExtensionRuntime

__all__ = ["PROXIES", "Proxy", "provider_failed", "proxy_callback", "proxy_finalize", "register"]


class Proxy:
    """One imported function of a consumer, forwarding to the provider's export."""

    __slots__ = ("consumer", "gate", "key", "label", "provider")

    def __init__(self, gate: Gate, consumer: str, provider: ExtensionRuntime, key: str) -> None:
        self.gate = gate
        self.consumer = consumer
        self.provider = provider
        self.key = key
        self.label = key

    def _failed(self, rt: ExtensionRuntime, ctx: CallContext, e: BaseException) -> int:
        """Record `e` as the chain's failure (unless one is recorded already); the C error to return."""
        if isinstance(e, CallError):
            if ctx.pending is None:
                ctx.pending = e
            return new_error(str(e))
        if ctx.pending is None:
            err = ExtensionFaultedError(f"{rt.name}: proxy failed: {e!r}", extension=rt.name,
                                        function=self.key, chain=ctx.chain())
            err.__cause__ = e
            ctx.pending = err
        return new_error(f"ext-harness: proxy failed: {e!r}")


PROXIES: dict[int, Proxy] = {}
_proxy_ids = itertools.count(1)


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def proxy_callback(data: Any, _context: Any, _ty: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
    """The C callback of every proxy: hand the caller's C arrays to the provider's function;
    never raises into C. The whole hop is this one function, not a call into a method: a chain
    keeps one Python frame alive per hop, and deep chains were measurably slower with three."""
    try:
        proxy = PROXIES[data or 0]
        gate = proxy.gate
        ctx = current_context()
        rt = proxy.provider
        key = proxy.key
        room, levels = ctx.room, ctx.levels
    except BaseException as e:  # pragma: no cover - a proxy outliving its host
        return new_error(f"ext-harness: proxy failed: {e!r}")
    try:
        bound = gate.enter(rt, ctx, key)
    except BaseException as e:  # never into C
        return proxy._failed(rt, ctx, e)
    try:
        err = _func_call(bound._fref, bound._ctx, args, SIZES[nargs], results, SIZES[nresults])
        return provider_failed(rt, key, ctx, err) if err else 0
    except BaseException as e:  # never into C
        return proxy._failed(rt, ctx, e)
    finally:
        gate.leave(rt, ctx, room, levels)


def provider_failed(rt: ExtensionRuntime, key: str, ctx: CallContext, err: Any) -> int:
    """The provider's call of `key` failed with the owned wasmtime error `err`: keep the chain's
    first failure in `ctx.pending` (an inner one already recorded stays), fault the provider,
    and return the C error the caller's wasm propagates. Every proxy's error path."""
    text = error_text(err)
    if ctx.pending is None:
        failure = stock_failure(text, ctx) or classify_error(
            text, extension=rt.name, function=key, chain=ctx.chain(),
            memory_limited=rt.limits.memory_mb is not None)
        ctx.pending = note_nested_fault(rt, key, ctx, failure)
    elif rt.depth > 1:
        rt.nested_fault = ctx.pending
    rt.mark_faulted(caller_stop(ctx.pending) or ctx.pending.code)
    return new_error(text)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def proxy_finalize(data: Any) -> None:
    PROXIES.pop(data or 0, None)


def register(proxy: Proxy) -> int:
    """Keep `proxy` alive under a fresh id, the `data` pointer its C callback receives."""
    pid = next(_proxy_ids)
    PROXIES[pid] = proxy
    return pid
