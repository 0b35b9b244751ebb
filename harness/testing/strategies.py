"""Hypothesis strategies for property tests of extension hosts.

Three families, each with the reference it is checked against:

* `wit_types()` draws component value types (the `_witypes` model) and
  `values(t)` draws values of a type in the host's value mapping (docs/values.md):
  dicts for records, `{"ok": v}`/`{"err": e}` for results, `{"tag": case, "value": v}`
  for variants, `None` or the value for options (`{"some": v}` when nested), frozensets
  for flags, tuples, lists (`bytes` for `list<u8>`), `str` for enums and chars.
  `values_equal(t, a, b)` compares two values of `t` NaN-aware and with f32 rounding;
  without NaN, `==` is the comparison.
* `dependency_graphs()` draws extension dependency scenarios (`harness.testing.GraphScenario`,
  the model the `scenario` fixture writes too) with optional cycles, missing imports,
  ambiguous providers, version skew and broken components; `GraphScenario.expected()`
  is the reference (a deliberately naive model sharing no code with the pipeline), and
  `materialize()` / `analysed()` turn a scenario into mock extensions on disk or
  into `Analysed` values for the resolver.

Why some values are never generated: the host hands values to wasmtime-py, which
passes a variant-like value *untagged* when the Python classes of its cases do not
overlap (e.g. `option<u32>` is `None` or an `int`, `result<string, u32>` a `str` or
an `int`) and lowers it as the **first** case whose classes accept it by
`isinstance`, so some values of a correct type cannot be passed at all (the host
refuses them with `bad-arguments`): `True` for the `u32` case of
`variant { a(u32), b(bool) }` would go to `a` (bool is an int), and in
`result<option<u32>, string>` every `str` would be taken by `ok`. `values()` only
generates values wasmtime-py lowers as the case they were drawn for, so a round trip
is a fair test of the host.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from hypothesis import strategies as st

from ..model._witypes import (
    EnumT,
    FlagsT,
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
    has_handle,
)
from ..runtime import _values as _mapping
from ._scenario import ExtraExport, GraphEdge, GraphNode, GraphScenario, _compatible

__all__ = [
    "SCALARS",
    "HandleSlot",
    "dependency_graphs",
    "fill_handles",
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
def _types_at(depth: int, width: int, handles: tuple[HandleT, ...] = ()) -> st.SearchStrategy[ValueType]:
    leaf_kinds: list[st.SearchStrategy[ValueType]] = [
        st.sampled_from(SCALARS),
        _unique_labels(1, max(1, width)).map(lambda ns: EnumT(tuple(ns))),
        _flags(width),
    ]
    if handles:
        leaf_kinds.append(st.sampled_from(handles))
    leaves: st.SearchStrategy[ValueType] = st.one_of(leaf_kinds)
    if depth <= 0:
        return leaves
    inner = _types_at(depth - 1, width, handles)
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


def wit_types(max_depth: int = 3, max_width: int = 4, *, resources: Sequence[HandleT] = (),
              borrows: bool = False) -> st.SearchStrategy[ValueType]:
    """Component value types: primitives (no error-context), strings, lists, records,
    tuples, variants, enums, flags (up to 32), options and results; with `resources`,
    handles too.

    `max_depth` bounds the nesting of composite types, `max_width` the number of
    fields, elements, cases and names of one type (flags may also get up to 32).
    `resources` are the resource types handles may be of (`own("r", "ns:pkg/iface")`; the
    kind is ignored): `own<r>` is drawn anywhere, `borrow<r>` only with `borrows=True`, for a
    parameter's type (the component model allows borrows in parameters only).
    Futures and streams are not drawn: mock components cannot carry them.
    """
    if max_depth < 0 or max_width < 1:
        raise ValueError("max_depth must be >= 0 and max_width >= 1")
    kinds = ("own", "borrow") if borrows else ("own",)
    if borrows and not resources:
        raise ValueError("borrows=True needs resources")
    handles = tuple(HandleT(k, r.resource, r.interface) for r in resources for k in kinds)  # type: ignore[arg-type]
    return _types_at(max_depth, max_width, handles)


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


def _not_taken_by(earlier: list[ValueType | None], case: ValueType | None) -> Callable[[Any], bool]:
    """Keep a payload of `case` only if no earlier case would claim its wasmtime-py form."""
    if case is not None and has_handle(case):  # its slots are no wasmtime-py values: the static check decides
        return lambda _payload: True
    lower = None if case is None else _mapping.lowerer(case)

    def keep(payload: Any) -> bool:
        try:
            native = None if lower is None else lower(payload)
        except _mapping.ValueMisfit:
            return False
        return not any(_accepts(e, native) for e in earlier)
    return keep


def _case_value(t: VariantT | OptionT | ResultT, name: str) -> Callable[[Any], Any]:
    """The mapping's value of case `name` with a payload."""
    if isinstance(t, ResultT):
        return lambda payload: {name: payload}
    if isinstance(t, VariantT):
        return lambda payload: {"tag": name, "value": payload}
    if isinstance(t.payload, OptionT):  # a nested option: some(x) is {"some": x}
        return lambda payload: {"some": payload}
    return lambda payload: payload


