"""Async host functions: `async def` served to guests, run on the awaiting loop or a private one.

Every wait here is bounded (a call `timeout`, `asyncio.wait_for`, a subprocess `timeout`), so a
regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness import Host
from harness.model._errors import CallTimeoutError, HostFunctionError, ReentrancyError

ROOT = Path(__file__).resolve().parent.parent
ECHO_WAT = ROOT / "fixtures" / "wat" / "host" / "echo.wat"
CB = "test:host/cb@1.0.0"
ECHO = "test:echo/lib@1.0.0"
LIMIT = 10.0  # seconds any single await in these tests may take before the test fails


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def load(cache_dir: Path, cb: object, **config: object) -> Host:
    return Host.load(ECHO_WAT, cache_dir=str(cache_dir), interfaces={CB: {"cb": cb}}, **config)  # type: ignore[arg-type]


def test_from_acall_runs_on_the_awaiting_loop_which_stays_free(cache_dir: Path) -> None:
    seen: dict[str, object] = {}

    async def main() -> None:
        started = asyncio.Event()
        release = asyncio.Event()

        async def cb(x: int) -> int:
            seen["loop"] = asyncio.get_running_loop()
            seen["thread"] = threading.get_ident()
            started.set()
            await release.wait()  # set by another coroutine of this loop: only if the loop is free
            return x + 1

        with load(cache_dir, cb) as host:
            call = asyncio.create_task(host.acall("echo", "call-host", 41, timeout=LIMIT))
            await asyncio.wait_for(started.wait(), LIMIT)
            assert not call.done()
            release.set()
            assert await asyncio.wait_for(call, LIMIT) == 42
        assert seen["loop"] is asyncio.get_running_loop()
        assert seen["thread"] == threading.get_ident()

    asyncio.run(main())


def test_from_a_sync_call_runs_on_a_private_loop_per_thread(cache_dir: Path) -> None:
    loops: list[tuple[int, asyncio.AbstractEventLoop]] = []

    async def cb(x: int) -> int:
        loops.append((threading.get_ident(), asyncio.get_running_loop()))
        await asyncio.sleep(0.01)
        return x * 2

    with load(cache_dir, cb) as host:
        assert host.call("echo", "call-host", 5, timeout=LIMIT) == 10
        assert host.call("echo", "call-host", 6, timeout=LIMIT) == 12
        other: list[object] = []
        t = threading.Thread(target=lambda: other.append(host.call("echo", "call-host", 7, timeout=LIMIT)))
        t.start()
        t.join(LIMIT)
        assert other == [14]
    (t1, l1), (t2, l2), (t3, l3) = loops
    assert t1 == t2 == threading.get_ident() and l1 is l2  # reused on one thread
    assert t3 != t1 and l3 is not l1  # a loop of its own on another thread
    assert not l1.is_running()


def test_a_sync_call_made_inside_a_running_loop_still_works(cache_dir: Path) -> None:
    async def cb(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 100

    async def main(host: Host) -> int:
        return int(host.call("echo", "call-host", 1, timeout=LIMIT))  # blocks this loop: allowed, not advised

    with load(cache_dir, cb) as host:
        assert asyncio.run(main(host)) == 101


def _cancellable() -> tuple[object, dict[str, object]]:
    state: dict[str, object] = {"cancelled": False, "started": threading.Event()}

    async def cb(x: int) -> int:
        started = state["started"]
        assert isinstance(started, threading.Event)
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        return x

    return cb, state


def test_a_timeout_of_acall_cancels_the_coroutine(cache_dir: Path) -> None:
    cb, state = _cancellable()

    async def main(host: Host) -> None:
        began = time.monotonic()
        with pytest.raises(CallTimeoutError) as e:
            await asyncio.wait_for(host.acall("echo", "call-host", 1, timeout=0.2), LIMIT)
        assert time.monotonic() - began < 5
        assert e.value.code == "timeout"
        assert f"async host function {CB}#cb ran past the call's time limit" in e.value.message
        assert e.value.chain == (f"echo:{ECHO}#call-host", f"host:{CB}#cb")
        assert state["cancelled"] is True  # the coroutine saw CancelledError before the call failed
        assert await asyncio.wait_for(host.acall("echo", "ident", 3), LIMIT) == 3  # restarted, works

    with load(cache_dir, cb) as host:
        asyncio.run(main(host))


def test_a_timeout_of_a_sync_call_cancels_the_coroutine(cache_dir: Path) -> None:
    cb, state = _cancellable()
    with load(cache_dir, cb) as host:
        with pytest.raises(CallTimeoutError) as e:
            host.call("echo", "call-host", 1, timeout=0.2)
        assert e.value.code == "timeout"
        assert state["cancelled"] is True
        assert host.call("echo", "ident", 4) == 4


def test_cancelling_the_acall_task_cancels_the_coroutine(cache_dir: Path) -> None:
    cb, state = _cancellable()

    async def main(host: Host) -> None:
        task = asyncio.create_task(host.acall("echo", "call-host", 1, timeout=LIMIT))
        started = state["started"]
        assert isinstance(started, threading.Event)
        for _ in range(int(LIMIT / 0.01)):
            if started.is_set():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(int(LIMIT / 0.01)):  # the worker cancels it on this loop: let the loop run
            if state["cancelled"]:
                break
            await asyncio.sleep(0.01)
        assert state["cancelled"] is True
        assert await asyncio.wait_for(host.acall("echo", "ident", 5), LIMIT) == 5

    with load(cache_dir, cb) as host:
        asyncio.run(main(host))
        assert [e.kind for e in host.events] == ["fault", "restart"]


@pytest.mark.parametrize("how", ["call", "acall"])
def test_an_exception_in_the_coroutine_is_host_error(cache_dir: Path, how: str) -> None:
    async def cb(x: int) -> int:
        await asyncio.sleep(0)
        raise ValueError(f"bad {x}")

    with load(cache_dir, cb) as host:
        with pytest.raises(HostFunctionError) as e:
            if how == "call":
                host.call("echo", "call-host", 3, timeout=LIMIT)
            else:
                asyncio.run(asyncio.wait_for(host.acall("echo", "call-host", 3, timeout=LIMIT), LIMIT))
        assert e.value.code == "host-error"
        assert isinstance(e.value.__cause__, ValueError) and str(e.value.__cause__) == "bad 3"
        assert e.value.chain == (f"echo:{ECHO}#call-host", f"host:{CB}#cb")


@pytest.mark.parametrize("how", ["call", "acall"])
def test_the_result_range_check_still_applies(cache_dir: Path, how: str) -> None:
    async def cb(x: int) -> int:
        await asyncio.sleep(0)
        return 2**32 + x  # not a u32

    with load(cache_dir, cb) as host:
        with pytest.raises(HostFunctionError) as e:
            if how == "call":
                host.call("echo", "call-host", 1, timeout=LIMIT)
            else:
                asyncio.run(asyncio.wait_for(host.acall("echo", "call-host", 1, timeout=LIMIT), LIMIT))
        assert e.value.code == "host-error"
        assert "4294967297" in e.value.message and "u32" in e.value.message


@pytest.mark.parametrize("how", ["acall", "call"])
def test_calling_back_into_the_waiting_extension_is_refused_not_hung(cache_dir: Path, how: str) -> None:
    holder: dict[str, Host] = {}

    async def cb(x: int) -> int:
        host = holder["h"]
        if how == "acall":
            return int(await host.acall("echo", "ident", x))
        return int(host.call("echo", "ident", x))

    async def main(host: Host) -> None:
        with pytest.raises(ReentrancyError) as e:
            await asyncio.wait_for(host.acall("echo", "call-host", 1, timeout=LIMIT), LIMIT)
        assert e.value.code == "reentrancy"
        assert f"waiting for the async host function {CB}#cb" in e.value.message

    with load(cache_dir, cb) as host:
        holder["h"] = host
        began = time.monotonic()
        asyncio.run(main(host))
        assert time.monotonic() - began < 5  # refused at once, not after the call's time limit
        assert host.call("echo", "ident", 2) == 2


def test_a_coroutine_may_await_calls_into_other_extensions(cache_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "other.wat").write_text(ECHO_WAT.read_text(encoding="utf-8").replace(
        '"test:echo/lib@1.0.0"', '"test:other/lib@1.0.0"'), encoding="utf-8")
    holder: dict[str, Host] = {}

    async def cb(x: int) -> int:
        if x >= 100:
            return x
        return int(await holder["h"].acall("other", "ident", x + 100))

    with Host.load(ECHO_WAT, tmp_path / "other.wat", cache_dir=str(cache_dir), interfaces={CB: {"cb": cb}}) as host:
        holder["h"] = host
        assert asyncio.run(asyncio.wait_for(host.acall("echo", "call-host", 1, timeout=LIMIT), LIMIT)) == 101


def test_close_while_a_coroutine_runs(cache_dir: Path) -> None:
    cb, state = _cancellable()
    host = load(cache_dir, cb)

    async def main() -> None:
        task = asyncio.create_task(host.acall("echo", "call-host", 1, timeout=LIMIT))
        started = state["started"]
        assert isinstance(started, threading.Event)
        for _ in range(int(LIMIT / 0.01)):
            if started.is_set():
                break
            await asyncio.sleep(0.01)
        closer = threading.Thread(target=host.close)
        began = time.monotonic()
        closer.start()
        with pytest.raises(CallTimeoutError) as e:
            await asyncio.wait_for(task, LIMIT)
        assert "the host was closed" in e.value.message
        await asyncio.to_thread(closer.join, LIMIT)
        assert not closer.is_alive() and time.monotonic() - began < 5
        for _ in range(int(LIMIT / 0.01)):
            if state["cancelled"]:
                break
            await asyncio.sleep(0.01)
        assert state["cancelled"] is True

    try:
        asyncio.run(main())
    finally:
        host.close()


def test_ctrl_c_during_a_sync_call_cancels_the_coroutine(cache_dir: Path) -> None:
    """In a subprocess: SIGINT must reach the main thread of a process of its own."""
    script = textwrap.dedent(f"""
        import asyncio, os, signal, threading
        from harness import Host
        state = {{}}
        async def cb(x):
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                state["cancelled"] = True
                raise
            return x
        with Host.load({str(ECHO_WAT)!r}, cache_dir={str(cache_dir)!r}, interfaces={{{CB!r}: {{"cb": cb}}}}) as host:
            try:
                host.call("echo", "call-host", 1, timeout=20)
            except KeyboardInterrupt:
                print("interrupted", state.get("cancelled"))
            print(host.call("echo", "ident", 9))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.split() == ["interrupted", "True", "9"], out.stderr


def test_a_loop_closed_under_a_waiting_guest_does_not_keep_it_waiting(cache_dir: Path) -> None:
    started = threading.Event()

    async def cb(x: int) -> int:
        started.set()
        await asyncio.sleep(60)
        return x

    with load(cache_dir, cb) as host:
        loop = asyncio.new_event_loop()
        task = loop.create_task(host.acall("echo", "call-host", 1, timeout=LIMIT))
        loop.run_until_complete(asyncio.wait((loop.create_task(asyncio.to_thread(started.wait, LIMIT)),)))
        assert started.is_set() and not task.done()
        loop.close()  # without cancelling the call: its coroutine's task will never run again
        began = time.monotonic()
        assert host.call("echo", "ident", 7, timeout=LIMIT) == 7  # echo was released, not held until LIMIT
        assert time.monotonic() - began < 3
        del task, loop
        gc.collect()  # asyncio logs the destroyed pending tasks now, inside the test
