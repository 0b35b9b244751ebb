"""The mock-extension DSL: value types, behaviours and declarations of mock extensions.

A declaration says which interfaces a mock imports and exports and what each
function does; `harness.testing` turns it into a component (`to_wat`) and an
extension folder (`write_extension`). This module holds only the declarations,
so a test that builds one reads it without the code generator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..model._errors import UsageError
from ..model._witypes import (
    EnumT,
    FlagsT,
    FuncT,
    HandleT,
    InstanceT,
    Item,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceItem,
    ResultT,
    TupleT,
    TypeItem,
    ValueType,
    VariantT,
)

__all__ = [
    "BOOL", "CHAR", "F32", "F64", "LIFECYCLE", "LOG", "LOG_LEVEL", "S8", "S16", "S32", "S64", "STRING",
    "U8", "U16", "U32", "U64",
    "AddParams", "Behaviour", "Const", "Dropped", "Echo", "Forward", "GrowMemory", "Live", "Loop", "MockExtension",
    "MockFunction", "MockInterface", "New", "Recurse", "Rep", "Reps", "Trap",
    "borrow", "constructor", "enum", "err", "ext", "flags", "fn", "iface", "list_of", "method", "ok", "option", "own",
    "record", "result", "static", "tuple_of", "unversioned", "variant", "with_behaviour",
]

# --------------------------------------------------------------------------- type shortcuts

BOOL, CHAR, STRING = Prim("bool"), Prim("char"), Prim("string")
S8, S16, S32, S64 = Prim("s8"), Prim("s16"), Prim("s32"), Prim("s64")
U8, U16, U32, U64 = Prim("u8"), Prim("u16"), Prim("u32"), Prim("u64")
F32, F64 = Prim("f32"), Prim("f64")

def list_of(t: ValueType) -> ListT:
    return ListT(t)


def option(t: ValueType) -> OptionT:
    return OptionT(t)


def result(ok: ValueType | None = None, err: ValueType | None = None) -> ResultT:
    return ResultT(ok, err)


def tuple_of(*ts: ValueType) -> TupleT:
    return TupleT(tuple(ts))


def record(*fields: tuple[str, ValueType], **kw: ValueType) -> RecordT:
    """`record(("x-y", U32), z=STRING)`: pairs for kebab names, keywords for the rest."""
    return RecordT((*fields, *kw.items()))


def variant(*cases: tuple[str, ValueType | None] | str, **kw: ValueType | None) -> VariantT:
    """`variant("none", ("some-x", U32), y=STRING)`: a bare name is a case without payload."""
    norm = tuple((c, None) if isinstance(c, str) else c for c in cases)
    return VariantT((*norm, *kw.items()))


def own(resource: str, interface: str = "") -> HandleT:
    """`own<resource>`; without `interface`, a resource of the interface the function is declared in
    (`iface` fills it in), else of that interface (e.g. an imported one, versioned or not)."""
    return HandleT("own", resource, unversioned(interface))


def borrow(resource: str, interface: str = "") -> HandleT:
    """`borrow<resource>` (parameters only, as in the component model); `interface` as for `own`."""
    return HandleT("borrow", resource, unversioned(interface))


def unversioned(interface: str) -> str:
    """`ns:pkg/iface@1.0.0` → `ns:pkg/iface`: how the type model names a resource's interface."""
    return interface.split("@", 1)[0]


def enum(*names: str) -> EnumT:
    return EnumT(tuple(names))


def flags(*names: str) -> FlagsT:
    return FlagsT(tuple(names))


def ok(value: Any = None) -> dict[str, Any]:
    """The `ok` case of a `result` in the value mapping (docs/values.md): `{"ok": value}`."""
    return {"ok": value}


def err(value: Any = None) -> dict[str, Any]:
    """The `err` case of a `result` in the value mapping: `{"err": value}`."""
    return {"err": value}


