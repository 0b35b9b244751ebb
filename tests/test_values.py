"""The JSON ↔ Python value mapping, checked against real wasmtime-py calls.

Each round trip lowers the converted value into a generated component, which
hands it to a Python host function (wasmtime lifts it) and back (wasmtime lowers
it again), then lifts the result; both the value the host function saw and the
returned one are converted back to JSON and compared.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import wasmtime
from wasmtime import component as c

from harness.model._errors import BadArgumentsError
from harness.model._witypes import FuncT, HandleT, OptionT, ResultT, ValueType, VariantT
from harness.pipeline._wasmtypes import from_wasmtime_valtype
from harness.runtime._values import args_to_python, is_tagged, json_kind, lifter, lowerer, to_json, to_python
from harness.testing import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S64,
    STRING,
    U8,
    U32,
    U64,
    Forward,
    enum,
    ext,
    flags,
    fn,
    iface,
    list_of,
    option,
    record,
    result,
    to_wat,
    tuple_of,
    variant,
)

ECHO = "test:echo/host@0.1.0"
LIB = "ext:a/lib@1.0.0"


class Echo:
    """A component exporting `echo(p0: T) -> T` that forwards to a Python host function."""

    def __init__(self, t: ValueType) -> None:
        mock = ext("echoer", exports=[iface(LIB, fn("echo", [("p0", t)], t, Forward(ECHO, "echo")))],
                   imports=[iface(ECHO, fn("echo", [("p0", t)], t))])
        self.engine = wasmtime.Engine()
        self.component = c.Component(self.engine, wasmtime.wat2wasm(to_wat(mock)))
        self.seen: list[Any] = []
        linker = c.Linker(self.engine)

        def echo(_store: Any, x: Any) -> Any:
            self.seen.append(x)
            return x

        with linker.root() as root, root.add_instance(ECHO) as inst:
            inst.add_func("echo", echo)
        self.store = wasmtime.Store(self.engine)
        instance = linker.instantiate(self.store, self.component)
        idx = instance.get_export_index(self.store, LIB)
        assert idx is not None
        fidx = instance.get_export_index(self.store, "echo", idx)
        assert fidx is not None
        func = instance.get_func(self.store, fidx)
        assert func is not None
        self.func = func

    def __call__(self, value: Any) -> Any:
        return self.func(self.store, value)

    def wasmtime_type(self) -> Any:
        """wasmtime-py's own type object of the parameter."""
        return self.func.type(self.store).params[0][1]


POINT = record(("x", F64), ("y-coord", U32))
SHAPE = variant(("circle", F32), ("rect", tuple_of(POINT, POINT)), "empty")
NUMS = variant(("a", U32), ("b", U32), "none")  # tagged: two int cases
PERMS = flags("write", "read", "exec")

