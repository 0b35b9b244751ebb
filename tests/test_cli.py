"""The `ext-harness` command line: inspect and call, exit codes, JSON documents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.cli._args import _Usage, parse_call_arg, split_call_positionals
from harness.cli._render import inspection_to_json, inspection_to_text
from harness.model._witypes import EnumT, Prim
from harness.pipeline._inspect import inspect

WAT = Path(__file__).resolve().parent.parent / "fixtures" / "wat"
VALUES = str(WAT / "cli_values.wat")
CONSUMER = str(WAT / "cli_consumer.wat")
IFACE = "test:cli/values@1.0.0"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run(capsys, "call", "--no-cache", VALUES, "cli_values", *argv)


# --------------------------------------------------------------------------- inspect

def test_inspect_text_lists_interfaces(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--no-cache", VALUES)
    assert code == 0
    assert f"cli_values  [ok]  {VALUES}" in out
    assert "point-sum: func(p: record { x: u32, y-coord: u32 }) -> u32" in out
    assert "checked-div: func(a: u32, b: u32) -> result<u32, u32>" in out
    assert "load order: cli_values" in out
    assert "summary: 1 extension(s): 1 ok, 0 error, 0 blocked; 0 error(s), 0 warning(s)" in out


def test_inspect_text_links_and_import_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--no-cache", CONSUMER, VALUES)
    assert code == 0
    assert f"    [library] {IFACE}\n        add: func(a: u32, b: u32) -> u32" in out
    assert f"cli_consumer ─ {IFACE} → cli_values ({IFACE})" in out
    assert "load order: cli_values → cli_consumer" in out


def test_inspect_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--json", "--no-cache", CONSUMER, VALUES)
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"schema", "extensions", "load_order", "links", "diagnostics", "errors", "warnings"}
    assert doc["schema"] == 1
    assert [e["name"] for e in doc["extensions"]] == ["cli_consumer", "cli_values"]
    consumer, values = doc["extensions"]
    assert set(values) == {"name", "version", "path", "status", "imports", "exports"}
    assert values["status"] == "ok" and values["path"] == VALUES and Path(values["path"]).is_absolute()
    assert values["imports"] == []
    (export,) = values["exports"]
    assert export["name"] == IFACE and export["kind"] == "library"
    assert "add: func(a: u32, b: u32) -> u32;" in export["type"]
    assert export["type"].startswith("interface {")
    assert consumer["imports"] == [{"name": IFACE, "kind": "library",
                                    "type": "interface {\n  add: func(a: u32, b: u32) -> u32;\n}"}]
    assert doc["load_order"] == ["cli_values", "cli_consumer"]
    assert doc["links"] == [{"consumer": "cli_consumer", "import": IFACE, "provider": "cli_values",
                             "export": IFACE}]
    assert doc["diagnostics"] == [] and doc["errors"] == 0


def test_inspect_errors_exit_1_with_codes_and_hints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--no-cache", CONSUMER)
    assert code == 1
    assert "cli_consumer  [error]" in out
    assert f"error[missing-import] cli_consumer ({IFACE}): cli_consumer imports {IFACE}" in out
    assert "  hint: add the extension that provides it" in out
    code, out, _ = run(capsys, "inspect", "--json", "--no-cache", CONSUMER)
    doc = json.loads(out)
    assert code == 1 and doc["errors"] == 1
    assert doc["extensions"][0]["status"] == "error"
    (diag,) = doc["diagnostics"]
    assert diag["code"] == "missing-import" and diag["extension"] == "cli_consumer"
    assert set(diag) == {"code", "severity", "extension", "subject", "message", "hint", "details"}


def test_inspect_lists_extensions_that_failed_analysis(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.wat").write_text("(component (func $f (result u32)))\n")
    code, out, _ = run(capsys, "inspect", "--json", "--no-cache", str(tmp_path / "broken.wat"), VALUES)
    doc = json.loads(out)
    assert code == 1
    broken = next(e for e in doc["extensions"] if e["name"] == "broken")
    assert broken["status"] == "error" and broken["exports"] == []
    assert broken["path"] == str(tmp_path / "broken.wat")
    assert any(d["extension"] == "broken" and d["severity"] == "error" for d in doc["diagnostics"])
    assert doc["load_order"] == ["cli_values"]
    code, out, _ = run(capsys, "inspect", "--no-cache", str(tmp_path / "broken.wat"))
    assert code == 1 and "broken  [error]" in out and "(not analysed)" in out


def test_inspect_missing_path_is_a_diagnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--no-cache", str(tmp_path / "nowhere"))
    assert code == 1
    assert "no extensions found" in out and "error[not-found]" in out


def test_inspect_uses_the_cache_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    assert run(capsys, "inspect", "--cache-dir", str(cache), VALUES)[0] == 0
    assert any(p.is_file() for p in cache.rglob("*"))


def test_renderers_agree_on_an_inspection(tmp_path: Path) -> None:
    insp = inspect([CONSUMER, VALUES, str(tmp_path / "nowhere")], use_cache=False)
    doc = inspection_to_json(insp)
    text = inspection_to_text(insp)
    assert json.loads(json.dumps(doc)) == doc  # plain JSON data as is: nothing a round trip changes
    assert [e["name"] for e in doc["extensions"]] == ["cli_consumer", "cli_values"]
    for ext in doc["extensions"]:
        assert f"{ext['name']}  [{ext['status']}]  {ext['path']}" in text
    assert f"load order: {' → '.join(doc['load_order'])}\n" in text
    for link in doc["links"]:
        assert f"  {link['consumer']} ─ {link['import']} → {link['provider']} ({link['export']})\n" in text
    for d in doc["diagnostics"]:
        assert f"{d['severity']}[{d['code']}]" in text and d["message"] in text
    assert doc["links"] and doc["errors"] == sum(d["severity"] == "error" for d in doc["diagnostics"]) >= 1
    assert text.endswith(f"summary: 2 extension(s): {sum(e['status'] == 'ok' for e in doc['extensions'])} ok, "
                         f"{sum(e['status'] == 'error' for e in doc['extensions'])} error, "
                         f"{sum(e['status'] == 'blocked' for e in doc['extensions'])} blocked; "
                         f"{doc['errors']} error(s), {doc['warnings']} warning(s)\n")


# --------------------------------------------------------------------------- usage

@pytest.mark.parametrize("argv", [
    [], ["inspect"], ["inspect", "--bogus", VALUES], ["frobnicate"], ["call"], ["call", VALUES],
    ["call", VALUES, "cli_values"], ["call", "nowhere", "cli_values", "add"],
    ["call", VALUES, "cli_values", "add", "1", "2", "--timeout-ms", "0"],
    ["call", VALUES, "cli_values", "add", "1", "--frob"],
    ["call", "-p", VALUES, "cli_values"],
], ids=lambda a: " ".join(a) or "nothing")
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "error:" in err


def test_missing_first_path_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "call", "nowhere", "cli_values", "add", "1", "2")
    assert code == 2
    assert "'nowhere' does not exist: the leading arguments must be existing extension paths" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("ext-harness 0.1.0 (wasmtime ")
    code, out, _ = run(capsys, "call", "--help")
    assert code == 0 and "--timeout-ms" in out and "-p PATH, --path PATH" in out


def test_console_script_exit_codes() -> None:
    exe = Path(sys.executable).with_name("ext-harness")
    if not exe.exists():
        pytest.skip("ext-harness script not installed")
    ok = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ext-harness" in ok.stdout
    usage = subprocess.run([str(exe), "call"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2


# --------------------------------------------------------------------------- call

CALLS: list[tuple[str, list[str], Any]] = [
    ("add", ["3", "4"], 7),
    (f"{IFACE}#add", ["3", "4"], 7),
    ("test:cli/values#add", ["1", "2"], 3),
    ("point-sum", ['{"x": 2, "y-coord": 5}'], 205),
    ("opt-or", ["null", "9"], 9),
    ("opt-or", ["4", "9"], 4),
    ("res-code", ['{"ok": 7}'], 7),
    ("res-code", ['{"err": 7}'], 1007),
    ("color-index", ["blue"], 2),
    ("color-index", ['"green"'], 1),
    ("perm-bits", ['["exec", "read"]'], 5),
    ("perm-bits", ["[]"], 0),
    ("shape-area", ['{"tag": "circle", "value": 4}'], 12),
    ("shape-area", ['{"tag": "square", "value": 5}'], 25),
    ("shape-area", ["nothing"], 0),
    ("list-sum", ["[1, 2, 3, 4000000000]"], (4_000_000_006) % 2**32),
    ("byte-sum", ["[1, 2, 255]"], 258),
    ("byte-sum", ['{"base64": "AAH/"}'], 256),
    ("str-len", ["héllo"], 6),
    ("str-len", ["42"], 2),  # a string parameter takes the raw text of a bare number
    ("checked-div", ["7", "2"], {"ok": 3}),
    ("checked-div", ["7", "0"], {"err": 1}),
    ("half", ["8"], 4),
    ("half", ["3"], None),
    ("color-of", ["4"], "green"),
    ("perms-of", ["5"], ["exec", "read"]),
    ("make-point", ["1", "2"], {"x": 1, "y-coord": 2}),
    ("shape-of", ["0"], {"tag": "nothing", "value": None}),
    ("shape-of", ["3"], {"tag": "circle", "value": 3}),
    ("shape-of", ["4"], {"tag": "square", "value": 4}),
    ("echo-string", ['"with spaces ✓"'], "with spaces ✓"),
    ("echo-string", ["true"], "true"),
    ("scale", ["-1.5", "2"], -3.0),
    ("scale", ["nan", "2"], "nan"),
    ("scale", ['"inf"', "-1"], "-inf"),
]


@pytest.mark.parametrize(("function", "args", "want"), CALLS, ids=[f"{f} {' '.join(a)}" for f, a, _ in CALLS])
def test_call_values(function: str, args: list[str], want: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, function, *args)
    assert (code, err) == (0, "")
    assert json.loads(out) == want


def test_call_json_envelope_and_async(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "checked-div", "9", "3", "--json")
    assert code == 0 and json.loads(out) == {"value": {"ok": 3}}
    code, out, _ = call(capsys, "--async", "--json", "make-point", "5", "6")
    assert code == 0 and json.loads(out) == {"value": {"x": 5, "y-coord": 6}}


def test_call_through_a_link(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "call", "--no-cache", CONSUMER, VALUES, "cli_consumer", "twice", "21")
    assert code == 0 and json.loads(out) == 42


def test_options_may_come_between_positionals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "call", VALUES, "--no-cache", "cli_values", "--json", "add", "1", "2")
    assert code == 0 and json.loads(out) == {"value": 3}


def test_explicit_paths(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "call", "--no-cache", "-p", VALUES, "cli_values", "add", "2", "2")
    assert code == 0 and json.loads(out) == 4


def test_call_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "point-sum", '{"x": 1, "y-coord": "two"}')
    assert code == 1 and out == ""
    assert err.startswith(f"error[bad-arguments]: cli_values:{IFACE}#point-sum: "
                          'args[0].y-coord: expected integer (u32), found string "two"')
    assert "hint: check the function's signature" in err
    code, out, _ = call(capsys, "--json", "add", "1")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "bad-arguments"
    assert "expected 2 argument(s) (a: u32, b: u32), got 1" in error["message"]
    assert error["extension"] == "cli_values" and error["function"] == f"{IFACE}#add"
    code, out, _ = call(capsys, "--json", "add", "1", "4294967296")
    assert code == 1 and "args[1]: 4294967296 is out of range for u32" in json.loads(out)["error"]["message"]


def test_call_no_such_function(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "ad")
    assert code == 1
    assert err.startswith("error[no-such-function]: cli_values exports no function 'ad'; did you mean")
    code, out, _ = run(capsys, "call", "--json", "--no-cache", VALUES, "cli_valuez", "add", "1", "2")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "no-such-function" and "did you mean cli_values" in error["message"]
    assert set(error) >= {"code", "message", "extension", "function", "chain", "frames", "hint", "cause"}
    # --json tells how the arguments were read as text mode does (before: text mode only)
    assert json.loads(out)["notes"] == [f"taken as paths: {VALUES!r} (name paths explicitly with -p/--path)"]


def test_an_argument_that_is_not_json_is_said_to_be_taken_as_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "--json", "point-sum", '{"x": 3')
    doc = json.loads(out)
    assert code == 1 and doc["error"]["code"] == "bad-arguments" and doc["error"]["details"] == {"path": "args[0]"}
    assert doc["notes"] == ["""taken as a string: args[0] '{"x": 3' is not valid JSON (Expecting ',' delimiter """
                            "at column 8); write the argument as JSON (quote it for the shell)"]
    code, out, err = call(capsys, "add", "1", "one\x1b[2J")
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == ("  note: taken as a string: args[1] 'one\\x1b[2J' is not valid JSON (Expecting "
                                    "value at column 1); write the argument as JSON (quote it for the shell)")
    code, out, err = call(capsys, "add", "1", '"x"')  # valid JSON of the wrong type: no such note
    assert code == 1 and "note:" not in err
    code, out, _ = call(capsys, "--json", "add", "1", '"x"')
    assert "notes" not in json.loads(out)


def test_call_into_an_extension_that_failed_to_load(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "call", "--json", "--no-cache", CONSUMER, "cli_consumer", "twice", "1")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "no-such-function"
    assert error["message"].startswith("cli_consumer is not loaded (error: missing-import:")


def test_call_trap(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "boom")
    assert code == 1 and out == ""
    assert err.startswith("error[trap]: ") and "unreachable" in err
    assert f"  call chain: cli_values:{IFACE}#boom" in err
    code, out, _ = call(capsys, "--json", "--async", "boom")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "trap" and error["chain"] == [f"cli_values:{IFACE}#boom"]


def test_call_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "--json", "--timeout-ms", "50", "spin")
    assert code == 1 and json.loads(out)["error"]["code"] == "timeout"


def test_call_errors_are_rendered_not_rewritten(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI says where a call failed in what it prints; the errors raised stay as they were raised."""
    from harness.model._errors import BadArgumentsError, TrapError
    from harness.runtime import _values
    from harness.runtime._host import Host

    raised: list[BadArgumentsError] = []
    real = _values.args_to_python

    def recording(*a: Any) -> Any:
        try:
            return real(*a)
        except BadArgumentsError as e:
            raised.append(e)
            raise

    monkeypatch.setattr(_values, "args_to_python", recording)
    code, out, _ = call(capsys, "--json", "add", "1", "x")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "bad-arguments"
    assert error["message"].startswith(f"cli_values:{IFACE}#add: args[1]: ")
    assert error["extension"] == "cli_values" and error["function"] == f"{IFACE}#add"
    assert error["cause"] is None and error["details"] == {"path": "args[1]"}
    (original,) = raised
    assert original.message.startswith("args[1]: ") and original.extension is None and original.function is None

    anonymous = TrapError("it trapped")  # an error that does not know where it happened

    def trap(self: Host, *a: Any, **kw: Any) -> Any:
        raise anonymous

    monkeypatch.setattr(Host, "call", trap)
    code, out, _ = call(capsys, "--json", "add", "1", "2")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "trap" and error["message"] == "it trapped"
    assert error["extension"] == "cli_values" and error["function"] == "add"  # what the user asked for
    assert anonymous.extension is None and anonymous.function is None


# --------------------------------------------------------------------------- argument rules

def test_split_positionals_takes_leading_existing_paths() -> None:
    on_disk = {"a", "b", "ext"}.__contains__
    assert split_call_positionals(["a", "b", "x", "f", "1"], exists=on_disk) == (["a", "b"], "x", "f", ["1"])
    # an extension named like a file in the working directory is taken as a path: use -p then
    assert split_call_positionals(["a", "ext", "f", "1"], exists=on_disk) == (["a", "ext"], "f", "1", [])
    # EXTENSION and FUNCTION are always left over, even if they exist on disk
    assert split_call_positionals(["a", "b", "ext"], exists=on_disk) == (["a"], "b", "ext", [])
    assert split_call_positionals(["a", "x", "f", "b"], exists=on_disk) == (["a"], "x", "f", ["b"])
    assert split_call_positionals(["ext", "f", "1"], ["a", "b"], exists=on_disk) == (["a", "b"], "ext", "f",
                                                                                      ["1"])
    with pytest.raises(_Usage, match="'x' does not exist"):
        split_call_positionals(["x", "ext", "f"], exists=on_disk)
    with pytest.raises(_Usage, match="EXTENSION and FUNCTION"):
        split_call_positionals(["ext"], ["a"], exists=on_disk)

    with pytest.raises(_Usage, match=r"taken as paths: 'a' \(name paths explicitly"):
        split_call_positionals(["ext"], ["a"], exists=on_disk)
    with pytest.raises(_Usage, match=r"taken as paths: none"):
        split_call_positionals(["x", "ext", "f"], exists=on_disk)


def test_paths_end_at_an_argument_naming_an_extension_found_before_it() -> None:
    on_disk = {"a", "b", "ext", "ext.wasm"}.__contains__
    found = {("a",): {"ext"}, ("ext.wasm",): {"ext"}}
    under = lambda paths: found.get(tuple(paths), set())  # noqa: E731
    assert split_call_positionals(["a", "ext", "f", "1"], exists=on_disk, names_under=under) == \
        (["a"], "ext", "f", ["1"])
    assert split_call_positionals(["ext.wasm", "ext", "f"], exists=on_disk, names_under=under) == \
        (["ext.wasm"], "ext", "f", [])
    # not an extension found under the paths before it: still a path
    assert split_call_positionals(["a", "b", "x", "f"], exists=on_disk, names_under=under) == \
        (["a", "b"], "x", "f", [])


def test_call_an_extension_that_is_also_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`call . shout ...` and `call shout/shout.wat shout ...` from the folder holding `shout/`."""
    from harness.testing import write_extension
    from harness.testing._scenario import ScenarioBuilder

    write_extension(ScenarioBuilder.node("shout"), tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "call", "--no-cache", ".", "shout", "test:shout/api@1.0.0#get", "5")[:2] == (0, "5\n")
    assert run(capsys, "call", "--no-cache", "shout/shout.wat", "shout", "get", "6")[:2] == (0, "6\n")
    assert run(capsys, "call", "--no-cache", "-p", "shout", "shout", "get", "7")[:2] == (0, "7\n")
    code, _, err = run(capsys, "call", "--no-cache", ".", "shouty", "get", "5")
    assert code == 1 and "no extension named 'shouty'" in err
    assert "taken as paths: '.' (name paths explicitly with -p/--path)" in err


def test_parse_call_arg() -> None:
    assert parse_call_arg("3", Prim("u32")) == 3
    assert parse_call_arg("hello", Prim("u32")) == "hello"  # not JSON: a string (then a bad-arguments)
    assert parse_call_arg('{"a": [1]}', None) == {"a": [1]}
    assert parse_call_arg("42", Prim("string")) == "42"
    assert parse_call_arg('"42"', Prim("string")) == "42"
    assert parse_call_arg("null", Prim("string")) == "null"
    assert parse_call_arg("1", Prim("char")) == "1"
    assert parse_call_arg("true", EnumT(("true", "false"))) == "true"
    assert parse_call_arg("null", None) is None


def test_inspect_json_extension_that_failed_discovery(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Its row names its component (absolute), never a manifest value; dependents are blocked."""
    prov = tmp_path / "prov"
    prov.mkdir()
    (prov / "extension.toml").write_text('name = "vals"\nwit = "../elsewhere"\n')
    (prov / "vals.wat").write_text(Path(VALUES).read_text())
    code, out, _ = run(capsys, "inspect", "--json", "--no-cache", str(prov), CONSUMER)
    doc = json.loads(out)
    assert code == 1
    rows = {e["name"]: e for e in doc["extensions"]}
    assert rows["vals"]["status"] == "error"
    assert rows["vals"]["path"] == str(prov / "vals.wat")
    assert rows["cli_consumer"]["status"] == "blocked"
    assert [d["code"] for d in doc["diagnostics"]] == ["blocked-by-dependency", "path-escape"]
    code, out, _ = run(capsys, "inspect", "--no-cache", str(prov), CONSUMER)
    assert f"vals  [error]  {prov / 'vals.wat'}" in out
    assert "error[blocked-by-dependency] cli_consumer (vals): cli_consumer is not loaded: it depends " \
           "on vals, which failed with path-escape" in out


def test_inspect_json_path_is_absolute_or_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "extension.toml").write_text('name = "bad"\nwit = "../elsewhere"\n')
    code, out, _ = run(capsys, "inspect", "--json", "--no-cache", str(bad))
    (row,) = json.loads(out)["extensions"]
    assert code == 1 and row["name"] == "bad"
    assert Path(row["path"]).is_absolute() and row["path"].startswith(str(bad))


def test_wit_prints_the_host_contract(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["wit"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("/// The contract") and "package ext:host@0.1.0;" in text
    assert main(["wit", "--path"]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("host.wit") and Path(path).read_text(encoding="utf-8") == text
