"""Call-path figures, measured side by side in one run on the same WAT components.

1. host → extension: `host.function` / `host.call` vs wasmtime-py's stock `Func.__call__`
   (with and without `post_return`);                                     target ≥ 5×
   and vs the floor, a bare ctypes `wasmtime_component_func_call` (wasmtime-py's binding) with the
   arguments lowered once and the result read as an int;                 target ≤ 1.3× the floor
   and vs the same C call made without wasmtime-py's argument types, as harness makes it;
2. one cross-extension proxy hop (a guest loop calling the other extension N times) vs a naive
   proxy written with the stock API (`add_func` + stock call);           target ≥ 8×
   and vs the floor, a raw C callback that only passes the arrays on;    target ≤ 1.5× the floor
3. two CPU-bound calls on two extensions with `asyncio.gather` vs one after the other; target ≥ 1.6×
4. throughput of 10,000 `acall`s spread over 8 extensions;
5. a 5 MB `bytes` argument for a `list<u8>`: wasmtime-py's converter vs the bulk copy, and the
   whole call (which also holds wasmtime's own copy into the guest and the guest's pass over it).
6. per-hop cost of a chain of extensions (each calls the next) at depth 2 and at depth 60: deep
   chains take the checked path (stack budgets); target: depth 60 ≤ 1.3× depth 2. Next to it, the
   same chains linked with bare pass-through callbacks (`_floors.py`): how a chain grows by itself.
7. the value mapping: a record result (read back as a dict) and a record argument next to a
   scalar call, and wasmtime-py's stock call of the record function.
8. resources across a link (a guest loop): a method call and a constructor + drop pair next to a
   plain proxy hop; targets ≤ 2× and ≤ 3× the hop. Next to them, the floors: the same link made of
   bare callbacks doing only the C calls a handle needs (`_floors.py`).

Rounds alternate between the contenders and the figures are medians: the machine is noisy.
Single-threaded figures ([1], [2], [5], [6], [8]) are CPU time of this process (`time.process_time`), so
other processes sharing the machine do not inflate them; [3] and [4] (threads) are wall time.
Run: `python benchmarks/bench_calls.py [--quick]`.
"""

from __future__ import annotations

import asyncio
import ctypes
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _bindings
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from harness import Host
from harness.runtime._calls import SIZES, _func_call
from harness.runtime._fastpath import lower_bytes
from harness.testing._chains import chain_wat as _chain_wat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floors import raw_chain, raw_passthrough, raw_resource_link, stock_func  # this folder's own module

_typed_call = _bindings._wasmtime_component_func_call  # wasmtime-py's binding, with its argument types
ROOT = Path(__file__).resolve().parent.parent
HOST_WAT = ROOT / "fixtures" / "wat" / "host"
CALC = "test:calc/lib@1.2.0"
VALUES = "test:cli/values@1.0.0"


def per_call_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1e6


def median_of(rounds: int, *contenders: Callable[[], float]) -> list[float]:
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(rounds):
        for i, c in enumerate(contenders):
            samples[i].append(c())
    return [statistics.median(s) for s in samples]


def stock_instance(engine: wasmtime.Engine, wat: Path) -> tuple[wasmtime.Store, wc.Instance]:
    store = wasmtime.Store(engine)
    comp = wc.Component(engine, wasmtime.wat2wasm(wat.read_text()))
    return store, wc.Linker(engine).instantiate(store, comp)


def bench_host_calls(host: Host, n: int, rounds: int) -> None:
    engine = wasmtime.Engine()
    store, inst = stock_instance(engine, HOST_WAT / "calc.wat")
    add = stock_func(store, inst, CALC, "add")

    def stock() -> float:
        return per_call_us(lambda: add(store, 1, 2), n)

    def stock_post_return() -> float:
        def one() -> None:
            add(store, 1, 2)
            add.post_return(store)
        return per_call_us(one, n)

    fast = host.function("calc", f"{CALC}#add")

    def via_function() -> float:
        return per_call_us(lambda: fast(1, 2), n)

    def via_call() -> float:
        return per_call_us(lambda: host.call("calc", f"{CALC}#add", 1, 2), n)

    bound = host.runtimes["calc"].funcs[f"{CALC}#add"]
    arr = bound.lower((1, 2))
    slot = bound.result_slot
    typed = (ctypes.byref(bound.func._func), bound.store._context(), arr, 2, ctypes.byref(slot), 1)
    lean = (bound._fref, bound._ctx, arr, SIZES[2], bound.result_ref, SIZES[1])

    def raw() -> float:  # the floor: one ctypes call, arguments lowered once, the result read
        def one() -> int:
            if _typed_call(*typed):
                raise RuntimeError("raw call failed")
            return int(slot.of.u32)
        return per_call_us(one, n)

    def raw_lean() -> float:  # the same C call without wasmtime-py's argument types (what harness uses)
        def one() -> int:
            if _func_call(*lean):
                raise RuntimeError("raw call failed")
            return int(slot.of.u32)
        return per_call_us(one, n)

    s, sp, f, c, r, rl = median_of(rounds, stock, stock_post_return, via_function, via_call, raw, raw_lean)
    print(f"[1] host → extension, {n} calls × {rounds} rounds (median µs per call)")
    print(f"    stock Func.__call__:                {s:7.2f}")
    print(f"    stock Func.__call__ + post_return:  {sp:7.2f}")
    print(f"    floor: raw ctypes func_call:        {r:7.2f}   (wasmtime-py's typed binding)")
    print(f"    untyped ctypes func_call:           {rl:7.2f}   (the same C function as harness calls it)")
    print(f"    host.function(...)(...):            {f:7.2f}   {s / f:5.1f}× faster than stock, "
          f"{f / r:4.2f}× the floor (target ≤ 1.3), {f / rl:4.2f}× the untyped call")
    print(f"    host.call(...):                     {c:7.2f}   {s / c:5.1f}× faster than stock, "
          f"{c / r:4.2f}× the floor, {c / rl:4.2f}× the untyped call")