# (name, type, JSON in, JSON out or None when equal to JSON in)
ROUND_TRIPS: list[tuple[str, ValueType, Any, Any]] = [
    ("bool", BOOL, True, None),
    ("s8 min", S8, -128, None),
    ("u8 max", U8, 255, None),
    ("u32", U32, 4_000_000_000, None),
    ("s64 min", S64, -(2**63), None),
    ("u64 max", U64, 2**64 - 1, None),
    ("f32 shortest", F32, 0.1, None),
    ("f32 from int", F32, 3, 3.0),
    ("f64 pi", F64, math.pi, None),
    ("f64 nan", F64, "nan", None),
    ("f64 -inf", F64, "-inf", None),
    ("f32 inf", F32, "inf", None),
    ("char", CHAR, "€", None),
    ("string", STRING, "héllo \x00 ✓ 😀", None),
    ("list<u8> array", list_of(U8), [0, 1, 255], None),
    ("list<u8> base64", list_of(U8), {"base64": "AAH/"}, [0, 1, 255]),
    ("list<string>", list_of(STRING), ["a", "", "ccc"], None),
    ("record dashed field", POINT, {"x": 1.5, "y-coord": 7}, None),
    ("tuple", tuple_of(U8, STRING, F64), [7, "seven", 7.5], None),
    ("enum", enum("red", "green", "blue"), "blue", None),
    ("flags sorted", PERMS, ["write", "exec", "read", "exec"], ["exec", "read", "write"]),
    ("flags empty", PERMS, [], None),
    ("option none", option(U32), None, None),
    ("option some", option(STRING), "x", None),
    ("option<option> none", option(option(U32)), None, None),
    ("option<option> some none", option(option(U32)), {"some": None}, None),
    ("option<option> some some", option(option(U32)), {"some": 5}, None),
    ("option<option<variant>> some none (bare outside)", option(option(variant("a"))), {"some": None}, None),
    ("option<option<variant>> some some", option(option(variant("a"))), {"some": "a"},
     {"some": {"tag": "a", "value": None}}),
    ("option<list<option<u32>>>", option(list_of(option(U32))), [1, None], None),
    ("result<u32,u32> ok (tagged)", result(U32, U32), {"ok": 1}, None),
    ("result<u32,u32> err (tagged)", result(U32, U32), {"err": 2}, None),
    ("result<string,u32> ok (bare)", result(STRING, U32), {"ok": "fine"}, None),
    ("result<string,u32> err (bare)", result(STRING, U32), {"err": 404}, None),
    ("result<_,string> ok", result(None, STRING), {"ok": None}, None),
    ("result<_,string> err", result(None, STRING), {"err": "bad"}, None),
    ("result<u32> err", result(U32, None), {"err": None}, None),
    ("result unit", result(None, None), {"err": None}, None),
    ("option<result<_,string>>", option(result(None, STRING)), {"ok": None}, None),
    ("variant payload", SHAPE, {"tag": "circle", "value": 2.5}, None),
    ("variant records", SHAPE,
     {"tag": "rect", "value": [{"x": 0.0, "y-coord": 1}, {"x": 2.0, "y-coord": 3}]}, None),
    ("variant no payload", SHAPE, {"tag": "empty", "value": None}, None),
    ("variant bare case name", SHAPE, "empty", {"tag": "empty", "value": None}),
    ("variant value omitted", SHAPE, {"tag": "empty"}, {"tag": "empty", "value": None}),
    ("variant tagged", NUMS, {"tag": "b", "value": 9}, None),
    ("variant tagged none", NUMS, {"tag": "none", "value": None}, None),
    ("list<option<record>>", list_of(option(POINT)), [None, {"x": 1.0, "y-coord": 2}], None),
    ("nested", record(("name-x", STRING), tags=list_of(STRING), inner=option(record(v=SHAPE, k=enum("a", "b")))),
     {"name-x": "n", "tags": ["t"], "inner": {"v": {"tag": "circle", "value": 1.0}, "k": "b"}}, None),
]


@pytest.mark.parametrize(("t", "data", "want"), [(t, d, w) for _, t, d, w in ROUND_TRIPS],
                         ids=[n for n, _, _, _ in ROUND_TRIPS])
def test_round_trip_through_wasmtime(t: ValueType, data: Any, want: Any) -> None:
    expected = data if want is None else want
    echo = Echo(t)
    value = to_python(data, t)  # the mapping's Python value
    lift = lifter(t) or (lambda v: v)
    out = lift(echo(lowerer(t)(value)))  # through wasmtime-py's own converters, both ways
    assert to_json(out, t) == expected
    assert [to_json(lift(v), t) for v in echo.seen] == [expected]
    if "nan" not in repr(data) and t != F32:  # an f32 comes back as the f32's exact value
        assert out == value  # the Python values compare equal directly


TAG_TYPES: list[ValueType] = [
    option(U32), option(option(U32)), option(result(None, STRING)), option(SHAPE), option(NUMS),
    result(U32, U32), result(STRING, U32), result(None, STRING), result(U32, None), result(None, None),
    result(BOOL, U32), result(F32, F64), result(list_of(U8), STRING), result(list_of(U32), tuple_of(U8)),
    result(option(U32), STRING), result(enum("a"), STRING), result(POINT, PERMS),
    SHAPE, NUMS, variant(("a", option(U32)), ("b", STRING)), variant(("a", option(U32)), "b"),
    variant(("a", result(U32, STRING)), ("b", BOOL)), variant("x", "y"),
]


@pytest.mark.parametrize("t", TAG_TYPES, ids=[str(i) for i in range(len(TAG_TYPES))])
def test_tagged_rule_matches_wasmtime(t: ValueType) -> None:
    wt = Echo(t).wasmtime_type()
    assert from_wasmtime_valtype(wt) == t
    assert isinstance(t, (OptionT, ResultT, VariantT))
    assert is_tagged(t) == wt._tagged()


