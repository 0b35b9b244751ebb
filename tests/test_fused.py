"""`Host.load(..., link="fused")`: a consumer runs as one composed component with its providers."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness import CallError, Host, UsageError
from harness.model._records import Capabilities, Endpoint
from harness.pipeline import _compose
from harness.pipeline._wasmtools import wasm_tools
from harness.testing import U32, GraphEdge, GraphNode, GraphScenario
from harness.testing._dsl import AddParams, Forward, Loop, MockExtension, MockFunction, MockInterface
from harness.testing._manifest import write_extension
from harness.testing.strategies import dependency_graphs

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.skipif(wasm_tools() is None, reason="wasm-tools is not installed")
LIB = "test:lib/api@1.2.0"
IMPORTED = "test:lib/api@1.0.0"


def _pair(folder: Path) -> list[Path]:
    """lib exports @1.2.0 `add` and a `spin` that never ends; app imports them @1.0.0 and forwards."""
    add = MockFunction("add", (("a", U32), ("b", U32)), U32, AddParams())
    spin = MockFunction("spin", (), U32, Loop())
    lib = MockExtension("lib", "1.2.0", exports=(MockInterface(LIB, (add, spin)),))
    app = MockExtension("app", "1.0.0", imports=(MockInterface(IMPORTED, (add, spin)),),
                        exports=(MockInterface("test:app/api@1.0.0", (
                            replace(add, behaviour=Forward(IMPORTED, "add")),
                            replace(spin, behaviour=Forward(IMPORTED, "spin")))),))
    return [write_extension(lib, folder), write_extension(app, folder)]


def test_link_must_be_dynamic_or_fused() -> None:
    with pytest.raises(UsageError, match="link must be 'dynamic' or 'fused'"):
        Host.load("nowhere", link="static")


def test_fused_answers_like_dynamic_and_keeps_errors_timeouts_restarts_and_acall(tmp_path: Path) -> None:
    paths = _pair(tmp_path / "exts")
    cache = str(tmp_path / "cache")
    outcomes = {}
    for link in ("dynamic", "fused"):
        with Host.load(*paths, cache_dir=cache, link=link, timeout_ms=300) as host:
            assert not host.errors, host.errors
            assert host.extensions == ("lib", "app")
            got: list[object] = [host.call("app", "add", 2, 3), host.call("lib", "add", 4, 5)]
            with pytest.raises(CallError) as info:
                host.call("app", "spin")
            got.append(info.value.code)
            got.append(host.call("app", "add", 1, 1))  # restarted after the timeout
            got.append(asyncio.run(host.acall("app", "add", 20, 22)))
            with pytest.raises(CallError) as info:
                host.call("app", "add", "x", 1)
            got.append(info.value.code)
            outcomes[link] = got
            if link == "fused":  # the unit is one Store: no proxies into lib's runtime
                assert host.runtimes["app"].analysed.library_imports() == ()
    assert outcomes["dynamic"] == outcomes["fused"] == [5, 9, "timeout", 2, 42, "bad-arguments"]


def test_a_trap_in_a_fused_provider_faults_the_unit_not_the_provider(tmp_path: Path) -> None:
    s = GraphScenario(nodes=(GraphNode("lib", traps=True), GraphNode("app")), edges=(GraphEdge("app", "lib"),))
    paths = list(s.materialize(tmp_path / "exts").values())
    with Host.load(*paths, cache_dir=str(tmp_path / "cache"), link="fused") as host:
        with pytest.raises(CallError) as info:
            host.call("app", "get", 1)
        assert info.value.code == "trap"
        assert [e.extension for e in host.events if e.kind == "fault"] == ["app"]  # lib's own Store is fine
        assert host.call("lib", "id") == s.ids()[("lib", "test:lib/api@1.0.0")]
        assert host.call("app", "via0") == s.ids()[("lib", "test:lib/api@1.0.0")]  # the unit restarted


def test_a_composer_failure_is_the_consumers_link_error_and_the_rest_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-wasm-tools"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo fake 0.0.2; exit 0; fi\n"
                    "echo 'error: nope' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_compose, "wasm_tools", lambda: str(fake))
    paths = _pair(tmp_path / "exts")
    with Host.load(*paths, cache_dir=str(tmp_path / "cache"), link="fused") as host:
        assert host.status == {"lib": "ok", "app": "error"}
        (d,) = host.errors
        assert (d.code, d.extension) == ("instantiation-failed", "app")
        assert "composing it with lib failed" in d.message and "error: nope" in d.message
        assert host.call("lib", "add", 1, 2) == 3


def test_a_provider_importing_wasi_with_other_grants_is_not_fused(tmp_path: Path) -> None:
    """A unit has the root's WASI context: a provider must not be handed grants it did not ask for."""
    from harness.pipeline._cache import CompileCache
    from harness.pipeline._inspect import inspect

    ins = inspect(*_pair(tmp_path / "exts"), cache_dir=tmp_path / "cache")
    unit = _compose.fused_unit(ins.resolution, ins.analysed, "app")
    wasi = Endpoint("wasi:cli/environment@0.2.0", "wasi", None)
    lib = unit.members[1]
    root = unit.root
    granted = replace(root.candidate, manifest=replace(root.candidate.manifest,
                                                       capabilities=Capabilities(inherit_env=True)))
    unit = replace(unit, members=(replace(root, candidate=granted), replace(lib, imports=(*lib.imports, wasi))))
    with pytest.raises(_compose.ComposeFailure, match="lib imports WASI with other \\[capabilities\\] than app"):
        _compose.fused_analysed(unit, ins.engine, ins.engine_config, CompileCache.disabled())