@dataclass(frozen=True, eq=False)
class HandleSlot:
    """Where a value drawn by `values()` holds a handle of type `type`: handles are live objects of
    a host, so a test puts its own in with `fill_handles`. Each slot is a distinct object."""

    type: HandleT


def fill_handles(value: Any, make: Callable[[HandleT], Any]) -> Any:
    """`value` with each `HandleSlot` replaced by `make(slot.type)` (e.g. a handle a mock's
    constructor returned), in order: dict values, list and tuple elements."""
    if isinstance(value, HandleSlot):
        return make(value.type)
    if isinstance(value, dict):
        return {k: fill_handles(v, make) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_handles(v, make) for v in value]
    if isinstance(value, tuple):
        return tuple(fill_handles(v, make) for v in value)
    return value


@lru_cache(maxsize=4096)
def _values(t: ValueType, width: int, nan: bool = True) -> st.SearchStrategy[Any]:
    if isinstance(t, HandleT):
        return st.builds(HandleSlot, st.just(t))
    if isinstance(t, Prim):
        n = t.name
        if n == "bool":
            return st.booleans()
        if n in _INT_RANGE:
            lo, hi = _INT_RANGE[n]
            return st.integers(lo, hi)
        if n == "f32":
            return st.floats(width=32, allow_nan=nan)
        if n == "f64":
            return st.floats(allow_nan=nan)
        chars = st.characters(exclude_categories=["Cs"])
        if n == "char":
            return chars
        if n == "string":
            return st.text(chars, max_size=4 * width)
        raise TypeError(f"no values for {n}")
    if isinstance(t, ListT):
        if t.element == Prim("u8"):
            return st.binary(max_size=4 * width)
        return st.lists(_values(t.element, width, nan), max_size=width)
    if isinstance(t, TupleT):
        return st.tuples(*(_values(e, width, nan) for e in t.elements))
    if isinstance(t, RecordT):
        names = [n for n, _ in t.fields]
        return st.tuples(*(_values(f, width, nan) for _, f in t.fields)).map(
            lambda vals: dict(zip(names, vals, strict=True)))
    if isinstance(t, EnumT):
        return st.sampled_from(t.names)
    if isinstance(t, FlagsT):
        return st.frozensets(st.sampled_from(t.names))
    if isinstance(t, VariantT | OptionT | ResultT):
        cases = cases_of(t)
        options: list[st.SearchStrategy[Any]] = []
        bare = not tagged(t)
        for j, (name, c) in enumerate(cases):
            if bare and not _reachable(cases, j):
                continue
            payload: st.SearchStrategy[Any] = st.none() if c is None else _values(c, width, nan)
            if bare:
                payload = payload.filter(_not_taken_by([e for _, e in cases[:j]], c))
            if isinstance(t, OptionT) and name == "none":
                options.append(st.none())
            else:
                options.append(payload.map(_case_value(t, name)))
        return st.one_of(options)
    raise TypeError(f"no values for {t!r}")


def values(t: ValueType, max_width: int = 4, *, allow_nan: bool = True) -> st.SearchStrategy[Any]:
    """Values of `t` in the host's value mapping (docs/values.md) that wasmtime-py can pass.

    Floats include infinities and, unless `allow_nan=False`, NaN (f32 values are exactly
    representable as f32); chars and strings exclude surrogates (not Unicode scalar values).
    `max_width` bounds list lengths (strings and bytes get four times as much). A handle is
    drawn as a `HandleSlot`, for the test to fill (`fill_handles`).
    """
    return _values(t, max_width, allow_nan)


def values_equal(t: ValueType | None, a: Any, b: Any) -> bool:
    """`a == b` for values of `t` in the mapping, except that any NaN equals any NaN and
    f32 values compare after rounding to f32."""
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
        names = {n for n, _ in t.fields}
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() == names
                and all(values_equal(f, a[n], b[n]) for n, f in t.fields))
    if isinstance(t, EnumT):
        return isinstance(a, str) and a == b
    if isinstance(t, FlagsT):
        return isinstance(a, frozenset) and isinstance(b, frozenset) and a == b
    if isinstance(t, OptionT):
        if a is None or b is None:
            return a is None and b is None
        if isinstance(t.payload, OptionT):
            return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() == {"some"}
                    and values_equal(t.payload, a["some"], b["some"]))
        return values_equal(t.payload, a, b)
    if isinstance(t, ResultT):
        if not (isinstance(a, dict) and isinstance(b, dict) and len(a) == 1 and a.keys() == b.keys()):
            return False
        ((tag, x),) = a.items()
        return tag in ("ok", "err") and values_equal(t.ok if tag == "ok" else t.err, x, b[tag])
    if isinstance(t, VariantT):
        if not (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() == {"tag", "value"}):
            return False
        cases = dict(t.cases)
        return a["tag"] == b["tag"] in cases and values_equal(cases[a["tag"]], a["value"], b["value"])
    return bool(a == b)


# --------------------------------------------------------------------------- dependency graphs

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
