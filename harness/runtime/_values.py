"""The value mapping (docs/values.md): Python values, JSON in, JSON out; one mapping.

A value of a WIT type has one Python form, and it is the JSON form with Python's own types
where JSON has none: a record is a dict, a result always `{"ok": v}` or `{"err": e}`, a
variant `{"tag": case, "value": v}`, flags a frozenset, a tuple a tuple, `list<u8>` bytes.
So `host.call(...) == literal` works and an `err` can never pass for an `ok`.

wasmtime-py has a representation of its own (`Record` objects; payloads bare when their
Python class tells the case apart, `Variant(tag, payload)` otherwise), so calls convert at
the boundary with a converter per type, built once: `lowerer` (mapping → wasmtime-py, and
the check of every value: wasmtime-py truncates integers inside compound values) and
`lifter` (wasmtime-py → mapping; None when they agree, as for every scalar). `to_python`
reads the JSON forms, `to_json` writes JSON; a refusal names the path of the value
(`args[1].name: expected string, found number 3`).
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
from ._codegen import compile_generated

__all__ = ["FLOAT_WORDS", "INT_RANGES", "IntMisfit", "ValueMisfit", "args_to_python", "describe_misfit", "explain",
           "is_tagged", "json_kind", "lifter", "lowerer", "to_json", "to_python"]

# The one table of integer ranges: JSON arguments, the argument fast path (`_fastpath`) and
# the converters of compound values and host-function results (`lowerer`) all read it.
INT_RANGES: dict[str, tuple[int, int]] = {
    "s8": (-(2**7), 2**7 - 1), "u8": (0, 2**8 - 1),
    "s16": (-(2**15), 2**15 - 1), "u16": (0, 2**16 - 1),
    "s32": (-(2**31), 2**31 - 1), "u32": (0, 2**32 - 1),
    "s64": (-(2**63), 2**63 - 1), "u64": (0, 2**64 - 1),
}
_INT_RANGES = INT_RANGES  # the name harness.testing.strategies reads
FLOAT_WORDS: dict[str, float] = {
    "nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
    "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
}
_FLOAT_WORDS = FLOAT_WORDS
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


# --------------------------------------------------------------------------- the mapping, both ways

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


class ValueMisfit(Exception):
    """A value that does not fit its type, raised by the converters of `lowerer`.

    `where` is the path below the value (`.name`, `[3]`, `.ok`, ...), built only when a
    value is refused: each enclosing converter prepends its step. `misfit` is set for an
    integer out of range, so callers can word it their way (`describe_misfit`).
    """

    def __init__(self, problem: str, where: str = "", misfit: IntMisfit | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.where = where
        self.misfit = misfit

    def under(self, step: str) -> ValueMisfit:
        self.where = step + self.where
        if self.misfit is not None:
            self.misfit = (step + self.misfit[0], self.misfit[1], self.misfit[2])
        return self


def _shown(data: Any) -> str:
    shown = json_kind(data)
    if isinstance(data, int) and not isinstance(data, bool) and data.bit_length() > 128:
        return f"{shown} ({'-' if data < 0 else ''}an integer of {data.bit_length()} bits)"
    if isinstance(data, (bool, int, float)) or (isinstance(data, str) and len(data) <= 40):
        import json
        try:
            shown += f" {json.dumps(data)}"
        except ValueError:
            shown += f" {data!r}"
    return shown


def _want(what: str, data: Any) -> ValueMisfit:
    return ValueMisfit(f"expected {what}, found {_shown(data)}")


Lower = Callable[[Any], Any]
Lift = Callable[[Any], Any]


def lowerer(t: ValueType) -> Lower:
    """The converter from a value of `t` in the mapping (docs/values.md) to what wasmtime-py's
    `convert_to_c` takes, built once per type. It accepts the Python forms and the JSON forms
    (an array for a tuple or flags, `{"base64": ...}` or integers for `list<u8>`, `"nan"` for a
    float, a bare case name for a variant case without payload), checks every value (integers
    in range, no lone surrogates, exact record fields) and raises `ValueMisfit`."""
    return _lowerer(t)


def lifter(t: ValueType) -> Lift | None:
    """The converter from what wasmtime-py's `convert_from_c` returns for `t` to the mapping,
    built once per type; None when the two are the same (scalars, strings, enums, `list<u8>`,
    lists and options of those), so nothing is paid."""
    return _lifter(t)


@lru_cache(maxsize=4096)
def _lowerer(t: ValueType) -> Lower:
    if isinstance(t, Prim):
        return _prim_lowerer(t.name)
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return _lower_bytes
        element = _lowerer(t.element)
        what = f"array ({render(t)})"

        def lower_list(v: Any) -> Any:
            if v.__class__ is not list and not isinstance(v, (list, tuple)):
                raise _want(what, v)
            i = 0
            try:
                out = []
                for i, e in enumerate(v):  # noqa: B007 - `i` names the element in a refusal
                    out.append(element(e))
            except ValueMisfit as m:
                raise m.under(f"[{i}]") from None
            return out
        return lower_list
    if isinstance(t, RecordT):
        return _record_lowerer(t)
    if isinstance(t, TupleT):
        elements = tuple(_lowerer(e) for e in t.elements)
        arity = len(elements)
        what = f"array of {arity} ({render(t)})"

        def lower_tuple(v: Any) -> Any:
            if not isinstance(v, (tuple, list)):
                raise _want(what, v)
            if len(v) != arity:
                raise ValueMisfit(f"expected {arity} element(s) ({render(t)}), found {len(v)}")
            i = 0
            try:
                out = []
                for i, conv in enumerate(elements):
                    out.append(conv(v[i]))
            except ValueMisfit as m:
                raise m.under(f"[{i}]") from None
            return tuple(out)
        return lower_tuple
    if isinstance(t, EnumT):
        names = frozenset(t.names)
        listed = ", ".join(t.names)

        def lower_enum(v: Any) -> Any:
            if v.__class__ is not str or v not in names:
                if not isinstance(v, str):
                    raise _want(f"string, one of {listed}", v)
                if v not in names:
                    raise ValueMisfit(f"{v!r} is not a case of the enum (cases: {listed})")
                return str(v)
            return v
        return lower_enum
    if isinstance(t, FlagsT):
        flag_names = frozenset(t.names)
        listed = ", ".join(t.names)

        def lower_flags(v: Any) -> Any:
            if not isinstance(v, (set, frozenset, list, tuple)):
                raise _want(f"array of flag names ({listed})", v)
            if isinstance(v, (set, frozenset)) and v <= flag_names:
                return set(v)
            for i, e in enumerate(v):
                if not isinstance(e, str):
                    raise _want("string (a flag name)", e).under(f"[{i}]")
                if e not in flag_names:
                    raise ValueMisfit(f"{e!r} is not a flag (flags: {listed})", f"[{i}]")
            return set(v)
        return lower_flags
    if isinstance(t, (OptionT, ResultT, VariantT)):
        return _case_lowerer(t)
    if isinstance(t, HandleT):
        from wasmtime.component import ResourceAny, ResourceHost

        def lower_handle(v: Any) -> Any:
            if not isinstance(v, (ResourceAny, ResourceHost)):
                raise ValueMisfit(f"{render(t)} values cannot be given as JSON (expected a resource handle, "
                                  f"found {_shown(v)})")
            return v
        return lower_handle
    return _unconvertible(t)


def _unconvertible(t: ValueType) -> Lower:
    def lower_other(v: Any) -> Any:
        if isinstance(v, (type(None), bool, int, float, str, list, tuple, dict)):
            raise ValueMisfit(f"{render(t)} values cannot be given as JSON")
        return v  # a wasmtime-py object: wasmtime-py checks it
    return lower_other


def _prim_lowerer(name: str) -> Lower:
    if name == "bool":
        def lower_bool(v: Any) -> Any:
            if v.__class__ is not bool:
                raise _want("boolean", v)
            return v
        return lower_bool
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]

        def lower_int(v: Any) -> Any:
            if v.__class__ is int and lo <= v <= hi:
                return v
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int):
                raise _want(f"integer ({name})", v)
            if not lo <= v <= hi:
                shown = _shown(v).removeprefix("number ").removeprefix("number")
                raise ValueMisfit(f"{shown.strip()} is out of range for {name} ({lo}..{hi})", "", ("", v, name))
            return int(v)
        return lower_int
    if name in ("f32", "f64"):
        def lower_float(v: Any) -> Any:
            if v.__class__ is float:
                return v
            if isinstance(v, str) and v.lower() in _FLOAT_WORDS:
                return _FLOAT_WORDS[v.lower()]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _want(f'number ({name}) or "nan", "inf", "-inf"', v)
            try:
                return float(v)
            except OverflowError:
                raise ValueMisfit(f"{_shown(v)} is too large for {name}") from None
        return lower_float
    if name == "char":
        def lower_char(v: Any) -> Any:
            if not isinstance(v, str) or len(v) != 1:
                raise _want("one-character string (char)", v)
            if 0xD800 <= ord(v) <= 0xDFFF:
                raise ValueMisfit("a surrogate code point is not a Unicode scalar value (char)")
            return str(v)
        return lower_char
    if name == "string":
        def lower_string(v: Any) -> Any:
            if not isinstance(v, str):
                raise _want("string", v)
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ValueMisfit(f"string holds a lone surrogate at index {e.start}; not valid Unicode") from None
            return str(v)
        return lower_string
    return _unconvertible(Prim(name))


def _lower_bytes(v: Any) -> bytes:
    if v.__class__ is bytes:
        return v  # type: ignore[no-any-return]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, dict):
        if set(v) != {"base64"} or not isinstance(v["base64"], str):
            raise ValueMisfit('expected an array of bytes or {"base64": "..."} (list<u8>)')
        try:
            return base64.b64decode(v["base64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueMisfit(f"not valid base64: {e}", ".base64") from None
    if not isinstance(v, (list, tuple)):
        raise _want('bytes, or an array of integers 0..255 or {"base64": "..."} (list<u8>)', v)
    for i, b in enumerate(v):
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= 255:
            raise _want("integer 0..255 (u8)", b).under(f"[{i}]")
    return bytes(v)


def _record_lowerer(t: RecordT) -> Lower:
    fields = tuple((n, _lowerer(f)) for n, f in t.fields)
    names = frozenset(n for n, _ in t.fields)
    listed = ", ".join(n for n, _ in t.fields)
    what = f"object ({render(t)})"

    def lower_record(v: Any) -> Any:
        if not isinstance(v, dict):
            raise _want(what, v)
        if len(v) != len(fields) or not names.issuperset(v):
            unknown = [k for k in v if k not in names]
            if unknown:
                raise ValueMisfit(f"unknown field {unknown[0]!r} (fields: {listed})")
        rec = Record()
        put = rec.__dict__
        name = ""
        try:
            for name, conv in fields:
                put[name] = conv(v[name])
        except KeyError:
            raise ValueMisfit(f"missing field {name!r} (fields: {listed})") from None
        except ValueMisfit as m:
            raise m.under(f".{name}") from None
        return rec
    return lower_record


def _nullable(t: ValueType | None) -> bool:
    """Whether `t`'s value can be None (then an enclosing option needs `{"some": v}`)."""
    return isinstance(t, OptionT)


