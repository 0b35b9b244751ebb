"""Typed round trips through the linker: host → cons → prov → Python echo and back.

For each generated type T, `prov` exports `rt:prov/lib@1.0.0#echo: func(x: T) -> T`
forwarding to the host-served `rt:host/echo@1.0.0#echo`, and `cons` re-exports it
through an import of prov's lib. Every value must come back equal (NaN-aware, f32
rounding) on both paths, and the Python echo must have received exactly it.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import stat
from harness.model._witypes import ValueType, render
from harness.runtime._host import Host
from harness.runtime._values import to_json, to_python
from harness.testing import Forward, MockExtension, fn, iface, write_extension
from harness.testing.strategies import python_classes, tagged, values, values_equal, wit_types

HOST_ECHO = "rt:host/echo@1.0.0"
PROV = "rt:prov/lib@1.0.0"
CONS = "rt:cons/lib@1.0.0"
VALUES_PER_TYPE = 4
_counter = itertools.count()


def pair(t: ValueType) -> tuple[MockExtension, MockExtension]:
    sig = [("x", t)]
    prov = MockExtension(
        "prov", exports=(iface(PROV, fn("echo", sig, t, Forward(HOST_ECHO, "echo"))),),
        imports=(iface(HOST_ECHO, fn("echo", sig, t)),))
    cons = MockExtension(
        "cons", exports=(iface(CONS, fn("echo", sig, t, Forward(PROV, "echo"))),),
        imports=(iface(PROV, fn("echo", sig, t)),))
    return prov, cons


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rt-props-") as d:
        (Path(d) / "cache").mkdir()
        yield Path(d)


def _load(t: ValueType, workdir: Path, received: list[Any]) -> Host:
    folder = workdir / f"t{next(_counter)}"
    for m in pair(t):
        write_extension(m, folder)

    def echo(x: Any) -> Any:
        received.append(x)
        return x

    return Host.load(folder, interfaces={HOST_ECHO: {"echo": echo}}, cache_dir=str(workdir / "cache"))


@settings(max_examples=200)
@given(t=wit_types(max_depth=3, max_width=4), data=st.data())
def test_any_type_round_trips_through_two_extensions(workdir: Path, t: ValueType,
                                                       data: st.DataObject) -> None:
    received: list[Any] = []
    started = time.perf_counter()
    with _load(t, workdir, received) as host:
        assert host.errors == (), [str(d) for d in host.errors]
        assert set(host.extensions) == {"prov", "cons"}
        for i in range(VALUES_PER_TYPE):
            nan = i == VALUES_PER_TYPE - 1  # the last value may hold NaN, which is not == to itself
            v = data.draw(values(t, allow_nan=nan), label="value")
            same = values_equal if nan else (lambda _t, a, b: a == b)
            received.clear()
            via_prov = host.call("prov", "echo", v)
            assert same(t, v, via_prov), (render(t), v, via_prov)
            assert len(received) == 1 and same(t, v, received[0]), (render(t), v, received)
            received.clear()
            via_cons = host.call("cons", "echo", v)
            assert same(t, v, via_cons), (render(t), v, via_cons)
            assert same(t, via_prov, via_cons)
            assert len(received) == 1 and same(t, v, received[0]), (render(t), v, received)
            stat("roundtrip", "values")
    stat("roundtrip", "types")
    stat("roundtrip", "tagged-variants" if "Variant" in {c.__name__ for c in python_classes(t)}
         else "other-types")
    stat("roundtrip-ms", "total", int((time.perf_counter() - started) * 1000))


# ------------------------------------------------------------------ the value mapping itself

@settings(max_examples=300)
@given(data=st.data(), t=wit_types())
def test_values_equal_is_reflexive_and_values_are_the_mapping(data: st.DataObject, t: ValueType) -> None:
    v = data.draw(values(t))
    assert values_equal(t, v, v)
    assert to_python(to_json(v, t), t) is not None or v is None  # the JSON forms read back
    w = data.draw(values(t, allow_nan=False))
    assert to_python(w, t) == w  # a value in the mapping is its own normal form
    assert values_equal(t, to_python(to_json(w, t), t), w)  # and survives JSON (f32 shortest decimal)


def test_tagging_follows_wasmtime_py() -> None:
    from harness.model._witypes import OptionT, Prim, ResultT, VariantT

    u32, s, b = Prim("u32"), Prim("string"), Prim("bool")
    assert not tagged(OptionT(u32))
    assert tagged(OptionT(OptionT(u32)))  # None is ambiguous
    assert not tagged(ResultT(s, u32))
    assert tagged(ResultT(u32, u32))
    assert not tagged(VariantT((("a", u32), ("b", b))))  # int and bool are distinct classes...
    # ...but True would be lowered as `a`: values() never draws case b there
    drawn = {x["tag"] for x in _examples(values(VariantT((("a", u32), ("b", b)))), 60)}
    assert drawn == {"a"}


def _examples(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    out: list[Any] = []

    @settings(max_examples=n, database=None)
    @given(strategy)
    def collect(x: Any) -> None:
        out.append(x)

    collect()
    return out
