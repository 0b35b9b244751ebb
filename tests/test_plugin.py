"""The pytest plugin seen from outside: `pytest --ext-suite` in an author's folder
(outside this repository), under xdist, and a run that does not use the plugin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.testing import Const, err, write_extension
from harness.testing._scenario import ScenarioBuilder, api_name

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
_QUIET = ("-o", "asyncio_default_fixture_loop_scope=function")


def _author_project(root: Path) -> Path:
    """An author's folder: ext-wat copied (symlinks resolved), a good mock, and two broken ones."""
    exts = root / "myexts"
    shutil.copytree(REPO / "examples" / "ext-wat", exts / "ext-wat", symlinks=False,
                    ignore=shutil.ignore_patterns("build"))
    node = ScenarioBuilder.node
    good = node("adder")
    from dataclasses import replace

    example = {"conformance": {"example": [{"function": f"{api_name('adder')}#get", "args": [7], "expect": 7}]}}
    write_extension(replace(good, manifest_extra=example), exts)
    write_extension(node("needy", ["nobody"]), exts)
    write_extension(node("grumpy", init=Const(err("nope"))), exts)
    return exts


def _outcomes(report: Path) -> dict[str, str]:
    data = json.loads(report.read_text())
    return {f"{ext}::{check}": c["outcome"] for ext, e in data["extensions"].items()
            for check, c in e["checks"].items()}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    _author_project(pytester.path)
    return pytester


def _run(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> Any:
    cache = str(pytester.path / ".ext-cache")
    if subprocess:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *_QUIET, f"--ext-cache-dir={cache}", *args)
    # In-process runs must not re-enable faulthandler: faulthandler.enable() replaces the signal
    # handlers wasmtime installed for traps (SIGILL on `unreachable`), and the next trap kills the
    # process.
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:faulthandler", *_QUIET,
                                        f"--ext-cache-dir={cache}", *args)


def test_suite_runs_from_an_author_folder_outside_the_repo(project: pytest.Pytester) -> None:
    assert not project.path.is_relative_to(REPO)
    result = _run(project, "--ext-suite=myexts", "-rA")
    result.assert_outcomes(passed=15, failed=2, skipped=19)  # four extensions, no resources
    # the suite comes from the installed package, not from the author's folder
    assert "test_conformance.py::test_linking[grumpy]" in result.stdout.str()
    assert not (project.path / "suites").exists()
    outcomes = _outcomes(project.path / "reports" / "conformance.json")
    assert outcomes["ext-wat::behaviour"] == "passed"
    assert outcomes["ext-wat::analysis"] == "passed"
    assert outcomes["adder::behaviour"] == "passed"
    assert outcomes["needy::resolution"] == "failed"
    assert outcomes["grumpy::linking"] == "failed"
    assert (project.path / "reports" / "conformance.xml").is_file()
    result.stdout.fnmatch_lines(["*grumpy: linking failed*", "*init-failed*nope*"])


def test_snapshot_update_records_interfaces_under_the_rootdir(project: pytest.Pytester) -> None:
    result = _run(project, "--ext-suite=myexts", "--snapshot-update", "-k", "regression", "--ext-no-report")
    result.assert_outcomes(passed=4)
    snap = json.loads((project.path / "__ext_snapshots__" / "ext-wat.json").read_text())
    assert snap["version"] == "1.0.0" and "mul" in snap["exports"]["ext:wat/lib"]
    assert not (project.path / "reports").exists()
    _run(project, "--ext-suite=myexts", "-k", "regression").assert_outcomes(passed=4)


def test_default_path_and_own_tests(pytester: pytest.Pytester) -> None:
    """`--ext-suite` alone uses examples/ under the rootdir; named test paths run too."""
    write_extension(ScenarioBuilder.node("solo"), pytester.path / "examples")
    pytester.makepyfile(test_own="def test_mine():\n    assert True\n")
    result = _run(pytester, "test_own.py", "-v", "--ext-suite")  # a bare --ext-suite would take a path
    result.stdout.fnmatch_lines(["*test_own.py::test_mine PASSED*", "*test_discovery?solo? PASSED*"])
    assert (pytester.path / "reports" / "conformance.md").is_file()


