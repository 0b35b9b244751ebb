"""pytest entry point (`pytest11`). Thin: options, ini settings and fixtures; the suite's
hooks live on a per-run object (`harness.pytest_plugin._session.SuiteSession`) registered only
when `--ext-suite` is given.

Nothing happens unless asked: without `--ext-suite` no test is added, no report is
written and wasmtime is not imported; the fixtures only do work when a test uses them.
"""

from __future__ import annotations

import importlib.util

import pytest

from ._fixtures import (
    _ext_cache_dir,
    ext_host,
    ext_snapshot,
    ext_suite_run,
    mock_extension,
    scenario,
    wat_component,
)
from ._snapshot import CallTrace, trace_of, traced_gather

__all__ = ["CallTrace", "_ext_cache_dir", "ext_host", "ext_snapshot", "ext_suite_run", "mock_extension", "scenario",
           "trace_of", "traced_gather", "wat_component"]

_INI: tuple[tuple[str, str, str], ...] = (
    ("ext_suite", "args", "default PATHs for --ext-suite given without a value (default: examples/)"),
    ("ext_report", "string", "folder for conformance reports (default: reports/)"),
    ("ext_timeout_ms", "string", "per-call time limit in ms for the conformance suite"),
    ("ext_fuel", "string", "per-call fuel for the conformance suite"),
    ("ext_memory_mb", "string", "memory limit per extension in MiB for the conformance suite"),
    ("ext_snapshots", "string", "folder of interface snapshots (default: __ext_snapshots__/)"),
    ("ext_cache_dir", "string", "compile cache folder for the conformance suite"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ext-harness", "WebAssembly-component extensions (ext-harness)")
    group.addoption("--ext-suite", action="append", nargs="?", const="", default=None, metavar="PATH",
                    help="run the conformance suite on PATH (comma-separated or repeated; "
                         "default: ini ext_suite, else examples/ under the rootdir)")
    group.addoption("--ext-report", action="store", default=None, metavar="DIR",
                    help="write JUnit XML, JSON, Markdown and HTML reports of the suite to DIR (default: reports/)")
    group.addoption("--ext-no-report", action="store_true", default=False,
                    help="do not write conformance reports")
    group.addoption("--ext-timeout-ms", action="store", type=int, default=None, metavar="MS",
                    help="per-call time limit of the suite's host (manifests may override)")
    group.addoption("--ext-fuel", action="store", type=int, default=None, metavar="N",
                    help="per-call fuel of the suite's host")
    group.addoption("--ext-memory-mb", action="store", type=int, default=None, metavar="MB",
                    help="memory limit per extension of the suite's host")
    group.addoption("--ext-snapshots", action="store", default=None, metavar="DIR",
                    help="folder of the interface snapshots (default: __ext_snapshots__/ under the rootdir)")
    group.addoption("--ext-cache-dir", action="store", default=None, metavar="DIR",
                    help="compile cache folder (default: the user cache)")
    group.addoption("--ext-link", action="store", choices=("dynamic", "fused"), default="dynamic",
                    help="how the suite's host links extensions (default: dynamic; fused: each extension that "
                         "imports libraries runs composed with its providers); the composition check compares both")
    if importlib.util.find_spec("syrupy") is None:
        # syrupy owns `--snapshot-update` (and adding it twice is an error); without syrupy the
        # suite's interface snapshots still need it, so an author need not install syrupy for them
        group.addoption("--snapshot-update", action="store_true", default=False, dest="update_snapshots",
                        help="record the conformance suite's interface snapshots (syrupy is not installed)")
    for name, kind, help_ in _INI:
        parser.addini(name, help_, type=kind, default=None)  # type: ignore[arg-type]


def _default_asyncio_loop_scope(config: pytest.Config) -> None:
    """pytest-asyncio warns (a deprecation) in every folder whose ini does not set
    `asyncio_default_fixture_loop_scope`, i.e. in most authors' folders: default it to
    "function" (the value pytest-asyncio will default to) unless the user set it."""
    try:
        if config.getini("asyncio_default_fixture_loop_scope"):
            return
    except ValueError:  # pytest-asyncio is not installed
        return
    cache = getattr(config, "_inicache", None)
    if isinstance(cache, dict):
        cache["asyncio_default_fixture_loop_scope"] = "function"


@pytest.hookimpl(tryfirst=True)  # before pytest-asyncio's pytest_configure reads the setting
def pytest_configure(config: pytest.Config) -> None:
    _default_asyncio_loop_scope(config)
    config.addinivalue_line("markers", "ext_limits(timeout_ms=None, fuel=None, memory_mb=None, **host_options): "
                                       "limits the ext_host fixture loads extensions with")
    from . import _session as _plugin_session

    _plugin_session.configure(config)
