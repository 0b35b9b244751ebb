"""Component WAT for a mock-extension declaration (`to_wat`).

Tests need many small components (a provider, a consumer, one that traps, one
that loops, one that forwards an arbitrary type). Writing WAT by hand for each is
slow and error-prone, so a declaration says which interfaces a mock imports and
exports and what each function does (`_dsl`), and `to_wat` writes the component.

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

import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..model._errors import BadArgumentsError, UsageError
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
from ..runtime._values import to_python
from ._dsl import (
    LIFECYCLE,
    LOG,
    STRING,
    AddParams,
    Const,
    Dropped,
    Echo,
    Forward,
    GrowMemory,
    Live,
    Loop,
    MockExtension,
    MockFunction,
    MockInterface,
    New,
    Recurse,
    Rep,
    Reps,
    Trap,
    unversioned,
)

__all__ = ["to_wat"]

_INTS = {"bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"}
_SIGNED = {"s8", "s16", "s32", "s64"}


# --------------------------------------------------------------------------- WAT: types

def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rkey(t: HandleT) -> HandleT:
    """The key of a handle's resource type in `ids` (own and borrow share it)."""
    return HandleT("own", t.resource, t.interface)


def _wat_type(t: ValueType, ids: Mapping[ValueType, str]) -> str:
    """A value type in a type-use position; nominal types and resources by their `$id`."""
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, HandleT):
        rid = ids.get(_rkey(t))
        if rid is None:
            raise UsageError(f"{render(t)} of {t.interface}: the resource is not declared by this interface or, "
                             "for an export, by one the mock imports")
        return f"({t.kind} {rid})"
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


def _mapped(t: ValueType, value: Any, subject: str) -> Any:
    """`value` as the mapping's Python value of `t` (docs/values.md), the JSON forms read and every
    part checked; the older wasmtime-py forms (`Variant` objects, `(tag, payload)` tuples) are
    passed on as given, so what does not fit either is refused with the mapping's words."""
    try:
        return to_python(value, t)
    except BadArgumentsError as e:
        if _legacy(value):
            return value
        raise UsageError(f"{subject} is not a value of the result type {render(t)}: {e.message}") from None


