"""Canonical ABI flattening, size and alignment against cases worked out from CanonicalABI.md."""

from __future__ import annotations

import pytest

from harness.model._witypes import FuncT, ValueType
from harness.runtime._abi import (
    alignment,
    discriminant_size,
    flatten,
    func_core_signature,
    join,
    size,
)
from harness.testing import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S16,
    S64,
    STRING,
    U8,
    U16,
    U32,
    U64,
    enum,
    flags,
    list_of,
    option,
    record,
    result,
    tuple_of,
    variant,
)


@pytest.mark.parametrize(("t", "flat"), [
    (BOOL, ["i32"]), (S8, ["i32"]), (U16, ["i32"]), (CHAR, ["i32"]),
    (S64, ["i64"]), (U64, ["i64"]), (F32, ["f32"]), (F64, ["f64"]),
    (STRING, ["i32", "i32"]), (list_of(U64), ["i32", "i32"]),
    (record(a=U8, b=F64, c=STRING), ["i32", "f64", "i32", "i32"]),
    (tuple_of(F32, U64), ["f32", "i64"]),
    (enum("a", "b", "c"), ["i32"]),
    (option(U64), ["i32", "i64"]),
    (option(F32), ["i32", "f32"]),
    (result(F32, U32), ["i32", "i32"]),          # f32 joined with i32 is i32
    (result(F64, U32), ["i32", "i64"]),          # anything joined with a 64-bit type is i64
    (result(F32, F64), ["i32", "i64"]),
    (result(), ["i32"]),
    (result(None, STRING), ["i32", "i32", "i32"]),
    (variant(("a", tuple_of(F32, F32)), ("b", U64)), ["i32", "i64", "f32"]),
    (variant("x", ("y", STRING), ("z", tuple_of(U8, F32, F64))), ["i32", "i32", "i32", "f64"]),
    (flags("a"), ["i32"]), (flags(*[f"f{i}" for i in range(32)]), ["i32"]),
    (flags(*[f"f{i}" for i in range(33)]), ["i32", "i32"]),
])
def test_flatten(t: ValueType, flat: list[str]) -> None:
    assert flatten(t) == flat


@pytest.mark.parametrize(("t", "sz", "al"), [
    (BOOL, 1, 1), (U8, 1, 1), (S16, 2, 2), (U32, 4, 4), (CHAR, 4, 4), (F32, 4, 4),
    (U64, 8, 8), (F64, 8, 8), (STRING, 8, 4), (list_of(F64), 8, 4),
    (record(a=U8, b=U32), 8, 4),
    (record(a=U32, b=U8), 8, 4),
    (record(a=U8, b=U16, c=U8), 6, 2),
    (tuple_of(U8, U64), 16, 8),
    (option(U8), 2, 1),
    (option(F64), 16, 8),
    (result(None, STRING), 12, 4),
    (result(), 1, 1),
    (enum("a", "b"), 1, 1),
    (enum(*[f"e{i}" for i in range(256)]), 1, 1),
    (enum(*[f"e{i}" for i in range(257)]), 2, 2),
    (variant(*[f"v{i}" for i in range(300)], ("p", U8)), 4, 2),
    (flags(*[f"f{i}" for i in range(8)]), 1, 1),
    (flags(*[f"f{i}" for i in range(9)]), 2, 2),
    (flags(*[f"f{i}" for i in range(17)]), 4, 4),
    (flags(*[f"f{i}" for i in range(33)]), 8, 4),
    (record(a=option(U16), b=result(U8, U64)), 24, 8),
])
def test_size_and_alignment(t: ValueType, sz: int, al: int) -> None:
    assert (size(t), alignment(t)) == (sz, al)
    assert size(t) % alignment(t) == 0


def test_discriminant_size() -> None:
    assert [discriminant_size(n) for n in (1, 256, 257, 65536, 65537)] == [1, 1, 2, 2, 4]
    with pytest.raises(ValueError):
        discriminant_size(0)


def test_join() -> None:
    assert join("i32", "f32") == join("f32", "i32") == "i32"
    assert join("f32", "f64") == "i64"
    assert join("i32", "i64") == "i64"
    assert join("f64", "f64") == "f64"


def test_func_core_signature() -> None:
    add = FuncT((("a", U32), ("b", U32)), U32)
    assert func_core_signature(add, lift=True) == (["i32", "i32"], ["i32"])
    assert func_core_signature(add, lift=False) == (["i32", "i32"], ["i32"])

    greet = FuncT((("name", STRING),), STRING)
    assert func_core_signature(greet, lift=True) == (["i32", "i32"], ["i32"])
    assert func_core_signature(greet, lift=False) == (["i32", "i32", "i32"], [])

    sixteen = FuncT(tuple((f"p{i}", U32) for i in range(16)), None)
    assert func_core_signature(sixteen, lift=True) == (["i32"] * 16, [])
    seventeen = FuncT(tuple((f"p{i}", U32) for i in range(17)), None)
    assert func_core_signature(seventeen, lift=True) == (["i32"], [])
    # 8 strings flatten to 16 values: still flat; 9 do not
    assert func_core_signature(FuncT(tuple((f"s{i}", STRING) for i in range(8)), None), lift=True)[0] \
        == ["i32"] * 16
    many = FuncT(tuple((f"s{i}", STRING) for i in range(9)), tuple_of(U64, U64))
    assert func_core_signature(many, lift=True) == (["i32"], ["i32"])
    assert func_core_signature(many, lift=False) == (["i32", "i32"], [])

    nothing = FuncT((), None)
    assert func_core_signature(nothing, lift=True) == ([], [])
    one = FuncT((), F64)
    assert func_core_signature(one, lift=False) == ([], ["f64"])
