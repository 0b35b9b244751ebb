"""ext-counter: a Python extension built with componentize-py that exports a resource.

`ext:counter/lib@1.0.0` has `resource counter` (its class is `Counter` in lib.py, see
there) and plain functions that make and take counters; ext-tally (JavaScript) uses them.
"""

from wit_world import exports
from wit_world.imports import log
from wit_world.imports.log import Level

from lib import Counter


class Lib(exports.Lib):
    def make(self, start: int) -> Counter:
        return Counter(start)

    def bump_twice(self, c: Counter) -> int:
        c.inc()
        return c.inc()


class Lifecycle(exports.Lifecycle):
    def init(self) -> None:
        log.log(Level.INFO, "ext-counter initialized")
