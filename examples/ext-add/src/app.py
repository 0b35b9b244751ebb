"""ext-add: a Python extension built with componentize-py.

It exports `ext:add/lib@1.0.0` and calls `evaluate` from ext-js's library,
which it imports as `ext:js/lib@0.3.0` (see wit/deps/ext-js/lib.wit); ext-js
exports the newer compatible `ext:js/lib@0.3.1`.

componentize-py conventions: each exported interface is a class named after
it (`Lib`, `Lifecycle`) in this module; a `result<T, E>` is returned as T and
its error raised as `componentize_py_types.Err(E)`.
"""

import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import lib as js
from wit_world.imports import log
from wit_world.imports.log import Level


def _wrap_s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - 0x1_0000_0000 if x & 0x8000_0000 else x


def _format(x: float) -> str:
    # Same text as JavaScript's String(number) for the common cases.
    if math.isfinite(x) and x == int(x) and abs(x) < 1e21:
        return str(int(x))
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def _value(expr: str) -> float:
    try:
        text = js.evaluate(expr)
    except Err as e:
        raise Err(f"{expr!r}: {e.value}")
    try:
        return float(text)
    except ValueError:
        raise Err(f"{expr!r}: not a number: {text!r}")


class Lib(exports.Lib):
    def add(self, a: int, b: int) -> int:
        return _wrap_s32(a + b)

    def add_expr(self, a: str, b: str) -> str:
        return _format(_value(a) + _value(b))


class Lifecycle(exports.Lifecycle):
    def init(self) -> None:
        log.log(Level.INFO, "ext-add initialized")
