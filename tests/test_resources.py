"""Resources across dynamic links: names in the type model, the link type check, handle tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime
from wasmtime import component as wc

from harness.model._witypes import FuncT, HandleT, InstanceT, Prim, ResourceItem, render, type_diff
from harness.pipeline._wasmtypes import from_wasmtime_item, resource_names

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
LIB = "test:res/counter@1.0.0"
USER = "test:res/user@1.0.0"


def _interfaces(name: str, side: str) -> dict[str, object]:
    engine = wasmtime.Engine()
    comp = wc.Component(engine, wasmtime.wat2wasm((HOST / name).read_text()))
    externs = comp.type.exports(engine) if side == "exports" else comp.type.imports(engine)
    names = resource_names(externs, engine)
    return {n: from_wasmtime_item(e.ty, engine, names) for n, e in externs.items()}


# ------------------------------------------------------------------ names in the type model

def test_handles_are_named_by_resource_and_interface_on_both_sides() -> None:
    provided = _interfaces("counter.wat", "exports")[LIB]
    imported = _interfaces("counter_user.wat", "imports")[LIB]
    assert isinstance(provided, InstanceT) and isinstance(imported, InstanceT)
    own = HandleT("own", "counter", "test:res/counter")
    borrow = HandleT("borrow", "counter", "test:res/counter")
    assert provided.get("counter") == ResourceItem()
    assert provided.get("make") == FuncT((("start", Prim("u32")),), own)
    assert imported.get("bump-twice") == FuncT((("c", borrow),), Prim("u32"))
    assert render(provided.get("[method]counter.inc")) == "func(self: borrow<counter>) -> u32"
    assert render(provided.get("maybe")) == "func(start: u32) -> option<own<counter>>"
    # what the consumer imports is what the provider exports: the link type check passes
    assert type_diff(imported, provided, LIB) is None


def _iface(result: HandleT) -> InstanceT:
    return InstanceT((("counter", ResourceItem()),
                      ("[method]counter.inc", FuncT((("self", HandleT("borrow", "counter", "a:b/c")),), result))))


def test_a_handle_of_another_resource_is_a_mismatch_naming_the_method() -> None:
    diff = type_diff(_iface(HandleT("own", "counter", "a:b/c")), _iface(HandleT("own", "ticker", "a:b/c")), LIB)
    assert diff == f"{LIB}#[method]counter.inc → result: expected own<counter>, found own<ticker>"


def test_same_resource_name_from_another_interface_is_a_mismatch() -> None:
    diff = type_diff(_iface(HandleT("own", "counter", "a:b/c")), _iface(HandleT("own", "counter", "x:y/z")), LIB)
    assert diff == (f"{LIB}#[method]counter.inc → result: expected own<counter> of a:b/c, "
                    "found own<counter> of x:y/z")


@pytest.mark.parametrize("kind", ["own", "borrow"])
def test_handle_types_round_trip_through_the_interface_cache_json(kind: str) -> None:
    from harness.model._typejson import value_from_json, value_to_json
    for t in (HandleT(kind, "counter", "a:b/c"), HandleT(kind)):  # type: ignore[arg-type]
        assert value_from_json(value_to_json(t)) == t
