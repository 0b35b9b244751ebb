"""ext-harness: host, link and test WebAssembly-component extensions."""

from typing import TYPE_CHECKING

from ._codes import CODES, Code
from ._diagnostics import Diagnostic
from ._errors import (
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
from ._model import Analysed, Candidate, Link, Manifest, Resolution

__version__ = "0.1.0"

# Names whose modules import wasmtime are loaded on first use, so that importing
# `harness` (as the pytest plugin does in every test run) stays cheap.
_LAZY = {
    "Host": "._host",
    "HostConfig": "._host",
    "HostEvent": "._host",
    "LogRecord": "._host",
    "TraceEvent": "._host",
    "Inspection": "._pipeline",
    "inspect": "._pipeline",
    "discover": "._discovery",
    "analyse": "._analysis",
    "resolve": "._resolve",
    "CommandRegistry": "._commands",
    "CommandInfo": "._commands",
    "CommandArg": "._commands",
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
    from ._analysis import analyse
    from ._commands import CommandArg, CommandInfo, CommandRegistry
    from ._discovery import discover
    from ._host import Host, HostConfig, HostEvent, LogRecord, TraceEvent
    from ._pipeline import Inspection, inspect
    from ._resolve import resolve
