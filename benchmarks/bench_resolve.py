"""Time `resolve` on synthetic extension graphs (graph only: no compilation).

Each extension exports one interface and imports about three from earlier
extensions (a random DAG, fixed seed). Every endpoint gets its own, equal type
objects, so the structural type check really compares them. Missing imports
and back edges (cycles) in the newest tenth keep the error, near-miss and
blocking paths in the measurement while most of the graph loads.

    python benchmarks/bench_resolve.py [--sizes 1000 10000 20000] [--runs 5]

Targets: 10k extensions under 1 s; time(20k) / time(10k) at most 2.3.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from harness.model._records import Analysed, Candidate, Endpoint, Manifest
from harness.model._witypes import FuncT, InstanceT, ListT, OptionT, Prim, RecordT
from harness.pipeline._resolve import resolve


def _lib() -> InstanceT:
    """A fresh (equal, not identical) interface type with a few functions."""
    point = RecordT((("x", Prim("s32")), ("y", Prim("s32")), ("label", OptionT(Prim("string")))))
    return InstanceT((
        ("get", FuncT((("key", Prim("string")),), OptionT(Prim("string")))),
        ("put", FuncT((("key", Prim("string")), ("value", ListT(Prim("u8")))), None)),
        ("move", FuncT((("p", point), ("dx", Prim("s32"))), point)),
    ))


def build(n: int, seed: int = 42) -> list[Analysed]:
    rng = random.Random(seed)
    exts: list[Analysed] = []
    for i in range(n):
        name = f"ext-{i:06d}"
        deps = sorted(set(rng.randrange(i) for _ in range(3))) if i else []
        imports = [f"ext:p{d}/lib@1.{rng.randrange(3)}.0" for d in deps]
        late = i >= n - n // 10  # errors only in the newest tenth: most of the graph loads
        if late and i % 97 == 0:
            imports.append(f"ext:nowhere{i}/lib@1.0.0")  # a missing import, blocking its dependents
        if late and i % 199 == 0 and i + 5 < n:
            imports.append(f"ext:p{i + 5}/lib@1.0.0")  # a back edge: maybe a cycle
        cand = Candidate(name, Path(name), Path(name) / "c.wasm", "wasm", Manifest(name=name))
        endpoints = [Endpoint(imp, "library", _lib()) for imp in imports]
        endpoints.append(Endpoint("wasi:cli/environment@0.2.0", "wasi", InstanceT(())))
        export = Endpoint(f"ext:p{i}/lib@1.{rng.randrange(1, 4)}.0", "library", _lib())
        exts.append(Analysed(cand, name, tuple(endpoints), (export,)))
    rng.shuffle(exts)
    return exts


def time_resolve(n: int, runs: int) -> tuple[float, dict[str, int]]:
    exts = build(n)
    times = []
    res = None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = resolve(exts)
        times.append(time.perf_counter() - t0)
    assert res is not None
    counts: dict[str, int] = {}
    for s in res.status.values():
        counts[s] = counts.get(s, 0) + 1
    return statistics.median(times), counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 20000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("-v", "--verbose", action="store_true", help="also print status counts")
    args = ap.parse_args()
    medians: dict[int, float] = {}
    for n in args.sizes:
        medians[n], counts = time_resolve(n, args.runs)
        extra = f"  {counts}" if args.verbose else ""
        print(f"resolve {n}: {medians[n] * 1000:.0f} ms{extra}")
    if 10000 in medians and 20000 in medians:
        print(f"ratio 20k/10k: {medians[20000] / medians[10000]:.2f}")


if __name__ == "__main__":
    main()