def _case_lowerer(t: VariantLike) -> Lower:
    """Options, results and variants: the case is read from the mapping, never guessed, and the
    value is built in wasmtime-py's representation of `t` (tagged or bare)."""
    tagged = is_tagged(t)
    payloads = {name: None if p is None else _lowerer(p) for name, p in cases_of(t)}
    # wasmtime-py picks the case of a bare value by its class: a value it would give to another
    # case cannot be passed (docs/values.md); a class that maps to this case is fine.
    claims = [(name, (_NONE_TYPE,) if p is None else tuple(_classes(p))) for name, p in cases_of(t)]

    def build(tag: str, raw: Any, has_value: bool) -> Any:
        conv = payloads[tag]
        if conv is None:
            if raw is not None:
                raise _want("null (the case has no payload)", raw).under(f".{tag}")
            payload = None
        else:
            try:
                payload = conv(raw)
            except ValueMisfit as m:
                raise m.under(f".{tag}") from None
        if tagged:
            return Variant(tag, payload)
        for name, classes in claims:
            if isinstance(payload, classes):
                if name != tag:
                    raise ValueMisfit(f"wasmtime-py cannot pass case {tag!r} of {render(t)} with this value: "
                                      f"it would be taken as case {name!r}")
                break
        return payload

    if isinstance(t, OptionT):
        # An untagged option's payload never lowers to None (it would share `object` with
        # `none`, which makes the option tagged), so wasmtime-py cannot mistake its case.
        some = payloads["some"]
        assert some is not None
        nested = _nullable(t.payload)

        def lower_option(v: Any) -> Any:
            if v is None:
                return Variant("none") if tagged else None
            if nested:
                if not isinstance(v, dict) or set(v) != {"some"}:
                    raise _want('null or {"some": value} (a nested option)', v)
                try:
                    inner = some(v["some"])
                except ValueMisfit as m:
                    raise m.under(".some") from None
            else:
                inner = some(v)
            return Variant("some", inner) if tagged else inner
        return lower_option

    if isinstance(t, ResultT):
        what = f'{{"ok": value}} or {{"err": value}} ({render(t)})'

        def lower_result(v: Any) -> Any:
            if not isinstance(v, dict) or len(v) != 1:
                raise _want(what, v)
            ((tag, raw),) = v.items()
            if tag != "ok" and tag != "err":
                raise _want(what, v)
            return build(tag, raw, True)
        return lower_result

    names = [n for n, _ in t.cases]
    listed = ", ".join(names)
    what = f'{{"tag": case, "value": payload}} (cases: {listed})'
    case_types = dict(t.cases)

    def lower_variant(v: Any) -> Any:
        if isinstance(v, str):
            tag, raw, has_value = v, None, False
        elif isinstance(v, dict) and "tag" in v and set(v) <= {"tag", "value"}:
            tag, raw, has_value = v["tag"], v.get("value"), "value" in v
        else:
            raise _want(what, v)
        if tag not in payloads:
            raise ValueMisfit(f"{tag!r} is not a case of the variant (cases: {listed})")
        payload_t = case_types[tag]
        if payload_t is not None and not has_value:
            raise ValueMisfit(f"case {tag!r} needs a value ({render(payload_t)})")
        return build(tag, raw, has_value)
    return lower_variant


