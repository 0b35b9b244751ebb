"""An on-disk cache of compiled components, authenticated so nothing planted in it runs.

Compiling a real component takes seconds (an 18 MB componentize-py one ~7 s);
loading its serialized machine code takes milliseconds. Serialized code is only
valid for the exact wasmtime build and Engine settings, so the key covers the
component's bytes, the wasmtime version, the `EngineConfig` and the platform.

Trust: wasmtime's `Component.deserialize` runs the bytes it is given as machine
code, so an entry is only ever deserialised after its HMAC-SHA256 verifies under
a per-user secret key (32 random bytes in `<root>/hmac-key`, mode 0600). A plain
checksum would not do: anyone who can write an entry can recompute it. The
interface stored next to the code is JSON (see `_typejson`), never pickle. The
root must be a real folder owned by the user and not writable by group or others
(created 0700); otherwise the cache is *refused*: a `CacheWarning` is issued once
per folder and process, and every component is compiled without the cache. The
results are the same, only slower, so a squatted or shared folder can neither
run code nor stop a load.

Entries are written to a temporary file (0600) and moved into place with
`os.replace`, so readers never see half an entry and two processes writing the
same entry is harmless. Anything that fails to verify or load is deleted and
rebuilt, never raised. A read-only or full disk only means compiling every time.
A miss takes an exclusive `flock` on a per-entry lock file (`<root>/<xx>/.<key>.lock`)
before compiling, so processes sharing the folder (xdist workers) compile a component
once; the others wait and load the stored entry.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import importlib.metadata
import logging
import mmap
import os
import platform
import secrets
import stat
import struct
import sys
import tempfile
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, each process compiles
    fcntl = None  # type: ignore[assignment]

import wasmtime
from wasmtime.component import Component

from ..model._errors import CacheWarning
from ._dirs import user_cache_dir
from ._engine import EngineConfig

__all__ = ["CacheStats", "CacheWarning", "CompileCache", "default_cache_dir"]

_log = logging.getLogger(__name__)

_FORMAT = "ext-harness-cache/2"  # part of every key and MAC: entries of format 1 are never looked at
_MAGIC = b"EXTHC002"
_TRAILER = struct.Struct("<8sQ32s")  # magic, payload length, HMAC-SHA256(key, header + payload)
_SUFFIX = ".cwasm"
_CODE_KIND = "code"
_KEY_NAME = "hmac-key"
_KEY_SIZE = 32
_PRIVATE_DIR = 0o700
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted as a file must not block the open
_PROC_FD = Path("/proc/self/fd")
_LOCK_WAIT = 300.0  # seconds to wait for another process compiling the same entry (an 18 MB one: ~10 s)
_BAD_SEAL = "bad MAC or trailer (forged, corrupt, or sealed with another key)"
_REFUSED_HINT = ("use a folder of your own that only you can write (chmod 700), e.g. via "
                 "EXT_HARNESS_CACHE_DIR or cache_dir= / --cache-dir, or turn the cache off "
                 "(use_cache=False / --no-cache)")


class _Refused(Exception):
    """Why a cache folder (or its key) is not used; `hint` says what the user can do."""

    def __init__(self, reason: str, hint: str = _REFUSED_HINT) -> None:
        super().__init__(reason)
        self.hint = hint


_warned: set[str] = set()
_warned_lock = threading.Lock()


@functools.cache
def _wasmtime_version() -> str:
    """Read once: `importlib.metadata` parses the package's METADATA file (~1 ms) on every call."""
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a vendored build
        return "unknown"


def default_cache_dir() -> Path:
    """`$EXT_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/ext-harness`, else `~/.cache/ext-harness`.

    Without a home directory: `<tempdir>/ext-harness-cache-<uid>`. That name is
    predictable, which is why every root is checked (owner, mode, no symlink)
    before use: a folder someone else made there is refused, not used.
    """
    return user_cache_dir("EXT_HARNESS_CACHE_DIR")


