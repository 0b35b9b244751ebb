"""Preopened folders: checked at load and opened again, checked again, on every instantiation.

A guest with a writable folder can rename and replace what is in it, so a path that was a
folder inside the extension at load may be a symbolic link climbing out of it by the time
the extension is restarted after a fault. Opening the path again would follow the link, so
every instantiation walks the path one component at a time from the extension folder,
refusing a symbolic link at any step (`O_NOFOLLOW`), and hands wasmtime the folder it
actually opened (`/proc/self/fd/N`), so nothing can be swapped between the check and the
open. Where `/proc/self/fd` does not exist (not Linux) the checked path itself is opened;
the check then still refuses links, but a swap in between is not excluded.

Preopens are read-only unless the manifest grants `write = true`; a folder holding the
extension's own manifest or component is never writable (`capability-denied` with a hint),
so a guest cannot rewrite what the host loads. Neither is any folder while the manifest or
component has a second hard link (it could be inside the folder; a guest cannot make one,
since WASI's `link-at` needs write access to the folder the file is in).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePath

from ..model._errors import CapabilityDeniedError
from ..model._records import Candidate, Capabilities
from ._manifest import MANIFEST_NAME

__all__ = ["CapabilityDeniedError", "PreopenGrant", "open_preopen", "plan_preopens", "preopen_path",
           "protected_files"]

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FD_PATHS = os.path.isdir("/proc/self/fd")


@dataclass(frozen=True)
class PreopenGrant:
    """A preopen as decided at load: `parts` are walked below `base` on every instantiation."""

    host: str  # as the manifest spells it (for messages)
    guest: str
    write: bool
    base: Path  # the extension folder, resolved at load ("/" for a grant outside it)
    parts: tuple[str, ...]


def protected_files(c: Candidate) -> tuple[Path, ...]:
    """What the guest must never be able to write: its component, and its manifest if it has one."""
    return (c.component_path, c.root / MANIFEST_NAME) if c.source == "manifest" else (c.component_path,)


def plan_preopens(extension: str, root: Path, caps: Capabilities, protected: tuple[Path, ...], *,
                  outside: bool = False) -> tuple[PreopenGrant, ...]:
    """Decide every preopen of `caps` and check it once; raises `CapabilityDeniedError`.

    `root` is the extension folder (resolved here, once); `protected` are files the guest must
    never write (manifest, component). `outside=True` (`grant_outside_folder`) lets a preopen
    reach out of the folder through a symbolic link: the link is followed here, once, and the
    folder it led to is what every instantiation opens, checked the same way.
    """
    base = root.resolve()
    grants: list[PreopenGrant] = []
    for p in caps.preopens:
        rel = PurePath(os.path.normpath(p.host))
        if rel.is_absolute() or (rel.parts and rel.parts[0] == ".."):
            raise CapabilityDeniedError(extension, p.host, f"preopen {p.host!r} leaves the extension folder",
                                        "name a folder inside the extension folder")
        parts = tuple(x for x in rel.parts if x != ".")
        grant = PreopenGrant(p.host, p.guest, p.write, base, parts)
        if outside:  # links followed once, now; the folder they lead to is pinned
            target = (base / rel).resolve()
            grant = (PreopenGrant(p.host, p.guest, p.write, base, target.relative_to(base).parts)
                     if target.is_relative_to(base) else
                     PreopenGrant(p.host, p.guest, p.write, Path(target.anchor), target.parts[1:]))
        folder = grant.base.joinpath(*grant.parts)
        if p.write:
            held = [f for f in protected if f.resolve().is_relative_to(folder)]
            if held:
                raise CapabilityDeniedError(
                    extension, p.host,
                    f"preopen {p.host!r} cannot be writable: it holds the extension's own "
                    f"{held[0].name}, which the guest must not be able to rewrite",
                    "grant it read-only (write = false), or preopen a subfolder holding only the "
                    "files the guest may change")
            linked = [f for f in protected if _link_count(f) > 1]
            if linked:  # a hard link is not a path: `resolve` cannot see one inside the folder
                raise CapabilityDeniedError(
                    extension, p.host,
                    f"preopen {p.host!r} cannot be writable: the extension's own {linked[0].name} has "
                    f"{_link_count(linked[0])} hard links, and one of them may be inside it, where the "
                    "guest could rewrite it",
                    f"replace {linked[0].name} with a copy that has a single link, or grant the preopen "
                    "read-only (write = false)")
        os.close(open_preopen(extension, grant))
        grants.append(grant)
    return tuple(grants)


def _link_count(path: Path) -> int:
    """How many names the file has (1 if it cannot be read: the load then reports that)."""
    try:
        return os.stat(path).st_nlink
    except OSError:
        return 1


def open_preopen(extension: str, grant: PreopenGrant) -> int:
    """A descriptor of the granted folder, reached without following any link below `base`."""
    try:
        fd = os.open(grant.base, _DIR_FLAGS)
    except OSError as e:
        raise CapabilityDeniedError(extension, grant.host, f"preopen {grant.host!r}: the extension folder "
                                    f"{grant.base} cannot be opened ({e.strerror})") from e
    walked: list[str] = []
    try:
        for part in grant.parts:
            walked.append(part)
            try:
                nxt = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except OSError as e:
                raise _refusal(extension, grant, fd, part, "/".join(walked), e) from e
            os.close(fd)
            fd = nxt
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # O_DIRECTORY missing on this platform
            raise CapabilityDeniedError(extension, grant.host, f"preopen {grant.host!r} is not a directory")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refusal(extension: str, grant: PreopenGrant, parent: int, part: str, where: str,
             error: OSError) -> CapabilityDeniedError:
    """Why `part` (below `parent`) could not be entered, in words: a link, a file, missing."""
    try:
        mode: int | None = os.lstat(part, dir_fd=parent).st_mode
    except OSError:
        mode = None
    it = "it" if where == "/".join(grant.parts) else repr(where)
    if mode is not None and stat.S_ISLNK(mode):
        why = (f"{it} is a symbolic link; preopens are opened without following links, "
               "so a guest cannot redirect one out of its folder")
        hint = "preopen the real folder, not a link to it"
    elif mode is not None and not stat.S_ISDIR(mode):
        why = f"{it} is not a directory"
        hint = "create the folder, or drop the preopen from [capabilities]"
    elif error.errno == errno.ENOENT:
        why = f"{it} is not a directory: it does not exist"
        hint = "create the folder, or drop the preopen from [capabilities]"
    else:
        why = f"{it} cannot be opened ({error.strerror})"
        hint = "check the folder's permissions"
    return CapabilityDeniedError(extension, grant.host, f"preopen {grant.host!r} (guest {grant.guest}): {why}",
                                 hint)


def preopen_path(fd: int, grant: PreopenGrant) -> str:
    """What to hand wasmtime for an open descriptor: the descriptor itself where possible."""
    return f"/proc/self/fd/{fd}" if _FD_PATHS else str(grant.base.joinpath(*grant.parts))
