"""ext-harness: host, link and test WebAssembly-component extensions.

Everything a user needs is importable from here; the `_x` modules behind these names may move.
Each class and function re-exported here says `__module__ == "harness"` (as httpx does), so
reprs, tracebacks and pickles name `harness.Host`, the name a user can import, and keep
working when the code moves. Names whose modules import wasmtime are loaded on first use,
so that importing `harness` (as the pytest plugin does in every test run) stays cheap; they
are renamed when they are loaded.
"""

import typing as _typing
from inspect import get_annotations as _own_annotations

from .model._codes import CODES, Code
from .model._diagnostics import Diagnostic
from .model._errors import (
    BadArgumentsError,
    CacheWarning,
    CallError,
    CallTimeoutError,
    CapabilityDeniedError,
    CommandFailedError,
    DeadlockError,
    ExtensionFaultedError,
    FuelExhaustedError,
    HarnessError,
    HostClosedError,
    HostFunctionError,
    LoadError,
    MemoryLimitError,
    NoSuchCommandError,
    NoSuchFunctionError,
    ReentrancyError,
    StaleHandleError,
    TrapError,
    UsageError,
    WatSyntaxError,
)
from .model._hostconfig import HostConfig, HostEvent, LogRecord, TraceEvent
from .model._records import Analysed, Candidate, Link, Manifest, Resolution

__version__ = "0.1.0"

# name -> the module that defines it (imports wasmtime: loaded by `__getattr__` on first use)
_LAZY = {
    "Host": ".runtime._host",
    "Inspection": ".pipeline._inspect",
    "inspect": ".pipeline._inspect",
    "discover": ".pipeline._discovery",
    "analyse": ".pipeline._analysis",
    "resolve": ".pipeline._resolve",
    "CommandRegistry": ".runtime._commands",
    "CommandInfo": ".runtime._commands",
    "CommandArg": ".runtime._commands",
}

__all__ = [
    "CODES",
    "Analysed",
    "BadArgumentsError",
    "CacheWarning",
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
    "HostClosedError",
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
    "StaleHandleError",
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


def _publish(value: object) -> None:
    """Name `value` by its public home. The qualified name and a function's source file stay.

    A class's string annotations (`from __future__ import annotations`) are resolved first, in
    the module that wrote them: `typing.get_type_hints` would look them up in `harness` once
    `__module__` says so, and fail. The one thing lost, as with httpx: `inspect.getsource(cls)`
    searches the file of `cls.__module__` (this one); `inspect.getsource(cls.method)` works."""
    if isinstance(value, type):
        own = _own_annotations(value)
        if own and value.__module__ != __name__:
            try:
                hints = _typing.get_type_hints(value, include_extras=True)
            except (NameError, TypeError):  # a name imported only for type checkers: keep the text
                hints = {}
            value.__annotations__ = {k: hints.get(k, v) for k, v in own.items()}
        value.__module__ = __name__
    elif callable(value) and hasattr(value, "__code__"):
        value.__module__ = __name__


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(module, __name__)
    for other, where in _LAZY.items():  # every public name of that module at once, so none is missed
        if where == module:
            value = getattr(loaded, other)
            _publish(value)
            globals()[other] = value
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


for _name in __all__:
    if _name in globals():
        _publish(globals()[_name])
del _name

if _typing.TYPE_CHECKING:
    from .pipeline._analysis import analyse
    from .pipeline._discovery import discover
    from .pipeline._inspect import Inspection, inspect
    from .pipeline._resolve import resolve
    from .runtime._commands import CommandArg, CommandInfo, CommandRegistry
    from .runtime._host import Host
