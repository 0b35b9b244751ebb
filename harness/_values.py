"""The value mapping's converters under their 0.1 name (older docs pointed here): see docs/values.md."""

from .runtime._values import (
    INT_RANGES,
    IntMisfit,
    args_to_python,
    describe_misfit,
    is_tagged,
    json_kind,
    to_json,
    to_python,
)

__all__ = [
    "INT_RANGES", "IntMisfit", "args_to_python", "describe_misfit", "is_tagged", "json_kind", "to_json",
    "to_python",
]
