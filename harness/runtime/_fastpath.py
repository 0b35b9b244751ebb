"""Per-signature lowering and lifting functions, generated once per function.

wasmtime-py converts each argument through a chain of method calls and
`ctypes.pointer` objects, and does not range-check integers (ctypes truncates
them silently). For scalar parameters we generate straight-line code that checks
the value and writes the C union directly: a few hundred nanoseconds instead of
several microseconds. `list<u8>` is copied in bulk both ways (wasmtime-py takes
about a microsecond per byte). Other types go through wasmtime-py's converters, with
the value mapping (docs/values.md) put in front of them: a converter per type, built once
(`_values.lowerer`/`lifter`), which also range-checks every integer. A scalar signature pays
nothing for the mapping: its values are the mapping's already.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any

from wasmtime import _bindings as _raw
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ..model._witypes import EnumT, FlagsT, ListT, OptionT, Prim, RecordT, ResultT, TupleT, ValueType, VariantT
from ..pipeline._wasmtypes import from_wasmtime_valtype
from ._codegen import compile_generated
from ._values import FLOAT_WORDS, INT_RANGES, ValueMisfit, explain, lifter, lowerer

__all__ = ["compile_lift", "compile_lower", "free_vals", "lift_bytes", "lower_bytes"]

_VAL = ffi.wasmtime_component_val_t
_val_delete = _raw._wasmtime_component_val_delete  # the C function itself, without the checking wrapper

# wasmtime-py type → (union field, low, high), from the one table in `_values`
_INT_RANGES: dict[type, tuple[str, int, int]] = {
    cls: (name, *INT_RANGES[name])
    for cls, name in ((wc.S8, "s8"), (wc.U8, "u8"), (wc.S16, "s16"), (wc.U16, "u16"),
                      (wc.S32, "s32"), (wc.U32, "u32"), (wc.S64, "s64"), (wc.U64, "u64"))
}
_KINDS: dict[str, int] = {
    "boolean": ffi.WASMTIME_COMPONENT_BOOL.value,
    "s8": ffi.WASMTIME_COMPONENT_S8.value, "u8": ffi.WASMTIME_COMPONENT_U8.value,
    "s16": ffi.WASMTIME_COMPONENT_S16.value, "u16": ffi.WASMTIME_COMPONENT_U16.value,
    "s32": ffi.WASMTIME_COMPONENT_S32.value, "u32": ffi.WASMTIME_COMPONENT_U32.value,
    "s64": ffi.WASMTIME_COMPONENT_S64.value, "u64": ffi.WASMTIME_COMPONENT_U64.value,
    "f32": ffi.WASMTIME_COMPONENT_F32.value, "f64": ffi.WASMTIME_COMPONENT_F64.value,
    "character": ffi.WASMTIME_COMPONENT_CHAR.value,
}


class ArgumentProblem(Exception):
    """Raised by generated code: (parameter index, what was wrong)."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(problem)
        self.index = index
        self.problem = problem


def _scalar(ty: Any) -> tuple[str, str, str] | None:
    """(union field, check that is True when `v` is bad, wanted) for scalar types."""
    t = type(ty)
    if t in _INT_RANGES:
        field, lo, hi = _INT_RANGES[t]
        return field, (f"v.__class__ is bool or not isinstance(v, int) or not ({lo} <= v <= {hi})"), \
            f"an integer in {field} range ({lo}..{hi})"
    if t is wc.Bool:
        return "boolean", "v.__class__ is not bool", "a bool"
    if t in (wc.F32, wc.F64):
        field = "f32" if t is wc.F32 else "f64"
        return field, "v.__class__ is bool or not isinstance(v, (int, float))", "a number"
    if t is wc.Char:
        return "character", "not isinstance(v, str) or len(v) != 1", "a one-character string"
    return None


