"""The Component Model canonical ABI for the type model: flattening, size, alignment.

Generated mock components pass values through core wasm unchanged; to do that
they must know each function's core signature and how big a return area is.
Follows CanonicalABI.md (`flatten_type`, `size`, `alignment`, `flatten_functype`);
wasm32 memories only.
"""

from __future__ import annotations

from ..model._witypes import (
    EnumT,
    FlagsT,
    FuncT,
    FutureT,
    HandleT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    StreamT,
    TupleT,
    ValueType,
    VariantLike,
    VariantT,
    cases_of,
)

__all__ = [
    "MAX_FLAT_PARAMS",
    "MAX_FLAT_RESULTS",
    "align_to",
    "alignment",
    "case_types",
    "discriminant_size",
    "flatten",
    "flatten_params",
    "func_core_signature",
    "join",
    "size",
]

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1

CoreType = str  # "i32" | "i64" | "f32" | "f64"

_PRIM_SIZE = {
    "bool": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4, "f32": 4, "char": 4,
    "s64": 8, "u64": 8, "f64": 8, "string": 4, "error-context": 4,
}
_PRIM_FLAT = {
    "bool": ["i32"], "s8": ["i32"], "u8": ["i32"], "s16": ["i32"], "u16": ["i32"], "s32": ["i32"],
    "u32": ["i32"], "char": ["i32"], "s64": ["i64"], "u64": ["i64"], "f32": ["f32"], "f64": ["f64"],
    "string": ["i32", "i32"], "error-context": ["i32"],
}


def case_types(t: VariantLike) -> list[ValueType | None]:
    """The payload of each case after despecialisation (enum/option/result are variants)."""
    return [c for _, c in cases_of(t)]


def discriminant_size(n_cases: int) -> int:
    """Bytes of a variant's discriminant: the smallest of u8/u16/u32 that holds the case index."""
    if n_cases <= 0:
        raise ValueError("a variant needs at least one case")
    if n_cases <= 1 << 8:
        return 1
    if n_cases <= 1 << 16:
        return 2
    return 4


def _flags_size(n: int) -> int:
    if n == 0:
        return 0
    if n <= 8:
        return 1
    if n <= 16:
        return 2
    return 4 * ((n + 31) // 32)


def align_to(ptr: int, align: int) -> int:
    return (ptr + align - 1) // align * align


def alignment(t: ValueType) -> int:
    if isinstance(t, Prim):
        if t.name == "string":
            return 4
        return _PRIM_SIZE[t.name]
    if isinstance(t, ListT):
        return 4
    if isinstance(t, RecordT):
        return max((alignment(f) for _, f in t.fields), default=1)
    if isinstance(t, TupleT):
        return max((alignment(e) for e in t.elements), default=1)
    if isinstance(t, VariantT | EnumT | OptionT | ResultT):
        cases = case_types(t)
        return max(discriminant_size(len(cases)), _max_case_alignment(cases))
    if isinstance(t, FlagsT):
        n = len(t.names)
        return 1 if n <= 8 else 2 if n <= 16 else 4
    if isinstance(t, HandleT | FutureT | StreamT):
        return 4
    raise TypeError(f"not a value type: {t!r}")


def _max_case_alignment(cases: list[ValueType | None]) -> int:
    return max((alignment(c) for c in cases if c is not None), default=1)


def size(t: ValueType) -> int:
    """Bytes `t` occupies in linear memory (a multiple of its alignment)."""
    if isinstance(t, Prim):
        return 8 if t.name == "string" else _PRIM_SIZE[t.name]
    if isinstance(t, ListT):
        return 8
    if isinstance(t, RecordT | TupleT):
        fields = [f for _, f in t.fields] if isinstance(t, RecordT) else list(t.elements)
        s = 0
        for f in fields:
            s = align_to(s, alignment(f)) + size(f)
        return align_to(s, alignment(t))
    if isinstance(t, VariantT | EnumT | OptionT | ResultT):
        cases = case_types(t)
        s = discriminant_size(len(cases))
        s = align_to(s, _max_case_alignment(cases))
        s += max((size(c) for c in cases if c is not None), default=0)
        return align_to(s, alignment(t))
    if isinstance(t, FlagsT):
        return _flags_size(len(t.names))
    if isinstance(t, HandleT | FutureT | StreamT):
        return 4
    raise TypeError(f"not a value type: {t!r}")


def join(a: CoreType, b: CoreType) -> CoreType:
    """The core type that carries either of two variant payload slots."""
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def flatten(t: ValueType) -> list[CoreType]:
    """Core value types carrying `t` when passed flat (CanonicalABI `flatten_type`)."""
    if isinstance(t, Prim):
        return list(_PRIM_FLAT[t.name])
    if isinstance(t, ListT):
        return ["i32", "i32"]
    if isinstance(t, RecordT):
        return [c for _, f in t.fields for c in flatten(f)]
    if isinstance(t, TupleT):
        return [c for e in t.elements for c in flatten(e)]
    if isinstance(t, VariantT | EnumT | OptionT | ResultT):
        cases = case_types(t)
        flat: list[CoreType] = []
        for c in cases:
            if c is None:
                continue
            for i, ft in enumerate(flatten(c)):
                if i < len(flat):
                    flat[i] = join(flat[i], ft)
                else:
                    flat.append(ft)
        disc = "i32"  # every discriminant size flattens to one i32
        return [disc, *flat]
    if isinstance(t, FlagsT):
        n = len(t.names)
        return ["i32"] * ((n + 31) // 32)
    if isinstance(t, HandleT | FutureT | StreamT):
        return ["i32"]
    raise TypeError(f"not a value type: {t!r}")


def flatten_params(ft: FuncT) -> list[CoreType]:
    """All parameters flattened, before the MAX_FLAT_PARAMS cut."""
    return [c for _, p in ft.params for c in flatten(p)]


def func_core_signature(ft: FuncT, lift: bool) -> tuple[list[CoreType], list[CoreType]]:
    """(params, results) of the core function behind `canon lift` (lift=True) or `canon lower`.

    More than 16 flat params travel as one pointer to a tuple in memory; more than
    one flat result comes back through memory: a lifted function returns a pointer
    to it, a lowered one takes an extra pointer to a caller-provided return area.
    """
    params = flatten_params(ft)
    if len(params) > MAX_FLAT_PARAMS:
        params = ["i32"]
    results = [] if ft.result is None else flatten(ft.result)
    if len(results) > MAX_FLAT_RESULTS:
        if lift:
            results = ["i32"]
        else:
            params = [*params, "i32"]
            results = []
    return params, results