def bench_proxy_hop(host: Host, hops: int, rounds: int) -> None:
    # The naive proxy: the consumer's import is a Python add_func calling the provider with the stock API.
    engine = wasmtime.Engine()
    pstore, pinst = stock_instance(engine, HOST_WAT / "calc.wat")
    padd = stock_func(pstore, pinst, CALC, "add")
    linker = wc.Linker(engine)
    with linker.root() as root, root.add_instance("test:calc/lib@1.0.0") as li:
        li.add_func("add", lambda _s, a, b: padd(pstore, a, b))
        li.add_func("boom", lambda _s: 0)
        li.add_func("spin", lambda _s: 0)
    cstore = wasmtime.Store(engine)
    cinst = linker.instantiate(cstore, wc.Component(engine, wasmtime.wat2wasm((HOST_WAT / "twice.wat").read_text())))
    naive_sum = stock_func(cstore, cinst, "test:twice/lib@1.0.0", "sum-to")
    assert naive_sum(cstore, 100) == 5050

    raw_sum = raw_passthrough(engine, HOST_WAT, padd, pstore)
    cstore_raw = raw_sum.store
    assert raw_sum(cstore_raw, 100) == 5050

    ours = host.function("twice", "sum-to")
    assert ours(100) == 5050

    def hop_cost(call: Callable[[int], object]) -> float:
        t0 = time.process_time()
        call(hops)
        t1 = time.process_time()
        call(0)
        t2 = time.process_time()
        return ((t1 - t0) - (t2 - t1)) / hops * 1e6

    naive, fast, floor = median_of(rounds, lambda: hop_cost(lambda k: naive_sum(cstore, k)), lambda: hop_cost(ours),
                                   lambda: hop_cost(lambda k: raw_sum(cstore_raw, k)))
    print(f"[2] cross-extension proxy hop, guest loop of {hops} calls × {rounds} rounds (median µs per hop)")
    print(f"    naive proxy (add_func + stock call): {naive:7.2f}")
    print(f"    floor: raw pass-through callback:    {floor:7.2f}")
    print(f"    ext-harness raw proxy:               {fast:7.2f}   {naive / fast:5.1f}× faster, "
          f"{fast / floor:4.2f}× the floor (target ≤ 1.5)")


def bench_parallel(host: Host, burn: int, rounds: int) -> None:
    async def both() -> None:
        await asyncio.gather(host.acall("calc", "burn", burn), host.acall("calc2", "burn", burn))

    def sequential() -> float:
        t0 = time.perf_counter()
        host.call("calc", "burn", burn)
        host.call("calc2", "burn", burn)
        return time.perf_counter() - t0

    def gathered() -> float:
        t0 = time.perf_counter()
        asyncio.run(both())
        return time.perf_counter() - t0

    seq, par = median_of(rounds, sequential, gathered)
    print(f"[3] two CPU-bound calls (burn {burn}) on two extensions, {rounds} rounds (median ms)")
    print(f"    one after the other:  {seq * 1e3:8.1f}")
    print(f"    asyncio.gather:       {par * 1e3:8.1f}   {seq / par:4.2f}× speed-up")


def bench_throughput(host: Host, names: list[str], calls: int, rounds: int) -> None:
    async def run() -> float:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(host.acall(names[i % len(names)], "add", i, 1) for i in range(calls)))
        elapsed = time.perf_counter() - t0
        assert results == [i + 1 for i in range(calls)]
        return elapsed

    times = [asyncio.run(run()) for _ in range(rounds)]
    t = statistics.median(times)
    print(f"[4] {calls} acalls over {len(names)} extensions, {rounds} rounds (median)")
    print(f"    {t * 1e3:8.1f} ms   {calls / t:10.0f} calls/s")


