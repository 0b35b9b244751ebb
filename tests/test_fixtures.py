"""The public fixtures: every diagnostic code the pipeline produces, from a scenario, snapshotted;
call errors and async traces; WAT fixtures checked against their `;;!` headers."""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.model._codes import DIAGNOSTIC_CODES
from harness.model._errors import CallError, WatSyntaxError
from harness.pytest_plugin._snapshot import mask, serialize, trace_of, traced_gather
from harness.testing import (
    S32,
    STRING,
    U32,
    AddParams,
    MockInterface,
    ScenarioBuilder,
    api_name,
    ext,
    fn,
    iface,
    list_of,
)

REPO = Path(__file__).resolve().parents[1]
NOT_FROM_THE_PIPELINE = {"duplicate-command", "bad-command"}  # from the command registry, not from loading

Make = Callable[[Path, Any, Any], tuple[list[Path], dict[str, Any]]]


def _mock(folder: Path, name: str, **manifest: Any) -> Path:
    from harness.testing import write_extension

    return write_extension(replace(ScenarioBuilder.node(name), manifest_extra=manifest), folder)


def _manifest(folder: Path, text: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "extension.toml").write_text(text)
    return [folder]


def _make(code: str, tmp: Path, scenario: Any, wat: Any) -> tuple[list[Any], dict[str, Any]]:
    """Inputs (and host options) that make the pipeline report `code`."""
    tmp.mkdir(parents=True, exist_ok=True)
    if code == "bad-manifest":
        return _manifest(tmp / "badm", 'name = "badm"\nversion = 3\n'), {}
    if code == "unknown-manifest-key":
        return [_mock(tmp, "colourful", colour="blue")], {}
    if code == "missing-component":
        return _manifest(tmp / "ghost", 'name = "ghost"\ncomponent = "nope.wasm"\n'), {}
    if code == "path-escape":
        return _manifest(tmp / "escape", 'name = "escape"\ncomponent = "../outside.wasm"\n'), {}
    if code == "symlink-loop":
        paths = _manifest(tmp / "loopy", 'name = "loopy"\ncomponent = "loop.wasm"\n')
        os.symlink("loop.wasm", tmp / "loopy" / "loop.wasm")
        return paths, {}
    if code == "duplicate-name":
        _mock(tmp / "one", "twin")
        _mock(tmp / "two", "twin")
        return [tmp / "one", tmp / "two"], {}
    if code == "file-too-large":
        return [_mock(tmp, "big")], {"max_file_size": 200}
    if code == "invalid-name":
        return _manifest(tmp / "bad", 'name = "9lives"\n'), {}
    if code == "not-found":
        return [tmp / "nowhere"], {}
    if code == "unreadable":
        # a link whose target name is too long to look up (ENAMETOOLONG, even for root): what it
        # stands for cannot be read, so it is reported rather than skipped
        (tmp / "scan").mkdir()
        os.symlink("x" * 300, tmp / "scan" / "long")
        return [tmp / "scan"], {}
    if code == "not-an-extension":
        (tmp / "notes.txt").write_text("hello")
        return [tmp / "notes.txt"], {}
    if code == "wat-syntax":
        (tmp / "broken.wat").write_text("(component\n  (core module $m (func (result i32) i33.const 1)))\n")
        return [tmp / "broken.wat"], {}
    if code == "invalid-component":
        (tmp / "junk.wasm").write_bytes(b"\0asm\x0d\0\x01\0garbage")
        return [tmp / "junk.wasm"], {}
    if code == "not-a-component":
        import wasmtime

        (tmp / "core.wasm").write_bytes(wasmtime.wat2wasm("(module)"))
        return [tmp / "core.wasm"], {}
    if code == "unsupported-import":
        return [wat("analysis_bare_import.wat", name="bare")], {}
    if code == "missing-import":
        return [scenario.missing_import()], {}
    if code == "type-mismatch":
        return [scenario.type_mismatch()], {}
    if code == "ambiguous-provider":
        return [scenario.ambiguous()], {}
    if code == "bad-pin":
        _mock(tmp / "set", "lib")
        _mock(tmp / "set", "other")
        from harness.testing import write_extension

        app = replace(ScenarioBuilder.node("app", ["lib"]), manifest_extra={"provides": {"test:lib/api": "other"}})
        write_extension(app, tmp / "set")
        return [tmp / "set"], {}
    if code == "cycle":
        return [scenario.cycle(3)], {}
    if code == "blocked-by-dependency":
        return [scenario.graph({"top": ["mid"], "mid": ["gone"]})], {}
    if code == "older-provider":
        return [scenario.older_provider()], {}
    if code == "instantiation-failed":
        big = "(component (core module $m (memory 64)) (core instance (instantiate $m)))"
        return [wat(big, name="hungry")], {"memory_mb": 1}
    if code == "init-failed":
        return [scenario.failing_dependency()], {}
    if code == "capability-denied":
        from harness.testing import write_extension

        wasi = MockInterface("wasi:cli/environment@0.2.0", (fn("get-arguments", (), list_of(STRING)),))
        m = ext("greedy", exports=[iface(api_name("greedy"), fn("get", [("n", U32)], U32, AddParams()))],
                imports=[wasi], manifest_extra={"capabilities": {"preopens": {"no-such-dir": "/data"}}})
        return [write_extension(m, tmp)], {}
    raise AssertionError(f"no scenario for {code}")


