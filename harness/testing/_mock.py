"""Mock extensions: component WAT written from a short declaration.

Tests need many small components (a provider, a consumer, one that traps, one
that loops, one that forwards an arbitrary type). Writing WAT by hand for each is
slow and error-prone, so a declaration says which interfaces a mock imports and
exports and what each function does, and `to_wat` writes the component.

Layout of every generated component: a core module `libc` (memory, bump
allocator `realloc`, static data) instantiated first, so that imports can be
lowered with its memory and realloc; then the main module, which imports libc
and the lowered imports and holds one core function per export.

Forwarding needs no value-specific code: the lifted export receives the flat
parameters (or the pointer to them) and hands them unchanged to the lowered
import; a result that does not fit one core value comes back through a return
area the export allocates and returns. The canonical ABI does the rest, which is
what makes round trips over any generated type possible.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..model._errors import UsageError
from ..model._witypes import (
    EnumT,
    FlagsT,
    FuncT,
    InstanceT,
    Item,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    TupleT,
    TypeItem,
    ValueType,
    VariantT,
)
from ..runtime._abi import (
    align_to,
    alignment,
    case_types,
    discriminant_size,
    flatten,
    flatten_params,
    func_core_signature,
    size,
)

__all__ = [
    "BOOL", "CHAR", "F32", "F64", "LIFECYCLE", "LOG", "LOG_LEVEL", "S8", "S16", "S32", "S64", "STRING",
    "U8", "U16", "U32", "U64",
    "AddParams", "Behaviour", "Const", "Forward", "GrowMemory", "Loop", "MockExtension", "MockFunction",
    "MockInterface", "Recurse", "Trap",
    "enum", "err", "ext", "flags", "fn", "iface", "list_of", "ok", "option", "record", "result",
    "to_toml", "to_wat", "tuple_of", "variant", "with_behaviour", "write_extension",
]

# --------------------------------------------------------------------------- type shortcuts

BOOL, CHAR, STRING = Prim("bool"), Prim("char"), Prim("string")
S8, S16, S32, S64 = Prim("s8"), Prim("s16"), Prim("s32"), Prim("s64")
U8, U16, U32, U64 = Prim("u8"), Prim("u16"), Prim("u32"), Prim("u64")
F32, F64 = Prim("f32"), Prim("f64")

_INTS = {"bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"}
_SIGNED = {"s8", "s16", "s32", "s64"}


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


def enum(*names: str) -> EnumT:
    return EnumT(tuple(names))


def flags(*names: str) -> FlagsT:
    return FlagsT(tuple(names))


def ok(value: Any = None) -> Any:
    """A `result` value for Const, in wasmtime-py's representation."""
    from wasmtime.component import Variant
    return Variant("ok", value)


def err(value: Any = None) -> Any:
    from wasmtime.component import Variant
    return Variant("err", value)


# --------------------------------------------------------------------------- declarations

@dataclass(frozen=True)
class Behaviour:
    """What a mock function does when called."""


@dataclass(frozen=True)
class Const(Behaviour):
    """Return a constant, given in wasmtime-py's value representation.

    Records are dicts (or objects with attributes), variants and results
    `Variant(tag, payload)` (see `ok`/`err`), enums str, flags a set of str,
    options None or the payload, lists lists (or bytes for list<u8>).
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
    enums, flags); unnamed ones are exported as `ty0`, `ty1`, ..."""

    name: str
    functions: tuple[MockFunction, ...] = ()
    type_names: tuple[tuple[str, ValueType], ...] = ()

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
        """The type analysis reports for this interface (types first, then functions)."""
        items: list[tuple[str, Item]] = [(n, TypeItem(t)) for n, t in self.named_types()]
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
          type_names: Sequence[tuple[str, ValueType]] = ()) -> MockInterface:
    return MockInterface(name, tuple(functions), tuple(type_names))


def ext(name: str, *, exports: Iterable[MockInterface] = (), imports: Iterable[MockInterface] = (),
        **kw: Any) -> MockExtension:
    return MockExtension(name, exports=tuple(exports), imports=tuple(imports), **kw)


