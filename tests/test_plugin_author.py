"""Mistakes an extension author makes, seen through `pytest --ext-suite`: each failure must
name the extension, the check, what is wrong and the fix."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.testing import write_extension
from harness.testing._scenario import ScenarioBuilder, api_name

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
_QUIET = ("-o", "asyncio_default_fixture_loop_scope=function")


def _run(pytester: pytest.Pytester, *args: str) -> Any:
    # no faulthandler in-process: it replaces wasmtime's trap handlers (see docs/plugin.md)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:faulthandler", *_QUIET,
                                        f"--ext-cache-dir={pytester.path / '.ext-cache'}", *args)


def _adder(root: Path, **example: Any) -> Path:
    entry = {"function": f"{api_name('adder')}#get", "args": [7], **example}
    ext = replace(ScenarioBuilder.node("adder"), manifest_extra={"conformance": {"example": [entry]}})
    return write_extension(ext, root / "exts")


def _report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    return data


def test_a_misspelt_manifest_key_is_named_in_the_discovery_failure(pytester: pytest.Pytester) -> None:
    folder = _adder(pytester.path, expect=7)
    toml = folder / "extension.toml"
    toml.write_text(toml.read_text().replace("component =", "componnet ="))
    (folder / "adder.wat").rename(folder / "code.wat")
    (folder / "other.wat").write_text((folder / "code.wat").read_text())  # two candidates: no default
    result = _run(pytester, "--ext-suite=exts")
    result.assert_outcomes(failed=1, skipped=8)
    result.stdout.fnmatch_lines(["*adder: discovery failed*", "*missing-component*",
                                 "*warning unknown-manifest-key [[]componnet[]]*",
                                 "*fix: did you mean `component`?*"])


def test_a_discovery_warning_shows_in_the_passing_message(pytester: pytest.Pytester) -> None:
    folder = _adder(pytester.path, expect=7)
    toml = folder / "extension.toml"
    toml.write_text('descriptoin = "typo"\n' + toml.read_text())
    _run(pytester, "--ext-suite=exts", "-k", "discovery").assert_outcomes(passed=1)
    check = _report(pytester)["extensions"]["adder"]["checks"]["discovery"]
    assert "unknown-manifest-key [descriptoin]" in check["message"]


def test_a_misspelt_example_key_fails_behaviour(pytester: pytest.Pytester) -> None:
    """`expected = 8` is ignored, so without this the example would check nothing and pass."""
    _adder(pytester.path, expected=8)
    result = _run(pytester, "--ext-suite=exts", "-k", "behaviour")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*adder: behaviour failed*",
                                 "*`conformance.example[[]0[]].expected` ignored*",
                                 "*fix: check the spelling; an example's keys are*expect or expect_error*"])


def test_a_misspelt_example_key_does_not_stop_the_other_examples(pytester: pytest.Pytester) -> None:
    """Every problem of the examples in one run: the mistyped one, and a wrong value in another."""
    fn = f"{api_name('adder')}#get"
    examples = [{"function": fn, "args": [7], "expected": 8},
                {"function": fn, "args": [5], "expect": 5},
                {"function": fn, "args": [6], "expect": 9}]
    ext = replace(ScenarioBuilder.node("adder"), manifest_extra={"conformance": {"example": examples}})
    write_extension(ext, pytester.path / "exts")
    result = _run(pytester, "--ext-suite=exts", "-k", "behaviour")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*adder: behaviour failed (2 of 4 runs; 1 example(s) with unknown keys)*",
                                 "*`conformance.example[[]0[]].expected` ignored*",
                                 "*example 3 (sync)*(6): expected 9, got 6*",
                                 "*example 3 (async)*(6): expected 9, got 6*"])
    runs = _report(pytester)["extensions"]["adder"]["checks"]["behaviour"]["details"]["runs"]
    assert [(r["example"], r["ok"]) for r in runs] == [(2, True), (2, True), (3, False), (3, False)]


def test_a_wrong_function_name_suggests_the_near_miss(pytester: pytest.Pytester) -> None:
    entry = {"function": f"{api_name('adder')}#gte", "args": [7], "expect": 7}
    ext = replace(ScenarioBuilder.node("adder"), manifest_extra={"conformance": {"example": [entry]}})
    write_extension(ext, pytester.path / "exts")
    result = _run(pytester, "--ext-suite=exts", "-k", "behaviour")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*example 1 (sync) {api_name('adder')}#gte(7): no-such-function: "
                                 f"did you mean {api_name('adder')}#get?*"])
    assert "fix: correct the extension, or the [[conformance.example]] entry" in result.stdout.str()


def test_a_wrong_expected_value_shows_both_values(pytester: pytest.Pytester) -> None:
    _adder(pytester.path, expect=8)
    result = _run(pytester, "--ext-suite=exts", "-k", "behaviour")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*adder: behaviour failed (2 of 2 runs)*", "*expected 8, got 7*"])


def test_the_missing_snapshot_hint_works_for_any_path(pytester: pytest.Pytester) -> None:
    """The hint must not suggest a bare `--ext-suite` (that means examples/, not the author's path)."""
    _adder(pytester.path, expect=7)
    result = _run(pytester, "--ext-suite=exts", "-k", "regression", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no interface snapshot yet in *__ext_snapshots__; record one by running the "
                                 "same command with --snapshot-update*"])


def test_snapshot_update_works_without_syrupy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """An author installs ext-harness and pytest only; `--snapshot-update` is syrupy's option."""
    _adder(pytester.path, expect=7)
    script = ("import sys; sys.modules['syrupy'] = None; import pytest; "
              "sys.exit(pytest.main(sys.argv[1:]))")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = [sys.executable, "-c", script, "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
            f"--ext-cache-dir={pytester.path / '.ext-cache'}", "--ext-suite=exts", "-k", "regression",
            "--snapshot-update", "--ext-no-report"]
    result = pytester.run(*args, timeout=120)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "syrupy is not installed" not in result.stderr.str()
    snap = json.loads((pytester.path / "__ext_snapshots__" / "adder.json").read_text())
    assert snap["name"] == "adder"


def test_the_starter_builds_without_the_repository() -> None:
    """The starter's own package.json pins the build tool and its `build` script matches the manifest."""
    starter = REPO / "examples" / "starter"
    pkg = json.loads((starter / "package.json").read_text())
    lock = json.loads((starter / "package-lock.json").read_text())
    examples = json.loads((REPO / "harness" / "pipeline" / "toolchains" / "package.json").read_text())  # build's pin
    pinned = examples["devDependencies"]["componentize-qjs"]
    assert pkg["devDependencies"]["componentize-qjs"] == pinned
    assert lock["packages"]["node_modules/componentize-qjs"]["version"] == pinned
    manifest = (starter / "extension.toml").read_text()
    build = pkg["scripts"]["build"]
    assert "--world my:starter/starter@0.1.0" in build and 'world = "my:starter/starter@0.1.0"' in manifest
    assert "-o build/starter.wasm" in build and 'component = "build/starter.wasm"' in manifest
    assert "../" not in build