def test_comma_separated_and_repeated_paths(pytester: pytest.Pytester) -> None:
    write_extension(ScenarioBuilder.node("one"), pytester.path / "a")
    write_extension(ScenarioBuilder.node("two"), pytester.path / "b")
    write_extension(ScenarioBuilder.node("three"), pytester.path / "c")
    result = _run(pytester, "--ext-suite=a,b", "--ext-suite", "c", "-k", "discovery", "--ext-no-report")
    result.assert_outcomes(passed=3)


def test_a_run_without_the_plugin_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="""
        import sys

        def test_plain():
            assert "wasmtime" not in sys.modules
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "ext-harness conformance" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()
    assert not (pytester.path / "__ext_snapshots__").exists()
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--ext-suite" in help_text and "--ext-report" in help_text


@pytest.mark.xdist_run
def test_xdist_gives_the_same_verdicts_and_one_report(project: pytest.Pytester) -> None:
    _run(project, "--ext-suite=myexts", "--ext-report=serial")
    result = _run(project, "--ext-suite=myexts", "--ext-report=parallel", "-n", "2", subprocess=True)
    result.assert_outcomes(passed=15, failed=2, skipped=19)  # four extensions, no resources
    assert _outcomes(project.path / "parallel" / "conformance.json") == \
        _outcomes(project.path / "serial" / "conformance.json")
    assert sorted(p.name for p in (project.path / "parallel").iterdir()) == [
        "conformance.html", "conformance.json", "conformance.md", "conformance.xml"]


_SPY_CONFTEST = """
import os, time
import harness.pipeline._cache as cache_module

_real = cache_module._compile

def _counting_compile(engine, wasm):
    with open(os.environ["EXT_COMPILE_LOG"], "a") as log:
        log.write(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}\\n")
    time.sleep(1.0)  # long enough that the workers overlap
    return _real(engine, wasm)

cache_module._compile = _counting_compile
"""

_USES_EXT_HOST = """
def test_loads(ext_host):
    host = ext_host("myexts/ext-wat")
    assert list(host.extensions) == ["ext-wat"]
"""


@pytest.mark.xdist_run
def test_ext_host_compiles_once_across_xdist_workers_and_sessions(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixtures use the suite's cache (`--ext-cache-dir`), and two workers share it: one compile."""
    shutil.copytree(REPO / "examples" / "ext-wat", pytester.path / "myexts" / "ext-wat", symlinks=False,
                    ignore=shutil.ignore_patterns("build"))
    pytester.makeconftest(_SPY_CONFTEST)
    pytester.makepyfile(test_fixture_cache=_USES_EXT_HOST)
    log = pytester.path / "compiles.log"
    monkeypatch.setenv("EXT_COMPILE_LOG", str(log))
    cache = pytester.path / "shared-cache"
    args = ("-p", "no:cacheprovider", *_QUIET, f"--ext-cache-dir={cache}", "test_fixture_cache.py")
    result = pytester.runpytest_subprocess(*args, "-n", "2", "--dist", "each", timeout=180)
    result.assert_outcomes(passed=2)  # `--dist each`: both workers ran the test
    assert log.read_text().split() in (["gw0"], ["gw1"])  # compiled by one worker only
    assert list(cache.glob("??/*.cwasm"))
    pytester.runpytest_subprocess(*args, timeout=120).assert_outcomes(passed=1)
    assert len(log.read_text().split()) == 1  # a later session reuses the entry


def test_no_pytest_asyncio_deprecation_warning_without_an_ini_file(pytester: pytest.Pytester) -> None:
    """An author's folder without an ini: the plugin defaults the loop scope, the user's value wins."""
    pytester.makepyfile(test_scope="""
        def test_scope(pytestconfig):
            print("SCOPE=" + pytestconfig.getini("asyncio_default_fixture_loop_scope"))
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "-W", "error::DeprecationWarning",
                                           timeout=120)
    result.assert_outcomes(passed=1)
    assert "SCOPE=function" in result.stdout.str()
    assert "is unset" not in result.stdout.str() + result.stderr.str()  # pytest-asyncio's warning
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = module\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", timeout=120)
    result.assert_outcomes(passed=1)
    assert "SCOPE=module" in result.stdout.str()
