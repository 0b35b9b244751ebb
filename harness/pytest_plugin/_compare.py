"""Comparing values in the JSON mapping, for `[[conformance.example]]` expectations.

An expectation may use any JSON form of a value (docs/values.md): flags in any order,
`{"base64": ...}` for `list<u8>`, a bare case name for a variant case without payload,
`"nan"`. With the result type, it is read in the value mapping and written back as JSON
before comparing, as the result is. Manifests are TOML, which has no null: an absent
record field means `none`. So `same_json` treats absent and null alike, and compares
floats with a tolerance (guests in different languages print and round floats differently).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from ..model._witypes import ValueType

__all__ = ["same_json"]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_nulls(v) for v in value]
    return value


def same_json(expected: Any, actual: Any, t: ValueType | None = None) -> bool:
    """Equality in the JSON mapping: absent == null, floats within 1e-9 (relative). With the
    type `t` of the value, `expected` is first put in the form JSON output has; one that does
    not read as a value of `t` (an absent field, say) is compared as written."""
    if t is not None:
        from ..model._errors import BadArgumentsError
        from ..runtime._values import to_json, to_python
        with contextlib.suppress(BadArgumentsError):
            expected = to_json(to_python(expected, t), t)
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
