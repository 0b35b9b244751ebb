"""Fault injection at run time: random schedules of calls against a reference model.

Six extensions: `calm` (always healthy), `trappy` (traps), `loopy` (spins until its
30 ms timeout), `hungry` (grows memory past a 2 MiB limit), `hosty` (its host
function raises) and `deep` (recurses through a host function; too deep is refused).
Each has a healthy function too. A schedule mixes sync calls and batches of
concurrent async calls. The model predicts every outcome, value or error code,
from the restart rule: a faulted extension is instantiated again on its next call
while it has restarts left, and answers `extension-faulted` after that.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import stat
from harness.model._codes import CALL_CODES
from harness.model._errors import CallError
from harness.runtime._host import Host
from harness.testing import (
    U32,
    AddParams,
    Const,
    Forward,
    GrowMemory,
    Loop,
    MockExtension,
    Recurse,
    Trap,
    fn,
    iface,
    write_extension,
)

BUDGET = 3
HOSTFN = "x:hostfn/api@1.0.0"
RECUR = "x:rec/api@1.0.0"
MASK = 2**32 - 1

EXTENSIONS = [
    MockExtension("calm", exports=(iface("x:calm/lib@1.0.0",
                                         fn("add", [("a", U32), ("b", U32)], U32, AddParams())),)),
    MockExtension("trappy", exports=(iface("x:trappy/lib@1.0.0", fn("trap", (), U32, Trap()),
                                           fn("fine", (), U32, Const(7))),)),
    MockExtension("loopy", exports=(iface("x:loopy/lib@1.0.0", fn("spin", (), U32, Loop()),
                                          fn("fine", (), U32, Const(8))),),
                  manifest_extra={"limits": {"timeout_ms": 30}}),
    MockExtension("hungry", exports=(iface("x:hungry/lib@1.0.0", fn("grow", (), U32, GrowMemory()),
                                           fn("fine", (), U32, Const(9))),),
                  manifest_extra={"limits": {"memory_mb": 2}}),
    MockExtension("hosty", exports=(iface("x:hosty/lib@1.0.0",
                                          fn("ok", [("x", U32)], U32, Forward(HOSTFN, "ok")),
                                          fn("boom", [("x", U32)], U32, Forward(HOSTFN, "boom"))),),
                  imports=(iface(HOSTFN, fn("ok", [("x", U32)], U32), fn("boom", [("x", U32)], U32)),)),
    MockExtension("deep", exports=(iface("x:deep/lib@1.0.0", fn("down", [("n", U32)], U32,
                                                                Recurse(RECUR, "down"))),),
                  imports=(iface(RECUR, fn("down", [("n", U32)], U32)),)),
]

# (extension, function) -> (fault code or None, expected value of a healthy call given the argument)
FAULTS: dict[tuple[str, str], str | None] = {
    ("calm", "add"): None, ("trappy", "trap"): "trap", ("trappy", "fine"): None,
    ("loopy", "spin"): "timeout", ("loopy", "fine"): None, ("hungry", "grow"): "memory-limit",
    ("hungry", "fine"): None, ("hosty", "ok"): None, ("hosty", "boom"): "host-error",
    ("deep", "down"): None,
}
DEEP_LIMIT = 64  # max_depth: `down(n)` needs n + 1 frames


@dataclass(frozen=True)
class Op:
    extension: str
    function: str
    args: tuple[int, ...]
    mode: str  # "sync" | "async"


def expected_value(op: Op) -> int:
    e, f = op.extension, op.function
    if (e, f) == ("calm", "add"):
        return (op.args[0] + op.args[1]) & MASK
    if (e, f) == ("hosty", "ok"):
        return (op.args[0] * 3) & MASK
    if (e, f) == ("deep", "down"):
        return 0
    return {"trappy": 7, "loopy": 8, "hungry": 9}[e]


def fault_of(op: Op) -> str | None:
    if (op.extension, op.function) == ("deep", "down"):
        return "reentrancy" if op.args[0] + 1 > DEEP_LIMIT else None
    return FAULTS[(op.extension, op.function)]


@dataclass
class Model:
    """The restart rule, per extension."""

    faulted: dict[str, bool] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def step(self, op: Op) -> tuple[str, Any]:
        e = op.extension
        if self.faulted.get(e):
            if self.restarts[e] >= BUDGET:
                return ("error", "extension-faulted")
            self.restarts[e] += 1
            self.faulted[e] = False
        code = fault_of(op)
        if code is not None:
            self.faulted[e] = True
            self.faults[e] += 1
            return ("error", code)
        return ("value", expected_value(op))


def _op(e: str, f: str, args: st.SearchStrategy[tuple[int, ...]]
        ) -> st.SearchStrategy[tuple[str, str, tuple[int, ...]]]:
    return st.tuples(st.just(e), st.just(f), args)


u32 = st.integers(0, MASK)
OPS = st.tuples(
    st.one_of(
        _op("calm", "add", st.tuples(u32, u32)),
        _op("trappy", "trap", st.just(())), _op("trappy", "fine", st.just(())),
        _op("loopy", "spin", st.just(())), _op("loopy", "fine", st.just(())),
        _op("hungry", "grow", st.just(())), _op("hungry", "fine", st.just(())),
        _op("hosty", "ok", st.tuples(u32)), _op("hosty", "boom", st.tuples(u32)),
        _op("deep", "down", st.tuples(st.sampled_from([0, 1, 5, 20, 62, 63, 64, 90]))),
    ),
    st.sampled_from(["sync", "async"]),
).map(lambda x: Op(x[0][0], x[0][1], x[0][2], x[1]))


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="faults-") as d:
        root = Path(d)
        for m in EXTENSIONS:
            write_extension(m, root / "exts")
        (root / "cache").mkdir()
        yield root


def _load(folder: Path) -> Host:
    box: dict[str, Host] = {}

    def ok(x: int) -> int:
        return (x * 3) & MASK

    def boom(x: int) -> int:
        raise ValueError(f"boom {x}")

    def down(n: int) -> Any:
        return box["host"].call("deep", "down", n)

    host = Host.load(folder / "exts", cache_dir=str(folder / "cache"), restart_budget=BUDGET,
                     reentrancy=True, max_depth=DEEP_LIMIT,
                     interfaces={HOSTFN: {"ok": ok, "boom": boom}, RECUR: {"down": down}})
    box["host"] = host
    return host


def _outcome(r: Any) -> tuple[str, Any]:
    if isinstance(r, CallError):
        assert r.code in CALL_CODES, r
        assert type(r).code == r.code
        return ("error", r.code)
    if isinstance(r, BaseException):  # anything else escaping is a bug
        raise AssertionError(f"uncoded exception {r!r}") from r
    return ("value", r)


def _timeout(op: Op) -> float:
    # async calls wait for their turn under the same deadline: give healthy ones room
    return 0.25 if op.function == "spin" else 20.0


def run_schedule(host: Host, ops: list[Op]) -> list[tuple[str, Any]]:
    results: list[tuple[str, Any]] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if op.mode == "sync":
            try:
                results.append(_outcome(host.call(op.extension, op.function, *op.args)))
            except CallError as e:
                results.append(_outcome(e))
            i += 1
            continue
        batch = []
        while i < len(ops) and ops[i].mode == "async":
            batch.append(ops[i])
            i += 1

        async def gather(batch: list[Op] = batch) -> list[Any]:
            return list(await asyncio.gather(
                *(host.acall(o.extension, o.function, *o.args, timeout=_timeout(o)) for o in batch),
                return_exceptions=True))

        results.extend(_outcome(r) for r in asyncio.run(gather()))
    return results


def check_schedule(host: Host, ops: list[Op]) -> None:
    model = Model()
    want = [model.step(op) for op in ops]
    got = run_schedule(host, ops)
    assert len(got) == len(ops)  # none is lost
    for op, g, w in zip(ops, got, want, strict=True):
        assert g == w, (op, g, w, ops)
    # faulted extensions restarted exactly as the rule says, and said so in host.events
    events = Counter((ev.kind, ev.extension) for ev in host.events)
    for e in {op.extension for op in ops}:
        assert events[("restart", e)] == model.restarts[e], (e, host.events)
        assert events[("fault", e)] == model.faults[e], (e, host.events)
        assert events[("restart-failed", e)] == 0
    # healthy extensions still answer after all of it
    assert host.call("calm", "add", 2, 3) == 5
    for (_, code) in got:
        stat("fault-injection", str(code) if isinstance(code, str) else "value")
    stat("fault-injection-runs", "ops", len(ops))
    stat("fault-injection-runs", "schedules")


@settings(max_examples=40)
@given(ops=st.lists(OPS, min_size=1, max_size=30).filter(
    lambda ops: sum(o.function == "spin" for o in ops) <= 3))
def test_random_schedules_match_the_restart_model(folder: Path, ops: list[Op]) -> None:
    # one spin per async batch: spins queued behind a spin would time out waiting, not running
    with _load(folder) as host:
        check_schedule(host, _one_spin_per_batch(ops))


def _one_spin_per_batch(ops: list[Op]) -> list[Op]:
    out: list[Op] = []
    spin_in_batch = False
    for op in ops:
        if op.mode == "sync":
            spin_in_batch = False
        elif op.function == "spin":
            if spin_in_batch:
                op = Op(op.extension, op.function, op.args, "sync")
                spin_in_batch = False
            else:
                spin_in_batch = True
        out.append(op)
    return out


def test_long_seeded_schedule(folder: Path) -> None:
    rng = random.Random(1234)
    choices = [k for k in FAULTS if k != ("loopy", "spin")]
    ops = []
    for _ in range(400):
        e, f = rng.choice(choices)
        args: tuple[int, ...] = ()
        if (e, f) == ("calm", "add"):
            args = (rng.randrange(2**32), rng.randrange(2**32))
        elif e == "hosty":
            args = (rng.randrange(2**32),)
        elif e == "deep":
            args = (rng.choice([0, 3, 63, 70]),)
        ops.append(Op(e, f, args, rng.choice(["sync", "async"])))
    ops[50:50] = [Op("loopy", "spin", (), "sync"), Op("loopy", "fine", (), "async")]
    with _load(folder) as host:
        check_schedule(host, ops)


def test_depth_cap_is_reachable_through_host_functions(folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Each hop through a Python host function costs many frames: past what Python's stack can
    hold, the hop is refused as `reentrancy` instead of failing inside a ctypes callback."""
    box: dict[str, Host] = {}

    def down(n: int) -> Any:
        return box["host"].call("deep", "down", n)

    deep = next(m for m in EXTENSIONS if m.name == "deep")
    write_extension(deep, folder / "deep-only")
    with Host.load(folder / "deep-only", cache_dir=str(folder / "cache"), reentrancy=True, max_depth=150,
                   interfaces={RECUR: {"down": down}}) as host:
        box["host"] = host
        assert host.call("deep", "down", 30) == 0
        with pytest.raises(CallError) as info:
            host.call("deep", "down", 200)
        assert info.value.code == "reentrancy"
        assert "recursion limit" in info.value.message
    assert "Traceback" not in capfd.readouterr().err