# --------------------------------------------------------------------------- WAT: types

def _collect_nominal(t: ValueType, out: list[ValueType]) -> None:
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
        raise UsageError(f"mock components cannot carry {type(t).__name__} values (resources, "
                         "futures and streams are not supported)")


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wat_type(t: ValueType, ids: Mapping[ValueType, str]) -> str:
    """A value type in a type-use position; nominal types by their `$id`."""
    if isinstance(t, Prim):
        return t.name
    if t in ids:
        return ids[t]
    if isinstance(t, ListT):
        return f"(list {_wat_type(t.element, ids)})"
    if isinstance(t, OptionT):
        return f"(option {_wat_type(t.payload, ids)})"
    if isinstance(t, TupleT):
        return "(tuple " + " ".join(_wat_type(e, ids) for e in t.elements) + ")"
    if isinstance(t, ResultT):
        parts = ["result"]
        if t.ok is not None:
            parts.append(_wat_type(t.ok, ids))
        if t.err is not None:
            parts.append(f"(error {_wat_type(t.err, ids)})")
        return "(" + " ".join(parts) + ")"
    raise UsageError(f"type {t!r} has no name in this scope")


def _wat_typedef(t: ValueType, ids: Mapping[ValueType, str]) -> str:
    """The definition of a nominal type (its members by reference)."""
    if isinstance(t, RecordT):
        return "(record " + " ".join(f"(field {_q(n)} {_wat_type(f, ids)})" for n, f in t.fields) + ")"
    if isinstance(t, VariantT):
        cases = (f"(case {_q(n)})" if c is None else f"(case {_q(n)} {_wat_type(c, ids)})"
                 for n, c in t.cases)
        return "(variant " + " ".join(cases) + ")"
    if isinstance(t, EnumT):
        return "(enum " + " ".join(_q(n) for n in t.names) + ")"
    if isinstance(t, FlagsT):
        return "(flags " + " ".join(_q(n) for n in t.names) + ")"
    raise AssertionError(t)


def _wat_functype(f: MockFunction, ids: Mapping[ValueType, str]) -> str:
    parts = [f"(param {_q(n)} {_wat_type(t, ids)})" for n, t in f.params]
    if f.result is not None:
        parts.append(f"(result {_wat_type(f.result, ids)})")
    return " ".join(parts)


# --------------------------------------------------------------------------- static data

class _Tagged:
    """A variant/result value when wasmtime's Variant is not at hand."""

    def __init__(self, tag: str, payload: Any = None) -> None:
        self.tag = tag
        self.payload = payload


