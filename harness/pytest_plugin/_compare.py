"""Comparing values in the JSON mapping, for `[[conformance.example]]` expectations.

Manifests are TOML, which has no null: an absent record field means `none`. So
`same_json` treats absent and null alike, and compares floats with a tolerance
(guests in different languages print and round floats differently).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["same_json"]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_nulls(v) for v in value]
    return value


def same_json(expected: Any, actual: Any) -> bool:
    """Equality in the JSON mapping: absent == null, floats within 1e-9 (relative)."""
    return _same(_drop_nulls(expected), _drop_nulls(actual))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) or isinstance(b, float):
            if math.isnan(a) and math.isnan(b):
                return True
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
