"""The exception tree. Every exception ext-harness raises derives from one root.

    HarnessError (Exception)                  .code
    ├── UsageError (+ ValueError)             usage
    ├── WatSyntaxError (+ ValueError)         wat-syntax        .line .column
    ├── LoadError                             the first error diagnostic of a strict load
    ├── CapabilityDeniedError                 capability-denied .extension .preopen (a restart's cause)
    └── CallError (+ RuntimeError)            .extension .function .chain .frames
        ├── TrapError                         trap
        ├── CallTimeoutError (+ TimeoutError) timeout
        ├── FuelExhaustedError                fuel-exhausted
        ├── MemoryLimitError                  memory-limit
        ├── ReentrancyError                   reentrancy
        ├── DeadlockError                     deadlock
        ├── HostFunctionError                 host-error        (__cause__ is the Python error)
        ├── ExtensionFaultedError             extension-faulted
        ├── NoSuchFunctionError (+ LookupError) no-such-function
        ├── BadArgumentsError (+ TypeError)   bad-arguments
        ├── NoSuchCommandError (+ LookupError) no-such-command
        └── CommandFailedError                command-failed

Diagnostics found while loading are data (`harness.Diagnostic`), not exceptions;
`LoadError` exists for callers that ask for a strict load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ._codes import describe
from ._diagnostics import Diagnostic

__all__ = [
    "BadArgumentsError",
    "CallError",
    "CallTimeoutError",
    "CapabilityDeniedError",
    "CommandFailedError",
    "DeadlockError",
    "ExtensionFaultedError",
    "FuelExhaustedError",
    "HarnessError",
    "HostFunctionError",
    "LoadError",
    "MemoryLimitError",
    "NoSuchCommandError",
    "NoSuchFunctionError",
    "ReentrancyError",
    "TrapError",
    "UsageError",
    "WatSyntaxError",
    "call_error_class",
]


class HarnessError(Exception):
    """Root of every exception raised by ext-harness; `code` is stable."""

    code: ClassVar[str] = "usage"

    @property
    def hint(self) -> str:
        return describe(self.code).hint


class UsageError(HarnessError, ValueError):
    code = "usage"


class WatSyntaxError(HarnessError, ValueError):
    """Component text that does not assemble; points at the line and column."""

    code = "wat-syntax"

    def __init__(self, message: str, *, source: str = "<wat>", line: int | None = None,
                 column: int | None = None) -> None:
        where = f"{source}:{line}:{column}: " if line is not None else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.line = line
        self.column = column
        self.reason = message


class LoadError(HarnessError):
    """A strict load found error diagnostics; all of them are attached."""

    code = "usage"

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        more = f" (+{len(self.diagnostics) - 1} more)" if len(self.diagnostics) > 1 else ""
        super().__init__(f"{first}{more}" if first else "load failed")
        if first is not None:
            self.code = first.code  # type: ignore[misc]


class CapabilityDeniedError(HarnessError):
    """A grant of the manifest cannot be given (safely) now, e.g. a preopen that became a
    symbolic link: the instantiation is refused and nothing was opened."""

    code = "capability-denied"

    def __init__(self, extension: str, preopen: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{extension}: {message}")
        self.extension = extension
        self.preopen = preopen
        self.message = f"{extension}: {message}"
        self._hint = hint

    @property
    def hint(self) -> str:
        return self._hint or describe(self.code).hint

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CallError(HarnessError, RuntimeError):
    """A call into an extension failed; the envelope says where and through what."""

    code = "trap"

    def __init__(self, message: str, *, extension: str | None = None, function: str | None = None,
                 chain: Sequence[str] = (), frames: Sequence[str] = (),
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extension = extension
        self.function = function
        self.chain = tuple(chain)
        self.frames = tuple(frames)
        self.details = dict(details or {})

    def __str__(self) -> str:
        head = f"{self.code}: {self.message}"
        if self.chain:
            head += f"\n  call chain: {' → '.join(self.chain)}"
        return head

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "extension": self.extension,
            "function": self.function,
            "chain": list(self.chain),
            "frames": list(self.frames),
            "hint": self.hint,
            "cause": repr(self.__cause__) if self.__cause__ is not None else None,
            **({"details": self.details} if self.details else {}),
        }


class TrapError(CallError):
    code = "trap"


class CallTimeoutError(CallError, TimeoutError):
    code = "timeout"


class FuelExhaustedError(CallError):
    code = "fuel-exhausted"


class MemoryLimitError(CallError):
    code = "memory-limit"


class ReentrancyError(CallError):
    code = "reentrancy"


class DeadlockError(CallError):
    code = "deadlock"


class HostFunctionError(CallError):
    code = "host-error"


class ExtensionFaultedError(CallError):
    code = "extension-faulted"


class NoSuchFunctionError(CallError, LookupError):
    code = "no-such-function"


class BadArgumentsError(CallError, TypeError):
    code = "bad-arguments"


class NoSuchCommandError(CallError, LookupError):
    code = "no-such-command"


class CommandFailedError(CallError):
    code = "command-failed"


_BY_CODE: dict[str, type[CallError]] = {
    cls.code: cls
    for cls in (TrapError, CallTimeoutError, FuelExhaustedError, MemoryLimitError, ReentrancyError,
                DeadlockError, HostFunctionError, ExtensionFaultedError, NoSuchFunctionError,
                BadArgumentsError, NoSuchCommandError, CommandFailedError)
}


def call_error_class(code: str) -> type[CallError]:
    return _BY_CODE[code]
