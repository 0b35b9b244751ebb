"""Dropping handles from Python as calls (a drop that cannot enter keeps its handle, one made stale
while it waited does nothing, its frame names the destructor, a coroutine its extension awaits is
refused), and which faults are charged to the restart budget (a cancelled restart's init is not,
a host coroutine cancelling itself is)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.model._errors import CallError
from harness.runtime._calls import caller_stop
from harness.runtime._extension import ExtensionRuntime
from harness.runtime._host import Host

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
LIB = "test:res/counter@1.0.0"
ECHO = "test:echo/lib@1.0.0"
CB = "test:host/cb@1.0.0"
_DTOR = '(func (export "dtor") (param $rep i32)\n'


@contextmanager
def _busy(rt: ExtensionRuntime, fault: bool = False) -> Iterator[threading.Event]:
    """Another thread holds `rt` (as its call would) until the yielded event is set; with
    `fault`, that call faults `rt` (as a trap does) before letting it go."""
    held, release = threading.Event(), threading.Event()

    def run() -> None:
        with rt.lock:
            rt.owner, rt.depth = threading.get_ident(), 1
            held.set()
            release.wait(10)
            if fault:
                rt.mark_faulted("trap")
            rt.owner, rt.depth = None, 0

    t = threading.Thread(target=run)
    t.start()
    assert held.wait(10)
    try:
        yield release
    finally:
        release.set()
        t.join(10)


# ------------------------------------------------------------------ Handle.drop

def test_a_drop_that_times_out_waiting_keeps_the_handle(tmp_path: Path) -> None:
    with Host.load(HOST / "counter.wat", cache_dir=str(tmp_path), timeout_ms=300) as host:
        h = host.call("counter", f"{LIB}#make", 1)
        with _busy(host.runtimes["counter"]), pytest.raises(CallError) as info:
            h.drop()
        assert info.value.code == "timeout"
        assert h.live  # not dropped: the destructor did not run
        h.drop()
        assert host.call("counter", f"{LIB}#live") == 0


def test_a_drop_of_a_handle_made_stale_while_waiting_does_nothing(tmp_path: Path) -> None:
    with Host.load(HOST / "counter.wat", cache_dir=str(tmp_path), timeout_ms=5000, restart_budget=0) as host:
        h = host.call("counter", f"{LIB}#make", 1)
        rt = host.runtimes["counter"]
        with _busy(rt, fault=True) as release:
            threading.Timer(0.2, release.set).start()
            h.drop()  # waits for the other call, which faults `counter`: the handle is stale
        assert [e.kind for e in host.events] == ["fault"]  # no restart for a drop
        assert rt.restarts == 0


def test_the_chain_of_a_trapping_destructor_names_the_destructor(tmp_path: Path) -> None:
    src = (HOST / "counter.wat").read_text()
    assert src.count(_DTOR) == 1
    (tmp_path / "counter.wat").write_text(src.replace(_DTOR, _DTOR + (
        '      (if (i32.eq (i32.load offset=4 (i32.mul (local.get $rep) (i32.const 8))) (i32.const 13))\n'
        '        (then unreachable))\n')))
    with Host.load(tmp_path / "counter.wat", cache_dir=str(tmp_path / ".cache")) as host:
        h = host.call("counter", f"{LIB}#make", 13)
        with pytest.raises(CallError) as info:
            h.drop()
        assert info.value.code == "trap"
        assert info.value.chain == ("counter:test:res/counter#[dtor]counter",)


def test_a_drop_from_a_coroutine_its_extension_awaits_is_refused(tmp_path: Path) -> None:
    from test_call_interrupts import _counter_calling_the_host

    (tmp_path / "counter.wat").write_text(_counter_calling_the_host())
    held: dict[str, object] = {}
    seen: list[str] = []

    async def cb(x: int) -> int:
        h = held["h"]
        try:
            h.drop()  # type: ignore[attr-defined]
        except CallError as e:
            seen.append(e.code)
        return x

    with Host.load(tmp_path / "counter.wat", cache_dir=str(tmp_path / ".cache"), timeout_ms=1500,
                   interfaces={CB: {"cb": cb}}) as host:
        held["h"] = host.call("counter", f"{LIB}#make", 1)

        async def main() -> object:
            return await host.acall("counter", f"{LIB}#call-host", 1)

        assert asyncio.run(main()) == 1001
        assert seen == ["reentrancy"]


# ------------------------------------------------------------------ uncharged restarts

_INIT_SPIN = """
(component
  (import "test:host/cb@1.0.0" (instance $host (export "cb" (func (param "x" u32) (result u32)))))
  (core func $cb (canon lower (func $host "cb")))
  (core module $libc (memory (export "mem") 1))
  (core instance $libc (instantiate $libc))
  (core module $m
    (import "host" "cb" (func $cb (param i32) (result i32)))
    (func (export "init") (result i32)
      (if (i32.eq (call $cb (i32.const 7)) (i32.const 1)) (then (loop $l (br $l))))
      i32.const 0)
    (func (export "call-host") (param i32) (result i32) local.get 0 call $cb)
    (func (export "spin") (result i32) (loop $l (br $l)) i32.const 0)
    (func (export "ident") (param i32) (result i32) local.get 0))
  (core instance $i (instantiate $m (with "host" (instance (export "cb" (func $cb))))))
  (func $init (result (result (error string))) (canon lift (core func $i "init") (memory (core memory $libc "mem"))))
  (func $call-host (param "x" u32) (result u32) (canon lift (core func $i "call-host")))
  (func $spin (result u32) (canon lift (core func $i "spin")))
  (func $ident (param "x" u32) (result u32) (canon lift (core func $i "ident")))
  (instance $lc (export "init" (func $init)))
  (export "ext:host/lifecycle@0.1.0" (instance $lc))
  (instance $out (export "call-host" (func $call-host)) (export "spin" (func $spin)) (export "ident" (func $ident)))
  (export "test:echo/lib@1.0.0" (instance $out)))
