"""Chains of extensions for depth tests and benchmarks, written as plain WAT.

Hand-written rather than made with the mock DSL so a hop is exactly one lowered import and one
lifted export, nothing else: the per-hop figures of benchmarks/bench_calls.py and the gate's
depth tests measure the same component.
"""

from __future__ import annotations

__all__ = ["chain_wat"]


def chain_wat(k: int, last: bool) -> str:
    """Extension k (`test:chain{k}/lib@1.0.0`): `down(n)` calls extension k+1's `down(n)`; the last returns n."""
    if last:
        return f"""(component
  (core module $m (func (export "down") (param i32) (result i32) (local.get 0)))
  (core instance $i (instantiate $m))
  (func $d (param "n" u32) (result u32) (canon lift (core func $i "down")))
  (instance $out (export "down" (func $d)))
  (export "test:chain{k}/lib@1.0.0" (instance $out)))
"""
    return f"""(component
  (import "test:chain{k + 1}/lib@1.0.0" (instance $next (export "down" (func (param "n" u32) (result u32)))))
  (core func $down (canon lower (func $next "down")))
  (core module $m
    (import "next" "down" (func $next (param i32) (result i32)))
    (func (export "down") (param i32) (result i32) (call $next (local.get 0))))
  (core instance $i (instantiate $m (with "next" (instance (export "down" (func $down))))))
  (func $d (param "n" u32) (result u32) (canon lift (core func $i "down")))
  (instance $out (export "down" (func $d)))
  (export "test:chain{k}/lib@1.0.0" (instance $out)))
"""