BAD: list[tuple[ValueType, Any, str]] = [
    (U32, "x", 'value: expected integer (u32), found string "x"'),
    (U32, True, "value: expected integer (u32), found boolean true"),
    (U32, 1.5, "value: expected integer (u32), found number 1.5"),
    (U8, 256, "value: 256 is out of range for u8 (0..255)"),
    (S8, -129, "value: -129 is out of range for s8"),
    (U64, -1, "value: -1 is out of range for u64"),
    (BOOL, 1, "value: expected boolean, found number 1"),
    (F64, "fast", 'value: expected number (f64) or "nan", "inf", "-inf", found string "fast"'),
    (CHAR, "ab", "value: expected one-character string (char)"),
    (CHAR, "\ud800", "value: a surrogate code point"),
    (STRING, 3, "value: expected string, found number 3"),
    (STRING, "a\udc00", "value: string holds a lone surrogate at index 1"),
    (list_of(U32), {"a": 1}, "value: expected array (list<u32>), found object"),
    (list_of(U32), [1, "2"], 'value[1]: expected integer (u32), found string "2"'),
    (list_of(U8), [1, 300], "value[1]: expected integer 0..255 (u8), found number 300"),
    (list_of(U8), {"base64": "!!"}, "value.base64: not valid base64"),
    (list_of(U8), {"hex": "00"}, 'expected an array of bytes or {"base64": "..."}'),
    (POINT, {"x": 1.0}, "value: missing field 'y-coord' (fields: x, y-coord)"),
    (POINT, {"x": 1.0, "y-coord": 1, "z": 0}, "value: unknown field 'z'"),
    (POINT, {"x": 1.0, "y-coord": "1"}, 'value.y-coord: expected integer (u32), found string "1"'),
    (POINT, [1, 2], "value: expected object (record { x: f64, y-coord: u32 }), found array"),
    (tuple_of(U8, U8), [1], "value: expected 2 element(s) (tuple<u8, u8>), found 1"),
    (tuple_of(U8, STRING), [1, 2], "value[1]: expected string, found number 2"),
    (enum("a", "b"), "c", "value: 'c' is not a case of the enum (cases: a, b)"),
    (PERMS, ["read", "x"], "value[1]: 'x' is not a flag (flags: write, read, exec)"),
    (PERMS, "read", "value: expected array of flag names"),
    (option(option(U32)), 5, 'value: expected null or {"some": value} (a nested option)'),
    (option(U32), "5", 'value: expected integer (u32), found string "5"'),
    (result(U32, STRING), 5, 'value: expected {"ok": value} or {"err": value} (result<u32, string>)'),
    (result(U32, STRING), {"ok": 1, "err": "x"}, 'expected {"ok": value} or {"err": value}'),
    (result(U32, STRING), {"err": 1}, "value.err: expected string, found number 1"),
    (result(None, STRING), {"ok": 1}, "value.ok: expected null (the case has no payload), found number 1"),
    (SHAPE, {"tag": "square", "value": 1}, "value: 'square' is not a case of the variant"),
    (SHAPE, {"tag": "circle"}, "value: case 'circle' needs a value (f32)"),
    (SHAPE, {"tag": "circle", "value": 1, "x": 2}, 'value: expected {"tag": case, "value": payload}'),
    (SHAPE, {"tag": "circle", "value": "big"}, "value.circle: expected number (f32)"),
    (HandleT("own"), 1, "value: own<resource> values cannot be given as JSON"),
    # wasmtime-py would take these bare payloads for another case: refused, not mis-sent
    (result(U32, BOOL), {"err": True}, "wasmtime-py cannot pass case 'err' of result<u32, bool>"),
    (variant(("a", option(U32)), ("b", STRING)), {"tag": "b", "value": "x"},
     "it would be taken as case 'a'"),
]


