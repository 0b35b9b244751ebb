"""What a guest call needs from the thread it runs on: native stack, and a safe Ctrl-C.

Native stack. wasmtime gives every Store `max_wasm_stack` bytes, counted from the stack
pointer at which the Store is first entered, but all Stores of a call chain run on the
calling thread's one native stack: ten chained extensions each using their budget need
ten budgets, and overrunning the thread's stack is a SIGSEGV, not a trap. So the host
budgets the stack per thread. Python cannot read the stack pointer cheaply, so each
thread keeps a conservative estimate of what is left (`CallContext.room`): entering a Store lowers it
by the Store's budget plus `HOP_MARGIN` (the host frames of one hop: wasmtime's
trampoline, ctypes, Python); only when the estimate says "no room" is the real stack
pointer measured (about a microsecond), and the hop refused if it really does not fit.
Threads whose whole stack cannot hold one Store (`ulimit -s 1024`) hand their guest
calls to threads created with `BIG_STACK`; async workers are created with it too.
Linux only (pthread_getattr_np, dl_iterate_phdr); elsewhere nothing is measured and
nothing is refused.

Ctrl-C. While wasm runs, Python runs only inside C callbacks (epoch ticks, proxies, host
functions). A Python signal handler runs at the first instruction of such a callback,
outside any `try`: ctypes prints its KeyboardInterrupt as "Exception ignored" and hands
C an uninitialised return value. So on the main thread the SIGINT handler is wrapped:
while a guest call runs there the signal is only recorded (`CallContext.interrupt`), the
epoch callback stops the guest at its next tick, and the outermost call then runs the
original handler (KeyboardInterrupt by default).
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from ._calls import CallContext, current_context

__all__ = [
    "BIG_STACK",
    "HOP_MARGIN",
    "big_stack_pool",
    "big_stacks",
    "deliver_interrupt",
    "prepare_thread",
    "stack_pointer",
]

BIG_STACK = 32 * 1024 * 1024  # stack of the threads guest calls are handed to
HOP_MARGIN = 256 * 1024  # host frames below a Store's own budget: trampolines, ctypes, Python, unwinding
OUTER_SLACK = 256 * 1024  # how much deeper than its first call a thread's later outer calls may start
GUARD = 64 * 1024  # kept free above the lowest address the thread's stack may reach
MAIN_GAP = 1024 * 1024  # Linux keeps this gap between the main stack and a mapping below it

_libc: Any = None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.pthread_self.restype = ctypes.c_ulong
    _libc.pthread_getattr_np.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    _libc.pthread_attr_getstack.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                            ctypes.POINTER(ctypes.c_size_t)]
    _libc.pthread_attr_destroy.argtypes = [ctypes.c_void_p]
    _PHDR_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
    _libc.dl_iterate_phdr.argtypes = [_PHDR_CB, ctypes.c_void_p]
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _libc = None


def _phdr_probe(info: int | None, _size: int, data: int | None) -> int:
    # `info` points at a local of dl_iterate_phdr: an address just below the caller's frame
    if data:
        ctypes.c_size_t.from_address(data).value = info or 0
    return 1  # stop after the first object


_probe = _PHDR_CB(_phdr_probe) if _libc is not None else None


def stack_pointer() -> int:
    """An address on the current thread's stack a little below the caller's frame (0: unknown)."""
    if _probe is None:  # pragma: no cover - not Linux
        return 0
    out = ctypes.c_size_t(0)
    _libc.dl_iterate_phdr(_probe, ctypes.byref(out))
    return int(out.value)


def _stack_bounds(main: bool) -> tuple[int, int] | None:
    """(lowest, highest) address of this thread's stack, from pthread_getattr_np."""
    if _libc is None:  # pragma: no cover - not Linux
        return None
    attr = ctypes.create_string_buffer(256)  # pthread_attr_t is 56-64 bytes
    if _libc.pthread_getattr_np(_libc.pthread_self(), attr) != 0:
        return None
    try:
        addr, size = ctypes.c_void_p(), ctypes.c_size_t()
        if _libc.pthread_attr_getstack(attr, ctypes.byref(addr), ctypes.byref(size)) != 0 or not addr.value:
            return None
        lo, hi = int(addr.value), int(addr.value) + int(size.value)
    finally:
        _libc.pthread_attr_destroy(attr)
    if main:
        lo = max(lo, _main_floor(hi))
    return (lo, hi) if lo < hi else None