@pytest.mark.skipif(not (EXAMPLES / "ext-add" / "build" / "ext-add.wasm").exists()
                    or not (EXAMPLES / "ext-js" / "build" / "ext-js.wasm").exists(),
                    reason="examples not built (examples/build.sh)")
def test_the_examples_fused(tmp_path: Path) -> None:
    calls = [("ext-add", "add", (2, 3)), ("ext-add", "add-expr", ("1 + 2", "2 ^ 3")),
             ("ext-add", "add-expr", ("1 / 0", "1")), ("ext-js", "evaluate", ("1 + 2",))]
    results = {}
    for link in ("dynamic", "fused"):
        with Host.load(EXAMPLES, link=link) as host:
            assert not host.errors
            results[link] = [host.call(e, f, *a) for e, f, a in calls]
    assert results["dynamic"] == results["fused"]
    assert results["fused"][1:3] == [{"ok": "11"}, {"err": "'1 / 0': division by zero"}]


# --------------------------------------------------------------------------- the suite's composition check

_COUNTER = """(component
  (core module $m
    (global $n (mut i32) (i32.const 0))
    (func (export "next") (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)))
  (core instance $i (instantiate $m))
  (func $next (result u32) (canon lift (core func $i "next")))
  (instance $out (export "next" (func $next)))
  (export "test:ctr/api@1.1.0" (instance $out)))
"""
_USER = """(component
  (import "test:ctr/api@1.0.0" (instance $ctr (export "next" (func (result u32)))))
  (core func $next (canon lower (func $ctr "next")))
  (core module $m
    (import "ctr" "next" (func $next (result i32)))
    (func (export "next") (result i32) call $next))
  (core instance $i (instantiate $m (with "ctr" (instance (export "next" (func $next))))))
  (func $f (result u32) (canon lift (core func $i "next")))
  (instance $out (export "next" (func $f)))
  (export "test:user/api@1.0.0" (instance $out)))
"""


def _stateful(folder: Path, *, example: str) -> list[Path]:
    """ctr counts calls; user forwards to it. With `example` calling ctr first, user's answer shows
    whether it shares ctr's instance (dynamic) or has a private one (fused)."""
    out = []
    for name, wat, extra in (("ctr", _COUNTER, example), ("user", _USER,
                                                          '[[conformance.example]]\nfunction = "next"\nargs = []\n'
                                                          'expect = 1\n')):
        root = folder / name
        root.mkdir(parents=True)
        (root / f"{name}.wat").write_text(wat)
        (root / "extension.toml").write_text(f'name = "{name}"\nversion = "1.0.0"\ncomponent = "{name}.wat"\n'
                                             + extra)
        out.append(root)
    return out


def _suite(paths: list[Path], cache: Path, link: str = "dynamic") -> Any:
    from harness.pytest_plugin._suite import SuiteRun, SuiteSettings

    return SuiteRun(SuiteSettings(paths=tuple(paths), cache_dir=cache, link=link))


