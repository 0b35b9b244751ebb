"""Shared test configuration: Hypothesis profiles and a per-run summary of property statistics."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# --- hypothesis profiles: `ci` is reproducible (derandomized), `dev` explores new examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

# --- no test writes a compile cache outside pytest's temporary folders: a test (or a CLI run in
# a subprocess, which inherits the environment) that names no cache folder would otherwise fill
# the user's ~/.cache/ext-harness. Tests of the default itself set or unset these variables.
@pytest.fixture(scope="session", autouse=True)
def _private_default_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("default-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXT_HARNESS_CACHE_DIR", str(folder))
        yield folder


# --- property statistics: tests add to these counters; the totals are printed after the run.
PROPERTY_STATS: dict[str, Counter[str]] = {}


def stat(group: str, key: str, n: int = 1) -> None:
    PROPERTY_STATS.setdefault(group, Counter())[key] += n


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PROPERTY_STATS:
        return
    terminalreporter.section("property and adversarial statistics")
    for group, counts in sorted(PROPERTY_STATS.items()):
        body = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        terminalreporter.write_line(f"{group}: {body}")


@pytest.fixture
def crossed_calls() -> Callable[[Path, Path, str], dict[int, object]]:
    """`crossed_calls(folder, cache_dir, callee)`: see `_crossed_calls`."""
    return _crossed_calls


def _crossed_calls(folder: Path, cache_dir: Path, callee: str) -> dict[int, object]:
    """Two threads, each holding one of two echo extensions, call into the other one's `callee`
    at the same moment (a barrier makes sure both hold theirs first): the deadlock shape.

    Returns each thread's result or CallError; fails if a thread is still running after 10 s.
    """
    import shutil
    import threading

    from harness import CallError, Host

    hosts = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
    for name in ("echo-a", "echo-b"):
        shutil.copy(hosts / "echo.wat", folder / f"{name}.wat")
    barrier = threading.Barrier(2, timeout=5)
    holder: dict[str, Host] = {}

    def cb(x: int) -> int:
        if x >= 10:  # the nested call of `call-host` itself
            return x
        barrier.wait()  # both threads now hold their own extension
        return int(holder["h"].call("echo-b" if x == 1 else "echo-a", callee, 10 + x))

    results: dict[int, object] = {}

    def run(which: int) -> None:
        try:
            results[which] = holder["h"].call("echo-a" if which == 1 else "echo-b", "call-host", which)
        except CallError as e:
            results[which] = e

    with Host.load(folder, cache_dir=str(cache_dir), interfaces={"test:host/cb@1.0.0": {"cb": cb}}) as host:
        holder["h"] = host
        threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert not any(t.is_alive() for t in threads), "deadlock was not detected"
    return results