@dataclass
class CacheStats:
    """Counters, mostly for tests and `--verbose` output."""

    hits: int = 0
    misses: int = 0
    rejected: int = 0  # entries found forged, corrupt or unloadable, deleted and rebuilt
    store_failures: int = 0


class CompileCache:
    """Compiled components on disk, keyed by bytes + wasmtime version + engine settings.

    The folder is checked, and its key read or created, on first use; if it is
    refused, `refused` says why and the cache behaves as disabled.
    """

    def __init__(self, root: Path | str | None = None, *, enabled: bool = True) -> None:
        self._root = Path(root) if root is not None else default_cache_dir()
        self._enabled = enabled
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._opened = not enabled
        self._secret: bytes | None = None
        self._refused: str | None = None
        self.stats = CacheStats()

    @classmethod
    def disabled(cls) -> CompileCache:
        """A cache that never reads or writes: every load compiles."""
        return cls(Path(os.devnull), enabled=False)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def refused(self) -> str | None:
        """Why the folder (or its key) was refused, once it was looked at; None if it is in use."""
        return self._refused

    def __repr__(self) -> str:
        return f"CompileCache({str(self._root)!r})" if self._enabled else "CompileCache.disabled()"

    def _key(self) -> bytes | None:
        """The folder's secret key, checking the folder on first use; None if disabled or refused."""
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    try:
                        self._secret = _open_root(self._root)
                    except _Refused as e:
                        self._refused = str(e)
                        _warn_once(self._root, e)
                    self._opened = True
        return self._secret

    # ------------------------------------------------------------------ keys

    @staticmethod
    def key(wasm_digest: str, engine_cfg: EngineConfig) -> str:
        """The entry name for a component (by its SHA-256 hex digest) under `engine_cfg`."""
        text = "\n".join((
            _FORMAT,
            wasm_digest,
            f"wasmtime={_wasmtime_version()}",
            engine_cfg.key(),
            f"{sys.platform}-{platform.machine()}",
        ))
        return hashlib.sha256(text.encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self._root / key[:2] / f"{key}{_SUFFIX}"

    # ------------------------------------------------------------------ load / store

    def load_or_compile(self, engine: wasmtime.Engine, engine_cfg: EngineConfig,
                        wasm_bytes: bytes | bytearray, *,
                        digest: str | None = None) -> tuple[Component, bool]:
        """The compiled component and whether it came from the cache.

        `engine` must have been made from `engine_cfg`. Raises wasmtime's error if
        the bytes do not compile (that is the caller's diagnostic to make); cache
        problems never raise.
        """
        wasm = bytes(wasm_bytes)
        return self.load_or_build(engine, engine_cfg, digest or hashlib.sha256(wasm).hexdigest(), lambda: wasm)

    def load_or_build(self, engine: wasmtime.Engine, engine_cfg: EngineConfig, digest: str,
                      build: Callable[[], bytes]) -> tuple[Component, bool]:
        """`load_or_compile` for bytes that are costly to make (a composed component): `digest`
        names the inputs, and `build` runs only on a miss, so a warm load never makes them."""
        secret = self._key() if self._enabled else None
        if secret is None:
            return _compile(engine, build()), False
        key = self.key(digest, engine_cfg)
        path = self.path_for(key)
        component = self._load(engine, secret, key, path)
        if component is None:
            with self._entry_lock(key, path):  # another process compiling the same entry: wait for it
                component = self._load(engine, secret, key, path)
                if component is None:
                    self._count("misses")
                    component = _compile(engine, build())
                    self._store(secret, key, path, component)
                    return component, False
        self._count("hits")
        return component, True

    @contextlib.contextmanager
    def _entry_lock(self, key: str, path: Path) -> Iterator[None]:
        """An exclusive `flock` on `<root>/<xx>/.<key>.lock`, so concurrent processes (xdist
        workers) compile a component once: the others wait, then load the stored entry.

        The lock file is opened without following symlinks and never read; if it cannot be
        made or locked (read-only disk, no flock), everyone just compiles, as before. A holder
        that never finishes (a stopped process) is waited for `_LOCK_WAIT` seconds at most,
        then this process compiles too: a lock only saves work, it never stops a load.
        """
        fd: int | None = None
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(path.parent, _PRIVATE_DIR)
            fd = os.open(path.with_name(f".{key}.lock"),
                         os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, 0o600)
            if fcntl is not None:
                deadline = time.monotonic() + _LOCK_WAIT
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            _log.debug("compile cache: %s still locked after %ss; compiling", path, _LOCK_WAIT)
                            break
                        time.sleep(0.05)
        except OSError as e:
            _log.debug("compile cache: no lock for %s: %s", path, e)
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)  # releases the flock

    def _load(self, engine: wasmtime.Engine, secret: bytes, key: str, path: Path) -> Component | None:
        """The entry's component if its MAC verifies; a bad entry is deleted and None returned.

        The MAC is checked over one open file (mapped, not copied), and wasmtime
        then maps that same inode through /proc/self/fd: the bytes it loads are
        the bytes checked, even if the name is replaced meanwhile. Entries are
        never rewritten in place (only replaced), and one writable by others is refused.
        """
        try:
            fd = _open_entry(path, private=True)
        except FileNotFoundError:
            return None
        except OSError as e:
            self._reject(path, f"unusable file: {e}")
            return None
        try:
            if os.fstat(fd).st_size <= _TRAILER.size:
                self._reject(path, "too short")
                return None
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                length = _verified_length(mm, secret, key, _CODE_KIND)
                if length is None:
                    self._reject(path, _BAD_SEAL)
                    return None
                if _PROC_FD.is_dir():  # Linux: no copy, wasmtime maps the file
                    with contextlib.suppress(Exception):  # else retried from the bytes below
                        return Component.deserialize_file(engine, f"{_PROC_FD}/{fd}")
                return Component.deserialize(engine, mm[:length])
        except Exception as e:  # wasmtime's "compiled without fuel support", ELF errors, ...
            self._reject(path, str(e).splitlines()[0] if str(e) else type(e).__name__)
            return None
        finally:
            os.close(fd)

    def _read_verified(self, secret: bytes, key: str, kind: str, path: Path) -> bytes | None:
        """A side entry's payload if its MAC verifies, else None; a bad entry is deleted."""
        try:
            fd = _open_entry(path, private=False)
        except FileNotFoundError:
            return None
        except OSError as e:
            self._reject(path, f"unusable file: {e}")
            return None
        with os.fdopen(fd, "rb") as f:
            try:
                data = f.read()
            except OSError as e:
                self._reject(path, f"unreadable: {e}")
                return None
        length = _verified_length(data, secret, key, kind)
        if length is None:
            self._reject(path, _BAD_SEAL)
            return None
        return data[:length]

    def _reject(self, path: Path, why: str) -> None:
        _log.debug("compile cache: discarding %s: %s", path, why)
        self._count("rejected")
        with contextlib.suppress(OSError):
            path.unlink()

    def _store(self, secret: bytes, key: str, path: Path, component: Component) -> None:
        try:
            payload = bytes(component.serialize())
        except Exception as e:  # pragma: no cover - wasmtime cannot serialize what it compiled
            _log.debug("compile cache: cannot serialize for %s: %s", path, e)
            self._count("store_failures")
            return
        self._write(path, payload + _seal(payload, secret, key, _CODE_KIND))

    def _write(self, path: Path, data: bytes) -> None:
        """`data`, written to a private temporary file in the same folder and moved into place."""
        tmp: str | None = None
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(path.parent, _PRIVATE_DIR)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)  # 0600
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            tmp = None
        except OSError as e:  # read-only disk, disk full, a file where a directory should be
            _log.debug("compile cache: cannot store %s: %s", path, e)
            self._count("store_failures")
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    # ------------------------------------------------------------------ side entries

    def load_extra(self, wasm_digest: str, engine_cfg: EngineConfig, kind: str) -> bytes | None:
        """Bytes stored next to a component's entry (e.g. its converted interface), or None.

        Lets later stages skip work derived from the same bytes; the payload is
        authenticated like compiled code (the MAC covers `kind` too), and its
        format is the caller's business.
        """
        secret = self._key() if self._enabled else None
        if secret is None:
            return None
        key = self.key(wasm_digest, engine_cfg)
        return self._read_verified(secret, key, kind, self._extra_path(key, kind))

    def store_extra(self, wasm_digest: str, engine_cfg: EngineConfig, kind: str, data: bytes) -> None:
        secret = self._key() if self._enabled else None
        if secret is not None:
            key = self.key(wasm_digest, engine_cfg)
            self._write(self._extra_path(key, kind), data + _seal(data, secret, key, kind))

    def discard_extra(self, wasm_digest: str, engine_cfg: EngineConfig, kind: str) -> None:
        """Delete a side entry the caller found unusable (e.g. written by an older version)."""
        if self._enabled and self._key() is not None:
            key = self.key(wasm_digest, engine_cfg)
            self._reject(self._extra_path(key, kind), f"unusable {kind}")

    def _extra_path(self, key: str, kind: str) -> Path:
        if not kind.isidentifier() or kind == _CODE_KIND:
            raise ValueError(f"bad side-entry kind {kind!r}")
        return self.path_for(key).with_suffix(f".{kind}")

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    # ------------------------------------------------------------------ maintenance

    def entries(self) -> list[Path]:
        if not self._enabled or not self._root.is_dir() or self._key() is None:
            return []
        return sorted(self._root.glob(f"??/*{_SUFFIX}"))

    def clear(self) -> int:
        """Delete every entry (side entries included); returns how many files were removed.

        The key stays. Nothing is deleted in a refused folder (it is not ours to clean).
        """
        removed = 0
        if not self._enabled or not self._root.is_dir() or self._key() is None:
            return 0
        for p in sorted(self._root.glob("??/*")):
            if p.name.startswith(".") or not p.is_file():
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
        return removed


