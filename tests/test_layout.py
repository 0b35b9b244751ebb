"""The shape of harness/: no import cycle, and layers that import only downwards.

    model < pipeline < runtime < {cli, testing, pytest_plugin}

A lower layer never imports an upper one; cli, testing and pytest_plugin import any lower layer, and
pytest_plugin also imports testing. The facade (`harness/__init__.py`) re-exports model, pipeline and
runtime, so only cli, testing and pytest_plugin may import it. model imports no wasmtime.

Every module lives in a layer subpackage, except compatibility aliases at the top of `harness/` for
names older docs pointed at: only the modules in `ALIASES`, each made of nothing but re-exports from a
layer subpackage (checked with `ast`), and no harness module imports them.

Every import counts, wherever it is written: at module level, inside a function, under `TYPE_CHECKING`
(a type-only import is still a dependency of the design, and makes a cycle as soon as it is needed at run
time), and `importlib.import_module("...")` with a constant name. The graph is read with `ast`, so nothing
is imported. Run as a script (`python tests/test_layout.py [REPO]`) to print every problem at once.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = "harness"
LAYERS: dict[str, int] = {"model": 0, "pipeline": 1, "runtime": 2, "cli": 3, "testing": 3, "pytest_plugin": 3}
SIDEWAYS: frozenset[tuple[str, str]] = frozenset({("pytest_plugin", "testing")})  # allowed within the top rank
FACADE = "facade"  # the layer name of `harness/__init__.py`
NO_WASMTIME = ("model",)
ALIAS = "alias"  # the layer name of a compatibility alias module
ALIASES: frozenset[str] = frozenset({"harness.strategies", "harness._mock", "harness._values",
                                     "harness._plugin_snapshot"})


@dataclass(frozen=True)
class Edge:
    """One import statement of one harness module naming another harness module."""

    source: str
    target: str
    path: Path
    line: int
    where: str  # "module level", "in a function", "under TYPE_CHECKING"
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.where}) `{self.text}` imports {self.target}"


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages are their __init__.py)."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if "__pycache__" not in parts:
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, where: str) -> Iterator[tuple[ast.AST, str]]:
    """Every node below `node`, with where it runs (functions win over TYPE_CHECKING)."""
    for child in ast.iter_child_nodes(node):
        here = where
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            here = "in a function"
        elif isinstance(node, ast.If) and child in node.body and _is_type_checking(node.test) \
                and where == "module level":
            here = "under TYPE_CHECKING"
        yield child, here
        yield from _walk(child, here)


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (level - 1)] if level else []
    return ".".join([*base, *([name] if name else [])])


def edges(package: Path) -> list[Edge]:
    """Every import between modules of `package`."""
    mods = modules(package)
    root = package.parent
    out: list[Edge] = []

    def deepest(name: str) -> str | None:
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in mods:
                return ".".join(parts[:k])
        return None

    for source, path in mods.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        is_package = path.name == "__init__.py"
        for node, where in _walk(tree, "module level"):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [t for a in node.names if (t := deepest(a.name))]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(source, is_package, node.level, node.module) if node.level else (node.module or "")
                for a in node.names:
                    full = f"{base}.{a.name}"
                    target = full if full in mods else deepest(base)
                    if target:
                        targets.append(target)
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                    or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))):
                name = node.args[0].value
                if name.startswith("."):
                    dots = len(name) - len(name.lstrip("."))
                    name = _absolute(source, True, dots, name[dots:] or None)  # anchored at the given package
                if (target := deepest(name)) is not None:
                    targets.append(target)
            if not targets:
                continue
            segment = ast.get_source_segment(text, node) or ""
            line = getattr(node, "lineno", 0)
            for target in dict.fromkeys(targets):
                if target != source:
                    out.append(Edge(source, target, path.relative_to(root), line, where,
                                    " ".join(segment.split())))
    return out


# ----------------------------------------------------------------------------------------------- cycles
def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def cycles(all_edges: list[Edge]) -> list[tuple[list[str], list[Edge]]]:
    """For each group of modules importing each other: the group, and one shortest cycle through it."""
    graph: dict[str, set[str]] = {}
    by_pair: dict[tuple[str, str], Edge] = {}
    for e in all_edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
        by_pair.setdefault((e.source, e.target), e)
    out = []
    for comp in _sccs(graph):
        members = set(comp)
        start = comp[0]
        prev: dict[str, str] = {}
        queue = deque([start])
        end: str | None = None
        while queue and end is None:
            v = queue.popleft()
            for w in sorted(graph[v] & members):
                if w == start:
                    end = v
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        back: list[str] = []  # from the last module before `start`, back to the first after it
        node = end
        while node is not None and node != start:
            back.append(node)
            node = prev[node]
        path = [start, *reversed(back)]
        ring = [*path, start]
        out.append((comp, [by_pair[pair] for pair in pairwise(ring)]))
    return out


# ----------------------------------------------------------------------------------------------- layers
def layer_of(module: str) -> str | None:
    """The layer of a harness module; None for a module outside every layer subpackage."""
    if module == TOP:
        return FACADE
    if module in ALIASES:
        return ALIAS
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def layer_problem(e: Edge) -> str | None:
    """Why `e` goes against the layer order, or None."""
    src, dst = layer_of(e.source), layer_of(e.target)
    if dst == ALIAS:
        return "a compatibility alias is for users only: import the defining module"
    if src is None or dst is None or src in (dst, ALIAS):  # (an alias's own imports: `alias_problems`)
        return None
    if src == FACADE:
        if LAYERS[dst] < LAYERS["cli"]:
            return None
        return f"the facade harness/__init__.py re-exports the library only; it may not import {dst}"
    if dst == FACADE:
        if LAYERS[src] == LAYERS["cli"]:
            return None
        return f"{src} may not import the facade `harness` (it re-exports upper layers): import the defining module"
    if LAYERS[src] > LAYERS[dst] or (src, dst) in SIDEWAYS:
        return None
    if LAYERS[src] == LAYERS[dst]:
        return f"{src} may not import {dst} (only pytest_plugin may import testing)"
    return f"{src} may not import {dst}: a lower layer never imports an upper one"


def layer_problems(all_edges: list[Edge]) -> list[str]:
    return [f"{e}: {why}" for e in all_edges if (why := layer_problem(e)) is not None]


def unplaced(package: Path) -> list[str]:
    return [f"{path.relative_to(package.parent)}: not in a layer subpackage ({', '.join(LAYERS)})"
            for name, path in modules(package).items() if layer_of(name) is None]


def _reexport(node: ast.stmt) -> bool:
    """A statement an alias module may hold: docstring, `from __future__`, `__all__ = [...]`, or
    `from .layer.module import names` (relative, or absolute from `harness.layer`)."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return True
    if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
        return isinstance(node.value, ast.List | ast.Tuple) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts)
    if isinstance(node, ast.ImportFrom):
        if node.level == 0 and node.module == "__future__":
            return True
        module = (node.module or "").split(".")
        if node.level == 0 and module[0] == TOP:
            module = module[1:]
        elif node.level != 1:
            return False
        return bool(module) and module[0] in LAYERS
    return False


