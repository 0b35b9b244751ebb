"""The mapping between JSON values and wasmtime-py's Python values, driven by the type model.

Why a typed mapping: JSON cannot tell a record from a map, an enum from a string
or a u64 from an f64, and wasmtime-py's own representation of variants depends
on the case types (a case's payload is passed bare when the case can be told
apart by its Python class, wrapped in `Variant(tag, payload)` otherwise). So both
directions walk our `ValueType` and replicate wasmtime-py's "tagged" rule
(`VariantLikeType._tagged`) exactly. The table lives in docs/cli.md.

wasmtime-py does not range-check integers inside compound values (ctypes
truncates them) and requires Python floats for f32/f64, so `to_python` checks
ranges and converts numbers; every problem is a `BadArgumentsError` naming the
path of the offending value (`args[1].name: expected string, found number`).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from wasmtime.component import Record, Variant

from ..model._errors import BadArgumentsError
from ..model._witypes import (
    EnumT,
    FlagsT,
    FuncT,
    HandleT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    TupleT,
    ValueType,
    VariantT,
    cases_of,
    render,
)

__all__ = ["INT_RANGES", "IntMisfit", "args_to_python", "describe_misfit", "int_checker", "is_tagged",
           "json_kind", "to_json", "to_python"]

# The one table of integer ranges: JSON arguments, the argument fast path (`_fastpath`) and
# the check of compound arguments and host-function results (`int_checker`) all read it.
INT_RANGES: dict[str, tuple[int, int]] = {
    "s8": (-(2**7), 2**7 - 1), "u8": (0, 2**8 - 1),
    "s16": (-(2**15), 2**15 - 1), "u16": (0, 2**16 - 1),
    "s32": (-(2**31), 2**31 - 1), "u32": (0, 2**32 - 1),
    "s64": (-(2**63), 2**63 - 1), "u64": (0, 2**64 - 1),
}
_INT_RANGES = INT_RANGES  # the name harness.testing.strategies reads
_FLOAT_WORDS: dict[str, float] = {
    "nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
    "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
}
_NONE_TYPE = type(None)

VariantLike = OptionT | ResultT | VariantT


# --------------------------------------------------------------------------- wasmtime-py's rule

@lru_cache(maxsize=4096)
def _classes(t: ValueType) -> frozenset[type]:
    """The Python classes wasmtime-py produces and accepts for `t` (its `add_classes`)."""
    if isinstance(t, Prim):
        if t.name == "bool":
            return frozenset({bool})
        if t.name in _INT_RANGES:
            return frozenset({int})
        if t.name in ("f32", "f64"):
            return frozenset({float})
        if t.name in ("char", "string"):
            return frozenset({str})
        return frozenset()
    if isinstance(t, ListT):
        return frozenset({bytes}) if t.element == Prim("u8") else frozenset({list})
    if isinstance(t, RecordT):
        return frozenset({Record})
    if isinstance(t, TupleT):
        return frozenset({tuple})
    if isinstance(t, EnumT):
        return frozenset({str})
    if isinstance(t, FlagsT):
        return frozenset({set})
    if isinstance(t, (OptionT, ResultT, VariantT)):
        if is_tagged(t):
            return frozenset({Variant})
        out: set[type] = set()
        for _, payload in cases_of(t):
            out |= {object} if payload is None else _classes(payload)
        return frozenset(out)
    if isinstance(t, HandleT):
        from wasmtime.component import ResourceAny, ResourceHost
        return frozenset({ResourceAny, ResourceHost})
    return frozenset()


@lru_cache(maxsize=4096)
def is_tagged(t: VariantLike) -> bool:
    """Whether wasmtime-py represents values of `t` as `Variant(tag, payload)`.

    True when two cases share a Python class; a case without payload counts as
    `object`, so two payload-less cases (e.g. `result`) always make it tagged.
    """
    seen: set[type] = set()
    for _, payload in cases_of(t):
        case = {object} if payload is None else set(_classes(payload))
        if case & seen:
            return True
        seen |= case
    return False


def _wasmtime_pick(t: VariantLike, value: Any) -> str | None:
    """The case wasmtime-py's lowering chooses for a bare (untagged) value."""
    for name, payload in cases_of(t):
        if payload is None:
            if value is None:
                return name
            continue
        if isinstance(value, tuple(_classes(payload))):
            return name
    return None


