"""Conformance checks, one test per check, parametrized by extension (`test_analysis[ext-js]`).

Each test asks the run's `SuiteRun` for a verdict (harness.pytest_plugin._suite); the
reports name them `<extension>::<check>` (e.g. `ext-js::analysis`).
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin._session import SESSION_KEY, run_check
from harness.pytest_plugin._suite import SuiteRun


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "extension" in metafunc.fixturenames:
        names = metafunc.config.stash[SESSION_KEY].run.extensions()
        metafunc.parametrize("extension", names, ids=names)


def test_discovery(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """Manifest valid, name unique, component inside the extension's folder."""
    run_check(request, ext_suite_run, extension, "discovery")


def test_analysis(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """A valid component (not a core module), `wasm-tools validate`, targets its world."""
    run_check(request, ext_suite_run, extension, "analysis")


def test_resolution(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """Every library import served in the set; no cycle, no ambiguity; types match."""
    run_check(request, ext_suite_run, extension, "resolution")


def test_linking(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """Instantiates in the sandbox with its limits; `init` succeeds."""
    run_check(request, ext_suite_run, extension, "linking")


def test_behaviour(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """Every `[[conformance.example]]`, called sync and async, matches."""
    run_check(request, ext_suite_run, extension, "behaviour")


def test_composition(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """The examples give the same values and error codes linked dynamic and fused (statically composed)."""
    run_check(request, ext_suite_run, extension, "composition")


def test_resources(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """Handles of its resources handed out during the examples were all dropped (skipped without one)."""
    run_check(request, ext_suite_run, extension, "resources")


def test_commands(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """Extension commands (skipped without an `ext:host/commands` export)."""
    run_check(request, ext_suite_run, extension, "commands")


def test_regression(request: pytest.FixtureRequest, ext_suite_run: SuiteRun, extension: str) -> None:
    """The interface matches its snapshot, or the version was bumped enough."""
    run_check(request, ext_suite_run, extension, "regression")