CODES = sorted(DIAGNOSTIC_CODES - NOT_FROM_THE_PIPELINE)


@pytest.mark.parametrize("code", CODES)
def test_every_diagnostic_code(code: str, tmp_path: Path, scenario: Any, wat_component: Any, ext_host: Any,
                               ext_snapshot: Any) -> None:
    inputs, options = _make(code, tmp_path / "in", scenario, wat_component)
    host = ext_host(*inputs, **options)
    found = [d for d in host.diagnostics if d.code == code]
    assert found, serialize(host)
    for d in found:
        assert d.hint and d.message
    assert host == ext_snapshot


def test_codes_table_is_covered() -> None:
    assert set(CODES) | NOT_FROM_THE_PIPELINE == set(DIAGNOSTIC_CODES)


@pytest.mark.parametrize("build", ["chain", "diamond", "cycle", "skew-ok", "skew-bad", "graph"])
def test_scenarios_load_as_declared(build: str, scenario: Any, ext_host: Any, ext_snapshot: Any) -> None:
    s = {"chain": lambda: scenario.chain(4), "diamond": scenario.diamond, "cycle": lambda: scenario.cycle(2),
         "skew-ok": lambda: scenario.version_skew(compatible=True),
         "skew-bad": lambda: scenario.version_skew(compatible=False),
         "graph": lambda: scenario.graph({"a": ["b", "c"], "b": ["c"], "c": [], "d": ["a", "x"]})}[build]()
    host = ext_host(s)
    assert host.status == dict(s.status)
    codes = {d.code for d in host.diagnostics}
    assert set(s.codes) <= codes
    if all(v == "ok" for v in s.status.values()):
        first = s.extensions[0]
        assert host.call(first, "get", 41) == 41  # forwarded down to a leaf
    assert [s, host] == ext_snapshot


@pytest.mark.parametrize("shape", ["missing_import", "older_provider", "ambiguous", "type_mismatch",
                                   "failing_dependency", "trapping", "diamond"])
def test_every_scenario_shape_loads_as_its_model_expects(shape: str, scenario: Any, ext_host: Any) -> None:
    """Each shape's expected status and codes (from `GraphScenario.expected`) are what the host
    reports, and every ok consumer's `via<k>` answers with the id of the provider it expects."""
    s = getattr(scenario, shape)()
    host = ext_host(s)
    assert host.status == dict(s.status)
    assert {d.code for d in host.diagnostics} == set(s.codes)
    vias = s.model.via_results(s.model.expected())
    for (consumer, func), want in vias.items():
        assert host.call(consumer, func) == want
    assert vias or shape != "diamond"


def test_call_error_envelope(scenario: Any, ext_host: Any, ext_snapshot: Any) -> None:
    host = ext_host(scenario.trapping())
    with pytest.raises(CallError) as info:
        host.call("app", "get", 1)
    assert info.value.code == "trap" and info.value.chain[0].startswith("app:")
    assert info.value == ext_snapshot


def test_async_trace(scenario: Any, ext_host: Any, ext_snapshot: Any) -> None:
    host = ext_host(scenario.diamond(), trace=True)
    calls = [("top", "get", [i]) for i in range(3)] + [("bottom", "get", [9]), ("left", "get", [2])]
    trace = asyncio.run(traced_gather(host, calls))
    per = trace.per_extension()
    assert [e[0] for e in per["top"]] == ["start", "end"] * 3  # serialized within one extension
    assert trace == ext_snapshot