def compile_lower(param_types: tuple[Any, ...], store: Any) -> tuple[Callable[[tuple[Any, ...]], Any], bool]:
    """A function turning a tuple of Python values into a C argument array.

    Returns it with `needs_free`: whether the array holds values owning memory.
    Raises `ArgumentProblem` (index, problem); arity is checked by the caller.
    """
    n = len(param_types)
    ns: dict[str, Any] = {"ARR": _VAL * n, "Problem": ArgumentProblem, "ptr": ctypes.pointer,
                          "store": store, "T": param_types}
    scalar_only = all(_scalar(t) is not None for t in param_types)
    # Scalar-only signatures reuse one array: wasmtime reads the arguments before any
    # guest code (and so any nested call) runs, and calls into one extension are serialized.
    ns["SHARED"] = ARR = ns["ARR"]()
    del ARR
    lines = ["def lower(values):", "    arr = SHARED" if scalar_only else "    arr = ARR()"]
    needs_free = False
    for i, ty in enumerate(param_types):
        lines.append(f"    v = values[{i}]")
        sc = _scalar(ty)
        if sc is not None:
            field, bad, wanted = sc
            refuse = f"raise Problem({i}, 'expected {wanted}, got ' + repr(v)[:80])"
            if field in ("f32", "f64"):  # the JSON forms "nan", "inf", "-inf" as well
                lines.append(f"    if {bad}:")
                lines.append("        if v.__class__ is str and v.lower() in WORDS: v = WORDS[v.lower()]")
                lines.append(f"        else: {refuse}")
            else:
                lines.append(f"    if {bad}: {refuse}")
            value = "ord(v)" if field == "character" else "v"
            lines.append(f"    e = arr[{i}]; e.kind = {_KINDS[field]}; e.of.{field} = {value}")
        else:
            needs_free = True
            try:
                model = from_wasmtime_valtype(ty)
            except TypeError:  # a type the model does not know: wasmtime-py's converter checks it
                model = None
            if model is not None:  # the mapping (docs/values.md) → wasmtime-py's values, checked
                ns[f"conv{i}"] = lowerer(model)
                indent = "    "
                if _is_bytes(ty):  # bytes-like values go to the bulk copy as they are
                    lines.append("    if not isinstance(v, BYTES_LIKE):")
                    indent = "        "
                lines.append(f"{indent}try:")
                lines.append(f"{indent}    v = conv{i}(v)")
                lines.append(f"{indent}except Misfit as m:")
                lines.append(f"{indent}    free(arr, {i}); raise Problem({i}, explain(m)) from None")
            convert = (f"lower_bytes(v, arr[{i}])" if _is_bytes(ty)
                       else f"T[{i}].convert_to_c(store, v, ptr(arr[{i}]))")
            lines.append("    try:")
            lines.append(f"        {convert}")
            lines.append("    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as ex:")
            lines.append(f"        free(arr, {i})")
            lines.append(f"        raise Problem({i}, str(ex) or type(ex).__name__) from ex")
    lines.append("    return arr")
    ns.update(free=free_vals, lower_bytes=lower_bytes, Misfit=ValueMisfit, explain=explain, WORDS=FLOAT_WORDS,
              BYTES_LIKE=(bytes, bytearray, memoryview))
    exec(compile_generated("\n".join(lines), "fastpath lower"), ns)
    if scalar_only and n and all(_PACK.get(_scalar(t)[0]) for t in param_types):  # type: ignore[index]
        return _packed_lower(param_types, ns["SHARED"], ns["lower"]), False
    return ns["lower"], needs_free


# struct formats of the union members; `character` is left to the checked path (it needs ord()).
_PACK = {"boolean": "?", "s8": "b", "u8": "B", "s16": "h", "u16": "H", "s32": "i", "u32": "I",
         "s64": "q", "u64": "Q", "f32": "f", "f64": "d"}
_VAL_SIZE = ctypes.sizeof(_VAL)
_UNION_AT = _VAL.of.offset


def _packed_lower(param_types: tuple[Any, ...], shared: Any,
                  checked: Callable[[tuple[Any, ...]], Any]) -> Callable[[tuple[Any, ...]], Any]:
    """Scalar arguments written by one `struct.pack_into` over the argument array's bytes.

    `struct` range-checks every integer and type-checks every number in C; what it lets
    through that WIT does not allow (a bool for an integer, anything for a bool) is
    checked first. Any refusal re-runs the checked lowering, which names the parameter.
    """
    fmt = "<"
    bool_guard: list[str] = []
    for i, ty in enumerate(param_types):
        field = _scalar(ty)[0]  # type: ignore[index]
        code = _PACK[field]
        pad = _VAL_SIZE - _UNION_AT - struct.calcsize("<" + code)
        fmt += f"B{_UNION_AT - 1}x{code}{pad}x"
        bool_guard.append(f"a{i}.__class__ is not bool" if field == "boolean" else f"a{i}.__class__ is bool")
    names = ", ".join(f"a{i}" for i in range(len(param_types)))
    kinds_and_values = ", ".join(f"{_KINDS[_scalar(t)[0]]}, a{i}"  # type: ignore[index]
                                 for i, t in enumerate(param_types))
    src = "\n".join([
        "def lower(values):",
        f"    {names}, = values",
        f"    if {' or '.join(bool_guard)}: return checked(values)",
        "    try:",
        f"        pack(buf, 0, {kinds_and_values})",
        "    except (struct_error, TypeError, OverflowError):",
        "        return checked(values)",
        "    return SHARED",
    ])
    ns: dict[str, Any] = {"pack": struct.Struct(fmt).pack_into, "buf": memoryview(shared).cast("B"),
                          "checked": checked, "struct_error": struct.error, "SHARED": shared}
    exec(compile_generated(src, "fastpath packed lower"), ns)
    return ns["lower"]  # type: ignore[no-any-return]


