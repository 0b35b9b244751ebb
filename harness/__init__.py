"""ext-harness: host, link and test WebAssembly-component extensions."""

from typing import TYPE_CHECKING

from .model._codes import CODES, Code
from .model._diagnostics import Diagnostic
from .model._errors import (
    BadArgumentsError,
    CallError,
    CallTimeoutError,
    CapabilityDeniedError,
    CommandFailedError,
    DeadlockError,
    ExtensionFaultedError,
    FuelExhaustedError,
    HarnessError,
    HostFunctionError,
    LoadError,
    MemoryLimitError,
    NoSuchCommandError,
    NoSuchFunctionError,
    ReentrancyError,
    TrapError,
    UsageError,
    WatSyntaxError,
)
from .model._records import Analysed, Candidate, Link, Manifest, Resolution

__version__ = "0.1.0"

# Names whose modules import wasmtime are loaded on first use, so that importing
# `harness` (as the pytest plugin does in every test run) stays cheap.
_LAZY = {
    "Host": ".runtime._host",
    "HostConfig": ".runtime._host",
    "HostEvent": ".runtime._host",
    "LogRecord": ".runtime._host",
    "TraceEvent": ".runtime._host",
    "Inspection": ".pipeline._inspect",
    "inspect": ".pipeline._inspect",
    "discover": ".pipeline._discovery",
    "analyse": ".pipeline._analysis",
    "resolve": ".pipeline._resolve",
    "CommandRegistry": ".runtime._commands",
    "CommandInfo": ".runtime._commands",
    "CommandArg": ".runtime._commands",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CODES",
    "Analysed",
    "BadArgumentsError",
    "CallError",
    "CallTimeoutError",
    "Candidate",
    "CapabilityDeniedError",
    "Code",
    "CommandArg",
    "CommandFailedError",
    "CommandInfo",
    "CommandRegistry",
    "DeadlockError",
    "Diagnostic",
    "ExtensionFaultedError",
    "FuelExhaustedError",
    "HarnessError",
    "Host",
    "HostConfig",
    "HostEvent",
    "HostFunctionError",
    "Inspection",
    "Link",
    "LoadError",
    "LogRecord",
    "Manifest",
    "MemoryLimitError",
    "NoSuchCommandError",
    "NoSuchFunctionError",
    "ReentrancyError",
    "Resolution",
    "TraceEvent",
    "TrapError",
    "UsageError",
    "WatSyntaxError",
    "__version__",
    "analyse",
    "discover",
    "inspect",
    "resolve",
]

if TYPE_CHECKING:
    from .pipeline._analysis import analyse
    from .pipeline._discovery import discover
    from .pipeline._inspect import Inspection, inspect
    from .pipeline._resolve import resolve
    from .runtime._commands import CommandArg, CommandInfo, CommandRegistry
    from .runtime._host import Host, HostConfig, HostEvent, LogRecord, TraceEvent
