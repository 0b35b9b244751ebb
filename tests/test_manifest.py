"""extension.toml parsing: good manifests map onto the model, bad ones become diagnostics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.model._errors import WatSyntaxError
from harness.model._records import Capabilities, ConformanceExample, Limits, Manifest, Preopen
from harness.pipeline._manifest import parse_manifest
from harness.pipeline._wat import assemble_wat, assemble_wat_file

FULL = """
name = "adder"
version = "1.2.0-rc.1"
component = "build/adder.wasm"
description = "adds numbers"
world = "ext:host/plugin"
wit = "wit"

[provides]
"ext:add/lib" = "adder-core"
"wasi:cli/environment@0.2.0" = "envy"

[capabilities]
preopens = { "data" = "/data" }
inherit_env = true
env = { MODE = "fast" }
inherit_stdio = true
network = false
args = ["--quiet"]

[limits]
timeout_ms = 500
fuel = 1000000
memory_mb = 16
instances = 4
tables = 2
table_elements = 1000

[[conformance.example]]
function = "ext:add/lib@1.2.0#add"
args = [1, 2]
expect = 3

[[conformance.example]]
function = "ext:add/lib@1.2.0#div"
args = [1, 0]
expect_error = "trap"

[[conformance.example]]
function = "ext:add/lib@1.2.0#pair"
args = [[1, 2], { a = "x" }]
expect = { ok = [1, "two"] }