@lru_cache(maxsize=4096)
def _lifter(t: ValueType) -> Lift | None:
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return None
        element = _lifter(t.element)
        if element is None:
            return None

        def lift_list(v: Any) -> Any:
            return [element(e) for e in v]
        return lift_list
    if isinstance(t, RecordT):
        return _record_lifter(t)
    if isinstance(t, TupleT):
        elements = [_lifter(e) for e in t.elements]
        if all(c is None for c in elements):
            return None
        ns: dict[str, Any] = {f"c{i}": c for i, c in enumerate(elements)}
        parts = ", ".join(f"v[{i}]" if c is None else f"c{i}(v[{i}])" for i, c in enumerate(elements))
        return _generated("lift_tuple", f"def lift_tuple(v):\n    return ({parts},)\n", ns)
    if isinstance(t, FlagsT):
        return frozenset
    if isinstance(t, (OptionT, ResultT, VariantT)):
        return _case_lifter(t)
    return None


def _generated(name: str, src: str, ns: dict[str, Any]) -> Lift:
    """Compile a generated converter under a file name that says what it is (for tracebacks)."""
    exec(compile_generated(src, f"value {name}"), ns)
    return ns[name]  # type: ignore[no-any-return]


def _record_lifter(t: RecordT) -> Lift:
    ns: dict[str, Any] = {}
    items = []
    for i, (name, ft) in enumerate(t.fields):
        conv = _lifter(ft)
        key = repr(name)
        if conv is None:
            items.append(f"{key}: d[{key}]")
        else:
            ns[f"c{i}"] = conv
            items.append(f"{key}: c{i}(d[{key}])")
    return _generated("lift_record", f"def lift_record(v):\n    d = v.__dict__\n    return {{{', '.join(items)}}}\n",
                      ns)


