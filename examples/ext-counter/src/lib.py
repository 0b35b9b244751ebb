"""The resource of ext-counter's `lib` interface.

componentize-py looks up an exported resource's class in a module named after its
interface (`lib` -> this file), not in the entry module.
"""

from wit_world import exports


class Counter(exports.lib.Counter):
    def __init__(self, start: int) -> None:
        self.value = start

    def inc(self) -> int:
        self.value = (self.value + 1) & 0xFFFFFFFF
        return self.value

    def get(self) -> int:
        return self.value