class _Data:
    """Static memory laid out at generation time: constants, strings, return areas."""

    BASE = 16  # keep address 0 unused so a null pointer is never valid data

    def __init__(self) -> None:
        self.buf = bytearray()

    @property
    def end(self) -> int:
        return self.BASE + len(self.buf)

    def alloc(self, n: int, align: int) -> int:
        addr = align_to(self.end, max(align, 1))
        self.buf.extend(b"\0" * (addr + n - self.end))
        return addr

    def write(self, addr: int, data: bytes) -> None:
        off = addr - self.BASE
        self.buf[off:off + len(data)] = data

    def bytes_(self, data: bytes) -> int:
        addr = self.alloc(len(data), 1)
        self.write(addr, data)
        return addr

    # -- canonical ABI `store`, at generation time
    def store(self, t: ValueType, v: Any, addr: int) -> None:
        if isinstance(t, Prim):
            self.write(addr, self._prim_bytes(t.name, v))
        elif isinstance(t, ListT):
            ptr, n = self._list(t, v)
            self.write(addr, struct.pack("<II", ptr, n))
        elif isinstance(t, RecordT | TupleT):
            members = ([(f, _field(v, n)) for n, f in t.fields] if isinstance(t, RecordT)
                       else list(zip(t.elements, _seq(v, len(t.elements)), strict=True)))
            off = 0
            for ft, fv in members:
                off = align_to(off, alignment(ft))
                self.store(ft, fv, addr + off)
                off += size(ft)
        elif isinstance(t, VariantT | EnumT | OptionT | ResultT):
            index, payload = _case(t, v)
            cases = case_types(t)
            dsize = discriminant_size(len(cases))
            self.write(addr, index.to_bytes(dsize, "little"))
            ct = cases[index]
            if ct is not None:
                off = align_to(dsize, max((alignment(c) for c in cases if c is not None), default=1))
                self.store(ct, payload, addr + off)
        elif isinstance(t, FlagsT):
            self.write(addr, _flag_bits(t, v).to_bytes(size(t), "little"))
        else:
            raise UsageError(f"Const cannot hold a {type(t).__name__}")

    def _list(self, t: ListT | Prim, v: Any) -> tuple[int, int]:
        if isinstance(t, Prim):  # string
            data = str(v).encode("utf-8")
            return self.bytes_(data), len(data)
        items = list(v)
        esize, ealign = size(t.element), alignment(t.element)
        ptr = self.alloc(esize * len(items), ealign)
        for i, item in enumerate(items):
            self.store(t.element, item, ptr + i * esize)
        return ptr, len(items)

    def _prim_bytes(self, name: str, v: Any) -> bytes:
        if name == "string":
            return struct.pack("<II", *self._list(STRING, v))
        if name == "bool":
            return bytes([1 if v else 0])
        if name == "char":
            return struct.pack("<I", ord(v))
        if name == "f32":
            return struct.pack("<f", v)
        if name == "f64":
            return struct.pack("<d", v)
        n = size(Prim(name))
        return int(v).to_bytes(n, "little", signed=name in _SIGNED)

    # -- canonical ABI `lower_flat`: (core type, bits) pairs
    def lower_flat(self, t: ValueType, v: Any) -> list[tuple[str, int]]:
        if isinstance(t, Prim):
            if t.name == "string":
                ptr, n = self._list(t, v)
                return [("i32", ptr), ("i32", n)]
            core = flatten(t)[0]
            if t.name == "f32":
                return [("f32", struct.unpack("<I", struct.pack("<f", v))[0])]
            if t.name == "f64":
                return [("f64", struct.unpack("<Q", struct.pack("<d", v))[0])]
            if t.name == "char":
                return [("i32", ord(v))]
            return [(core, int(v) % (1 << (32 if core == "i32" else 64)))]
        if isinstance(t, ListT):
            ptr, n = self._list(t, v)
            return [("i32", ptr), ("i32", n)]
        if isinstance(t, RecordT):
            return [x for n, f in t.fields for x in self.lower_flat(f, _field(v, n))]
        if isinstance(t, TupleT):
            return [x for e, ev in zip(t.elements, _seq(v, len(t.elements)), strict=True)
                    for x in self.lower_flat(e, ev)]
        if isinstance(t, VariantT | EnumT | OptionT | ResultT):
            index, payload = _case(t, v)
            want = flatten(t)[1:]
            ct = case_types(t)[index]
            got = [] if ct is None else self.lower_flat(ct, payload)
            out = [("i32", index)]
            for i, w in enumerate(want):
                if i < len(got):
                    out.append((w, got[i][1]))  # f32→i32, i32/f32/f64→i64: the bits, zero-extended
                else:
                    out.append((w, 0))
            return out
        if isinstance(t, FlagsT):
            bits = _flag_bits(t, v)
            return [("i32", (bits >> (32 * i)) & 0xFFFFFFFF) for i in range(len(flatten(t)))]
        raise UsageError(f"Const cannot hold a {type(t).__name__}")


def _field(v: Any, name: str) -> Any:
    if isinstance(v, Mapping):
        if name in v:
            return v[name]
        return v[name.replace("-", "_")]
    if hasattr(v, name):
        return getattr(v, name)
    return getattr(v, name.replace("-", "_"))


def _seq(v: Any, n: int) -> list[Any]:
    items = list(v)
    if len(items) != n:
        raise UsageError(f"expected {n} elements, got {len(items)}")
    return items


