"""`Gate.caller` inlines `enter`/`leave` for the common call and hands every other call to the
checked path (`Host._invoke`). The two must be indistinguishable: the same scripts of calls run
with the inlined path on and off give the same values, the same coded errors with the same
messages and chains, and leave the host in the same state."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.model._errors import CallError
from harness.runtime import _gate
from harness.runtime._host import Host

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
CALC = "test:calc/lib@1.2.0"
CB = "test:host/cb@1.0.0"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args, **kwargs))
    except CallError as e:
        return ("error", type(e).__name__, e.code, e.message, tuple(e.chain))


def _host(cache_dir: Path, fast: bool, **config: Any) -> Host:
    host = Host.load(HOST / "calc.wat", HOST / "twice.wat", HOST / "echo.wat", cache_dir=str(cache_dir),
                     interfaces={CB: {"cb": lambda x: x + 1}}, timeout_ms=300, **config)
    host._gate.fast = fast
    return host


# (function, arguments, timeout): good calls, refused arguments, traps, a time limit, a chain
CALLS: list[tuple[str, str, tuple[Any, ...], float | None]] = [
    ("calc", f"{CALC}#add", (1, 2), None),
    ("calc", f"{CALC}#add", (2**32 - 1, 1), None),  # wraps in the guest: u32 arithmetic
    ("calc", f"{CALC}#add", (-1, 2), None),
    ("calc", f"{CALC}#add", (True, 2), None),
    ("calc", f"{CALC}#add", (1,), None),
    ("calc", f"{CALC}#add", (1, 2, 3), None),
    ("calc", f"{CALC}#add", ("1", 2), None),
    ("calc", f"{CALC}#add", (2**32, 0), None),
    ("calc", f"{CALC}#boom", (), None),
    ("calc", f"{CALC}#add", (5, 5), None),  # after the trap: restarted
    ("calc", f"{CALC}#spin", (), 0.05),
    ("calc", f"{CALC}#spin", (), None),  # the extension's own limit
    ("calc", f"{CALC}#deep", (200,), None),
    ("twice", "sum-to", (10,), None),
    ("echo", "call-host", (41,), None),
    ("echo", "ident", (7,), None),
]


@pytest.fixture
def hosts(cache_dir: Path) -> Iterator[tuple[Host, Host]]:
    with _host(cache_dir, True) as fast, _host(cache_dir, False) as slow:
        yield fast, slow


def test_the_same_calls_give_the_same_outcomes_both_ways(hosts: tuple[Host, Host]) -> None:
    fast, slow = hosts
    for ext, func, args, timeout in CALLS:
        a = outcome(fast.call, ext, func, *args, timeout=timeout)
        b = outcome(slow.call, ext, func, *args, timeout=timeout)
        assert a == b, (ext, func, args)
    assert fast.status == slow.status
    assert fast.events == slow.events and any(e.kind == "restart" for e in fast.events)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.sampled_from(CALLS[:10] + CALLS[12:]), max_size=8))
def test_any_script_of_calls_gives_the_same_outcomes_both_ways(hosts: tuple[Host, Host],
                                                               calls: list[tuple[str, str, tuple[Any, ...],
                                                                                 float | None]]) -> None:
    fast, slow = hosts
    for ext, func, args, timeout in calls:
        fn_a, fn_b = fast.function(ext, func), slow.function(ext, func)
        assert outcome(fn_a, *args, timeout=timeout) == outcome(fn_b, *args, timeout=timeout)
    assert fast.status == slow.status


def test_the_inlined_path_is_taken_and_leaves_no_trace(hosts: tuple[Host, Host],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The common call does not reach `Host._invoke`; afterwards the extension is free, the
    thread's context is as before (no frame, no deadline, the stack budget restored)."""
    fast, _ = hosts
    checked: list[str] = []
    real = Host._invoke

    def spy(self: Host, *a: Any, **k: Any) -> Any:
        checked.append(a[1])
        return real(self, *a, **k)

    monkeypatch.setattr(Host, "_invoke", spy)
    add = fast.function("calc", f"{CALC}#add")
    assert add(1, 1) == 2  # the first call measures the thread's stack: the checked path
    from harness.runtime._calls import current_context
    ctx = current_context()
    before = (list(ctx.frames), ctx.room, ctx.levels, ctx.deadline, ctx.pending)
    checked.clear()
    assert add(20, 22) == 42
    assert checked == []
    assert outcome(add, -1, 0)[2] == "bad-arguments"  # refused: the checked path names it
    assert checked == [f"{CALC}#add"]
    rt = fast.runtimes["calc"]
    assert (rt.owner, rt.depth, rt.active) == (None, 0, None)
    assert rt.lock.acquire(blocking=False)
    rt.lock.release()
    assert (list(ctx.frames), ctx.room, ctx.levels, ctx.deadline, ctx.pending) == before


def test_a_busy_extension_sends_the_call_to_the_checked_path(hosts: tuple[Host, Host]) -> None:
    """Another thread holds the extension: the inlined path must not take it; the call waits
    (the checked path) and then runs."""
    fast, _ = hosts
    rt = fast.runtimes["calc"]
    rt.lock.acquire()
    rt.owner = -1
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(outcome(fast.call, "calc", f"{CALC}#add", 3, 4)))
    t.start()
    t.join(0.2)
    assert t.is_alive() and got == []  # waiting, not running beside the holder
    rt.owner = None
    rt.lock.release()
    t.join(5)
    assert got == [("ok", 7)]


def test_gate_caller_takes_the_checked_path_for_fuel(cache_dir: Path) -> None:
    with _host(cache_dir, True, fuel=10_000_000) as host:
        assert host._gate.fuel
        add = host.function("calc", f"{CALC}#add")
        assert add(2, 3) == 5
        assert add.__code__ is not _gate.Gate.caller.__code__