def _legacy(v: Any) -> bool:
    """Whether `v` holds a value only wasmtime-py's representation uses (a `Variant`-like object
    with a tag, a `(tag, payload)` tuple, an object with attributes for a record)."""
    if hasattr(v, "tag") or (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)):
        return True
    if isinstance(v, Mapping):
        return any(_legacy(x) for x in v.values())
    if isinstance(v, list | tuple):
        return any(_legacy(x) for x in v)
    return not isinstance(v, str | bytes | int | float | bool | set | frozenset) and v is not None


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
    names = [n for n, _ in cases_of(t)]
    tag: Any
    if isinstance(v, Mapping) and isinstance(t, ResultT) and len(v) == 1 and set(v) <= {"ok", "err"}:
        ((tag, payload),) = v.items()  # the mapping: {"ok": v} / {"err": e}
    elif isinstance(v, Mapping) and isinstance(t, VariantT) and "tag" in v:
        tag, payload = v["tag"], v.get("value")  # the mapping: {"tag": case, "value": v}
    elif isinstance(v, Mapping) and isinstance(t, OptionT) and isinstance(t.payload, OptionT) and set(v) == {"some"}:
        tag, payload = "some", v["some"]  # the mapping of a nested option: {"some": v}
    elif hasattr(v, "tag"):
        tag, payload = v.tag, getattr(v, "payload", None)
    elif isinstance(t, EnumT) or (isinstance(t, VariantT) and isinstance(v, str)):
        tag, payload = v, None
    elif isinstance(t, OptionT):
        tag, payload = ("none", None) if v is None else ("some", v)
    elif isinstance(v, tuple) and len(v) == 2:
        tag, payload = v
    else:
        raise UsageError(f"cannot tell the case of {v!r}; write it as docs/values.md does "
                         '({"ok": v}, {"tag": case, "value": v}, ...)')
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
        self.defined: dict[HandleT, int] = {}  # resources the mock's exports define → their number
        self.imported: dict[HandleT, int] = {}  # resources of its imports → their number

    def import_of(self, owner: str, interface: str, function: str) -> _Import:
        imp = self.imports.get((interface, function))
        if imp is None:
            raise UsageError(f"extension {self.ext.name!r}: {owner} uses {interface}#{function}, "
                             "which the mock does not import; add it to `imports`")
        return imp

    def body(self, owner: str, f: MockFunction, here: str = "") -> tuple[list[str], list[str]]:
        """(extra locals, instructions) of the lifted core function of `f` (of interface `here`)."""
        ft = f.type
        params, results = func_core_signature(ft, lift=True)
        b = f.behaviour
        if isinstance(b, New | Rep | Reps | Live | Dropped | Echo):
            return self.resource_body(owner, f, here)
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
            extra, code = self.call(imp, args)
            walk_locals, drops = self.drop_borrows(f)
            return [*extra, *walk_locals], [*code, *drops]
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

    def resource_body(self, owner: str, f: MockFunction, here: str) -> tuple[list[str], list[str]]:
        b = f.behaviour
        if isinstance(b, Echo):
            return self.echo(owner, f)
        if isinstance(b, Reps):
            return self.reps(owner, f)
        res = f.result
        if isinstance(b, New):
            g = self.defined.get(_rkey(res)) if isinstance(res, HandleT) and res.kind == "own" else None
            if g is None:
                raise UsageError(f"extension {self.ext.name!r}: {owner}: New needs the result own<r> of a resource "
                                 "this interface defines")
            return [], [f"global.get $next{g}", "i32.const 1", "i32.add", f"global.set $next{g}",
                        f"global.get $live{g}", "i32.const 1", "i32.add", f"global.set $live{g}",
                        f"global.get $next{g}", f"call $new{g}"]
        if not (isinstance(res, Prim) and res.name in _INTS - {"bool"}):
            raise UsageError(f"extension {self.ext.name!r}: {owner}: {type(b).__name__} needs an integer result")
        widen = ["i64.extend_i32_u"] if flatten(res)[0] == "i64" else []
        if isinstance(b, Live | Dropped):
            g = self.defined.get(HandleT("own", b.resource, here))
            if g is None:
                raise UsageError(f"extension {self.ext.name!r}: {owner}: this interface defines no resource "
                                 f"{b.resource!r}")
            return [], [f"global.get ${'live' if isinstance(b, Live) else 'drops'}{g}", *widen]
        found = _static_handles(f.params[0][1]) if f.params else []
        first = found[0][2] if found else None
        g = self.defined.get(_rkey(first)) if first is not None else None
        if g is None or first is None or len(flatten_params(f.type)) > 16:
            raise UsageError(f"extension {self.ext.name!r}: {owner}: Rep needs a first parameter that is (or holds, "
                             "in a record or tuple) a handle of a resource this interface defines, and at most 16 "
                             "flat parameters")
        at = found[0][0]
        if first.kind == "borrow":  # a borrow of its own resource arrives as the rep
            return [], [f"local.get {at}", *widen]
        return ["(local $r i32)"], [f"local.get {at}", f"call $rep{g}", "local.set $r", f"local.get {at}",
                                    f"call $drop{g}", "local.get $r", *widen]

    def echo(self, owner: str, f: MockFunction) -> tuple[list[str], list[str]]:
        """Return the first parameter: one flat value as it is, more through a return area in the result's
        layout (the parameters in memory already are: their first one is at offset 0)."""
        res = f.result
        if not f.params or f.params[0][1] != res or res is None:
            raise UsageError(f"extension {self.ext.name!r}: {owner}: Echo needs a result of the first parameter's type")
        n = len(flatten(res))
        by_pointer = len(flatten_params(f.type)) > 16
        if by_pointer:
            if n == 1:
                raise UsageError(f"extension {self.ext.name!r}: {owner}: Echo of a one-value type needs at most 16 "
                                 "flat parameters")
            return [], ["local.get 0"]
        if n == 1:
            return [], ["local.get 0"]
        vals = [[f"local.get {i}"] for i in range(n)]
        alloc = ["i32.const 0", "i32.const 0", f"i32.const {alignment(res)}", f"i32.const {size(res)}",
                 "call $realloc", "local.set $ret"]
        return ["(local $ret i32)"], [*alloc, *_store_flat(res, vals, 0), "local.get $ret"]

    def drop_borrows(self, f: MockFunction) -> tuple[list[str], list[str]]:
        """(locals, code): a borrow of another component's resource is a handle the callee must drop
        before it returns, wherever it sits in the parameters."""
        def act(h: HandleT) -> list[str] | None:
            k = self.imported.get(_rkey(h))
            return None if h.kind != "borrow" or k is None else [f"call $idrop{k}"]
        walk = _Walk(act)
        return walk.locals, walk.params(f)

    def reps(self, owner: str, f: MockFunction) -> tuple[list[str], list[str]]:
        """`Reps()`: the sum of the reps of the handles of this component's resources in the parameters;
        an `own` one is dropped once counted."""
        def act(h: HandleT) -> list[str] | None:
            g = self.defined.get(_rkey(h))
            if g is None:
                return None
            if h.kind == "borrow":  # a borrow of its own resource arrives as the rep
                return ["local.get $acc", "i32.add", "local.set $acc"]
            return ["local.tee $tmp", f"call $rep{g}", "local.get $acc", "i32.add", "local.set $acc",
                    "local.get $tmp", f"call $drop{g}"]
        res = f.result
        if not (isinstance(res, Prim) and res.name in _INTS - {"bool"}):
            raise UsageError(f"extension {self.ext.name!r}: {owner}: Reps needs an integer result")
        walk = _Walk(act)
        code = walk.params(f)
        widen = ["i64.extend_i32_u"] if flatten(res)[0] == "i64" else []
        return ["(local $acc i32)", "(local $tmp i32)", *walk.locals], [*code, "local.get $acc", *widen]

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
        value = _mapped(f.result, value, f"extension {self.ext.name!r}: {owner}: Const({value!r})")
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