def _case(t: VariantT | EnumT | OptionT | ResultT, v: Any) -> tuple[int, Any]:
    """(case index, payload) for a Python value of a variant-like type."""
    names = ([n for n, _ in t.cases] if isinstance(t, VariantT) else list(t.names)
             if isinstance(t, EnumT) else ["none", "some"] if isinstance(t, OptionT) else ["ok", "err"])
    tag: Any
    if hasattr(v, "tag"):
        tag, payload = v.tag, getattr(v, "payload", None)
    elif isinstance(t, EnumT) or (isinstance(t, VariantT) and isinstance(v, str)):
        tag, payload = v, None
    elif isinstance(t, OptionT):
        tag, payload = ("none", None) if v is None else ("some", v)
    elif isinstance(v, tuple) and len(v) == 2:
        tag, payload = v
    else:
        raise UsageError(f"cannot tell the case of {v!r}; use Variant(tag, payload)")
    if tag not in names:
        raise UsageError(f"no case {tag!r} in {names}")
    return names.index(tag), payload


def _flag_bits(t: FlagsT, v: Any) -> int:
    chosen = set(v)
    unknown = chosen - set(t.names)
    if unknown:
        raise UsageError(f"unknown flags {sorted(unknown)}")
    return sum(1 << i for i, n in enumerate(t.names) if n in chosen)


def _const(core: str, bits: int) -> str:
    if core == "i32":
        return f"i32.const {bits - (1 << 32) if bits >= 1 << 31 else bits}"
    if core == "i64":
        return f"i64.const {bits - (1 << 64) if bits >= 1 << 63 else bits}"
    if core == "f32":
        return f"i32.const {bits - (1 << 32) if bits >= 1 << 31 else bits} f32.reinterpret_i32"
    return f"i64.const {bits - (1 << 64) if bits >= 1 << 63 else bits} f64.reinterpret_i64"


# --------------------------------------------------------------------------- WAT: bodies

@dataclass
class _Import:
    module: str  # core import module in main
    iface: MockInterface
    func: MockFunction
    core_id: str