def bench_compound(host: Host, n: int, rounds: int) -> None:
    """The value mapping's cost: a record result (a dict) and a record argument next to a scalar
    call of the same extension, and wasmtime-py's stock call of the record function."""
    engine = wasmtime.Engine()
    store, inst = stock_instance(engine, ROOT / "fixtures" / "wat" / "cli_values.wat")
    stock_make = stock_func(store, inst, VALUES, "make-point")
    add = host.function("cli_values", "add")
    make = host.function("cli_values", "make-point")
    point_sum = host.function("cli_values", "point-sum")
    point = {"x": 3, "y-coord": 4}
    assert make(3, 4) == point and point_sum(point) == 304

    def stock() -> float:
        def one() -> None:
            stock_make(store, 3, 4)
            stock_make.post_return(store)
        return per_call_us(one, n)

    s, a, r, p = median_of(rounds, stock, lambda: per_call_us(lambda: add(1, 2), n),
                           lambda: per_call_us(lambda: make(3, 4), n),
                           lambda: per_call_us(lambda: point_sum(point), n))
    print(f"[7] compound values, {n} calls × {rounds} rounds (median µs per call)")
    print(f"    scalar add(1, 2):                       {a:7.2f}")
    print(f"    record result make-point(3, 4) → dict:  {r:7.2f}   stock Func.__call__ {s:7.2f}")
    print(f"    record argument point-sum(dict):        {p:7.2f}")


def bench_bytes(host: Host, size: int, rounds: int) -> None:
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    assert host.call("bytes", "check", data) == size
    bound = host.runtimes["bytes"].funcs["test:bytes/lib@1.0.0#check"]
    ty, store = bound.param_types[0], bound.store

    def lowering(lower: Callable[[Any], None]) -> Callable[[], float]:
        def one() -> float:
            slot = ffi.wasmtime_component_val_t()
            t0 = time.process_time()
            lower(slot)
            elapsed = time.process_time() - t0
            ffi.wasmtime_component_val_delete(ctypes.byref(slot))
            return elapsed
        return one

    stock_rounds = 1 if rounds < 5 else 3  # a few seconds each
    (stock,) = median_of(stock_rounds, lowering(lambda slot: ty.convert_to_c(store, data, ctypes.pointer(slot))))
    bulk, call = median_of(rounds, lowering(lambda slot: lower_bytes(data, slot)),
                           lambda: per_call_us(lambda: host.call("bytes", "check", data), 1) / 1e6)
    print(f"[5] a {size / 2**20:.0f} MiB bytes argument (list<u8>), median s")
    print(f"    lowering, wasmtime-py's converter:   {stock:8.3f}   ({stock_rounds} round(s))")
    print(f"    lowering, bulk copy (ext-harness):   {bulk:8.3f}   {stock / bulk:5.1f}× faster")
    print(f"    whole host.call (bulk lowering):     {call:8.3f}")


def bench_depth(tmp: Path, depths: tuple[int, ...], n: int, rounds: int) -> None:
    """Per-hop cost of a chain of `d` extensions: (a call through all d minus the call into the
    last alone) / (d - 1), so the host → extension entry is not counted."""
    calls: dict[int, tuple[Callable[..., Any], Callable[..., Any]]] = {}
    hosts: list[Host] = []
    for d in depths:
        folder = tmp / f"chain{d}"
        folder.mkdir()
        for k in range(d):
            (folder / f"chain{k}.wat").write_text(_chain_wat(k, k == d - 1))
        host = Host.load(folder, cache_dir=str(tmp / ".cache"), timeout_ms=60_000)
        hosts.append(host)
        assert not host.errors, host.errors
        calls[d] = (host.function("chain0", "down"), host.function(f"chain{d - 1}", "down"))
        assert calls[d][0](7) == 7

    engine = wasmtime.Engine()
    floors = {d: raw_chain(engine, d) for d in depths}  # the same chains, bare pass-through callbacks

    def per_hop(chain: tuple[Callable[..., Any], Callable[..., Any]], d: int) -> Callable[[], float]:
        whole, last = chain
        return lambda: (per_call_us(lambda: whole(1), n) - per_call_us(lambda: last(1), n)) / (d - 1)

    try:
        figures = median_of(rounds, *(per_hop(calls[d], d) for d in depths), *(per_hop(floors[d], d) for d in depths))
    finally:
        for host in hosts:
            host.close()
    ours, bare = figures[:len(depths)], figures[len(depths):]
    print(f"[6] chain of extensions, {n} calls × {rounds} rounds (median µs per hop)")
    print("    depth    ext-harness              floor (bare callbacks)")
    for d, f, b in zip(depths, ours, bare, strict=True):
        print(f"    {d:5}:  {f:7.2f}   {f / ours[0]:4.2f}× depth {depths[0]}"
              f"    {b:7.2f}   {b / bare[0]:4.2f}× depth {depths[0]}")
    print("    target: the deepest ≤ 1.3× the shallowest")