def alias_problems(package: Path) -> list[str]:
    """Alias modules that do more than re-export names from a layer subpackage."""
    out = []
    for name, path in modules(package).items():
        if layer_of(name) != ALIAS:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not _reexport(node):
                out.append(f"{path.relative_to(package.parent)}:{node.lineno}: a compatibility alias holds only "
                           "re-exports from a layer subpackage (docstring, __all__, `from .layer._x import ...`)")
    return out


def wasmtime_in(package: Path, layers: tuple[str, ...] = NO_WASMTIME) -> list[str]:
    problems = []
    for name, path in modules(package).items():
        if layer_of(name) not in layers:
            continue
        text = path.read_text(encoding="utf-8")
        for node, where in _walk(ast.parse(text), "module level"):
            named = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n == "wasmtime" or n.startswith("wasmtime.") for n in named):
                problems.append(f"{path.relative_to(package.parent)}:{getattr(node, 'lineno', 0)} ({where}) "
                                f"`{ast.get_source_segment(text, node)}`: {layer_of(name)} imports no wasmtime")
    return problems


def describe_cycles(all_edges: list[Edge]) -> list[str]:
    """One paragraph per group of modules importing each other: a shortest cycle, then every import inside."""
    out = []
    for comp, ring in cycles(all_edges):
        names = " → ".join([e.source for e in ring] + [ring[0].source])
        lines = "\n".join(f"    {e}" for e in ring)
        inside = [e for e in all_edges if e.source in comp and e.target in comp]
        rest = "\n".join(f"    {e}" for e in inside)
        out.append(f"import cycle among {len(comp)} modules ({', '.join(comp)}), e.g. {names}:\n{lines}\n"
                   f"  all {len(inside)} imports inside this group (remove enough of them to break every cycle):\n"
                   f"{rest}")
    return out


