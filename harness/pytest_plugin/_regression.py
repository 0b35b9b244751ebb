"""Interface regression: a recorded interface per extension, and the semver bump a change needs.

The snapshot is a small JSON file (`<dir>/<extension>.json`) holding the version and
every imported/exported function's rendered type, keyed by the *unversioned*
interface name so that an interface version bump is a change, not a removal.
Comparing it with the current interface tells what changed and which part of the
extension's version has to move (SemVer, with the 0.x and 0.0.x conventions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..model._names import InterfaceName, Version
from ..model._records import Analysed, Endpoint
from ..model._witypes import render

__all__ = ["TOOLCHAIN_EXPORTS", "Change", "InterfaceSnapshot", "compare", "needed_bump", "read_snapshot",
           "snapshot_of", "toolchain_generated", "verdict", "write_snapshot"]

Bump = Literal["major", "minor", "patch", "none"]
_RANK = {"none": 0, "patch": 1, "minor": 2, "major": 3}


@dataclass(frozen=True)
class InterfaceSnapshot:
    name: str
    version: str | None
    imports: dict[str, dict[str, str]]  # unversioned interface → function → rendered type
    exports: dict[str, dict[str, str]]
    interface_versions: dict[str, str]  # "export ns:pkg/iface" → version, for messages

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "imports": self.imports,
                "exports": self.exports, "interface_versions": self.interface_versions}


@dataclass(frozen=True)
class Change:
    kind: Literal["breaking", "additive"]
    text: str


def _side(endpoints: tuple[Endpoint, ...], label: str, versions: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for e in endpoints:
        parsed = InterfaceName.parse(e.name)
        key = parsed.unversioned if parsed is not None else e.name
        if parsed is not None and parsed.version is not None:
            versions[f"{label} {key}"] = str(parsed.version)
        out[key] = {fname: render(ft) for fname, ft in e.functions()}
    return dict(sorted(out.items()))


# Exports a toolchain adds for its own build-time pre-initialisation, not part of the author's
# interface. They change with the toolchain's version, so they are left out of snapshots: a
# toolchain upgrade is not an interface change. (name, toolchain, what it is)
TOOLCHAIN_EXPORTS: tuple[tuple[str, str, str], ...] = (
    ("init", "componentize-qjs", "a top-level function `init` (evaluates the script at build time)"),
    ("exports", "componentize-py", "an instance `exports` holding only `init` (imports the app at build time)"),
)
_TOOLCHAIN_NAMES = frozenset(name for name, _, _ in TOOLCHAIN_EXPORTS)


def toolchain_generated(export: str, functions: Mapping[str, str]) -> bool:
    """Whether an export (name → {function: rendered type}) is a toolchain's pre-initialisation hook.

    Recognised by shape, not by the exact signature (which is what changes between toolchain
    versions): a plain name (not `ns:pkg/iface`) from `TOOLCHAIN_EXPORTS`, whose only function is
    `init` returning `result<_, string>`. The host contract never uses plain names (its
    lifecycle hook is `ext:host/lifecycle#init`), so an author's own interface does not match.
    """
    return (export in _TOOLCHAIN_NAMES and set(functions) == {"init"}
            and str(functions["init"]).endswith("-> result<_, string>"))


def _authored(exports: Mapping[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {k: v for k, v in exports.items() if not (isinstance(v, Mapping) and toolchain_generated(k, v))}


def snapshot_of(a: Analysed) -> InterfaceSnapshot:
    versions: dict[str, str] = {}
    imports = _side(a.imports, "import", versions)
    exports = _authored(_side(a.exports, "export", versions))
    return InterfaceSnapshot(a.name, a.candidate.version, imports, exports, dict(sorted(versions.items())))


def write_snapshot(snap: InterfaceSnapshot, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{snap.name}.json"
    path.write_text(json.dumps(snap.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_snapshot(folder: Path, name: str) -> InterfaceSnapshot | None:
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        # a snapshot recorded before toolchain exports were left out: they are not compared either
        return InterfaceSnapshot(d["name"], d.get("version"), d.get("imports", {}), _authored(d.get("exports", {})),
                                 d.get("interface_versions", {}))
    except (ValueError, KeyError, TypeError):
        return None


def compare(old: InterfaceSnapshot, new: InterfaceSnapshot) -> list[Change]:
    """What changed from `old` to `new`, each change classified for SemVer."""
    changes: list[Change] = []
    for iface in sorted(set(old.exports) | set(new.exports)):
        before, after = old.exports.get(iface), new.exports.get(iface)
        if after is None:
            changes.append(Change("breaking", f"removed export {iface}"))
            continue
        if before is None:
            changes.append(Change("additive", f"added export {iface}"))
            continue
        for fn in sorted(set(before) | set(after)):
            if fn not in after:
                changes.append(Change("breaking", f"removed function {iface}#{fn}"))
            elif fn not in before:
                changes.append(Change("additive", f"added function {iface}#{fn}"))
            elif before[fn] != after[fn]:
                changes.append(Change("breaking", f"changed {iface}#{fn}: {before[fn]} → {after[fn]}"))
    for iface in sorted(set(old.imports) | set(new.imports)):
        before, after = old.imports.get(iface), new.imports.get(iface)
        if before is None:
            changes.append(Change("breaking", f"added import {iface} (hosts must now provide it)"))
        elif after is None:
            changes.append(Change("additive", f"removed import {iface}"))
        elif before != after:
            changes.append(Change("additive", f"import {iface} now uses "
                                  f"{', '.join(sorted(set(after) ^ set(before))) or 'other types'}"))
    return changes


def needed_bump(changes: list[Change], version: str | None) -> Bump:
    """SemVer: breaking → major, additive → minor; below 1.0 everything shifts one place down."""
    if not changes:
        return "none"
    breaking = any(c.kind == "breaking" for c in changes)
    v = _version(version)
    if v is None or v.major >= 1:
        return "major" if breaking else "minor"
    if v.minor >= 1:
        return "minor" if breaking else "patch"
    return "patch"


def _version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version.parse(text)
    except ValueError:
        return None


def actual_bump(old: str | None, new: str | None) -> Bump:
    a, b = _version(old), _version(new)
    if a is None or b is None or not a < b:
        return "none"
    if b.major != a.major:
        return "major"
    if b.minor != a.minor:
        return "minor"
    return "patch"


def _suggest(version: str | None, bump: Bump) -> str:
    v = _version(version)
    if v is None:
        return f"a {bump} version bump"
    nxt = {"major": f"{v.major + 1}.0.0", "minor": f"{v.major}.{v.minor + 1}.0",
           "patch": f"{v.major}.{v.minor}.{v.patch + 1}"}.get(bump, str(v))
    return f"a {bump} version bump ({v.major}.{v.minor}.{v.patch} → {nxt})"


def verdict(old: InterfaceSnapshot, new: InterfaceSnapshot) -> tuple[bool, str]:
    """(ok, message): ok unless the interface changed more than the version bump allows."""
    changes = compare(old, new)
    if not changes:
        return True, "interface unchanged"
    need = needed_bump(changes, old.version)
    did = actual_bump(old.version, new.version)
    listing = "\n".join(f"  - {c.text} ({c.kind})" for c in changes)
    if _RANK[did] >= _RANK[need]:
        return True, (f"interface changed with a sufficient version bump ({old.version} → {new.version}):\n"
                      f"{listing}\n  run with --snapshot-update to record the new interface")
    what = "without a version bump" if did == "none" else f"with only a {did} bump ({old.version} → {new.version})"
    return False, (f"{new.name}: interface changed {what}:\n{listing}\n"
                   f"  fix: this needs {_suggest(old.version, need)} in extension.toml, then record the "
                   "new interface with --snapshot-update (or undo the change)")