def _own_handles(t: ValueType, interface: str, found: list[str]) -> ValueType:
    """`t` with each handle without an interface made one of `interface` (its resource noted in `found`)."""
    if isinstance(t, HandleT):
        if t.interface and t.interface != interface:
            return t  # a resource of another interface (an imported one)
        if t.resource not in found:
            found.append(t.resource)
        return HandleT(t.kind, t.resource, interface)
    if isinstance(t, ListT):
        return ListT(_own_handles(t.element, interface, found))
    if isinstance(t, OptionT):
        return OptionT(_own_handles(t.payload, interface, found))
    if isinstance(t, ResultT):
        return ResultT(*(None if c is None else _own_handles(c, interface, found) for c in (t.ok, t.err)))
    if isinstance(t, TupleT):
        return TupleT(tuple(_own_handles(e, interface, found) for e in t.elements))
    if isinstance(t, RecordT):
        return RecordT(tuple((n, _own_handles(f, interface, found)) for n, f in t.fields))
    if isinstance(t, VariantT):
        return VariantT(tuple((n, None if c is None else _own_handles(c, interface, found)) for n, c in t.cases))
    return t


# --------------------------------------------------------------------------- declarations

@dataclass(frozen=True)
class Behaviour:
    """What a mock function does when called."""


@dataclass(frozen=True)
class Const(Behaviour):
    """Return a constant, written as `host.call` returns it (docs/values.md): records dicts,
    results `{"ok": v}`/`{"err": e}` (`ok`/`err`), variants `{"tag": case, "value": v}` (or the
    bare case name), enums str, flags a set of str, options None or the value (`{"some": v}` when
    nested), lists lists, `list<u8>` bytes; the JSON forms are read too. The older wasmtime-py
    forms (`Variant(tag, payload)`, a `(tag, payload)` tuple) still work.
    """

    value: Any = field(default=None, hash=False)


@dataclass(frozen=True)
class Forward(Behaviour):
    """Call the imported `interface#function` (same type) with the same arguments."""

    interface: str
    function: str


@dataclass(frozen=True)
class Trap(Behaviour):
    """Execute `unreachable`."""


@dataclass(frozen=True)
class Loop(Behaviour):
    """Spin forever; only an epoch interrupt or fuel stops it."""


@dataclass(frozen=True)
class GrowMemory(Behaviour):
    """Grow memory one page at a time until refused, then trap; with `pages`, grow that
    many and return the zero value (a trap if refused)."""

    pages: int | None = None


@dataclass(frozen=True)
class Recurse(Behaviour):
    """While parameter `depth_param` (an integer) is > 0, call the import with it minus 1
    and return that; at 0 return the zero value. Same type as the import."""

    interface: str
    function: str
    depth_param: int = 0


@dataclass(frozen=True)
class AddParams(Behaviour):
    """Return the sum of the (integer) parameters, wrapped to the (integer) result."""


@dataclass(frozen=True)
class Echo(Behaviour):
    """Return the first parameter (the result has its type): handles in it go back as they came,
    so an `own` the caller gave returns to it, the provider's own resource unchanged."""


@dataclass(frozen=True)
class New(Behaviour):
    """Make a resource of the interface (the result is `own<r>`): its rep is the next number
    (1, 2, ...) of that resource type; the parameters are ignored. The default of `constructor`."""


@dataclass(frozen=True)
class Rep(Behaviour):
    """Return the rep of the first parameter, a handle of a resource of the interface, or of the first
    handle in it if it is a record or tuple (integer result): who holds which resource. An `own`
    handle is dropped after (its destructor runs)."""


@dataclass(frozen=True)
class Reps(Behaviour):
    """Return the sum of the reps of every handle of the interface's resources in the parameters,
    wherever they sit (lists, options, variants...), wrapped to the (integer) result; each `own`
    one is dropped once counted (its destructor runs)."""


@dataclass(frozen=True)
class Live(Behaviour):
    """Return how many resources of type `resource` (of this interface) exist: made, not yet destroyed."""

    resource: str


