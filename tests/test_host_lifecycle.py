"""Host run-time edge cases: closing with calls in flight, calls after close, option checks,
leaks of module-level registries, reentrant calls into the same function, host results."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import CallError
from harness.model._errors import (
    CallTimeoutError,
    HostClosedError,
    HostFunctionError,
    NoSuchFunctionError,
    UsageError,
)
from harness.runtime._extension import _RUNTIMES
from harness.runtime._host import Host
from harness.runtime._proxy import PROXIES as _PROXIES

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
CB = "test:host/cb@1.0.0"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def load(cache_dir: Path, *names: str, **config: object) -> Host:
    return Host.load(*(HOST / n for n in names), cache_dir=str(cache_dir), **config)  # type: ignore[arg-type]


# ------------------------------------------------------------------ close

def test_calls_after_close_are_refused_without_restarting(cache_dir: Path) -> None:
    host = load(cache_dir, "calc.wat")
    f = host.function("calc", "add")
    host.close()
    with pytest.raises(HostClosedError) as e:
        host.call("calc", "add", 1, 2)
    assert e.value.code == "host-closed" and not isinstance(e.value, NoSuchFunctionError)
    assert "closed" in e.value.message and e.value.extension == "calc"
    with pytest.raises(HostClosedError):
        f(1, 2)
    with pytest.raises(HostClosedError):  # a name the host never knew: still "closed", not "no such"
        host.call("nope", "add", 1, 2)
    assert not any(ev.kind == "restart" for ev in host.events)
    host.close()  # idempotent


@pytest.mark.asyncio
async def test_acall_after_close_is_a_coded_error(cache_dir: Path) -> None:
    host = load(cache_dir, "calc.wat")
    assert await host.acall("calc", "add", 1, 1) == 2  # the worker exists
    host.close()
    with pytest.raises(HostClosedError) as e:
        await host.acall("calc", "add", 1, 2)
    assert "closed" in e.value.message
    host2 = load(cache_dir, "calc.wat")
    host2.close()
    with pytest.raises(HostClosedError):  # never used asynchronously before closing
        await host2.acall("calc", "add", 1, 2)


@pytest.mark.asyncio
async def test_close_stops_a_running_endless_acall_and_fails_queued_ones(cache_dir: Path) -> None:
    host = load(cache_dir, "calc.wat", timeout_ms=None, trace=True)
    running = asyncio.ensure_future(host.acall("calc", "spin"))
    queued = asyncio.ensure_future(host.acall("calc", "add", 1, 2))
    for _ in range(1000):  # until the guest runs
        await asyncio.sleep(0.005)
        if host.traces:
            break
    assert host.traces
    closer = threading.Thread(target=host.close)
    closer.start()
    await asyncio.get_running_loop().run_in_executor(None, closer.join, 20)
    assert not closer.is_alive(), "close() hung on a guest in an endless loop"
    with pytest.raises(CallTimeoutError) as e:
        await running
    assert "closed" in e.value.message and e.value.extension == "calc"
    with pytest.raises(HostClosedError) as e2:  # a coded error, not a CancelledError
        await queued
    assert "closed" in e2.value.message


def test_close_stops_a_sync_call_running_in_another_thread(cache_dir: Path) -> None:
    host = load(cache_dir, "calc.wat", timeout_ms=None)
    started = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        started.set()
        try:
            outcome.append(host.call("calc", "spin"))
        except CallError as e:
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(5)
    busy: CallTimeoutError | None = None
    give_up = time.monotonic() + 10
    while busy is None and time.monotonic() < give_up:  # until the spin holds calc: a call from here waits
        try:
            host.call("calc", "add", 1, 2, timeout=0.02)
        except CallTimeoutError as e:
            busy = e
    assert busy is not None and "another thread is calling it" in busy.message
    host.close()
    t.join(20)
    assert not t.is_alive()
    assert isinstance(outcome[0], CallTimeoutError) and "closed" in outcome[0].message


def test_close_releases_module_registries_and_the_host(cache_dir: Path) -> None:
    before = (len(_PROXIES), len(_RUNTIMES))
    with load(cache_dir, "calc.wat", "twice.wat") as host:
        assert host.call("twice", "twice", 2) == 4
        assert len(_PROXIES) > before[0]
        ref = weakref.ref(host)
    del host
    gc.collect()
    assert (len(_PROXIES), len(_RUNTIMES)) == before
    assert ref() is None, "the closed host is still referenced"


# ------------------------------------------------------------------ options

@pytest.mark.parametrize(("option", "value", "words"), [
    ("timeout_ms", -5, "timeout_ms"),
    ("timeout_ms", 0, "timeout_ms"),
    ("fuel", -1, "fuel"),
    ("memory_mb", 0, "memory_mb"),
    ("instances", -2, "instances"),
    ("tables", -1, "tables"),
    ("restart_budget", -1, "restart_budget"),
    ("tick_ms", 0, "tick_ms"),
    ("max_file_size", 0, "max_file_size"),
    ("timeout_ms", "30", "timeout_ms"),
    ("fuel", True, "fuel"),
])
def test_bad_option_values_are_usage_errors(option: str, value: object, words: str) -> None:
    with pytest.raises(UsageError) as e:
        Host.load(HOST / "calc.wat", **{option: value})  # type: ignore[arg-type]
    assert words in str(e.value) and repr(value) in str(e.value)


def test_restart_budget_zero_means_no_restart(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", restart_budget=0) as host:
        with pytest.raises(CallError):
            host.call("calc", "boom")
        with pytest.raises(CallError) as e:
            host.call("calc", "add", 1, 1)
        assert e.value.code == "extension-faulted" and e.value.function is not None


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_call_timeout_must_be_positive(cache_dir: Path, timeout: float) -> None:
    with load(cache_dir, "calc.wat", timeout_ms=60_000) as host:
        with pytest.raises(UsageError) as e:
            host.call("calc", "spin", timeout=timeout)
        assert "timeout" in str(e.value)
        with pytest.raises(UsageError):
            asyncio.run(host.acall("calc", "spin", timeout=timeout))
        assert host.call("calc", "add", 1, 1) == 2


# ------------------------------------------------------------------ calls

def test_reentrant_call_into_the_same_function_keeps_each_calls_arguments_and_result(cache_dir: Path) -> None:
    """The argument array and result slot of a function are reused between calls; a nested call
    into the same function must not change what the outer call computes."""
    holder: dict[str, Host] = {}
    seen: list[int] = []

    def cb(x: int) -> int:
        seen.append(x)
        if x >= 1000:
            inner = int(holder["h"].call("echo", "call-host", x - 1000))
            return x + inner * 10
        return x + 1

    with load(cache_dir, "echo.wat", interfaces={CB: {"cb": cb}}, reentrancy=True) as host:
        holder["h"] = host
        # outer: cb(1005) → inner call-host(5) → cb(5) = 6 → outer returns 1005 + 60
        assert host.call("echo", "call-host", 1005) == 1065
        assert seen == [1005, 5]
        f = host.function("echo", "call-host")
        assert [f(1000 + i) for i in range(3)] == [1000 + 10, 1001 + 20, 1002 + 30]


def test_a_host_function_returning_the_wrong_type_is_a_host_error(cache_dir: Path) -> None:
    with load(cache_dir, "echo.wat", interfaces={CB: {"cb": lambda x: "nope"}}) as host:
        with pytest.raises(HostFunctionError) as e:
            host.call("echo", "call-host", 1)
        assert e.value.code == "host-error"
        assert e.value.message == (f'host function {CB}#cb returned a value its WIT type does not allow: '
                                   'expected integer (u32), found string "nope"')


def test_functions_taken_before_a_restart_call_the_new_store(cache_dir: Path) -> None:
    """`host.function` and the consumer's proxies look the provider's function up per call: after
    a restart nothing calls a Func with the Store it no longer belongs to (that would abort)."""
    with load(cache_dir, "calc.wat", "twice.wat") as host:
        add = host.function("calc", "add")
        twice = host.function("twice", "twice")
        assert add(1, 2) == 3 and twice(3) == 6
        old = host.runtimes["calc"].store
        with pytest.raises(CallError):
            host.call("calc", "boom")
        assert twice(4) == 8  # the proxy reaches the restarted calc
        assert add(2, 2) == 4
        assert host.runtimes["calc"].store is not old
        assert [ev.kind for ev in host.events] == ["fault", "restart"]


def test_a_deadlock_fails_one_thread_and_lets_the_other_finish(
        cache_dir: Path, tmp_path: Path, crossed_calls: Callable[[Path, Path, str], dict[int, object]]) -> None:
    results = crossed_calls(tmp_path, cache_dir, "call-host")
    codes = sorted(r.code if isinstance(r, CallError) else "ok" for r in results.values())
    assert codes == ["deadlock", "ok"], results
    winner = next(k for k, r in results.items() if not isinstance(r, CallError))
    assert results[winner] == 10 + winner


WAIT_THEN_SPIN = """
(component
  (import "test:host/cb@1.0.0" (instance $host (export "cb" (func (param "x" u32) (result u32)))))
  (core func $cb (canon lower (func $host "cb")))
  (core module $m
    (import "host" "cb" (func $cb (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) local.get 0 call $cb drop (loop $l br $l) i32.const 0))
  (core instance $i (instantiate $m (with "host" (instance (export "cb" (func $cb))))))
  (func $run (param "x" u32) (result u32) (canon lift (core func $i "run")))
  (instance $out (export "run" (func $run)))
  (export "test:wait/lib@1.0.0" (instance $out)))
"""


def test_a_guest_busy_in_a_host_function_at_close_is_stopped_when_it_returns_to_wasm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close() does not wait forever for a host function; when the guest resumes and spins,
    the epoch callback still finds it and stops it."""
    import harness.runtime._host as host_module

    (tmp_path / "waiter.wat").write_text(WAIT_THEN_SPIN)
    entered, release = threading.Event(), threading.Event()

    def cb(x: int) -> int:
        entered.set()
        release.wait(timeout=30)
        return x

    outcome: dict[str, object] = {}

    def run(h: Host) -> None:
        try:
            outcome["value"] = h.call("waiter", "run", 1, timeout=60)
        except CallError as e:
            outcome["error"] = e

    host = Host.load(tmp_path, cache_dir=str(tmp_path / "cache"), interfaces={CB: {"cb": cb}}, timeout_ms=None)
    worker = threading.Thread(target=run, args=(host,))
    worker.start()
    assert entered.wait(timeout=10)
    monkeypatch.setattr(host_module, "_CLOSE_GRACE", 0.2)
    host.close()  # gives up waiting after 0.2 s: the guest is inside cb
    release.set()  # back into wasm, where it spins
    worker.join(timeout=10)
    assert not worker.is_alive(), "the spinning guest was not stopped after close()"
    err = outcome.get("error")
    assert isinstance(err, CallError) and err.code == "timeout", outcome
