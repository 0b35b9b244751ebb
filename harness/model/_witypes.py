"""The project's own immutable model of component types.

wasmtime's type objects own C pointers, compare resources by identity and are
slow to walk; analysis converts them once into these frozen, hashable values
that render as WIT-like text, compare structurally, diff with a path, and pickle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "PRIMITIVES",
    "ComponentItem",
    "EnumT",
    "FlagsT",
    "FuncT",
    "FutureT",
    "HandleT",
    "InstanceT",
    "Item",
    "ListT",
    "ModuleItem",
    "OptionT",
    "Prim",
    "RecordT",
    "ResourceItem",
    "ResultT",
    "StreamT",
    "TupleT",
    "TypeItem",
    "ValueType",
    "VariantLike",
    "VariantT",
    "cases_of",
    "has_handle",
    "render",
    "type_diff",
]

PRIMITIVES = (
    "bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64",
    "f32", "f64", "char", "string", "error-context",
)


@dataclass(frozen=True)
class Prim:
    name: str


@dataclass(frozen=True)
class ListT:
    element: ValueType


@dataclass(frozen=True)
class RecordT:
    fields: tuple[tuple[str, ValueType], ...]


@dataclass(frozen=True)
class TupleT:
    elements: tuple[ValueType, ...]


@dataclass(frozen=True)
class VariantT:
    cases: tuple[tuple[str, ValueType | None], ...]


@dataclass(frozen=True)
class EnumT:
    names: tuple[str, ...]


@dataclass(frozen=True)
class FlagsT:
    names: tuple[str, ...]


@dataclass(frozen=True)
class OptionT:
    payload: ValueType


@dataclass(frozen=True)
class ResultT:
    ok: ValueType | None
    err: ValueType | None


@dataclass(frozen=True)
class HandleT:
    """`own<r>` or `borrow<r>`. wasmtime's types name no resource: analysis finds `r` among the
    interfaces' exports, so two handles are the same type when interface (without version) and name
    match; "" and "resource" when it was not found."""

    kind: Literal["own", "borrow"]
    resource: str = "resource"
    interface: str = ""


@dataclass(frozen=True)
class FutureT:
    payload: ValueType | None


@dataclass(frozen=True)
class StreamT:
    payload: ValueType | None


ValueType = (
    Prim | ListT | RecordT | TupleT | VariantT | EnumT | FlagsT | OptionT | ResultT | HandleT
    | FutureT | StreamT
)

VariantLike = VariantT | EnumT | OptionT | ResultT
"""The types the canonical ABI despecialises to a variant: one case is chosen by its index."""


def cases_of(t: VariantLike) -> tuple[tuple[str, ValueType | None], ...]:
    """The cases of a variant-like type in order, with their payload types (None: no payload).

    An enum's names have no payload, an option is `none, some(payload)` and a result
    `ok(ok), err(err)`: the order is the case index in the canonical ABI and the order
    in which wasmtime-py tries the cases of an untagged value.
    """
    if isinstance(t, VariantT):
        return t.cases
    if isinstance(t, EnumT):
        return tuple((n, None) for n in t.names)
    if isinstance(t, OptionT):
        return (("none", None), ("some", t.payload))
    return (("ok", t.ok), ("err", t.err))


@dataclass(frozen=True)
class FuncT:
    params: tuple[tuple[str, ValueType], ...]
    result: ValueType | None


@dataclass(frozen=True)
class InstanceT:
    """An interface instance: its exports by name, in the component's order."""

    exports: tuple[tuple[str, Item], ...]

    def funcs(self) -> Iterator[tuple[str, FuncT]]:
        for name, item in self.exports:
            if isinstance(item, FuncT):
                yield name, item

    def get(self, name: str) -> Item | None:
        for n, item in self.exports:
            if n == name:
                return item
        return None


@dataclass(frozen=True)
class ResourceItem:
    pass


@dataclass(frozen=True)
class TypeItem:
    type: ValueType


@dataclass(frozen=True)
class ModuleItem:
    pass


@dataclass(frozen=True)
class ComponentItem:
    imports: tuple[tuple[str, Item], ...]
    exports: tuple[tuple[str, Item], ...]


Item = FuncT | InstanceT | ResourceItem | TypeItem | ModuleItem | ComponentItem


def has_handle(t: ValueType | FuncT | None) -> bool:
    """Whether a value of `t` (or a call of the function `t`) may carry a resource handle."""
    if t is None:
        return False
    if isinstance(t, FuncT):
        return any(has_handle(p) for _, p in t.params) or has_handle(t.result)
    if isinstance(t, HandleT):
        return True
    if isinstance(t, ListT):
        return has_handle(t.element)
    if isinstance(t, OptionT):
        return has_handle(t.payload)
    if isinstance(t, TupleT):
        return any(has_handle(e) for e in t.elements)
    if isinstance(t, RecordT):
        return any(has_handle(f) for _, f in t.fields)
    if isinstance(t, (ResultT, VariantT)):
        return any(has_handle(p) for _, p in cases_of(t))
    return False


# --------------------------------------------------------------------------- rendering

