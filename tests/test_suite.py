"""The conformance suite on deliberately broken extensions, the semver rules of the
regression check, and the report writers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin._regression import InterfaceSnapshot, compare, needed_bump, verdict
from harness.pytest_plugin._report import CheckRecord, RunReport
from harness.testing import S32, Const, err, write_extension
from harness.testing._scenario import ScenarioBuilder, api_name

pytest_plugins = ["pytester"]


def _example(ext: str, args: list[Any], expect: Any) -> dict[str, Any]:
    return {"conformance": {"example": [{"function": f"{api_name(ext)}#get", "args": args, "expect": expect}]}}


def broken_set(folder: Path) -> None:
    """One extension per way to fail, plus one that passes everything."""
    import wasmtime

    node = ScenarioBuilder.node
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "badm").mkdir()
    (folder / "badm" / "extension.toml").write_text('name = "badm"\nversion = 3\n')
    (folder / "core").mkdir()
    (folder / "core" / "core.wasm").write_bytes(wasmtime.wat2wasm("(module)"))
    (folder / "core" / "extension.toml").write_text('name = "core"\ncomponent = "core.wasm"\n')
    mocks = [
        node("lonely", ["absent"]),
        node("cyc-a", ["cyc-b"]), node("cyc-b", ["cyc-a"]),
        node("tm-lib", param=S32), node("tm-app", ["tm-lib"]),
        node("noinit", init=Const(err("no config"))),
    ]
    good, wrong = node("good"), node("wrong")
    for m in mocks:
        write_extension(m, folder)
    from dataclasses import replace

    write_extension(replace(good, manifest_extra=_example("good", [2], 2)), folder)
    write_extension(replace(wrong, manifest_extra=_example("wrong", [2], 5)), folder)


EXPECTED_FAIL = {
    "badm": ("discovery", "bad-manifest"),
    "core": ("analysis", "not-a-component"),
    "lonely": ("resolution", "missing-import"),
    "cyc-a": ("resolution", "cycle"),
    "cyc-b": ("resolution", "cycle"),
    "tm-app": ("resolution", "type-mismatch"),
    "noinit": ("linking", "init-failed"),
    "wrong": ("behaviour", "expected 5, got 2"),
}


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run `pytest --ext-suite` once over the broken set (in-process, for speed)."""
    base = tmp_path_factory.mktemp("broken-run")
    broken_set(base / "exts")
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--ext-suite=exts", "--ext-report=out", "--ext-cache-dir=cache",
         "-p", "no:cacheprovider", "-q", "-rfs", "--rootdir", str(base)],
        cwd=base, capture_output=True, text=True, timeout=120, check=False)
    return {"proc": proc, "base": base,
            "json": json.loads((base / "out" / "conformance.json").read_text()),
            "xml": ET.parse(base / "out" / "conformance.xml"),
            "md": (base / "out" / "conformance.md").read_text()}


@pytest.mark.parametrize("name", sorted(EXPECTED_FAIL))
def test_broken_extension_fails_on_the_right_check(broken_run: dict[str, Any], name: str) -> None:
    check, needle = EXPECTED_FAIL[name]
    checks = broken_run["json"]["extensions"][name]["checks"]
    assert checks[check]["outcome"] == "failed", checks
    message = checks[check]["message"]
    assert name in message and needle in message
    assert f"{check} failed" in message
    assert "fix:" in message
    earlier = ["discovery", "analysis", "resolution", "linking", "behaviour"]
    for before in earlier[:earlier.index(check)]:
        assert checks[before]["outcome"] in ("passed", "skipped"), (before, checks[before])
    assert f"test_{check}[{name}]" in broken_run["proc"].stdout


def test_broken_run_verdicts(broken_run: dict[str, Any]) -> None:
    proc = broken_run["proc"]
    assert proc.returncode == 1, proc.stdout[-3000:]
    exts = broken_run["json"]["extensions"]
    assert exts["good"]["outcome"] == "passed"
    assert exts["good"]["checks"]["behaviour"]["outcome"] == "passed"
    assert exts["tm-lib"]["outcome"] == "passed"  # the provider is fine; its consumer is wrong
    # later checks of a failed extension are skipped with the reason, not failed twice
    assert exts["lonely"]["checks"]["linking"]["outcome"] == "skipped"
    assert "resolution failed (missing-import)" in exts["lonely"]["checks"]["linking"]["message"]
    assert "param n" in exts["tm-app"]["checks"]["resolution"]["message"]
    # the JSON report carries each check's details for tools (docs/validating.md)
    runs = exts["good"]["checks"]["behaviour"]["details"]["runs"]
    assert {r["mode"] for r in runs} == {"sync", "async"} and all(r["ok"] for r in runs)
    assert exts["lonely"]["checks"]["resolution"]["details"]["missing"]


