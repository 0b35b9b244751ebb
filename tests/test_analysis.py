"""Analysis: compiling candidates, the full type conversion, and every way input can be bad."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import wasmtime

from harness.model._diagnostics import Diagnostic
from harness.model._errors import UsageError
from harness.model._records import Analysed, Candidate, Manifest
from harness.model._witypes import (
    EnumT,
    FlagsT,
    FuncT,
    HandleT,
    InstanceT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceItem,
    ResultT,
    TupleT,
    TypeItem,
    VariantT,
    render,
    type_diff,
)
from harness.pipeline._analysis import AnalysisConfig, analyse, analyse_all, binary_layer
from harness.pipeline._cache import CompileCache
from harness.pipeline._engine import MAX_WASM_STACK_LIMIT, EngineConfig, make_engine, shared_engine

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WAT = FIXTURES / "wat"
BAD = FIXTURES / "bad"


def candidate(path: Path, name: str | None = None) -> Candidate:
    name = name or path.stem.replace("_", "-")
    return Candidate(name=name, root=path.parent, component_path=path,
                     source="wat" if path.suffix == ".wat" else "wasm",
                     manifest=Manifest(name=name))


@pytest.fixture
def config(tmp_path: Path) -> AnalysisConfig:
    return AnalysisConfig(cache=CompileCache(tmp_path / "cache"))


def ok(path: Path, config: AnalysisConfig) -> Analysed:
    analysed, diags = analyse(candidate(path), config)
    assert diags == []
    assert analysed is not None
    return analysed


def only_error(path: Path, config: AnalysisConfig, name: str | None = None) -> Diagnostic:
    analysed, diags = analyse(candidate(path, name), config)
    assert analysed is None
    assert len(diags) == 1, diags
    assert diags[0].is_error
    return diags[0]


def wasm_of(wat_file: str) -> bytes:
    return bytes(wasmtime.wat2wasm((WAT / wat_file).read_text()))


# --------------------------------------------------------------------------- type conversion

POINT = RecordT((("x", Prim("f32")), ("y", Prim("f64")), ("label", Prim("string"))))
SIZE = TupleT((Prim("u32"), Prim("u32")))
SHAPE = VariantT((("circle", Prim("f32")), ("square", SIZE), ("none", None)))
COLOR = EnumT(("red", "green", "blue"))
PERMISSIONS = FlagsT(("read", "write", "exec"))

EXPECTED_ALL = InstanceT((
    ("point", TypeItem(POINT)),
    ("size", TypeItem(SIZE)),
    ("shape", TypeItem(SHAPE)),
    ("color", TypeItem(COLOR)),
    ("permissions", TypeItem(PERMISSIONS)),
    ("counter", ResourceItem()),
    ("make-point", FuncT((("x", Prim("f32")), ("y", Prim("f64"))), POINT)),
    ("classify", FuncT((("s", SHAPE),), COLOR)),
    ("perms", FuncT((("p", PERMISSIONS),), OptionT(Prim("s64")))),
    ("parse", FuncT((("text", Prim("string")),), ResultT(ListT(Prim("u8")), Prim("string")))),
    ("pair", FuncT((("c", Prim("char")), ("names", ListT(Prim("string")))),
                   TupleT((Prim("char"), Prim("s64"))))),
    ("counter-new", FuncT((("start", Prim("s64")),), HandleT("own", "counter", "ext:types/all"))),
    ("counter-get", FuncT((("self", HandleT("borrow", "counter", "ext:types/all")),), Prim("u32"))),
    ("noop", FuncT((), None)),
    ("inner", InstanceT((("depth", FuncT((), Prim("u32"))),))),
))

EXPECTED_TEXT = """\
// analysis-types
export ext:types/all@1.0.0: interface {
  point: type record { x: f32, y: f64, label: string };
  size: type tuple<u32, u32>;
  shape: type variant { circle(f32), square(tuple<u32, u32>), none };
  color: type enum { red, green, blue };
  permissions: type flags { read, write, exec };
  counter: resource;
  make-point: func(x: f32, y: f64) -> record { x: f32, y: f64, label: string };
  classify: func(s: variant { circle(f32), square(tuple<u32, u32>), none }) -> enum { red, green, blue };
  perms: func(p: flags { read, write, exec }) -> option<s64>;
  parse: func(text: string) -> result<list<u8>, string>;
  pair: func(c: char, names: list<string>) -> tuple<char, s64>;
  counter-new: func(start: s64) -> own<counter>;
  counter-get: func(self: borrow<counter>) -> u32;
  noop: func();
  inner: interface {
    depth: func() -> u32;
  };
}
export run: func()
"""


def test_full_type_conversion(config: AnalysisConfig) -> None:
    a = ok(WAT / "analysis_types.wat", config)
    assert a.imports == ()
    assert [(e.name, e.kind) for e in a.exports] == [("ext:types/all@1.0.0", "library"), ("run", "other")]
    assert a.exports[0].item == EXPECTED_ALL
    assert a.exports[1].item == FuncT((), None)
    assert a.render_interface() == EXPECTED_TEXT
    assert render(a.exports[0].item).startswith("interface {\n  point: type record")
    assert a.digest == hashlib.sha256(wasm_of("analysis_types.wat")).hexdigest()
    assert [n for n, _ in a.exports[0].functions()] == [
        "make-point", "classify", "perms", "parse", "pair", "counter-new", "counter-get", "noop"]
    assert a.component is not None


def test_imports_and_type_diff_between_two_fixtures(config: AnalysisConfig) -> None:
    importer = ok(WAT / "analysis_calc_importer.wat", config)
    provider = ok(WAT / "analysis_calc_provider.wat", config)
    [imp] = importer.imports
    assert (imp.name, imp.kind) == ("ext:calc/eval@1.0.0", "library")
    assert importer.library_imports() == (imp,)
    assert render(imp.item) == (
        "interface {\n  evaluate: func(expr: string) -> s64;\n  version: func() -> u32;\n}")
    exp = provider.export("ext:calc/eval@1.0.0")
    assert exp is not None
    assert imp.interface is not None and exp.interface is not None
    assert imp.interface.compatible_with(exp.interface)
    assert type_diff(imp.item, exp.item) == "evaluate → param expr: expected string, found u32"
    assert type_diff(exp.item, imp.item) == "evaluate → param expr: expected u32, found string"
    # the importer's own export against itself: no difference
    assert type_diff(importer.exports[0].item, importer.exports[0].item) is None


# --------------------------------------------------------------------------- bad input

def test_core_module_binary(config: AnalysisConfig) -> None:
    d = only_error(BAD / "core-module.wasm", config)
    assert d.code == "not-a-component"
    assert d.extension == "core-module"
    assert "core-module.wasm" in d.message and "core WebAssembly module" in d.message
    assert "wasm-tools component new" in d.hint


def test_core_module_text(config: AnalysisConfig) -> None:
    assert only_error(BAD / "core-module.wat", config).code == "not-a-component"


def test_garbage_bytes(config: AnalysisConfig) -> None:
    d = only_error(BAD / "garbage.wasm", config)
    assert d.code == "invalid-component"
    assert "magic" in d.details["reason"]


def test_empty_file(tmp_path: Path, config: AnalysisConfig) -> None:
    p = tmp_path / "empty.wasm"
    p.write_bytes(b"")
    d = only_error(p, config)
    assert (d.code, d.details["reason"]) == ("invalid-component", "the file is empty")


def test_truncated_component_carries_wasmtimes_reason(tmp_path: Path, config: AnalysisConfig) -> None:
    wasm = wasm_of("analysis_types.wat")
    p = tmp_path / "truncated.wasm"
    p.write_bytes(wasm[: len(wasm) // 2])
    d = only_error(p, config)
    assert d.code == "invalid-component"
    assert "unexpected end-of-file" in d.details["reason"]
    assert "unexpected end-of-file" in d.message
    assert "\n" not in d.message  # wasmtime's "Caused by" chain is folded into one line
    assert config.cache is not None and config.cache.entries() == []


def test_wasmtime_validation_error(tmp_path: Path, config: AnalysisConfig) -> None:
    p = tmp_path / "mistyped.wat"
    p.write_text("""(component
  (core module $m (func (export "f") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $f (param "a" u32) (result u32) (canon lift (core func $i "f")))
  (export "f" (func $f)))""")
    d = only_error(p, config)
    assert d.code == "invalid-component"
    assert "do not match parameter types" in d.details["reason"]
    assert "do not match parameter types" in d.message


def test_text_in_a_wasm_file_is_not_assembled(tmp_path: Path, config: AnalysisConfig) -> None:
    p = tmp_path / "text.wasm"
    p.write_text((WAT / "analysis_calc_provider.wat").read_text())
    assert only_error(p, config).code == "invalid-component"


def test_unknown_binary_layer(tmp_path: Path, config: AnalysisConfig) -> None:
    p = tmp_path / "future.wasm"
    p.write_bytes(b"\0asm\x0e\x00\x02\x00" + b"\0" * 8)
    d = only_error(p, config)
    assert d.code == "invalid-component" and "0e 00 02 00" in d.message


def test_wat_syntax_error_has_line_and_column(tmp_path: Path, config: AnalysisConfig) -> None:
    p = tmp_path / "broken.wat"
    p.write_text('(component\n  (func $f (param "a" u32)))\n  oops\n')
    d = only_error(p, config)
    assert d.code == "wat-syntax"
    assert (d.details["line"], d.details["column"]) == (2, 27)
    assert d.message.startswith("broken.wat:2:27: ")


def test_missing_file(tmp_path: Path, config: AnalysisConfig) -> None:
    d = only_error(tmp_path / "gone.wasm", config)
    assert d.code == "missing-component" and "gone.wasm" in d.message


def test_unsupported_imports(config: AnalysisConfig) -> None:
    analysed, diags = analyse(candidate(WAT / "analysis_bare_import.wat"), config)
    assert analysed is None
    assert [(d.code, d.subject) for d in diags] == [
        ("unsupported-import", "log"), ("unsupported-import", "plugin"),
        ("unsupported-import", "handle")]
    assert "func(msg: u32)" in diags[0].message
    assert "core module" in diags[1].message
    assert "resource" in diags[2].message
    assert all(d.extension == "analysis-bare-import" for d in diags)
    # the `eq` type import and the interface import are fine: neither is reported


def test_binary_layer() -> None:
    assert binary_layer(wasm_of("analysis_types.wat")) == "component"
    assert binary_layer((BAD / "core-module.wasm").read_bytes()) == "core"
    assert binary_layer(b"") == "empty"
    assert binary_layer(b"\x7fELF") == "not-wasm"
    assert binary_layer(b"\0asm\x02\0\0\0") == "unknown"


# --------------------------------------------------------------------------- cache and batch

def test_second_analysis_is_cached(config: AnalysisConfig) -> None:
    first = ok(WAT / "analysis_types.wat", config)
    second = ok(WAT / "analysis_types.wat", AnalysisConfig(cache=CompileCache(config.cache.root)))  # type: ignore[union-attr]
    assert (first.cached, second.cached) == (False, True)
    assert first.compile_seconds > 0 and second.compile_seconds > 0
    assert second.exports == first.exports
    assert second.render_interface() == first.render_interface()


def test_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_CACHE_DIR", str(tmp_path))
    for _ in range(2):
        assert not ok(WAT / "analysis_calc_provider.wat", AnalysisConfig(cache=None)).cached
    assert list(tmp_path.iterdir()) == []


def test_default_config_caches_in_the_user_cache_dir(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_CACHE_DIR", str(tmp_path))
    assert ok(WAT / "analysis_calc_provider.wat", AnalysisConfig()).cached is False
    assert ok(WAT / "analysis_calc_provider.wat", AnalysisConfig()).cached is True


def test_fuel_engine_config(config: AnalysisConfig) -> None:
    fuel = AnalysisConfig(engine=EngineConfig(consume_fuel=True), cache=config.cache)
    a = ok(WAT / "analysis_calc_provider.wat", config)
    b = ok(WAT / "analysis_calc_provider.wat", fuel)
    assert (a.cached, b.cached) == (False, False)
    assert a.exports == b.exports


def test_analyse_all_partial_success(tmp_path: Path, config: AnalysisConfig) -> None:
    empty = tmp_path / "empty.wasm"
    empty.write_bytes(b"")
    cands = [
        candidate(WAT / "analysis_calc_provider.wat", "provider"),
        candidate(BAD / "garbage.wasm", "zzz-garbage"),
        candidate(empty, "empty"),
        candidate(WAT / "analysis_calc_importer.wat", "importer"),
        candidate(WAT / "analysis_bare_import.wat", "bare"),
    ]
    done, diags = analyse_all(cands, config)
    assert [a.name for a in done] == ["provider", "importer"]
    assert [(d.extension, d.code) for d in diags] == [
        ("bare", "unsupported-import"), ("bare", "unsupported-import"), ("bare", "unsupported-import"),
        ("empty", "invalid-component"), ("zzz-garbage", "invalid-component")]
    assert analyse_all([], config) == ((), ())


def test_an_unforeseen_failure_stays_with_its_extension(config: AnalysisConfig,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No exception from one extension's files may escape analysis (issue 9, finding 10)."""
    import harness.pipeline._analysis as analysis
    real = analysis.binary_layer
    poisoned = wasm_of("analysis_calc_provider.wat")

    def layer(data: bytes) -> str:
        if data == poisoned:
            raise RecursionError("deep")
        return real(data)

    monkeypatch.setattr(analysis, "binary_layer", layer)
    provider = candidate(WAT / "analysis_calc_provider.wat", "provider")
    bare = candidate(WAT / "analysis_bare_import.wat", "bare")
    done, diags = analyse_all([provider, bare], config)
    assert [a.name for a in done] == []  # bare has unsupported imports of its own
    [d] = [d for d in diags if d.extension == "provider"]
    assert d.code == "invalid-component" and "RecursionError: deep" in d.message
    assert {d.extension for d in diags} == {"provider", "bare"}


# --------------------------------------------------------------------------- engine config

def test_engine_config_key_and_validation() -> None:
    assert EngineConfig().key() == EngineConfig().key()
    assert EngineConfig().key() != EngineConfig(consume_fuel=True).key()
    assert "epoch_interruption=1" in EngineConfig().key()
    assert EngineConfig(max_wasm_stack=MAX_WASM_STACK_LIMIT).max_wasm_stack == MAX_WASM_STACK_LIMIT
    with pytest.raises(UsageError, match="max_wasm_stack"):
        EngineConfig(max_wasm_stack=MAX_WASM_STACK_LIMIT + 1)  # wasmtime would abort the process
    with pytest.raises(UsageError, match="max_wasm_stack"):
        EngineConfig(max_wasm_stack=0)
    with pytest.raises(UsageError, match="cranelift_opt_level"):
        EngineConfig(cranelift_opt_level="fast")  # type: ignore[arg-type]


def test_engines_are_shared_per_config() -> None:
    assert shared_engine(EngineConfig()) is shared_engine(EngineConfig())
    assert shared_engine() is shared_engine(EngineConfig())
    assert shared_engine(EngineConfig(consume_fuel=True)) is not shared_engine(EngineConfig())
    assert make_engine(EngineConfig()) is not shared_engine(EngineConfig())


def test_largest_stack_makes_an_engine() -> None:
    engine = make_engine(EngineConfig(max_wasm_stack=MAX_WASM_STACK_LIMIT, cranelift_opt_level="none"))
    assert isinstance(engine, wasmtime.Engine)


# --------------------------------------------------------------------------- cached interface

def _iface_files(config: AnalysisConfig) -> list[Path]:
    assert config.cache is not None
    return sorted(config.cache.root.glob("??/*.iface"))


def test_interface_is_cached_next_to_the_code(config: AnalysisConfig) -> None:
    first = ok(WAT / "analysis_types.wat", config)
    assert len(_iface_files(config)) == 1
    second = ok(WAT / "analysis_types.wat", AnalysisConfig(cache=CompileCache(config.cache.root)))  # type: ignore[union-attr]
    assert second.cached and second.exports == first.exports
    assert second.render_interface() == EXPECTED_TEXT


def test_cached_interface_still_reports_unsupported_imports(config: AnalysisConfig) -> None:
    for _ in range(2):
        analysed, diags = analyse(candidate(WAT / "analysis_bare_import.wat"), config)
        assert analysed is None
        assert [d.subject for d in diags] == ["log", "plugin", "handle"]
    assert len(_iface_files(config)) == 1


@pytest.mark.parametrize("damage", ["flip", "foreign-model", "old-version", "not-json", "bad-shape", "deep"])
def test_unusable_cached_interface_is_rebuilt(config: AnalysisConfig, damage: str) -> None:
    import json

    from harness.pipeline._analysis import _INTERFACE_KIND, _interface_to_json

    assert config.cache is not None
    first = ok(WAT / "analysis_types.wat", config)
    [side] = _iface_files(config)
    digest = hashlib.sha256(wasm_of("analysis_types.wat")).hexdigest()
    if damage == "flip":
        data = bytearray(side.read_bytes())
        data[10:20] = bytes(b ^ 0xFF for b in data[10:20])
        side.write_bytes(bytes(data))
    else:  # sealed with the right key: only the content is wrong
        doc = json.loads(_interface_to_json(((), ())))
        if damage == "foreign-model":
            payload = json.dumps({**doc, "model": "some-older-model"}).encode()
        elif damage == "old-version":
            payload = json.dumps({**doc, "version": 0}).encode()
        elif damage == "not-json":
            payload = b"\x80\x05this is not JSON"
        elif damage == "bad-shape":
            payload = json.dumps({**doc, "exports": [["run", ["func", [["x", "u128"]], None]]]}).encode()
        else:
            payload = b'{"exports":' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # RecursionError in json
        config.cache.store_extra(digest, config.engine, _INTERFACE_KIND, payload)

    cache = CompileCache(config.cache.root)
    again = ok(WAT / "analysis_types.wat", AnalysisConfig(cache=cache))
    assert again.cached is True  # the compiled code was fine
    assert cache.stats.rejected == 1
    assert again.exports == first.exports
    third = CompileCache(cache.root)
    ok(WAT / "analysis_types.wat", AnalysisConfig(cache=third))
    assert third.stats.rejected == 0  # rebuilt