class _Gen:
    def __init__(self, ext: MockExtension) -> None:
        self.ext = ext
        self.data = _Data()
        self.imports: dict[tuple[str, str], _Import] = {}
        self.zero_area = 0

    def import_of(self, owner: str, interface: str, function: str) -> _Import:
        imp = self.imports.get((interface, function))
        if imp is None:
            raise UsageError(f"extension {self.ext.name!r}: {owner} uses {interface}#{function}, "
                             "which the mock does not import; add it to `imports`")
        return imp

    def body(self, owner: str, f: MockFunction) -> tuple[list[str], list[str]]:
        """(extra locals, instructions) of the lifted core function of `f`."""
        ft = f.type
        params, results = func_core_signature(ft, lift=True)
        b = f.behaviour
        if isinstance(b, Trap):
            return [], ["unreachable"]
        if isinstance(b, Loop):
            return [], ["loop $spin", "br $spin", "end", "unreachable"]
        if isinstance(b, GrowMemory):
            if b.pages is None:
                return [], ["loop $grow", "i32.const 1", "memory.grow", "i32.const -1", "i32.ne",
                            "br_if $grow", "end", "unreachable"]
            return [], [f"i32.const {b.pages}", "memory.grow", "i32.const -1", "i32.eq",
                        "if", "unreachable", "end", *self.zero(ft)]
        if isinstance(b, Const):
            return [], self.const(owner, f, b.value)
        if isinstance(b, AddParams):
            return [], self.add(owner, f)
        if isinstance(b, Forward):
            imp = self.import_of(owner, b.interface, b.function)
            self.same_type(owner, f, imp)
            args = [f"local.get {i}" for i in range(len(params))]
            return self.call(imp, args)
        if isinstance(b, Recurse):
            imp = self.import_of(owner, b.interface, b.function)
            self.same_type(owner, f, imp)
            flat = flatten_params(ft)
            if len(flat) > 16:
                raise UsageError(f"{owner}: Recurse needs at most 16 flat parameters")
            if not 0 <= b.depth_param < len(f.params):
                raise UsageError(f"{owner}: Recurse depth_param {b.depth_param} out of range")
            dt = f.params[b.depth_param][1]
            if not (isinstance(dt, Prim) and dt.name in _INTS - {"bool"}):
                raise UsageError(f"{owner}: the depth parameter must be an integer")
            at = sum(len(flatten(p)) for _, p in f.params[:b.depth_param])
            core = flat[at]
            args = [f"local.get {i}" if i != at else f"local.get {i} {core}.const 1 {core}.sub"
                    for i in range(len(params))]
            extra, call = self.call(imp, args)
            test = [f"local.get {at}", f"{core}.const 0",
                    f"{core}.gt_s" if dt.name in _SIGNED else f"{core}.ne"]
            block = f"if (result {results[0]})" if results else "if"
            return extra, [*test, block, *call, "else", *self.zero(ft), "end"]
        raise UsageError(f"{owner}: unknown behaviour {b!r}")

    def same_type(self, owner: str, f: MockFunction, imp: _Import) -> None:
        mine = ([t for _, t in f.params], f.result)
        theirs = ([t for _, t in imp.func.params], imp.func.result)
        if mine != theirs:
            raise UsageError(f"extension {self.ext.name!r}: {owner} forwards to "
                             f"{imp.iface.name}#{imp.func.name} of another type")

    def call(self, imp: _Import, args: list[str]) -> tuple[list[str], list[str]]:
        res = imp.func.result
        if res is not None and len(flatten(res)) > 1:  # through a return area
            alloc = ["i32.const 0", "i32.const 0", f"i32.const {alignment(res)}",
                     f"i32.const {size(res)}", "call $realloc", "local.set $ret"]
            return ["(local $ret i32)"], [*alloc, *args, "local.get $ret", f"call {imp.core_id}",
                                          "local.get $ret"]
        return [], [*args, f"call {imp.core_id}"]

    def zero(self, ft: FuncT) -> list[str]:
        if ft.result is None:
            return []
        flat = flatten(ft.result)
        if len(flat) == 1:
            return [_const(flat[0], 0)]
        return [f"i32.const {self.zero_area}"]

    def const(self, owner: str, f: MockFunction, value: Any) -> list[str]:
        if f.result is None:
            return []
        try:
            if len(flatten(f.result)) == 1:
                return [_const(c, bits) for c, bits in self.data.lower_flat(f.result, value)]
            addr = self.data.alloc(size(f.result), alignment(f.result))
            self.data.store(f.result, value, addr)
        except (UsageError, TypeError, ValueError, KeyError, AttributeError, struct.error,
                OverflowError) as e:
            raise UsageError(f"extension {self.ext.name!r}: {owner}: Const({value!r}) is not a "
                             f"value of the result type: {e}") from e
        return [f"i32.const {addr}"]

    def add(self, owner: str, f: MockFunction) -> list[str]:
        rt = f.result
        if not (isinstance(rt, Prim) and rt.name in _INTS):
            raise UsageError(f"{owner}: AddParams needs an integer result")
        core = flatten(rt)[0]
        code = [f"{core}.const 0"]
        for i, (_, p) in enumerate(f.params):
            if not (isinstance(p, Prim) and p.name in _INTS):
                raise UsageError(f"{owner}: AddParams needs integer parameters")
            pc = flatten(p)[0]
            code.append(f"local.get {i}")
            if pc == "i32" and core == "i64":
                code.append("i64.extend_i32_s" if p.name in _SIGNED else "i64.extend_i32_u")
            elif pc == "i64" and core == "i32":
                code.append("i32.wrap_i64")
            code.append(f"{core}.add")
        if len(f.params) > 16:
            raise UsageError(f"{owner}: AddParams takes at most 16 parameters")
        return code


def _sig(params: Sequence[str], results: Sequence[str]) -> str:
    out = ""
    if params:
        out += " (param " + " ".join(params) + ")"
    if results:
        out += " (result " + " ".join(results) + ")"
    return out


def _data_literal(data: bytes) -> str:
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:02x}"
                         for b in data) + '"'


# --------------------------------------------------------------------------- WAT: component