@lru_cache(maxsize=4096)
def _exact(t: ValueType | None) -> frozenset[type]:
    """Classes a lifted value of `t` can have, with no-payload cases as NoneType."""
    if t is None:
        return frozenset({_NONE_TYPE})
    if isinstance(t, (OptionT, ResultT, VariantT)) and not is_tagged(t):
        out: set[type] = set()
        for _, payload in cases_of(t):
            out |= _exact(payload)
        return frozenset(out)
    return _classes(t)


# --------------------------------------------------------------------------- integer ranges

IntMisfit = tuple[str, Any, str]
"""(where, value, kind): an integer that does not fit its WIT type, `where` a path below the
value (`""`, `[3]`, `.name`, `.some`, ...)."""
IntCheck = Callable[[Any], IntMisfit | None]


def int_checker(t: ValueType) -> IntCheck | None:
    """A function finding the first integer in a wasmtime-py value of `t` that does not fit its
    WIT type (a bool counts as not fitting); None when `t` holds no integer, so nothing is paid.

    wasmtime-py lowers integers with ctypes, which truncates silently (2**40 as a u32 is 0, -1
    is 4294967295): compound arguments and host-function results are checked with this first.
    Values of the wrong shape are left alone: wasmtime-py's own lowering refuses them.
    """
    return _int_checker(t)


@lru_cache(maxsize=4096)
def _int_checker(t: ValueType) -> IntCheck | None:
    if isinstance(t, Prim):
        if t.name not in INT_RANGES:
            return None
        kind = t.name
        lo, hi = INT_RANGES[kind]

        def check_int(v: Any) -> IntMisfit | None:
            if v.__class__ is bool or (isinstance(v, int) and not lo <= v <= hi):
                return "", v, kind
            return None
        return check_int
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return None  # bytes: every element fits
        element = _int_checker(t.element)
        if element is None:
            return None

        def check_list(v: Any) -> IntMisfit | None:
            if isinstance(v, list):
                for i, e in enumerate(v):
                    bad = element(e)
                    if bad is not None:
                        return f"[{i}]{bad[0]}", bad[1], bad[2]
            return None
        return check_list
    if isinstance(t, RecordT):
        fields = [(n, c) for n, f in t.fields if (c := _int_checker(f)) is not None]
        if not fields:
            return None

        def check_record(v: Any) -> IntMisfit | None:
            for name, check in fields:
                bad = check(getattr(v, name, None))
                if bad is not None:
                    return f".{name}{bad[0]}", bad[1], bad[2]
            return None
        return check_record
    if isinstance(t, TupleT):
        elements = [(i, c) for i, e in enumerate(t.elements) if (c := _int_checker(e)) is not None]
        if not elements:
            return None
        arity = len(t.elements)

        def check_tuple(v: Any) -> IntMisfit | None:
            if isinstance(v, tuple) and len(v) == arity:
                for i, check in elements:
                    bad = check(v[i])
                    if bad is not None:
                        return f"[{i}]{bad[0]}", bad[1], bad[2]
            return None
        return check_tuple
    if isinstance(t, (OptionT, ResultT, VariantT)):
        cases = {name: c for name, p in cases_of(t) if p is not None and (c := _int_checker(p)) is not None}
        if not cases:
            return None
        tagged = is_tagged(t)

        def check_case(v: Any) -> IntMisfit | None:
            tag: str | None
            if tagged:
                if not isinstance(v, Variant):
                    return None
                tag, payload = v.tag, v.payload
            else:
                tag, payload = _wasmtime_pick(t, v), v
            check = cases.get(tag) if isinstance(tag, str) else None
            if check is None:
                return None
            bad = check(payload)
            return None if bad is None else (f".{tag}{bad[0]}", bad[1], bad[2])
        return check_case
    return None