def free_vals(arr: Any, n: int) -> None:
    """Release what the first `n` lowered values of `arr` own (strings, lists, records...)."""
    for i in range(n):
        _val_delete(ctypes.byref(arr[i]))


def _is_bytes(ty: Any) -> bool:
    return isinstance(ty, wc.ListType) and isinstance(ty.element, wc.U8)


_LIST_KIND = ffi.WASMTIME_COMPONENT_LIST.value
_U8_KIND = ffi.WASMTIME_COMPONENT_U8.value
_BOOL_KIND = ffi.WASMTIME_COMPONENT_BOOL.value
_vallist_new_uninit = ffi.wasmtime_component_vallist_new_uninit
_vallist_delete = ffi.wasmtime_component_vallist_delete


def _val_bytes(data: Any, n: int) -> memoryview:
    """The raw bytes of the `n` values at `data` (a `wasmtime_component_val_t*`)."""
    addr = ctypes.cast(data, ctypes.c_void_p).value or 0
    return memoryview((ctypes.c_ubyte * (n * _VAL_SIZE)).from_address(addr)).cast("B")


def lower_bytes(value: Any, slot: Any) -> None:
    """Write `value` (bytes, bytearray or memoryview) into `slot` as a `list<u8>`.

    The C API wants one tagged value per byte; they are written with two strided copies
    (the kind bytes, then the payload bytes) instead of one Python step per byte, so 5 MB
    takes tens of milliseconds instead of seconds. Padding bytes are left as they are:
    a `u8` value reads only its kind and payload.
    """
    if isinstance(value, memoryview):
        value = value.tobytes()
    elif not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"expected bytes, bytearray or memoryview, got {type(value).__name__}")
    n = len(value)
    raw = ffi.wasmtime_component_vallist_t()
    _vallist_new_uninit(ctypes.byref(raw), n)
    if n:
        view = _val_bytes(raw.data, n)
        view[0::_VAL_SIZE] = bytes((_U8_KIND,)) * n
        view[_UNION_AT::_VAL_SIZE] = value
        view.release()
    slot.kind = _LIST_KIND
    slot.of.list = raw


def lift_bytes(space: Any) -> bytes:
    """A `list<u8>` result as bytes, read in one strided copy; the list is freed, as
    wasmtime-py's own `convert_from_c` does."""
    lst = space.of.list
    try:
        return _bytes_of(lst)
    finally:
        _vallist_delete(ctypes.byref(lst))


def _bytes_of(lst: Any) -> bytes:
    """The u8 values of a `wasmtime_component_vallist_t` as bytes: one strided copy, nothing freed."""
    n = lst.size
    if not n:
        return b""
    view = _val_bytes(lst.data, n)
    try:
        return view[_UNION_AT::_VAL_SIZE].tobytes()
    finally:
        view.release()


def compile_lift(result_type: Any) -> Callable[[Any], Any] | None:
    """A function reading the Python value out of a result slot (None: no result)."""
    if result_type is None:
        return None
    if _is_bytes(result_type):
        return lift_bytes
    sc = _scalar(result_type)
    if sc is None:
        stock: Callable[[Any], Any] = result_type.convert_from_c
        try:
            model = from_wasmtime_valtype(result_type)
        except TypeError:  # a type the model does not know: left as wasmtime-py gives it
            return stock
        read = _reader(model)
        if read is not None:  # read the C value straight into the mapping, then free it once
            def lift_direct(space: Any) -> Any:
                try:
                    return read(space)
                finally:
                    _val_delete(ctypes.byref(space))
                    # the next call drops what the slot holds before writing its result: a bool
                    # owns nothing (wasmtime-py leaves its freed values as bools for the same reason)
                    space.kind = _BOOL_KIND
            return lift_direct
        conv = lifter(model)
        if conv is None:  # wasmtime-py's value is already the mapping's
            return stock

        def lift_mapped(space: Any) -> Any:
            return conv(stock(space))
        return lift_mapped
    field = sc[0]
    if field == "character":
        return lambda space: chr(space.of.character)
    if field == "boolean":
        return lambda space: bool(space.of.boolean)
    getter = compile_generated(f"lambda space: space.of.{field}", "fastpath lift", "eval")
    return eval(getter)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- reading results