_STORE = {"bool": "i32.store8", "s8": "i32.store8", "u8": "i32.store8", "s16": "i32.store16",
          "u16": "i32.store16", "s32": "i32.store", "u32": "i32.store", "char": "i32.store", "s64": "i64.store",
          "u64": "i64.store", "f32": "f32.store", "f64": "f64.store"}
_STORE_BY_SIZE = {1: "i32.store8", 2: "i32.store16", 4: "i32.store"}


def _coerce(have: str, want: str) -> list[str]:
    """A variant's joined flat value back to the core type of its case (CanonicalABI `lift_flat_variant`)."""
    if have == want:
        return []
    return {("i64", "i32"): ["i32.wrap_i64"], ("i32", "f32"): ["f32.reinterpret_i32"],
            ("i64", "f32"): ["i32.wrap_i64", "f32.reinterpret_i32"],
            ("i64", "f64"): ["f64.reinterpret_i64"]}[(have, want)]


def _store_flat(t: ValueType, vals: list[list[str]], off: int) -> list[str]:
    """Store a value of `t`, given as its flat values (instructions pushing each), at `$ret` + `off`."""
    def put(op: str, val: list[str], at: int) -> list[str]:
        return ["local.get $ret", *val, f"{op} offset={at}"]
    if isinstance(t, Prim):
        if t.name == "string":
            return put("i32.store", vals[0], off) + put("i32.store", vals[1], off + 4)
        return put(_STORE[t.name], vals[0], off)
    if isinstance(t, HandleT):
        return put("i32.store", vals[0], off)
    if isinstance(t, ListT):
        return put("i32.store", vals[0], off) + put("i32.store", vals[1], off + 4)
    if isinstance(t, FlagsT):
        if size(t) < 4:
            return put(_STORE_BY_SIZE[size(t)], vals[0], off)
        return [x for i, v in enumerate(vals) for x in put("i32.store", v, off + 4 * i)]
    if isinstance(t, RecordT | TupleT):
        members = [f for _, f in t.fields] if isinstance(t, RecordT) else list(t.elements)
        out: list[str] = []
        at, i = 0, 0
        for m in members:
            at = align_to(at, alignment(m))
            n = len(flatten(m))
            out += _store_flat(m, vals[i:i + n], off + at)
            at += size(m)
            i += n
        return out
    assert isinstance(t, VariantT | EnumT | OptionT | ResultT), t
    cases = case_types(t)
    dsize = discriminant_size(len(cases))
    out = put(_STORE_BY_SIZE[dsize], vals[0], off)
    joined = flatten(t)[1:]
    payload_at = off + align_to(dsize, max((alignment(c) for c in cases if c is not None), default=1))
    for j, c in enumerate(cases):
        if c is None:
            continue
        wanted = flatten(c)
        mine = [[*vals[1 + i], *_coerce(joined[i], w)] for i, w in enumerate(wanted)]
        out += [*vals[0], f"i32.const {j}", "i32.eq", "if", *_store_flat(c, mine, payload_at), "end"]
    return out