def _compile(engine: wasmtime.Engine, wasm: bytes) -> Component:
    if not wasm.startswith(b"\0asm"):
        # wasmtime-py would otherwise read non-binary bytes as WAT text.
        raise wasmtime.WasmtimeError("not a WebAssembly binary (missing the \\0asm magic)")
    return Component(engine, wasm)


# --------------------------------------------------------------------------- sealing

def _mac(payload: bytes | bytearray | memoryview, secret: bytes, key: str, kind: str) -> bytes:
    """HMAC-SHA256 over the format, the kind, the entry's key and the payload.

    Binding the key and kind means a valid entry copied under another name (or a
    side entry passed off as code) does not verify either.
    """
    h = hmac.new(secret, f"{_FORMAT}\0{kind}\0{key}\0{len(payload)}\0".encode(), hashlib.sha256)
    h.update(payload)
    return h.digest()


def _seal(payload: bytes, secret: bytes, key: str, kind: str) -> bytes:
    """The trailer to append to `payload`."""
    return _TRAILER.pack(_MAGIC, len(payload), _mac(payload, secret, key, kind))


def _verified_length(data: bytes | mmap.mmap, secret: bytes, key: str, kind: str) -> int | None:
    """The payload's length if `data`'s trailer and MAC (compared in constant time) match, else None."""
    if len(data) < _TRAILER.size:
        return None
    magic, length, mac = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
    if magic != _MAGIC or length != len(data) - _TRAILER.size:
        return None
    with memoryview(data) as view, view[:length] as payload:
        expected = _mac(payload, secret, key, kind)
    return length if hmac.compare_digest(mac, expected) else None


