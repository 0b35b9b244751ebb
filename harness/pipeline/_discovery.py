"""Find extensions on disk: the first pipeline stage.

What an input path means:

* a `.wasm` / `.wat` file is a *bare* extension named after the file's stem
  (no manifest, so no capabilities and default limits);
* a folder holding `extension.toml` is one extension (an `extension.toml` file
  given directly means its folder);
* any other folder is *scanned*: each direct child folder holding
  `extension.toml` and each direct child `.wasm` / `.wat` file is an extension.
  Scanning is one level deep on purpose, so a folder's contents never change
  meaning with the depth at which it is found; hidden entries and `build/`,
  `node_modules/` folders are skipped.

Discovery only finds files (a `.wat` is assembled later, in analysis). It never
raises for what it finds: problems become diagnostics, and the result is the same
for any order of the inputs and any directory listing order, because extensions
are deduplicated by resolved path and sorted by name.

An extension rejected here (a bad manifest, an invalid or duplicate name, a path
leaving its folder) whose component can still be found safely inside its folder
is listed in `Discovery.failed`: it is never loaded, but analysing it tells which
interfaces it exports, so resolution can report its dependents as blocked by it
rather than as missing an import.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import Any, Literal

from ..model._diagnostics import Diagnostic
from ..model._errors import UsageError
from ..model._records import Candidate, Manifest
from ._manifest import MANIFEST_NAME, manifest_identity, parse_manifest

__all__ = ["NAME_PATTERN", "Discovery", "DiscoveryConfig", "discover"]

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_COMPONENT_SUFFIXES = (".wasm", ".wat")
_SKIPPED_DIRS = frozenset({"build", "node_modules"})


@dataclass(frozen=True)
class DiscoveryConfig:
    """Discovery settings.

    `max_file_size` caps components and manifests (checked with `stat`, so a huge
    file is never read); `max_manifest_size` caps manifests further, since parsing
    TOML costs about a second per MiB. `follow_symlinks=False` ignores symbolic
    links met while scanning a folder; paths given explicitly are always resolved,
    and links inside an extension must resolve inside its folder either way.
    """

    max_file_size: int = 64 * 1024 * 1024
    follow_symlinks: bool = True
    max_manifest_size: int = 1024 * 1024


@dataclass(frozen=True)
class Discovery:
    """`failed`: rejected extensions whose component was found (see the module docstring)."""

    candidates: tuple[Candidate, ...]
    diagnostics: tuple[Diagnostic, ...]
    failed: tuple[Candidate, ...] = ()

    def get(self, name: str) -> Candidate | None:
        for c in self.candidates:
            if c.name == name:
                return c
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.candidates)


_UnitKind = Literal["folder", "file"]


class _Run:
    """State of one `discover` call."""

    def __init__(self, config: DiscoveryConfig) -> None:
        self.config = config
        self.diagnostics: list[Diagnostic] = []
        # (kind, resolved path) -> the names it was met under (a link may rename it)
        self.units: dict[tuple[_UnitKind, Path], set[str]] = defaultdict(set)
        self.salvaged: list[Candidate] = []

    def report(self, code: str, message: str, *, extension: str | None = None,
               subject: str | None = None, severity: Literal["error", "warning"] = "error",
               **details: Any) -> None:
        self.diagnostics.append(Diagnostic(code, message, extension=extension, subject=subject,
                                           severity=severity, details=details))

    # -- inputs ---------------------------------------------------------------------------------

    def add_input(self, shown: Path, resolved: Path) -> None:
        if resolved.is_dir():
            has_manifest, problem = _has_manifest(resolved)
            if problem is not None:
                self.unreadable(resolved, problem)
            elif has_manifest:
                self.units[("folder", resolved)].add(shown.name or resolved.name)
            else:
                self.scan(resolved)
        elif resolved.is_file():
            if resolved.name == MANIFEST_NAME:
                self.units[("folder", resolved.parent)].add(resolved.parent.name)
            elif resolved.suffix.lower() in _COMPONENT_SUFFIXES:
                self.units[("file", resolved)].add(PurePath(shown.name).stem)
            else:
                self.report("not-an-extension",
                            f"{shown} is not an extension: expected a folder, {MANIFEST_NAME}, "
                            "a .wasm or a .wat file", subject=str(shown), path=str(shown))
        else:
            self.report("not-an-extension", f"{shown} is neither a file nor a folder",
                        subject=str(shown), path=str(shown))

    def scan(self, folder: Path) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            self.unreadable(folder, exc.strerror or str(exc))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            is_link = entry.is_symlink()
            if is_link and not self.config.follow_symlinks:
                continue
            is_component_name = path.suffix.lower() in _COMPONENT_SUFFIXES
            resolved, problem, code = _resolve_errno(path)
            if resolved is None:
                if problem == "loop":
                    self.report("symlink-loop", f"{path} is a symbolic link that loops",
                                extension=path.stem if is_component_name else None,
                                subject=str(path), path=str(path))
                elif is_component_name:
                    self.report("missing-component",
                                f"{path} cannot be read ({problem})",
                                extension=path.stem, subject=path.name, path=str(path))
                elif code not in _ABSENT:  # a dangling link is nothing; a denied one may hide an extension
                    self.unreadable(path, problem)
                continue
            if resolved.is_dir():
                if entry.name in _SKIPPED_DIRS:
                    continue
                has_manifest, denied = _has_manifest(resolved)
                if denied is not None:
                    self.unreadable(resolved, denied)
                elif has_manifest:
                    self.units[("folder", resolved)].add(entry.name)
            elif resolved.is_file() and is_component_name:
                self.units[("file", resolved)].add(path.stem)

    def unreadable(self, folder: Path, problem: str) -> None:
        """A folder that may hold an extension but cannot be read: said, never skipped silently.

        No extension name is attached: the folder's name is only a guess, and an
        error under a guessed name would fail a readable extension of that name.
        """
        self.report("unreadable", f"{folder} cannot be read ({problem}); an extension in it is not loaded",
                    subject=str(folder), path=str(folder), reason=problem)

    # -- units ----------------------------------------------------------------------------------

    def check_file(self, root: Path, path: Path, *, extension: str, missing_code: str,
                   what: str) -> Path | None:
        """Resolve a file that must lie inside `root`; None (after reporting) if it cannot be used."""
        shown = _relative(path, root)
        resolved, problem = _resolve(path)
        if resolved is None:
            if problem == "loop":
                self.report("symlink-loop", f"{what} {shown} in {root} is a symbolic link that loops",
                            extension=extension, subject=shown, path=str(path))
            else:
                self.report(missing_code, f"{what} {shown} not found in {root}",
                            extension=extension, subject=shown, path=str(path))
            return None
        if not resolved.is_relative_to(root):
            self.report("path-escape",
                        f"{what} {shown} resolves to {resolved}, outside the extension folder {root}",
                        extension=extension, subject=shown, path=str(path), target=str(resolved))
            return None
        if not resolved.is_file():
            self.report(missing_code, f"{what} {shown} in {root} is not a regular file",
                        extension=extension, subject=shown, path=str(path))
            return None
        try:
            size = resolved.stat().st_size
        except OSError as exc:
            self.report(missing_code, f"{what} {shown} in {root} cannot be read: {exc.strerror}",
                        extension=extension, subject=shown, path=str(path))
            return None
        limit = self.config.max_file_size
        if what == "manifest":
            limit = min(limit, self.config.max_manifest_size)
        if size > limit:
            self.report("file-too-large",
                        f"{what} {shown} in {root} is {size} bytes, over the {limit}-byte cap",
                        extension=extension, subject=shown, path=str(resolved), size=size, limit=limit)
            return None
        return resolved

    def check_name(self, name: str, where: Path) -> bool:
        if NAME_PATTERN.fullmatch(name):
            return True
        self.report("invalid-name",
                    f"extension name {name!r} (from {where}) must start with a letter and contain only "
                    "letters, digits, '-' and '_'", extension=name, subject=where.name,
                    path=str(where))
        return False

    def salvage(self, root: Path, name: str, component: str | None) -> None:
        """Keep a rejected extension's component if it can be found safely; report nothing.

        The same rules as for a usable extension apply (relative, inside the
        folder after following links, a regular file under the size cap), so a
        broken manifest never makes discovery read a file it would otherwise refuse.
        """
        if component is not None:
            pure = PurePath(component)
            normal = os.path.normpath(component)
            if (pure.is_absolute() or component.startswith(("/", "\\")) or pure.drive
                    or normal == ".." or normal.startswith(".." + os.sep)):
                return
            path = root / normal
        else:
            found = _default_component(root, name)
            if not isinstance(found, Path):
                return
            path = found
        resolved, _ = _resolve(path)
        if resolved is None or not resolved.is_relative_to(root) or not resolved.is_file():
            return
        try:
            if resolved.stat().st_size > self.config.max_file_size:
                return
        except OSError:
            return
        source: Literal["wasm", "wat"] = "wat" if path.suffix.lower() == ".wat" else "wasm"
        self.salvaged.append(Candidate(name=name, root=root, component_path=path, source=source,
                                       manifest=Manifest(name=name)))

    def file_unit(self, path: Path, name: str) -> Candidate | None:
        if not self.check_name(name, path):
            self.salvage(path.parent, name, path.name)
            return None
        checked = self.check_file(path.parent, path, extension=name, missing_code="missing-component",
                                  what="component")
        if checked is None:
            return None
        source: Literal["wasm", "wat"] = "wat" if path.suffix.lower() == ".wat" else "wasm"
        return Candidate(name=name, root=path.parent, component_path=path, source=source,
                         manifest=Manifest(name=name))

    def folder_unit(self, root: Path, folder_name: str) -> Candidate | None:
        manifest_path = self.check_file(root, root / MANIFEST_NAME, extension=folder_name,
                                        missing_code="bad-manifest", what="manifest")
        if manifest_path is None:
            self.salvage(root, folder_name, None)
            return None
        manifest, diags = parse_manifest(root / MANIFEST_NAME, default_name=folder_name)
        self.diagnostics.extend(diags)
        if manifest is None:
            self.salvage(root, *manifest_identity(root / MANIFEST_NAME, default_name=folder_name))
            return None
        if not self.check_name(manifest.name, root / MANIFEST_NAME):
            self.salvage(root, manifest.name, manifest.component)
            return None
        name = manifest.name
        ok = self.check_inside(root, manifest.wit, name, "wit") if manifest.wit else True
        for preopen in manifest.capabilities.preopens:
            ok = self.check_inside(root, preopen.host, name, "capabilities.preopens") and ok
        component = self.find_component(root, manifest)
        if component is None or not ok:
            self.salvage(root, name, manifest.component)
            return None
        return Candidate(name=name, root=root, component_path=component, source="manifest",
                         manifest=manifest)

    def find_component(self, root: Path, manifest: Manifest) -> Path | None:
        name = manifest.name
        if manifest.component is not None:
            if not self.check_inside(root, manifest.component, name, "component"):
                return None
            # normalised lexically (already checked not to climb out), so `sub/..` needs no `sub`
            path = root / os.path.normpath(manifest.component)
        else:
            found = _default_component(root, name)
            if not isinstance(found, Path):
                listed = f" (found {', '.join(found)})" if found else ""
                self.report("missing-component",
                            f"no component in {root}: expected {name}.wasm or {name}.wat, or exactly "
                            f"one .wasm/.wat file{listed}; set `component` in {MANIFEST_NAME}",
                            extension=name, subject=MANIFEST_NAME, path=str(root), found=list(found))
                return None
            path = found
        return self.check_file(root, path, extension=name, missing_code="missing-component",
                               what="component")

    def check_inside(self, root: Path, rel: str, extension: str, key: str) -> bool:
        """A manifest path must be relative and stay inside the folder (links included)."""
        pure = PurePath(rel)
        if pure.is_absolute() or rel.startswith(("/", "\\")) or pure.drive:
            self.report("path-escape",
                        f"`{key}` in {MANIFEST_NAME} is the absolute path {rel!r}; "
                        "name it relative to the extension folder",
                        extension=extension, subject=rel, key=key, path=rel)
            return False
        normal = os.path.normpath(rel)
        if normal == ".." or normal.startswith(".." + os.sep):
            self.report("path-escape", f"`{key}` in {MANIFEST_NAME} ({rel!r}) leaves the extension "
                        f"folder {root}", extension=extension, subject=rel, key=key, path=rel)
            return False
        if key == "component":
            return True  # check_file follows links and reports precisely
        target = root / rel
        if not os.path.lexists(target):
            return True  # absent folders are the linker's business
        resolved, problem = _resolve(target)
        if problem == "loop":
            self.report("symlink-loop", f"`{key}` {rel!r} in {root} is a symbolic link that loops",
                        extension=extension, subject=rel, key=key, path=str(target))
            return False
        if resolved is not None and not resolved.is_relative_to(root):
            self.report("path-escape", f"`{key}` {rel!r} resolves to {resolved}, outside the extension "
                        f"folder {root}", extension=extension, subject=rel, key=key, path=str(target),
                        target=str(resolved))
            return False
        return True


PathArg = str | os.PathLike[str]


def paths_of(given: tuple[PathArg | list[PathArg] | tuple[PathArg, ...], ...]) -> list[Path]:
    """The paths given as `f(a, b)`, as `Host.load` takes them; one list or tuple (`f([a, b])`, the
    old form) is still read as the paths it holds. A string is one path, never its characters;
    anything else (bytes, a number) is a `UsageError`."""
    items: Sequence[object] = given[0] if len(given) == 1 and isinstance(given[0], (list, tuple)) else given
    for p in items:
        if not isinstance(p, (str, os.PathLike)) or isinstance(os.fspath(p), bytes):
            raise UsageError(f"paths must be str or pathlib.Path, got {type(p).__name__}: {p!r}")
    return [Path(p) for p in items]  # type: ignore[arg-type]  # checked just above


def discover(*paths: PathArg | list[PathArg] | tuple[PathArg, ...],
             config: DiscoveryConfig = DiscoveryConfig()) -> Discovery:
    """Find every extension under `paths` (given one by one like `Host.load`'s, or as one list);
    see the module docstring for the rules."""
    run = _Run(config)
    resolved_inputs: dict[Path, Path] = {}
    for raw in {Path(os.path.abspath(p)) for p in paths_of(paths)}:
        if not os.path.lexists(raw):
            run.report("not-found", f"{raw} does not exist", subject=str(raw), path=str(raw))
            continue
        resolved, problem, code = _resolve_errno(raw)
        if resolved is None:
            if problem == "loop":
                run.report("symlink-loop", f"{raw} is a symbolic link that loops",
                           subject=str(raw), path=str(raw))
            elif code in _ABSENT:
                run.report("not-found", f"{raw} cannot be opened ({problem})",
                           subject=str(raw), path=str(raw))
            else:
                run.unreadable(raw, problem)
            continue
        # the same target given twice is one input; keep the smallest spelling for messages
        if resolved not in resolved_inputs or str(raw) < str(resolved_inputs[resolved]):
            resolved_inputs[resolved] = raw
    for resolved, shown in sorted(resolved_inputs.items()):
        try:
            run.add_input(shown, resolved)
        except Exception as exc:  # one input's files never stop the others
            run.unreadable(resolved, _unexpected(exc))

    found: list[tuple[Candidate, Path]] = []
    for (kind, path), names in sorted(run.units.items()):
        name = min(names)
        try:
            candidate = run.folder_unit(path, name) if kind == "folder" else run.file_unit(path, name)
        except Exception as exc:  # one extension's files never stop the others
            run.unreadable(path, _unexpected(exc))
            continue
        if candidate is not None:
            found.append((candidate, path))

    by_name: dict[str, list[tuple[Candidate, Path]]] = defaultdict(list)
    for candidate, origin in found:
        by_name[candidate.name].append((candidate, origin))
    kept: list[Candidate] = []
    for name, group in sorted(by_name.items()):
        if len(group) == 1:
            kept.append(group[0][0])
            continue
        run.salvaged.extend(c for c, _ in group)
        where = sorted(str(origin) for _, origin in group)
        run.report("duplicate-name",
                   f"{len(group)} extensions are named {name!r} ({', '.join(where)}); none is loaded",
                   extension=name, subject=name, paths=where)

    candidates = tuple(replace(c, order=i) for i, c in enumerate(kept))
    failed = sorted(run.salvaged, key=lambda c: (c.name, str(c.component_path)))
    return Discovery(candidates=candidates, diagnostics=_unique(run.diagnostics),
                     failed=tuple(replace(c, order=len(candidates) + i) for i, c in enumerate(failed)))


def _unique(diags: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    seen: set[str] = set()
    out: list[Diagnostic] = []
    for d in diags:
        key = json.dumps(d.to_json(), sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(d)
    # sort_diagnostics' order, with the full content as the final tie-break
    return tuple(sorted(out, key=lambda d: (d.extension or "", d.code, d.subject or "", d.message,
                                            json.dumps(d.to_json(), sort_keys=True))))


def _resolve(path: Path) -> tuple[Path | None, str]:
    """`path` fully resolved, or None and why ("loop", or the OS's reason)."""
    resolved, problem, _ = _resolve_errno(path)
    return resolved, problem


_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR})