@dataclass(frozen=True)
class Dropped(Behaviour):
    """Return how many times the destructor of `resource` (of this interface) ran."""

    resource: str


@dataclass(frozen=True)
class MockFunction:
    name: str
    params: tuple[tuple[str, ValueType], ...] = ()
    result: ValueType | None = None
    behaviour: Behaviour = Trap()

    @property
    def type(self) -> FuncT:
        return FuncT(self.params, self.result)


@dataclass(frozen=True)
class MockInterface:
    """An interface instance. `type_names` names nominal types (records, variants,
    enums, flags); unnamed ones are exported as `ty0`, `ty1`, ...

    `resources` are the resource types the interface defines; besides those listed, every
    resource named by a `[constructor]r`/`[method]r.f`/`[static]r.f` function or by a handle
    without an interface (`own("r")`) is one. Such handles are completed with this interface.
    """

    name: str
    functions: tuple[MockFunction, ...] = ()
    type_names: tuple[tuple[str, ValueType], ...] = ()
    resources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        here = unversioned(self.name)
        found = list(self.resources)
        functions = []
        for f in self.functions:
            for prefix in ("[constructor]", "[method]", "[static]"):
                if f.name.startswith(prefix):
                    r = f.name[len(prefix):].split(".", 1)[0]
                    if r not in found:
                        found.append(r)
            params = tuple((n, _own_handles(t, here, found)) for n, t in f.params)
            res = None if f.result is None else _own_handles(f.result, here, found)
            functions.append(replace(f, params=params, result=res))
        object.__setattr__(self, "functions", tuple(functions))
        object.__setattr__(self, "type_names",
                           tuple((n, _own_handles(t, here, found)) for n, t in self.type_names))
        object.__setattr__(self, "resources", tuple(found))

    def function(self, name: str) -> MockFunction | None:
        for f in self.functions:
            if f.name == name:
                return f
        return None

    def named_types(self) -> list[tuple[str, ValueType]]:
        """Every nominal type the functions use, inner before outer, with its export name."""
        explicit = {t: n for n, t in self.type_names}
        used = {f.name for f in self.functions} | set(explicit.values())
        order: list[ValueType] = []
        for f in self.functions:
            for _, p in f.params:
                _collect_nominal(p, order)
            if f.result is not None:
                _collect_nominal(f.result, order)
        out: list[tuple[str, ValueType]] = []
        counter = 0
        for t in order:
            name = explicit.get(t)
            if name is None:
                while f"ty{counter}" in used:
                    counter += 1
                name = f"ty{counter}"
                counter += 1
            out.append((name, t))
        return out

    def instance_type(self) -> InstanceT:
        """The type analysis reports for this interface (resources and types first, then functions)."""
        items: list[tuple[str, Item]] = [(r, ResourceItem()) for r in self.resources]
        items += [(n, TypeItem(t)) for n, t in self.named_types()]
        items += [(f.name, f.type) for f in self.functions]
        return InstanceT(tuple(items))


LOG_LEVEL = EnumT(("trace", "debug", "info", "warn", "error"))
LOG = MockInterface(
    "ext:host/log@0.1.0",
    (MockFunction("log", (("level", LOG_LEVEL), ("message", STRING)), None),),
    (("level", LOG_LEVEL),),
)
LIFECYCLE = "ext:host/lifecycle@0.1.0"


@dataclass(frozen=True)
class MockExtension:
    """A whole extension. `init` adds the `ext:host/lifecycle@0.1.0` export (`Const()` or
    None with `log_on_init` → ok); `log_on_init` logs that message at `info` from init."""

    name: str
    version: str = "0.1.0"
    exports: tuple[MockInterface, ...] = ()
    imports: tuple[MockInterface, ...] = ()
    init: Behaviour | None = None
    log_on_init: str | None = None
    manifest_extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def all_imports(self) -> tuple[MockInterface, ...]:
        if self.log_on_init is not None and not any(i.name == LOG.name for i in self.imports):
            return (*self.imports, LOG)
        return self.imports

    def all_exports(self) -> tuple[MockInterface, ...]:
        if self.init is None and self.log_on_init is None:
            return self.exports
        behaviour = self.init if self.init is not None else Const(None)
        if isinstance(behaviour, Const) and behaviour.value is None:
            behaviour = Const(_Tagged("ok", None))
        init = MockFunction("init", (), ResultT(None, STRING), behaviour)
        return (*self.exports, MockInterface(LIFECYCLE, (init,)))