def _case_lifter(t: VariantLike) -> Lift | None:
    tagged = is_tagged(t)
    convs = {name: None if p is None else _lifter(p) for name, p in cases_of(t)}
    if isinstance(t, OptionT):
        some = convs["some"]
        wrap = _nullable(t.payload)  # a nested option's some(x) is {"some": x}
        if not tagged:
            if some is None and not wrap:
                return None

            def lift_bare_option(v: Any) -> Any:
                if v is None:
                    return None
                inner = v if some is None else some(v)
                return {"some": inner} if wrap else inner
            return lift_bare_option

        def lift_option(v: Any) -> Any:
            if v.tag == "none":
                return None
            inner = v.payload if some is None else some(v.payload)
            return {"some": inner} if wrap else inner
        return lift_option
    as_result = isinstance(t, ResultT)
    if tagged:
        def lift_tagged(v: Any) -> Any:
            tag = v.tag
            conv = convs[tag]
            payload = v.payload if conv is None else conv(v.payload)
            return {tag: payload} if as_result else {"tag": tag, "value": payload}
        return lift_tagged
    by_class: dict[type, str] = {}
    for name, p in cases_of(t):
        for cls in _exact(p):
            by_class.setdefault(cls, name)

    def lift_bare(v: Any) -> Any:
        tag = by_class.get(v.__class__) or _case_of(v, t)
        conv = convs[tag]
        payload = v if conv is None else conv(v)
        return {tag: payload} if as_result else {"tag": tag, "value": payload}
    return lift_bare


