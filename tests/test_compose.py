"""Static composition (`pipeline._compose`): one extension fused with its providers, transitively."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import wasmtime
from wasmtime import component as wc

from harness.model._errors import LoadError, UsageError
from harness.pipeline import _compose
from harness.pipeline._compose import compose
from harness.pipeline._wasmtools import wasm_tools
from harness.testing import S32, GraphEdge, GraphNode, GraphScenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOOL = wasm_tools()
pytestmark = pytest.mark.skipif(TOOL is None, reason="wasm-tools is not installed")


def _names(data: bytes) -> tuple[set[str], set[str]]:
    """Top-level import and export names of a component, as wasmtime reads them."""
    engine = wasmtime.Engine()
    ty = wc.Component(engine, data).type
    return set(ty.imports(engine)), set(ty.exports(engine))


def _validate(tmp_path: Path, data: bytes) -> None:
    out = tmp_path / "composed.wasm"
    out.write_bytes(data)
    assert TOOL is not None
    subprocess.run([TOOL, "validate", str(out)], check=True, timeout=120)


def test_chain_across_compatible_versions_is_fused_into_one_component(tmp_path: Path) -> None:
    """app imports mid's api @1.0.0, mid exports @1.2.0 and imports base's: all inside one component."""
    s = GraphScenario(nodes=(GraphNode("base", "2.0.0"), GraphNode("mid", "1.2.0"), GraphNode("app")),
                      edges=(GraphEdge("mid", "base", "2.0.0"), GraphEdge("app", "mid", "1.0.0")))
    paths = list(s.materialize(tmp_path / "exts").values())
    data, unit = compose(*paths, extension="app", cache_dir=tmp_path / "cache")
    assert unit.providers == ("base", "mid")
    _validate(tmp_path, data)
    imports, exports = _names(data)
    assert not any(i.startswith("test:") for i in imports), imports  # library imports are satisfied inside
    assert exports == {"test:app/api@1.0.0"}  # what app exports, not its providers' exports


@pytest.mark.parametrize(("scenario", "ext", "code"), [
    (GraphScenario(nodes=(GraphNode("a"), GraphNode("b")), edges=(GraphEdge("a", "b"), GraphEdge("b", "a"))),
     "a", "cycle"),
    (GraphScenario(nodes=(GraphNode("a"),), edges=(GraphEdge("a", "ghost"),)), "a", "missing-import"),
    (GraphScenario(nodes=(GraphNode("lib", param=S32), GraphNode("app")), edges=(GraphEdge("app", "lib"),)),
     "app", "type-mismatch"),
    (GraphScenario(nodes=(GraphNode("lib", param=S32), GraphNode("mid"), GraphNode("app")),
                   edges=(GraphEdge("mid", "lib"), GraphEdge("app", "mid"))), "app", "blocked-by-dependency"),
], ids=["cycle", "missing", "mismatch", "blocked"])
def test_errors_are_the_resolutions_own_diagnostics(tmp_path: Path, scenario: GraphScenario, ext: str,
                                                    code: str) -> None:
    paths = list(scenario.materialize(tmp_path / "exts").values())
    with pytest.raises(LoadError) as info:
        compose(*paths, extension=ext, cache_dir=tmp_path / "cache")
    assert {d.code for d in info.value.diagnostics} == {code}
    assert all(d.extension == ext for d in info.value.diagnostics)


def test_an_unknown_extension_is_a_usage_error(tmp_path: Path) -> None:
    paths = list(GraphScenario(nodes=(GraphNode("a"),)).materialize(tmp_path / "exts").values())
    with pytest.raises(UsageError, match=r"no extension named 'nope'.*found: a"):
        compose(*paths, extension="nope", cache_dir=tmp_path / "cache")


def test_a_composer_failure_names_the_extension_and_is_escaped(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-wasm-tools"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo fake 0.0.1; exit 0; fi\n"
                    "printf 'error: \\033[31mboom\\n' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_compose, "wasm_tools", lambda: str(fake))
    s = GraphScenario(nodes=(GraphNode("lib"), GraphNode("app")), edges=(GraphEdge("app", "lib"),))
    paths = list(s.materialize(tmp_path / "exts").values())
    with pytest.raises(LoadError) as info:
        compose(*paths, extension="app", cache_dir=tmp_path / "cache")
    (d,) = info.value.diagnostics
    assert d.code == "instantiation-failed" and d.extension == "app"
    assert "app: composing it with lib failed: wasm-tools compose refused it" in d.message
    assert "boom" in d.message and "\x1b" not in d.message and "\\x1b" in d.message
    assert "link='dynamic'" in d.message


def test_composed_bytes_are_cached_by_the_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = GraphScenario(nodes=(GraphNode("lib"), GraphNode("app")), edges=(GraphEdge("app", "lib"),))
    paths = list(s.materialize(tmp_path / "exts").values())
    first, _ = compose(*paths, extension="app", cache_dir=tmp_path / "cache")

    def no_tool(*_: object) -> bytes:
        raise AssertionError("the composer ran on a warm cache")

    monkeypatch.setattr(_compose, "_run_composer", no_tool)
    again, _ = compose(*paths, extension="app", cache_dir=tmp_path / "cache")
    assert again == first
    # a changed provider (its `get` traps now) is another key: composed again
    changed = GraphScenario(nodes=(GraphNode("lib", traps=True), GraphNode("app")), edges=(GraphEdge("app", "lib"),))
    paths = list(changed.materialize(tmp_path / "exts2").values())
    with pytest.raises(AssertionError, match="warm cache"):
        compose(*paths, extension="app", cache_dir=tmp_path / "cache")


def test_config_wires_each_import_to_the_resolved_export(tmp_path: Path) -> None:
    s = GraphScenario(nodes=(GraphNode("lib", "1.4.1"), GraphNode("app")), edges=(GraphEdge("app", "lib", "1.0.0"),))
    from harness.pipeline._inspect import inspect
    ins = inspect(*s.materialize(tmp_path / "exts").values(), cache_dir=tmp_path / "cache")
    unit = _compose.fused_unit(ins.resolution, ins.analysed, "app")
    config = _compose._config(unit, {"app": "app.wasm", "lib": "lib.wasm"})
    assert json.loads(json.dumps(config)) == {
        "dependencies": {"dep1": {"path": "lib.wasm"}},
        "instantiations": {"root": {"arguments": {"test:lib/api@1.0.0": {"instance": "dep1",
                                                                           "export": "test:lib/api@1.4.1"}}},
                           "dep1": {"dependency": "dep1", "arguments": {}}}}


@pytest.mark.skipif(not (EXAMPLES / "ext-add" / "build" / "ext-add.wasm").exists()
                    or not (EXAMPLES / "ext-js" / "build" / "ext-js.wasm").exists(),
                    reason="examples not built (examples/build.sh)")
def test_ext_add_with_ext_js_across_0_3_0_to_0_3_1(tmp_path: Path) -> None:
    data, unit = compose(EXAMPLES, extension="ext-add", cache_dir=tmp_path / "cache")
    assert unit.providers == ("ext-js",)
    assert [(k.import_name, k.export_name) for k in unit.links] == [("ext:js/lib@0.3.0", "ext:js/lib@0.3.1")]
    _validate(tmp_path, data)
    imports, exports = _names(data)
    assert imports == {"ext:host/log@0.1.0"}
    assert "ext:add/lib@1.0.0" in exports and not any(e.startswith("ext:js/") for e in exports)


# --------------------------------------------------------------------------- CLI

def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from harness.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_compose_writes_a_component_that_answers_like_the_dynamic_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = GraphScenario(nodes=(GraphNode("lib", "1.2.0"), GraphNode("app")), edges=(GraphEdge("app", "lib", "1.0.0"),))
    folder = tmp_path / "exts"
    s.materialize(folder)
    out = tmp_path / "app.composed.wasm"
    cache = str(tmp_path / "cache")
    code, text, err = _cli(capsys, "compose", str(folder), "app", "-o", str(out), "--cache-dir", cache)
    assert code == 0, err
    assert "app: composed with lib" in text and "test:lib/api@1.0.0 <- lib test:lib/api@1.2.0" in text
    _validate(tmp_path, out.read_bytes())
    # the composed file is an extension of its own: it answers the same call as the dynamic link
    single = tmp_path / "single"
    single.mkdir()
    (single / "app.wasm").write_bytes(out.read_bytes())
    code, fused, err = _cli(capsys, "call", "--cache-dir", cache, str(single), "app", "via0")
    assert code == 0, err
    code, dynamic, err = _cli(capsys, "call", "--cache-dir", cache, str(folder), "app", "via0")
    assert code == 0, err
    assert fused == dynamic == f"{s.ids()[('lib', 'test:lib/api@1.2.0')]}\n"
    code, linked, err = _cli(capsys, "call", "--link", "fused", "--cache-dir", cache, str(folder), "app", "via0")
    assert (code, linked) == (0, dynamic), err


def test_cli_compose_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = GraphScenario(nodes=(GraphNode("a"), GraphNode("b")), edges=(GraphEdge("a", "b"), GraphEdge("b", "a")))
    folder = tmp_path / "exts"
    s.materialize(folder)
    out = tmp_path / "o.wasm"
    cache = str(tmp_path / "cache")
    code, _, err = _cli(capsys, "compose", str(folder), "a", "-o", str(out), "--cache-dir", cache)
    assert code == 1 and "error[cycle] a" in err and not out.exists()
    code, _, err = _cli(capsys, "compose", str(folder), "zzz", "-o", str(out), "--cache-dir", cache)
    assert code == 2 and "no extension named 'zzz'" in err
    code, _, err = _cli(capsys, "compose", "a", "-o", str(out))
    assert code == 2 and "PATH... EXTENSION" in err


@pytest.mark.skipif(not (EXAMPLES / "ext-add" / "build" / "ext-add.wasm").exists()
                    or not (EXAMPLES / "ext-js" / "build" / "ext-js.wasm").exists(),
                    reason="examples not built (examples/build.sh)")
def test_cli_on_the_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ext-add.composed.wasm"
    code, text, err = _cli(capsys, "compose", str(EXAMPLES), "ext-add", "-o", str(out), "--json")
    assert code == 0, err
    doc = json.loads(text)
    assert doc["providers"] == ["ext-js"] and doc["imports"] == ["ext:host/log@0.1.0"]
    _validate(tmp_path, out.read_bytes())
    for link in ("dynamic", "fused"):
        code, text, err = _cli(capsys, "call", "--link", link, str(EXAMPLES), "ext-add", "add-expr", "1 + 2", "2 ^ 3")
        assert (code, text) == (0, '{"ok": "11"}\n'), (link, err)


@pytest.mark.skipif(not (EXAMPLES / "ext-js" / "build" / "ext-js.wasm").exists(),
                    reason="examples not built (examples/build.sh)")
def test_cli_run_takes_link(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = set()
    for link in ("dynamic", "fused"):
        code, text, err = _cli(capsys, "run", "--link", link, str(EXAMPLES / "ext-js"), "eval", "1 + 2")
        assert code == 0, err
        outputs.add(text)
    assert outputs == {"3\n"}
    code, _, err = _cli(capsys, "run", "--link", "static", str(EXAMPLES / "ext-js"), "eval", "1")
    assert code == 2 and "invalid choice: 'static'" in err
