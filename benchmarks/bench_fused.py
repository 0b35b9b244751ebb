"""Fused linking: what a call between extensions costs, and what a warm fused load costs.

1. Per-call cost of one small call (`add(a, b) -> u32`) made N times in a loop inside wasm:
   - intra-component: the loop and `add` in the same core module;
   - cross-extension, fused: `twice.wat`'s `sum-to` calling `calc.wat`'s `add` inside one
     composed component (`Host.load(link="fused")`);
   - cross-extension, dynamic: the same call through the host's proxy (`link="dynamic"`).
   Cost per call = (time of `sum-to(N)` - time of `sum-to(0)`) / N, medians of several rounds.
2. Warm `Host.load(examples/, link=...)` for both modes (the compile cache filled first).

    examples/build.sh && python benchmarks/bench_fused.py [--rounds 7]

Targets (issue 12): fused ≤ 3× intra, fused ≥ 100× faster than the dynamic hop, warm fused
load ≤ 1.5× the dynamic one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness import Host

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PAIR = (ROOT / "fixtures" / "wat" / "host" / "calc.wat", ROOT / "fixtures" / "wat" / "host" / "twice.wat")

# `sum-to` as in twice.wat, but `add` is a function of the same core module
_INTRA = """(component
  (core module $m
    (func $add (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "sum-to") (param i32) (result i32) (local i32)
      (block $done
        (loop $l
          (br_if $done (i32.eqz (local.get 0)))
          (local.set 1 (call $add (local.get 1) (local.get 0)))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br $l)))
      local.get 1))
  (core instance $i (instantiate $m))
  (func $sum-to (param "n" u32) (result u32) (canon lift (core func $i "sum-to")))
  (instance $out (export "sum-to" (func $sum-to)))
  (export "test:intra/lib@1.0.0" (instance $out)))
"""


def per_call_ns(host: Host, ext: str, n: int, rounds: int) -> float:
    """Median over rounds of (sum-to(n) - sum-to(0)) / n, in nanoseconds."""
    f = host.function(ext, "sum-to")
    f(n)  # warm
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        f(0)
        t1 = time.perf_counter()
        f(n)
        t2 = time.perf_counter()
        out.append(((t2 - t1) - (t1 - t0)) / n * 1e9)
    return statistics.median(out)


def load_seconds(link: str, cache: str, rounds: int) -> float:
    Host.load(EXAMPLES, link=link, cache_dir=cache).close()  # fill the cache
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        host = Host.load(EXAMPLES, link=link, cache_dir=cache)
        out.append(time.perf_counter() - t0)
        host.close()
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fused-") as tmp:
        cache = str(Path(tmp) / "cache")
        intra_path = Path(tmp) / "intra.wat"
        intra_path.write_text(_INTRA)
        print("1. one small call (add: u32, u32 -> u32), per call, medians of", args.rounds, "rounds")
        with Host.load(intra_path, cache_dir=cache, timeout_ms=None) as host:
            intra = per_call_ns(host, "intra", 20_000_000, args.rounds)
        with Host.load(*PAIR, cache_dir=cache, link="fused", timeout_ms=None) as host:
            assert not host.errors, host.errors
            fused = per_call_ns(host, "twice", 20_000_000, args.rounds)
        with Host.load(*PAIR, cache_dir=cache, link="dynamic", timeout_ms=None) as host:
            dynamic = per_call_ns(host, "twice", 20_000, args.rounds)
        print(f"   intra-component call              {intra:10.2f} ns")
        print(f"   cross-extension call, fused unit  {fused:10.2f} ns   ({fused / intra:.1f}x intra; target <= 3x)")
        print(f"   cross-extension call, dynamic hop {dynamic:10.2f} ns   ({dynamic / fused:.0f}x the fused call; "
              "target >= 100x)")
        if not (EXAMPLES / "ext-add" / "build" / "ext-add.wasm").exists():
            print("2. skipped: examples not built (examples/build.sh)")
            return
        print("2. warm Host.load(examples/), medians of", args.rounds, "rounds")
        dyn_load = load_seconds("dynamic", cache, args.rounds)
        fused_load = load_seconds("fused", cache, args.rounds)
        print(f"   link='dynamic'  {dyn_load * 1000:8.1f} ms")
        print(f"   link='fused'    {fused_load * 1000:8.1f} ms   ({fused_load / dyn_load:.2f}x; target <= 1.5x)")


if __name__ == "__main__":
    main()
