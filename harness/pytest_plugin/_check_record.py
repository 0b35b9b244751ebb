"""One check of one extension as the reports see it: built from a pytest report, read by every writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckRecord"]


@dataclass
class CheckRecord:
    extension: str
    check: str
    outcome: str  # passed | failed | skipped
    message: str = ""
    duration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    nodeid: str = ""

    @property
    def id(self) -> str:
        return f"{self.extension}::{self.check}"
