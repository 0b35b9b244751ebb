"""Hypothesis strategies for property tests of extension hosts.

Three families, each with the reference it is checked against:

* `wit_types()` draws component value types (the `_witypes` model) and
  `values(t)` draws values of a type in the host's Python mapping, which is
  wasmtime-py's: `Record` objects for records, tuples, lists (`bytes` for
  `list<u8>`), `str` for enums and chars, `set[str]` for flags, and for
  variants, options and results either a `Variant(tag, payload)` (when the type
  is *tagged*) or the bare payload (when it is not). `values_equal(t, a, b)`
  compares two values of `t` NaN-aware and with f32 rounding.
* `dependency_graphs()` draws extension dependency scenarios (`GraphScenario`)
  with optional cycles, missing imports, ambiguous providers, version skew and
  broken components; `GraphScenario.expected()` computes the outcome with a
  deliberately naive reference model, independent of `harness.pipeline._resolve`, and
  `materialize()` / `analysed()` turn a scenario into mock extensions on disk or
  into `Analysed` values for the resolver.

Why some values are never generated: wasmtime-py passes a variant-like value
*untagged* when the Python classes of its cases do not overlap (e.g.
`option<u32>` is `None` or an `int`, `result<string, u32>` is a `str` or an
`int`). It lowers such a value as the **first** case whose classes accept it by
`isinstance`, so some values of a correct type cannot be passed at all: `True`
for the `u32` case of `variant { a(u32), b(bool) }` goes to `a` (bool is an
int), and in `result<option<u32>, string>` every `str` is taken by `ok` (an
option accepts anything). `values()` only generates values wasmtime-py lowers as
the case they were drawn for, so a round trip is a fair test of the host.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ..model._diagnostics import Diagnostic
from ..model._names import classify
from ..model._records import Analysed, Candidate, Endpoint, Manifest
from ..model._witypes import (
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResultT,
    TupleT,
    ValueType,
    VariantT,
    cases_of,
)
from ..runtime import _values as _mapping
from ._dsl import Const, Forward, MockExtension, MockFunction, MockInterface
from ._manifest import write_extension

__all__ = [
    "SCALARS",
    "ExpectedResolution",
    "ExtraExport",
    "GraphEdge",
    "GraphNode",
    "GraphScenario",
    "dependency_graphs",
    "lib_interface",
    "permutations_of",
    "python_classes",
    "tagged",
    "values",
    "values_equal",
    "wit_types",
]

SCALARS: tuple[Prim, ...] = tuple(Prim(n) for n in (
    "bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64", "f32", "f64", "char", "string"))

_INT_RANGE = _mapping._INT_RANGES

# kebab-case labels: every fragment starts with a letter (the component model's rule)
_LABEL = st.from_regex(r"[a-z][a-z0-9]{0,4}(-[a-z][a-z0-9]{0,3})?", fullmatch=True)


# --------------------------------------------------------------------------- types

def _unique_labels(min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(_LABEL, min_size=min_size, max_size=max_size, unique=True)


def _flags(width: int) -> st.SearchStrategy[FlagsT]:
    small = _unique_labels(1, max(1, width)).map(lambda ns: FlagsT(tuple(ns)))
    # up to 32 flags: one, two or more i32 words are laid out differently
    big = st.integers(1, 32).map(lambda n: FlagsT(tuple(f"f{i}" for i in range(n))))
    return st.one_of(small, big)


@cache
def _types_at(depth: int, width: int) -> st.SearchStrategy[ValueType]:
    leaves: st.SearchStrategy[ValueType] = st.one_of(
        st.sampled_from(SCALARS),
        _unique_labels(1, max(1, width)).map(lambda ns: EnumT(tuple(ns))),
        _flags(width),
    )
    if depth <= 0:
        return leaves
    inner = _types_at(depth - 1, width)
    maybe = st.none() | inner
    composites: st.SearchStrategy[ValueType] = st.one_of(
        inner.map(ListT),
        inner.map(OptionT),
        st.tuples(maybe, maybe).map(lambda p: ResultT(*p)),
        st.lists(inner, min_size=1, max_size=width).map(lambda es: TupleT(tuple(es))),
        st.lists(st.tuples(_LABEL, inner), min_size=1, max_size=width, unique_by=lambda f: f[0])
        .map(lambda fs: RecordT(tuple(fs))),
        st.lists(st.tuples(_LABEL, maybe), min_size=1, max_size=width, unique_by=lambda c: c[0])
        .map(lambda cs: VariantT(tuple(cs))),
    )
    return st.one_of(leaves, composites)


def wit_types(max_depth: int = 3, max_width: int = 4) -> st.SearchStrategy[ValueType]:
    """Component value types: primitives (no error-context), strings, lists, records,
    tuples, variants, enums, flags (up to 32), options and results.

    `max_depth` bounds the nesting of composite types, `max_width` the number of
    fields, elements, cases and names of one type (flags may also get up to 32).
    Resources, futures and streams are not drawn: mock components cannot carry them.
    """
    if max_depth < 0 or max_width < 1:
        raise ValueError("max_depth must be >= 0 and max_width >= 1")
    return _types_at(max_depth, max_width)


# --------------------------------------------------------------------------- the Python mapping

def python_classes(t: ValueType | None) -> frozenset[type]:
    """The Python classes wasmtime-py uses for values of `t` (its `add_classes`);
    `object` stands for the `None` of a payload-less case. The rule lives in `harness.runtime._values`."""
    return frozenset({object}) if t is None else _mapping._classes(t)


def tagged(t: VariantT | OptionT | ResultT) -> bool:
    """Whether wasmtime-py represents `t` as `Variant(tag, payload)`: when the Python
    classes of two cases overlap (wasmtime-py's `_tagged`)."""
    return _mapping.is_tagged(t)


def _accepts(case: ValueType | None, v: Any) -> bool:
    """Would wasmtime-py lower `v` as this case of an untagged variant?"""
    if case is None:
        return v is None
    return isinstance(v, tuple(python_classes(case)))


def _reachable(cases: Sequence[tuple[str, ValueType | None]], j: int) -> bool:
    """Can any value of case j get past the earlier cases? (A static over-approximation;
    values are filtered one by one as well.)"""
    mine = python_classes(cases[j][1])
    for _, earlier in cases[:j]:
        if earlier is None:
            continue
        theirs = tuple(python_classes(earlier))
        if all(issubclass(m, theirs) for m in mine if m is not object) and (
                object not in mine or object in theirs):
            return False
    return True


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _tagger(name: str) -> Callable[[Any], Any]:
    from wasmtime.component import Variant

    return lambda payload: Variant(name, payload)


def _not_taken_by(earlier: list[ValueType | None]) -> Callable[[Any], bool]:
    return lambda v: not any(_accepts(e, v) for e in earlier)


@lru_cache(maxsize=4096)
def _values(t: ValueType, width: int) -> st.SearchStrategy[Any]:
    from wasmtime.component import Record, Variant

    if isinstance(t, Prim):
        n = t.name
        if n == "bool":
            return st.booleans()
        if n in _INT_RANGE:
            lo, hi = _INT_RANGE[n]
            return st.integers(lo, hi)
        if n == "f32":
            return st.floats(width=32)
        if n == "f64":
            return st.floats()
        chars = st.characters(exclude_categories=["Cs"])
        if n == "char":
            return chars
        if n == "string":
            return st.text(chars, max_size=4 * width)
        raise TypeError(f"no values for {n}")
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return st.binary(max_size=4 * width)
        return st.lists(_values(t.element, width), max_size=width)
    if isinstance(t, TupleT):
        return st.tuples(*(_values(e, width) for e in t.elements))
    if isinstance(t, RecordT):
        names = [n for n, _ in t.fields]

        def build(vals: tuple[Any, ...]) -> Any:
            r = Record()
            for n, v in zip(names, vals, strict=True):
                setattr(r, n, v)
            return r

        return st.tuples(*(_values(f, width) for _, f in t.fields)).map(build)
    if isinstance(t, EnumT):
        return st.sampled_from(t.names)
    if isinstance(t, FlagsT):
        return st.sets(st.sampled_from(t.names))
    if isinstance(t, VariantT | OptionT | ResultT):
        cases = cases_of(t)
        options: list[st.SearchStrategy[Any]] = []
        if tagged(t):
            for name, c in cases:
                if c is None:
                    options.append(st.just(Variant(name)))
                else:
                    options.append(_values(c, width).map(_tagger(name)))
            return st.one_of(options)
        for j, (_, c) in enumerate(cases):
            if not _reachable(cases, j):
                continue
            payload: st.SearchStrategy[Any] = st.none() if c is None else _values(c, width)
            options.append(payload.filter(_not_taken_by([e for _, e in cases[:j]])))
        return st.one_of(options)
    raise TypeError(f"no values for {t!r}")


def values(t: ValueType, max_width: int = 4) -> st.SearchStrategy[Any]:
    """Values of `t` in wasmtime-py's Python mapping that it can pass unambiguously.

    Floats include NaN and infinities (f32 values are exactly representable as
    f32); chars and strings exclude surrogates (not Unicode scalar values).
    `max_width` bounds list lengths (strings and bytes get four times as much).
    """
    return _values(t, max_width)


def _case_of(t: VariantT | OptionT | ResultT, v: Any) -> tuple[str, ValueType | None, Any] | None:
    cases = cases_of(t)
    if tagged(t):
        tag = getattr(v, "tag", None)
        for name, c in cases:
            if name == tag:
                return name, c, getattr(v, "payload", None)
        return None
    for name, c in cases:
        if _accepts(c, v):
            return name, c, v
    return None


def values_equal(t: ValueType | None, a: Any, b: Any) -> bool:
    """`a == b` for values of `t`: any NaN equals any NaN, f32 values compare after
    rounding to f32, records compare by field, untagged variants by case and payload."""
    if t is None:
        return a is None and b is None
    if isinstance(t, Prim):
        if t.name in ("f32", "f64"):
            if not isinstance(a, float | int) or not isinstance(b, float | int):
                return False
            fa, fb = float(a), float(b)
            if math.isnan(fa) or math.isnan(fb):
                return math.isnan(fa) and math.isnan(fb)
            return _f32(fa) == _f32(fb) if t.name == "f32" else fa == fb
        if t.name == "bool":
            return isinstance(a, bool) and isinstance(b, bool) and a == b
        return type(a) is type(b) and bool(a == b)
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return isinstance(a, bytes) and isinstance(b, bytes) and a == b
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(values_equal(t.element, x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(t, TupleT):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) == len(t.elements)
                and all(values_equal(e, x, y) for e, x, y in zip(t.elements, a, b, strict=True)))
    if isinstance(t, RecordT):
        missing = object()
        return all(values_equal(f, getattr(a, n, missing), getattr(b, n, missing)) for n, f in t.fields)
    if isinstance(t, EnumT):
        return isinstance(a, str) and a == b
    if isinstance(t, FlagsT):
        return isinstance(a, set | frozenset) and isinstance(b, set | frozenset) and set(a) == set(b)
    if isinstance(t, VariantT | OptionT | ResultT):
        ca, cb = _case_of(t, a), _case_of(t, b)
        if ca is None or cb is None or ca[0] != cb[0]:
            return False
        return values_equal(ca[1], ca[2], cb[2])
    return bool(a == b)


# --------------------------------------------------------------------------- dependency graphs

LIB_FUNCTION = MockFunction("id", (), Prim("u32"))


def lib_interface(owner: str, version: str) -> str:
    """The interface a scenario node named `owner` exports: `x:<owner>/lib@<version>`."""
    return f"x:{owner}/lib@{version}"


@dataclass(frozen=True)
class GraphNode:
    """An extension exporting `x:<name>/lib@<version>`; a `broken` one is an invalid
    component (it fails analysis, so its exports are unknown to resolution)."""

    name: str
    version: str
    broken: bool = False


@dataclass(frozen=True)
class GraphEdge:
    """`consumer` imports `x:<target>/lib@<version>`; `target` need not be a node."""

    consumer: str
    target: str
    version: str

    @property
    def interface(self) -> str:
        return lib_interface(self.target, self.version)


@dataclass(frozen=True)
class ExtraExport:
    """`node` also exports `x:<target>/lib@<version>` (a second, possibly ambiguous provider)."""

    node: str
    target: str
    version: str

    @property
    def interface(self) -> str:
        return lib_interface(self.target, self.version)


@dataclass(frozen=True)
class ExpectedResolution:
    """What a correct resolver reports for a scenario (computed by `GraphScenario.expected`)."""

    status: Mapping[str, str]  # node -> "ok" | "error" | "blocked"
    errors: Mapping[str, frozenset[str]]  # node -> error codes reported by resolution for it
    links: frozenset[tuple[str, str, str, str]]  # consumer, import, provider, export (all edges)
    missing: frozenset[tuple[str, str]]  # (consumer, import)
    ambiguous: frozenset[tuple[str, str]]
    older: frozenset[tuple[str, str]]  # (consumer, import) served by an older compatible provider
    cycles: Mapping[str, frozenset[str]]  # cycle member -> all members of its cycle(s)
    blocked: frozenset[str]
    broken: frozenset[str]
    ids: Mapping[tuple[str, str], int]  # (provider, export) -> what its `id` returns

    @property
    def ok(self) -> frozenset[str]:
        return frozenset(n for n, s in self.status.items() if s == "ok")


def _version_tuple(v: str) -> tuple[int, int, int]:
    a, b, c = v.split(".")
    return int(a), int(b), int(c)


def _compatible(imported: str, provided: str) -> bool:
    """The semver rule, written out plainly: same major if >0, else same minor if >0, else exact."""
    i, p = _version_tuple(imported), _version_tuple(provided)
    if i[0] > 0:
        return p[0] == i[0]
    if i[1] > 0:
        return p[0] == 0 and p[1] == i[1]
    return p == i


@dataclass(frozen=True)
class GraphScenario:
    """Extensions, who imports whose library at which version, and extra exports."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...] = ()
    extra_exports: tuple[ExtraExport, ...] = ()

    def node(self, name: str) -> GraphNode:
        return next(n for n in self.nodes if n.name == name)

    def exports_of(self, name: str) -> list[tuple[str, str]]:
        """(interface, version-owner) pairs: the node's own lib first, then its extras."""
        node = self.node(name)
        out = [(lib_interface(name, node.version), name)]
        out += [(x.interface, x.target) for x in self.extra_exports if x.node == name]
        return out

    def edges_of(self, name: str) -> list[GraphEdge]:
        return [e for e in self.edges if e.consumer == name]

    def ids(self) -> dict[tuple[str, str], int]:
        """What `id` returns for each (provider, export): 100 * node index + extra index."""
        out: dict[tuple[str, str], int] = {}
        for i, node in enumerate(self.nodes):
            for j, (iface_name, _) in enumerate(self.exports_of(node.name)):
                out[(node.name, iface_name)] = 100 * i + j
        return out

    # ---------------------------------------------------------------- materialising

    def mock(self, name: str) -> MockExtension:
        """The mock extension of a node: each export has `id`; its own lib also has
        `via<k>`, which forwards to `id` of its k-th import (the k-th edge)."""
        ids = self.ids()
        edges = self.edges_of(name)
        imports = tuple(MockInterface(e.interface, (LIB_FUNCTION,)) for e in edges)
        exports = []
        for j, (iface_name, _) in enumerate(self.exports_of(name)):
            funcs = [MockFunction("id", (), Prim("u32"), Const(ids[(name, iface_name)]))]
            if j == 0:
                funcs += [MockFunction(f"via{k}", (), Prim("u32"), Forward(e.interface, "id"))
                          for k, e in enumerate(edges)]
            exports.append(MockInterface(iface_name, tuple(funcs)))
        return MockExtension(name, version=self.node(name).version, exports=tuple(exports),
                             imports=imports)

    def materialize(self, folder: Path) -> dict[str, Path]:
        """Write every node as an extension folder under `folder`; broken nodes get an
        invalid `.wasm`. Returns the folders by node name."""
        out: dict[str, Path] = {}
        for node in self.nodes:
            if node.broken:
                root = Path(folder) / node.name
                root.mkdir(parents=True, exist_ok=True)
                (root / f"{node.name}.wasm").write_bytes(b"\0asm\x0d\0\x01\0broken")
                (root / "extension.toml").write_text(
                    f'name = "{node.name}"\nversion = "{node.version}"\ncomponent = "{node.name}.wasm"\n',
                    encoding="utf-8")
                out[node.name] = root
            else:
                out[node.name] = write_extension(self.mock(node.name), Path(folder))
        return out

    def analysed(self) -> tuple[list[Analysed], dict[str, Diagnostic]]:
        """The scenario as the analysis stage would report it (no compiling): the good
        nodes as `Analysed`, the broken ones as failures with `invalid-component`."""
        good: list[Analysed] = []
        failed: dict[str, Diagnostic] = {}
        for k, node in enumerate(self.nodes):
            if node.broken:
                failed[node.name] = Diagnostic("invalid-component", f"{node.name} is broken", node.name)
                continue
            m = self.mock(node.name)
            manifest = Manifest(name=node.name, version=node.version)
            cand = Candidate(node.name, Path(node.name), Path(node.name) / f"{node.name}.wat", "wat",
                             manifest, order=k)
            imports = tuple(Endpoint(i.name, classify(i.name), i.instance_type()) for i in m.all_imports())
            exports = tuple(Endpoint(e.name, classify(e.name), e.instance_type()) for e in m.all_exports())
            good.append(Analysed(cand, f"digest-{node.name}", imports, exports))
        return good, failed

    def via_results(self, expected: ExpectedResolution) -> dict[tuple[str, str], int]:
        """(consumer, `via<k>`) -> the id its k-th import must answer with, for `ok` consumers."""
        out: dict[tuple[str, str], int] = {}
        for consumer in sorted(expected.ok):
            for k, e in enumerate(self.edges_of(consumer)):
                link = next(x for x in expected.links if x[0] == consumer and x[1] == e.interface)
                out[(consumer, f"via{k}")] = expected.ids[(link[2], link[3])]
        return out

    # ---------------------------------------------------------------- the reference model

    def expected(self) -> ExpectedResolution:
        """The outcome by brute force: providers by scanning every export, cycles by
        reachability (u is on a cycle iff u reaches itself), blocking by reachability."""
        broken = {n.name for n in self.nodes if n.broken}
        good = [n.name for n in self.nodes if not n.broken]
        errors: dict[str, set[str]] = {n.name: set() for n in self.nodes}
        links: set[tuple[str, str, str, str]] = set()
        missing: set[tuple[str, str]] = set()
        ambiguous: set[tuple[str, str]] = set()
        older: set[tuple[str, str]] = set()
        succ: dict[str, set[str]] = {n: set() for n in good}
        for e in self.edges:
            if e.consumer in broken:
                continue
            providers = []
            for p in good:
                for iface_name, owner in self.exports_of(p):
                    version = iface_name.rpartition("@")[2]
                    if owner == e.target and _compatible(e.version, version):
                        providers.append((p, iface_name, version))
            if not providers:
                missing.add((e.consumer, e.interface))
                errors[e.consumer].add("missing-import")
            elif len(providers) > 1:
                ambiguous.add((e.consumer, e.interface))
                errors[e.consumer].add("ambiguous-provider")
            else:
                (p, iface_name, version) = providers[0]
                links.add((e.consumer, e.interface, p, iface_name))
                succ[e.consumer].add(p)
                if _version_tuple(version) < _version_tuple(e.version):
                    older.add((e.consumer, e.interface))

        def reach(start: str) -> set[str]:
            seen: set[str] = set()
            stack = list(succ[start])
            while stack:
                x = stack.pop()
                if x not in seen:
                    seen.add(x)
                    stack.extend(succ[x])
            return seen

        reaches = {n: reach(n) for n in good}
        cycles: dict[str, frozenset[str]] = {}
        for n in good:
            if n in reaches[n]:
                cycles[n] = frozenset({n} | {m for m in reaches[n] if n in reaches[m]})
                errors[n].add("cycle")
        failed = broken | {n for n in good if errors[n]}
        blocked = {n for n in good if n not in failed and reaches[n] & failed}
        status = {n: ("error" if n in failed else "blocked" if n in blocked else "ok")
                  for n in sorted(errors)}
        return ExpectedResolution(
            status=status,
            errors={n: frozenset(c) for n, c in errors.items()},
            links=frozenset(links), missing=frozenset(missing), ambiguous=frozenset(ambiguous),
            older=frozenset(older), cycles=cycles, blocked=frozenset(blocked), broken=frozenset(broken),
            ids=self.ids())


_POOL = ("alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lam", "mu",
         "nu", "xi", "omi", "pi")
_GHOSTS = ("ghost", "nobody")
VERSIONS = ("0.0.1", "0.0.2", "0.1.0", "0.1.3", "0.2.0", "1.0.0", "1.2.0", "1.4.1", "2.0.0")


@st.composite
def _scenario(draw: st.DrawFn, max_nodes: int, cycles: bool, missing: bool, ambiguous: bool,
              skew: bool, broken: bool) -> GraphScenario:
    names: list[str] = draw(st.lists(st.sampled_from(_POOL), min_size=1, max_size=max_nodes, unique=True))
    versions = {n: draw(st.sampled_from(VERSIONS)) for n in names}
    nodes = tuple(GraphNode(n, versions[n], broken=broken and draw(st.integers(0, 9)) == 9) for n in names)

    def imported_version(target_version: str) -> str:
        same = [v for v in VERSIONS if _compatible(v, target_version)]
        if skew and draw(st.integers(0, 5)) == 5:
            return draw(st.sampled_from(VERSIONS))  # anything, usually incompatible
        return draw(st.sampled_from(same))

    # every feature is drawn so that shrinking removes it (0 means "absent")
    edges: list[GraphEdge] = []
    for i, consumer in enumerate(names):
        # acyclic unless cycles: a node imports only nodes drawn before it
        targets = names if cycles else names[:i]
        for target in targets:
            if target == consumer and draw(st.integers(0, 7)) != 7:
                continue  # self-imports are rare
            if draw(st.integers(0, 2)) == 2:
                edges.append(GraphEdge(consumer, target, imported_version(versions[target])))
        if missing and draw(st.integers(0, 5)) == 5:
            edges.append(GraphEdge(consumer, draw(st.sampled_from(_GHOSTS)), draw(st.sampled_from(VERSIONS))))
    extras: list[ExtraExport] = []
    if ambiguous:
        for node_name in names:
            if draw(st.integers(0, 5)) == 5:
                target = draw(st.sampled_from([n for n in names if n != node_name] + list(_GHOSTS)))
                version = versions.get(target) or draw(st.sampled_from(VERSIONS))
                extras.append(ExtraExport(node_name, target, imported_version(version)))
    return GraphScenario(nodes, tuple(edges), tuple(extras))


def dependency_graphs(max_nodes: int = 6, *, cycles: bool = True, missing: bool = True,
                      ambiguous: bool = True, skew: bool = True,
                      broken: bool = True) -> st.SearchStrategy[GraphScenario]:
    """Scenarios of up to `max_nodes` extensions. Each feature can be switched off:
    `cycles` (back edges and self-imports), `missing` (imports of interfaces nobody
    exports), `ambiguous` (a second node exporting another's interface), `skew`
    (imported versions that may be incompatible, or newer than the provider's) and
    `broken` (nodes whose component is invalid)."""
    if not 1 <= max_nodes <= len(_POOL):
        raise ValueError(f"max_nodes must be between 1 and {len(_POOL)}")
    return _scenario(max_nodes, cycles, missing, ambiguous, skew, broken)


def permutations_of(items: Sequence[Any]) -> st.SearchStrategy[list[Any]]:
    """Orders of `items` (a thin alias of `st.permutations`, for discovery-order properties)."""
    return st.permutations(list(items))