def render(t: Item | ValueType | None, indent: str = "") -> str:
    """WIT-like text; the same type always renders the same (snapshots rely on it)."""
    if t is None:
        return "_"
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, ListT):
        return f"list<{render(t.element)}>"
    if isinstance(t, OptionT):
        return f"option<{render(t.payload)}>"
    if isinstance(t, ResultT):
        if t.ok is None and t.err is None:
            return "result"
        return f"result<{render(t.ok)}, {render(t.err)}>"
    if isinstance(t, TupleT):
        return f"tuple<{', '.join(render(e) for e in t.elements)}>"
    if isinstance(t, RecordT):
        return "record { " + ", ".join(f"{n}: {render(v)}" for n, v in t.fields) + " }"
    if isinstance(t, VariantT):
        cases = (n if v is None else f"{n}({render(v)})" for n, v in t.cases)
        return "variant { " + ", ".join(cases) + " }"
    if isinstance(t, EnumT):
        return "enum { " + ", ".join(t.names) + " }"
    if isinstance(t, FlagsT):
        return "flags { " + ", ".join(t.names) + " }"
    if isinstance(t, HandleT):
        return f"{t.kind}<{t.resource}>"
    if isinstance(t, FutureT):
        return "future" if t.payload is None else f"future<{render(t.payload)}>"
    if isinstance(t, StreamT):
        return "stream" if t.payload is None else f"stream<{render(t.payload)}>"
    if isinstance(t, FuncT):
        params = ", ".join(f"{n}: {render(v)}" for n, v in t.params)
        return f"func({params})" + ("" if t.result is None else f" -> {render(t.result)}")
    if isinstance(t, InstanceT):
        inner = indent + "  "
        lines = [f"{inner}{n}: {render(i, inner)};" for n, i in t.exports]
        return "interface {\n" + "\n".join(lines) + f"\n{indent}}}" if lines else "interface {}"
    if isinstance(t, ResourceItem):
        return "resource"
    if isinstance(t, TypeItem):
        return f"type {render(t.type)}"
    if isinstance(t, ModuleItem):
        return "core module"
    if isinstance(t, ComponentItem):
        return "component"
    raise TypeError(f"not a type: {t!r}")


# --------------------------------------------------------------------------- comparison

def type_diff(expected: Item | ValueType | None, found: Item | ValueType | None,
              path: str = "") -> str | None:
    """The first difference between two types, as `path: expected X, found Y`; None if equal.

    `expected` is the importer's view and `found` the provider's. Function
    exports the importer does not use are not compared (a provider may offer more).
    """
    if expected == found:
        return None
    where = f"{path}: " if path else ""
    if type(expected) is not type(found) or expected is None or found is None:
        return f"{where}expected {render(expected)}, found {render(found)}"
    if isinstance(expected, InstanceT) and isinstance(found, InstanceT):
        for name, item in expected.exports:
            other = found.get(name)
            sub = f"{path}#{name}" if path else name
            if other is None:
                return f"{sub}: missing in provider (expected {render(item)})"
            d = type_diff(item, other, sub)
            if d:
                return d
        return None
    if isinstance(expected, FuncT) and isinstance(found, FuncT):
        if len(expected.params) != len(found.params):
            return (f"{where}expected {len(expected.params)} parameter(s), found {len(found.params)}"
                    f" ({render(expected)} vs {render(found)})")
        for (en, et), (fn, ft) in zip(expected.params, found.params, strict=True):
            d = type_diff(et, ft, _join(path, f"param {en}"))
            if d:
                return d
            if en != fn:
                return f"{_join(path, 'param ' + en)}: parameter named {fn!r} in provider"
        return type_diff(expected.result, found.result, _join(path, "result"))
    if isinstance(expected, RecordT) and isinstance(found, RecordT):
        return _members_diff(expected.fields, found.fields, path, "record fields", "field")
    if isinstance(expected, VariantT) and isinstance(found, VariantT):
        return _members_diff(expected.cases, found.cases, path, "variant cases", "case")
    if isinstance(expected, TupleT) and isinstance(found, TupleT) and \
            len(expected.elements) == len(found.elements):
        for i, (et, ft) in enumerate(zip(expected.elements, found.elements, strict=True)):
            d = type_diff(et, ft, _join(path, f"element {i}"))
            if d:
                return d
        return None
    if isinstance(expected, ListT) and isinstance(found, ListT):
        return type_diff(expected.element, found.element, _join(path, "element"))
    if isinstance(expected, OptionT) and isinstance(found, OptionT):
        return type_diff(expected.payload, found.payload, _join(path, "some"))
    if isinstance(expected, ResultT) and isinstance(found, ResultT):
        return (type_diff(expected.ok, found.ok, _join(path, "ok"))
                or type_diff(expected.err, found.err, _join(path, "err")))
    if isinstance(expected, HandleT) and isinstance(found, HandleT) and expected.kind == found.kind \
            and expected.resource == found.resource:
        return (f"{where}expected {render(expected)} of {expected.interface or 'an unknown interface'}, "
                f"found {render(found)} of {found.interface or 'an unknown interface'}")
    return f"{where}expected {render(expected)}, found {render(found)}"


def _members_diff(expected: tuple[tuple[str, Any], ...], found: tuple[tuple[str, Any], ...], path: str,
                  what: str, member: str) -> str | None:
    """Records and variants: the same names in the same order, then each member's type."""
    e_names = [n for n, _ in expected]
    f_names = [n for n, _ in found]
    if e_names != f_names:
        return f"{path + ': ' if path else ''}expected {what} {e_names}, found {f_names}"
    for (n, et), (_, ft) in zip(expected, found, strict=True):
        d = type_diff(et, ft, _join(path, f"{member} {n}"))
        if d:
            return d
    return None


def _join(path: str, part: str) -> str:
    return f"{path} → {part}" if path else part

