"""Resolution: who serves each library import, in which order to load, and what fails.

Rules (see docs/errors.md for the codes):

* Only `library` imports are resolved against other extensions; `wasi` and
  `host` imports are served by the host.
* Providers are indexed once by unversioned interface name and wasmtime's
  compatibility key (`_names.compat_key`): `@1.2.3` is served by `@1.x.y`,
  `@0.2.3` by `@0.2.x`, `0.0.x` and pre-releases only exactly, unversioned only
  by unversioned. Within one provider the newest compatible export is used.
* Ambiguity: if more than one *extension* exports a compatible version the
  import is `ambiguous-provider`, even when their versions differ. Picking the
  newest silently would let an unrelated extension take over an interface just
  by bumping its version. Exports nobody imports are never contested. A pin
  (`[provides] "ns:pkg/iface" = "ext"` in the importer's manifest; a versioned
  key wins over an unversioned one) settles it, and is checked even when there
  is a single provider: a pin naming an extension without a compatible export,
  or an unknown extension, is `bad-pin`. A pin naming an extension that failed
  an earlier stage blocks the importer.
* An import nobody serves is `missing-import`; details["near_misses"] lists up
  to five exports that almost serve it (another version, versioned vs
  unversioned, the same interface in another package, another interface of the
  same package), and details["failed_earlier"] the extensions in `failed` whose
  exports are unknown (those also in `extensions` are known not to serve it).
* A provider older than the import is accepted with an `older-provider` warning.
* Each resolved import is type-checked (`_witypes.type_diff`, only the
  functions the importer uses).
* Every extension on a cycle (strongly connected component, self-imports
  included) gets a `cycle` error with a concrete path.
* Everything that depends, directly or not, on an extension in error (failed
  earlier, or any error here) is `blocked-by-dependency`, naming the nearest
  failed dependency, its code and the path to it. The rest loads.
* `Resolution.links` holds the links the linker must make: one per resolved
  library import whose consumer and provider are both `ok`. Blocked or failed
  consumers get no links (their diagnostics say what they depend on).
* `load_order` is a topological order of the `ok` extensions, providers first,
  ties broken by name, the same for any input order.

Extensions named in `failed` have status "error" (their diagnostic belongs to
the earlier stage and is not repeated). If one also appears in `extensions`, its
exports still identify its dependents (they become blocked rather than
missing), but its imports are not resolved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from ..model._diagnostics import Diagnostic, sort_diagnostics
from ..model._names import InterfaceName, Version, compat_key
from ..model._records import Analysed, Endpoint, Link, Resolution, Status
from ..model._witypes import type_diff
from ._graph import cycle_through, strongly_connected, topological_order

__all__ = ["resolve"]

_MAX_NEAR_MISSES = 5
_EMPTY: Mapping[str | None, Mapping[str, _Export]] = {}
_NO_EXPORTS: Mapping[str, _Export] = {}
_MAX_FAILED_LISTED = 5
_MAX_CYCLE_SHOWN = 16  # path elements in a cycle message; details["cycle"] always has all

_NEAR_MISS_LABEL = {
    "incompatible-version": "incompatible version",
    "unversioned": "unversioned export",
    "versioned": "versioned export",
    "other-package": "same interface in another package",
    "other-interface": "another interface of the same package",
}
_NEAR_MISS_RANK = {k: i for i, k in enumerate(_NEAR_MISS_LABEL)}


@dataclass(frozen=True)
class _Export:
    provider: str
    name: str
    iface: InterfaceName
    endpoint: Endpoint
    order: tuple[int, int, int, tuple[tuple[int, int | str], ...]] | None


@dataclass
class _Index:
    """Exports by unversioned name, then by compat key, then by provider (newest export)."""

    by_key: dict[str, dict[str | None, dict[str, _Export]]] = field(default_factory=dict)
    # built on the first missing import only: sorted unversioned names for near misses
    by_name: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (package, interface)
    by_interface: dict[str, list[str]] = field(default_factory=dict)
    by_package: dict[str, list[str]] = field(default_factory=dict)  # package id (ns:pkg)
    built: bool = False

    def add(self, export: _Export, info: _Name) -> None:
        per_key = self.by_key.setdefault(info.unversioned, {})
        per_provider = per_key.setdefault(info.key, {})
        old = per_provider.get(export.provider)
        if old is None or _newer(export, old):
            per_provider[export.provider] = export

    def build_name_indexes(self) -> None:
        if self.built:
            return
        self.built = True
        for unversioned in sorted(self.by_key):
            iface = _parse(unversioned)
            if iface is None:  # pragma: no cover - keys come from parsed names
                continue
            self.by_name.setdefault((iface.package, iface.interface), []).append(unversioned)
            self.by_interface.setdefault(iface.interface, []).append(unversioned)
            self.by_package.setdefault(iface.package_id, []).append(unversioned)

    def exports_of(self, unversioned: str) -> list[_Export]:
        out = [e for per in self.by_key.get(unversioned, {}).values() for e in per.values()]
        return sorted(out, key=lambda e: (e.name, e.provider))


def _newer(a: _Export, b: _Export) -> bool:
    if a.order is not None and b.order is not None and a.order != b.order:
        return b.order < a.order
    return a.name < b.name


class _Name(NamedTuple):
    """A parsed interface name with what the hot path needs, computed once per distinct name."""

    iface: InterfaceName
    unversioned: str
    key: str | None  # compat_key of the version
    order: tuple[int, int, int, tuple[tuple[int, int | str], ...]] | None  # version sort key


@lru_cache(maxsize=200_000)
def _name(text: str) -> _Name | None:
    """Interface names repeat across thousands of endpoints: parse each once (bounded).

    Equivalent to `InterfaceName.parse`, but the part before `@` and the version
    are parsed (and cached) separately: the few distinct versions are shared by
    thousands of names.
    """
    base, at, vtext = text.partition("@")
    iface = InterfaceName.parse(base)
    if iface is None or iface.version is not None:
        return None
    if not at:
        return _Name(iface, base, None, None)
    version = _parse_version(vtext)
    if version is None:
        return None
    iface = InterfaceName(iface.namespace, iface.package, iface.interface, version)
    order = (version.major, version.minor, version.patch, version._pre_key())
    return _Name(iface, base, compat_key(version), order)


@lru_cache(maxsize=4096)
def _parse_version(text: str) -> Version | None:
    try:
        return Version.parse(text)
    except ValueError:
        return None


def _parse(text: str) -> InterfaceName | None:
    info = _name(text)
    return None if info is None else info.iface


def _near_misses(imported: InterfaceName, index: _Index, importer: str | None = None) -> list[dict[str, str]]:
    """Exports that almost serve `imported`, most relevant first, at most a handful, never the
    importer's own (with the usual `ns:pkg/lib` naming every extension would list itself).

    Tiers: the same interface at another version (or versioned vs unversioned);
    the same package and interface name in another namespace (`other:js/lib`);
    the same interface name in another package (`ext:jsx/lib`); another
    interface of the same package (`ext:js/eval`). Each tier is read from
    a sorted index and only until the cap is reached, so a common interface
    name shared by thousands of extensions costs no more than a rare one.
    """
    found: list[tuple[int, str, str, str]] = []
    for e in index.exports_of(imported.unversioned):
        if e.provider == importer:
            continue
        if imported.version is None:
            kind = "versioned"
        elif e.iface.version is None:
            kind = "unversioned"
        else:
            kind = "incompatible-version"
        found.append((_NEAR_MISS_RANK[kind], e.name, e.provider, kind))
    found.sort()
    index.build_name_indexes()
    seen = {imported.unversioned}
    tiers = (
        ("other-package", index.by_name.get((imported.package, imported.interface), ())),
        ("other-package", index.by_interface.get(imported.interface, ())),
        ("other-interface", index.by_package.get(imported.package_id, ())),
    )
    for kind, names in tiers:
        for unversioned in names:
            if len(found) >= _MAX_NEAR_MISSES:
                break
            if unversioned in seen:
                continue
            seen.add(unversioned)
            found.extend((0, e.name, e.provider, kind) for e in index.exports_of(unversioned)
                         if e.provider != importer)
    return [{"name": n, "provider": p, "kind": k} for _, n, p, k in found[:_MAX_NEAR_MISSES]]


class _Resolver:
    def __init__(self, extensions: Sequence[Analysed], failed: Mapping[str, Diagnostic]) -> None:
        by_name: dict[str, Analysed] = {}
        # Discovery rejects duplicate names; if some slip through, keep one deterministically.
        for ext in sorted(extensions, key=lambda a: (a.name, a.digest, a.candidate.order)):
            by_name.setdefault(ext.name, ext)
        self.exts = by_name
        self.names = sorted(by_name)
        self.failed = dict(failed)
        self.diags: list[Diagnostic] = []
        self.errors: dict[str, str] = {}  # extension -> code of its first error
        self.deps: dict[str, set[str]] = {}  # consumer -> providers (resolved, or pinned failed ones)
        self.resolved: list[tuple[str, str, str, str]] = []  # consumer, import, provider, export
        self.index = _Index()
        for name in self.names:
            for ep in by_name[name].exports:
                info = _name(ep.name)
                if info is not None:
                    self.index.add(_Export(name, ep.name, info.iface, ep, info.order), info)

    # ---------------------------------------------------------------- reporting
    def error(self, code: str, ext: str, subject: str | None, message: str, hint: str = "",
              **details: object) -> None:
        self.diags.append(Diagnostic(code, message, ext, subject, "error", hint, details))

    def warn(self, code: str, ext: str, subject: str | None, message: str, hint: str = "",
             **details: object) -> None:
        self.diags.append(Diagnostic(code, message, ext, subject, "warning", hint, details))

    # ---------------------------------------------------------------- imports
    def run(self) -> Resolution:
        for name in self.names:
            if name in self.failed:
                continue
            ext = self.exts[name]
            pins = _pins(ext)
            for imp in ext.imports:
                if imp.kind == "library":
                    self.resolve_import(ext, imp, pins)
        for d in self.diags:
            if d.is_error and d.extension is not None:
                self.errors.setdefault(d.extension, d.code)
        self.find_cycles()
        status = self.propagate()
        return self.finish(status)

    def resolve_import(self, ext: Analysed, imp: Endpoint, pins: _Pins) -> None:
        consumer = ext.name
        info = _name(imp.name)
        if info is None:
            self.error("missing-import", consumer, imp.name,
                       f"{consumer} imports {imp.name}, which is not an interface name "
                       "no extension can export", near_misses=[])
            return
        iface = info.iface
        candidates = self.index.by_key.get(info.unversioned, _EMPTY).get(info.key, _NO_EXPORTS)
        pin = _pin_for(iface, pins) if pins else None
        if pin is not None:
            export = self.apply_pin(consumer, imp, iface, pin, candidates)
            if export is None:
                return
        elif not candidates:
            self.report_missing(consumer, imp, iface)
            return
        elif len(candidates) > 1:
            providers = sorted(candidates.values(), key=lambda e: e.provider)
            listed = ", ".join(f"{e.provider} ({e.name})" for e in providers)
            first = providers[0].provider
            self.error(
                "ambiguous-provider", consumer, imp.name,
                f"{consumer} imports {imp.name}, which {len(providers)} extensions export "
                f"compatibly: {listed}",
                f'pin one in {consumer}\'s extension.toml: [provides] "{iface.unversioned}" = "{first}"',
                providers=[e.provider for e in providers], exports=[e.name for e in providers])
            return
        else:
            (export,) = candidates.values()
        self.check_and_link(consumer, imp, info, export)

    def apply_pin(self, consumer: str, imp: Endpoint, iface: InterfaceName, pin: tuple[str, str],
                  candidates: Mapping[str, _Export]) -> _Export | None:
        key_text, target = pin
        if target in candidates:
            return candidates[target]
        if target in self.failed and target not in self.exts:
            # its exports are unknown; it was chosen by the user, so the importer waits for it
            self.deps.setdefault(consumer, set()).add(target)
            return None
        offered = sorted(candidates)
        if target not in self.exts and target not in self.failed:
            why = f"no extension is named {target!r}"
        else:
            why = f"{target} does not export a version of {iface.unversioned} compatible with {imp.name}"
        if offered:
            hint = "pin one of the extensions that do: " + ", ".join(
                f'[provides] "{key_text}" = "{p}"' for p in offered)
        else:
            hint = f"no extension exports a compatible {iface.unversioned}; remove the pin or add a provider"
        self.error("bad-pin", consumer, imp.name,
                   f"{consumer} pins {key_text} to {target} for its import {imp.name}, but {why}",
                   hint, pin=key_text, target=target, providers=offered)
        return None

    def report_missing(self, consumer: str, imp: Endpoint, iface: InterfaceName) -> None:
        misses = _near_misses(iface, self.index, consumer)
        message = f"{consumer} imports {imp.name}, but no extension exports a compatible version"
        if misses:
            message += "; near misses: " + ", ".join(
                f"{m['name']} from {m['provider']} ({_NEAR_MISS_LABEL[m['kind']]})" for m in misses)
        details: dict[str, object] = {"near_misses": misses}
        hint = ""
        if misses and misses[0]["kind"] in ("incompatible-version", "unversioned", "versioned"):
            hint = (f"import {misses[0]['name']} (what {misses[0]['provider']} exports), "
                    f"or add an extension that exports a version compatible with {imp.name}")
        # a failed extension whose exports are known (it is also in `exts`) does not serve it
        failed = sorted(n for n in self.failed if n != consumer and n not in self.exts)
        if failed:
            shown = ", ".join(failed[:_MAX_FAILED_LISTED])
            if len(failed) > _MAX_FAILED_LISTED:
                shown += ", ..."
            message += f" (extensions that failed earlier, which may provide it: {shown})"
            details["failed_earlier"] = failed[:_MAX_FAILED_LISTED]
        self.error("missing-import", consumer, imp.name, message, hint, **details)

    def check_and_link(self, consumer: str, imp: Endpoint, info: _Name, export: _Export) -> None:
        expected, found = imp.item, export.endpoint.item
        # frozen dataclasses compare by value; type_diff only runs to explain a difference
        diff = None if expected is found or expected == found else type_diff(expected, found, imp.name)
        if diff is not None:
            path, _, what = diff.partition(": ")
            self.error(
                "type-mismatch", consumer, imp.name,
                f"{consumer}'s import {imp.name} does not match {export.provider}'s export "
                f"{export.name}: {diff}",
                provider=export.provider, export=export.name, path=path, difference=what)
            return
        iface = info.iface
        if info.order is not None and export.order is not None and export.order < info.order:
            self.warn(
                "older-provider", consumer, imp.name,
                f"{consumer} imports {imp.name}, served by {export.provider}'s older {export.name}",
                f"update {export.provider} to {iface.version} or later; functions added since "
                f"{export.iface.version} will be missing",
                provider=export.provider, export=export.name,
                imported_version=str(iface.version), provided_version=str(export.iface.version))
        self.deps.setdefault(consumer, set()).add(export.provider)
        self.resolved.append((consumer, imp.name, export.provider, export.name))

    # ---------------------------------------------------------------- graph
    def find_cycles(self) -> None:
        succ = {n: sorted(d) for n, d in self.deps.items()}
        via_import: dict[tuple[str, str], str] = {}
        for c, i, p, _ in sorted(self.resolved):
            via_import.setdefault((c, p), i)
        for component in strongly_connected(succ.keys(), succ):
            if len(component) == 1 and component[0] not in succ.get(component[0], ()):
                continue
            paths = cycle_through(component, succ)
            members = set(component)
            # members on the same cycle share one rendering and one (read-only) details list
            texts: dict[int, tuple[str, dict[str, int], list[str]]] = {}
            member_list = list(component)
            for member in component:
                path = paths[member]
                if id(path) not in texts:
                    texts[id(path)] = (_render_cycle(path), {m: i for i, m in enumerate(path[:-1])},
                                       list(path))
                text, position, cycle = texts[id(path)]
                if member in position:
                    nxt = path[position[member] + 1]
                else:  # a very large component: every member shows the same cycle
                    nxt = next(p for p in succ[member] if p in members)
                imported = via_import.get((member, nxt))
                if len(path) == 2:
                    message = f"{member} imports {imported}, which it exports itself: {text}"
                else:
                    message = (f"{member} is part of an import cycle: {text} "
                               f"({member} imports {imported} from {nxt})")
                self.error("cycle", member, imported, message,
                           cycle=cycle, members=member_list)
                self.errors.setdefault(member, "cycle")

    def propagate(self) -> dict[str, Status]:
        """Multi-source BFS from every failed extension over reversed edges (nearest cause wins)."""
        status: dict[str, Status] = {}
        reason: dict[str, str] = {}
        for name in self.failed:
            status[name] = "error"
            reason[name] = self.failed[name].code
        for name, code in self.errors.items():
            status[name] = "error"
            reason.setdefault(name, code)
        dependents: dict[str, list[str]] = {}
        for consumer in sorted(self.deps):
            for provider in self.deps[consumer]:
                dependents.setdefault(provider, []).append(consumer)
        toward: dict[str, str] = {}  # blocked extension -> the dependency it is blocked through
        root: dict[str, str] = {n: n for n in status}
        queue: deque[str] = deque(sorted(status))
        while queue:
            node = queue.popleft()
            for dependent in sorted(dependents.get(node, ())):
                if dependent in root or dependent in self.failed:
                    continue
                root[dependent] = root[node]
                toward[dependent] = node
                status[dependent] = "blocked"
                queue.append(dependent)
        for name in sorted(toward):
            cause = root[name]
            via = [name]
            while via[-1] != cause:
                via.append(toward[via[-1]])
            code = reason[cause]
            chain = "" if len(via) == 2 else f" (via {' → '.join(via[1:-1])})"
            self.error(
                "blocked-by-dependency", name, cause,
                f"{name} is not loaded: it depends on {cause}{chain}, which failed with {code}",
                f"fix {cause} ({code}); {name} loads once it does",
                dependency=cause, reason=code, via=via)
        for name in self.names:
            status.setdefault(name, "ok")
        return status

    def finish(self, status: dict[str, Status]) -> Resolution:
        ok = [n for n in self.names if status[n] == "ok"]
        deps = {n: sorted(self.deps.get(n, ())) for n in ok}
        order = topological_order(ok, deps)
        links = [Link(c, i, p, e) for c, i, p, e in sorted(self.resolved)
                 if status.get(c) == "ok" and status.get(p) == "ok"]
        return Resolution(
            load_order=tuple(order),
            links=tuple(links),
            status=dict(sorted(status.items())),
            diagnostics=sort_diagnostics(self.diags),
        )


def _render_cycle(path: Sequence[str]) -> str:
    """`a → b → c → a`; a very long cycle shows its two ends and how many are left out."""
    if len(path) <= _MAX_CYCLE_SHOWN:
        return " → ".join(path)
    head, tail = path[: _MAX_CYCLE_SHOWN // 2], path[-(_MAX_CYCLE_SHOWN // 2):]
    left_out = len(path) - len(head) - len(tail)
    return " → ".join(head) + f" → … ({left_out} more) … → " + " → ".join(tail)


_Pins = dict[str, list[tuple[str, InterfaceName, str]]]


def _pins(ext: Analysed) -> _Pins:
    """The manifest's `[provides]` pins by unversioned interface name, sorted by key."""
    out: _Pins = {}
    for key, target in sorted(ext.candidate.manifest.provides.items()):
        parsed = _parse(key)
        if parsed is not None:
            out.setdefault(parsed.unversioned, []).append((key, parsed, target))
    return out


def _pin_for(iface: InterfaceName, pins: _Pins) -> tuple[str, str] | None:
    """(pin key as written, target) for an import: a compatible versioned key beats an unversioned one."""
    unversioned: tuple[str, str] | None = None
    for key, parsed, target in pins.get(iface.unversioned, ()):
        if parsed.version is None:
            if unversioned is None:
                unversioned = (key, target)
        elif iface.version is not None and parsed.compatible_with(iface):
            return (key, target)
    return unversioned


def resolve(extensions: Sequence[Analysed], failed: Mapping[str, Diagnostic] | None = None) -> Resolution:
    """Resolve library imports, type-check them, find cycles, block dependents, order the rest.

    Never raises for anything a user can cause: every problem is a diagnostic.
    """
    return _Resolver(extensions, failed or {}).run()
