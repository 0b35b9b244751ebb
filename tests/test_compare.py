"""`[[conformance.example]]` expectations compare in the value mapping: any JSON form of the
expected value matches the result's JSON output."""

from __future__ import annotations

import math

from harness.model._witypes import EnumT, FlagsT, ListT, OptionT, Prim, RecordT, ResultT, VariantT
from harness.pytest_plugin._compare import same_json

PERMS = FlagsT(("read", "write", "exec"))
SHAPE = VariantT((("circle", Prim("f64")), ("nothing", None)))


def test_any_json_form_of_the_expected_value_matches() -> None:
    assert same_json(["write", "read"], ["read", "write"], PERMS)  # flags: any order
    assert same_json({"base64": "AQI="}, [1, 2], ListT(Prim("u8")))
    assert same_json("nothing", {"tag": "nothing", "value": None}, SHAPE)
    assert same_json({"ok": "nan"}, {"ok": "nan"}, ResultT(Prim("f64"), None))
    assert same_json({"ok": 3}, {"ok": 3.0}, ResultT(Prim("f32"), Prim("string")))


def test_a_different_value_does_not_match() -> None:
    assert not same_json(["write"], ["read", "write"], PERMS)
    assert not same_json({"err": "3"}, {"ok": "3"}, ResultT(Prim("string"), Prim("string")))
    assert not same_json("circle", {"tag": "nothing", "value": None}, SHAPE)
    assert not same_json("green", "red", EnumT(("red", "green")))


def test_without_the_type_or_with_an_absent_field_the_expectation_is_compared_as_written() -> None:
    point = RecordT((("x", Prim("u32")), ("label", OptionT(Prim("string")))))
    assert same_json({"x": 1}, {"x": 1, "label": None}, point)  # TOML has no null: absent is none
    assert not same_json(["write", "read"], ["read", "write"])  # no type: arrays keep their order
    assert same_json(1.0, 1.0 + 1e-12) and not same_json(1.0, 1.1) and math.isnan(float("nan"))