def _open_entry(path: Path, *, private: bool) -> int:
    """An open descriptor on a regular file, not following a symlink, never blocking on a FIFO.

    `private`: also refuse a file that is not ours or that others can write,
    since wasmtime maps it after the check.
    """
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        uid = _euid()
        if private and ((uid is not None and st.st_uid != uid) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            raise OSError(f"{path.name} is not a private file of ours")
    except BaseException:
        os.close(fd)
        raise
    return fd


# --------------------------------------------------------------------------- the root and its key

def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _open_root(root: Path) -> bytes:
    """Check (creating if missing) the cache folder and return its key; raises `_Refused`."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        try:
            root.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(root, _PRIVATE_DIR)
        except FileExistsError:
            pass  # made by someone else meanwhile: checked below like any existing folder
        except OSError as e:
            raise _Refused(f"cannot create it: {e.strerror or e}") from None
        try:
            st = os.lstat(root)
        except OSError as e:
            raise _Refused(f"cannot read it: {e.strerror or e}") from None
    except OSError as e:
        raise _Refused(f"cannot read it: {e.strerror or e}") from None
    _check_owned(st, "it", "folder")
    if not stat.S_ISDIR(st.st_mode):
        raise _Refused("it is not a folder")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _Refused(f"other users can write to it (mode {stat.S_IMODE(st.st_mode):o})")
    return _load_key(root / _KEY_NAME)


def _check_owned(st: os.stat_result, subject: str, what: str, hint: str = _REFUSED_HINT) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise _Refused(f"{subject} is a symbolic link; it must be a real {what}", hint)
    uid = _euid()
    if uid is not None and st.st_uid != uid:
        raise _Refused(f"{subject} is owned by uid {st.st_uid}, not by you (uid {uid})", hint)


def _load_key(path: Path) -> bytes:
    """The folder's key, created on first use; refused unless a private 32-byte file of ours."""
    hint = f"delete {path} (a new key is made and the cache rebuilt) or turn the cache off"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
        except FileNotFoundError:
            _create_key(path)
            continue
        except OSError as e:  # ELOOP: a symlink
            if os.path.islink(path):
                raise _Refused(f"its key {path.name} is a symbolic link", hint) from None
            raise _Refused(f"cannot read its key {path.name}: {e.strerror or e}", hint) from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise _Refused(f"its key {path.name} is not a regular file", hint)
            _check_owned(st, f"its key {path.name}", "file", hint)
            if st.st_mode & 0o077:
                raise _Refused(f"its key {path.name} is readable or writable by others "
                               f"(mode {stat.S_IMODE(st.st_mode):o}; it must be 600)", hint)
            secret = f.read(_KEY_SIZE + 1)
        if len(secret) != _KEY_SIZE:
            raise _Refused(f"its key {path.name} is not {_KEY_SIZE} bytes", hint)
        return secret
    raise _Refused(f"cannot create its key {path.name}", hint)  # pragma: no cover - deleted as fast as made


def _create_key(path: Path) -> None:
    """Make the key atomically: a complete 0600 temporary file (O_EXCL) hard-linked into place.

    `os.link` fails if the key exists, so of two processes racing, one key wins
    and both use it; nobody ever reads a half-written key.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=".key.", dir=path.parent)  # O_EXCL, mode 0600
    except OSError as e:
        raise _Refused(f"cannot create its key {path.name}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_KEY_SIZE))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # a file system without hard links: O_EXCL on the name itself
            _create_key_in_place(path)
    except OSError as e:
        raise _Refused(f"cannot create its key {path.name}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _create_key_in_place(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(_KEY_SIZE))


def _warn_once(root: Path, refused: _Refused) -> None:
    """One `CacheWarning` per folder and process: inspect/Host.load go on without the cache."""
    shown = str(root)
    with _warned_lock:
        if shown in _warned:
            return
        _warned.add(shown)
    _log.debug("compile cache refused: %s: %s", shown, refused)
    # Point the warning at the user's call (Host.load, inspect, ...), not at this package.
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # harness/
    frame: types.FrameType | None = sys._getframe(0)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"compile cache not used: {shown!r}: {refused}; compiling without it "
                  f"(hint: {refused.hint})", CacheWarning, stacklevel=level)
