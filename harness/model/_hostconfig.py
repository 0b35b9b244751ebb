"""What `Host.load(**config)` accepts, and the records a Host keeps (events, traces, logs)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ._errors import UsageError
from ._records import Limits

__all__ = ["LIMITS", "MAX_DEPTH", "HostConfig", "HostEvent", "LimitSpec", "LogRecord", "RuntimeLimits",
           "TraceEvent", "default_store_limits"]

MAX_DEPTH = 150  # the largest `max_depth` accepted; Python's stack is also measured per hop
MAX_LOG_RECORDS = 10_000_000  # the largest `max_log_records` accepted
MAX_LOG_MESSAGE = 16 * 1024 * 1024  # the largest `max_log_message` accepted (characters)


@dataclass(frozen=True)
class LimitSpec:
    """One per-extension limit: its default and the range accepted from `Host.load` and `[limits]`.

    The bounds keep every value meaningful once converted for wasmtime (`memory_mb * 2**20`
    must not wrap in a 64-bit integer; 0 would mean "none" to some of its setters)."""

    default: int | None  # None: not limited unless asked for
    low: int
    high: int
    unit: str

    def check(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"an integer from {self.low} to {self.high} ({self.unit})"


# Safe defaults for a hostile guest: a Store is refused more than this, whatever the component asks for.
LIMITS: dict[str, LimitSpec] = {
    "timeout_ms": LimitSpec(30_000, 1, 86_400_000, "milliseconds per call"),
    "fuel": LimitSpec(None, 1, 2**63 - 1, "fuel units per call"),
    "memory_mb": LimitSpec(256, 1, 65_536, "MiB per linear memory"),
    "memories": LimitSpec(4, 1, 10_000, "linear memories per extension"),
    "instances": LimitSpec(1_000, 1, 10_000, "core instances per extension"),
    "tables": LimitSpec(16, 1, 10_000, "tables per extension"),
    "table_elements": LimitSpec(1_000_000, 1, 2**32 - 1, "elements per table"),
}
_HOST_RANGES = {"restart_budget": (0, 1_000_000), "tick_ms": (1, 10_000), "max_file_size": (1, 2**32)}


@dataclass(frozen=True)
class HostConfig(Limits):
    """Everything `Host.load(**config)` accepts.

    The per-extension limits (`timeout_ms`, `fuel`, `memory_mb`, ...) are the fields of `Limits`,
    declared once for the host, the manifest's `[limits]` and `RuntimeLimits`: on the host, None for
    a Store limit means its default in `LIMITS`, None for `timeout_ms` or `fuel` means no limit."""

    timeout_ms: int | None = LIMITS["timeout_ms"].default  # the host sets a timeout unless told None
    cache_dir: str | None = None
    use_cache: bool = True
    max_file_size: int = 64 * 1024 * 1024
    memory64: bool = False
    """Let components use 64-bit memories (an Engine setting, so for every extension of the host)."""
    restart_budget: int = 3
    reentrancy: bool = False
    max_depth: int = 64
    tick_ms: int = 5
    strict: bool = False
    grant_outside_folder: bool = False
    run_init: bool = True
    trace: bool = False
    link: str = "dynamic"
    """"dynamic": every extension in a Store of its own, calls between them through the host;
    "fused": each extension that imports libraries runs as one composed component with private
    instances of its providers (docs/linking.md)."""
    """Record start/end events of async calls in `Host.traces` (tests snapshot them)."""
    max_log_records: int = 10_000
    """`Host.logs` keeps the newest this many records; older ones are dropped and counted."""
    max_log_message: int = 4_096
    """Characters of a log message kept; the rest is cut and a marker says how much."""
    interfaces: Mapping[str, Mapping[str, Callable[..., Any]]] = field(default_factory=dict)
    """Interfaces the host serves with Python functions: {"ns:pkg/iface@1.0.0": {"func": callable}}."""

    @classmethod
    def from_kwargs(cls, config: dict[str, Any]) -> HostConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise UsageError(f"unknown Host option(s): {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        cfg = cls(**config)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Refuse values that would silently mean something else (0 ms timeout = none, ...)."""
        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        for name, spec in LIMITS.items():
            v = getattr(self, name)
            if v is not None and not spec.check(v):
                none = "no limit" if name in ("timeout_ms", "fuel") else f"the default, {spec.default}"
                raise UsageError(f"Host option {name} must be {spec.describe()} or None ({none}), got {v!r}")
        for name, (low, high) in _HOST_RANGES.items():
            v = getattr(self, name)
            if not (is_int(v) and low <= v <= high):
                raise UsageError(f"Host option {name} must be an integer from {low} to {high}, got {v!r}")
        for name, low, high in (("max_log_records", 0, MAX_LOG_RECORDS), ("max_log_message", 64, MAX_LOG_MESSAGE)):
            v = getattr(self, name)
            if not (is_int(v) and low <= v <= high):
                raise UsageError(f"Host option {name} must be an integer from {low} to {high}, got {v!r}")
        if not (is_int(self.max_depth) and 1 <= self.max_depth <= MAX_DEPTH):
            raise UsageError(f"Host option max_depth must be between 1 and {MAX_DEPTH}, got {self.max_depth!r}")
        for name in ("use_cache", "reentrancy", "strict", "grant_outside_folder", "run_init", "trace",
                     "memory64"):
            v = getattr(self, name)
            if not isinstance(v, bool):
                raise UsageError(f"Host option {name} must be True or False, got {v!r}")
        if self.link not in ("dynamic", "fused"):
            raise UsageError(f"Host option link must be 'dynamic' or 'fused', got {self.link!r}")
        if self.cache_dir is not None and not isinstance(self.cache_dir, (str, os.PathLike)):
            raise UsageError(f"Host option cache_dir must be a path or None, got {self.cache_dir!r}")
        if not isinstance(self.interfaces, Mapping):
            raise UsageError("Host option interfaces must map interface names to {function name: callable}, "
                             f"got {self.interfaces!r}")
        for iface, funcs in self.interfaces.items():
            if not isinstance(iface, str) or not isinstance(funcs, Mapping):
                raise UsageError(f"Host option interfaces: {iface!r} must map to {{function name: callable}}, "
                                 f"got {funcs!r}")
            for fname, fn in funcs.items():
                if not callable(fn):
                    raise UsageError(f"Host option interfaces: {iface}#{fname} must be callable, got {fn!r}")


