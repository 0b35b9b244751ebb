"""What `Host.load(**config)` accepts, and the records a Host keeps (events, traces, logs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ._errors import UsageError

__all__ = ["MAX_DEPTH", "HostConfig", "HostEvent", "LogRecord", "TraceEvent"]

MAX_DEPTH = 150  # the largest `max_depth` accepted; Python's stack is also measured per hop
MAX_LOG_RECORDS = 10_000_000  # the largest `max_log_records` accepted
MAX_LOG_MESSAGE = 16 * 1024 * 1024  # the largest `max_log_message` accepted (characters)


@dataclass(frozen=True)
class HostConfig:
    """Everything `Host.load(**config)` accepts."""

    cache_dir: str | None = None
    use_cache: bool = True
    max_file_size: int = 64 * 1024 * 1024
    timeout_ms: int | None = 30_000
    fuel: int | None = None
    memory_mb: int | None = None
    instances: int | None = None
    tables: int | None = None
    restart_budget: int = 3
    reentrancy: bool = False
    max_depth: int = 64
    tick_ms: int = 5
    strict: bool = False
    grant_outside_folder: bool = False
    run_init: bool = True
    trace: bool = False
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

        for name in ("timeout_ms", "fuel", "memory_mb", "instances", "tables"):
            v = getattr(self, name)
            if v is not None and not (is_int(v) and v >= 1):
                raise UsageError(f"Host option {name} must be a positive integer or None, got {v!r}")
        for name, low in (("restart_budget", 0), ("tick_ms", 1), ("max_file_size", 1)):
            v = getattr(self, name)
            if not (is_int(v) and v >= low):
                raise UsageError(f"Host option {name} must be an integer >= {low}, got {v!r}")
        for name, low, high in (("max_log_records", 0, MAX_LOG_RECORDS), ("max_log_message", 64, MAX_LOG_MESSAGE)):
            v = getattr(self, name)
            if not (is_int(v) and low <= v <= high):
                raise UsageError(f"Host option {name} must be an integer from {low} to {high}, got {v!r}")
        if not (is_int(self.max_depth) and 1 <= self.max_depth <= MAX_DEPTH):
            raise UsageError(f"Host option max_depth must be between 1 and {MAX_DEPTH}, got {self.max_depth!r}")
        for name in ("use_cache", "reentrancy", "strict", "grant_outside_folder", "run_init", "trace"):
            v = getattr(self, name)
            if not isinstance(v, bool):
                raise UsageError(f"Host option {name} must be True or False, got {v!r}")
        for iface, funcs in self.interfaces.items():
            for fname, fn in funcs.items():
                if not callable(fn):
                    raise UsageError(f"Host option interfaces: {iface}#{fname} must be callable, got {fn!r}")


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