def test_async_trace_of_timeouts_and_cancellation(mock_extension: Any, ext_host: Any, ext_snapshot: Any) -> None:
    """A timed-out call and a cancelled one both stop the guest; the calls queued behind them still run."""
    from harness.testing import Loop

    folder = mock_extension(ext("busy", exports=[iface("t:busy/lib@1.0.0", fn("spin", (), U32, Loop()),
                                                       fn("add", [("a", U32), ("b", U32)], U32, AddParams()))]))
    host = ext_host(folder, trace=True)

    async def scenario_() -> None:
        timed_out = host.acall("busy", "spin", timeout=0.05)
        after = host.acall("busy", "add", 1, 2)
        assert await asyncio.gather(timed_out, after, return_exceptions=True) == [ANY_TIMEOUT, 3]
        task = asyncio.create_task(host.acall("busy", "spin", timeout=60))
        while len(host.traces) < 5:  # the spin has started
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await host.acall("busy", "add", 2, 2) == 4

    asyncio.run(scenario_())
    trace = trace_of(host)
    assert [(k, f, o) for k, f, o in trace.per_extension()["busy"]] == [
        ("start", "spin", ""), ("end", "spin", "timeout"), ("start", "add", ""), ("end", "add", "ok"),
        ("start", "spin", ""), ("end", "spin", "timeout"), ("start", "add", ""), ("end", "add", "ok")]
    assert trace == ext_snapshot


class _AnyTimeout:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallError) and other.code == "timeout"


ANY_TIMEOUT = _AnyTimeout()


@pytest.mark.ext_limits(timeout_ms=50)
def test_ext_limits_marker(mock_extension: Any, ext_host: Any) -> None:
    from harness.testing import Loop

    folder = mock_extension("spinner", exports=[iface("test:spin/api@1.0.0", fn("spin", (), U32, Loop()))])
    host = ext_host(folder)
    assert host.runtimes["spinner"].limits.timeout_ms == 50
    with pytest.raises(CallError) as info:
        host.call("spinner", "spin")
    assert info.value.code == "timeout"


def test_mock_extension_and_ext_host_accept_declarations(mock_extension: Any, ext_host: Any) -> None:
    adder = ext("adder", exports=[iface("test:add/api@1.0.0", fn("add", [("a", U32), ("b", U32)], U32,
                                                                    AddParams()))])
    folder = mock_extension(adder)
    assert (folder / "extension.toml").is_file() and folder.name == "adder"
    host = ext_host([adder])  # a mock directly, in a list
    assert host.call("adder", "add", 2, 3) == 5
    with pytest.raises(TypeError):
        mock_extension(adder, version="2.0.0")


def test_wat_component_caches_and_locates_errors(wat_component: Any) -> None:
    text = "(component)"
    first = wat_component(text, name="empty")
    assert first.read_bytes()[:4] == b"\0asm" and wat_component(text, name="empty") == first
    assert wat_component("calc.wat").name == "calc.wat".replace(".wat", ".wasm")
    with pytest.raises(WatSyntaxError) as info:
        wat_component("(component\n  (core module (func i33.const 1)))")
    assert (info.value.line, info.value.column) == (2, 22)
    with pytest.raises(FileNotFoundError):
        wat_component("no-such-fixture.wat")


def test_mask_hides_volatile_parts() -> None:
    text = "/home/me/x/ext.wasm at 0x33 took 12.5ms and /work/main/examples/a.toml"
    assert mask(text, "/work/main") == "<path>/ext.wasm at 0x… took <time> and examples/a.toml"


# --------------------------------------------------------------------------- ;;! headers

def _header(path: Path) -> dict[str, Any]:
    lines = [line[3:].strip() for line in path.read_text().splitlines() if line.startswith(";;!")]
    return tomllib.loads("\n".join(lines)) if lines else {}


WAT_FIXTURES = sorted(p for p in (REPO / "fixtures" / "wat").rglob("*.wat") if _header(p))