@dataclass(frozen=True)
class RuntimeLimits(Limits):
    """Limits in force for one extension (host defaults overridden by its manifest); the fields are `Limits`'.

    None for a Store limit means "not set by the host or the manifest": the safe default of
    `LIMITS` applies (there is no unlimited). Kept apart from an explicit value because a
    trap under an explicit memory limit is reported as `memory-limit` (see `classify_error`).
    None for `timeout_ms` or `fuel`: no limit (the host was told None and the manifest sets none).
    """

    @classmethod
    def of(cls, config: HostConfig, manifest: Limits) -> RuntimeLimits:
        """The limits of an extension: the host's options, each replaced by the manifest's if set."""
        host = cls(**{f.name: getattr(config, f.name) for f in fields(Limits)})
        return replace(host, **{f.name: v for f in fields(Limits) if (v := getattr(manifest, f.name)) is not None})

    def effective(self, name: str) -> int:
        """The value a Store gets for `name` (one of `memory_mb`, `memories`, `instances`, ...)."""
        value: int | None = getattr(self, name)
        default = LIMITS[name].default
        assert default is not None
        return value if value is not None else default

    def store_limits(self) -> dict[str, int]:
        """`Store.set_limits` keywords, defaults included (there is no unlimited)."""
        return {"memory_size": self.effective("memory_mb") * 1024 * 1024,
                "table_elements": self.effective("table_elements"), "instances": self.effective("instances"),
                "tables": self.effective("tables"), "memories": self.effective("memories")}


def default_store_limits(manifest: Limits) -> dict[str, int]:
    """The Store limits a default `Host.load()` gives an extension with this `[limits]` table:
    what a bare `inspect` checks components against."""
    return RuntimeLimits.of(HostConfig(), manifest).store_limits()


@dataclass(frozen=True)
class HostEvent:
    """Something the host did on its own: a fault, a restart, an init."""

    kind: str  # "fault" | "restart" | "init" | "restart-failed"
    extension: str
    message: str
    time: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class TraceEvent:
    """`start`/`end` of an async call as its extension's worker saw it; `seq` orders all events."""

    kind: str
    extension: str
    function: str
    seq: int
    outcome: str = ""  # "ok" or the error code, on `end`
    time: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class LogRecord:
    """One `ext:host/log` call. A message longer than `max_log_message` is cut: `message` ends
    with a `… [truncated: N more characters]` marker and `truncated` is N (0 when complete)."""

    extension: str
    level: str
    message: str
    truncated: int = 0
