"""discover → analyse → resolve, as one call. Linking is `Host`'s job.

Each stage only reports; this module threads the failures of one stage into the
next. An extension that failed is never linked, but when its exports can be
learnt (it failed discovery yet its component compiles: a bad manifest, an
invalid or duplicate name) it is handed to `resolve` as failed-with-exports, so
its dependents are `blocked-by-dependency` on it instead of `missing-import`.
An extension that failed analysis has no known exports; its dependents get
`missing-import` naming it among the extensions that failed earlier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..model._diagnostics import Diagnostic, sort_diagnostics
from ..model._hostconfig import default_store_limits
from ..model._names import InterfaceName
from ..model._records import Analysed, Candidate, Endpoint, Link, Resolution
from ._analysis import AnalysisConfig, analyse_all
from ._cache import CompileCache
from ._discovery import DiscoveryConfig, PathArg, discover
from ._engine import EngineConfig, shared_engine
from ._resolve import resolve
from ._sandbox import CapabilityDeniedError, plan_preopens, protected_files
from ._serves import check_limits, check_links, served_interfaces

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
    # extensions rejected by discovery whose component was found (never loaded)
    rejected: tuple[Candidate, ...] = ()

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


def inspect(*paths: PathArg | list[PathArg] | tuple[PathArg, ...], cache_dir: str | Path | None = None,
            use_cache: bool = True, max_file_size: int = 64 * 1024 * 1024, consume_fuel: bool | None = None,
            memory64: bool = False, engine_config: EngineConfig | None = None,
            host_interfaces: Iterable[str] | Mapping[str, Any] = (),
            store_limits: Callable[[Candidate], Mapping[str, int]] | None = None,
            grant_outside_folder: bool = False) -> Inspection:
    """Run the three analysis stages on `paths`; never raises for a user's mistake in them.

    `paths` are given one by one (`inspect("ext-a", Path("ext-b"))`), like `Host.load`'s; a
    single list or tuple of paths is accepted too, for callers written as `inspect([path])`.
    Anything else (bytes, a number) is a `UsageError`.

    `host_interfaces` names interfaces the host itself serves (Python functions
    given to `Host.load`): imports compatible with them are not looked for in
    other extensions. Given as `Host.load`'s `interfaces` mapping (name → functions),
    an import of a function the mapping lacks is a `missing-import` here.

    An extension reported ok links (`_serves.check_links`): every import is one
    the host's linker serves. Under `store_limits` (the `Store.set_limits` keywords
    the host will use for a candidate; by default those of a default `Host.load`),
    it is also instantiated up to
    its first start function (`_serves.check_limits`), so a component declaring
    more memory, tables or instances than it may have is reported here. Its WASI
    preopens are checked as the host will check them (`_sandbox.plan_preopens`,
    with `grant_outside_folder` as given to `Host.load`).
    """
    found = discover(*paths, config=DiscoveryConfig(max_file_size=max_file_size))
    ecfg = engine_config or EngineConfig(consume_fuel=bool(consume_fuel) or _wants_fuel(found.candidates),
                                         memory64=memory64)
    cache = CompileCache(Path(cache_dir)) if cache_dir is not None else CompileCache()
    acfg = AnalysisConfig(engine=ecfg, cache=cache if use_cache else None)
    analysed, adiags = analyse_all(found.candidates, acfg)
    offered = served_interfaces(host_interfaces)
    served = [n for n in (InterfaceName.parse(h) for h in offered) if n is not None]
    if served:
        analysed = tuple(_served_by_host(a, served) for a in analysed)
    failed: dict[str, Diagnostic] = {}
    for d in (*found.diagnostics, *adiags):
        if d.is_error and d.extension and d.extension not in failed:
            failed[d.extension] = d
    engine = shared_engine(ecfg)
    link_diags = [d for a in analysed if a.name not in failed for d in check_links(a, engine, offered)]
    link_diags += [d for a in analysed if a.name not in failed
                   for d in _preopen_problems(a, outside=grant_outside_folder)]
    if store_limits is None:
        store_limits = _default_limits
    if ecfg.epoch_interruption or ecfg.consume_fuel:
        linked = {d.extension for d in link_diags}
        for a in analysed:
            if a.name not in failed and a.name not in linked:
                problem = check_limits(a, engine, offered, store_limits(a.candidate))
                if problem is not None:
                    link_diags.append(problem)
    for d in link_diags:
        if d.extension and d.extension not in failed:
            failed[d.extension] = d
    adiags = (*adiags, *link_diags)
    ok = tuple(a for a in analysed if a.name not in failed)
    resolution = resolve((*ok, *_known_exports(analysed, found.failed, failed, acfg)), failed)
    status = dict(resolution.status)
    for name in failed:
        status.setdefault(name, "error")
    resolution = Resolution(resolution.load_order, resolution.links, status, resolution.diagnostics)
    diags = sort_diagnostics([*found.diagnostics, *adiags, *resolution.diagnostics])
    return Inspection(found.candidates, ok, resolution, diags, ecfg, engine, found.failed)


def _default_limits(c: Candidate) -> Mapping[str, int]:
    return default_store_limits(c.manifest.limits)


def _preopen_problems(a: Analysed, *, outside: bool) -> list[Diagnostic]:
    """The preopen the linker would refuse, as a diagnostic (only WASI importers get preopens)."""
    if not a.candidate.manifest.capabilities.preopens or not any(i.kind == "wasi" for i in a.imports):
        return []
    try:
        plan_preopens(a.name, a.candidate.root, a.candidate.manifest.capabilities,
                      protected_files(a.candidate), outside=outside)
    except CapabilityDeniedError as e:
        return [Diagnostic(e.code, f"{e.message}; {e.hint}", extension=a.name, subject=e.preopen,
                           details={"preopen": e.preopen, "hint": e.hint})]
    return []


def _known_exports(analysed: Iterable[Analysed], salvaged: Iterable[Candidate],
                   failed: Mapping[str, Diagnostic], acfg: AnalysisConfig) -> tuple[Analysed, ...]:
    """Failed extensions whose exports are known, one per name (same-named ones merged).

    Their analysis diagnostics are dropped: the extension already has its error,
    and a component that does not compile simply exports nothing we know of.
    """
    rescued, _ = analyse_all(salvaged, acfg)
    by_name: dict[str, list[Analysed]] = {}
    for a in (*analysed, *rescued):
        if a.name in failed:
            by_name.setdefault(a.name, []).append(a)
    merged: list[Analysed] = []
    for name in sorted(by_name):
        group = sorted(by_name[name], key=lambda a: (a.digest, str(a.candidate.component_path)))
        exports = {e.name: e for a in reversed(group) for e in a.exports}
        merged.append(replace(group[0], exports=tuple(exports[n] for n in sorted(exports))))
    return tuple(merged)


def _served_by_host(a: Analysed, served: list[InterfaceName]) -> Analysed:
    def kind(e: Endpoint) -> Endpoint:
        name = e.interface
        if e.kind == "library" and name is not None and any(name.compatible_with(s) for s in served):
            return replace(e, kind="host")
        return e

    return replace(a, imports=tuple(kind(e) for e in a.imports))


def _wants_fuel(candidates: Iterable[Candidate]) -> bool:
    return any(c.manifest.limits.fuel is not None for c in candidates)
