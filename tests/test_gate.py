"""The gate's budgets on deep chains: Python's recursion is probed once per chain of proxies,
not on every hop past `FAST_DEPTH`; the estimate it keeps is conservative; the depth cap holds
on the fast path too."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from harness.model._errors import ReentrancyError
from harness.runtime import _gate
from harness.runtime._host import Host
from harness.testing._chains import chain_wat


@pytest.fixture(scope="module")
def chain40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chain40")
    for k in range(40):
        (folder / f"chain{k}.wat").write_text(chain_wat(k, k == 39))
    return folder


def test_python_recursion_is_probed_once_per_chain_of_proxies(chain40: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: every hop past depth 16 ran a 150-level recursion probe (24 probes for 40 hops),
    which made a hop at depth 60 cost ~6× one at depth 2."""
    probes: list[int] = []
    real = _gate.has_levels

    def spy(levels: int) -> bool:
        probes.append(levels)
        return real(levels)

    with Host.load(chain40, cache_dir=str(chain40 / "cache")) as host:
        assert host.call("chain0", "down", 5) == 5
        monkeypatch.setattr(_gate, "has_levels", spy)
        for _ in range(3):
            assert host.call("chain0", "down", 5) == 5
    assert len(probes) == 3  # one per call, at the crossing of FAST_DEPTH


def test_a_proxy_hop_uses_no_more_recursion_than_budgeted(chain40: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimate lowered by `HOP_LEVELS` per hop must never be above what is really left."""
    def levels_left() -> int:
        lo, hi = 0, 100_000
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if _gate.has_levels(mid) else (lo, mid - 1)
        return lo

    seen: list[int] = []
    real_enter = _gate.Gate.enter

    def enter(self: _gate.Gate, rt: Any, ctx: Any, key: str) -> Any:
        seen.append(levels_left())
        return real_enter(self, rt, ctx, key)

    with Host.load(chain40, cache_dir=str(chain40 / "cache")) as host:
        host._gate.fast = False  # the outer call through `enter` too: the first figure seen
        monkeypatch.setattr(_gate.Gate, "enter", enter)
        assert host.call("chain0", "down", 1) == 1
    steps = [a - b for a, b in itertools.pairwise(seen[1:])]  # proxy hops only
    assert len(steps) == 38
    assert 0 < max(steps) <= _gate.HOP_LEVELS


def test_the_depth_cap_holds_below_the_fast_depth(chain40: Path) -> None:
    """Before: an uncontended hop below depth 16 skipped the `max_depth` check, so with
    max_depth=3 a chain of 40 extensions ran through."""
    with Host.load(chain40, cache_dir=str(chain40 / "cache"), max_depth=3) as host:
        with pytest.raises(ReentrancyError) as info:
            host.call("chain0", "down", 1)
        assert "reached the cap (3)" in info.value.message
        assert info.value.chain[-1] == "chain3:test:chain3/lib@1.0.0#down"
        assert host.call("chain37", "down", 1) == 1  # three extensions deep is fine


def test_both_recursion_probes_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The nested-tuple probe (3.11) must answer exactly as Python calls do, at any depth."""
    def deepest(at_depth: int) -> int:
        def at(d: int) -> int:
            if d:
                return at(d - 1)
            lo, hi = 0, 100_000
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if _gate.has_levels(mid) else (lo, mid - 1)
            return lo
        return at(at_depth)

    answers = {}
    for shared in (True, False):
        monkeypatch.setattr(_gate, "_C_SHARES_BUDGET", shared)
        answers[shared] = [deepest(d) for d in (0, 1, 100, 399, 400)]
    assert answers[True] == answers[False]
    assert answers[True][0] > answers[True][1] > answers[True][2] > answers[True][3] > answers[True][4] > 0