def _static_handles(t: ValueType) -> list[tuple[int, int, HandleT]]:
    """(flat index, memory offset, handle) of each handle in `t` outside lists and variants."""
    if isinstance(t, HandleT):
        return [(0, 0, t)]
    if isinstance(t, RecordT | TupleT):
        members = [f for _, f in t.fields] if isinstance(t, RecordT) else list(t.elements)
        out, flat_at, mem_at = [], 0, 0
        for m in members:
            mem_at = align_to(mem_at, alignment(m))
            out += [(flat_at + a, mem_at + b, h) for a, b, h in _static_handles(m)]
            flat_at += len(flatten(m))
            mem_at += size(m)
        return out
    return []


def _handles_in(t: ValueType | None) -> list[HandleT]:
    if isinstance(t, HandleT):
        return [t]
    if isinstance(t, ListT):
        return _handles_in(t.element)
    if isinstance(t, OptionT):
        return _handles_in(t.payload)
    if isinstance(t, ResultT):
        return _handles_in(t.ok) + _handles_in(t.err)
    if isinstance(t, TupleT):
        return [h for e in t.elements for h in _handles_in(e)]
    if isinstance(t, RecordT):
        return [h for _, f in t.fields for h in _handles_in(f)]
    if isinstance(t, VariantT):
        return [h for _, c in t.cases for h in _handles_in(c)]
    return []


_LOAD_BY_SIZE = {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}


