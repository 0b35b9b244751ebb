"""Per-signature lowering and lifting functions, generated once per function.

wasmtime-py converts each argument through a chain of method calls and
`ctypes.pointer` objects, and does not range-check integers (ctypes truncates
them silently). For scalar parameters we generate straight-line code that checks
the value and writes the C union directly: a few hundred nanoseconds instead of
several microseconds. Other types fall back to wasmtime-py's converters.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime import component as wc

__all__ = ["compile_lift", "compile_lower"]

_VAL = ffi.wasmtime_component_val_t

# type → (kind constant, union field, check expression on `v`, type name)
_INT_RANGES: dict[type, tuple[str, int, int]] = {
    wc.S8: ("s8", -(2**7), 2**7 - 1), wc.U8: ("u8", 0, 2**8 - 1),
    wc.S16: ("s16", -(2**15), 2**15 - 1), wc.U16: ("u16", 0, 2**16 - 1),
    wc.S32: ("s32", -(2**31), 2**31 - 1), wc.U32: ("u32", 0, 2**32 - 1),
    wc.S64: ("s64", -(2**63), 2**63 - 1), wc.U64: ("u64", 0, 2**64 - 1),
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
            lines.append(f"    if {bad}: raise Problem({i}, 'expected {wanted}, got ' + repr(v)[:80])")
            value = "ord(v)" if field == "character" else "v"
            lines.append(f"    e = arr[{i}]; e.kind = {_KINDS[field]}; e.of.{field} = {value}")
        else:
            needs_free = True
            lines.append("    try:")
            lines.append(f"        T[{i}].convert_to_c(store, v, ptr(arr[{i}]))")
            lines.append("    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as ex:")
            lines.append(f"        _free(arr, {i})")
            lines.append(f"        raise Problem({i}, str(ex) or type(ex).__name__) from ex")
    lines.append("    return arr")
    ns["_free"] = _free
    exec("\n".join(lines), ns)
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
    exec(src, ns)
    return ns["lower"]  # type: ignore[no-any-return]


def _free(arr: Any, n: int) -> None:
    for i in range(n):
        ffi.wasmtime_component_val_delete(ctypes.byref(arr[i]))


def compile_lift(result_type: Any) -> Callable[[Any], Any] | None:
    """A function reading the Python value out of a result slot (None: no result)."""
    if result_type is None:
        return None
    sc = _scalar(result_type)
    if sc is None:
        return result_type.convert_from_c  # type: ignore[no-any-return]
    field = sc[0]
    if field == "character":
        return lambda space: chr(space.of.character)
    if field == "boolean":
        return lambda space: bool(space.of.boolean)
    getter = compile(f"lambda space: space.of.{field}", "<lift>", "eval")
    return eval(getter)  # type: ignore[no-any-return]