@pytest.mark.parametrize(("t", "data", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_values_name_the_path(t: ValueType, data: Any, message: str) -> None:
    with pytest.raises(BadArgumentsError) as info:
        to_python(data, t)
    assert message in str(info.value)
    assert info.value.code == "bad-arguments"
    assert info.value.details["path"].startswith("value")


def test_args_paths_and_arity() -> None:
    sig = FuncT((("a", U32), ("p", POINT)), U32)
    assert args_to_python([1, {"x": 1, "y-coord": 2}], sig)[0] == 1
    with pytest.raises(BadArgumentsError) as info:
        args_to_python([1, {"x": "no", "y-coord": 2}], sig)
    assert info.value.message.startswith('args[1].x: expected number (f64) or "nan"')
    assert info.value.details == {"path": "args[1].x"}
    with pytest.raises(BadArgumentsError, match=r"expected 2 argument\(s\) \(a: u32, p: record"):
        args_to_python([1], sig)
    assert args_to_python([], FuncT((), None)) == ()


def test_python_values_are_the_mapping() -> None:
    rec = to_python({"x": 1, "y-coord": 2}, POINT)
    assert rec == {"x": 1.0, "y-coord": 2} and isinstance(rec["x"], float)
    assert to_python({"ok": 1}, result(U32, U32)) == {"ok": 1}
    assert to_python({"ok": "s"}, result(STRING, U32)) == {"ok": "s"}  # never the bare payload
    assert to_python({"err": None}, result(U32, None)) == {"err": None}
    assert to_python(None, option(option(U32))) is None
    assert to_python({"some": None}, option(option(U32))) == {"some": None}
    assert to_python(5, option(U32)) == 5
    assert to_python(["a", "a"], flags("a", "b")) == frozenset({"a"})
    assert to_python([1, 2], list_of(U8)) == b"\x01\x02"
    assert to_python({"base64": "AQI="}, list_of(U8)) == b"\x01\x02"
    assert to_python([1, "a"], tuple_of(U8, STRING)) == (1, "a")
    assert to_python("empty", SHAPE) == {"tag": "empty", "value": None}
    assert to_python({"tag": "circle", "value": 2}, SHAPE) == {"tag": "circle", "value": 2.0}
    assert to_python("inf", F64) == math.inf


def test_python_forms_are_accepted_as_well() -> None:
    assert to_python((1, "a"), tuple_of(U8, STRING)) == (1, "a")
    assert to_python({"b", "a"}, flags("a", "b")) == frozenset({"a", "b"})
    assert to_python(frozenset({"a"}), flags("a", "b")) == frozenset({"a"})
    assert to_python(bytearray(b"\x01"), list_of(U8)) == b"\x01"
    assert to_python(memoryview(b"\x01\x02")[::2], list_of(U8)) == b"\x01"


def test_lowerer_builds_wasmtime_shapes() -> None:
    rec = lowerer(POINT)({"x": 1, "y-coord": 2})
    assert isinstance(rec, c.Record) and getattr(rec, "y-coord") == 2 and vars(rec)["x"] == 1.0
    assert isinstance(vars(rec)["x"], float)  # wasmtime-py refuses ints for f64 inside compound values
    assert lowerer(result(U32, U32))({"ok": 1}) == c.Variant("ok", 1)
    assert lowerer(result(STRING, U32))({"ok": "s"}) == "s"
    assert lowerer(option(option(U32)))(None) == c.Variant("none")
    assert lowerer(option(option(U32)))({"some": None}) == c.Variant("some", None)
    assert lowerer(flags("a", "b"))(["a"]) == {"a"}


def test_lifter_is_none_where_wasmtime_py_already_gives_the_mapping() -> None:
    for t in (U32, STRING, F32, list_of(U8), list_of(STRING), option(U32), enum("a"), list_of(option(CHAR))):
        assert lifter(t) is None, t
    for t in (POINT, result(U32, STRING), SHAPE, PERMS, option(option(U32)), tuple_of(U8, POINT)):
        assert lifter(t) is not None, t


def test_to_json_without_a_type() -> None:
    value = {"a": 1, "b-c": [b"\x01", frozenset({"z", "y"}), (math.inf, {"tag": "t", "value": None})]}
    assert to_json(value) == {"a": 1, "b-c": [[1], ["y", "z"], ["inf", {"tag": "t", "value": None}]]}
    assert to_json(float("nan"), None) == "nan"
    assert to_json(-math.inf, F64) == "-inf"


def test_to_json_of_f32_keeps_full_precision_of_f64() -> None:
    assert to_json(0.10000000149011612, F32) == 0.1
    assert to_json(0.10000000149011612, F64) == 0.10000000149011612


def test_json_kind() -> None:
    values: list[Any] = [None, True, 1, 1.5, "s", [], {}]
    assert [json_kind(v) for v in values] == [
        "null", "boolean", "number", "number", "string", "array", "object"]


def test_to_json_of_f32_near_its_largest_value() -> None:
    """A shorter decimal may round past f32's range (3.4025e38 → 3e38 fits, 3.4e38 fits, but a
    candidate such as 3.403e38 does not): such candidates are skipped, never an OverflowError."""
    import struct

    largest = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]
    for v in (largest, struct.unpack("<f", struct.pack("<I", 0x7F7FFFFE))[0], -largest):
        out = to_json(v, F32)
        assert struct.pack("<f", out) == struct.pack("<f", v)
