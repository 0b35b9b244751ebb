"""ext-harness: host, link and test WebAssembly-component extensions."""

from ._codes import CODES, Code
from ._diagnostics import Diagnostic
from ._errors import (
    BadArgumentsError,
    CallError,
    CallTimeoutError,
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

__all__ = [
    "CODES",
    "Analysed",
    "BadArgumentsError",
    "CallError",
    "CallTimeoutError",
    "Candidate",
    "Code",
    "CommandFailedError",
    "DeadlockError",
    "Diagnostic",
    "ExtensionFaultedError",
    "FuelExhaustedError",
    "HarnessError",
    "HostFunctionError",
    "Link",
    "LoadError",
    "Manifest",
    "MemoryLimitError",
    "NoSuchCommandError",
    "NoSuchFunctionError",
    "ReentrancyError",
    "Resolution",
    "TrapError",
    "UsageError",
    "WatSyntaxError",
    "__version__",
]
