"""Root conftest: markers of the repository's own tests (the plugin itself is the `pytest11` entry point)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_run: runs pytest with -n 2 in a subprocess (needs pytest-xdist)")