def _resolve_errno(path: Path) -> tuple[Path | None, str, int | None]:
    """`_resolve` plus the OS error number, so "absent" can be told from "cannot be read"."""
    try:
        return path.resolve(strict=True), "", None
    except RuntimeError:  # Python < 3.13 reports loops this way
        return None, "loop", errno.ELOOP
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "loop", errno.ELOOP
        return None, exc.strerror or type(exc).__name__, exc.errno
    except ValueError:  # an embedded NUL byte
        return None, "not a valid path", None


def _has_manifest(folder: Path) -> tuple[bool, str | None]:
    """Whether `folder` holds `extension.toml` (a link counts), or why that cannot be told.

    `os.path.lexists` answers False when the folder cannot be searched (EACCES),
    which made an unreadable extension vanish without a word.
    """
    try:
        os.lstat(folder / MANIFEST_NAME)
    except OSError as exc:
        if exc.errno in _ABSENT:
            return False, None
        return False, exc.strerror or type(exc).__name__
    except ValueError:
        return False, "not a valid path"
    return True, None


def _unexpected(exc: Exception) -> str:
    """An exception nothing above anticipated, as a reason (the OS's words for an OSError)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _default_component(root: Path, name: str) -> Path | tuple[str, ...]:
    """`<name>.wasm`, `<name>.wat`, or the folder's only component; else the names found."""
    for suffix in _COMPONENT_SUFFIXES:
        path = root / f"{name}{suffix}"
        if os.path.lexists(path):
            return path
    try:
        with os.scandir(root) as listing:
            names = sorted(
                e.name for e in listing
                if not e.name.startswith(".") and PurePath(e.name).suffix.lower() in _COMPONENT_SUFFIXES
            )
    except OSError:
        names = []
    if len(names) == 1:
        return root / names[0]
    return tuple(names)