class _Walk:
    """Code visiting each handle in a value wherever it sits (variant cases by their discriminant, list
    elements in a loop): `act(handle type)` is the code that consumes the handle's i32 from the stack,
    None for handles to leave alone. `locals` are the locals the loops need."""

    def __init__(self, act: Callable[[HandleT], list[str] | None]) -> None:
        self.act = act
        self.locals: list[str] = []

    def wanted(self, t: ValueType | None) -> bool:
        return any(self.act(h) is not None for h in _handles_in(t))

    def params(self, f: MockFunction) -> list[str]:
        """Every handle of the lifted function's parameters: flat locals, or the tuple `local 0` points to."""
        if len(flatten_params(f.type)) > 16:
            return self.memory(TupleT(tuple(t for _, t in f.params)), ["local.get 0"], 0)
        out: list[str] = []
        at = 0
        for _, t in f.params:
            n = len(flatten(t))
            out += self.flat(t, [[f"local.get {i}"] for i in range(at, at + n)])
            at += n
        return out

    def flat(self, t: ValueType, vals: list[list[str]]) -> list[str]:
        if not self.wanted(t):
            return []
        if isinstance(t, HandleT):
            return [*vals[0], *(self.act(t) or [])]
        if isinstance(t, ListT):
            return self.loop(t.element, vals[0], vals[1])
        if isinstance(t, RecordT | TupleT):
            members = [f for _, f in t.fields] if isinstance(t, RecordT) else list(t.elements)
            out: list[str] = []
            i = 0
            for m in members:
                n = len(flatten(m))
                out += self.flat(m, vals[i:i + n])
                i += n
            return out
        assert isinstance(t, VariantT | OptionT | ResultT), t
        joined = flatten(t)[1:]
        code: list[str] = []
        for j, c in enumerate(case_types(t)):
            if c is not None and self.wanted(c):
                mine = [[*vals[1 + i], *_coerce(joined[i], w)] for i, w in enumerate(flatten(c))]
                code += [*vals[0], f"i32.const {j}", "i32.eq", "if", *self.flat(c, mine), "end"]
        return code

    def memory(self, t: ValueType, addr: list[str], off: int) -> list[str]:
        if not self.wanted(t):
            return []
        if isinstance(t, HandleT):
            return [*addr, f"i32.load offset={off}", *(self.act(t) or [])]
        if isinstance(t, ListT):
            return self.loop(t.element, [*addr, f"i32.load offset={off}"], [*addr, f"i32.load offset={off + 4}"])
        if isinstance(t, RecordT | TupleT):
            members = [f for _, f in t.fields] if isinstance(t, RecordT) else list(t.elements)
            out: list[str] = []
            at = 0
            for m in members:
                at = align_to(at, alignment(m))
                out += self.memory(m, addr, off + at)
                at += size(m)
            return out
        assert isinstance(t, VariantT | OptionT | ResultT), t
        cases = case_types(t)
        dsize = discriminant_size(len(cases))
        payload_at = off + align_to(dsize, max((alignment(c) for c in cases if c is not None), default=1))
        code: list[str] = []
        for j, c in enumerate(cases):
            if c is not None and self.wanted(c):
                code += [*addr, f"{_LOAD_BY_SIZE[dsize]} offset={off}", f"i32.const {j}", "i32.eq", "if",
                         *self.memory(c, addr, payload_at), "end"]
        return code

    def loop(self, element: ValueType, ptr: list[str], n: list[str]) -> list[str]:
        d = len(self.locals) // 2
        self.locals += [f"(local $wp{d} i32)", f"(local $wn{d} i32)"]
        return [*n, f"local.set $wn{d}", *ptr, f"local.set $wp{d}", f"block $wb{d}", f"loop $wl{d}",
                f"local.get $wn{d}", "i32.eqz", f"br_if $wb{d}",
                *self.memory(element, [f"local.get $wp{d}"], 0),
                f"local.get $wp{d}", f"i32.const {size(element)}", "i32.add", f"local.set $wp{d}",
                f"local.get $wn{d}", "i32.const 1", "i32.sub", f"local.set $wn{d}",
                f"br $wl{d}", "end", "end"]


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
    imports = ext.all_imports()
    exports = ext.all_exports()
    _check_names(ext, imports, exports)
    gen = _Gen(ext)
    for mi in imports:
        for r in mi.resources:
            gen.imported.setdefault(HandleT("own", r, unversioned(mi.name)), len(gen.imported))
    for me in exports:
        for r in me.resources:
            gen.defined.setdefault(HandleT("own", r, unversioned(me.name)), len(gen.defined))
    out = ["(component"]
    out += [_import_decl(gen, k, mi) for k, mi in enumerate(imports)]
    funcs = _export_funcs(gen, exports)  # before libc: the bodies lay out the static data
    out.append(_libc_module(gen.data, len(gen.defined)))
    out += _libc_instance()
    out += _resource_decls(gen, imports)
    out += _lowered_imports(gen, imports)
    out.append(_main_module(gen, funcs))
    out.append(_main_instance(len(imports), bool(gen.defined or gen.imported)))
    out += _lifted_exports(gen, exports)
    out.append(")")
    return "\n".join(out) + "\n"


_OPTS = "(memory $mem) (realloc $realloc)"  # canonical options of every lift and lower


