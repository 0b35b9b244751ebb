"""The execution model under attack: native stack, time limits while loading, Ctrl-C,
re-entrant faults, restarts racing short deadlines, and the reason a trap is reported with.

Whatever could kill or hang the process runs in a subprocess with a timeout, so a
regression is a failed test, not a dead pytest.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from harness.model._errors import CallError, CallTimeoutError, TrapError
from harness.runtime._calls import _reason_of, classify_error
from harness.runtime._host import Host

ROOT = Path(__file__).resolve().parent.parent
HOST_WAT = ROOT / "fixtures" / "wat" / "host"
CB = "test:host/cb@1.0.0"


def _run(script: str, *, timeout: float = 120, stack_kib: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter (optionally with `ulimit -s stack_kib`)."""
    def limit() -> None:
        if stack_kib is not None:
            resource.setrlimit(resource.RLIMIT_STACK, (stack_kib * 1024, stack_kib * 1024))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, env=env, cwd=ROOT)


# ------------------------------------------------------------------ native stack (finding 2)

def _chain_wat(k: int, last: bool) -> str:
    """Extension k: `down(n)` recurses n levels in its own wasm, then calls extension k+1's `down(n)`."""
    imports = "" if last else f"""
  (import "test:chain{k + 1}/lib@1.0.0" (instance $next (export "down" (func (param "n" u32) (result u32)))))
  (core func $down (canon lower (func $next "down")))"""
    core_import = "" if last else '(import "next" "down" (func $next (param i32) (result i32)))'
    bottom = "(i32.const 0)" if last else "(call $next (local.get 1))"
    inst = "(instantiate $m)" if last else '(instantiate $m (with "next" (instance (export "down" (func $down)))))'
    return f"""(component{imports}
  (core module $m
    {core_import}
    (func $rec (param i32 i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then {bottom})
        (else (i32.add (i32.const 1) (call $rec (i32.sub (local.get 0) (i32.const 1)) (local.get 1))))))
    (func (export "down") (param i32) (result i32) (call $rec (local.get 0) (local.get 0))))
  (core instance $i {inst})
  (func $d (param "n" u32) (result u32) (canon lift (core func $i "down")))
  (instance $out (export "down" (func $d)))
  (export "test:chain{k}/lib@1.0.0" (instance $out)))
"""


def _write_chain(folder: Path, n: int) -> None:
    for k in range(n):
        (folder / f"chain{k}.wat").write_text(_chain_wat(k, k == n - 1))


_CHAIN_CALL = """
    import asyncio, json, sys
    from harness import Host
    from harness.model._errors import CallError
    folder, depth, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.argv = sys.argv[:1]
    with Host.load(folder, cache_dir=folder + "/cache") as host:
        try:
            if mode == "sync":
                out = {{"value": host.call("chain0", "down", depth)}}
            else:
                out = {{"value": asyncio.run(host.acall("chain0", "down", depth))}}
        except CallError as e:
            out = {{"code": e.code, "reason": e.details.get("reason"), "message": e.message}}
        print(json.dumps(out))
"""


