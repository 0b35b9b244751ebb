"""An on-disk cache of compiled components.

Compiling a real component takes seconds (an 18 MB componentize-py one ~7 s);
loading its serialized machine code takes milliseconds. Serialized code is only
valid for the exact wasmtime build and Engine settings, so the key covers the
component's bytes, the wasmtime version, the `EngineConfig` and the platform.

Entries are written to a temporary file and moved into place with `os.replace`,
so readers never see half an entry and two processes writing the same entry is
harmless. Each entry carries a trailer with the SHA-256 of its code: wasmtime
detects a truncated entry but happily loads one with flipped bytes, and running
corrupted machine code could crash the process. Anything that fails to verify
or load is deleted and rebuilt. The cache is best-effort: a read-only or full
disk only means compiling every time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import os
import platform
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component

from ._engine import EngineConfig

__all__ = ["CacheStats", "CompileCache", "default_cache_dir"]

_log = logging.getLogger(__name__)

_FORMAT = "ext-harness-cache/1"
_MAGIC = b"EXTHC001"
_TRAILER = struct.Struct("<8sQ32s")  # magic, payload length, sha256(payload)
_SUFFIX = ".cwasm"


@functools.cache
def _wasmtime_version() -> str:
    """Read once: `importlib.metadata` parses the package's METADATA file (~1 ms) on every call."""
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a vendored build
        return "unknown"


def default_cache_dir() -> Path:
    """`$EXT_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/ext-harness`, else `~/.cache/ext-harness`."""
    explicit = os.environ.get("EXT_HARNESS_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "ext-harness"
    try:
        return Path.home() / ".cache" / "ext-harness"
    except RuntimeError:  # no home directory (some CI sandboxes)
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return Path(tempfile.gettempdir()) / f"ext-harness-cache-{uid}"


@dataclass
class CacheStats:
    """Counters, mostly for tests and `--verbose` output."""

    hits: int = 0
    misses: int = 0
    rejected: int = 0  # entries found corrupt or unloadable, deleted and rebuilt
    store_failures: int = 0


class CompileCache:
    """Compiled components on disk, keyed by bytes + wasmtime version + engine settings."""

    def __init__(self, root: Path | str | None = None, *, enabled: bool = True) -> None:
        self._root = Path(root) if root is not None else default_cache_dir()
        self._enabled = enabled
        self._lock = threading.Lock()
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

    def __repr__(self) -> str:
        return f"CompileCache({str(self._root)!r})" if self._enabled else "CompileCache.disabled()"

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
        if not self._enabled:
            return _compile(engine, wasm), False
        digest = digest or hashlib.sha256(wasm).hexdigest()
        path = self.path_for(self.key(digest, engine_cfg))
        component = self._load(engine, path)
        if component is not None:
            self._count("hits")
            return component, True
        self._count("misses")
        component = _compile(engine, wasm)
        self._store(path, component)
        return component, False

    def _load(self, engine: wasmtime.Engine, path: Path) -> Component | None:
        if self._read_verified(path) is None:
            return None
        try:
            # Maps the file; wasmtime ignores the trailer after the ELF image.
            return Component.deserialize_file(engine, str(path))
        except Exception as e:  # wasmtime's "compiled without fuel support", ELF errors, ...
            self._reject(path, str(e).splitlines()[0] if str(e) else type(e).__name__)
            return None

    def _read_verified(self, path: Path) -> bytes | None:
        """The entry's payload, or None if absent; a damaged entry is deleted."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            _log.debug("compile cache: cannot read %s: %s", path, e)
            return None
        payload = _verify(data)
        if payload is None:
            self._reject(path, "checksum or trailer mismatch")
        return payload

    def _reject(self, path: Path, why: str) -> None:
        _log.debug("compile cache: discarding %s: %s", path, why)
        self._count("rejected")
        with contextlib.suppress(OSError):
            path.unlink()

    def _store(self, path: Path, component: Component) -> None:
        try:
            payload = bytes(component.serialize())
        except Exception as e:  # pragma: no cover - wasmtime cannot serialize what it compiled
            _log.debug("compile cache: cannot serialize for %s: %s", path, e)
            self._count("store_failures")
            return
        self._write(path, payload)

    def _write(self, path: Path, payload: bytes) -> None:
        """Payload + checksum trailer, written to a temporary file and moved into place."""
        tmp: str | None = None
        try:
            trailer = _TRAILER.pack(_MAGIC, len(payload), hashlib.sha256(payload).digest())
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.write(trailer)
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
        checksummed like compiled code, and its format is the caller's business.
        """
        if not self._enabled:
            return None
        return self._read_verified(self._extra_path(wasm_digest, engine_cfg, kind))

    def store_extra(self, wasm_digest: str, engine_cfg: EngineConfig, kind: str, data: bytes) -> None:
        if self._enabled:
            self._write(self._extra_path(wasm_digest, engine_cfg, kind), data)

    def discard_extra(self, wasm_digest: str, engine_cfg: EngineConfig, kind: str) -> None:
        """Delete a side entry the caller found unusable (e.g. written by an older version)."""
        if self._enabled:
            self._reject(self._extra_path(wasm_digest, engine_cfg, kind), f"unusable {kind}")

    def _extra_path(self, wasm_digest: str, engine_cfg: EngineConfig, kind: str) -> Path:
        if not kind.isidentifier():
            raise ValueError(f"bad side-entry kind {kind!r}")
        return self.path_for(self.key(wasm_digest, engine_cfg)).with_suffix(f".{kind}")

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    # ------------------------------------------------------------------ maintenance

    def entries(self) -> list[Path]:
        if not self._enabled or not self._root.is_dir():
            return []
        return sorted(self._root.glob(f"??/*{_SUFFIX}"))

    def clear(self) -> int:
        """Delete every entry (side entries included); returns how many files were removed."""
        removed = 0
        if not self._enabled or not self._root.is_dir():
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


def _verify(data: bytes) -> bytes | None:
    """The payload if the trailer and checksum match, else None."""
    if len(data) < _TRAILER.size:
        return None
    magic, length, digest = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
    if magic != _MAGIC or length != len(data) - _TRAILER.size:
        return None
    payload = data[:length]
    return payload if hashlib.sha256(payload).digest() == digest else None
