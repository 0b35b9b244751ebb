"""Mock components: every behaviour, forwarding round trips over many types, manifests."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wasmtime import component as c

from harness.model._errors import UsageError
from harness.model._witypes import FutureT, HandleT, ValueType
from harness.pipeline._wasmtypes import from_wasmtime_item
from harness.testing import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    STRING,
    U8,
    U16,
    U32,
    U64,
    AddParams,
    Const,
    Forward,
    GrowMemory,
    Loop,
    MockExtension,
    Recurse,
    Trap,
    enum,
    err,
    ext,
    flags,
    fn,
    iface,
    list_of,
    ok,
    option,
    record,
    result,
    to_toml,
    to_wat,
    tuple_of,
    variant,
    write_extension,
)

ECHO = "test:echo/host@0.1.0"
LIB = "ext:a/lib@1.0.0"

HostFuncs = dict[str, dict[str, Callable[..., Any]]]


class Running:
    """A mock instantiated in its own store, with its exports callable by name."""

    def __init__(self, mock: MockExtension, host: HostFuncs | None = None,
                 config: wasmtime.Config | None = None) -> None:
        self.engine = wasmtime.Engine(config) if config else wasmtime.Engine()
        self.component = c.Component(self.engine, wasmtime.wat2wasm(to_wat(mock)))
        linker = c.Linker(self.engine)
        with linker.root() as root:
            for name, funcs in (host or {}).items():
                with root.add_instance(name) as inst:
                    for fname, impl in funcs.items():
                        inst.add_func(fname, impl)
        self.store = wasmtime.Store(self.engine)
        self.instance = linker.instantiate(self.store, self.component)

    def func(self, interface: str, name: str) -> c.Func:
        idx = self.instance.get_export_index(self.store, interface)
        assert idx is not None, interface
        f = self.instance.get_func(self.store, self.instance.get_export_index(self.store, name, idx))
        assert f is not None, name
        return f

    def call(self, interface: str, name: str, *args: Any) -> Any:
        return self.func(interface, name)(self.store, *args)


def echo_ext(t: ValueType, n_params: int = 1) -> MockExtension:
    params = [(f"p{i}", t) for i in range(n_params)]
    res = t if n_params == 1 else tuple_of(*[t] * n_params)
    return ext("echoer", exports=[iface(LIB, fn("echo", params, res, Forward(ECHO, "echo")))],
               imports=[iface(ECHO, fn("echo", params, res))])


def host_echo(*args: Any) -> Any:
    return args[0] if len(args) == 1 else tuple(args)


def rec(**fields: Any) -> c.Record:
    r = c.Record()
    for k, v in fields.items():
        setattr(r, k.replace("_", "-"), v)
    return r


POINT = record(x=F64, y=F64)
SHAPE = variant(("circle", F32), ("rect", tuple_of(POINT, POINT)), "empty")
DEEP = record(("name-x", STRING), tags=list_of(STRING), inner=option(record(v=SHAPE, k=enum("a", "b"))))

ROUND_TRIPS: list[tuple[str, ValueType, Any]] = [
    ("bool", BOOL, True),
    ("s8", S8, -128),
    ("u8", U8, 255),
    ("s16", S16, -32768),
    ("u16", U16, 65535),
    ("s32", S32, -2_000_000_000),
    ("u32", U32, 4_000_000_000),
    ("s64", S64, -(2**63)),
    ("u64", U64, 2**64 - 1),
    ("f32", F32, -1.5),
    ("f64", F64, 3.141592653589793),
    ("char", CHAR, "€"),
    ("string", STRING, "héllo wörld \x00 ✓"),
    ("list<u8>", list_of(U8), b"\x00\x01\xff"),
    ("list<string>", list_of(STRING), ["a", "", "ccc"]),
    ("record", POINT, rec(x=1.0, y=-2.5)),
    ("tuple", tuple_of(U8, STRING, F64), (7, "seven", 7.5)),
    ("enum", enum("red", "green", "blue"), "blue"),
    ("flags", flags("read", "write", "exec"), {"read", "exec"}),
    ("flags 32", flags(*[f"f{i}" for i in range(32)]), {"f0", "f9", "f17", "f31"}),
    ("option<u64>", option(U64), 2**40),
    ("option<string> none", option(STRING), None),
    ("result<string,u32> ok", result(STRING, U32), "fine"),
    ("result<string,u32> err", result(STRING, U32), 404),
    ("result<_,string>", result(None, STRING), "bad"),  # untagged in wasmtime-py: str means err
    ("variant f32 payload", SHAPE, 2.5),
    ("variant nested records", SHAPE, (rec(x=0.0, y=1.0), rec(x=2.0, y=3.0))),
    ("nested", DEEP, rec(name_x="n", tags=["t1", "t2"], inner=rec(v=None, k="b"))),
    ("list<option<record>>", list_of(option(POINT)), [None, rec(x=1.0, y=2.0)]),
    ("result<record,list<char>>", result(POINT, list_of(CHAR)), ["a", "é"]),
]


@pytest.mark.parametrize(("t", "value"), [(t, v) for _, t, v in ROUND_TRIPS],
                         ids=[n for n, _, _ in ROUND_TRIPS])
def test_forward_round_trip_through_host(t: ValueType, value: Any) -> None:
    seen: list[Any] = []

    def echo(store: Any, x: Any) -> Any:
        seen.append(x)
        return x

    run = Running(echo_ext(t), {ECHO: {"echo": echo}})
    assert run.call(LIB, "echo", value) == value
    assert seen == [value]


def test_forward_more_than_16_flat_params_and_tuple_result() -> None:
    # 9 strings flatten to 18 values: parameters travel by pointer, the result by return area
    run = Running(echo_ext(STRING, n_params=9), {ECHO: {"echo": lambda store, *a: host_echo(*a)}})
    args = [f"arg-{i}" * i for i in range(9)]
    assert run.call(LIB, "echo", *args) == tuple(args)
    run = Running(echo_ext(SHAPE, n_params=6), {ECHO: {"echo": lambda store, *a: host_echo(*a)}})
    args6 = [1.0, None, (rec(x=1.0, y=2.0), rec(x=3.0, y=4.0)), None, 0.5, 9.0]
    assert run.call(LIB, "echo", *args6) == tuple(args6)


def test_forward_17_scalars_to_one_scalar() -> None:
    params = [(f"p{i}", U64 if i % 2 else U8) for i in range(17)]
    m = ext("many", exports=[iface(LIB, fn("sum", params, U64, Forward(ECHO, "sum")))],
            imports=[iface(ECHO, fn("sum", params, U64))])
    run = Running(m, {ECHO: {"sum": lambda store, *a: sum(a)}})
    args = [i * 1000 if i % 2 else i for i in range(17)]
    assert run.call(LIB, "sum", *args) == sum(args)


def test_generated_component_validates_with_wasm_tools(tmp_path: Path) -> None:
    import subprocess

    from harness.pipeline._wasmtools import wasm_tools
    tool = wasm_tools()
    if tool is None:
        pytest.skip("wasm-tools not installed")
    m = ext("valid", exports=[iface(LIB, fn("echo", [("p0", DEEP)], DEEP, Forward(ECHO, "echo")))],
            imports=[iface(ECHO, fn("echo", [("p0", DEEP)], DEEP))], init=Const(), log_on_init="hi")
    wasm = tmp_path / "valid.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(to_wat(m)))
    subprocess.run([tool, "validate", str(wasm)], check=True, capture_output=True)
    wit = subprocess.run([tool, "component", "wit", str(wasm)], check=True, capture_output=True,
                         text=True).stdout
    assert "log: func(level: level, message: string);" in wit
    assert "init: func() -> result<_, string>;" in wit


def test_forward_chain_provider_consumer_host() -> None:
    """consumer → (Python proxy) → provider → host echo, a record of a list of variants."""
    t = record(items=list_of(SHAPE), label=STRING)
    provider = Running(echo_ext(t), {ECHO: {"echo": lambda store, x: x}})
    target = provider.func(LIB, "echo")
    consumer_decl = ext("consumer",
                        exports=[iface("ext:b/lib@0.1.0", fn("relay", [("p0", t)], t, Forward(LIB, "echo")))],
                        imports=[iface(LIB, fn("echo", [("p0", t)], t))])
    consumer = Running(consumer_decl, {LIB: {"echo": lambda store, x: target(provider.store, x)}})
    value = rec(items=[1.0, None, (rec(x=1.0, y=1.0), rec(x=2.0, y=2.0))], label="chain")
    assert consumer.call("ext:b/lib@0.1.0", "relay", value) == value


def test_const_scalars_and_memory_values() -> None:
    cmd = record(name=STRING, args=list_of(STRING))
    m = ext("consts", exports=[iface(LIB,
        fn("u", [], U32, Const(42)),
        fn("s", [], S64, Const(-5)),
        fn("f", [], F32, Const(0.25)),
        fn("d", [], F64, Const(-1e300)),
        fn("b", [], BOOL, Const(True)),
        fn("ch", [], CHAR, Const("🦀")),
        fn("str", [], STRING, Const('quote " back \\ ünï')),
        fn("e", [], enum("x", "y", "z"), Const("z")),
        fn("fl", [], flags("a", "b", "c"), Const({"a", "c"})),
        fn("r-ok", [], result(STRING, STRING), Const(ok("done"))),
        fn("r-err", [], result(STRING, STRING), Const(err("nope"))),
        fn("cmds", [], list_of(cmd), Const([{"name": "greet", "args": ["who"]}, {"name": "x", "args": []}])),
        fn("opt", [], option(F64), Const(2.5)),
        fn("v", [], SHAPE, Const(("circle", 1.5))),
    )])
    run = Running(m)
    assert run.call(LIB, "u") == 42
    assert run.call(LIB, "s") == -5
    assert run.call(LIB, "f") == 0.25
    assert run.call(LIB, "d") == -1e300
    assert run.call(LIB, "b") is True
    assert run.call(LIB, "ch") == "🦀"
    assert run.call(LIB, "str") == 'quote " back \\ ünï'
    assert run.call(LIB, "e") == "z"
    assert run.call(LIB, "fl") == {"a", "c"}
    assert run.call(LIB, "r-ok") == c.Variant("ok", "done")
    assert run.call(LIB, "r-err") == c.Variant("err", "nope")
    cmds = run.call(LIB, "cmds")
    assert [(x.name, x.args) for x in cmds] == [("greet", ["who"]), ("x", [])]
    assert run.call(LIB, "opt") == 2.5
    assert run.call(LIB, "v") == 1.5


def test_const_takes_the_value_mapping_and_the_host_returns_it_unchanged(tmp_path: Path) -> None:
    """A Const is written as `host.call` returns it (docs/values.md), so a mock's answer can be
    compared with the literal it was declared with; JSON forms are read too."""
    from harness import Host

    point = record(("x-y", U32), label=STRING)
    shape = variant("none", ("circle", F64), square=U32)
    consts: list[tuple[str, ValueType, Any, Any]] = [
        ("r-ok", result(STRING, STRING), ok("done"), {"ok": "done"}),
        ("r-err", result(U32, STRING), err("nope"), {"err": "nope"}),
        ("r-unit", result(None, STRING), ok(), {"ok": None}),
        ("v-case", shape, {"tag": "circle", "value": 1.5}, {"tag": "circle", "value": 1.5}),
        ("v-bare", shape, "none", {"tag": "none", "value": None}),
        ("v-u32", shape, {"tag": "square", "value": 4}, {"tag": "square", "value": 4}),
        ("oo-some-none", option(option(U32)), {"some": None}, {"some": None}),
        ("oo-some", option(option(U32)), {"some": 3}, {"some": 3}),
        ("fl", flags("a", "b", "c"), ["c", "a"], frozenset({"a", "c"})),
        ("inf", F64, "-inf", float("-inf")),
        ("bytes", list_of(U8), {"base64": "AQI="}, b"\x01\x02"),
        ("rec", point, {"x-y": 7, "label": "p"}, {"x-y": 7, "label": "p"}),
        ("tup", tuple_of(U32, STRING), [1, "a"], (1, "a")),
    ]
    m = ext("mapped", exports=[iface(LIB, *(fn(name, [], t, Const(value)) for name, t, value, _ in consts))])
    write_extension(m, tmp_path)
    with Host.load(tmp_path, use_cache=False) as host:
        assert not host.errors, host.errors
        assert {name: host.call("mapped", f"{LIB}#{name}") for name, *_ in consts} == \
            {name: want for name, _, _, want in consts}


def test_a_const_that_fits_no_mapping_names_the_place() -> None:
    with pytest.raises(UsageError, match=r"Const\(\{'x-y': 'seven'\}\) is not a value of the result type "
                                         r"record \{.*value\.x-y: expected integer"):
        to_wat(ext("bad", exports=[iface(LIB, fn("r", [], record(("x-y", U32)), Const({"x-y": "seven"})))]))


def test_const_of_the_wrong_shape_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Const"):
        to_wat(ext("bad", exports=[iface(LIB, fn("e", [], enum("x"), Const("nope")))]))


def test_add_params_mixes_widths() -> None:
    m = ext("adder", exports=[iface(LIB,
        fn("add", [("a", U32), ("b", U32)], U32, AddParams()),
        fn("wide", [("a", U8), ("b", S64), ("c", S32)], S64, AddParams()))])
    run = Running(m)
    assert run.call(LIB, "add", 2, 40) == 42
    assert run.call(LIB, "add", 2**32 - 1, 2) == 1  # wraps
    assert run.call(LIB, "wide", 200, -(2**40), -1) == 199 - 2**40


def test_trap() -> None:
    run = Running(ext("trapper", exports=[iface(LIB, fn("boom", [], U32, Trap()))]))
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        run.call(LIB, "boom")


def test_grow_memory_bomb_traps_at_the_limit() -> None:
    m = ext("bomb", exports=[iface(LIB, fn("bomb", [], None, GrowMemory()),
                                   fn("grow", [], result(STRING, U32), GrowMemory(pages=3)))])
    run = Running(m)
    run.store.set_limits(memory_size=4 * 65536)
    assert run.call(LIB, "grow") == ""  # the zero value ok(""), after growing 1 → 4 pages
    run2 = Running(m)
    run2.store.set_limits(memory_size=8 * 65536)
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        run2.call(LIB, "bomb")


def test_loop_is_interrupted_by_epoch() -> None:
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    run = Running(ext("spinner", exports=[iface(LIB, fn("spin", [], None, Loop()))]), config=cfg)
    run.store.set_epoch_deadline(1)
    timer = threading.Timer(0.05, run.engine.increment_epoch)
    timer.start()
    try:
        with pytest.raises(wasmtime.WasmtimeError, match="interrupt"):
            run.call(LIB, "spin")
    finally:
        timer.cancel()


def test_recurse_across_two_extensions() -> None:
    """A → B → A ... through Python proxies, until the depth reaches 0."""
    calls: list[str] = []
    sig = [("depth", U32), ("tag", STRING)]

    def mock(name: str, other: str) -> MockExtension:
        return ext(name, exports=[iface(f"ext:{name}/lib@1.0.0",
                                        fn("down", sig, result(U32, STRING),
                                           Recurse(f"ext:{other}/lib@1.0.0", "down")))],
                   imports=[iface(f"ext:{other}/lib@1.0.0", fn("down", sig, result(U32, STRING)))])

    runs: dict[str, Running] = {}

    def proxy(target: str) -> Callable[..., Any]:
        def call(store: Any, depth: int, tag: str) -> Any:
            calls.append(f"{target}:{depth}:{tag}")
            r = runs[target]
            return r.func(f"ext:{target}/lib@1.0.0", "down")(r.store, depth, tag)
        return call

    runs["a"] = Running(mock("a", "b"), {"ext:b/lib@1.0.0": {"down": proxy("b")}})
    runs["b"] = Running(mock("b", "a"), {"ext:a/lib@1.0.0": {"down": proxy("a")}})
    out = runs["a"].call("ext:a/lib@1.0.0", "down", 4, "t")
    assert out == 0  # the zero value of result<u32, string>: ok(0)
    assert calls == ["b:3:t", "a:2:t", "b:1:t", "a:0:t"]


def test_init_and_log_on_init() -> None:
    logs: list[tuple[str, str]] = []
    m = ext("starter", init=Const(), log_on_init="hello from init ✓")
    run = Running(m, {"ext:host/log@0.1.0": {"log": lambda store, lvl, msg: logs.append((lvl, msg))}})
    assert run.call("ext:host/lifecycle@0.1.0", "init") is None  # ok(()) in wasmtime-py
    assert logs == [("info", "hello from init ✓")]
    failing = Running(ext("failing", init=Const(err("no config"))))
    assert failing.call("ext:host/lifecycle@0.1.0", "init") == "no config"
    trapping = Running(ext("trapping", init=Trap()))
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        trapping.call("ext:host/lifecycle@0.1.0", "init")


def test_declared_interface_type_matches_analysis() -> None:
    lib = iface(LIB, fn("echo", [("p0", DEEP)], SHAPE, Trap()), fn("n", [], U8, Const(1)))
    imp = iface(ECHO, fn("echo", [("x", SHAPE)], option(POINT)))
    m = ext("typed", exports=[lib], imports=[imp], log_on_init="x")
    engine = wasmtime.Engine()
    comp = c.Component(engine, wasmtime.wat2wasm(to_wat(m)))
    exports = {n: from_wasmtime_item(e.ty, engine) for n, e in comp.type.exports(engine).items()}
    imports = {n: from_wasmtime_item(e.ty, engine) for n, e in comp.type.imports(engine).items()}
    assert exports[LIB] == lib.instance_type()
    assert imports[ECHO] == imp.instance_type()
    assert set(exports) == {LIB, "ext:host/lifecycle@0.1.0"}
    assert set(imports) == {ECHO, "ext:host/log@0.1.0"}


def test_declaration_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="does not import"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [], U32, Forward(ECHO, "echo")))]))
    with pytest.raises(UsageError, match="another type"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [], U32, Forward(ECHO, "echo")))],
                   imports=[iface(ECHO, fn("echo", [], U64))]))
    with pytest.raises(UsageError, match="not supported"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [("s", FutureT(U32))], None))]))
    with pytest.raises(UsageError, match="not declared"):  # a resource of an interface the mock does not import
        to_wat(ext("x", exports=[iface(LIB, fn("f", [("h", HandleT("own", "r", "a:b/elsewhere"))], None))]))
    with pytest.raises(UsageError, match="duplicate"):
        to_wat(ext("x", exports=[iface(LIB, fn("f"), fn("f"))]))


# --------------------------------------------------------------------------- manifests

NASTY = 'quote " backslash \\ tab \t newline \n cr \r ctl \x01 del \x7f bell \x07 unicode ✓ 🦀'


def test_write_extension(tmp_path: Path) -> None:
    m = ext("lib-a", exports=[iface(LIB, fn("n", [], U32, Const(3)))],
            manifest_extra={"description": NASTY,
                            "limits": {"timeout_ms": 250, "memory_mb": 16},
                            "provides": {LIB: "lib-a"},
                            "conformance": {"example": [
                                {"function": f"{LIB}#n", "args": [], "expect": 3},
                                {"function": f"{LIB}#n", "args": [1, "two", 3.5, True], "expect_error": "x"},
                            ]}})
    root = write_extension(m, tmp_path)
    assert root == tmp_path / "lib-a"
    doc = tomllib.loads((root / "extension.toml").read_text(encoding="utf-8"))
    assert doc["name"] == "lib-a" and doc["version"] == "0.1.0" and doc["component"] == "lib-a.wat"
    assert doc["description"] == NASTY
    assert doc["limits"] == {"timeout_ms": 250, "memory_mb": 16}
    assert doc["provides"] == {LIB: "lib-a"}
    assert doc["conformance"]["example"][1]["args"] == [1, "two", 3.5, True]
    # the written component is the declaration's: same exports, and it answers as declared
    assert (root / "lib-a.wat").read_text(encoding="utf-8") == to_wat(m)
    running = Running(m)
    exported = {name: from_wasmtime_item(item.ty, running.engine)
                for name, item in running.component.type.exports(running.engine).items()}
    assert exported == {LIB: m.exports[0].instance_type()}
    assert running.call(LIB, "n") == 3


def test_one_case_order_for_the_abi_the_values_and_mocks() -> None:
    """The case list of a variant-like type is written down once (`cases_of`): the ABI's payload
    list and the mock writer's case index follow it, and a mock lowers the case wasmtime lifts."""
    from harness.model._witypes import cases_of
    from harness.runtime._abi import case_types
    from harness.testing._watgen import _case

    opt, res, en, var = option(U32), result(U32, STRING), enum("a", "b"), variant("x", ("y", U32))
    assert cases_of(opt) == (("none", None), ("some", U32))
    assert cases_of(res) == (("ok", U32), ("err", STRING))
    assert cases_of(en) == (("a", None), ("b", None))
    assert cases_of(var) == (("x", None), ("y", U32))
    for t in (opt, res, en, var):
        assert case_types(t) == [p for _, p in cases_of(t)]
    assert _case(res, err("e")) == (1, "e")
    assert _case(opt, 7) == (1, 7)
    assert _case(en, "b") == (1, None)
    both = result(U32, U32)  # tagged in wasmtime-py: the case shows
    got = Running(ext("v", exports=[iface(LIB, fn("r", [], both, Const(err(5))))])).call(LIB, "r")
    assert (got.tag, got.payload) == ("err", 5)


