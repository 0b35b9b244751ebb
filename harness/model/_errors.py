"""The exception tree. Every exception ext-harness raises derives from one root, and every
class below the two abstract bases has a code of its own (a class attribute, documented in
docs/errors.md); an instance never changes its code or message after it is raised.

    HarnessError (Exception)                    abstract: .code .hint
    ├── UsageError (+ ValueError)               usage
    ├── WatSyntaxError (+ ValueError)           wat-syntax          .line .column
    ├── LoadError                               load-failed         .diagnostics
    ├── CapabilityDeniedError                   capability-denied   .extension .preopen
    └── CallError (+ RuntimeError)              abstract: .extension .function .chain .frames .details
        ├── TrapError                           trap
        ├── CallTimeoutError (+ TimeoutError)   timeout
        ├── FuelExhaustedError                  fuel-exhausted
        ├── MemoryLimitError                    memory-limit
        ├── ReentrancyError                     reentrancy
        ├── DeadlockError                       deadlock
        ├── HostFunctionError                   host-error          (__cause__ is the Python error)
        ├── ExtensionFaultedError               extension-faulted
        ├── HostClosedError                     host-closed
        ├── NoSuchFunctionError (+ LookupError) no-such-function
        ├── BadArgumentsError (+ TypeError)     bad-arguments
        ├── StaleHandleError                    stale-handle
        ├── NoSuchCommandError (+ LookupError)  no-such-command
        └── CommandFailedError                  command-failed

    CacheWarning (UserWarning)                  a warning, not an error: the compile cache is not used

Diagnostics found while loading are data (`harness.Diagnostic`), not exceptions;
`LoadError` exists for callers that ask for a strict load. A `CapabilityDeniedError` is
the `__cause__` of the `extension-faulted` error of a restart that was refused.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from ._codes import describe
from ._diagnostics import Diagnostic

__all__ = [
    "BadArgumentsError",
    "CacheWarning",
    "CallError",
    "CallTimeoutError",
    "CapabilityDeniedError",
    "CommandFailedError",
    "DeadlockError",
    "ExtensionFaultedError",
    "FuelExhaustedError",
    "HarnessError",
    "HostClosedError",
    "HostFunctionError",
    "LoadError",
    "MemoryLimitError",
    "NoSuchCommandError",
    "NoSuchFunctionError",
    "ReentrancyError",
    "StaleHandleError",
    "TrapError",
    "UsageError",
    "WatSyntaxError",
    "call_error_class",
]


class HarnessError(Exception):
    """Root of every exception raised by ext-harness; `code` is stable.

    Abstract, like `CallError`: only a class with a code of its own is raised, so `code` never
    reads as a default that does not apply."""

    code: ClassVar[str]

    def __init__(self, *args: object) -> None:
        if not hasattr(type(self), "code"):
            raise TypeError(f"{type(self).__name__} has no code of its own; raise one of its subclasses")
        super().__init__(*args)

    @property
    def hint(self) -> str:
        return describe(self.code).hint


class CacheWarning(UserWarning):
    """The compile cache folder cannot be trusted or used: components are compiled without it."""


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

    def __reduce__(self) -> tuple[Any, ...]:
        return functools.partial(type(self), source=self.source, line=self.line, column=self.column), \
            (self.reason,), self.__dict__


class LoadError(HarnessError):
    """A strict load found error diagnostics; all of them are attached, each with its own code."""

    code = "load-failed"

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        more = f" (+{len(self.diagnostics) - 1} more)" if len(self.diagnostics) > 1 else ""
        super().__init__(f"{first}{more}" if first else "load failed")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.diagnostics,), self.__dict__


class CapabilityDeniedError(HarnessError):
    """A grant of the manifest cannot be given (safely) now, e.g. a preopen that became a
    symbolic link: the instantiation is refused and nothing was opened."""

    code = "capability-denied"

    def __init__(self, extension: str, preopen: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{extension}: {message}")
        self.extension = extension
        self.preopen = preopen
        self.reason = message
        self.message = f"{extension}: {message}"
        self._hint = hint

    @property
    def hint(self) -> str:
        return self._hint or describe(self.code).hint

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.extension, self.preopen, self.reason, self._hint), self.__dict__


class CallError(HarnessError, RuntimeError):
    """A call into an extension failed; the envelope says where and through what.

    Abstract: catch it, raise a subclass (each has its own code)."""

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


class HostClosedError(CallError):
    """The host was closed before the call started (a call running at close gets `timeout`)."""

    code = "host-closed"


class NoSuchFunctionError(CallError, LookupError):
    code = "no-such-function"


class BadArgumentsError(CallError, TypeError):
    code = "bad-arguments"


class StaleHandleError(CallError):
    code = "stale-handle"


class NoSuchCommandError(CallError, LookupError):
    code = "no-such-command"


class CommandFailedError(CallError):
    code = "command-failed"


_BY_CODE: dict[str, type[CallError]] = {
    cls.code: cls
    for cls in (TrapError, CallTimeoutError, FuelExhaustedError, MemoryLimitError, ReentrancyError,
                DeadlockError, HostFunctionError, ExtensionFaultedError, HostClosedError, NoSuchFunctionError,
                BadArgumentsError, StaleHandleError, NoSuchCommandError, CommandFailedError)
}


def call_error_class(code: str) -> type[CallError]:
    return _BY_CODE[code]
