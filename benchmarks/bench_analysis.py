"""Analysis with a cold compile cache versus a warm one.

Generates 50 distinct components (a constant differs, so every hash differs;
each has a dozen functions with loops, a record, a string and a list), then
analyses all of them in a fresh child process, first with an empty cache
directory and then again with the same directory. Child processes make sure no
in-process state (assembler caches, loaded components) helps the cached run.

    python benchmarks/bench_analysis.py [--components 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUNCS = 12


def component_wat(k: int) -> str:
    """A small but real component: `k` changes constants in every function."""
    core_funcs = []
    lifts = []
    exports = []
    for f in range(FUNCS):
        core_funcs.append(f"""
    (func (export "f{f}") (param $n i32) (result i32)
      (local $i i32) (local $acc i64)
      (local.set $acc (i64.const {k * 1000 + f}))
      (block $done
        (loop $top
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 6364136223846793005))
                                   (i64.extend_i32_u (i32.xor (local.get $i) (i32.const {k + f})))))
          (if (i64.eqz (i64.and (local.get $acc) (i64.const {f + 3})))
            (then (local.set $acc (i64.rotl (local.get $acc) (i64.const {f % 63 + 1})))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $top)))
      (i32.wrap_i64 (i64.xor (local.get $acc) (i64.shr_u (local.get $acc) (i64.const 32)))))""")
        lifts.append(f'  (func $f{f} (param "n" u32) (result u32) (canon lift (core func $i "f{f}")))')
        exports.append(f'    (export "step-{f}" (func $f{f}))')
    return f"""(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $bump))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "describe") (param $ptr i32) (param $len i32) (result i32)
      (i32.store (i32.const 0) (local.get $ptr))
      (i32.store (i32.const 4) (local.get $len))
      (i32.store (i32.const 8) (i32.const {k}))
      (i32.const 0)){"".join(core_funcs)})
  (core instance $i (instantiate $m))
  (type $info (record (field "name" string) (field "seed" u32)))
  (func $describe (param "name" string) (result $info)
    (canon lift (core func $i "describe") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc")) string-encoding=utf8))
{chr(10).join(lifts)}
  (instance $api
    (export "info" (type $info))
    (export "describe" (func $describe))
{chr(10).join(exports)})
  (export "bench:gen/api-{k}@1.0.0" (instance $api)))
"""


def child(components_dir: Path, cache_dir: Path) -> None:
    """Runs in a fresh process: analyse every component once, report wall time as JSON."""
    from harness.model._records import Candidate, Manifest
    from harness.pipeline._analysis import AnalysisConfig, analyse_all
    from harness.pipeline._cache import CompileCache
    from harness.pipeline._engine import EngineConfig, shared_engine

    shared_engine(EngineConfig())  # engine creation is the same either way; keep it out
    cands = [Candidate(p.stem, p.parent, p, "wasm", Manifest(p.stem))
             for p in sorted(components_dir.glob("*.wasm"))]
    config = AnalysisConfig(cache=CompileCache(cache_dir))
    started = time.perf_counter()
    done, diags = analyse_all(cands, config)
    elapsed = time.perf_counter() - started
    assert not diags, diags
    print(json.dumps({"ms": elapsed * 1000, "n": len(done), "cached": sum(a.cached for a in done)}))


def run_child(components_dir: Path, cache_dir: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(components_dir), str(cache_dir)],
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--components", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("COMPONENTS", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return

    import wasmtime

    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        comps = Path(tmp) / "components"
        comps.mkdir()
        total = 0
        for k in range(args.components):
            wasm = bytes(wasmtime.wat2wasm(component_wat(k)))
            total += len(wasm)
            (comps / f"ext-{k:03d}.wasm").write_bytes(wasm)
        cold: list[float] = []
        warm: list[float] = []
        for r in range(args.rounds):
            cache = Path(tmp) / f"cache-{r}"
            c = run_child(comps, cache)
            w = run_child(comps, cache)
            assert c["n"] == w["n"] == args.components
            assert c["cached"] == 0 and w["cached"] == args.components, (c, w)
            cold.append(c["ms"])
            warm.append(w["ms"])
        cold_ms, warm_ms = statistics.median(cold), statistics.median(warm)
        n = args.components
        print(f"components: {n} x {FUNCS + 1} functions, {total / n / 1024:.1f} KiB each, "
              f"{args.rounds} rounds, fresh process per run")
        print(f"analysis cold {n} components: {cold_ms:.1f} ms ({cold_ms / n:.2f} ms each)")
        print(f"analysis cached: {warm_ms:.1f} ms ({warm_ms / n:.2f} ms each)")
        print(f"speedup: {cold_ms / warm_ms:.1f}×")


if __name__ == "__main__":
    main()