def bench_resources(tmp: Path, hops: int, rounds: int) -> None:
    """Handles across a link (runtime/_handles.py): a method call and a constructor + drop pair
    made by a guest loop, next to a plain proxy hop measured the same way in the same run."""
    with Host.load(HOST_WAT / "counter.wat", HOST_WAT / "counter_user.wat", HOST_WAT / "calc.wat",
                   HOST_WAT / "twice.wat", cache_dir=str(tmp / ".cache"), timeout_ms=60_000) as host:
        user = "test:res/user@1.0.0"
        inc_loop = host.function("counter_user", f"{user}#inc-loop")
        churn = host.function("counter_user", f"{user}#churn")
        plain = host.function("twice", "sum-to")
        assert inc_loop(10) == 10 and churn(10) == 0 and plain(100) == 5050

        def per_hop(call: Callable[[int], object], base: int) -> float:
            t0 = time.process_time()
            call(hops + base)
            t1 = time.process_time()
            call(base)
            t2 = time.process_time()
            return ((t1 - t0) - (t2 - t1)) / hops * 1e6

        raw_inc, raw_churn = raw_resource_link(wasmtime.Engine(), HOST_WAT)
        hop, method, pair, raw_method, raw_pair = median_of(
            rounds, lambda: per_hop(plain, 0), lambda: per_hop(inc_loop, 0), lambda: per_hop(churn, 1),
            lambda: per_hop(raw_inc, 0), lambda: per_hop(raw_churn, 1))
        left = sum(len(t.entries) for t in host._handle_tables.values())
    print(f"[8] resources across a link, guest loop of {hops} × {rounds} rounds (median µs)")
    print(f"    plain proxy hop:              {hop:7.2f}")
    print(f"    resource method call:         {method:7.2f}   {method / hop:4.2f}× the hop (target ≤ 2)")
    print(f"    constructor + drop pair:      {pair:7.2f}   {pair / hop:4.2f}× the hop (target ≤ 3)")
    print(f"    floor, method (bare C calls): {raw_method:7.2f}   {raw_method / hop:4.2f}× the hop")
    print(f"    floor, constructor + drop:    {raw_pair:7.2f}   {raw_pair / hop:4.2f}× the hop")
    print(f"    handles left in the tables:   {left}")


def main() -> None:
    quick = "--quick" in sys.argv
    n, rounds = (2_000, 3) if quick else (20_000, 7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(HOST_WAT / "calc.wat", folder / "calc.wat")
        shutil.copy(HOST_WAT / "twice.wat", folder / "twice.wat")
        shutil.copy(HOST_WAT / "calc.wat", folder / "calc2.wat")
        shutil.copy(HOST_WAT / "bytes.wat", folder / "bytes.wat")
        shutil.copy(ROOT / "fixtures" / "wat" / "cli_values.wat", folder / "cli_values.wat")
        extra = [f"calc{i}" for i in range(3, 9)]
        for name in extra:
            shutil.copy(HOST_WAT / "calc.wat", folder / f"{name}.wat")
        # calc2..calc8 export the same interface as calc; twice imports it, so pin calc.
        (folder / "twice").mkdir()
        shutil.move(folder / "twice.wat", folder / "twice" / "twice.wat")
        (folder / "twice" / "extension.toml").write_text(
            'name = "twice"\ncomponent = "twice.wat"\n[provides]\n"test:calc/lib" = "calc"\n')
        with Host.load(folder, cache_dir=str(folder / ".cache"), timeout_ms=60_000) as host:
            bad = [d for d in host.diagnostics if d.is_error]
            assert not bad, bad
            bench_host_calls(host, n, rounds)
            bench_proxy_hop(host, 2_000 if quick else 20_000, rounds)
            bench_parallel(host, 20_000_000 if quick else 100_000_000, rounds)
            bench_throughput(host, ["calc", "calc2", *extra], 10_000, 3 if quick else 5)
            bench_bytes(host, 5 * 2**20, 3 if quick else 7)
            bench_compound(host, n, rounds)
        bench_depth(folder, (2, 16, 30, 60), 500 if quick else 2_000, rounds)
        bench_resources(folder, 2_000 if quick else 20_000, rounds)


if __name__ == "__main__":
    main()