def to_wat(ext: MockExtension) -> str:
    """Component text for the declaration (accepted by `wasmtime.wat2wasm`)."""
    gen = _Gen(ext)
    imports = ext.all_imports()
    exports = ext.all_exports()
    _check_unique(ext, "import", [i.name for i in imports])
    _check_unique(ext, "export", [e.name for e in exports])
    out: list[str] = ["(component"]

    # component imports: nominal types declared and exported inside the instance type
    for k, mi in enumerate(imports):
        _check_unique(ext, f"function of {mi.name}", [f.name for f in mi.functions])
        ids: dict[ValueType, str] = {}
        decl = [f"  (import {_q(mi.name)} (instance $imp{k}"]
        for n, (tname, t) in enumerate(mi.named_types()):
            decl.append(f"    (type $d{n} {_wat_typedef(t, ids)})")
            decl.append(f"    (export {_q(tname)} (type $t{n} (eq $d{n})))")
            ids[t] = f"$t{n}"
        for f in mi.functions:
            decl.append(f"    (export {_q(f.name)} (func {_wat_functype(f, ids)}))")
            gen.imports[(mi.name, f.name)] = _Import(f"imp{k}", mi, f, f"$imp{k}_{_ident(f.name)}")
        out.append("\n".join(decl) + "))")

    # main module functions (bodies first: they lay out the static data)
    zero_size = max([size(f.result) for me in exports for f in me.functions if f.result is not None]
                    + [0])
    gen.zero_area = gen.data.alloc(max(zero_size, 8), 8)
    funcs: list[str] = []
    for k, me in enumerate(exports):
        _check_unique(ext, f"function of {me.name}", [f.name for f in me.functions])
        for j, f in enumerate(me.functions):
            owner = f"export {me.name}#{f.name}"
            params, results = func_core_signature(f.type, lift=True)
            extra, body = gen.body(owner, f)
            if me.name == LIFECYCLE and ext.log_on_init is not None:
                log = gen.imports[(LOG.name, "log")]
                msg = ext.log_on_init.encode("utf-8")
                body = ["i32.const 2", f"i32.const {gen.data.bytes_(msg)}", f"i32.const {len(msg)}",
                        f"call {log.core_id}", *body]
            funcs.append(f"    (func (export \"e{k}.{j}\"){_sig(params, results)}\n"
                         + "".join(f"      {x}\n" for x in extra)
                         + "".join(f"      {x}\n" for x in body) + "    )")
    heap = align_to(gen.data.end, 16)
    pages = heap // 65536 + 1

    out.append(f"""  (core module $libc
    (memory (export "memory") {pages})
    (global $bump (mut i32) (i32.const {heap}))
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
        (result i32)
      (local $p i32) (local $need i32)
      global.get $bump
      local.get $align i32.add i32.const 1 i32.sub
      i32.const 0 local.get $align i32.sub i32.and
      local.tee $p local.get $new_size i32.add global.set $bump
      global.get $bump i32.const 65535 i32.add i32.const 16 i32.shr_u memory.size i32.sub
      local.tee $need
      i32.const 0 i32.gt_s
      if
        local.get $need memory.grow i32.const -1 i32.eq
        if unreachable end
      end
      local.get $old
      if
        local.get $p local.get $old
        local.get $old_size local.get $new_size local.get $old_size local.get $new_size i32.lt_u select
        memory.copy
      end
      local.get $p)""")
    if gen.data.buf:
        out.append(f"    (data (i32.const {_Data.BASE}) {_data_literal(bytes(gen.data.buf))})")
    out[-1] += ")"
    out.append("  (core instance $libc (instantiate $libc))")
    out.append('  (alias core export $libc "memory" (core memory $mem))')
    out.append('  (alias core export $libc "realloc" (core func $realloc))')

    # lower every import with libc's memory and realloc
    opts = "(memory $mem) (realloc $realloc)"
    for k, mi in enumerate(imports):
        names = []
        for f in mi.functions:
            cid = gen.imports[(mi.name, f.name)].core_id
            out.append(f"  (alias export $imp{k} {_q(f.name)} (func {cid}_c))")
            out.append(f"  (core func {cid} (canon lower (func {cid}_c) {opts}))")
            names.append(f"(export {_q(f.name)} (func {cid}))")
        out.append(f"  (core instance $cimp{k} " + " ".join(names) + ")")

    main = ["  (core module $main",
            '    (import "libc" "memory" (memory 0))',
            '    (import "libc" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))']
    for imp in gen.imports.values():
        lp, lr = func_core_signature(imp.func.type, lift=False)
        main.append(f"    (import {_q(imp.module)} {_q(imp.func.name)} (func {imp.core_id}{_sig(lp, lr)}))")
    main.extend(funcs)
    out.append("\n".join(main) + ")")
    withs = ['(with "libc" (instance $libc))'] + [f'(with "imp{k}" (instance $cimp{k}))'
                                                  for k in range(len(imports))]
    out.append("  (core instance $main (instantiate $main " + " ".join(withs) + "))")

    # lift exports; nominal types defined at component level and exported with the instance
    for k, me in enumerate(exports):
        ids = {}
        inst = []
        for n, (tname, t) in enumerate(me.named_types()):
            out.append(f"  (type $x{k}_{n} {_wat_typedef(t, ids)})")
            ids[t] = f"$x{k}_{n}"
            inst.append(f"(export {_q(tname)} (type $x{k}_{n}))")
        for j, f in enumerate(me.functions):
            out.append(f'  (alias core export $main "e{k}.{j}" (core func $ce{k}_{j}))')
            lift = f"(canon lift (core func $ce{k}_{j}) {opts})"
            out.append(f"  (func $e{k}_{j} {_wat_functype(f, ids)} {lift})")
            inst.append(f"(export {_q(f.name)} (func $e{k}_{j}))")
        out.append(f"  (instance $exp{k} " + " ".join(inst) + ")")
        out.append(f"  (export {_q(me.name)} (instance $exp{k}))")
    out.append(")")
    return "\n".join(out) + "\n"


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _check_unique(ext: MockExtension, what: str, names: list[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise UsageError(f"extension {ext.name!r}: duplicate {what} {n!r}")
        seen.add(n)


# --------------------------------------------------------------------------- TOML + folder

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: `$` would accept a trailing newline


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _toml_str(k)


def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise UsageError(f"TOML cannot hold {v!r}")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) > 0 and all(isinstance(x, Mapping) for x in v)


def to_toml(doc: Mapping[str, Any], _prefix: str = "") -> str:
    """A small TOML writer for manifests: scalars, arrays, tables and arrays of tables."""
    lines: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, Mapping) and not _is_table_array(v):
            lines.append(f"{_toml_key(str(k))} = {_toml_value(v)}")
    for k, v in doc.items():
        path = f"{_prefix}.{_toml_key(str(k))}" if _prefix else _toml_key(str(k))
        if isinstance(v, Mapping):
            lines.append(f"\n[{path}]")
            body = to_toml(v, path)
            if body:
                lines.append(body.rstrip("\n"))
        elif _is_table_array(v):
            for item in v:
                lines.append(f"\n[[{path}]]")
                body = to_toml(item, path)
                if body:
                    lines.append(body.rstrip("\n"))
    text = "\n".join(lines)
    return text.lstrip("\n") + "\n" if text else ""


def write_extension(ext: MockExtension, folder: Path) -> Path:
    """Write `folder/<name>/extension.toml` and `<name>.wat`; return the extension folder."""
    root = Path(folder) / ext.name
    root.mkdir(parents=True, exist_ok=True)
    wat_name = f"{ext.name}.wat"
    (root / wat_name).write_text(to_wat(ext), encoding="utf-8")
    doc: dict[str, Any] = {"name": ext.name, "version": ext.version, "component": wat_name}
    for k, v in ext.manifest_extra.items():
        doc[k] = v
    (root / "extension.toml").write_text(to_toml(doc), encoding="utf-8")
    return root


def with_behaviour(f: MockFunction, behaviour: Behaviour) -> MockFunction:
    """The same function doing something else (e.g. a provider's function turned into a Trap)."""
    return replace(f, behaviour=behaviour)