def test_toml_writer_round_trips() -> None:
    doc = {
        "a": 1, "b": -2.5, "c": float("inf"), "d": False, "e": [1, [2, 3], {"k": "v"}],
        "odd key.with dots": NASTY, "": "empty key",
        "t": {"x": {"y": {"z": 1}}, "list": [], "s": "\\u0000 not an escape"},
        "arr": [{"n": 1}, {"n": 2, "sub": {"q": "r"}}],
    }
    assert tomllib.loads(to_toml(doc)) == doc


@given(st.dictionaries(st.text(max_size=8),
                       st.one_of(st.text(), st.integers(-(2**63), 2**63 - 1), st.booleans(),
                                 st.floats(allow_nan=False),
                                 st.dictionaries(st.text(max_size=5), st.text(), max_size=3)),
                       max_size=5))
@example({"0\n": ""})  # a bare-key check with `$` let a trailing newline through
def test_toml_writer_round_trips_any_strings(doc: dict[str, Any]) -> None:
    assert tomllib.loads(to_toml(doc)) == doc


# --------------------------------------------------------------------------- property: any type forwards

_SCALARS = [BOOL, S8, U16, S32, U32, S64, U64, F32, F64, CHAR, STRING]
_names = st.sampled_from(["a", "b-c", "d", "e", "f"])


