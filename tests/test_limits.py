"""Default limits a hostile guest meets, how they are changed, and the threads async calls use.

Memory tests never allocate much: growth is asked for without touching the pages (a grow
the host allows costs address space, not memory), and the one guest that does write to
what it grows stops by itself at a bound the test gives it, far below the machine's memory
even if the host's limit were gone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import harness.runtime._workers as workers
from harness import Host, UsageError
from harness.model._hostconfig import LIMITS
from harness.pipeline._engine import EngineConfig
from harness.pipeline._manifest import parse_manifest

IFACE = "test:limits/hungry@1.0.0"
HOST_WAT = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
MIB_PAGES = 16  # 64 KiB wasm pages per MiB


def _hungry(memory64: bool = False) -> str:
    """A guest that grows its memory or its table on request; `fill` writes to each new page."""
    a = "i64" if memory64 else "i32"  # the memory's address type
    to_a = "i64.extend_i32_u" if memory64 else ""
    to_i32 = "i32.wrap_i64" if memory64 else ""
    return f"""
(component
  (core module $m
    (memory (export "mem") {"i64 " if memory64 else ""}1)
    (table $t 1 funcref)
    (func (export "grow-memory") (param i32) (result i32) local.get 0 {to_a} memory.grow {to_i32})
    (func (export "grow-table") (param i32) (result i32) ref.null func local.get 0 table.grow $t)
    (func (export "fill") (param $max i32) (result i32) (local $n i32)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $n) (local.get $max)))
          (if ({a}.eq (memory.grow ({a}.const 1)) ({a}.const -1)) (then unreachable))
          (i32.store8 ({a}.mul ({a}.sub (memory.size) ({a}.const 1)) ({a}.const 65536)) (i32.const 1))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $l)))
      local.get $n))
  (core instance $i (instantiate $m))
  (func $gm (param "pages" u32) (result s32) (canon lift (core func $i "grow-memory")))
  (func $gt (param "n" u32) (result s32) (canon lift (core func $i "grow-table")))
  (func $fill (param "max" u32) (result u32) (canon lift (core func $i "fill")))
  (instance $e (export "grow-memory" (func $gm)) (export "grow-table" (func $gt)) (export "fill" (func $fill)))
  (export "{IFACE}" (instance $e)))
