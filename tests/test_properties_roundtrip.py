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
from harness.model._witypes import ValueType, has_handle, render
from harness.runtime._handles import Handle
from harness.runtime._host import Host
from harness.runtime._values import to_json, to_python
from harness.testing import (
    U32,
    Dropped,
    Echo,
    Forward,
    Live,
    MockExtension,
    Rep,
    Reps,
    borrow,
    constructor,
    fn,
    iface,
    method,
    own,
    with_behaviour,
    write_extension,
)
from harness.testing.strategies import (
    HandleSlot,
    fill_handles,
    python_classes,
    tagged,
    values,
    values_equal,
    wit_types,
)

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


# ------------------------------------------------------------------ resources through the link

RES = "rt:res/lib@1.0.0"
RES_CONS = "rt:rcons/lib@1.0.0"
COUNTER = own("counter", RES)


def resource_pair(t: ValueType, params_only: bool = False) -> tuple[MockExtension, MockExtension]:
    """`rprov` defines resource counter and echoes T (its handles of counter) back as it came, or
    (`params_only`, T may hold borrows) sums the reps of T's handles; `rcons` imports that and forwards
    `make`, `rep` and `echo`/`reps` to it."""
    f = fn("reps", [("x", t)], U32, Reps()) if params_only else fn("echo", [("x", t)], t, Echo())
    lib = iface(RES, constructor("counter"), method("counter", "rep", [], U32, Rep()),
                fn("live", [], U32, Live("counter")), fn("dropped", [], U32, Dropped("counter")), f)
    cons = MockExtension("rcons", imports=(lib,), exports=(iface(
        RES_CONS,
        fn("make", [], COUNTER, Forward(RES, "[constructor]counter")),
        fn("rep", [("c", borrow("counter", RES))], U32, Forward(RES, "[method]counter.rep")),
        with_behaviour(f, Forward(RES, f.name))),))
    return MockExtension("rprov", exports=(lib,)), cons


def _handles_in(v: Any) -> list[Any]:
    if isinstance(v, Handle):
        return [v]
    if isinstance(v, dict):
        return [h for x in v.values() for h in _handles_in(x)]
    if isinstance(v, list | tuple):
        return [h for x in v for h in _handles_in(x)]
    return []


