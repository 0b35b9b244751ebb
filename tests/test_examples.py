"""The real example extensions (examples/, built by examples/build.sh) in the host.

JavaScript (QuickJS) ↔ Python (componentize-py) calls through the host's
proxies, rich WIT values, traps and restarts, commands (sync, async and CLI),
and the WASI sandbox (with a small WAT component that reads its environment,
since the examples are built with --stub-wasi and import no WASI at all).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main as cli_main
from harness.model._errors import CommandFailedError, NoSuchCommandError, TrapError
from harness.runtime._host import Host

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BUILT = [EXAMPLES / "ext-js/build/ext-js.wasm", EXAMPLES / "ext-add/build/ext-add.wasm",
         EXAMPLES / "starter/build/starter.wasm", EXAMPLES / "ext-counter/build/ext-counter.wasm",
         EXAMPLES / "ext-tally/build/ext-tally.wasm"]
MISSING = [str(p.relative_to(ROOT)) for p in BUILT if not p.is_file()]
needs_build = pytest.mark.skipif(
    bool(MISSING), reason=f"example components not built ({', '.join(MISSING)}): run examples/build.sh")

JS = "ext:js/lib@0.3.1#"
ADD = "ext:add/lib@1.0.0#"
COUNTER = "ext:counter/lib@1.0.0#"
TALLY = "ext:tally/lib@1.0.0#"
SANDBOX_WAT = ROOT / "fixtures/wat/sandbox_env.wat"


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    if MISSING:
        pytest.skip(f"example components not built ({', '.join(MISSING)}): run examples/build.sh")
    with Host.load(EXAMPLES) as h:
        yield h


# --------------------------------------------------------------------------- loading and linking


@needs_build
def test_all_examples_load_and_link(host: Host) -> None:
    assert host.status == {"ext-add": "ok", "ext-counter": "ok", "ext-js": "ok", "ext-tally": "ok", "ext-wat": "ok",
                           "starter": "ok"}
    assert host.diagnostics == ()
    (link,) = [lk for lk in host.resolution.links_of("ext-add") if lk.import_name.startswith("ext:js/")]
    # The older compatible import (0.3.0) is served by the newer export (0.3.1).
    assert (link.import_name, link.provider, link.export_name) == ("ext:js/lib@0.3.0", "ext-js", "ext:js/lib@0.3.1")
    order = host.resolution.load_order
    assert order.index("ext-js") < order.index("ext-add")
    assert {r.message for r in host.logs} >= {"ext-js initialized", "ext-add initialized",
                                              "ext-wat initialized", "starter initialized"}


# --------------------------------------------------------------------------- cross-language calls


@needs_build
def test_python_calls_javascript_through_the_host(host: Host) -> None:
    assert host.call("ext-add", ADD + "add-expr", "1+2", "3*4") == {"ok": "15"}
    assert host.call("ext-add", ADD + "add-expr", "2 ^ 0.5", "0") == {"ok": "1.4142135623730951"}
    # An error string made in JavaScript, wrapped in Python, back to the caller.
    assert host.call("ext-add", ADD + "add-expr", "1/0", "1") == {"err": "'1/0': division by zero"}
    assert host.call("ext-add", ADD + "add-expr", "1", "(") == {"err": "'(': unexpected end of expression"}
    add = host.function("ext-add", "add")  # bare name, unique in ext-add
    assert add(2147483647, 1) == -2147483648


@needs_build
def test_javascript_uses_a_python_resource(host: Host) -> None:
    """ext-tally (JS) makes ext-counter's (Python) counters with `new`, `make`, calls methods and
    `bump-twice` (a borrow), and disposes of them: nothing stays held across the link."""
    assert host.call("ext-tally", TALLY + "demo") == 19
    assert host.call("ext-tally", TALLY + "count-to", 3, 4) == 7
    assert host.held_handles("ext-counter") == {}
    link = next(lk for lk in host.resolution.links_of("ext-tally") if lk.provider == "ext-counter")
    assert link.import_name == "ext:counter/lib@1.0.0"
    # The same resource from Python: a handle object, lent back as a borrow, dropped by `with`.
    with host.call("ext-counter", COUNTER + "make", 10) as c:
        assert host.call("ext-counter", COUNTER + "bump-twice", c) == 12
        assert host.call("ext-counter", COUNTER + "[method]counter.get", c) == 12
    assert not c.live


@needs_build
def test_rich_values_from_javascript(host: Host) -> None:
    stats = host.call("ext-js", JS + "summarize", [1.0, 2.0, 4.5], "xs")
    assert stats == {"count": 3, "total": 7.5, "mean": 2.5, "label": "xs"}  # a record is a dict
    empty = host.call("ext-js", JS + "summarize", [], None)
    assert (empty["count"], empty["mean"], empty["label"]) == (0, None, None)  # options: none
    assert host.call("ext-js", JS + "words", "  alpha beta\tgamma ") == ["alpha", "beta", "gamma"]
    assert host.call("ext-js", JS + "tokenize", "-(1)") == {"ok": [
        {"tag": "operator", "value": "-"}, {"tag": "open-paren", "value": None},
        {"tag": "number", "value": 1.0}, {"tag": "close-paren", "value": None}]}
    # result<list<token>, string>: the error case is told apart from an ok value.
    assert host.call("ext-js", JS + "tokenize", "2$") == {"err": "unexpected character '$' at 1"}
    assert host.call("ext-js", JS + "classify", 2.0) == "integer"
    assert host.call("ext-js", JS + "classify", float("inf")) == "infinite"
    assert host.call("ext-js", JS + "operators-used", "1 + 2 * 3 ^ 4") == {"ok": frozenset({"add", "mul", "pow"})}
    assert host.call("ext-js", JS + "encode", "hé") == b"h\xc3\xa9"
    assert host.call("ext-js", JS + "checksum", b"\x01\x02\xff") == 258
    long = "x" * 100_000
    assert host.call("ext-js", JS + "words", long) == [long]


@needs_build
def test_trap_is_reported_and_the_extension_restarts(host: Host) -> None:
    with pytest.raises(TrapError) as e:
        host.call("ext-wat", "ext:wat/lib@1.0.0#div", 1, 0)
    assert e.value.extension == "ext-wat"
    assert "divide by zero" in e.value.message
    assert host.call("ext-wat", "ext:wat/lib@1.0.0#mul", 6, 7) == 42
    assert any(ev.kind == "restart" and ev.extension == "ext-wat" for ev in host.events)


@needs_build
def test_async_calls_into_two_languages(host: Host) -> None:
    async def main() -> list[Any]:
        return await host.agather([
            ("ext-add", ADD + "add-expr", ("10", "20")),
            ("ext-js", JS + "evaluate", ("6*7",)),
            ("starter", "my:starter/lib@0.1.0#greet", ("async",)),
        ])

    assert asyncio.run(main()) == [{"ok": "30"}, {"ok": "42"}, {"ok": "Hello, async!"}]


# --------------------------------------------------------------------------- commands


@needs_build
def test_commands_of_the_examples(host: Host) -> None:
    registry = host.commands
    assert [(c.qualified, c.usage) for c in registry.list()] == [
        ("ext-js:eval", "eval <expr>"), ("ext-js:sum", "sum [numbers]")]
    assert registry.diagnostics == ()
    assert registry.run("eval", ["2", "*", "(3 + 4)"]) == "14"
    assert registry.run("ext-js:sum", ["1", "2", "4.5"]) == "count=3 total=7.5 mean=2.5"
    with pytest.raises(CommandFailedError, match="not a number: 'x'"):
        registry.run("sum", ["1", "x"])
    with pytest.raises(NoSuchCommandError, match="did you mean eval"):
        registry.run("evl", [])
    assert host.logs[-1].message.startswith("run sum")  # the guest logged through ext:host/log


@needs_build
def test_commands_async(host: Host) -> None:
    async def main() -> list[Any]:
        return list(await asyncio.gather(
            host.commands.arun("eval", ["1 + 1"]),
            host.commands.arun("sum", ["3", "4"]),
            host.commands.arun("eval", ["1 / 0"]),
            return_exceptions=True))

    two, seven, failed = asyncio.run(main())
    assert two == "2"
    assert seven == "count=2 total=7 mean=3.5"
    assert isinstance(failed, CommandFailedError) and "division by zero" in failed.message


@needs_build
def test_cli_commands_and_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["commands", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "eval <expr>" in out and "ext-js" in out
    assert cli_main(["run", str(EXAMPLES), "eval", "2^10"]) == 0
    assert capsys.readouterr().out == "1024\n"
    assert cli_main(["run", str(EXAMPLES), "ext-js:eval", "1/0"]) == 1
    assert "error[command-failed]: ext-js:eval failed: division by zero" in capsys.readouterr().err


# --------------------------------------------------------------------------- sandbox


@needs_build
def test_stub_wasi_examples_import_no_wasi(host: Host) -> None:
    for name in ("ext-js", "ext-add", "starter"):
        imports = host.inspection.get(name).imports
        assert not [i.name for i in imports if i.kind == "wasi"], name


def _env_extension(folder: Path, capabilities: str = "") -> Path:
    root = folder / "envext"
    root.mkdir()
    shutil.copy(SANDBOX_WAT, root / "env.wat")
    (root / "extension.toml").write_text(
        f'name = "envext"\ncomponent = "env.wat"\n\n[capabilities]\n{capabilities}', encoding="utf-8")
    return root


ENV = "test:sandbox/env@1.0.0#environment"


def test_environment_is_empty_without_a_grant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_SECRET", "s3cret")
    with Host.load(_env_extension(tmp_path)) as host:
        assert host.status == {"envext": "ok"}
        assert [i.kind for i in host.inspection.get("envext").imports] == ["wasi"]
        assert host.call("envext", ENV) == []


def test_environment_grant_by_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_SECRET", "s3cret")
    with Host.load(_env_extension(tmp_path, 'env = { GREETING = "hi", LANG = "C" }')) as host:
        assert sorted(host.call("envext", ENV)) == [("GREETING", "hi"), ("LANG", "C")]


def test_inherit_env_grant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_SECRET", "s3cret")
    with Host.load(_env_extension(tmp_path, "inherit_env = true")) as host:
        assert ("EXT_HARNESS_SECRET", "s3cret") in host.call("envext", ENV)


def test_preopen_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    with Host.load(_env_extension(tmp_path, 'preopens = { "../outside" = "/data" }')) as host:
        assert host.status == {"envext": "error"}
        (diag,) = host.errors
        assert (diag.code, diag.extension) == ("path-escape", "envext")


def test_preopen_of_a_missing_folder_is_capability_denied(tmp_path: Path) -> None:
    with Host.load(_env_extension(tmp_path, 'preopens = { "data" = "/data" }')) as host:
        assert host.status == {"envext": "error"}
        (diag,) = host.errors
        assert (diag.code, diag.extension, diag.subject) == ("capability-denied", "envext", "data")
        assert "not a directory" in diag.message