"""


def _many(memories: int = 0, instances: int = 1) -> str:
    """A component with `memories` core memories in as many core instances, or `instances` core
    instances in all (one exporting `f`, the others empty)."""
    body = ["(core module $mem (memory 1))", "(core module $none)",
            "(core module $f (func (export \"f\") (result i32) i32.const 1))", "(core instance $fi (instantiate $f))"]
    body += ["(core instance (instantiate $mem))"] * memories
    body += ["(core instance (instantiate $none))"] * (instances - 1)
    body += ['(func $f (result u32) (canon lift (core func $fi "f")))',
             f'(instance $e (export "f" (func $f)))\n(export "{IFACE}" (instance $e))']
    return "(component\n  " + "\n  ".join(body) + ")\n"


def _ext(tmp_path: Path, wat: str, limits: str = "", name: str = "hungry") -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / f"{name}.wat").write_text(wat, encoding="utf-8")
    (root / "extension.toml").write_text(f'name = "{name}"\n' + (f"[limits]\n{limits}\n" if limits else ""),
                                         encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


# ------------------------------------------------------------------ linear memory

def test_memory_is_capped_at_256_mib_per_memory_by_default(tmp_path: Path, cache_dir: Path) -> None:
    assert LIMITS["memory_mb"].default == 256
    with Host.load(_ext(tmp_path, _hungry()), cache_dir=str(cache_dir)) as host:
        assert host.call("hungry", "grow-memory", 256 * MIB_PAGES - 1) == 1  # up to 256 MiB: fine
        assert host.call("hungry", "grow-memory", 1) == -1  # one page more is refused


def test_the_memory_cap_is_set_per_host_and_per_extension(tmp_path: Path, cache_dir: Path) -> None:
    small = _ext(tmp_path, _hungry(), name="small")
    large = _ext(tmp_path, _hungry(), "memory_mb = 512", name="large")
    with Host.load(small, large, cache_dir=str(cache_dir), memory_mb=1) as host:
        assert host.call("small", "grow-memory", MIB_PAGES - 1) == 1
        assert host.call("small", "grow-memory", 1) == -1
        assert host.call("large", "grow-memory", 512 * MIB_PAGES - 1) == 1  # the manifest wins
        assert host.call("large", "grow-memory", 1) == -1


def test_a_guest_writing_past_its_cap_gets_a_coded_error(tmp_path: Path, cache_dir: Path) -> None:
    """`fill` writes to every page it grows and traps when a grow is refused. It stops by itself
    after 64 MiB, so without the limit this test fails instead of eating the machine."""
    with Host.load(_ext(tmp_path, _hungry(), "memory_mb = 8"), cache_dir=str(cache_dir)) as host:
        with pytest.raises(Exception) as info:
            host.call("hungry", "fill", 64 * MIB_PAGES)
        assert getattr(info.value, "code", None) == "memory-limit"
        assert host.call("hungry", "fill", 2 * MIB_PAGES) == 2 * MIB_PAGES  # restarted, and usable again


def test_memory64_is_off_unless_the_host_grants_it(tmp_path: Path, cache_dir: Path) -> None:
    root = _ext(tmp_path, _hungry(memory64=True))
    with Host.load(root, cache_dir=str(cache_dir)) as host:
        assert host.status == {"hungry": "error"}
        (diag,) = host.errors
        assert diag.code == "invalid-component" and "Host.load(memory64=True)" in diag.message, str(diag)
    with Host.load(root, cache_dir=str(cache_dir), memory64=True) as host:
        assert host.status == {"hungry": "ok"}
        assert host.call("hungry", "grow-memory", 256 * MIB_PAGES) == -1  # and the cap still holds
        assert host.call("hungry", "grow-memory", 16) == 1


def test_memory64_is_part_of_the_engine_key() -> None:
    assert EngineConfig().key() != EngineConfig(memory64=True).key()
    assert "memory64=0" in EngineConfig().key()


# ------------------------------------------------------------------ tables, memories, instances

def test_table_growth_is_capped_by_default_and_settable(tmp_path: Path, cache_dir: Path) -> None:
    cap = LIMITS["table_elements"].default
    assert cap is not None
    root = _ext(tmp_path, _hungry())
    with Host.load(root, cache_dir=str(cache_dir)) as host:
        assert host.call("hungry", "grow-table", cap) == -1  # 1 + cap elements: refused, nothing allocated
    with Host.load(root, cache_dir=str(cache_dir), table_elements=10) as host:  # Host.load accepts it now
        assert host.call("hungry", "grow-table", 9) == 1
        assert host.call("hungry", "grow-table", 1) == -1


@pytest.mark.parametrize(("what", "count"), [("memories", 5), ("instances", 1_001)])
def test_memories_and_instances_per_extension_are_capped(tmp_path: Path, cache_dir: Path, what: str,
                                                         count: int) -> None:
    """Each memory reserves GiBs of address space: a component asking for thousands made later,
    healthy extensions fail. The default cap stops it at instantiation, with a coded error."""
    default = LIMITS[what].default
    assert default is not None and count == default + 1
    wat = _many(memories=count) if what == "memories" else _many(instances=count)
    root = _ext(tmp_path, wat)
    (tmp_path / "healthy.wat").write_text((HOST_WAT / "calc.wat").read_text(), encoding="utf-8")
    with Host.load(root, tmp_path / "healthy.wat", cache_dir=str(cache_dir)) as host:
        assert host.status == {"hungry": "error", "healthy": "ok"}
        (diag,) = host.errors
        assert (diag.code, diag.extension) == ("instantiation-failed", "hungry")
        assert host.call("healthy", "add", 1, 2) == 3
    with Host.load(root, cache_dir=str(cache_dir), **{what: count}) as host:  # type: ignore[arg-type]
        assert host.status == {"hungry": "ok"}
    (root / "extension.toml").write_text(f'name = "hungry"\n[limits]\n{what} = {count}\n', encoding="utf-8")
    with Host.load(root, cache_dir=str(cache_dir)) as host:
        assert host.status == {"hungry": "ok"}


# ------------------------------------------------------------------ ranges

@pytest.mark.parametrize(("option", "value"), [
    ("memory_mb", 2**44),  # * 2**20 wrapped to 0 bytes
    ("memory_mb", 2**63 - 1),  # wrapped to "no limit"
    ("memory_mb", 0), ("memory_mb", -1), ("memory_mb", True), ("memory_mb", 1.5), ("memory_mb", "256"),
    ("memories", 10_001), ("instances", 0), ("tables", 2**40), ("table_elements", 2**32),
    ("fuel", 2**64), ("timeout_ms", 0), ("timeout_ms", 2**40),
    ("tick_ms", 0), ("tick_ms", 10**9), ("restart_budget", -1), ("restart_budget", 2**40),
    ("max_file_size", 0), ("max_file_size", 2**60), ("memory64", 1),
    ("cache_dir", 5), ("interfaces", 5), ("interfaces", {"a:b/c": 5}),
])
def test_host_options_are_range_checked(option: str, value: object) -> None:
    with pytest.raises(UsageError) as info:
        Host.load("/nonexistent-never-read", **{option: value})
    message = str(info.value)
    shown = repr(value[next(iter(value))]) if isinstance(value, dict) else repr(value)  # the offending value
    assert f"Host option {option}" in message and " must " in message and shown in message
    if option in LIMITS:
        spec = LIMITS[option]
        assert f"from {spec.low} to {spec.high}" in message and spec.unit in message


def test_every_limit_accepts_its_bounds_and_none() -> None:
    from harness.model._hostconfig import HostConfig
    for name, spec in LIMITS.items():
        for value in (spec.low, spec.high, None):
            HostConfig.from_kwargs({name: value})


def test_each_limit_is_declared_once_and_the_manifest_overrides_the_host() -> None:
    """`Limits` holds the one field per `LIMITS` entry; the host's options and the runtime's limits are
    those same fields, so a new limit cannot be accepted by one and dropped by another."""
    from dataclasses import fields

    from harness.model._hostconfig import HostConfig, RuntimeLimits
    from harness.model._records import Limits

    names = [f.name for f in fields(Limits)]
    assert names == list(LIMITS)
    assert [f.name for f in fields(RuntimeLimits)] == names
    assert {f.name for f in fields(HostConfig)} >= set(names)
    assert {n: getattr(HostConfig(), n) for n in names} == {**dict.fromkeys(names), "timeout_ms": 30_000}
    host = HostConfig(timeout_ms=None, fuel=9, memory_mb=8, tables=3)
    got = RuntimeLimits.of(host, Limits(fuel=5, memories=2))
    assert {n: getattr(got, n) for n in names} == {"timeout_ms": None, "fuel": 5, "memory_mb": 8, "memories": 2,
                                                    "instances": None, "tables": 3, "table_elements": None}
    assert got.effective("instances") == LIMITS["instances"].default


@pytest.mark.parametrize(("text", "fragment"), [
    ("memory_mb = 17592186044416", "over its maximum 65536 (MiB per linear memory)"),
    ("memories = 0", "must be a positive integer"),
    ("table_elements = 4294967296", "over its maximum 4294967295 (elements per table)"),
    ("instances = 10001", "over its maximum 10000"),
])
def test_manifest_limits_are_range_checked(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "extension.toml").write_text(f"[limits]\n{text}\n", encoding="utf-8")
    manifest, diags = parse_manifest(tmp_path / "extension.toml", default_name="ext")
    assert manifest is None
    (diag,) = diags
    assert (diag.code, diag.subject) == ("bad-manifest", f"limits.{text.split()[0]}")
    assert fragment in diag.message


# ------------------------------------------------------------------ async worker threads

def _async_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("ext-harness-async", "ext-calc"))]


def _wait_until(predicate: object, seconds: float) -> bool:
    assert callable(predicate)
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_async_workers_are_bounded_and_exit_when_idle(tmp_path: Path, cache_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """One acall into each of 12 extensions used to leave 12 threads alive for good."""
    assert _wait_until(lambda: workers.worker_count() == 0, 5), "workers of earlier tests did not exit"
    monkeypatch.setattr(workers, "MAX_WORKERS", 4)
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.1)
    names = [f"calc{i}" for i in range(12)]
    for name in names:
        (tmp_path / f"{name}.wat").write_text((HOST_WAT / "calc.wat").read_text(), encoding="utf-8")
    seen: list[int] = []

    async def run(host: Host) -> list[int]:
        async def one(i: int, name: str) -> int:
            result: int = await host.acall(name, "add", i, 1)
            seen.append(len(_async_threads()))
            return result
        return list(await asyncio.gather(*(one(i, n) for i, n in enumerate(names))))

    with Host.load(tmp_path, cache_dir=str(cache_dir), timeout_ms=10_000) as host:
        assert asyncio.run(run(host)) == [i + 1 for i in range(12)]
        assert max(seen) <= 4
        assert _wait_until(lambda: not _async_threads(), 5), [t.name for t in _async_threads()]
        assert asyncio.run(run(host)) == [i + 1 for i in range(12)]  # and new ones start when needed


def test_a_lane_runs_in_order_and_lets_other_lanes_take_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one worker: a flooded extension runs `BATCH` calls, then the other one gets its turn."""
    monkeypatch.setattr(workers, "_POOL", workers._Pool())  # a pool of its own, no idle workers
    monkeypatch.setattr(workers, "MAX_WORKERS", 1)
    monkeypatch.setattr(workers, "BATCH", 2)
    a, b = workers.Lane(), workers.Lane()
    gate = threading.Event()
    ran: list[str] = []

    def job(label: str) -> str:
        if label == "a1":
            assert gate.wait(10)
        ran.append(label)
        return label

    futures = [a.submit(job, "a1")]
    futures += [a.submit(job, f"a{i}") for i in (2, 3, 4)] + [b.submit(job, f"b{i}") for i in (1, 2)]
    gate.set()
    assert [f.result(timeout=10) for f in futures] == ["a1", "a2", "a3", "a4", "b1", "b2"]
    assert ran == ["a1", "a2", "b1", "b2", "a3", "a4"]
    assert workers._POOL.count() <= 1
    a.shutdown()
    with pytest.raises(RuntimeError):
        a.submit(job, "late")
    assert b.submit(job, "b3").result(timeout=10) == "b3"


