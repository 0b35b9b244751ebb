"""Dependency scenarios: one model of a graph of mock extensions, and one oracle for it.

A `GraphScenario` says which extensions there are (`GraphNode`), who imports
whose interface at which version (`GraphEdge`) and which extensions export an
interface of another name as well (`ExtraExport`). `GraphScenario.expected()` is
the only reference for what loading it must give; the `scenario` fixture's
`ScenarioBuilder` shapes (`chain`, `cycle`, `ambiguous`, ...) are scenarios of this
model, and `harness.testing.strategies.dependency_graphs()` draws them at random.

The oracle is deliberately naive and shares no code with `harness.pipeline`
(not even the graph algorithms): providers by scanning every export, cycles by
reachability (u is on a cycle iff u reaches itself), blocking by reachability.
A resolver bug in a shared helper would otherwise be invisible to the tests.

Every node is the same mock: node `x` exports `test:x/api@<version>` with
`get: func(n: u32) -> u32` (a leaf returns `n`, a dependent forwards to its first
import's `get`), `id: func() -> u32` (a number per provider and export, so a call
shows which provider an import was linked to) and `via<k>: func() -> u32`, which
returns `id` of its k-th import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..model._diagnostics import Diagnostic
from ..model._names import classify
from ..model._records import Analysed, Candidate, Endpoint, Manifest
from ..model._witypes import Prim
from ._dsl import (
    S32,
    U32,
    AddParams,
    Behaviour,
    Const,
    Forward,
    MockExtension,
    MockFunction,
    MockInterface,
    Trap,
    err,
)
from ._manifest import write_extension

__all__ = [
    "ExpectedResolution",
    "ExtraExport",
    "GraphEdge",
    "GraphNode",
    "GraphScenario",
    "Scenario",
    "ScenarioBuilder",
    "api_name",
]


def api_name(ext: str, version: str = "1.0.0") -> str:
    """The interface a scenario node named `ext` exports: `test:<ext>/api@<version>`."""
    return f"test:{ext}/api@{version}"


# --------------------------------------------------------------------------- the model

@dataclass(frozen=True)
class GraphNode:
    """An extension exporting `test:<name>/api@<version>`.

    `broken`: an invalid component (it fails analysis, so its exports are unknown to
    resolution). `init_fails`: its `init` returns an error when loaded. `traps`: its
    `get` traps (a failure at call time only). `param`: the parameter type of its
    `get`; consumers import `get(n: u32)`, so any other type is a type mismatch.
    """

    name: str
    version: str = "1.0.0"
    broken: bool = False
    init_fails: bool = False
    traps: bool = False
    param: Prim = U32


@dataclass(frozen=True)
class GraphEdge:
    """`consumer` imports `test:<target>/api@<version>`; `target` need not be a node."""

    consumer: str
    target: str
    version: str = "1.0.0"

    @property
    def interface(self) -> str:
        return api_name(self.target, self.version)


@dataclass(frozen=True)
class ExtraExport:
    """`node` also exports `test:<target>/api@<version>` (a second, possibly ambiguous provider)."""

    node: str
    target: str
    version: str = "1.0.0"

    @property
    def interface(self) -> str:
        return api_name(self.target, self.version)


@dataclass(frozen=True)
class ExpectedResolution:
    """What a correct host reports for a scenario (computed by `GraphScenario.expected`).

    `status` is the outcome of loading. It equals resolution's unless a node's
    `init` fails, which only loading finds out (`init_failed`, and their dependents
    in `blocked`).
    """

    status: Mapping[str, str]  # node -> "ok" | "error" | "blocked"
    errors: Mapping[str, frozenset[str]]  # node -> error codes reported for it (resolution, then init)
    links: frozenset[tuple[str, str, str, str]]  # consumer, import, provider, export (all edges)
    missing: frozenset[tuple[str, str]]  # (consumer, import)
    ambiguous: frozenset[tuple[str, str]]
    mismatched: frozenset[tuple[str, str]]  # (consumer, import) whose only provider has another type
    older: frozenset[tuple[str, str]]  # (consumer, import) served by an older compatible provider
    cycles: Mapping[str, frozenset[str]]  # cycle member -> all members of its cycle(s)
    blocked: frozenset[str]
    broken: frozenset[str]
    init_failed: frozenset[str]
    ids: Mapping[tuple[str, str], int]  # (provider, export) -> what its `id` returns

    @property
    def ok(self) -> frozenset[str]:
        return frozenset(n for n, s in self.status.items() if s == "ok")

    @property
    def codes(self) -> frozenset[str]:
        """Every diagnostic code loading reports (errors and warnings)."""
        out = {c for cs in self.errors.values() for c in cs}
        if self.blocked:
            out.add("blocked-by-dependency")
        if self.older:
            out.add("older-provider")
        if self.broken:
            out.add("invalid-component")
        return frozenset(out)


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
    """Extensions, who imports whose interface at which version, and extra exports."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...] = ()
    extra_exports: tuple[ExtraExport, ...] = ()

    def node(self, name: str) -> GraphNode:
        return next(n for n in self.nodes if n.name == name)

    def exports_of(self, name: str) -> list[tuple[str, str]]:
        """(interface, version-owner) pairs: the node's own api first, then its extras."""
        node = self.node(name)
        out = [(api_name(name, node.version), name)]
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
        """The mock extension of a node (see the module docstring)."""
        node = self.node(name)
        ids = self.ids()
        edges = self.edges_of(name)
        imports = tuple(MockInterface(e.interface, (_get(U32, Trap()), _ID)) for e in edges)
        get = Trap() if node.traps else Forward(imports[0].name, "get") if imports else AddParams()
        exports = []
        for j, (iface_name, _) in enumerate(self.exports_of(name)):
            funcs = [_get(node.param, get if j == 0 else AddParams()),
                     MockFunction("id", (), U32, Const(ids[(name, iface_name)]))]
            if j == 0:
                funcs += [MockFunction(f"via{k}", (), U32, Forward(e.interface, "id")) for k, e in enumerate(edges)]
            exports.append(MockInterface(iface_name, tuple(funcs)))
        return MockExtension(name, version=node.version, exports=tuple(exports), imports=imports,
                             init=Const(err("no config")) if node.init_fails else None)

    def materialize(self, folder: Path) -> dict[str, Path]:
        """Write every node as an extension folder under `folder`, in node order; broken nodes
        get an invalid `.wasm`. Returns the folders by node name."""
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
        """The outcome by brute force (see the module docstring)."""
        broken = {n.name for n in self.nodes if n.broken}
        good = [n.name for n in self.nodes if not n.broken]
        errors: dict[str, set[str]] = {n.name: set() for n in self.nodes}
        links: set[tuple[str, str, str, str]] = set()
        missing: set[tuple[str, str]] = set()
        ambiguous: set[tuple[str, str]] = set()
        mismatched: set[tuple[str, str]] = set()
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
            elif self.node(providers[0][0]).param != U32:
                mismatched.add((e.consumer, e.interface))
                errors[e.consumer].add("type-mismatch")
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
        resolved = {n for n in good if n not in failed and not reaches[n] & failed}
        # loading: an init runs only once its providers loaded, so a failing init below
        # another one blocks it (the loaded graph is acyclic: cycles are errors)
        failing = {n for n in resolved if self.node(n).init_fails}
        init_failed = {n for n in failing if not reaches[n] & failing}
        for n in init_failed:
            errors[n].add("init-failed")
        failed |= init_failed
        blocked = {n for n in good if n not in failed and reaches[n] & failed}
        status = {n: ("error" if n in failed else "blocked" if n in blocked else "ok")
                  for n in sorted(errors)}
        return ExpectedResolution(
            status=status,
            errors={n: frozenset(c) for n, c in errors.items()},
            links=frozenset(links), missing=frozenset(missing), ambiguous=frozenset(ambiguous),
            mismatched=frozenset(mismatched), older=frozenset(older), cycles=cycles,
            blocked=frozenset(blocked), broken=frozenset(broken), init_failed=frozenset(init_failed),
            ids=self.ids())