def _call_chain(folder: Path, depth: int, mode: str, stack_kib: int | None = None) -> dict[str, Any]:
    script = _CHAIN_CALL.format()
    code = f"import sys; sys.argv = ['x', {str(folder)!r}, '{depth}', '{mode}']\n" + textwrap.dedent(script)
    proc = _run(code, stack_kib=stack_kib)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def chain40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chain40")
    _write_chain(folder, 40)
    return folder


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_chain_of_deeply_recursing_extensions_is_a_coded_error_not_a_crash(chain40: Path, mode: str) -> None:
    """40 extensions each using most of its wasm stack: more than any thread's stack holds.
    Before the stack budget, the 9th or so hop overran the native stack (SIGSEGV, exit 139)."""
    out = _call_chain(chain40, 20_000, mode)
    assert out.get("code") == "trap", out
    assert out["reason"] == "call stack exhausted"
    assert "KiB of native stack are left" in out["message"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_shallow_chain_still_goes_through(chain40: Path, mode: str) -> None:
    """The budget is measured, not guessed: 40 hops that use little stack are fine."""
    assert _call_chain(chain40, 10, mode) == {"value": 400}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_tiny_main_stack_runs_guests_elsewhere(chain40: Path, tmp_path: Path, mode: str) -> None:
    """`ulimit -s 1024`: the main thread cannot hold one Store's 1 MiB wasm stack; calls are
    handed to a thread with a big stack. Before: two chained guests were a SIGSEGV."""
    _write_chain(tmp_path, 2)
    assert _call_chain(tmp_path, 20_000, mode, stack_kib=1024) == {"value": 40_000}
    out = _call_chain(chain40, 20_000, mode, stack_kib=1024)
    assert out.get("code") == "trap" and out["reason"] == "call stack exhausted", out


def test_one_guest_exhausting_its_own_stack_under_a_tiny_ulimit(tmp_path: Path) -> None:
    _write_chain(tmp_path, 1)
    out = _call_chain(tmp_path, 10_000_000, "sync", stack_kib=1024)
    assert out.get("code") == "trap" and out["reason"] == "wasm trap: call stack exhausted", out


# ------------------------------------------------------------------ time limits while loading (finding 3)

_LOOPING_START = """(component
  (core module $m (func $s (loop $l br $l)) (start $s) (func (export "f") (result i32) i32.const 1))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (instance $o (export "f" (func $f)))
  (export "x:loopy/lib@1.0.0" (instance $o)))
"""

# The start function asks the host whether to loop: it starts at load, and loops on a restart.
_START_ASKS_HOST = """(component
  (import "test:host/cb@1.0.0" (instance $host (export "cb" (func (param "x" u32) (result u32)))))
  (core func $cb (canon lower (func $host "cb")))
  (core module $m
    (import "host" "cb" (func $cb (param i32) (result i32)))
    (func $start (if (call $cb (i32.const 0)) (then (loop $l br $l))))
    (start $start)
    (func (export "boom") (result i32) unreachable)
    (func (export "fine") (result i32) i32.const 8))
  (core instance $i (instantiate $m (with "host" (instance (export "cb" (func $cb))))))
  (func $boom (result u32) (canon lift (core func $i "boom")))
  (func $fine (result u32) (canon lift (core func $i "fine")))
  (instance $out (export "boom" (func $boom)) (export "fine" (func $fine)))
  (export "test:rs/lib@1.0.0" (instance $out)))
"""


def _extension(root: Path, name: str, wat: str, timeout_ms: int | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{name}.wat").write_text(wat)
    limits = f"\n[limits]\ntimeout_ms = {timeout_ms}\n" if timeout_ms else "\n"
    (folder / "extension.toml").write_text(f'name = "{name}"\nversion = "1.0.0"\ncomponent = "{name}.wat"{limits}')
    return folder


def test_a_looping_start_function_does_not_hang_the_load(tmp_path: Path) -> None:
    _extension(tmp_path, "loopy", _LOOPING_START, timeout_ms=200)
    good = _extension(tmp_path, "good", (HOST_WAT / "calc.wat").read_text())
    assert good.is_dir()
    proc = _run(f"""
        import json
        from harness import Host
        with Host.load({str(tmp_path)!r}, cache_dir={str(tmp_path / "cache")!r}) as host:
            print(json.dumps({{"loaded": list(host.extensions), "add": host.call("good", "add", 2, 3),
                              "errors": [[d.code, d.extension, d.message] for d in host.errors]}}))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["loaded"] == ["good"] and out["add"] == 5
    assert out["errors"] == [["instantiation-failed", "loopy",
                              "loopy did not instantiate: its start function was stopped: timed out after 200 ms"]]


def test_a_start_function_that_loops_on_restart_is_a_failed_restart(tmp_path: Path) -> None:
    _extension(tmp_path, "rs", _START_ASKS_HOST, timeout_ms=200)
    proc = _run(f"""
        import json, time
        from harness import Host
        from harness.model._errors import CallError
        loop = {{"v": 0}}
        with Host.load({str(tmp_path)!r}, cache_dir={str(tmp_path / "cache")!r},
                       interfaces={{"test:host/cb@1.0.0": {{"cb": lambda x: loop["v"]}}}}) as host:
            out = {{"loaded": list(host.extensions)}}
            try:
                host.call("rs", "boom")
            except CallError as e:
                out["fault"] = e.code
            loop["v"] = 1
            t = time.monotonic()
            try:
                host.call("rs", "fine", timeout=5)
            except CallError as e:
                out["restart"] = [e.code, e.message, round(time.monotonic() - t, 1)]
            print(json.dumps(out))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["loaded"] == ["rs"] and out["fault"] == "trap"
    code, message, took = out["restart"]
    assert code == "extension-faulted"
    assert message.endswith("could not be restarted to call test:rs/lib@1.0.0#fine: "
                            "its start function was stopped: timed out after 200 ms")
    assert took < 2


def test_a_looping_init_is_init_failed_with_its_time_limit(tmp_path: Path) -> None:
    from harness.testing import Loop, MockExtension, write_extension
    write_extension(MockExtension("spinit", init=Loop(), manifest_extra={"limits": {"timeout_ms": 150}}), tmp_path)
    _extension(tmp_path, "good", (HOST_WAT / "calc.wat").read_text())
    proc = _run(f"""
        import json
        from harness import Host
        with Host.load({str(tmp_path)!r}, cache_dir={str(tmp_path / "cache")!r}) as host:
            print(json.dumps({{"loaded": list(host.extensions),
                              "errors": [[d.code, d.extension, d.message] for d in host.errors]}}))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["loaded"] == ["good"]
    assert out["errors"] == [["init-failed", "spinit", "spinit: init failed: timeout: timed out after 150 ms"]]


# ------------------------------------------------------------------ Ctrl-C (finding 8)

def _wait_until_busy(proc: subprocess.Popen[str], seconds: float = 0.5) -> None:
    """Wait until the child has burnt `seconds` of CPU since its start line (the guest spins)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "calling", line
    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    start = cpu()
    give_up = time.monotonic() + 20
    while cpu() - start < seconds and time.monotonic() < give_up:
        time.sleep(0.05)


def test_ctrl_c_stops_a_spinning_guest_and_the_store_is_restarted(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from harness import Host
        with Host.load({str(HOST_WAT / "calc.wat")!r}, cache_dir={str(tmp_path)!r}) as host:
            print("calling", flush=True)
            t = time.monotonic()
            try:
                host.call("calc", "spin", timeout=60)
            except KeyboardInterrupt:
                print("interrupted after", round(time.monotonic() - t, 1), flush=True)
            print("then", host.call("calc", "add", 1, 2), [(e.kind, e.message) for e in host.events], flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        _wait_until_busy(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Exception ignored" not in err
    lines = out.strip().splitlines()
    assert lines[0].startswith("interrupted after")
    assert float(lines[0].split()[-1]) < 5
    assert lines[1].startswith("then 3") and "restart after interrupted (for the caller's sake" in lines[1]


def test_ctrl_c_in_the_cli_exits_130(tmp_path: Path) -> None:
    calc = str(HOST_WAT / "calc.wat")
    wrapper = textwrap.dedent(f"""
        import sys
        from harness.cli import main
        print("calling", flush=True)
        sys.exit(main(["call", {calc!r}, "calc", "spin", "--timeout-ms", "60000", "--cache-dir", {str(tmp_path)!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", wrapper], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        _wait_until_busy(proc)
        t = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert time.monotonic() - t < 5
    assert "interrupted" in err and "Exception ignored" not in err


# ------------------------------------------------------------------ re-entrant faults and restarts (finding 11)

_REENTRANT = """(component
  (import "test:host/cb@1.0.0" (instance $host (export "cb" (func (param "x" u32) (result u32)))))
  (core func $cb (canon lower (func $host "cb")))
  (core module $m
    (import "host" "cb" (func $cb (param i32) (result i32)))
    (func (export "call-host") (param i32) (result i32) local.get 0 call $cb)
    (func (export "boom") (param i32) (result i32) unreachable)
    (func (export "ident") (param i32) (result i32) local.get 0))
  (core instance $i (instantiate $m (with "host" (instance (export "cb" (func $cb))))))
  (func $call-host (param "x" u32) (result u32) (canon lift (core func $i "call-host")))
  (func $boom (param "x" u32) (result u32) (canon lift (core func $i "boom")))
  (func $ident (param "x" u32) (result u32) (canon lift (core func $i "ident")))
  (instance $out (export "call-host" (func $call-host)) (export "boom" (func $boom)) (export "ident" (func $ident)))
  (export "test:re/lib@1.0.0" (instance $out)))
"""


def test_a_caught_reentrant_trap_reports_the_trap_not_a_wasmtime_bug(tmp_path: Path) -> None:
    (tmp_path / "re.wat").write_text(_REENTRANT)
    box: dict[str, Any] = {}

    def cb(x: int) -> int:
        try:
            return int(box["host"].call("re", "boom", x))
        except CallError as e:
            box["inner"] = e
            return 42  # the host function carries on as if nothing happened

    with Host.load(tmp_path / "re.wat", cache_dir=str(tmp_path / "cache"), reentrancy=True,
                   interfaces={CB: {"cb": cb}}) as host:
        box["host"] = host
        with pytest.raises(TrapError) as e:
            host.call("re", "call-host", 1)
        assert "BUG" not in e.value.message and "maintainers" not in e.value.message
        assert e.value.details["reason"] == "wasm trap: wasm `unreachable` instruction executed"
        assert e.value.details["nested"] == "test:re/lib@1.0.0#boom"
        assert e.value.__cause__ is box["inner"]
        assert "a nested call into re (test:re/lib@1.0.0#boom) failed" in e.value.message
        assert host.call("re", "ident", 3) == 3  # restarted


_SLOW_START = """(component
  (core module $m
    (func $burn (local i32)
      (local.set 0 (i32.const BURN))
      (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $l (local.get 0))))
    (start $burn)
    (func (export "boom") (result i32) unreachable)
    (func (export "spin") (result i32) (loop $l br $l) i32.const 0)
    (func (export "fine") (result i32) i32.const 8))
  (core instance $i (instantiate $m))
  (func $boom (result u32) (canon lift (core func $i "boom")))
  (func $spin (result u32) (canon lift (core func $i "spin")))
  (func $fine (result u32) (canon lift (core func $i "fine")))
  (instance $out (export "boom" (func $boom)) (export "spin" (func $spin)) (export "fine" (func $fine)))
  (export "test:slow/lib@1.0.0" (instance $out)))
"""


def test_a_short_timeout_right_after_a_fault_is_a_timeout_not_a_failed_restart(tmp_path: Path) -> None:
    """The restart's start function takes far longer than the call's timeout. Before, it ran
    under the call's deadline, was stopped, and the call got `extension-faulted`. Now a
    restart runs under the extension's own limit and does not count against the call."""
    (tmp_path / "slow.wat").write_text(_SLOW_START.replace("BURN", "100000000"))
    with Host.load(tmp_path / "slow.wat", cache_dir=str(tmp_path / "cache"), restart_budget=1000) as host:
        assert host.errors == ()
        for _ in range(2):
            with pytest.raises(TrapError):
                host.call("slow", "boom")
            with pytest.raises(CallTimeoutError) as e:
                host.call("slow", "spin", timeout=0.01)
            assert e.value.code == "timeout" and e.value.message.endswith("ran past its time limit")
            assert host.call("slow", "fine", timeout=0.01) == 8  # restarted again first
        assert [ev.kind for ev in host.events].count("restart") == 4
        assert not [ev for ev in host.events if ev.kind == "restart-failed"]


def test_short_timeouts_after_faults_repeatedly(tmp_path: Path) -> None:
    """The race as it was met: a restart whose start function takes about as long as the
    short timeout of the call that triggers it, many times over."""
    (tmp_path / "slow.wat").write_text(_SLOW_START.replace("BURN", "3000000"))
    with Host.load(tmp_path / "slow.wat", cache_dir=str(tmp_path / "cache"), restart_budget=10_000) as host:
        codes = []
        for _ in range(100):
            with pytest.raises(TrapError):
                host.call("slow", "boom")
            try:
                host.call("slow", "spin", timeout=0.005)
            except CallError as e:
                codes.append(e.code)
        assert codes == ["timeout"] * 100


# ------------------------------------------------------------------ trap reasons (finding 13)

_BUG = """error while executing at wasm backtrace:
    0:     0x8f - m!<wasm function 1>

Caused by:
    BUG: current thread is not a host thread
location: crates/wasmtime/src/runtime/component/concurrent.rs:1849
version: 50.0.0

This is a bug in Wasmtime that was not thought to be reachable. A panic is
not happening to avoid taking down the thread, but this trap is being injected
into WebAssembly guests to prevent their execution. The Wasmtime project would
appreciate a bug report with a copy of this message to help investigate what
happened. If you're able to provide a reproduction, that would be appreciated,
but it is not necessary to do so and instead indicating that this is reachable
is a sufficiently actionable bug for maintainers to investigate.


"""

REASONS = [
    ("error while executing at wasm backtrace:\n    0:     0x72 - m!<wasm function 1>\n\nCaused by:\n"
     "    wasm trap: wasm `unreachable` instruction executed\n", "wasm trap: wasm `unreachable` instruction executed"),
    ("error while executing at wasm backtrace:\n    0: m!double\n    1:     0x31 - m!double\n\nCaused by:\n"
     "    wasm trap: call stack exhausted\n", "wasm trap: call stack exhausted"),
    ("error while executing at wasm backtrace:\n    0:     0x76 - m!<wasm function 2>\n\nCaused by:\n"
     "    ext-harness: timeout\n", "ext-harness: timeout"),
    ("error while executing at wasm backtrace:\n    0:     0x94 - m!<wasm function 4>\n\nCaused by:\n"
     "    wasm trap: all fuel consumed by WebAssembly\n", "wasm trap: all fuel consumed by WebAssembly"),
    (_BUG, "BUG: current thread is not a host thread"),
    ("component imports instance `a:b/c`, but a matching implementation was not found in the linker\n\n"
     "Caused by:\n    0: instance export `f` has the wrong type\n    1: function implementation is missing\n",
     "function implementation is missing"),
    # a provider's error text nested in its consumer's (a proxy hands it on)
    ("error while executing at wasm backtrace:\n    0:     0x10 - m!relay\n\nCaused by:\n"
     "    error while executing at wasm backtrace:\n        0:     0x72 - m!boom\n    \n    Caused by:\n"
     "        wasm trap: integer divide by zero\n", "wasm trap: integer divide by zero"),
    ("wasm trap: out of bounds memory access", "wasm trap: out of bounds memory access"),
    ("", "wasm trap"),
]


@pytest.mark.parametrize(("text", "reason"), REASONS)
def test_the_reason_is_the_traps_own_cause_line(text: str, reason: str) -> None:
    assert _reason_of(text) == reason


def test_classify_keeps_the_full_text_and_ignores_names_in_the_backtrace() -> None:
    err = classify_error(_BUG, extension="c", function="run", chain=[])
    assert err.message == "c: run trapped: BUG: current thread is not a host thread"
    assert err.details == {"reason": "BUG: current thread is not a host thread", "text": _BUG}
    named = ("error while executing at wasm backtrace:\n    0:     0x72 - m!memory_limit_exceeds_fuel_consumed\n\n"
             "Caused by:\n    wasm trap: wasm `unreachable` instruction executed\n")
    assert type(classify_error(named, extension="c", function="run", chain=[])) is TrapError
