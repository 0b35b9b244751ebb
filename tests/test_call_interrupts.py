"""The call path under attack (Gate.caller, the checked path, raw resource destructors): Ctrl-C
at every line of an outer call, a KeyboardInterrupt while lowering, a destructor trapping under
its provider's own frame, a looping destructor dropped from Python.

Ctrl-C: on the main thread the SIGINT guard (`_threads._sigint_guard`) raises KeyboardInterrupt
when no guest frame is pushed (`ctx.frames` empty) and only records the signal otherwise. The
sweeps below emulate exactly that rule before each line of harness code an outer call runs (one
line per trial) and check the call leaves nothing behind: the extension free for other threads,
no owner, no frame, the stack budget and deadline restored, no recorded interrupt left over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import harness
from harness.model._errors import CallError
from harness.runtime._calls import current_context
from harness.runtime._extension import ExtensionRuntime
from harness.runtime._host import Host

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
CALC = "test:calc/lib@1.2.0"
PKG = str(Path(harness.__file__).resolve().parent)


def _free_elsewhere(rt: ExtensionRuntime) -> bool:
    """Whether another thread can take `rt` now."""
    got: list[bool] = []

    def probe() -> None:
        ok = rt.lock.acquire(timeout=0)
        if ok:
            rt.lock.release()
        got.append(ok)
    t = threading.Thread(target=probe)
    t.start()
    t.join(5)
    return got == [True]


def _left_behind(rt: ExtensionRuntime) -> list[str]:
    ctx = current_context()
    checks = (("lock", not _free_elsewhere(rt)), ("owner", rt.owner is not None), ("frames", bool(ctx.frames)),
              ("room", ctx.room != ctx.outer_room), ("deadline", ctx.deadline is not None),
              ("interrupt", ctx.interrupt is not None))
    return [name for name, bad in checks if bad]


def _repair(rt: ExtensionRuntime) -> None:
    ctx = current_context()
    while rt.lock._is_owned():  # type: ignore[attr-defined]
        rt.lock.release()
    rt.owner, rt.depth, rt.active = None, 0, None
    ctx.frames.clear()
    ctx.deadline = ctx.cancel = ctx.interrupt = None
    ctx.room = ctx.outer_room


def _sigint_sweep(rt: ExtensionRuntime, call: Callable[[], Any],
                  warm: Callable[[], Any]) -> list[tuple[str, list[str]]]:
    """(place, what was left behind) for each line of harness code before which a SIGINT leaves
    state behind. `warm` makes the next trial start as the first did (a fault is restarted first)."""
    ctx = current_context()
    found: list[tuple[str, list[str]]] = []
    n = 0
    while True:
        n += 1
        seen = [0]
        hit: list[str] = []

        def tracer(frame: Any, event: str, _arg: Any, n: int = n, seen: list[int] = seen,
                   hit: list[str] = hit) -> Any:
            name = frame.f_code.co_filename
            if not (name.startswith(PKG) or name.startswith("<ext-harness")):
                return None
            if event == "line":
                seen[0] += 1
                if seen[0] == n:
                    hit.append(f"{Path(name).name}:{frame.f_lineno}")
                    if ctx.frames:  # the guard's rule (_threads._sigint_guard)
                        if ctx.interrupt is None:
                            ctx.interrupt = (signal.SIGINT, None)
                    else:
                        raise KeyboardInterrupt
            return tracer

        old = sys.gettrace()
        sys.settrace(tracer)
        try:
            call()
        except (KeyboardInterrupt, CallError):  # interrupted: as Ctrl-C, or as a guest stopped by it
            pass
        finally:
            sys.settrace(old)
        if not hit:  # the call ran fewer lines than n: every place was tried
            return found
        left = _left_behind(rt)
        if left:
            found.append((hit[0], left))
        _repair(rt)
        if rt.store is None:  # stopped as interrupted while the guest ran: start the next trial as the first
            warm()
        assert n < 2000, "the sweep does not end"


@pytest.fixture
def calc(tmp_path: Path) -> Any:
    with Host.load(HOST / "calc.wat", cache_dir=str(tmp_path), timeout_ms=2000, restart_budget=1_000_000) as host:
        yield host


def test_ctrl_c_anywhere_in_an_inlined_call_leaves_the_extension_free(calc: Host) -> None:
    add = calc.function("calc", f"{CALC}#add")
    assert add(1, 2) == 3  # measures the thread: later calls take the inlined path
    found = _sigint_sweep(calc.runtimes["calc"], lambda: add(1, 2), lambda: add(0, 0))
    assert found == []


def test_ctrl_c_anywhere_in_a_checked_call_leaves_the_extension_free(calc: Host) -> None:
    calc._gate.fast = False
    add = calc.function("calc", f"{CALC}#add")
    assert add(1, 2) == 3
    found = _sigint_sweep(calc.runtimes["calc"], lambda: add(1, 2), lambda: add(0, 0))
    assert found == []


def test_keyboard_interrupt_while_lowering_leaves_the_extension_free(calc: Host) -> None:
    add = calc.function("calc", f"{CALC}#add")
    assert add(1, 2) == 3
    rt = calc.runtimes["calc"]
    bound = rt.funcs[f"{CALC}#add"]
    real = bound.lower

    def interrupted(values: tuple[Any, ...]) -> Any:
        bound.lower = real
        raise KeyboardInterrupt
    bound.lower = interrupted
    with pytest.raises(KeyboardInterrupt):
        add(3, 4)
    try:
        assert _left_behind(rt) == []
        got: list[Any] = []

        def other() -> None:
            try:
                got.append(calc.call("calc", f"{CALC}#add", 5, 6, timeout=0.5))
            except CallError as e:
                got.append(e.code)
        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert got == [11]
    finally:
        _repair(rt)


# ------------------------------------------------------------------ a destructor trapping under its own frame

CB = "test:host/cb@1.0.0"
LIB = "test:res/counter@1.0.0"
USER = "test:res/user@1.0.0"
_DTOR = '(func (export "dtor") (param $rep i32)\n'


def _counter_calling_the_host() -> str:
    """counter.wat whose destructor traps for a counter at 13, with an export `call-host(x)` that
    calls the host's `cb(x)` (and adds 1000): a provider with frames up the stack while a consumer
    the host function calls drops one of its resources."""
    src = (HOST / "counter.wat").read_text()
    edits = [
        (_DTOR, _DTOR + '      (if (i32.eq (i32.load offset=4 (i32.mul (local.get $rep) (i32.const 8))) '
                        '(i32.const 13))\n        (then unreachable))\n'),
        ("(component\n  (core module $state",
         f'(component\n  (import "{CB}" (instance $host (export "cb" (func (param "x" u32) (result u32)))))\n'
         '  (core func $cb (canon lower (func $host "cb")))\n  (core module $state'),
        ('    (import "r" "drop" (func $drop (param i32)))\n',
         '    (import "r" "drop" (func $drop (param i32)))\n'
         '    (import "h" "cb" (func $cb (param i32) (result i32)))\n'
         '    (func (export "call-host") (param i32) (result i32)\n'
         '      (i32.add (call $cb (local.get 0)) (i32.const 1000)))\n'),
        ('(export "drop" (func $drop))))))',
         '(export "drop" (func $drop))))\n    (with "h" (instance (export "cb" (func $cb))))))'),
        ('  (func $boom (canon lift (core func $i "boom")))\n',
         '  (func $boom (canon lift (core func $i "boom")))\n'
         '  (func $call-host (param "x" u32) (result u32) (canon lift (core func $i "call-host")))\n'),
        ('    (import "boom" (func $boom))\n',
         '    (import "boom" (func $boom))\n    (import "call-host" (func $call-host (param "x" u32) (result u32)))\n'
         '    (export "call-host" (func $call-host))\n'),
        ('(with "boom" (func $boom))))', '(with "boom" (func $boom)) (with "call-host" (func $call-host))))'),
    ]
    for old, new in edits:
        assert src.count(old) == 1, old
        src = src.replace(old, new)
    return src


def test_a_destructor_trapping_under_the_providers_own_frame_is_named(tmp_path: Path) -> None:
    (tmp_path / "counter.wat").write_text(_counter_calling_the_host())
    (tmp_path / "counter_user.wat").write_text((HOST / "counter_user.wat").read_text())
    host: Host | None = None
    seen: list[str] = []

    def cb(x: int) -> int:  # counter -> host -> counter_user -> counter (re-entered), which drops at 13
        assert host is not None
        try:
            return int(host.call("counter_user", f"{USER}#run", x))
        except CallError as e:
            seen.append(e.function or "")
            return 7  # caught, and back into counter's guest code

    with Host.load(tmp_path, cache_dir=str(tmp_path / ".cache"), reentrancy=True,
                   interfaces={CB: {"cb": cb}}) as loaded:
        host = loaded
        assert not host.errors, host.errors
        assert host.call("counter", f"{LIB}#call-host", 1) == 1004
        with pytest.raises(CallError) as info:
            host.call("counter", f"{LIB}#call-host", 10)
        assert seen == ["test:res/counter#[dtor]counter"]
        err = info.value
        assert (err.code, err.extension) == ("trap", "counter")
        assert "BUG" not in err.message
        assert "test:res/counter#[dtor]counter" in err.message and "failed earlier" in err.message
        # no crash, and both go on
        assert host.call("counter_user", f"{USER}#run", 1) == 4
        assert host.call("counter", f"{LIB}#live") == 0


# ------------------------------------------------------------------ Handle.drop from Python

def test_a_looping_destructor_dropped_from_python_is_stopped_by_the_time_limit(tmp_path: Path) -> None:
    src = (HOST / "counter.wat").read_text()
    assert src.count(_DTOR) == 1
    (tmp_path / "counter.wat").write_text(src.replace(_DTOR, _DTOR + "      (loop $l (br $l))\n"))
    script = textwrap.dedent(f"""
        import time
        from harness import Host
        from harness.model._errors import CallError
        with Host.load({str(tmp_path / "counter.wat")!r}, cache_dir={str(tmp_path / ".cache")!r},
                       timeout_ms=200) as host:
            h = host.call("counter", "{LIB}#make", 1)
            t = time.monotonic()
            try:
                h.drop()
                print("returned", flush=True)
            except CallError as e:
                print("stopped", e.code, round(time.monotonic() - t, 1), flush=True)
    """)
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=8,
                             env={**os.environ, "PYTHONPATH": str(root)}, cwd=root)
    except subprocess.TimeoutExpired:
        pytest.fail("Handle.drop() of a looping destructor did not return within 8 s (timeout_ms=200)")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[:2] == ["stopped", "timeout"], out.stdout


def test_faults_for_the_callers_sake_are_not_charged_to_the_restart_budget(tmp_path: Path) -> None:
    """Before: cancelled calls of an extension used its restart budget like traps do: after
    `restart_budget` cancellations it was faulted for good. A trap is still charged, and so is a
    call's own `timeout=`."""
    import asyncio

    with Host.load(HOST / "calc.wat", cache_dir=str(tmp_path), restart_budget=1) as host:
        async def cancel_spin() -> None:
            task = asyncio.ensure_future(host.acall("calc", f"{CALC}#spin"))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        for _ in range(4):
            asyncio.run(cancel_spin())
            assert host.call("calc", f"{CALC}#add", 1, 2) == 3  # restarted, not charged
        assert host.runtimes["calc"].restarts == 0
        with pytest.raises(CallError):
            host.call("calc", f"{CALC}#boom")  # a trap: charged
        assert host.call("calc", f"{CALC}#add", 2, 2) == 4
        with pytest.raises(CallError):
            host.call("calc", f"{CALC}#boom")
        with pytest.raises(CallError) as info:
            host.call("calc", f"{CALC}#add", 2, 2)
        assert info.value.code == "extension-faulted" and "used its 1 restart" in info.value.message