def test_reports_are_consistent(broken_run: dict[str, Any]) -> None:
    root = broken_run["xml"].getroot()
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["wasmtime-version"] and props["wasm-tools-version"]
    failures = {(c.get("classname"), c.get("name")) for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failures == {(n, chk) for n, (chk, _) in EXPECTED_FAIL.items()}
    md = broken_run["md"]
    assert "```mermaid" in md and "n_tm_app -.-x" in md and "-.->|missing|" in md
    assert "n_cyc_a -.->|cycle| n_cyc_b" in md
    assert "class " in md and "n_wrong" in md.split("classDef failed")[1]
    assert broken_run["json"]["summary"]["failed"] == len(EXPECTED_FAIL)


# --------------------------------------------------------------------------- semver

def _snap(version: str, exports: dict[str, dict[str, str]],
          imports: dict[str, dict[str, str]] | None = None) -> InterfaceSnapshot:
    return InterfaceSnapshot("e", version, imports or {}, exports, {})


BASE = {"ns:p/api": {"f": "func(x: u32) -> u32", "g": "func()"}}


@pytest.mark.parametrize(("version", "exports", "need"), [
    ("1.2.3", {"ns:p/api": {"f": "func(x: u32) -> u32"}}, "major"),          # removed
    ("1.2.3", {"ns:p/api": {**BASE["ns:p/api"], "h": "func()"}}, "minor"),    # added
    ("1.2.3", {"ns:p/api": {"f": "func(x: s32) -> u32", "g": "func()"}}, "major"),  # changed
    ("0.4.0", {"ns:p/api": {"f": "func(x: u32) -> u32"}}, "minor"),          # 0.x: breaking → minor
    ("0.4.0", {"ns:p/api": {**BASE["ns:p/api"], "h": "func()"}}, "patch"),
    ("0.0.3", {"ns:p/api": {**BASE["ns:p/api"], "h": "func()"}}, "patch"),
    ("1.0.0", BASE, "none"),
])
def test_needed_bump(version: str, exports: dict[str, dict[str, str]], need: str) -> None:
    assert needed_bump(compare(_snap(version, BASE), _snap(version, exports)), version) == need


def test_verdict_names_the_change_and_the_bump() -> None:
    old = _snap("1.2.3", BASE)
    new = _snap("1.2.3", {"ns:p/api": {"f": "func(x: u32) -> u32"}})
    ok, msg = verdict(old, new)
    assert not ok
    assert "removed function ns:p/api#g" in msg and "major version bump (1.2.3 → 2.0.0)" in msg
    ok, msg = verdict(old, _snap("1.3.0", {"ns:p/api": {**BASE["ns:p/api"], "h": "func()"}}))
    assert ok and "sufficient" in msg
    ok, msg = verdict(old, _snap("1.2.4", {"ns:p/api": {**BASE["ns:p/api"], "h": "func()"}}))
    assert not ok and "only a patch bump" in msg and "1.3.0" in msg


def test_regression_check_end_to_end(tmp_path: Path) -> None:
    """Record, then change the interface without and with a version bump."""
    from dataclasses import replace

    from harness.pytest_plugin._suite import SuiteRun, SuiteSettings
    from harness.testing import U32, AddParams, MockFunction, MockInterface

    exts, snaps = tmp_path / "exts", tmp_path / "snaps"
    base = ScenarioBuilder.node("reg")
    write_extension(base, exts)

    def run(update: bool = False) -> Any:
        r = SuiteRun(SuiteSettings((exts,), cache_dir=tmp_path / "c", snapshot_dir=snaps, snapshot_update=update))
        try:
            return r.check("reg", "regression")
        finally:
            r.close()

    assert run().outcome == "skipped"
    assert run(update=True).outcome == "passed" and (snaps / "reg.json").is_file()
    assert run().outcome == "passed"
    extra = MockFunction("more", (("n", U32),), U32, AddParams())
    iface = base.exports[0]
    changed = replace(base, exports=(MockInterface(iface.name, (*iface.functions, extra)),))
    write_extension(changed, exts)
    res = run()
    assert res.outcome == "failed"
    assert "added function test:reg/api#more" in res.message and "minor version bump (1.0.0 → 1.1.0)" in res.message
    write_extension(replace(changed, version="1.1.0"), exts)
    assert run().outcome == "passed"


def test_report_merges_phases_and_keeps_failures(tmp_path: Path) -> None:
    rep = RunReport()
    rep.add(CheckRecord("a", "linking", "failed", "boom", 0.5))
    rep.add(CheckRecord("a", "linking", "passed", "", 0.25))
    rep.add(CheckRecord("b", "discovery", "passed", "", 0.1, {"version": "1.0.0"}))
    assert rep.records["a::linking"].outcome == "failed"
    paths = rep.write(tmp_path, {"wasmtime": "x", "wasm-tools": "y"}, 1.0)
    data = json.loads(paths[1].read_text())
    assert data["extensions"]["a"]["outcome"] == "failed"
    assert data["extensions"]["b"]["version"] == "1.0.0"
    assert data["summary"] == {"passed": 1, "failed": 1, "skipped": 0}


def test_one_list_of_checks_orders_the_suite_and_the_reports() -> None:
    """`CHECKS` is the order of the suite's tests, of each extension's records and of the report's columns."""
    import ast

    from harness.pytest_plugin._suite import CHECKS

    suite = Path(__file__).resolve().parent.parent / "suites" / "test_conformance.py"
    tests = [n.name for n in ast.parse(suite.read_text(encoding="utf-8")).body
             if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert tests == [f"test_{c}" for c in CHECKS]
    rep = RunReport()
    for check in reversed(CHECKS):
        rep.add(CheckRecord("a", check, "passed"))
    rep.add(CheckRecord("a", "not-a-check", "passed"))
    assert [r.check for r in rep.by_extension()["a"]] == [*CHECKS, "not-a-check"]
    md = rep.markdown({}).splitlines()
    header = md.index("| extension | " + " | ".join(CHECKS) + " |")
    assert md[header + 2] == "| a | " + " | ".join("✅" for _ in CHECKS) + " |"


def _counter_pair(tmp_path: Path, user_examples: str) -> Path:
    """counter.wat (exports `resource counter`) and counter_user.wat (imports it), each in a folder
    with a manifest; the user's examples are `user_examples` (TOML)."""
    host_wat = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
    exts = tmp_path / "exts"
    for name, extra in (("counter", ""), ("counter_user", user_examples)):
        (exts / name).mkdir(parents=True)
        (exts / name / f"{name}.wat").write_text((host_wat / f"{name}.wat").read_text())
        (exts / name / "extension.toml").write_text(
            f'name = "{name}"\nversion = "1.0.0"\ncomponent = "{name}.wat"\n{extra}')
    return exts


@pytest.mark.parametrize(("example", "outcome"), [("churn", "passed"), ("hold", "failed")])
def test_resources_check_finds_handles_left_held(tmp_path: Path, example: str, outcome: str) -> None:
    """`churn(n)` makes and drops n counters; `hold(s)` keeps one in the importer: a leak."""
    from harness.pytest_plugin._suite import CHECKS, SuiteRun, SuiteSettings

    assert "resources" in CHECKS
    exts = _counter_pair(tmp_path, f'[[conformance.example]]\nfunction = "test:res/user@1.0.0#{example}"\n'
                                   'args = [3]\n')
    r = SuiteRun(SuiteSettings((exts,), cache_dir=tmp_path / "c"))
    try:
        res = r.check("counter", "resources")
        assert res.outcome == outcome, res.message
        if outcome == "failed":
            assert "resources leaked" in res.message and "counter_user (1)" in res.message
            assert res.details["held"] == {"counter_user": 1}
        else:
            assert res.details["held"] == {} and res.details["example_runs"] == 1
            host = r.host()
            assert host is not None
            # the destructors ran: the provider's own bookkeeping says so
            assert host.call("counter", "test:res/counter@1.0.0#live") == 0
            assert host.call("counter", "test:res/counter@1.0.0#dropped") >= 3
        skipped = r.check("counter_user", "resources")
        assert skipped.outcome == "skipped" and "exports no resource" in skipped.message
    finally:
        r.close()
