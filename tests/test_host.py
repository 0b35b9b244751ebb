"""The host: linking, the call path, every call error code, faults, restarts, async."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.model._errors import (
    BadArgumentsError,
    CallTimeoutError,
    DeadlockError,
    ExtensionFaultedError,
    FuelExhaustedError,
    HostFunctionError,
    MemoryLimitError,
    NoSuchFunctionError,
    ReentrancyError,
    TrapError,
    UsageError,
)
from harness.runtime._host import Host

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
CALC = "test:calc/lib@1.2.0"
TWICE = "test:twice/lib@1.0.0"
ECHO = "test:echo/lib@1.0.0"
CB = "test:host/cb@1.0.0"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def load(cache_dir: Path, *names: str, **config: object) -> Host:
    return Host.load(*(HOST / n for n in names), cache_dir=str(cache_dir), **config)  # type: ignore[arg-type]


@pytest.fixture
def chain(cache_dir: Path) -> Iterator[Host]:
    with load(cache_dir, "calc.wat", "twice.wat", timeout_ms=2000) as host:
        yield host


# ------------------------------------------------------------------ linking and calls

def test_links_older_compatible_import_and_calls_across(chain: Host) -> None:
    assert chain.extensions == ("calc", "twice")
    assert [(lnk.consumer, lnk.import_name, lnk.provider, lnk.export_name) for lnk in chain.resolution.links] \
        == [("twice", "test:calc/lib@1.0.0", "calc", CALC)]
    assert chain.call("calc", f"{CALC}#add", 2, 3) == 5
    assert chain.call("twice", "twice", 21) == 42
    assert chain.call("twice", "test:twice/lib#sum-to", 100) == 5050  # 100 proxy hops in one call


def test_function_names_accept_versioned_unversioned_and_bare(chain: Host) -> None:
    assert chain.call("calc", "test:calc/lib#add", 1, 1) == 2
    assert chain.call("calc", "add", 1, 2) == 3
    f = chain.function("calc", "add")
    assert [f(i, i) for i in range(3)] == [0, 2, 4]


def test_no_such_function_and_extension(chain: Host) -> None:
    with pytest.raises(NoSuchFunctionError) as e:
        chain.call("calc", "ad", 1, 2)
    assert e.value.code == "no-such-function" and "did you mean" in e.value.message
    assert f"{CALC}#add" in e.value.message
    with pytest.raises(NoSuchFunctionError) as e2:
        chain.call("calcc", "add", 1, 2)
    assert "did you mean calc" in e2.value.message


@pytest.mark.parametrize(("args", "problem"), [
    ((1,), "takes 2 argument(s) (a, b), got 1"),
    (("x", 1), "argument 'a': expected an integer"),
    ((1, -1), "argument 'b': expected an integer in u32 range"),
    ((2**32, 1), "argument 'a'"),
    ((True, 1), "argument 'a'"),
])
def test_bad_arguments_name_the_parameter(chain: Host, args: tuple[object, ...], problem: str) -> None:
    with pytest.raises(BadArgumentsError) as e:
        chain.call("calc", "add", *args)
    assert e.value.code == "bad-arguments" and problem in e.value.message
    assert e.value.extension == "calc"
    assert chain.call("calc", "add", 1, 1) == 2  # nothing was poisoned


# ------------------------------------------------------------------ faults

def test_trap_carries_chain_frames_and_reason(chain: Host) -> None:
    with pytest.raises(TrapError) as e:
        chain.call("calc", "boom")
    err = e.value
    assert err.code == "trap" and err.extension == "calc" and err.function == f"{CALC}#boom"
    assert err.chain == (f"calc:{CALC}#boom",)
    assert "unreachable" in err.details["reason"]
    assert err.frames and all("wasm function" in f or "!" in f for f in err.frames)


def test_trap_in_the_middle_of_a_chain_faults_both_and_both_restart(chain: Host) -> None:
    with pytest.raises(TrapError) as e:
        chain.call("twice", "relay-boom")
    assert e.value.extension == "calc"
    assert e.value.chain == (f"twice:{TWICE}#relay-boom", f"calc:{CALC}#boom")
    faults = [(ev.kind, ev.extension) for ev in chain.events]
    assert ("fault", "calc") in faults and ("fault", "twice") in faults
    # Both Stores were poisoned; the next calls instantiate them again and work.
    assert chain.call("twice", "twice", 4) == 8
    assert chain.call("calc", "add", 4, 4) == 8
    restarts = {ev.extension for ev in chain.events if ev.kind == "restart"}
    assert restarts == {"calc", "twice"}


def test_other_extensions_keep_serving_after_a_fault(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", "echo.wat", interfaces={CB: {"cb": lambda x: x}}) as host:
        with pytest.raises(TrapError):
            host.call("calc", "boom")
        assert host.call("echo", "ident", 9) == 9
        assert not any(ev.extension == "echo" for ev in host.events)


def test_restart_budget_then_extension_faulted(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", restart_budget=1) as host:
        with pytest.raises(TrapError):
            host.call("calc", "boom")
        assert host.call("calc", "add", 1, 1) == 2  # restart 1 of 1
        with pytest.raises(TrapError):
            host.call("calc", "boom")
        with pytest.raises(ExtensionFaultedError) as e:
            host.call("calc", "add", 1, 1)
        assert e.value.code == "extension-faulted"
        assert "used its 1 restart" in e.value.message and e.value.details["fault"] == "trap"


def test_timeout_interrupts_an_endless_loop(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", timeout_ms=150) as host:
        t0 = time.monotonic()
        with pytest.raises(CallTimeoutError) as e:
            host.call("calc", "spin")
        assert time.monotonic() - t0 < 5
        assert e.value.code == "timeout" and e.value.extension == "calc"
        assert host.call("calc", "add", 2, 2) == 4


def test_timeout_in_a_nested_call_names_the_callee(chain: Host) -> None:
    with pytest.raises(CallTimeoutError) as e:
        chain.call("twice", "relay-spin", timeout=0.15)
    assert e.value.extension == "calc"
    assert e.value.chain == (f"twice:{TWICE}#relay-spin", f"calc:{CALC}#spin")


def test_fuel_exhausted(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", fuel=20_000) as host:
        assert host.call("calc", "burn", 10) == 10
        with pytest.raises(FuelExhaustedError) as e:
            host.call("calc", "burn", 10**9)
        assert e.value.code == "fuel-exhausted"
        assert host.call("calc", "burn", 10) == 10  # fuel is refilled per call


def test_memory_bomb_hits_the_memory_limit(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", memory_mb=4) as host:
        with pytest.raises(MemoryLimitError) as e:
            host.call("calc", "bomb")
        assert e.value.code == "memory-limit" and "memory limit" in e.value.message
        assert host.call("calc", "add", 1, 2) == 3


def test_deep_guest_recursion_is_a_trap_not_a_crash(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat") as host:
        assert host.call("calc", "deep", 100) == 100
        with pytest.raises(TrapError) as e:
            host.call("calc", "deep", 10_000_000)
        assert "stack" in e.value.details["reason"]


# ------------------------------------------------------------------ host functions, reentrancy, deadlock

def test_python_exception_in_a_host_function(cache_dir: Path) -> None:
    def cb(x: int) -> int:
        raise ValueError(f"bad {x}")

    with load(cache_dir, "echo.wat", interfaces={CB: {"cb": cb}}) as host:
        with pytest.raises(HostFunctionError) as e:
            host.call("echo", "call-host", 3)
        assert e.value.code == "host-error"
        assert isinstance(e.value.__cause__, ValueError) and str(e.value.__cause__) == "bad 3"
        assert e.value.chain == (f"echo:{ECHO}#call-host", f"host:{CB}#cb")
        from wasmtime.component import _enter
        assert _enter.LAST_EXCEPTION is None  # no stale exception left for wasmtime-py


def test_reentrancy_refused_by_default(cache_dir: Path) -> None:
    holder: dict[str, Host] = {}

    def cb(x: int) -> int:
        return int(holder["h"].call("echo", "ident", x))

    with load(cache_dir, "echo.wat", interfaces={CB: {"cb": cb}}) as host:
        holder["h"] = host
        with pytest.raises(ReentrancyError) as e:
            host.call("echo", "call-host", 5)
        assert e.value.code == "reentrancy"
        assert e.value.chain == (f"echo:{ECHO}#call-host", f"echo:{ECHO}#ident")
        assert host.call("echo", "ident", 1) == 1  # echo restarted after the refusal


def test_reentrancy_allowed_with_a_depth_cap(cache_dir: Path) -> None:
    holder: dict[str, Host] = {}

    def cb(x: int) -> int:
        if x == 0:
            return 0
        return 1 + int(holder["h"].call("echo", "call-host", x - 1))

    limit = sys.getrecursionlimit()
    with load(cache_dir, "echo.wat", interfaces={CB: {"cb": cb}}, reentrancy=True, max_depth=40) as host:
        holder["h"] = host
        assert host.call("echo", "call-host", 10) == 10
        with pytest.raises(ReentrancyError) as e:
            host.call("echo", "call-host", 1000)  # would pass Python's recursion limit without the cap
        assert "reached the cap (40)" in e.value.message
        assert len(e.value.chain) == 41
        assert not isinstance(e.value.__cause__, RecursionError)
        assert host.call("echo", "call-host", 39) == 39  # the deepest chain under the cap still runs after it
        with pytest.raises(ReentrancyError):
            host.call("echo", "call-host", 40)  # one hop more is refused
    assert sys.getrecursionlimit() == limit  # the cap did the work, not a raised recursion limit


def test_two_threads_calling_into_each_other_get_deadlock_not_a_hang(
        cache_dir: Path, tmp_path: Path, crossed_calls: Callable[[Path, Path, str], dict[int, object]]) -> None:
    results = crossed_calls(tmp_path, cache_dir, "ident")
    deadlocks = [r for r in results.values() if isinstance(r, DeadlockError)]
    assert deadlocks, results
    d = deadlocks[0]
    assert d.code == "deadlock" and d.details["other_chain"]
    mine, theirs = d.chain, d.details["other_chain"]
    assert len(mine) == 2 and mine[0].split(":")[0] != mine[1].split(":")[0]  # A:call-host → B:ident
    assert theirs[0].split(":")[0] == mine[1].split(":")[0]  # the other thread holds B


# ------------------------------------------------------------------ lifecycle and host API

def test_init_runs_in_load_order_and_logs(cache_dir: Path) -> None:
    with load(cache_dir, "logger.wat", "initfail.wat") as host:
        assert host.status == {"logger": "ok", "initfail": "error"}
        assert [(r.extension, r.level, r.message) for r in host.logs] == [("logger", "info", "hello from init")]
        diag = next(d for d in host.diagnostics if d.code == "init-failed")
        assert diag.extension == "initfail" and "not configured" in diag.message
        with pytest.raises(NoSuchFunctionError) as e:
            host.call("initfail", "init")
        assert "init-failed" in e.value.message


def test_dependents_of_an_extension_that_failed_to_link_are_blocked(cache_dir: Path, tmp_path: Path) -> None:
    shutil.copy(HOST / "twice.wat", tmp_path / "twice.wat")
    # calc's `init`-free component replaced by one whose instantiation traps in its start function
    (tmp_path / "calc.wat").write_text((HOST / "calc.wat").read_text().replace(
        "(core instance $i (instantiate $m))",
        "(core module $s (func $f unreachable) (start $f)) (core instance $bad (instantiate $s))\n"
        "  (core instance $i (instantiate $m))"))
    with Host.load(tmp_path, cache_dir=str(cache_dir)) as host:
        codes = {(d.extension, d.code) for d in host.diagnostics}
        assert ("calc", "instantiation-failed") in codes
        assert ("twice", "blocked-by-dependency") in codes
        assert host.status == {"calc": "error", "twice": "blocked"}


def test_unknown_host_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as e:
        Host.load(HOST / "calc.wat", timeout=3)
    assert "timeout" in str(e.value) and "timeout_ms" in str(e.value)


# ------------------------------------------------------------------ async

@pytest.mark.asyncio
async def test_acall_results_and_1000_concurrent_calls_over_4_extensions(cache_dir: Path, tmp_path: Path) -> None:
    for name in ("calc", "twice", "echo"):
        shutil.copy(HOST / f"{name}.wat", tmp_path / f"{name}.wat")
    shutil.copy(HOST / "echo.wat", tmp_path / "echo2.wat")
    with Host.load(tmp_path, cache_dir=str(cache_dir), interfaces={CB: {"cb": lambda x: x}}) as host:
        calls = []
        for i in range(1000):
            ext, fn = [("calc", "add"), ("twice", "twice"), ("echo", "ident"), ("echo2", "call-host")][i % 4]
            args = (i, 1) if fn == "add" else (i,)
            calls.append((ext, fn, args))
        results = await asyncio.gather(*(host.acall(e, f, *a) for e, f, a in calls))
        expected = [a[0] + 1 if f == "add" else 2 * a[0] if f == "twice" else a[0] for _, f, a in calls]
        assert results == expected


@pytest.mark.asyncio
async def test_async_timeout_stops_the_guest(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", trace=True) as host:
        with pytest.raises(CallTimeoutError):
            await host.acall("calc", "spin", timeout=0.1)
        assert await host.acall("calc", "add", 1, 1) == 2
        kinds = [(t.kind, t.outcome) for t in host.traces]
        assert kinds == [("start", ""), ("end", "timeout"), ("start", ""), ("end", "ok")]


@pytest.mark.asyncio
async def test_cancelling_the_task_stops_the_guest(cache_dir: Path) -> None:
    with load(cache_dir, "calc.wat", timeout_ms=60_000, trace=True) as host:
        task = asyncio.create_task(host.acall("calc", "spin"))
        for _ in range(500):  # until the guest is running
            await asyncio.sleep(0.01)
            if host.traces:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The worker is free again only if the guest really stopped (its timeout is a minute).
        assert await asyncio.wait_for(host.acall("calc", "add", 2, 3), timeout=5) == 5
        ends = [t.outcome for t in host.traces if t.kind == "end"]
        assert ends[0] == "timeout"  # cancellation is reported as an interrupted call


@pytest.mark.asyncio
async def test_calls_into_one_extension_are_serialized_and_different_ones_overlap(cache_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """Each guest calls back into Python, which waits until the other call has started: that can
    only finish if the two calls really run at the same time."""
    for name in ("echo-a", "echo-b"):
        shutil.copy(HOST / "echo.wat", tmp_path / f"{name}.wat")
    started = {1: threading.Event(), 2: threading.Event()}

    def cb(x: int) -> int:
        started[x].set()
        return x if started[3 - x].wait(timeout=10) else -1

    with Host.load(tmp_path, cache_dir=str(cache_dir), trace=True, interfaces={CB: {"cb": cb}}) as host:
        both = await asyncio.gather(host.acall("echo-a", "call-host", 1), host.acall("echo-b", "call-host", 2))
        assert both == [1, 2]  # neither waited in vain
        kinds = [t.kind for t in sorted(host.traces, key=lambda t: t.seq)]
        assert kinds[:2] == ["start", "start"]

        host.traces.clear()
        for e in started.values():
            e.clear()
        started[2].set()  # so the first call does not wait for one that cannot start yet
        await asyncio.gather(host.acall("echo-a", "call-host", 1), host.acall("echo-a", "ident", 5))
        seq = [(t.kind, t.function.rsplit("#", 1)[1]) for t in sorted(host.traces, key=lambda t: t.seq)]
        assert seq == [("start", "call-host"), ("end", "call-host"), ("start", "ident"), ("end", "ident")]


def test_init_runs_again_after_a_restart(cache_dir: Path, tmp_path: Path) -> None:
    """logger's init logs; a fault then a call restarts it and init logs again."""
    wat = (HOST / "logger.wat").read_text().replace(
        '(instance $lc (export "init" (func $init)))',
        '(core module $t (func (export "boom") unreachable)) (core instance $ti (instantiate $t))\n'
        '  (func $boom (canon lift (core func $ti "boom")))\n'
        '  (instance $lc (export "init" (func $init)) (export "boom" (func $boom)))')
    (tmp_path / "logger.wat").write_text(wat)
    with Host.load(tmp_path, cache_dir=str(cache_dir)) as host:
        assert len(host.logs) == 1
        with pytest.raises(TrapError):
            host.call("logger", "boom")
        with pytest.raises(TrapError):
            host.call("logger", "boom")  # restarted (init logged again), then trapped again
        assert [r.message for r in host.logs] == ["hello from init"] * 2
        assert [e.kind for e in host.events] == ["init", "fault", "restart", "fault"]