def describe_misfit(bad: IntMisfit) -> str:
    """`2**40, which does not fit u32 (0..4294967295)`, with `at [3].x` when nested."""
    where, value, kind = bad
    lo, hi = INT_RANGES[kind]
    if value.__class__ is bool:
        shown = f"{value} (a bool)"
    elif isinstance(value, int) and value.bit_length() > 128:  # str() of a huge int is slow or refused
        shown = f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
    else:
        shown = repr(value)
    return f"{shown}{' at ' + where if where else ''}, which does not fit {kind} ({lo}..{hi})"


# --------------------------------------------------------------------------- JSON → Python

def json_kind(data: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "boolean"
    if isinstance(data, (int, float)):
        return "number"
    if isinstance(data, str):
        return "string"
    if isinstance(data, (list, tuple)):
        return "array"
    if isinstance(data, dict):
        return "object"
    return type(data).__name__


def _bad(path: str, message: str) -> BadArgumentsError:
    return BadArgumentsError(f"{path}: {message}", details={"path": path})


def _expected(path: str, what: str, data: Any) -> BadArgumentsError:
    shown = json_kind(data)
    if isinstance(data, (bool, int, float)) or (isinstance(data, str) and len(data) <= 40):
        import json
        try:
            shown += f" {json.dumps(data)}"
        except ValueError:
            shown += f" {data!r}"
    return _bad(path, f"expected {what}, found {shown}")


def to_python(data: Any, t: ValueType, path: str = "value") -> Any:
    """Convert a decoded JSON value to the Python value wasmtime-py expects for `t`.

    Raises `BadArgumentsError` (with `details["path"]`) on a value that does not fit.
    """
    if isinstance(t, Prim):
        return _prim_to_python(data, t.name, path)
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return _bytes_to_python(data, path)
        if not isinstance(data, list):
            raise _expected(path, f"array ({render(t)})", data)
        return [to_python(v, t.element, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(t, RecordT):
        if not isinstance(data, dict):
            raise _expected(path, f"object ({render(t)})", data)
        names = [n for n, _ in t.fields]
        unknown = [k for k in data if k not in names]
        if unknown:
            raise _bad(path, f"unknown field {unknown[0]!r} (fields: {', '.join(names)})")
        rec = Record()
        for name, ft in t.fields:
            if name not in data:
                raise _bad(path, f"missing field {name!r} (fields: {', '.join(names)})")
            setattr(rec, name, to_python(data[name], ft, f"{path}.{name}"))
        return rec
    if isinstance(t, TupleT):
        if not isinstance(data, list):
            raise _expected(path, f"array of {len(t.elements)} ({render(t)})", data)
        if len(data) != len(t.elements):
            raise _bad(path, f"expected {len(t.elements)} element(s) ({render(t)}), found {len(data)}")
        return tuple(to_python(v, et, f"{path}[{i}]") for i, (v, et) in enumerate(zip(data, t.elements,
                                                                                        strict=True)))
    if isinstance(t, EnumT):
        if not isinstance(data, str):
            raise _expected(path, f"string, one of {', '.join(t.names)}", data)
        if data not in t.names:
            raise _bad(path, f"{data!r} is not a case of the enum (cases: {', '.join(t.names)})")
        return data
    if isinstance(t, FlagsT):
        if not isinstance(data, list):
            raise _expected(path, f"array of flag names ({', '.join(t.names)})", data)
        out: set[str] = set()
        for i, v in enumerate(data):
            if not isinstance(v, str):
                raise _expected(f"{path}[{i}]", "string (a flag name)", v)
            if v not in t.names:
                raise _bad(f"{path}[{i}]", f"{v!r} is not a flag (flags: {', '.join(t.names)})")
            out.add(v)
        return out
    if isinstance(t, OptionT):
        return _option_to_python(data, t, path)
    if isinstance(t, ResultT):
        return _result_to_python(data, t, path)
    if isinstance(t, VariantT):
        return _variant_to_python(data, t, path)
    raise _bad(path, f"{render(t)} values cannot be given as JSON")


def _prim_to_python(data: Any, name: str, path: str) -> Any:
    if name == "bool":
        if not isinstance(data, bool):
            raise _expected(path, "boolean", data)
        return data
    if name in _INT_RANGES:
        lo, hi = _INT_RANGES[name]
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            raise _expected(path, f"integer ({name})", data)
        if not lo <= data <= hi:
            raise _bad(path, f"{data} is out of range for {name} ({lo}..{hi})")
        return data
    if name in ("f32", "f64"):
        if isinstance(data, str) and data.lower() in _FLOAT_WORDS:
            return _FLOAT_WORDS[data.lower()]
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise _expected(path, f'number ({name}) or "nan", "inf", "-inf"', data)
        return float(data)
    if name == "char":
        if not isinstance(data, str) or len(data) != 1:
            raise _expected(path, "one-character string (char)", data)
        if 0xD800 <= ord(data) <= 0xDFFF:
            raise _bad(path, "a surrogate code point is not a Unicode scalar value (char)")
        return data
    if name == "string":
        if not isinstance(data, str):
            raise _expected(path, "string", data)
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as e:
            raise _bad(path, f"string holds a lone surrogate at index {e.start}; not valid Unicode") from e
        return data
    raise _bad(path, f"{name} values cannot be given as JSON")


def _bytes_to_python(data: Any, path: str) -> bytes:
    if isinstance(data, dict):
        if set(data) != {"base64"} or not isinstance(data["base64"], str):
            raise _bad(path, 'expected an array of bytes or {"base64": "..."} (list<u8>)')
        try:
            return base64.b64decode(data["base64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad(f"{path}.base64", f"not valid base64: {e}") from e
    if not isinstance(data, list):
        raise _expected(path, 'array of integers 0..255 or {"base64": "..."} (list<u8>)', data)
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255:
            raise _expected(f"{path}[{i}]", "integer 0..255 (u8)", v)
    return bytes(data)


def _nullable(t: ValueType | None) -> bool:
    """Whether `t`'s JSON form can be null (then an enclosing option needs `{"some": v}`)."""
    return isinstance(t, OptionT)


def _option_to_python(data: Any, t: OptionT, path: str) -> Any:
    tagged = is_tagged(t)
    if data is None:
        return Variant("none") if tagged else None
    if _nullable(t.payload):
        if not isinstance(data, dict) or set(data) != {"some"}:
            raise _expected(path, 'null or {"some": value} (a nested option)', data)
        inner = to_python(data["some"], t.payload, f"{path}.some")
    else:
        inner = to_python(data, t.payload, path)
    if tagged:
        return Variant("some", inner)
    _check_pick(t, "some", inner, path)
    return inner


def _result_to_python(data: Any, t: ResultT, path: str) -> Any:
    if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in ("ok", "err"):
        raise _expected(path, f'{{"ok": value}} or {{"err": value}} ({render(t)})', data)
    tag, raw = next(iter(data.items()))
    payload_t = t.ok if tag == "ok" else t.err
    return _case_to_python(t, tag, payload_t, raw, path)


def _variant_to_python(data: Any, t: VariantT, path: str) -> Any:
    names = [n for n, _ in t.cases]
    if isinstance(data, str):
        tag, raw, has_value = data, None, False
    elif isinstance(data, dict) and "tag" in data and set(data) <= {"tag", "value"}:
        tag, raw, has_value = data["tag"], data.get("value"), "value" in data
    else:
        raise _expected(path, f'{{"tag": case, "value": payload}} (cases: {", ".join(names)})', data)
    if tag not in names:
        raise _bad(path, f"{tag!r} is not a case of the variant (cases: {', '.join(names)})")
    payload_t = dict(t.cases)[tag]
    if payload_t is not None and not has_value:
        raise _bad(path, f"case {tag!r} needs a value ({render(payload_t)})")
    return _case_to_python(t, tag, payload_t, raw, path)


def _case_to_python(t: VariantLike, tag: str, payload_t: ValueType | None, raw: Any, path: str) -> Any:
    if payload_t is None:
        if raw is not None:
            raise _expected(f"{path}.{tag}", "null (the case has no payload)", raw)
        payload = None
    else:
        payload = to_python(raw, payload_t, f"{path}.{tag}")
    if is_tagged(t):
        return Variant(tag, payload)
    _check_pick(t, tag, payload, path)
    return payload


def _check_pick(t: VariantLike, tag: str, payload: Any, path: str) -> None:
    """wasmtime-py guesses the case of a bare payload from its class; refuse a wrong guess."""
    picked = _wasmtime_pick(t, payload)
    if picked != tag:
        raise _bad(path, f"wasmtime-py cannot pass case {tag!r} of {render(t)} with this value: "
                         f"it would be taken as case {picked!r}")


def args_to_python(args: Sequence[Any], sig: FuncT) -> tuple[Any, ...]:
    """Convert decoded JSON arguments for a call of `sig`; paths read `args[i]...`."""
    if len(args) != len(sig.params):
        names = ", ".join(f"{n}: {render(t)}" for n, t in sig.params) or "none"
        raise BadArgumentsError(f"expected {len(sig.params)} argument(s) ({names}), got {len(args)}",
                                details={"expected": len(sig.params), "got": len(args)})
    return tuple(to_python(a, pt, f"args[{i}]") for i, (a, (_, pt)) in enumerate(zip(args, sig.params,
                                                                                        strict=True)))


# --------------------------------------------------------------------------- Python → JSON

def _float_json(v: float, f32: bool) -> Any:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if f32:  # the shortest decimal that reads back as the same f32 (0.1, not 0.10000000149011612)
        want = struct.pack("<f", v)
        for digits in range(1, 10):
            short = float(f"{v:.{digits}g}")
            if struct.pack("<f", short) == want:
                return short
    return v


def to_json(value: Any, t: ValueType | None) -> Any:
    """Convert a Python value as wasmtime-py returns it to JSON-ready data.

    With `t` None (type unknown) the value is converted by its Python class.
    """
    if t is None:
        return _untyped_json(value)
    if isinstance(t, Prim):
        if t.name in ("f32", "f64") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return _float_json(float(value), t.name == "f32")
        return _untyped_json(value)
    if isinstance(t, ListT):
        if isinstance(value, (bytes, bytearray)):
            return list(value)
        return [to_json(v, t.element) for v in value]
    if isinstance(t, RecordT):
        return {name: to_json(_field(value, name), ft) for name, ft in t.fields}
    if isinstance(t, TupleT):
        return [to_json(v, et) for v, et in zip(value, t.elements, strict=False)]
    if isinstance(t, EnumT):
        return value
    if isinstance(t, FlagsT):
        return sorted(value)
    if isinstance(t, (OptionT, ResultT, VariantT)):
        return _variant_json(value, t)
    return _untyped_json(value)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value[name]
    return getattr(value, name)


def _variant_json(value: Any, t: VariantLike) -> Any:
    if is_tagged(t):
        if not isinstance(value, Variant):
            return _untyped_json(value)
        tag, payload = value.tag, value.payload
    else:
        tag = _case_of(value, t)
        payload = value
    payload_t = dict(cases_of(t)).get(tag)
    inner = None if payload_t is None else to_json(payload, payload_t)
    if isinstance(t, OptionT):
        if tag == "none":
            return None
        return {"some": inner} if _nullable(t.payload) else inner
    if isinstance(t, ResultT):
        return {tag: inner}
    return {"tag": tag, "value": inner}


def _case_of(value: Any, t: VariantLike) -> str:
    """The case an untagged lifted value came from: its class belongs to exactly one case."""
    for name, payload in cases_of(t):
        if type(value) in _exact(payload):
            return name
    for name, payload in cases_of(t):  # subclasses (e.g. a user's Record subclass)
        if payload is not None and isinstance(value, tuple(_exact(payload) - {int, object})):
            return name
    raise TypeError(f"{value!r} is not a value of {render(t)}")


def _untyped_json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _float_json(value, False)
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [_untyped_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_untyped_json(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _untyped_json(v) for k, v in value.items()}
    if isinstance(value, Variant):
        return {"tag": value.tag, "value": _untyped_json(value.payload)}
    if isinstance(value, Record):
        return {k: _untyped_json(v) for k, v in vars(value).items()}
    return repr(value)