def _check_names(ext: MockExtension, imports: Sequence[MockInterface], exports: Sequence[MockInterface]) -> None:
    """Interfaces and functions are named once each (WAT would reject a duplicate export less clearly)."""
    _check_unique(ext, "import", [i.name for i in imports])
    _check_unique(ext, "export", [e.name for e in exports])
    for mi in (*imports, *exports):
        _check_unique(ext, f"function of {mi.name}", [f.name for f in mi.functions])


def _import_decl(gen: _Gen, k: int, mi: MockInterface) -> str:
    """A component import; its nominal types are declared and exported inside the instance type."""
    ids: dict[ValueType, str] = {}
    decl = [f"  (import {_q(mi.name)} (instance $imp{k}"]
    for i, r in enumerate(mi.resources):
        decl.append(f"    (export {_q(r)} (type $c{i} (sub resource)))")
        ids[HandleT("own", r, unversioned(mi.name))] = f"$c{i}"
    for n, (tname, t) in enumerate(mi.named_types()):
        decl.append(f"    (type $d{n} {_wat_typedef(t, ids)})")
        decl.append(f"    (export {_q(tname)} (type $t{n} (eq $d{n})))")
        ids[t] = f"$t{n}"
    for f in mi.functions:
        decl.append(f"    (export {_q(f.name)} (func {_wat_functype(f, ids)}))")
        gen.imports[(mi.name, f.name)] = _Import(f"imp{k}", mi, f, f"$imp{k}_{_ident(f.name)}")
    return "\n".join(decl) + "))"


def _export_funcs(gen: _Gen, exports: Sequence[MockInterface]) -> list[str]:
    """The main module's core functions, one per exported function (`e<k>.<j>`)."""
    zero_size = max([size(f.result) for me in exports for f in me.functions if f.result is not None] + [0])
    gen.zero_area = gen.data.alloc(max(zero_size, 8), 8)
    funcs: list[str] = []
    for k, me in enumerate(exports):
        for j, f in enumerate(me.functions):
            params, results = func_core_signature(f.type, lift=True)
            extra, body = gen.body(f"export {me.name}#{f.name}", f, unversioned(me.name))
            if me.name == LIFECYCLE and gen.ext.log_on_init is not None:
                body = [*_log_call(gen, gen.ext.log_on_init), *body]
            funcs.append(f"    (func (export \"e{k}.{j}\"){_sig(params, results)}\n"
                         + "".join(f"      {x}\n" for x in extra)
                         + "".join(f"      {x}\n" for x in body) + "    )")
    return funcs


def _log_call(gen: _Gen, message: str) -> list[str]:
    """Log `message` at `info` through the imported `ext:host/log`."""
    log = gen.imports[(LOG.name, "log")]
    msg = message.encode("utf-8")
    return ["i32.const 2", f"i32.const {gen.data.bytes_(msg)}", f"i32.const {len(msg)}", f"call {log.core_id}"]


def _libc_module(data: _Data, n_resources: int = 0) -> str:
    """Memory, a bump allocator `realloc` and the static data; instantiated first so imports can be
    lowered with its memory and realloc. Also, per resource the exports define, its counters (next rep,
    live, dropped) and its destructor, which must exist before the resource type does."""
    heap = align_to(data.end, 16)
    pages = heap // 65536 + 1
    counters = "".join(
        f"""
    (global $next{g} (export "next{g}") (mut i32) (i32.const 0))
    (global $live{g} (export "live{g}") (mut i32) (i32.const 0))
    (global $drops{g} (export "drops{g}") (mut i32) (i32.const 0))
    (func (export "dtor{g}") (param i32)
      (global.set $live{g} (i32.sub (global.get $live{g}) (i32.const 1)))
      (global.set $drops{g} (i32.add (global.get $drops{g}) (i32.const 1))))"""
        for g in range(n_resources))
    text = f"""  (core module $libc
    (memory (export "memory") {pages}){counters}
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
      local.get $p)"""
    if data.buf:
        text += f"\n    (data (i32.const {_Data.BASE}) {_data_literal(bytes(data.buf))})"
    return text + ")"


def _libc_instance() -> list[str]:
    return ["  (core instance $libc (instantiate $libc))",
            '  (alias core export $libc "memory" (core memory $mem))',
            '  (alias core export $libc "realloc" (core func $realloc))']