_INT_FIELDS = {"bool": "boolean", "s8": "s8", "u8": "u8", "s16": "s16", "u16": "u16", "s32": "s32",
               "u32": "u32", "s64": "s64", "u64": "u64", "f32": "f32", "f64": "f64"}
_string_at = ctypes.string_at


def _text(vec: Any) -> str:
    n = vec.size
    return _string_at(vec.data, n).decode("utf-8") if n else ""


def _reader(t: ValueType) -> Callable[[Any], Any] | None:
    """A function reading a C result value of `t` straight into the value mapping, without
    freeing it (the caller frees the whole value once); None for a type it does not read
    (resources, futures, streams: wasmtime-py's converter handles those).

    wasmtime-py's `convert_from_c` re-reads the type through the C API for every record it
    converts (about 10 µs for a two-field record); this reads only the values."""
    try:
        return _reader_of(t)
    except _NotRead:
        return None


class _NotRead(Exception):
    pass


def _reader_of(t: ValueType) -> Callable[[Any], Any]:
    if isinstance(t, Prim):
        if t.name in _INT_FIELDS:
            field = _INT_FIELDS[t.name]
            code = compile_generated(f"lambda c: c.of.{field}", "value read", "eval")
            return eval(code)  # type: ignore[no-any-return]
        if t.name == "char":
            return lambda c: chr(c.of.character)
        if t.name == "string":
            return lambda c: _text(c.of.string)
        raise _NotRead
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return lambda c: _bytes_of(c.of.list)
        element = _reader_of(t.element)

        def read_list(c: Any) -> list[Any]:
            lst = c.of.list
            data = lst.data
            return [element(data[i]) for i in range(lst.size)]
        return read_list
    if isinstance(t, RecordT):
        ns: dict[str, Any] = {}
        items = []
        for i, (name, ft) in enumerate(t.fields):
            ns[f"r{i}"] = _reader_of(ft)
            items.append(f"{name!r}: r{i}(d[{i}].val)")
        src = f"def read_record(c):\n    d = c.of.record.data\n    return {{{', '.join(items)}}}\n"
        exec(compile_generated(src, "value read record"), ns)
        return ns["read_record"]  # type: ignore[no-any-return]
    if isinstance(t, TupleT):
        ns = {f"r{i}": _reader_of(e) for i, e in enumerate(t.elements)}
        parts = "".join(f"r{i}(d[{i}]), " for i in range(len(t.elements)))
        exec(compile_generated(f"def read_tuple(c):\n    d = c.of.tuple.data\n    return ({parts})\n",
                               "value read tuple"), ns)
        return ns["read_tuple"]  # type: ignore[no-any-return]
    if isinstance(t, EnumT):
        return lambda c: _text(c.of.enumeration)
    if isinstance(t, FlagsT):
        def read_flags(c: Any) -> frozenset[str]:
            f = c.of.flags
            data = f.data
            return frozenset([_text(data[i]) for i in range(f.size)])
        return read_flags
    if isinstance(t, OptionT):
        some = _reader_of(t.payload)
        nested = isinstance(t.payload, OptionT)  # some(x) of a nested option is {"some": x}

        def read_option(c: Any) -> Any:
            p = c.of.option
            if not p:
                return None
            return {"some": some(p.contents)} if nested else some(p.contents)
        return read_option
    if isinstance(t, ResultT):
        ok = None if t.ok is None else _reader_of(t.ok)
        err = None if t.err is None else _reader_of(t.err)

        def read_result(c: Any) -> dict[str, Any]:
            r = c.of.result
            if r.is_ok:
                return {"ok": None if ok is None else ok(r.val.contents)}
            return {"err": None if err is None else err(r.val.contents)}
        return read_result
    if isinstance(t, VariantT):
        cases = {name: None if p is None else _reader_of(p) for name, p in t.cases}

        def read_variant(c: Any) -> dict[str, Any]:
            v = c.of.variant
            tag = _text(v.discriminant)
            read = cases[tag]
            return {"tag": tag, "value": None if read is None else read(v.val.contents)}
        return read_variant
    raise _NotRead