[[conformance.example]]
command = "greet"
args = ["bob"]
expect = "hello bob"
"""


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "ext"
    folder.mkdir(exist_ok=True)
    path = folder / "extension.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_full_manifest_maps_onto_the_model(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, FULL), default_name="ext")
    assert diags == []
    assert manifest == Manifest(
        name="adder",
        version="1.2.0-rc.1",
        component="build/adder.wasm",
        description="adds numbers",
        provides={"ext:add/lib": "adder-core", "wasi:cli/environment@0.2.0": "envy"},
        capabilities=Capabilities(preopens=(Preopen("data", "/data"),), env=(("MODE", "fast"),),
                                  inherit_env=True, inherit_stdio=True, network=False,
                                  args=("--quiet",)),
        limits=Limits(timeout_ms=500, fuel=1_000_000, memory_mb=16, instances=4, tables=2,
                      table_elements=1000),
        examples=(
            ConformanceExample("ext:add/lib@1.2.0#add", (1, 2), 3, None, True),
            ConformanceExample("ext:add/lib@1.2.0#div", (1, 0), None, "trap", False),
            ConformanceExample("ext:add/lib@1.2.0#pair", ([1, 2], {"a": "x"}), {"ok": [1, "two"]},
                               None, True),
            ConformanceExample("", ("bob",), "hello bob", None, True, command="greet"),
        ),
        world="ext:host/plugin",
        wit="wit",
    )
    assert manifest is not None
    assert isinstance(manifest.examples[0].args, tuple)


def test_empty_manifest_uses_the_folder_name(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, ""), default_name="ext")
    assert diags == []
    assert manifest == Manifest(name="ext")


def test_expect_null_like_values_are_kept_distinct_from_absent(tmp_path: Path) -> None:
    manifest, _ = parse_manifest(_write(tmp_path, """
        [[conformance.example]]
        function = "f"
        expect = false
        [[conformance.example]]
        function = "g"
    """), default_name="ext")
    assert manifest is not None
    assert [(e.expect, e.has_expect) for e in manifest.examples] == [(False, True), (None, False)]


def test_preopens_as_array_of_tables(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, """
        [[capabilities.preopens]]
        host = "data"
        guest = "/data"
        [[capabilities.preopens]]
        host = "out"
        guest = "/out"
        write = true
    """), default_name="ext")
    assert diags == []
    assert manifest is not None
    assert manifest.capabilities.preopens == (Preopen("data", "/data"), Preopen("out", "/out", write=True))


def test_preopens_are_read_only_unless_write_is_granted(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, """
        [capabilities]
        preopens = { "data" = "/data", "out" = { guest = "/out", write = true }, "ro" = { guest = "/ro" } }
    """), default_name="ext")
    assert diags == []
    assert manifest is not None
    assert manifest.capabilities.preopens == (Preopen("data", "/data"), Preopen("out", "/out", write=True),
                                              Preopen("ro", "/ro", write=False))


@pytest.mark.parametrize(("text", "subject", "fragment"), [
    ('preopens = { "data" = { write = true } }', "capabilities.preopens.data.guest", "needs a `guest` path"),
    ('preopens = { "data" = { guest = "/d", write = "yes" } }', "capabilities.preopens.data.write",
     "must be a boolean"),
    ('preopens = { "data" = 3 }', "capabilities.preopens.data", "a string (the guest path) or a table"),
    ('preopens = [{ guest = "/d" }]', "capabilities.preopens[0].host", "needs a `host` path"),
])
def test_bad_preopen_entries_name_the_key(tmp_path: Path, text: str, subject: str, fragment: str) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, f"[capabilities]\n{text}\n"), default_name="ext")
    assert manifest is None
    assert [(d.code, d.subject) for d in diags] == [("bad-manifest", subject)]
    assert fragment in diags[0].message


def test_an_unknown_key_in_a_preopen_table_is_a_warning(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, """
        [capabilities]
        preopens = { "data" = { guest = "/data", writable = true } }
    """), default_name="ext")
    assert manifest is not None and manifest.capabilities.preopens == (Preopen("data", "/data"),)
    assert [(d.code, d.subject, d.details.get("did_you_mean")) for d in diags] == [
        ("unknown-manifest-key", "capabilities.preopens.data.writable", "capabilities.preopens.data.write")]


# (toml text, expected code, expected subject, a fragment the message must contain)
BAD_CASES: list[tuple[str, str, str, str]] = [
    ('name = 3', "bad-manifest", "name", "`name` must be a string, not integer"),
    ('version = "1.2"', "bad-manifest", "version", "not a semantic version"),
    ('version = 1', "bad-manifest", "version", "must be a string"),
    ('component = ["a"]', "bad-manifest", "component", "must be a string, not array"),
    ('description = true', "bad-manifest", "description", "not boolean"),
    ('provides = "x"', "bad-manifest", "provides", "must be a table"),
    ('[provides]\n"not an interface" = "x"', "bad-manifest", "provides.not an interface",
     "not an interface name"),
    ('[provides]\n"ext:a/b" = 1', "bad-manifest", "provides.ext:a/b", "must be a string"),
    ('[capabilities]\ninherit_env = "yes"', "bad-manifest", "capabilities.inherit_env",
     "must be a boolean"),
    ('[capabilities]\nargs = [1]', "bad-manifest", "capabilities.args", "an array of strings"),
    ('[capabilities]\npreopens = 3', "bad-manifest", "capabilities.preopens",
     "a table or an array of tables"),
    ('[[capabilities.preopens]]\nhost = "a"', "bad-manifest", "capabilities.preopens[0].guest",
     "needs a `guest`"),
    ('[capabilities]\nenv = { A = 1 }', "bad-manifest", "capabilities.env.A", "must be a string"),
    ('[limits]\nfuel = -1', "bad-manifest", "limits.fuel", "positive integer, not -1"),
    ('[limits]\nfuel = 0', "bad-manifest", "limits.fuel", "positive integer"),
    ('[limits]\ntimeout_ms = true', "bad-manifest", "limits.timeout_ms", "not true"),
    ('[limits]\nmemory_mb = 1.5', "bad-manifest", "limits.memory_mb", "positive integer"),
    ('conformance = 1', "bad-manifest", "conformance", "must be a table"),
    ('[conformance]\nexample = 1', "bad-manifest", "conformance.example", "array of tables"),
    ('[[conformance.example]]\nargs = []', "bad-manifest", "conformance.example[0].function",
     "needs a `function`"),
    ('[[conformance.example]]\nfunction = 1', "bad-manifest", "conformance.example[0].function",
     "must be a string"),
    ('[[conformance.example]]\nfunction = "f"\nargs = 1', "bad-manifest",
     "conformance.example[0].args", "must be an array"),
    ('[[conformance.example]]\nfunction = "f"\nexpect_error = "boom"', "bad-manifest",
     "conformance.example[0].expect_error", "not a call error code"),
    ('[[conformance.example]]\nfunction = "f"\nexpect_error = "missing-import"', "bad-manifest",
     "conformance.example[0].expect_error", "not a call error code"),
    ('[[conformance.example]]\nfunction = "f"\nexpect = 1\nexpect_error = "trap"', "bad-manifest",
     "conformance.example[0].expect", "both `expect` and `expect_error`"),
    ('[[conformance.example]]\nfunction = "f"\nexpect = 1979-05-27', "bad-manifest",
     "conformance.example[0].expect", "date/time"),
    # hostile values: each is this manifest's error, never an exception (issue 9, finding 10)
    ('x = ' + "[" * 2000 + "]" * 2000, "bad-manifest", "extension.toml", "nested more than 64 levels"),
    ('x = ' + "{a = " * 70 + "1" + " }" * 70, "bad-manifest", "extension.toml", "nested more than 64 levels"),
    ('x = ' + "1" * 5000, "bad-manifest", "extension.toml", "4300 digits"),
    ('component = "a\\u0000.wasm"', "bad-manifest", "component", "NUL character"),
    ('component = "' + "a/" * 2100 + 'x.wasm"', "bad-manifest", "component", "4096-byte limit"),
    ('component = "' + "a" * 256 + '.wasm"', "bad-manifest", "component", "255-byte limit"),
    ('wit = "w\\u0000"', "bad-manifest", "wit", "NUL character"),
    ('[capabilities]\npreopens = { "d\\u0000" = "/data" }', "bad-manifest", "capabilities.preopens",
     "host path 'd\\x00' contains a NUL"),
    ('[capabilities]\npreopens = [{ host = "d", guest = "/d\\u0000" }]', "bad-manifest",
     "capabilities.preopens", "guest path '/d\\x00' contains a NUL"),
    ('[capabilities]\npreopens = { "' + "d" * 300 + '" = "/data" }', "bad-manifest", "capabilities.preopens",
     "255-byte limit"),
    ('[capabilities]\nenv = { "A\\u0000" = "x" }', "bad-manifest", "capabilities.env", "NUL"),
    ('[capabilities]\nenv = { "A=B" = "x" }', "bad-manifest", "capabilities.env", "'='"),
    ('[capabilities]\nenv = { "" = "x" }', "bad-manifest", "capabilities.env", "non-empty"),
    ('[capabilities]\nenv = { A = "x\\u0000y" }', "bad-manifest", "capabilities.env", "value of 'A'"),
    ('[capabilities]\nargs = ["ok", "a\\u0000"]', "bad-manifest", "capabilities.args[1]", "NUL character"),
    ('[limits]\nmemory_mb = 17592186044416', "bad-manifest", "limits.memory_mb", "over its maximum"),
    ('[limits]\nfuel = 18446744073709551616', "bad-manifest", "limits.fuel", "over its maximum"),
    ('[limits]\ntimeout_ms = 4294967296', "bad-manifest", "limits.timeout_ms", "over its maximum"),
]


@pytest.mark.parametrize(("text", "code", "subject", "fragment"), BAD_CASES,
                         ids=[c[2] + ":" + c[3][:20] for c in BAD_CASES])
def test_bad_values_are_reported_and_reject_the_manifest(tmp_path: Path, text: str, code: str,
                                                         subject: str, fragment: str) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, text), default_name="ext")
    assert manifest is None
    errors = [d for d in diags if d.is_error]
    assert [(d.code, d.subject) for d in errors] == [(code, subject)]
    assert fragment in errors[0].message
    assert errors[0].message.startswith("extension.toml: ")
    assert errors[0].hint  # filled from the code table


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "a"\n\nversion = \n')
    manifest, diags = parse_manifest(path, default_name="ext")
    assert manifest is None
    [d] = diags
    assert d.code == "bad-manifest"
    assert d.extension == "ext"
    assert d.subject == "extension.toml"
    assert d.details["line"] == 3 and d.details["column"] == 11
    assert "line 3, column 11" in d.message


def test_bad_toml_at_end_of_document_still_has_a_position(tmp_path: Path) -> None:
    _, diags = parse_manifest(_write(tmp_path, 'name = "a"\nversion = '), default_name="ext")
    assert [d.code for d in diags] == ["bad-manifest"]
    assert (diags[0].details["line"], diags[0].details["column"]) == (2, 11)


def test_duplicate_key_is_bad_toml(tmp_path: Path) -> None:
    _, diags = parse_manifest(_write(tmp_path, 'name = "a"\nname = "b"\n'), default_name="ext")
    assert [d.code for d in diags] == ["bad-manifest"]
    assert diags[0].details["line"] == 2


def test_invalid_utf8_is_bad_manifest(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    path.write_bytes(b'name = "\xff"\n')
    manifest, diags = parse_manifest(path, default_name="ext")
    assert manifest is None
    assert [d.code for d in diags] == ["bad-manifest"]


def test_unreadable_manifest_is_bad_manifest(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(tmp_path / "nope" / "extension.toml", default_name="nope")
    assert manifest is None
    assert [(d.code, d.extension) for d in diags] == [("bad-manifest", "nope")]
    assert "cannot be read" in diags[0].message


def test_unknown_keys_at_every_level_are_warnings(tmp_path: Path) -> None:
    manifest, diags = parse_manifest(_write(tmp_path, """
        name = "adder"
        colour = "blue"
        [capabilities]
        netwrok = true
        [[capabilities.preopens]]
        host = "a"
        guest = "/a"
        mode = "ro"
        [limits]
        cpu = 1
        [conformance]
        other = 1
        [[conformance.example]]
        function = "f"
        expected = 3
    """), default_name="ext")
    assert manifest is not None and manifest.name == "adder"
    assert all(d.code == "unknown-manifest-key" and d.severity == "warning" for d in diags)
    assert all(d.extension == "adder" for d in diags)
    assert sorted(d.subject or "" for d in diags) == [
        "capabilities.netwrok", "capabilities.preopens[0].mode", "colour", "conformance.example[0].expected",
        "conformance.other", "limits.cpu",
    ]
    assert "`capabilities.netwrok`" in next(d.message for d in diags if d.subject == "capabilities.netwrok")


def test_all_errors_are_reported_at_once_and_name_the_extension(tmp_path: Path) -> None:
    _, diags = parse_manifest(_write(tmp_path, """
        name = "adder"
        version = "x"
        [limits]
        fuel = "lots"
        tables = 0
    """), default_name="ext")
    assert sorted(d.subject or "" for d in diags) == ["limits.fuel", "limits.tables", "version"]
    assert {d.extension for d in diags} == {"adder"}


def test_wrong_typed_name_falls_back_to_the_folder_name(tmp_path: Path) -> None:
    _, diags = parse_manifest(_write(tmp_path, "name = 1"), default_name="ext")
    assert [d.extension for d in diags] == ["ext"]


# --- WAT -----------------------------------------------------------------------------------------

GOOD_WAT = """(component
  (core module $m (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (instance $lib (export "add" (func $add)))
  (export "ext:add/lib@1.2.0" (instance $lib)))
"""


def test_wat_assembles_to_a_component_binary() -> None:
    binary = assemble_wat(GOOD_WAT)
    assert binary[:4] == b"\0asm"
    assert binary[4:8] == b"\x0d\x00\x01\x00"  # component layer, not a core module
    assert assemble_wat(GOOD_WAT) is binary  # cached


@pytest.mark.parametrize(("text", "line", "column"), [
    ("(component\n  (foo))", 2, 4),  # points at the keyword
    ("(component\n  (core module $m (func (export \"a\") i32.add)) ) )", 2, 50),
    ("(component", 1, 11),
])
def test_wat_syntax_error_has_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(WatSyntaxError) as info:
        assemble_wat(text, source="x.wat")
    err = info.value
    assert (err.line, err.column, err.source) == (line, column, "x.wat")
    assert str(err).startswith(f"x.wat:{line}:{column}: ")
    assert "<anon>" not in str(err)
    assert err.code == "wat-syntax"


def test_wat_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.wat"
    path.write_text("(component\n\n   (bogus))\n")
    with pytest.raises(WatSyntaxError) as info:
        assemble_wat_file(path)
    assert (info.value.source, info.value.line, info.value.column) == (str(path), 3, 5)
    good = tmp_path / "good.wat"
    good.write_text(GOOD_WAT)
    assert assemble_wat_file(good) == assemble_wat(GOOD_WAT)


def test_wat_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.wat"
    path.write_bytes(b"(component\n  ;; \xff\n)")
    with pytest.raises(WatSyntaxError) as info:
        assemble_wat_file(path)
    assert (info.value.line, info.value.column) == (2, 6)


def test_unknown_key_hint_suggests_the_nearest_known_key(tmp_path: Path) -> None:
    path = tmp_path / "extension.toml"
    path.write_text('name = "a"\ncomponnet = "a.wasm"\n[limits]\ntimeout = 5\nzzz = 1\n')
    _, diags = parse_manifest(path, default_name="a")
    hints = {d.subject: d.hint for d in diags if d.code == "unknown-manifest-key"}
    assert hints["componnet"] == "did you mean `component`?"
    assert hints["limits.timeout"] == "did you mean `limits.timeout_ms`?"
    assert hints["limits.zzz"].startswith("known keys here: ") and "timeout_ms" in hints["limits.zzz"]


def test_limits_accept_their_maximum_and_paths_up_to_the_os_limits(tmp_path: Path) -> None:
    """The bounds added against hostile values leave every usable value usable."""
    from harness.pipeline._manifest import _LIMIT_KEYS, LIMIT_MAX
    maxima = {k: LIMIT_MAX[k] for k in _LIMIT_KEYS}
    limits = "\n".join(f"{k} = {v}" for k, v in maxima.items())
    component = ("a" * 255 + "/") * 15 + "b" * 250 + ".wasm"  # 4095 bytes, names of 255
    text = f'component = "{component}"\nwit = "{"w" * 255}"\n[limits]\n{limits}\n'
    manifest, diags = parse_manifest(_write(tmp_path, text), default_name="ext")
    assert manifest is not None, [str(d) for d in diags]
    assert manifest.limits == Limits(**maxima)


def test_a_nested_table_within_the_depth_limit_is_fine(tmp_path: Path) -> None:
    text = 'x = ' + "[" * 60 + "]" * 60 + "\n"
    manifest, diags = parse_manifest(_write(tmp_path, text), default_name="ext")
    assert manifest is not None
    assert [d.code for d in diags] == ["unknown-manifest-key"]
