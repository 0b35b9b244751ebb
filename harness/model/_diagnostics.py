"""The one diagnostic model every pipeline stage reports with.

Stages never raise for a problem a user caused: they return diagnostics, so one
broken extension never stops the others from loading (partial success).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._codes import DIAGNOSTIC_CODES, describe

__all__ = ["Diagnostic", "Severity", "errors_of", "sort_diagnostics"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """A coded finding about one extension (or none, for path-level problems)."""

    code: str
    message: str
    extension: str | None = None
    subject: str | None = None
    severity: Severity = "error"
    hint: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in DIAGNOSTIC_CODES:
            raise ValueError(f"unknown diagnostic code {self.code!r}")
        if not self.hint:
            object.__setattr__(self, "hint", describe(self.code).hint)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "extension": self.extension,
            "subject": self.subject,
            "message": self.message,
            "hint": self.hint,
            "details": _jsonable(self.details),
        }

    def __str__(self) -> str:
        where = f"[{self.extension}] " if self.extension else ""
        return f"{self.severity} {self.code}: {where}{self.message}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def sort_diagnostics(diags: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """A deterministic order: by extension, then code, subject and message."""
    return tuple(
        sorted(diags, key=lambda d: (d.extension or "", d.code, d.subject or "", d.message))
    )


def errors_of(diags: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(d for d in diags if d.is_error)