def test_a_call_cancelled_while_queued_does_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "_POOL", workers._Pool())
    monkeypatch.setattr(workers, "MAX_WORKERS", 1)
    lane = workers.Lane()
    gate = threading.Event()
    ran: list[int] = []
    def job(i: int) -> None:
        assert i != 1 or gate.wait(10)
        ran.append(i)

    first, second, third = (lane.submit(job, i) for i in (1, 2, 3))
    assert second.cancel()
    gate.set()
    third.result(timeout=10)
    assert first.done() and second.cancelled() and ran == [1, 3]


def test_calls_into_different_extensions_run_at_once_up_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight lanes whose calls can only finish together (a barrier): every round needs eight
    workers at once, whether they are new, waiting from the last round, or leaving when idle."""
    monkeypatch.setattr(workers, "_POOL", workers._Pool())
    monkeypatch.setattr(workers, "MAX_WORKERS", 8)
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.05)
    lanes = [workers.Lane() for _ in range(8)]
    for round_ in range(6):
        barrier = threading.Barrier(8, timeout=5)
        futures = [lane.submit(barrier.wait) for lane in lanes[: 8 - round_ % 2]]
        if round_ % 2:  # one call arrives late, after the others wait: it still gets a worker
            time.sleep(0.02)
            futures.append(lanes[-1].submit(barrier.wait))
        assert sorted(f.result(timeout=10) for f in futures) == list(range(8))
        time.sleep(0.1 * (round_ % 3))  # sometimes the workers have left, sometimes not
        assert workers._POOL.count() <= 8