def _types() -> st.SearchStrategy[ValueType]:
    def extend(inner: st.SearchStrategy[ValueType]) -> st.SearchStrategy[ValueType]:
        return st.one_of(
            inner.map(list_of), inner.map(option),
            st.tuples(st.none() | inner, st.none() | inner).map(lambda p: result(*p)),
            st.lists(inner, min_size=1, max_size=3).map(lambda es: tuple_of(*es)),
            st.lists(st.tuples(_names, inner), min_size=1, max_size=3, unique_by=lambda x: x[0])
            .map(lambda fs: record(*fs)),
            st.lists(st.tuples(_names, st.none() | inner), min_size=1, max_size=3,
                     unique_by=lambda x: x[0]).map(lambda cs: variant(*cs)),
        )
    leaves = st.one_of(st.sampled_from(_SCALARS),
                       st.lists(_names, min_size=1, max_size=4, unique=True).map(lambda n: enum(*n)),
                       st.lists(_names, min_size=1, max_size=4, unique=True).map(lambda n: flags(*n)))
    return st.recursive(leaves, extend, max_leaves=6)


def _value(draw: st.DrawFn, vt: Any) -> Any:
    """A value in wasmtime-py's representation, guided by wasmtime's own value type."""
    simple: dict[type, st.SearchStrategy[Any]] = {
        c.Bool: st.booleans(), c.S8: st.integers(-128, 127), c.U8: st.integers(0, 255),
        c.S16: st.integers(-(2**15), 2**15 - 1), c.U16: st.integers(0, 2**16 - 1),
        c.S32: st.integers(-(2**31), 2**31 - 1), c.U32: st.integers(0, 2**32 - 1),
        c.S64: st.integers(-(2**63), 2**63 - 1), c.U64: st.integers(0, 2**64 - 1),
        c.F32: st.floats(width=32, allow_nan=False), c.F64: st.floats(allow_nan=False),
        c.Char: st.characters(exclude_categories=["Cs"]), c.String: st.text(max_size=10),
    }
    if type(vt) in simple:
        return draw(simple[type(vt)])
    if isinstance(vt, c.ListType):
        if isinstance(vt.element, c.U8):
            return draw(st.binary(max_size=6))
        return [_value(draw, vt.element) for _ in range(draw(st.integers(0, 3)))]
    if isinstance(vt, c.RecordType):
        r = c.Record()
        for n, ft in vt.fields:
            setattr(r, n, _value(draw, ft))
        return r
    if isinstance(vt, c.TupleType):
        return tuple(_value(draw, e) for e in vt.elements)
    if isinstance(vt, c.EnumType):
        return draw(st.sampled_from(vt.names))
    if isinstance(vt, c.FlagsType):
        return set(draw(st.lists(st.sampled_from(vt.names), unique=True)))
    if isinstance(vt, c.VariantType | c.OptionType | c.ResultType):
        cases = vt._cases()
        tagged = vt._tagged()
        name, ct = draw(st.sampled_from(cases if tagged else _reachable(cases)))
        payload = None if ct is None else _value(draw, ct)
        return c.Variant(name, payload) if tagged else payload
    raise AssertionError(vt)


