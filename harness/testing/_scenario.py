"""Dependency scenarios as folders of mock extensions, one line each in a test.

Every scenario is a graph of mocks: an extension `x` exports `test:x/api@<ver>`
with `get: func(n: u32) -> u32` and imports the `api` of each extension it depends
on; a leaf returns its parameter, a dependent forwards to its first
dependency. A `Scenario` is the folder plus what loading it must produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._dsl import (
    S32,
    U32,
    AddParams,
    Behaviour,
    Forward,
    MockExtension,
    MockFunction,
    MockInterface,
    Trap,
)
from ._manifest import write_extension

__all__ = ["Scenario", "ScenarioBuilder", "api_name"]


def api_name(ext: str, version: str = "1.0.0") -> str:
    return f"test:{ext}/api@{version}"


@dataclass(frozen=True)
class Scenario:
    """A written scenario: where it is, and what the pipeline must say about it."""

    name: str
    path: Path
    extensions: tuple[str, ...]
    status: Mapping[str, str] = field(default_factory=dict)  # expected status per extension
    codes: frozenset[str] = frozenset()  # diagnostic codes the pipeline must report (errors and warnings)

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
             dep_versions: Mapping[str, str] | None = None, param: object = U32,
             behaviour: Behaviour | None = None, init: Behaviour | None = None) -> MockExtension:
        """One graph node as a mock (see the module docstring)."""
        dep_versions = dep_versions or {}
        imports = tuple(MockInterface(api_name(d, dep_versions.get(d, "1.0.0")),
                                      (MockFunction("get", (("n", U32),), U32),)) for d in deps)
        if behaviour is None:
            behaviour = Forward(imports[0].name, "get") if imports else AddParams()
        p = param if param is not None else U32
        get = MockFunction("get", (("n", p),), U32, behaviour)  # type: ignore[arg-type]
        return MockExtension(name, version=version, exports=(MockInterface(api_name(name, version), (get,)),),
                             imports=imports, init=init)

    def write(self, name: str, mocks: Iterable[MockExtension], *, status: Mapping[str, str],
              codes: Iterable[str] = ()) -> Scenario:
        folder = self._folder(name)
        mocks = list(mocks)
        for m in mocks:
            write_extension(m, folder)
        return Scenario(name, folder, tuple(m.name for m in mocks), dict(status), frozenset(codes))

    # ------------------------------------------------------------------ shapes

    def graph(self, adjacency: Mapping[str, Sequence[str]], *, name: str = "graph") -> Scenario:
        """Any graph: `{"a": ["b", "c"], "b": ["c"], "c": []}` (a imports b and c; b imports c)."""
        missing = sorted({d for deps in adjacency.values() for d in deps} - set(adjacency))
        mocks = [self.node(n, deps) for n, deps in adjacency.items()]
        cyclic = _cyclic(adjacency)
        status = {n: "ok" for n in adjacency}
        codes: set[str] = set()
        for n in cyclic:
            status[n] = "error"
            codes.add("cycle")
        for n in adjacency:
            if any(d in missing for d in adjacency[n]):
                status[n] = "error"
                codes.add("missing-import")
        for n in _dependents(adjacency, {n for n, s in status.items() if s == "error"}):
            if status[n] == "ok":
                status[n] = "blocked"
                codes.add("blocked-by-dependency")
        return self.write(name, mocks, status=status, codes=codes)

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
        mocks = [self.node("lib", version=lib_version), self.node("app", ["lib"])]
        if compatible:
            return self.write("skew-compatible", mocks, status={"lib": "ok", "app": "ok"})
        return self.write("skew-incompatible", mocks, status={"lib": "ok", "app": "error"},
                          codes={"missing-import"})

    def older_provider(self) -> Scenario:
        """`app` imports 1.4.0, lib exports 1.2.0: linked, with a warning."""
        mocks = [self.node("lib", version="1.2.0"), self.node("app", ["lib"], dep_versions={"lib": "1.4.0"})]
        return self.write("older-provider", mocks, status={"lib": "ok", "app": "ok"}, codes={"older-provider"})

    def ambiguous(self) -> Scenario:
        """Two extensions export the same interface; `app` imports it."""
        api = api_name("shared")
        get = MockFunction("get", (("n", U32),), U32, AddParams())
        p1 = MockExtension("provider-a", exports=(MockInterface(api, (get,)),))
        p2 = MockExtension("provider-b", exports=(MockInterface(api, (get,)),))
        app = self.node("app", ["shared"])
        return self.write("ambiguous", [p1, p2, app],
                          status={"provider-a": "ok", "provider-b": "ok", "app": "error"},
                          codes={"ambiguous-provider"})

    def type_mismatch(self) -> Scenario:
        """lib's `get` takes s32; `app` imports it expecting u32."""
        lib = self.node("lib", param=S32)
        return self.write("type-mismatch", [lib, self.node("app", ["lib"])],
                          status={"lib": "ok", "app": "error"}, codes={"type-mismatch"})

    def failing_dependency(self, *, dependents: int = 2) -> Scenario:
        """`base`'s init fails; `mid` imports base, `top` imports mid: both are blocked."""
        from ._dsl import Const, err

        base = self.node("base", init=Const(err("no config")))
        mocks = [base, self.node("mid", ["base"])]
        status = {"base": "error", "mid": "blocked"}
        if dependents >= 2:
            mocks.append(self.node("top", ["mid"]))
            status["top"] = "blocked"
        return self.write("failing-dependency", mocks, status=status,
                          codes={"init-failed", "blocked-by-dependency"})

    def trapping(self) -> Scenario:
        """`lib.get` traps; `app` forwards to it (a call-time failure with a chain)."""
        lib = self.node("lib", behaviour=Trap())
        return self.write("trapping", [lib, self.node("app", ["lib"])], status={"lib": "ok", "app": "ok"})


def _cyclic(adj: Mapping[str, Sequence[str]]) -> set[str]:
    """Nodes on a cycle (in a strongly connected component of size > 1, or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: set[str] = set()
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
            if w not in adj:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in adj.get(v, ()):
                out.update(comp)

    for v in adj:
        if v not in index:
            visit(v)
    return out


def _dependents(adj: Mapping[str, Sequence[str]], failed: set[str]) -> set[str]:
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for n, deps in adj.items():
            if n not in out and n not in failed and any(d in failed or d in out for d in deps):
                out.add(n)
                changed = True
    return out