@pytest.mark.parametrize("link", ["dynamic", "fused"])
def test_composition_check_passes_when_both_modes_agree(tmp_path: Path, link: str) -> None:
    run = _suite(_stateful(tmp_path / "exts", example=""), tmp_path / "cache", link)
    try:
        result = run.check("user", "composition")
        assert result.outcome == "passed", result.message
        assert result.details["runs"][0][link] == ["value", 1]
        assert run.check("ctr", "composition").outcome == "skipped"  # it imports no library
    finally:
        run.close()


def test_composition_check_fails_on_shared_provider_state(tmp_path: Path) -> None:
    """Dynamic: user shares ctr with the direct calls of ctr's own examples; fused it has its own."""
    example = '[[conformance.example]]\nfunction = "next"\nargs = []\nexpect = 1\n'
    run = _suite(_stateful(tmp_path / "exts", example=example), tmp_path / "cache")
    try:
        run.check("ctr", "behaviour")  # calls ctr's next twice (sync, async): its counter is at 2
        result = run.check("user", "composition")
        assert result.outcome == "failed"
        assert "link=dynamic gave 3, link=fused gave 1" in result.message
        assert "docs/linking.md" in result.message
    finally:
        run.close()


def test_composition_check_reports_a_consumer_the_other_mode_cannot_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-wasm-tools"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo fake 0.0.3; exit 0; fi\n"
                    "echo 'error: nope' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_compose, "wasm_tools", lambda: str(fake))
    run = _suite(_stateful(tmp_path / "exts", example=""), tmp_path / "cache")
    try:
        result = run.check("user", "composition")
        assert result.outcome == "failed" and result.details["codes"] == ["instantiation-failed"]
        assert "composition (fused link) failed" in result.message
    finally:
        run.close()


# --------------------------------------------------------------------------- property: fused == dynamic

_graph_runs = iter(range(10**9))


@pytest.fixture(scope="module")
def graph_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fused-props-") as d:
        (Path(d) / "cache").mkdir()
        yield Path(d)


def _outcomes(host: Host, scenario: GraphScenario, n: int) -> dict[str, Any]:
    """Status and error codes per extension, then every call of every loaded extension (values or codes)."""
    out: dict[str, Any] = {"status": host.status,
                           "codes": sorted((d.extension or "", d.code) for d in host.diagnostics)}
    for name in host.extensions:
        for func in ["id", *(f"via{k}" for k in range(len(scenario.edges_of(name))))]:
            try:
                out[f"{name}.{func}"] = host.call(name, func)
            except CallError as e:
                out[f"{name}.{func}"] = e.code
        try:
            out[f"{name}.get"] = host.call(name, "get", n)
        except CallError as e:
            out[f"{name}.get"] = e.code
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=dependency_graphs(max_nodes=4, broken=False), n=st.integers(0, 2**32 - 1))
def test_generated_graphs_give_the_same_outcomes_fused_and_dynamic(graph_dir: Path, scenario: GraphScenario,
                                                                   n: int) -> None:
    paths = list(scenario.materialize(graph_dir / f"g{next(_graph_runs)}").values())
    cache = str(graph_dir / "cache")
    results = {}
    for link in ("dynamic", "fused"):
        with Host.load(*paths, cache_dir=cache, link=link) as host:
            results[link] = _outcomes(host, scenario, n)
            fused = [r.name for r in host.runtimes.values() if r.analysed.library_imports() == ()
                     and host.resolution.links_of(r.name)]
            event(f"{link}: {'some' if fused else 'no'} fused units")
    assert results["fused"] == results["dynamic"]


@pytest.mark.parametrize("link", ["dynamic", "fused"])
def test_cancelling_an_acall_stops_the_unit_and_it_answers_after(tmp_path: Path, link: str) -> None:
    paths = _pair(tmp_path / "exts")

    async def scenario(host: Host) -> object:
        task = asyncio.ensure_future(host.acall("app", "spin"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await host.acall("app", "add", 3, 4)

    with Host.load(*paths, cache_dir=str(tmp_path / "cache"), link=link, timeout_ms=20_000) as host:
        started = time.monotonic()
        assert asyncio.run(scenario(host)) == 7
        assert time.monotonic() - started < 10  # the spinning guest was stopped, not waited for