def _classes(ct: Any) -> set[type]:
    s: set[type] = set()
    if ct is None:
        s.add(object)
    else:
        ct.add_classes(s)
    return s


def _reachable(cases: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Cases wasmtime-py can pass untagged: it takes the first case whose classes match the
    value (by isinstance, so `bool` matches `int` and an option matches anything)."""
    out = []
    for j, (name, ct) in enumerate(cases):
        mine = _classes(ct)
        shadowed = False
        for _, earlier in cases[:j]:
            if earlier is None:
                shadowed = object in mine  # a payload-less case catches a None payload
            else:
                shadowed = any(issubclass(m, e) for m in mine for e in _classes(earlier))
            if shadowed:
                break
        if not shadowed:
            out.append((name, ct))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.lists(_types(), min_size=1, max_size=3))
def test_any_types_forward_through_host(data: st.DataObject, types: list[ValueType]) -> None:
    params = [(f"p{i}", t) for i, t in enumerate(types)]
    res = types[0] if len(types) == 1 else tuple_of(*types)
    m = ext("anything", exports=[iface(LIB, fn("echo", params, res, Forward(ECHO, "echo")))],
            imports=[iface(ECHO, fn("echo", params, res))])
    run = Running(m, {ECHO: {"echo": lambda store, *a: host_echo(*a)}})
    func = run.func(LIB, "echo")
    args = [_value(data.draw, vt) for _, vt in func.type(run.store).params]
    expected = args[0] if len(args) == 1 else tuple(args)
    assert func(run.store, *args) == expected


def test_the_testing_facade_is_what_an_author_imports() -> None:
    """`harness.testing` is the public kit: `import *` gives exactly `__all__`, every name is
    public and defined in the package, and the DSL, the writers and the scenario model are there."""
    import harness.testing as kit

    assert len(kit.__all__) == len(set(kit.__all__))
    namespace: dict[str, object] = {}
    exec("from harness.testing import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(kit.__all__)
    for name in kit.__all__:
        assert not name.startswith("_")
        module = getattr(getattr(kit, name), "__module__", "harness.testing")
        assert module.startswith(("harness.testing", "harness.model")), (name, module)
    assert {"MockExtension", "MockInterface", "MockFunction", "ext", "iface", "fn", "record", "variant",
            "Const", "Forward", "Trap", "to_wat", "write_extension", "to_toml", "GraphScenario", "GraphNode",
            "GraphEdge", "ExtraExport", "ExpectedResolution", "Scenario", "ScenarioBuilder",
            "api_name"} <= set(kit.__all__)
    import harness.testing.strategies as strategies

    assert {"dependency_graphs", "wit_types", "values", "values_equal"} <= set(strategies.__all__)
