"""discover → analyse → resolve, as one call. Linking is `Host`'s job.

Each stage only reports; this module threads the failures of one stage into the
next (an extension that failed analysis blocks its dependents in resolution).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._analysis import AnalysisConfig, analyse_all
from ._cache import CompileCache
from ._diagnostics import Diagnostic, sort_diagnostics
from ._discovery import DiscoveryConfig, discover
from ._engine import EngineConfig, shared_engine
from ._model import Analysed, Candidate, Endpoint, Link, Resolution
from ._names import InterfaceName
from ._resolve import resolve

__all__ = ["Inspection", "inspect"]


@dataclass(frozen=True)
class Inspection:
    """What the host knows about a set of extensions before linking them."""

    candidates: tuple[Candidate, ...]
    analysed: tuple[Analysed, ...]
    resolution: Resolution
    diagnostics: tuple[Diagnostic, ...]
    engine_config: EngineConfig
    engine: Any = field(compare=False, repr=False)

    @property
    def load_order(self) -> tuple[str, ...]:
        return self.resolution.load_order

    @property
    def links(self) -> tuple[Link, ...]:
        return self.resolution.links

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    def status(self, name: str) -> str:
        return self.resolution.status.get(name, "error")

    def get(self, name: str) -> Analysed | None:
        return next((a for a in self.analysed if a.name == name), None)


def inspect(paths: Iterable[str | Path], *, cache_dir: str | Path | None = None, use_cache: bool = True,
            max_file_size: int = 64 * 1024 * 1024, consume_fuel: bool | None = None,
            engine_config: EngineConfig | None = None,
            host_interfaces: Iterable[str] = ()) -> Inspection:
    """Run the three analysis stages on `paths`; never raises for a user's mistake.

    `host_interfaces` names interfaces the host itself serves (Python functions
    given to `Host.load`): imports compatible with them are not looked for in
    other extensions.
    """
    found = discover(list(paths), DiscoveryConfig(max_file_size=max_file_size))
    ecfg = engine_config or EngineConfig(consume_fuel=bool(consume_fuel) or _wants_fuel(found.candidates))
    cache = CompileCache(Path(cache_dir)) if cache_dir is not None else CompileCache()
    acfg = AnalysisConfig(engine=ecfg, cache=cache if use_cache else None)
    analysed, adiags = analyse_all(found.candidates, acfg)
    served = [n for n in (InterfaceName.parse(h) for h in host_interfaces) if n is not None]
    if served:
        analysed = tuple(_served_by_host(a, served) for a in analysed)
    failed: dict[str, Diagnostic] = {}
    for d in (*found.diagnostics, *adiags):
        if d.is_error and d.extension and d.extension not in failed:
            failed[d.extension] = d
    ok = tuple(a for a in analysed if a.name not in failed)
    resolution = resolve(ok, failed)
    status = dict(resolution.status)
    for name in failed:
        status.setdefault(name, "error")
    resolution = Resolution(resolution.load_order, resolution.links, status, resolution.diagnostics)
    diags = sort_diagnostics([*found.diagnostics, *adiags, *resolution.diagnostics])
    return Inspection(found.candidates, ok, resolution, diags, ecfg, shared_engine(ecfg))


def _served_by_host(a: Analysed, served: list[InterfaceName]) -> Analysed:
    def kind(e: Endpoint) -> Endpoint:
        name = e.interface
        if e.kind == "library" and name is not None and any(name.compatible_with(s) for s in served):
            return replace(e, kind="host")
        return e

    return replace(a, imports=tuple(kind(e) for e in a.imports))


def _wants_fuel(candidates: Iterable[Candidate]) -> bool:
    return any(c.manifest.limits.fuel is not None for c in candidates)
