"""`type_diff` names the first difference by its path."""

from __future__ import annotations

import pytest

from harness.model._witypes import FuncT, InstanceT, ListT, OptionT, Prim, RecordT, ResultT, TupleT, VariantT, type_diff

U32, S32, STR = Prim("u32"), Prim("s32"), Prim("string")
POINT = RecordT((("x", U32), ("y", U32)))


@pytest.mark.parametrize(("expected", "found", "diff"), [
    (POINT, POINT, None),
    (POINT, RecordT((("x", U32), ("y", S32))), "p → field y: expected u32, found s32"),
    (POINT, RecordT((("y", U32), ("x", U32))), "p: expected record fields ['x', 'y'], found ['y', 'x']"),
    (VariantT((("a", None), ("b", U32))), VariantT((("a", None), ("b", STR))),
     "p → case b: expected u32, found string"),
    (VariantT((("a", None),)), VariantT((("b", None),)), "p: expected variant cases ['a'], found ['b']"),
    (TupleT((U32, STR)), TupleT((U32, U32)), "p → element 1: expected string, found u32"),
    (ListT(OptionT(U32)), ListT(OptionT(S32)), "p → element → some: expected u32, found s32"),
    (ResultT(None, STR), ResultT(None, U32), "p → err: expected string, found u32"),
    (FuncT((("expr", STR),), None), FuncT((("expr", U32),), None), "p → param expr: expected string, found u32"),
])
def test_type_diff_paths(expected: object, found: object, diff: str | None) -> None:
    assert type_diff(expected, found, "p") == diff  # type: ignore[arg-type]


def test_a_provider_may_export_more_functions_than_imported() -> None:
    imported = InstanceT((("f", FuncT((), U32)),))
    provided = InstanceT((("f", FuncT((), U32)), ("g", FuncT((), None))))
    assert type_diff(imported, provided, "ns:p/i") is None
    assert type_diff(provided, imported, "ns:p/i") == "ns:p/i#g: missing in provider (expected func())"