def _resource_decls(gen: _Gen, imports: Sequence[MockInterface]) -> list[str]:
    """Resource types: those of the exports defined here (rep i32, libc's destructor), those of the
    imports aliased; `resource.new/rep/drop` of the first and `resource.drop` of the second, as core
    instance `res` of main."""
    out: list[str] = []
    names: list[str] = []
    for g in gen.defined.values():
        out.append(f'  (type $R{g} (resource (rep i32) (dtor (core func $libc "dtor{g}"))))')
        for op in ("new", "rep", "drop"):
            out.append(f"  (core func $r{op}{g} (canon resource.{op} $R{g}))")
            names.append(f'(export "{op}{g}" (func $r{op}{g}))')
    for h, k in gen.imported.items():
        owner = next(i for i, mi in enumerate(imports) if unversioned(mi.name) == h.interface)
        out.append(f"  (alias export $imp{owner} {_q(h.resource)} (type $I{k}))")
        out.append(f"  (core func $ridrop{k} (canon resource.drop $I{k}))")
        names.append(f'(export "idrop{k}" (func $ridrop{k}))')
    if names:
        out.append("  (core instance $cres " + " ".join(names) + ")")
    return out


def _lowered_imports(gen: _Gen, imports: Sequence[MockInterface]) -> list[str]:
    """Every imported function lowered with libc's memory and realloc, one core instance per import."""
    out: list[str] = []
    for k, mi in enumerate(imports):
        names = []
        for f in mi.functions:
            cid = gen.imports[(mi.name, f.name)].core_id
            out.append(f"  (alias export $imp{k} {_q(f.name)} (func {cid}_c))")
            out.append(f"  (core func {cid} (canon lower (func {cid}_c) {_OPTS}))")
            names.append(f"(export {_q(f.name)} (func {cid}))")
        out.append(f"  (core instance $cimp{k} " + " ".join(names) + ")")
    return out


def _main_module(gen: _Gen, funcs: list[str]) -> str:
    main = ["  (core module $main",
            '    (import "libc" "memory" (memory 0))',
            '    (import "libc" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))']
    for imp in gen.imports.values():
        lp, lr = func_core_signature(imp.func.type, lift=False)
        main.append(f"    (import {_q(imp.module)} {_q(imp.func.name)} (func {imp.core_id}{_sig(lp, lr)}))")
    for g in gen.defined.values():
        main += [f'    (import "libc" "{c}{g}" (global ${c}{g} (mut i32)))' for c in ("next", "live", "drops")]
        main += [f'    (import "res" "new{g}" (func $new{g} (param i32) (result i32)))',
                 f'    (import "res" "rep{g}" (func $rep{g} (param i32) (result i32)))',
                 f'    (import "res" "drop{g}" (func $drop{g} (param i32)))']
    for k in gen.imported.values():
        main.append(f'    (import "res" "idrop{k}" (func $idrop{k} (param i32)))')
    main.extend(funcs)
    return "\n".join(main) + ")"


def _main_instance(n_imports: int, resources: bool = False) -> str:
    withs = ['(with "libc" (instance $libc))'] + [f'(with "imp{k}" (instance $cimp{k}))'
                                                  for k in range(n_imports)]
    if resources:
        withs.append('(with "res" (instance $cres))')
    return "  (core instance $main (instantiate $main " + " ".join(withs) + "))"