def _main_floor(top: int) -> int:
    """The lowest address the main thread's stack can grow to, by the kernel's rule: its
    rlimit, and a guard gap above the mapping below it (glibc reports the mapping's end)."""
    import resource
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    floor = top - soft if soft != resource.RLIM_INFINITY else 0
    spans: list[tuple[int, int]] = []
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
            for line in f:
                start, _, end = line.split(" ", 1)[0].partition("-")
                spans.append((int(start, 16), int(end, 16)))
    except (OSError, ValueError):
        return floor
    stack_lo = min((lo for lo, hi in spans if lo < top <= hi), default=top)
    below = max((hi for lo, hi in spans if hi <= stack_lo), default=0)
    return max(floor, below + MAIN_GAP) if below else floor


def prepare_thread(ctx: CallContext) -> None:
    """Measure this thread's stack once, and guard SIGINT if it is the main thread."""
    main = threading.current_thread() is threading.main_thread()
    bounds = _stack_bounds(main)
    sp = stack_pointer() if bounds is not None else 0
    if bounds is None or not bounds[0] < sp <= bounds[1]:
        ctx.stack_lo, ctx.outer_room = 0, sys.maxsize  # unknown: nothing is refused
    else:
        ctx.stack_lo = bounds[0] + GUARD
        ctx.outer_room = max(0, sp - OUTER_SLACK - ctx.stack_lo)
    ctx.room = ctx.outer_room
    if main:
        _guard_sigint()
    ctx.prepared = True


# ------------------------------------------------------------------ threads with a big stack

_size_lock = threading.RLock()


@contextmanager
def big_stacks() -> Iterator[None]:
    """Threads started inside get `BIG_STACK` (the setting is process-wide, so it is restored)."""
    with _size_lock:
        try:
            old = threading.stack_size(BIG_STACK)
        except (ValueError, RuntimeError):  # pragma: no cover - platform refuses the size
            yield
            return
        try:
            yield
        finally:
            threading.stack_size(old)


# Not functools.cache: two threads missing at once could each start a pool (one would leak).
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def big_stack_pool() -> Callable[..., Any]:
    """`submit` of a shared pool whose threads have `BIG_STACK`; for sync calls made from
    threads too small to hold a Store (their caller blocks, so the pool is only as busy as
    the number of such threads calling at once)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ext-harness-stack")
        pool = _pool

    def submit(fn: Callable[..., Any], *args: Any) -> Any:
        with big_stacks():
            return pool.submit(fn, *args)

    return submit


# ------------------------------------------------------------------ SIGINT

_previous: Any = None  # the SIGINT handler the guard wraps


def _sigint_guard(signum: int, frame: Any) -> None:
    ctx = current_context()
    if ctx.frames:  # a guest call runs on this (the main) thread: stop it first
        if ctx.interrupt is None:
            ctx.interrupt = (signum, frame)
        return
    _run_previous(signum, frame)


def _run_previous(signum: int, frame: Any) -> None:
    prev = _previous
    if callable(prev):
        prev(signum, frame)
    else:
        raise KeyboardInterrupt


def _guard_sigint() -> None:
    """Wrap a Python-level SIGINT handler (none is wrapped if SIGINT is ignored or default)."""
    global _previous
    try:
        current = signal.getsignal(signal.SIGINT)
        if not callable(current) or current is _sigint_guard:
            return
        _previous = current
        signal.signal(signal.SIGINT, _sigint_guard)
    except (ValueError, OSError):  # pragma: no cover - not the main thread of the main interpreter
        return


def deliver_interrupt(ctx: CallContext) -> None:
    """Run the handler of a SIGINT recorded during the call (KeyboardInterrupt by default)."""
    pending, ctx.interrupt = ctx.interrupt, None
    if pending is not None:
        _run_previous(*pending)