_ID = MockFunction("id", (), U32)


def _get(param: Prim, behaviour: Behaviour) -> MockFunction:
    return MockFunction("get", (("n", param),), U32, behaviour)


# --------------------------------------------------------------------------- written scenarios

@dataclass(frozen=True)
class Scenario:
    """A written scenario: where it is, its model, and what the host must say about it."""

    name: str
    path: Path
    extensions: tuple[str, ...]
    status: Mapping[str, str] = field(default_factory=dict)  # expected status per extension
    codes: frozenset[str] = frozenset()  # diagnostic codes the host must report (errors and warnings)
    model: GraphScenario | None = field(default=None, compare=False, repr=False)

    def __fspath__(self) -> str:
        return str(self.path)


class ScenarioBuilder:
    """`scenario.chain(3)`, `scenario.cycle(2)`, `scenario.graph({"a": ["b"], "b": []})`, ..."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self._count = 0

    def _folder(self, name: str) -> Path:
        self._count += 1
        folder = self.base / f"{self._count:02d}-{name}"
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    @staticmethod
    def node(name: str, deps: Sequence[str] = (), *, version: str = "1.0.0",
             dep_versions: Mapping[str, str] | None = None, param: Prim = U32,
             behaviour: Behaviour | None = None, init: Behaviour | None = None) -> MockExtension:
        """One graph node as a mock (see the module docstring); `behaviour` replaces what its
        `get` does, `init` adds a lifecycle export doing that."""
        dep_versions = dep_versions or {}
        edges = tuple(GraphEdge(name, d, dep_versions.get(d, "1.0.0")) for d in deps)
        mock = GraphScenario((GraphNode(name, version, param=param),), edges).mock(name)
        if behaviour is not None:
            own = mock.exports[0]
            funcs = tuple(replace(f, behaviour=behaviour) if f.name == "get" else f for f in own.functions)
            mock = replace(mock, exports=(replace(own, functions=funcs), *mock.exports[1:]))
        return replace(mock, init=init) if init is not None else mock

    def write(self, name: str, model: GraphScenario) -> Scenario:
        """Write the model's nodes into a fresh folder, with what loading them must give."""
        folder = self._folder(name)
        model.materialize(folder)
        expected = model.expected()
        return Scenario(name, folder, tuple(n.name for n in model.nodes), dict(expected.status), expected.codes,
                        model)

    # ------------------------------------------------------------------ shapes

    def graph(self, adjacency: Mapping[str, Sequence[str]], *, name: str = "graph") -> Scenario:
        """Any graph: `{"a": ["b", "c"], "b": ["c"], "c": []}` (a imports b and c; b imports c).
        A dependency that is not a key is imported but exported by nobody."""
        nodes = tuple(GraphNode(n) for n in adjacency)
        edges = tuple(GraphEdge(n, d) for n, deps in adjacency.items() for d in deps)
        return self.write(name, GraphScenario(nodes, edges))

    def chain(self, n: int) -> Scenario:
        """e1 → e2 → … → en (each imports the next)."""
        names = [f"e{i}" for i in range(1, n + 1)]
        return self.graph({a: ([names[i + 1]] if i + 1 < n else []) for i, a in enumerate(names)},
                          name=f"chain{n}")

    def diamond(self) -> Scenario:
        return self.graph({"top": ["left", "right"], "left": ["bottom"], "right": ["bottom"], "bottom": []},
                          name="diamond")

    def cycle(self, k: int) -> Scenario:
        names = [f"c{i}" for i in range(1, k + 1)]
        return self.graph({a: [names[(i + 1) % k]] for i, a in enumerate(names)}, name=f"cycle{k}")

    def missing_import(self) -> Scenario:
        return self.graph({"app": ["absent"]}, name="missing-import")

    def version_skew(self, *, compatible: bool = True) -> Scenario:
        """`app` imports lib's api at 1.0.0; lib exports 1.3.0 (compatible) or 2.0.0 (not)."""
        lib_version = "1.3.0" if compatible else "2.0.0"
        model = GraphScenario((GraphNode("lib", lib_version), GraphNode("app")), (GraphEdge("app", "lib"),))
        return self.write("skew-compatible" if compatible else "skew-incompatible", model)

    def older_provider(self) -> Scenario:
        """`app` imports 1.4.0, lib exports 1.2.0: linked, with a warning."""
        model = GraphScenario((GraphNode("lib", "1.2.0"), GraphNode("app")), (GraphEdge("app", "lib", "1.4.0"),))
        return self.write("older-provider", model)

    def ambiguous(self) -> Scenario:
        """Two extensions also export `test:shared/api`; `app` imports it."""
        model = GraphScenario((GraphNode("provider-a"), GraphNode("provider-b"), GraphNode("app")),
                              (GraphEdge("app", "shared"),),
                              (ExtraExport("provider-a", "shared"), ExtraExport("provider-b", "shared")))
        return self.write("ambiguous", model)

    def type_mismatch(self) -> Scenario:
        """lib's `get` takes s32; `app` imports it expecting u32."""
        model = GraphScenario((GraphNode("lib", param=S32), GraphNode("app")), (GraphEdge("app", "lib"),))
        return self.write("type-mismatch", model)

    def failing_dependency(self, *, dependents: int = 2) -> Scenario:
        """`base`'s init fails; `mid` imports base, `top` imports mid: both are blocked."""
        nodes = [GraphNode("base", init_fails=True), GraphNode("mid")]
        edges = [GraphEdge("mid", "base")]
        if dependents >= 2:
            nodes.append(GraphNode("top"))
            edges.append(GraphEdge("top", "mid"))
        return self.write("failing-dependency", GraphScenario(tuple(nodes), tuple(edges)))

    def trapping(self) -> Scenario:
        """`lib.get` traps; `app` forwards to it (a call-time failure with a chain)."""
        model = GraphScenario((GraphNode("lib", traps=True), GraphNode("app")), (GraphEdge("app", "lib"),))
        return self.write("trapping", model)
