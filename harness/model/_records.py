"""Frozen values that flow between the pipeline stages.

discover → `Candidate`  (where an extension is and what its manifest says)
analyse  → `Analysed`   (its compiled component, imports and exports with types)
resolve  → `Resolution` (who serves whom, the load order, every diagnostic)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._diagnostics import Diagnostic
from ._names import ImportKind, InterfaceName
from ._witypes import FuncT, InstanceT, Item, render

__all__ = [
    "Analysed",
    "Candidate",
    "Capabilities",
    "ConformanceExample",
    "Endpoint",
    "Limits",
    "Link",
    "Manifest",
    "Preopen",
    "Resolution",
    "Status",
]

SourceKind = Literal["manifest", "wasm", "wat"]
Status = Literal["ok", "error", "blocked"]


@dataclass(frozen=True)
class Preopen:
    """One folder a guest may open: `host` (relative to the extension folder) seen as `guest`.

    Read-only unless `write` is granted: a guest that can write can also replace folders
    and plant links, so writing is asked for explicitly."""

    host: str
    guest: str
    write: bool = False


@dataclass(frozen=True)
class Capabilities:
    """WASI grants. Everything is denied unless granted here."""

    preopens: tuple[Preopen, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    inherit_env: bool = False
    inherit_stdio: bool = False
    network: bool = False
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Per-extension limits, one field per entry of `_hostconfig.LIMITS`: the manifest's `[limits]`
    (None: the host's value), and the base of `HostConfig` and `RuntimeLimits`, so each is declared once."""

    timeout_ms: int | None = None
    fuel: int | None = None
    memory_mb: int | None = None
    memories: int | None = None
    instances: int | None = None
    tables: int | None = None
    table_elements: int | None = None


@dataclass(frozen=True)
class ConformanceExample:
    """One `[[conformance.example]]`: a call and what it must produce."""

    function: str
    args: tuple[Any, ...] = ()
    expect: Any = None
    expect_error: str | None = None
    has_expect: bool = False
    command: str | None = None  # for command examples: the command name (args are its argv)


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str | None = None
    component: str | None = None
    description: str = ""
    provides: Mapping[str, str] = field(default_factory=dict)  # interface → extension pin
    capabilities: Capabilities = Capabilities()
    limits: Limits = Limits()
    examples: tuple[ConformanceExample, ...] = ()
    world: str | None = None  # a world of wit/ the component claims to target
    wit: str | None = None  # folder with WIT for the world (relative to the extension)


@dataclass(frozen=True)
class Candidate:
    """A discovered extension, not yet compiled."""

    name: str
    root: Path  # the extension's folder (the file's folder without a manifest)
    component_path: Path
    source: SourceKind
    manifest: Manifest
    order: int = 0  # position in discovery; only used for messages, never for ordering

    @property
    def version(self) -> str | None:
        return self.manifest.version


@dataclass(frozen=True)
class Endpoint:
    """One top-level import or export of a component."""

    name: str  # as the component spells it: `ns:pkg/iface@1.2.3` or a plain name
    kind: ImportKind
    item: Item

    @property
    def interface(self) -> InterfaceName | None:
        return InterfaceName.parse(self.name)

    def functions(self) -> tuple[tuple[str, FuncT], ...]:
        if isinstance(self.item, InstanceT):
            return tuple(self.item.funcs())
        if isinstance(self.item, FuncT):
            return ((self.name, self.item),)
        return ()

    def render(self) -> str:
        return f"{self.name}: {render(self.item)}"


@dataclass(frozen=True)
class Analysed:
    """A compiled extension with its interface. `component` is the wasmtime object."""

    candidate: Candidate
    digest: str
    imports: tuple[Endpoint, ...]
    exports: tuple[Endpoint, ...]
    component: Any = field(default=None, compare=False, repr=False)
    compile_seconds: float = 0.0
    cached: bool = False

    @property
    def name(self) -> str:
        return self.candidate.name

    def library_imports(self) -> tuple[Endpoint, ...]:
        return tuple(i for i in self.imports if i.kind == "library")

    def export(self, name: str) -> Endpoint | None:
        for e in self.exports:
            if e.name == name:
                return e
        return None

    def render_interface(self) -> str:
        """The whole interface as text: what the regression snapshot records."""
        lines = [f"// {self.name} {self.candidate.version or ''}".rstrip()]
        lines += [f"import {e.render()}" for e in sorted(self.imports, key=lambda e: e.name)]
        lines += [f"export {e.render()}" for e in sorted(self.exports, key=lambda e: e.name)]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Link:
    """`consumer` imports `import_name`; `provider` serves it with its export `export_name`."""

    consumer: str
    import_name: str
    provider: str
    export_name: str

    def to_json(self) -> dict[str, str]:
        return {"consumer": self.consumer, "import": self.import_name,
                "provider": self.provider, "export": self.export_name}


@dataclass(frozen=True)
class Resolution:
    load_order: tuple[str, ...]  # only extensions with status "ok"
    links: tuple[Link, ...]
    status: Mapping[str, Status]
    diagnostics: tuple[Diagnostic, ...]

    def links_of(self, consumer: str) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.consumer == consumer)
