"""Shared test configuration: Hypothesis profiles and a per-run summary of property statistics."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings

# --- hypothesis profiles: `ci` is reproducible (derandomized), `dev` explores new examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

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
