"""Engine configuration, and one shared `wasmtime.Engine` per configuration.

Compiled code is only valid for the Engine settings it was compiled under
(wasmtime refuses a component serialized without fuel support in a fuel-enabled
Engine, for instance), so the settings live in one frozen value whose `key()`
also keys the on-disk compile cache. Engines are expensive and thread-safe:
every stage shares one per configuration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Literal

import wasmtime

from ..model._errors import UsageError

__all__ = ["MAX_WASM_STACK_LIMIT", "EngineConfig", "OptLevel", "make_engine", "shared_engine"]

OptLevel = Literal["none", "speed", "speed_and_size"]
_OPT_LEVELS: tuple[str, ...] = ("none", "speed", "speed_and_size")

# wasmtime 50 aborts the process at Engine creation above this ("max_wasm_stack size
# cannot exceed the async_stack_size", whose default is 2 MiB and which wasmtime-py
# cannot change; measured: 2 MiB works, 2 MiB + 1 aborts), so it is checked here
# and turned into a UsageError instead.
MAX_WASM_STACK_LIMIT = 2 * 1024 * 1024


@dataclass(frozen=True)
class EngineConfig:
    """Settings that change compiled code; every field takes part in `key()`.

    `epoch_interruption` is on by default because it is how call timeouts work;
    `consume_fuel` is off because fuel slows every call and needs a budget per Store.
    `memory64` is off (wasmtime 50 turns it on): 64-bit memories are not needed by the
    toolchains the host targets, so a guest gets them only when the host grants them.
    """

    epoch_interruption: bool = True
    consume_fuel: bool = False
    max_wasm_stack: int = 1024 * 1024
    cranelift_opt_level: OptLevel = "speed"
    nan_canonicalization: bool = False
    memory64: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.max_wasm_stack, int) or isinstance(self.max_wasm_stack, bool) \
                or not 0 < self.max_wasm_stack <= MAX_WASM_STACK_LIMIT:
            raise UsageError(
                f"max_wasm_stack must be between 1 and {MAX_WASM_STACK_LIMIT} bytes "
                f"(got {self.max_wasm_stack!r}); wasmtime aborts the process above 2 MiB"
            )
        if self.cranelift_opt_level not in _OPT_LEVELS:
            raise UsageError(
                f"cranelift_opt_level must be one of {', '.join(_OPT_LEVELS)} "
                f"(got {self.cranelift_opt_level!r})"
            )

    def key(self) -> str:
        """Stable text naming these settings, e.g. for cache keys.

        Fields are listed by name, so adding a field changes every key (old cache
        entries are then simply not found) instead of silently aliasing.
        """
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            parts.append(f"{f.name}={text}")
        return ";".join(parts)


def make_engine(cfg: EngineConfig) -> wasmtime.Engine:
    """A new Engine for `cfg` with the component model enabled."""
    config = wasmtime.Config()
    # On by default in wasmtime 50, set anyway so an older or differently built
    # library cannot silently compile components as core modules.
    config.wasm_component_model = True
    config.epoch_interruption = cfg.epoch_interruption
    config.consume_fuel = cfg.consume_fuel
    config.max_wasm_stack = cfg.max_wasm_stack
    config.cranelift_opt_level = cfg.cranelift_opt_level
    config.cranelift_nan_canonicalization = cfg.nan_canonicalization
    config.wasm_memory64 = cfg.memory64
    # Threads are off: wasmtime validates shared memories and atomics by default but
    # then refuses to instantiate a shared memory ("shared memory support is disabled
    # for this engine"), so such a component passed `inspect` and failed to load. With
    # threads off it fails to compile, which analysis reports as `invalid-component`.
    config.wasm_threads = False
    return wasmtime.Engine(config)


# Not functools.cache: it may run the function twice for one key when two threads miss at
# once, and two Engines for one config would let a component meet a Store of the other.
_ENGINES: dict[EngineConfig, wasmtime.Engine] = {}
_LOCK = threading.Lock()


def shared_engine(cfg: EngineConfig | None = None) -> wasmtime.Engine:
    """The process-wide Engine for `cfg` (components and stores must share one)."""
    cfg = cfg if cfg is not None else EngineConfig()
    with _LOCK:
        engine = _ENGINES.get(cfg)
        if engine is None:
            engine = _ENGINES[cfg] = make_engine(cfg)
        return engine