# ----------------------------------------------------------------------------------------------- tests
def test_no_import_cycle() -> None:
    problems = describe_cycles(edges(ROOT / TOP))
    assert not problems, "\n".join(problems)


def test_layers_import_only_downwards() -> None:
    problems = layer_problems(edges(ROOT / TOP))
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_every_module_is_in_a_layer() -> None:
    problems = unplaced(ROOT / TOP)
    assert not problems, "\n".join(problems)


def test_aliases_only_reexport() -> None:
    problems = alias_problems(ROOT / TOP)
    assert not problems, "\n".join(problems)


def test_model_imports_no_wasmtime() -> None:
    problems = wasmtime_in(ROOT / TOP)
    assert not problems, "\n".join(problems)


def test_the_checks_see_what_they_must(tmp_path: Path) -> None:
    """The graph reader counts function-level, TYPE_CHECKING and relative imports, and names the offender."""
    pkg = tmp_path / TOP
    for folder in ("model", "runtime"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .model._a import A\n")
    (pkg / "model" / "_a.py").write_text(
        "from typing import TYPE_CHECKING\nA = 1\nif TYPE_CHECKING:\n    from ..runtime._b import B\n")
    (pkg / "runtime" / "_b.py").write_text("def f():\n    from ..model import _a\n    import wasmtime\n")
    found = edges(pkg)
    kinds = {(e.source, e.target, e.where) for e in found}
    assert ("harness.model._a", "harness.runtime._b", "under TYPE_CHECKING") in kinds
    assert ("harness.runtime._b", "harness.model._a", "in a function") in kinds
    (cycle,) = describe_cycles(found)
    assert "harness/model/_a.py:4 (under TYPE_CHECKING)" in cycle and "harness/runtime/_b.py:2" in cycle
    (problem,) = layer_problems(found)
    assert problem.startswith("harness/model/_a.py:4") and "model may not import runtime" in problem
    assert unplaced(pkg) == [] and wasmtime_in(pkg) == []
    (pkg / "model" / "_c.py").write_text("import wasmtime.component\n")
    (pkg / "_flat.py").write_text("")
    assert [p.split(" ")[0] for p in wasmtime_in(pkg)] == ["harness/model/_c.py:1"]
    assert unplaced(pkg) == ["harness/_flat.py: not in a layer subpackage (model, pipeline, runtime, cli, "
                             "testing, pytest_plugin)"]


def test_aliases_are_checked(tmp_path: Path) -> None:
    """Only a listed alias made of re-exports passes; no harness module may import it."""
    pkg = tmp_path / TOP
    (pkg / "runtime").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "runtime" / "__init__.py").write_text("")
    (pkg / "runtime" / "_values.py").write_text("X = 1\n")
    (pkg / "_values.py").write_text('"""Alias."""\nfrom __future__ import annotations\n\n'
                                    'from .runtime._values import X\n\n__all__ = ["X"]\n')
    assert unplaced(pkg) == [] and alias_problems(pkg) == [] and layer_problems(edges(pkg)) == []
    (pkg / "_values.py").write_text("from .runtime._values import X\nY = X + 1\n")
    (problem,) = alias_problems(pkg)
    assert problem.startswith("harness/_values.py:2:")
    (pkg / "_values.py").write_text("import os\nfrom .runtime._values import *\n")
    (problem,) = alias_problems(pkg)
    assert problem.startswith("harness/_values.py:1:")
    (pkg / "_values.py").write_text("from .runtime._values import X\n")
    (pkg / "runtime" / "_host.py").write_text("from .. import _values\n")
    (problem,) = layer_problems(edges(pkg))
    assert problem.startswith("harness/runtime/_host.py:1") and "compatibility alias" in problem
    (pkg / "_other.py").write_text("from .runtime._values import X\n")
    assert unplaced(pkg) == ["harness/_other.py: not in a layer subpackage (model, pipeline, runtime, cli, "
                             "testing, pytest_plugin)"]


if __name__ == "__main__":
    package = (Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT) / TOP
    every = edges(package)
    report = [*unplaced(package), *alias_problems(package), *describe_cycles(every), *layer_problems(every),
              *wasmtime_in(package)]
    print("\n".join(report) if report else f"{package}: no cycle, layers in order")
    sys.exit(1 if report else 0)
