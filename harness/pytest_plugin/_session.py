"""`pytest --ext-suite`: collection of the installed suite, per-run state, merged reports.

`configure` does nothing unless `--ext-suite` is on the command line; then it adds
the installed `harness.suites` folder to the collection arguments and registers one
`SuiteSession` for the run. Each check's result travels in `report.user_properties`
(which pytest-xdist ships from workers to the controller), so the controller's
`pytest_runtest_logreport` sees every verdict and writes one merged report.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from ..model._text import printable
from ._report import CheckRecord, RunReport, tool_versions
from ._suite import CHECKS, CheckResult, SuiteRun, SuiteSettings

__all__ = ["SESSION_KEY", "SuiteSession", "configure", "run_check", "suite_dir"]

_PROPERTY = "ext_check"
_NODE = re.compile(r"test_(?P<check>[a-z]+)\[(?P<ext>.+)\]$")


def suite_dir() -> Path:
    """Where the installed conformance suite lives (`harness.suites`, i.e. `suites/` in the sources)."""
    spec = importlib.util.find_spec("harness.suites")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ext-harness is installed without its conformance suite (harness.suites)")
    return Path(next(iter(spec.submodule_search_locations)))


def _int(config: pytest.Config, option: str, ini: str) -> int | None:
    value = config.getoption(option)
    if value is None:
        raw = config.getini(ini)
        value = int(raw) if raw not in (None, "") else None
    return int(value) if value is not None else None


def _paths(config: pytest.Config, given: list[str]) -> tuple[Path, ...]:
    root = Path(config.rootpath)
    here = Path(config.invocation_params.dir)
    out: list[Path] = []
    for raw in given:
        for part in (p.strip() for p in raw.split(",")):
            if part:
                out.append((here / part).resolve())
    if not out:
        ini = config.getini("ext_suite") or []
        out = [(root / p).resolve() for p in ini] or [root / "examples"]
    return tuple(dict.fromkeys(out))


def _dir(config: pytest.Config, option: str, ini: str, default: Path | None) -> Path | None:
    value = config.getoption(option)
    if value:
        given: Path = (Path(config.invocation_params.dir) / str(value)).resolve()
        return given
    raw = config.getini(ini)
    if raw:
        resolved: Path = (Path(config.rootpath) / str(raw)).resolve()
        return resolved
    return default


class SuiteSession:
    """Per-run plugin object: the suite's settings, its pipeline run and its report."""

    def __init__(self, config: pytest.Config, settings: SuiteSettings, report_dir: Path | None) -> None:
        self.config = config
        self.settings = settings
        self.report_dir = report_dir
        self.is_worker = hasattr(config, "workerinput")
        self.report = RunReport()
        self.started = time.monotonic()
        self.written: list[Path] = []

    @cached_property
    def run(self) -> SuiteRun:
        """Built on first use: a run that checks no suite opens no host."""
        return SuiteRun(self.settings)

    # ------------------------------------------------------------------ hooks

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        props = dict(report.user_properties)
        raw = props.get(_PROPERTY)
        if raw is not None:
            data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw)  # type: ignore[call-overload]
            outcome = data["outcome"]
            if report.outcome == "failed" and report.when != "call":
                outcome = "failed"
            self.report.add(CheckRecord(data["extension"], data["check"], outcome, data.get("message", ""),
                                        report.duration, data.get("details", {}), report.nodeid))
            return
        m = _NODE.search(report.nodeid)
        if m and m["check"] in CHECKS and report.outcome == "failed" and _is_suite(report.nodeid):
            text = str(report.longrepr)
            self.report.add(CheckRecord(m["ext"], m["check"], "failed", text[-2000:], report.duration,
                                        {}, report.nodeid))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if "run" in self.__dict__:  # only a run that was built has something to close
            self.run.close()
        if self.is_worker or self.report_dir is None or not self.report.records:
            return
        self.written = self.report.write(self.report_dir, tool_versions(), time.monotonic() - self.started)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.report.records:
            return
        terminalreporter.section("ext-harness conformance")
        for name, recs in self.report.by_extension().items():
            bad = [r.check for r in recs if r.outcome == "failed"]
            verdict = "FAILED " + ", ".join(bad) if bad else "ok"
            terminalreporter.write_line(printable(f"{name}: {verdict}", one_line=True))
        if self.written:
            terminalreporter.write_line("reports: " + ", ".join(str(p) for p in self.written))


def _is_suite(nodeid: str) -> bool:
    return "test_conformance.py::" in nodeid


SESSION_KEY = pytest.StashKey[SuiteSession]()


def configure(config: pytest.Config) -> None:
    """Activate the suite for this run if `--ext-suite` was given; otherwise change nothing."""
    given = config.getoption("ext_suite", default=None)
    if given is None:
        return
    root = Path(config.rootpath)
    snapshot_update = bool(config.getoption("--snapshot-update", default=False))
    settings = SuiteSettings(
        paths=_paths(config, list(given)),
        cache_dir=_dir(config, "ext_cache_dir", "ext_cache_dir", None),
        timeout_ms=_int(config, "ext_timeout_ms", "ext_timeout_ms") or 30_000,
        fuel=_int(config, "ext_fuel", "ext_fuel"),
        memory_mb=_int(config, "ext_memory_mb", "ext_memory_mb"),
        snapshot_dir=_dir(config, "ext_snapshots", "ext_snapshots", root / "__ext_snapshots__"),
        snapshot_update=snapshot_update,
        link=str(config.getoption("ext_link", default="dynamic") or "dynamic"),
    )
    report_dir = None if config.getoption("ext_no_report") else \
        _dir(config, "ext_report", "ext_report", root / "reports")
    session = SuiteSession(config, settings, report_dir)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "ext-harness-suite")
    where = str(suite_dir())
    if config.option.file_or_dir:
        config.args.append(where)
    else:
        config.args[:] = [where]


def run_check(request: pytest.FixtureRequest, run: SuiteRun, extension: str, check: str) -> CheckResult:
    """Run one check, attach its result for the reports, and turn it into pass/fail/skip."""
    result = run.check(extension, check)
    details = dict(result.details)
    cand = next((c for c in run.inspection.candidates if c.name == extension), None)
    if cand is not None and cand.version:
        details.setdefault("version", cand.version)
    payload = {"extension": extension, "check": check, "outcome": result.outcome,
               "message": result.message, "details": details}
    request.node.user_properties.append((_PROPERTY, json.dumps(payload, default=str)))
    if result.outcome == "failed":  # the message can quote an extension's own text: escape it
        pytest.fail(printable(result.message), pytrace=False)
    if result.outcome == "skipped":
        pytest.skip(printable(result.message))
    return result
