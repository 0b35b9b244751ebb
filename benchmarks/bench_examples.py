"""The real examples in the host: compile (cold vs cached), instantiate, cross-language calls.

For each example, a fresh child process runs discovery + analysis (which
compiles the component) with an empty cache folder, then another child does the
same with the now filled folder: child processes make sure nothing in memory
helps the cached run. Then, in this process, the whole examples folder is
loaded and we time instantiating each extension again (a fresh Store and
instance, what a restart costs) and calls:

- `ext-add add-expr` (Python) → two `ext-js evaluate` calls (JavaScript) through
  the host's proxies: the cross-language call;
- `ext-js evaluate` called directly, and `ext-wat mul` (a tiny WAT function) as
  the floor of a call from Python.

    examples/build.sh && python benchmarks/bench_examples.py [--calls 2000] [--rounds 3]
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

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NAMES = ["ext-js", "ext-add", "ext-wat", "starter"]


def child(path: str, cache_dir: str) -> None:
    """Print the seconds `inspect` takes for one extension with the given cache folder."""
    from harness.pipeline._inspect import inspect

    t0 = time.perf_counter()
    insp = inspect(path, cache_dir=cache_dir)
    took = time.perf_counter() - t0
    json.dump({"seconds": took, "errors": [str(d) for d in insp.errors
                                           if d.code != "missing-import"]}, sys.stdout)


def compile_times(name: str, rounds: int) -> tuple[float, float]:
    colds: list[float] = []
    warms: list[float] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            for bucket in (colds, warms):
                out = subprocess.run([sys.executable, __file__, "--child", str(EXAMPLES / name), cache],
                                     check=True, capture_output=True, text=True).stdout
                doc = json.loads(out)
                if doc["errors"]:
                    raise SystemExit(f"{name}: {doc['errors']}")
                bucket.append(doc["seconds"])
    return statistics.median(colds), statistics.median(warms)


def per_call_us(fn: object, args: tuple[object, ...], n: int) -> float:
    call = fn  # type: ignore[assignment]
    for _ in range(min(200, n)):
        call(*args)  # type: ignore[operator]
    samples: list[float] = []
    batch = max(1, n // 20)
    for _ in range(20):
        t0 = time.perf_counter()
        for _ in range(batch):
            call(*args)  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) / batch)
    return statistics.median(samples) * 1e6


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="cold/cached compile rounds per example")
    opts = ap.parse_args()
    missing = [n for n in NAMES[:2] + NAMES[3:] if not (EXAMPLES / n / "build" / f"{n}.wasm").is_file()]
    if missing:
        print(f"not built: {', '.join(missing)}; run examples/build.sh", file=sys.stderr)
        return 1

    from harness.runtime._host import Host

    print(f"{'example':<10} {'size':>10} {'compile cold':>13} {'cached':>9} {'instantiate':>12}")
    rows = {name: compile_times(name, opts.rounds) for name in NAMES}
    with Host.load(EXAMPLES) as host:
        assert not host.errors, host.errors
        for name in NAMES:
            rt = host.runtimes[name]
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                rt.instantiate()
                times.append(time.perf_counter() - t0)
            component = Path(rt.analysed.candidate.component_path)
            cold, warm = rows[name]
            print(f"{name:<10} {component.stat().st_size:>10,} {cold * 1000:>10.0f} ms {warm * 1000:>6.0f} ms "
                  f"{statistics.median(times) * 1000:>9.1f} ms")
        print()
        add_expr = host.function("ext-add", "ext:add/lib@1.0.0#add-expr")
        evaluate = host.function("ext-js", "ext:js/lib@0.3.1#evaluate")
        mul = host.function("ext-wat", "ext:wat/lib@1.0.0#mul")
        add = host.function("ext-add", "ext:add/lib@1.0.0#add")
        cross = per_call_us(add_expr, ("1", "2"), opts.calls)
        js = per_call_us(evaluate, ("1",), opts.calls)
        print(f"ext-add add-expr('1', '2') → 2 x ext-js evaluate {cross:8.1f} µs per call")
        print(f"ext-js evaluate('1') (direct)                 {js:8.1f} µs per call")
        print(f"ext-add add(1, 2) (Python, no hop)            {per_call_us(add, (1, 2), opts.calls):8.1f} µs")
        print(f"ext-wat mul(6, 7) (WAT, the floor)            {per_call_us(mul, (6, 7), opts.calls):8.1f} µs")
        print(f"cross-language overhead ≈ (add-expr - 2 x evaluate) = {cross - 2 * js:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
