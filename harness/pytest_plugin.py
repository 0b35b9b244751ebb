"""pytest entry point (`pytest11`). Kept thin: options only until `--ext-suite` is used."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ext-harness", "WebAssembly-component extensions (ext-harness)")
    group.addoption("--ext-suite", action="store", nargs="?", const="", default=None,
                    help="run the conformance suite on PATH (default: the bundled examples)")