def _holes(v: Any) -> Any:
    """The value with its handles (or slots) as one marker: what must come back around them."""
    if isinstance(v, Handle | HandleSlot):
        return "<handle>"
    if isinstance(v, dict):
        return {k: _holes(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_holes(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_holes(x) for x in v)
    return v


@settings(max_examples=25, deadline=None)
@given(t=wit_types(max_depth=2, max_width=3, resources=[COUNTER]).filter(has_handle), data=st.data())
def test_resources_pass_through_links_and_come_back_as_the_providers_own(workdir: Path, t: ValueType,
                                                                          data: st.DataObject) -> None:
    folder = workdir / f"r{next(_counter)}"
    for m in resource_pair(t):
        write_extension(m, folder)
    with Host.load(folder, cache_dir=str(workdir / "cache")) as host:
        assert host.errors == (), [str(d) for d in host.errors]
        made = 0
        for via, api in (("rprov", RES), ("rcons", RES_CONS)):
            make = "[constructor]counter" if via == "rprov" else "make"
            rep = "[method]counter.rep" if via == "rprov" else "rep"
            drawn = data.draw(values(t, allow_nan=False), label="value")
            v = fill_handles(drawn, lambda _t: host.call(via, f"{api}#{make}"))  # noqa: B023
            sent = _handles_in(v)
            reps = [host.call(via, f"{api}#{rep}", h) for h in sent]
            made += len(sent)
            back = host.call(via, f"{api}#echo", v)
            assert _holes(back) == _holes(drawn), (render(t), drawn, back)
            got = _handles_in(back)
            assert [host.call(via, f"{api}#{rep}", h) for h in got] == reps, render(t)  # identity kept
            assert not any(h.live for h in sent) and all(h.live for h in got)  # own: given, then returned
            for h in got:
                h.drop()
        assert host.call("rprov", f"{RES}#live") == 0, render(t)  # every destructor ran...
        assert host.call("rprov", f"{RES}#dropped") == made
        assert host.held_handles("rprov") == {}  # ...and the link's table is empty
    stat("roundtrip", "resource-types")


@settings(max_examples=25, deadline=None)
@given(t=wit_types(max_depth=2, max_width=3, resources=[COUNTER], borrows=True).filter(has_handle),
       data=st.data())
def test_lent_and_given_handles_reach_the_provider_through_links(workdir: Path, t: ValueType,
                                                                 data: st.DataObject) -> None:
    folder = workdir / f"b{next(_counter)}"
    for m in resource_pair(t, params_only=True):
        write_extension(m, folder)
    with Host.load(folder, cache_dir=str(workdir / "cache")) as host:
        assert host.errors == (), [str(d) for d in host.errors]
        made = 0
        for via, api in (("rprov", RES), ("rcons", RES_CONS)):
            make = "[constructor]counter" if via == "rprov" else "make"
            rep = "[method]counter.rep" if via == "rprov" else "rep"
            v = fill_handles(data.draw(values(t, allow_nan=False), label="value"),
                             lambda _t: host.call(via, f"{api}#{make}"))  # noqa: B023
            sent = _handles_in(v)
            made += len(sent)
            expected = sum(host.call(via, f"{api}#{rep}", h) for h in sent) % 2**32
            assert host.call(via, f"{api}#reps", v) == expected, render(t)  # each reached its own resource
            for h in sent:
                h.drop()  # the lent ones (the given ones are gone already)
        assert host.call("rprov", f"{RES}#live") == 0, render(t)
        assert host.call("rprov", f"{RES}#dropped") == made
        assert host.held_handles("rprov") == {}
    stat("roundtrip", "resource-param-types")


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


def _kinds_of_handles(t: Any) -> set[str]:
    from harness.model._witypes import HandleT, ListT, OptionT, RecordT, ResultT, TupleT, VariantT
    if isinstance(t, HandleT):
        return {f"{t.kind}<{t.resource}> of {t.interface}"}
    inner: list[Any] = (
        [t.element] if isinstance(t, ListT) else [t.payload] if isinstance(t, OptionT)
        else [t.ok, t.err] if isinstance(t, ResultT) else list(t.elements) if isinstance(t, TupleT)
        else [f for _, f in t.fields] if isinstance(t, RecordT) else [c for _, c in t.cases]
        if isinstance(t, VariantT) else [])
    return {k for x in inner if x is not None for k in _kinds_of_handles(x)}


def test_wit_types_draw_handles_of_the_given_resources_and_borrows_only_when_asked() -> None:
    import harness.strategies as alias
    assert not any(has_handle(t) for t in _examples(wit_types(max_depth=2), 100))
    owned = set().union(*map(_kinds_of_handles, _examples(alias.wit_types(max_depth=2, resources=[COUNTER]), 150)))
    assert owned == {"own<counter> of rt:res/lib"}
    params = set().union(*map(_kinds_of_handles, _examples(
        wit_types(max_depth=2, resources=[COUNTER], borrows=True), 150)))
    assert params == {"own<counter> of rt:res/lib", "borrow<counter> of rt:res/lib"}
    with pytest.raises(ValueError, match="needs resources"):
        wit_types(borrows=True)


def test_values_of_a_handle_type_are_slots_to_fill() -> None:
    from harness.testing import list_of
    slots = [v for v in _examples(values(list_of(COUNTER)), 30) if v]
    assert slots and all(isinstance(s, HandleSlot) and s.type == COUNTER for v in slots for s in v)
    made: list[Any] = []
    filled = fill_handles({"xs": slots[0], "t": (slots[0][0], 1)}, lambda t: made.append(t) or len(made))
    assert filled == {"xs": list(range(1, len(slots[0]) + 1)), "t": (len(slots[0]) + 1, 1)}