def check_header(path: Path, ext_host: Any) -> None:
    """Load a fixture with its partners and served functions; fail unless it gives what its header says."""
    from harness.model._codes import describe

    head = _header(path)
    partners = [path.parent / p for p in head.get("with", [])]
    served = {i: {f: (lambda *a: a[0] if a else None) for f in fs} for i, fs in head.get("host", {}).items()}
    host = ext_host(path, *partners, interfaces=served)
    name = path.stem
    mine = [d for d in host.diagnostics if d.extension == name and d.is_error]
    if head.get("expect", "ok") == "ok":
        assert not mine, [str(d) for d in mine]
        assert host.status[name] == "ok"
    else:
        assert mine, f"{path.name} was expected to fail"
    if "code" in head:
        codes = {d.code for d in mine}
        assert head["code"] in codes, f"{path.name}: expected code {head['code']}, got {sorted(codes)}"
    if "stage" in head:
        stages = {describe(d.code).stage for d in mine}
        assert head["stage"] in stages, f"{path.name}: expected stage {head['stage']}, got {sorted(stages)}"
    for p in partners:
        assert host.status.get(p.stem) == "ok", f"{path.name}: partner {p.name} did not load"


@pytest.mark.parametrize("path", WAT_FIXTURES, ids=[str(p.relative_to(REPO / "fixtures" / "wat"))
                                                    for p in WAT_FIXTURES])
def test_wat_fixture_headers_hold(path: Path, ext_host: Any) -> None:
    """`;;! expect = "ok" | "error"`, `stage`, `code`, `with = [partners]`, `host = {iface = [funcs]}`."""
    check_header(path, ext_host)


def test_every_host_fixture_is_checked_by_its_header() -> None:
    """A fixture added under fixtures/wat/host/ without a header would silently go unchecked."""
    host_fixtures = sorted((REPO / "fixtures" / "wat" / "host").glob("*.wat"))
    assert host_fixtures
    assert [p for p in host_fixtures if p not in WAT_FIXTURES] == []


def test_a_header_that_does_not_hold_fails(tmp_path: Path, ext_host: Any) -> None:
    """The header check is not vacuous: each claim is compared with what loading gives."""
    good = (REPO / "fixtures" / "wat" / "host" / "calc.wat").read_text(encoding="utf-8")
    body = "\n".join(line for line in good.splitlines() if not line.startswith(";;!"))
    for head, why in [('expect = "error"', "was expected to fail"),
                      ('with = ["absent.wat"]', "partner absent.wat did not load"),
                      ('code = "cycle"', "expected code cycle"),
                      ('stage = "resolution"', "expected stage resolution")]:
        fixture = tmp_path / "calc.wat"
        fixture.write_text("".join(f";;! {line}\n" for line in head.splitlines()) + body, encoding="utf-8")
        with pytest.raises(AssertionError) as info:
            check_header(fixture, ext_host)
        assert why in str(info.value), (head, info.value)


def test_scenario_nodes_agree_on_the_interface_they_share() -> None:
    """A consumer node imports what its provider node exports (the types resolution compares),
    and a node declared with another parameter type is a type mismatch."""
    from harness.model._witypes import type_diff

    consumer, provider = ScenarioBuilder.node("x", ["y"]), ScenarioBuilder.node("y")
    assert consumer.imports[0].name == provider.exports[0].name == api_name("y")
    imported = consumer.imports[0].instance_type()
    assert type_diff(imported, provider.exports[0].instance_type()) is None
    other = ScenarioBuilder.node("y", param=S32).exports[0].instance_type()
    assert type_diff(imported, other) == "get → param n: expected u32, found s32"


def test_suite_session_builds_its_run_once_on_first_use_and_closes_only_that(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's `run` is a cached property: a session that checks nothing builds (and closes)
    no run; one that does gets the same run every time, closed once at the end."""
    from types import SimpleNamespace

    from harness.pytest_plugin._session import SuiteSession
    from harness.pytest_plugin._suite import SuiteRun, SuiteSettings

    closed: list[SuiteRun] = []
    monkeypatch.setattr(SuiteRun, "close", lambda self: closed.append(self))
    settings = SuiteSettings(paths=(tmp_path,))
    idle = SuiteSession(SimpleNamespace(), settings, None)  # type: ignore[arg-type]
    idle.pytest_sessionfinish(None)  # type: ignore[arg-type]
    assert closed == []
    busy = SuiteSession(SimpleNamespace(), settings, None)  # type: ignore[arg-type]
    run = busy.run
    assert busy.run is run and run.settings == settings
    busy.pytest_sessionfinish(None)  # type: ignore[arg-type]
    assert closed == [run]