# --------------------------------------------------------------------------- convenience

def fn(name: str, params: Sequence[tuple[str, ValueType]] = (), result: ValueType | None = None,
       behaviour: Behaviour = Trap()) -> MockFunction:
    return MockFunction(name, tuple(params), result, behaviour)


def iface(name: str, *functions: MockFunction,
          type_names: Sequence[tuple[str, ValueType]] = (), resources: Sequence[str] = ()) -> MockInterface:
    return MockInterface(name, tuple(functions), tuple(type_names), tuple(resources))


def constructor(resource: str, params: Sequence[tuple[str, ValueType]] = (),
                behaviour: Behaviour = New()) -> MockFunction:
    """`[constructor]resource`: `constructor(params)` in WIT, a function returning `own<resource>`."""
    return MockFunction(f"[constructor]{resource}", tuple(params), own(resource), behaviour)


def method(resource: str, name: str, params: Sequence[tuple[str, ValueType]] = (),
           result: ValueType | None = None, behaviour: Behaviour = Trap()) -> MockFunction:
    """`[method]resource.name`: its first parameter is `self: borrow<resource>` (added here)."""
    return MockFunction(f"[method]{resource}.{name}", (("self", borrow(resource)), *params), result, behaviour)


def static(resource: str, name: str, params: Sequence[tuple[str, ValueType]] = (),
           result: ValueType | None = None, behaviour: Behaviour = Trap()) -> MockFunction:
    """`[static]resource.name`: a function in the resource's namespace, without `self`."""
    return MockFunction(f"[static]{resource}.{name}", tuple(params), result, behaviour)


def ext(name: str, *, exports: Iterable[MockInterface] = (), imports: Iterable[MockInterface] = (),
        **kw: Any) -> MockExtension:
    return MockExtension(name, exports=tuple(exports), imports=tuple(imports), **kw)



def with_behaviour(f: MockFunction, behaviour: Behaviour) -> MockFunction:
    """The same function doing something else (e.g. a provider's function turned into a Trap)."""
    return replace(f, behaviour=behaviour)


# --------------------------------------------------------------------------- helpers

class _Tagged:
    """A variant/result value when wasmtime's Variant is not at hand."""

    def __init__(self, tag: str, payload: Any = None) -> None:
        self.tag = tag
        self.payload = payload


def _collect_nominal(t: ValueType, out: list[ValueType]) -> None:
    if isinstance(t, HandleT):
        return
    if isinstance(t, ListT):
        _collect_nominal(t.element, out)
    elif isinstance(t, OptionT):
        _collect_nominal(t.payload, out)
    elif isinstance(t, ResultT):
        for c in (t.ok, t.err):
            if c is not None:
                _collect_nominal(c, out)
    elif isinstance(t, TupleT):
        for e in t.elements:
            _collect_nominal(e, out)
    elif isinstance(t, RecordT | VariantT | EnumT | FlagsT):
        inner = [f for _, f in t.fields] if isinstance(t, RecordT) else \
            [c for _, c in t.cases if c is not None] if isinstance(t, VariantT) else []
        for f in inner:
            _collect_nominal(f, out)
        if t not in out:
            out.append(t)
    elif isinstance(t, Prim):
        if t.name == "error-context":
            raise UsageError("mock components cannot carry error-context values")
    else:
        raise UsageError(f"mock components cannot carry {type(t).__name__} values (futures and streams "
                         "are not supported)")
