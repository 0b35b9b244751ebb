"""wasmtime's component type objects → the project's type model (`model._witypes`).

Kept out of the model so that it imports no wasmtime: analysis walks wasmtime's types once,
here, and everything after it works on the frozen model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wasmtime import component as c

from ..model._witypes import (
    ComponentItem,
    EnumT,
    FlagsT,
    FuncT,
    FutureT,
    HandleT,
    InstanceT,
    Item,
    ListT,
    ModuleItem,
    OptionT,
    Prim,
    RecordT,
    ResourceItem,
    ResultT,
    StreamT,
    TupleT,
    TypeItem,
    ValueType,
    VariantT,
)

__all__ = ["ResourceNames", "from_wasmtime_func", "from_wasmtime_item", "from_wasmtime_valtype",
           "resource_names"]

# (wasmtime's resource type, defining interface without version, resource name): wasmtime types
# name no resource, so `own<r>`/`borrow<r>` are named by finding `r` among the interfaces' exports
ResourceNames = Sequence[tuple[Any, str, str]]


def resource_names(externs: Mapping[str, Any], engine: Any) -> list[tuple[Any, str, str]]:
    """Every resource exported by an interface instance among `externs` (a component's imports
    or exports), so that handles anywhere in them render and compare by interface and name."""
    out: list[tuple[Any, str, str]] = []
    for iface, ext in externs.items():
        ty = getattr(ext, "ty", ext)
        if isinstance(ty, c.ComponentInstanceType):
            for name, e in ty.exports(engine).items():
                if isinstance(e.ty, c.ResourceType):
                    out.append((e.ty, iface.partition("@")[0], name))
    return out


def _handle(kind: str, vt: Any, names: ResourceNames) -> HandleT:
    for rt, iface, name in names:
        try:
            if rt == vt.ty:
                return HandleT("own" if kind == "own" else "borrow", name, iface)
        except Exception:  # a type wasmtime cannot compare is just not this one
            continue
    return HandleT("own" if kind == "own" else "borrow")


def from_wasmtime_valtype(vt: Any, names: ResourceNames = ()) -> ValueType:
    """Convert a `wasmtime.component.ValType` (walked once, at analysis)."""
    simple: dict[type, str] = {
        c.Bool: "bool", c.S8: "s8", c.S16: "s16", c.S32: "s32", c.S64: "s64",
        c.U8: "u8", c.U16: "u16", c.U32: "u32", c.U64: "u64", c.F32: "f32", c.F64: "f64",
        c.Char: "char", c.String: "string", c.ErrorContext: "error-context",
    }
    name = simple.get(type(vt))
    if name is not None:
        return Prim(name)
    if isinstance(vt, c.ListType):
        return ListT(from_wasmtime_valtype(vt.element, names))
    if isinstance(vt, c.RecordType):
        return RecordT(tuple((n, from_wasmtime_valtype(t, names)) for n, t in vt.fields))
    if isinstance(vt, c.TupleType):
        return TupleT(tuple(from_wasmtime_valtype(t, names) for t in vt.elements))
    if isinstance(vt, c.VariantType):
        return VariantT(tuple((n, None if t is None else from_wasmtime_valtype(t, names)) for n, t in vt.cases))
    if isinstance(vt, c.EnumType):
        return EnumT(tuple(vt.names))
    if isinstance(vt, c.FlagsType):
        return FlagsT(tuple(vt.names))
    if isinstance(vt, c.OptionType):
        return OptionT(from_wasmtime_valtype(vt.payload, names))
    if isinstance(vt, c.ResultType):
        ok, err = vt.ok, vt.err
        return ResultT(None if ok is None else from_wasmtime_valtype(ok, names),
                       None if err is None else from_wasmtime_valtype(err, names))
    if isinstance(vt, c.OwnType):
        return _handle("own", vt, names)
    if isinstance(vt, c.BorrowType):
        return _handle("borrow", vt, names)
    if isinstance(vt, c.FutureType):
        return FutureT(_maybe(vt))
    if isinstance(vt, c.StreamType):
        return StreamT(_maybe(vt))
    raise TypeError(f"unsupported component value type {type(vt).__name__}")


def _maybe(vt: Any) -> ValueType | None:
    try:
        return from_wasmtime_valtype(vt.payload)
    except Exception:
        return None


def from_wasmtime_func(ft: Any, names: ResourceNames = ()) -> FuncT:
    result = ft.result
    return FuncT(
        tuple((n, from_wasmtime_valtype(t, names)) for n, t in ft.params),
        None if result is None else from_wasmtime_valtype(result, names),
    )


def from_wasmtime_item(item: Any, engine: Any, names: ResourceNames = ()) -> Item:
    """Convert a `ComponentItem` (the `.ty` of an import or export) into the model.

    `names`: the resources handles may refer to (`resource_names` of all the component's
    imports or exports); without it, handles are named unknown (`own<resource>`).
    """
    if isinstance(item, c.FuncType):
        return from_wasmtime_func(item, names)
    if isinstance(item, c.ComponentInstanceType):
        return InstanceT(tuple((n, from_wasmtime_item(e.ty, engine, names))
                               for n, e in item.exports(engine).items()))
    if isinstance(item, c.ResourceType):
        return ResourceItem()
    if isinstance(item, c.ModuleType):
        return ModuleItem()
    if isinstance(item, c.ComponentType):
        return ComponentItem(
            tuple((n, from_wasmtime_item(e.ty, engine)) for n, e in item.imports(engine).items()),
            tuple((n, from_wasmtime_item(e.ty, engine)) for n, e in item.exports(engine).items()),
        )
    return TypeItem(from_wasmtime_valtype(item, names))
