"""Async-trace snapshots under their 0.1 name (older docs pointed here): `harness.pytest_plugin` exports them."""

from .pytest_plugin._snapshot import CallTrace, mask, serialize, traced_gather

__all__ = [
    "CallTrace", "mask", "serialize", "traced_gather",
]