def explain(m: ValueMisfit) -> str:
    """A refusal in the words of a Python call: `got 4294967296 at [0], which does not fit u32
    (0..4294967295)` for an integer, else `.name: expected string, found number 3`."""
    if m.misfit is not None:
        return "got " + describe_misfit(m.misfit)
    return f"{m.where}: {m.problem}" if m.where else m.problem


def to_python(data: Any, t: ValueType, path: str = "value") -> Any:
    """Convert a value given in the mapping's JSON or Python forms to the mapping's Python value
    for `t` (a JSON array for a tuple becomes a tuple, `{"base64": ...}` bytes, `"nan"` a float,
    a bare case name `{"tag": case, "value": None}`, ...).

    Raises `BadArgumentsError` (with `details["path"]`) on a value that does not fit.
    """
    try:
        value = _lowerer(t)(data)
    except ValueMisfit as m:
        where = path + m.where
        raise BadArgumentsError(f"{where}: {m.problem}", details={"path": where}) from None
    lift = _lifter(t)
    return value if lift is None else lift(value)


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
            try:
                if struct.pack("<f", short) == want:
                    return short
            except OverflowError:  # rounding up past f32's largest value (3.4028235e38)
                continue
    return v


def to_json(value: Any, t: ValueType | None = None) -> Any:
    """JSON-ready data for a value in the mapping: tuples become arrays, bytes arrays of
    integers, flags sorted arrays, NaN and infinities the strings "nan", "inf", "-inf".

    Total: any mapping value converts without its type. The type, when given, only makes an
    f32 the shortest decimal that reads back as the same f32 (0.1, not 0.10000000149011612).
    """
    if t is None or not _has_f32(t):
        return _untyped_json(value)
    if isinstance(t, Prim):
        if isinstance(value, float):
            return _float_json(value, True)
        return _untyped_json(value)
    if isinstance(t, ListT) and isinstance(value, (list, tuple)):
        return [to_json(v, t.element) for v in value]
    if isinstance(t, RecordT) and isinstance(value, dict):
        return {name: to_json(value[name], ft) if name in value else None for name, ft in t.fields}
    if isinstance(t, TupleT) and isinstance(value, (list, tuple)):
        return [to_json(v, et) for v, et in zip(value, t.elements, strict=False)]
    if isinstance(t, OptionT):
        if value is None:
            return None
        if _nullable(t.payload) and isinstance(value, dict) and set(value) == {"some"}:
            return {"some": to_json(value["some"], t.payload)}
        return to_json(value, t.payload)
    if isinstance(t, ResultT) and isinstance(value, dict) and len(value) == 1:
        ((tag, payload),) = value.items()
        return {str(tag): to_json(payload, t.ok if tag == "ok" else t.err)}
    if isinstance(t, VariantT) and isinstance(value, dict) and "tag" in value:
        payload_t = dict(t.cases).get(value["tag"])
        return {"tag": value["tag"], "value": to_json(value.get("value"), payload_t)}
    return _untyped_json(value)


@lru_cache(maxsize=4096)
def _has_f32(t: ValueType | None) -> bool:
    if isinstance(t, Prim):
        return t.name == "f32"
    if isinstance(t, ListT):
        return _has_f32(t.element)
    if isinstance(t, RecordT):
        return any(_has_f32(f) for _, f in t.fields)
    if isinstance(t, TupleT):
        return any(_has_f32(e) for e in t.elements)
    if isinstance(t, (OptionT, ResultT, VariantT)):
        return any(_has_f32(p) for _, p in cases_of(t) if p is not None)
    return False


def _case_of(value: Any, t: VariantLike) -> str:
    """The case an untagged lifted value came from: its class belongs to exactly one case."""
    for name, payload in cases_of(t):
        if type(value) in _exact(payload):
            return name
    for name, payload in cases_of(t):  # subclasses
        if payload is not None and isinstance(value, tuple(_exact(payload) - {int, object})):
            return name
    raise TypeError(f"{value!r} is not a value of {render(t)}")


def _untyped_json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _float_json(value, False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return list(bytes(value))
    if isinstance(value, (list, tuple)):
        return [_untyped_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_untyped_json(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _untyped_json(v) for k, v in value.items()}
    return repr(value)
