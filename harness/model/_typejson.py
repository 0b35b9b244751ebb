"""The `_witypes` model as plain JSON values, for the interface kept in the compile cache.

JSON (stdlib) rather than pickle: decoding builds only the model's own frozen
dataclasses from lists, strings and nulls, checking every shape on the way, so
bytes found on disk can at worst be rejected, never run. Every node is a list
whose first element is a tag; a primitive is its bare name ("u32"). Decoding
what encoding produced gives back an equal value (a property test checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ._witypes import (
    PRIMITIVES,
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

__all__ = ["item_from_json", "item_to_json", "value_from_json", "value_to_json"]

_T = TypeVar("_T")


def value_to_json(t: ValueType) -> Any:
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, ListT):
        return ["list", value_to_json(t.element)]
    if isinstance(t, RecordT):
        return ["record", [[n, value_to_json(v)] for n, v in t.fields]]
    if isinstance(t, TupleT):
        return ["tuple", [value_to_json(e) for e in t.elements]]
    if isinstance(t, VariantT):
        return ["variant", [[n, _opt_to_json(v)] for n, v in t.cases]]
    if isinstance(t, EnumT):
        return ["enum", list(t.names)]
    if isinstance(t, FlagsT):
        return ["flags", list(t.names)]
    if isinstance(t, OptionT):
        return ["option", value_to_json(t.payload)]
    if isinstance(t, ResultT):
        return ["result", _opt_to_json(t.ok), _opt_to_json(t.err)]
    if isinstance(t, HandleT):
        return ["handle", t.kind, t.resource] + ([t.interface] if t.interface else [])
    if isinstance(t, FutureT):
        return ["future", _opt_to_json(t.payload)]
    if isinstance(t, StreamT):
        return ["stream", _opt_to_json(t.payload)]
    raise TypeError(f"not a value type: {t!r}")


def item_to_json(i: Item) -> Any:
    if isinstance(i, FuncT):
        return ["func", [[n, value_to_json(v)] for n, v in i.params], _opt_to_json(i.result)]
    if isinstance(i, InstanceT):
        return ["instance", _named_to_json(i.exports)]
    if isinstance(i, ResourceItem):
        return ["resource"]
    if isinstance(i, TypeItem):
        return ["type", value_to_json(i.type)]
    if isinstance(i, ModuleItem):
        return ["module"]
    if isinstance(i, ComponentItem):
        return ["component", _named_to_json(i.imports), _named_to_json(i.exports)]
    raise TypeError(f"not an item: {i!r}")


def _opt_to_json(t: ValueType | None) -> Any:
    return None if t is None else value_to_json(t)


def _named_to_json(items: tuple[tuple[str, Item], ...]) -> list[Any]:
    return [[n, item_to_json(i)] for n, i in items]


# --------------------------------------------------------------------------- decoding (checks every shape)

def value_from_json(o: Any) -> ValueType:
    """The value type `o` encodes; ValueError for anything `value_to_json` cannot have written."""
    if isinstance(o, str):
        if o not in PRIMITIVES:
            raise ValueError(f"unknown primitive {o!r}")
        return Prim(o)
    tag, args = _node(o)
    if tag == "list" and len(args) == 1:
        return ListT(value_from_json(args[0]))
    if tag == "record" and len(args) == 1:
        return RecordT(_pairs(args[0], value_from_json))
    if tag == "tuple" and len(args) == 1:
        return TupleT(tuple(value_from_json(e) for e in _list(args[0])))
    if tag == "variant" and len(args) == 1:
        return VariantT(_pairs(args[0], _opt_from_json))
    if tag in ("enum", "flags") and len(args) == 1:
        names = tuple(_str(n) for n in _list(args[0]))
        return EnumT(names) if tag == "enum" else FlagsT(names)
    if tag == "option" and len(args) == 1:
        return OptionT(value_from_json(args[0]))
    if tag == "result" and len(args) == 2:
        return ResultT(_opt_from_json(args[0]), _opt_from_json(args[1]))
    if tag == "handle" and len(args) in (2, 3) and args[0] in ("own", "borrow"):
        return HandleT("own" if args[0] == "own" else "borrow", _str(args[1]),
                       _str(args[2]) if len(args) == 3 else "")
    if tag == "future" and len(args) == 1:
        return FutureT(_opt_from_json(args[0]))
    if tag == "stream" and len(args) == 1:
        return StreamT(_opt_from_json(args[0]))
    raise ValueError(f"not a value type: {tag!r} with {len(args)} argument(s)")


def item_from_json(o: Any) -> Item:
    """The item `o` encodes; ValueError for anything `item_to_json` cannot have written."""
    tag, args = _node(o)
    if tag == "func" and len(args) == 2:
        return FuncT(_pairs(args[0], value_from_json), _opt_from_json(args[1]))
    if tag == "instance" and len(args) == 1:
        return InstanceT(_pairs(args[0], item_from_json))
    if tag == "resource" and not args:
        return ResourceItem()
    if tag == "type" and len(args) == 1:
        return TypeItem(value_from_json(args[0]))
    if tag == "module" and not args:
        return ModuleItem()
    if tag == "component" and len(args) == 2:
        return ComponentItem(_pairs(args[0], item_from_json), _pairs(args[1], item_from_json))
    raise ValueError(f"not an item: {tag!r} with {len(args)} argument(s)")


def _opt_from_json(o: Any) -> ValueType | None:
    return None if o is None else value_from_json(o)


def _node(o: Any) -> tuple[str, list[Any]]:
    items = _list(o)
    if not items:
        raise ValueError("empty node")
    return _str(items[0]), items[1:]


def _pairs(o: Any, decode: Callable[[Any], _T]) -> tuple[tuple[str, _T], ...]:
    out: list[tuple[str, _T]] = []
    for pair in _list(o):
        p = _list(pair)
        if len(p) != 2:
            raise ValueError("a named member is not a [name, type] pair")
        out.append((_str(p[0]), decode(p[1])))
    return tuple(out)


def _list(o: Any) -> list[Any]:
    if not isinstance(o, list):
        raise ValueError(f"expected a list, found {type(o).__name__}")
    return o


def _str(o: Any) -> str:
    if not isinstance(o, str):
        raise ValueError(f"expected a string, found {type(o).__name__}")
    return o