def _lifted_exports(gen: _Gen, exports: Sequence[MockInterface]) -> list[str]:
    """Exports lifted; nominal types defined at component level and exported with the instance."""
    out: list[str] = []
    handles: dict[ValueType, str] = {h: f"$I{k}" for h, k in gen.imported.items()}
    handles.update({h: f"$R{g}" for h, g in gen.defined.items()})
    for k, me in enumerate(exports):
        ids: dict[ValueType, str] = dict(handles)
        if me.resources:
            out += _resource_interface(gen, k, me, ids)
            continue
        inst = []
        for n, (tname, t) in enumerate(me.named_types()):
            out.append(f"  (type $x{k}_{n} {_wat_typedef(t, ids)})")
            ids[t] = f"$x{k}_{n}"
            inst.append(f"(export {_q(tname)} (type $x{k}_{n}))")
        for j, f in enumerate(me.functions):
            out.append(f'  (alias core export $main "e{k}.{j}" (core func $ce{k}_{j}))')
            lift = f"(canon lift (core func $ce{k}_{j}) {_OPTS})"
            out.append(f"  (func $e{k}_{j} {_wat_functype(f, ids)} {lift})")
            inst.append(f"(export {_q(f.name)} (func $e{k}_{j}))")
        out.append(f"  (instance $exp{k} " + " ".join(inst) + ")")
        out.append(f"  (export {_q(me.name)} (instance $exp{k}))")
    return out


def _resource_interface(gen: _Gen, k: int, me: MockInterface, ids: dict[ValueType, str]) -> list[str]:
    """An exported interface that defines resources: its functions lifted, then an inner component
    that imports them with the resource types and exports them again, typed against the exported
    resources (a function of an exported instance must name its resources there)."""
    out: list[str] = []
    here = unversioned(me.name)
    named = me.named_types()
    for n, (_, t) in enumerate(named):
        out.append(f"  (type $x{k}_{n} {_wat_typedef(t, ids)})")
        ids[t] = f"$x{k}_{n}"
    for j, f in enumerate(me.functions):
        out.append(f'  (alias core export $main "e{k}.{j}" (core func $ce{k}_{j}))')
        out.append(f"  (func $e{k}_{j} {_wat_functype(f, ids)} (canon lift (core func $ce{k}_{j}) {_OPTS}))")
    mine = {HandleT("own", r, here) for r in me.resources}
    for f in me.functions:
        for t in (*(p for _, p in f.params), *([] if f.result is None else [f.result])):
            mine |= {_rkey(h) for h in _handles_in(t)}
    used = [h for h in ids if isinstance(h, HandleT) and h in mine]
    inner = [f"  (component $C{k}"]
    inside: dict[ValueType, str] = {}
    withs: list[str] = []
    for i, h in enumerate(used):
        inner.append(f'    (import "r{i}" (type $ri{i} (sub resource)))')
        inside[h] = f"$ri{i}"
        withs.append(f'(with "r{i}" (type {ids[h]}))')
    for n, (_, t) in enumerate(named):  # imported as well: an import may only name imported types
        inner.append(f"    (type $d{n} {_wat_typedef(t, inside)})")
        inner.append(f'    (import "t{n}" (type $a{n} (eq $d{n})))')
        inside[t] = f"$a{n}"
        withs.append(f'(with "t{n}" (type $x{k}_{n}))')
    for j, f in enumerate(me.functions):
        inner.append(f'    (import "f{j}" (func $f{j} {_wat_functype(f, inside)}))')
        withs.append(f'(with "f{j}" (func $e{k}_{j}))')
    exported: dict[ValueType, str] = dict(inside)
    for i, h in enumerate(used):
        if h.interface == here:
            inner.append(f"    (export $re{i} {_q(h.resource)} (type $ri{i}))")
            exported[h] = f"$re{i}"
    for n, (tname, t) in enumerate(named):
        inner.append(f"    (type $b{n} {_wat_typedef(t, exported)})")
        inner.append(f"    (export $be{n} {_q(tname)} (type $b{n}))")
        exported[t] = f"$be{n}"
    for j, f in enumerate(me.functions):
        inner.append(f"    (export {_q(f.name)} (func $f{j}) (func {_wat_functype(f, exported)}))")
    out.append("\n".join(inner) + ")")
    out.append(f"  (instance $exp{k} (instantiate $C{k} " + " ".join(withs) + "))")
    out.append(f"  (export {_q(me.name)} (instance $exp{k}))")
    return out


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _check_unique(ext: MockExtension, what: str, names: list[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise UsageError(f"extension {ext.name!r}: duplicate {what} {n!r}")
        seen.add(n)