"""


def test_a_cancelled_restart_is_not_charged_either(tmp_path: Path) -> None:
    (tmp_path / "spin.wat").write_text(_INIT_SPIN)
    state = {"spin": 0}

    def cb(x: int) -> int:
        return state["spin"] if x == 7 else x

    with Host.load(tmp_path / "spin.wat", cache_dir=str(tmp_path / ".cache"), restart_budget=0,
                   interfaces={CB: {"cb": cb}}) as host:
        assert not host.errors, host.errors
        rt = host.runtimes["spin"]

        async def cancelled(function: str, *args: int) -> None:
            task = asyncio.ensure_future(host.acall("spin", function, *args))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):  # the worker finishes the stopped call
                if rt.owner is None:
                    break
                await asyncio.sleep(0.02)

        asyncio.run(cancelled(f"{ECHO}#spin"))  # a cancelled call: not charged
        assert rt.faulted == "cancelled"
        state["spin"] = 1
        asyncio.run(cancelled(f"{ECHO}#ident", 1))  # the restart's init is cancelled in turn
        state["spin"] = 0
        assert host.call("spin", f"{ECHO}#ident", 5) == 5
        assert rt.restarts == 0


def test_a_host_coroutine_cancelling_itself_is_not_a_callers_stop(tmp_path: Path) -> None:
    async def cb(x: int) -> int:
        if x == 13:
            raise asyncio.CancelledError  # e.g. a library call inside it was cancelled
        return x

    with Host.load(HOST / "echo.wat", cache_dir=str(tmp_path), restart_budget=0,
                   interfaces={CB: {"cb": cb}}) as host:
        with pytest.raises(CallError) as info:
            host.call("echo", f"{ECHO}#call-host", 13)
        assert caller_stop(info.value) is None
        with pytest.raises(CallError) as again:
            host.call("echo", f"{ECHO}#call-host", 1)
        assert again.value.code == "extension-faulted"
