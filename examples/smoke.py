"""Smoke test of the built examples with plain wasmtime-py (no ext-harness code).

    examples/build.sh && python examples/smoke.py [--types]

It loads each component, lists its imports and exports (`--types`: with
function types), instantiates them with WASI p2 and a host `ext:host/log`,
calls a few functions, links ext-add's import `ext:js/lib@0.3.0` to ext-js's
`evaluate` (exported as the compatible `ext:js/lib@0.3.1`) through a Python
proxy, and checks every `[[conformance.example]]` of every `extension.toml`
(command examples through `ext:host/commands#run`). Exits non-zero on the first failure.
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from wasmtime import Engine, Store, WasiConfig, WasmtimeError, wat2wasm
from wasmtime.component import (
    Component,
    ComponentInstanceType,
    EnumType,
    FlagsType,
    FuncType,
    Instance,
    Linker,
    ListType,
    OptionType,
    Record,
    RecordType,
    ResultType,
    TupleType,
    ValType,
    Variant,
    VariantType,
)

HERE = Path(__file__).resolve().parent
EXAMPLES = ["ext-js", "ext-add", "ext-wat", "starter"]


# ----------------------------------------------------------------- loading


def load_manifest(name: str) -> dict[str, Any]:
    with open(HERE / name / "extension.toml", "rb") as f:
        return tomllib.load(f)


def load_component(engine: Engine, name: str) -> Component:
    path = HERE / name / load_manifest(name)["component"]
    if path.suffix == ".wat":
        return Component(engine, wat2wasm(path.read_text()))
    return Component.from_file(engine, str(path))


def describe(engine: Engine, component: Component, types: bool) -> tuple[list[str], list[str]]:
    def names(items: dict[str, Any]) -> list[str]:
        out = []
        for name, ext in items.items():
            item = ext.ty  # a ComponentExtern: .ty is the ComponentItem
            if isinstance(item, ComponentInstanceType):
                funcs = {k: v.ty for k, v in item.exports(engine).items()}
                if types:
                    out.append(name)
                    out += [f"    {f}: {fmt_func(t)}" for f, t in funcs.items() if isinstance(t, FuncType)]
                else:
                    out.append(f"{name} {{{', '.join(funcs)}}}")
            elif isinstance(item, FuncType):
                out.append(f"{name}: {fmt_func(item)}" if types else f"{name} (func)")
            else:
                out.append(f"{name} ({type(item).__name__})")
        return out

    ty = component.type
    return names(ty.imports(engine)), names(ty.exports(engine))


def fmt_type(t: ValType | None) -> str:
    if t is None:
        return "_"
    if isinstance(t, ListType):
        return f"list<{fmt_type(t.element)}>"
    if isinstance(t, OptionType):
        return f"option<{fmt_type(t.payload)}>"
    if isinstance(t, ResultType):
        return f"result<{fmt_type(t.ok)}, {fmt_type(t.err)}>"
    if isinstance(t, TupleType):
        return f"tuple<{', '.join(fmt_type(e) for e in t.elements)}>"
    if isinstance(t, RecordType):
        return "record{" + ", ".join(f"{n}: {fmt_type(ft)}" for n, ft in t.fields) + "}"
    if isinstance(t, VariantType):
        return "variant{" + ", ".join(n if p is None else f"{n}({fmt_type(p)})" for n, p in t.cases) + "}"
    if isinstance(t, EnumType):
        return "enum{" + ", ".join(t.names) + "}"
    if isinstance(t, FlagsType):
        return "flags{" + ", ".join(t.names) + "}"
    return type(t).__name__.lower()


def fmt_func(f: FuncType) -> str:
    params = ", ".join(f"{n}: {fmt_type(t)}" for n, t in f.params)
    result = f" -> {fmt_type(f.result)}" if f.result is not None else ""
    return f"func({params}){result}"


def new_linker(engine: Engine, logs: list[tuple[str, str]]) -> Linker:
    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as root, root.add_instance("ext:host/log@0.1.0") as log:
        # Host functions get the calling Store first; enum arguments arrive as str.
        log.add_func("log", lambda _store, level, message: logs.append((level, message)))
    return linker


def new_store(engine: Engine) -> Store:
    store = Store(engine)
    store.set_wasi(WasiConfig())  # no preopens, no env, no args: deny all
    return store


def get_func(store: Store, instance: Instance, qualified: str) -> Any:
    """`iface#func` or a top-level `func`."""
    if "#" in qualified:
        iface, name = qualified.split("#", 1)
        parent = instance.get_export_index(store, iface)
        if parent is None:
            raise KeyError(f"no export {iface!r}")
        index = instance.get_export_index(store, name, parent)
    else:
        index = instance.get_export_index(store, qualified)
    if index is None:
        raise KeyError(f"no export {qualified!r}")
    func = instance.get_func(store, index)
    if func is None:
        raise KeyError(f"{qualified!r} is not a function")
    return func


# ------------------------------------------- manifest values <-> wasmtime-py


def _classes(t: ValType | None) -> tuple[type, ...]:
    s: set[type] = set()
    if t is None:
        s.add(object)
    else:
        t.add_classes(s)
    return tuple(s)


def to_wasm(value: Any, t: ValType | None) -> Any:
    """A manifest (JSON-like) value -> what wasmtime-py expects for type t."""
    if isinstance(t, ListType):
        if isinstance(value, list) and fmt_type(t.element) == "u8":
            return bytes(value)
        return [to_wasm(v, t.element) for v in value]
    if isinstance(t, TupleType):
        return tuple(to_wasm(v, et) for v, et in zip(value, t.elements, strict=True))
    if isinstance(t, RecordType):
        rec = Record()
        for name, ft in t.fields:
            setattr(rec, name, to_wasm(value.get(name), ft))
        return rec
    if isinstance(t, FlagsType):
        return set(value)
    if isinstance(t, OptionType):
        return None if value is None else to_wasm(value, t.payload)
    if isinstance(t, ResultType):
        ((tag, payload),) = value.items()
        inner = to_wasm(payload, t.ok if tag == "ok" else t.err)
        return Variant(tag, inner) if t._tagged() else inner
    if isinstance(t, VariantType):
        cases = dict(t.cases)
        inner = to_wasm(value.get("value"), cases[value["tag"]])
        return Variant(value["tag"], inner) if t._tagged() else inner
    return value


def from_wasm(value: Any, t: ValType | None) -> Any:
    """What wasmtime-py returned for type t -> the manifest (JSON-like) form."""
    if t is None:
        return None
    if isinstance(t, ListType):
        return list(value) if isinstance(value, bytes) else [from_wasm(v, t.element) for v in value]
    if isinstance(t, TupleType):
        return [from_wasm(v, et) for v, et in zip(value, t.elements, strict=True)]
    if isinstance(t, RecordType):
        # An option field that is none is left out (TOML has no null).
        fields = {name: from_wasm(getattr(value, name), ft) for name, ft in t.fields}
        return {k: v for k, v in fields.items() if v is not None}
    if isinstance(t, FlagsType):
        return sorted(value)
    if isinstance(t, OptionType):
        return None if value is None else from_wasm(value, t.payload)
    if isinstance(t, ResultType):
        if isinstance(value, Variant):  # tagged: ok and err payloads share a Python type
            tag, payload = value.tag, value.payload
        else:  # untagged: which case is told by the Python type of the value
            tag = "ok" if isinstance(value, _classes(t.ok)) else "err"
            payload = value
        return {tag: from_wasm(payload, t.ok if tag == "ok" else t.err)}
    if isinstance(t, VariantType):
        cases = dict(t.cases)
        if isinstance(value, Variant):
            tag, payload = value.tag, value.payload
        else:
            tag = next(n for n, ct in t.cases if isinstance(value, _classes(ct)))
            payload = value
        out = {"tag": tag}
        if cases[tag] is not None:
            out["value"] = from_wasm(payload, cases[tag])
        return out
    return value


# ------------------------------------------------------------------ checks

failures = 0


def check(label: str, got: Any, want: Any) -> None:
    global failures
    ok = got == want
    failures += not ok
    print(f"  {'ok  ' if ok else 'FAIL'} {label}: {got!r}" + ("" if ok else f" (want {want!r})"))


def run_conformance(engine: Engine, name: str, make_instance: Any) -> None:
    for ex in load_manifest(name).get("conformance", {}).get("example", []):
        # A fresh Store per example: a trap poisons the Store it happens in.
        store, instance = make_instance()
        if "command" in ex:  # a command example: run it through ext:host/commands#run
            run = get_func(store, instance, "ext:host/commands@0.1.0#run")
            args = ex.get("args", [])
            want = ex["expect"] if isinstance(ex["expect"], dict) else {"ok": ex["expect"]}
            check(f"conformance command {ex['command']}{tuple(args)}",
                  from_wasm(run(store, ex["command"], args), run.type(store).result), want)
            continue
        func = get_func(store, instance, ex["function"])
        fty = func.type(store)
        args = [to_wasm(a, pt) for a, (_, pt) in zip(ex.get("args", []), fty.params, strict=True)]
        label = f"conformance {ex['function']}{tuple(ex.get('args', []))}"
        try:
            got = from_wasm(func(store, *args), fty.result)
        except WasmtimeError as e:
            got = "trap" if "wasm trap" in str(e) or "backtrace" in str(e) else f"error: {e}"
            check(label, got, ex.get("expect_error", "<no error expected>"))
            continue
        check(label, got, ex.get("expect_error") or ex.get("expect"))


def main() -> int:
    types = "--types" in sys.argv
    engine = Engine()
    components: dict[str, Component] = {}
    for name in EXAMPLES:
        t0 = time.perf_counter()
        components[name] = load_component(engine, name)
        imports, exports = describe(engine, components[name], types)
        print(f"{name}: compiled in {time.perf_counter() - t0:.2f}s")
        print("  imports:\n    " + "\n    ".join(imports or ["(none)"]))
        print("  exports:\n    " + "\n    ".join(exports))

    # ---- ext-js: WASI p2 + host log, rich values
    print("ext-js calls:")
    logs: list[tuple[str, str]] = []
    js_linker = new_linker(engine, logs)

    def js_instance() -> tuple[Store, Instance]:
        store = new_store(engine)
        return store, js_linker.instantiate(store, components["ext-js"])

    js_store, js = js_instance()
    lib = "ext:js/lib@0.3.1#"
    js_init = get_func(js_store, js, "ext:host/lifecycle@0.1.0#init")
    check("lifecycle#init -> result<_, string>", js_init(js_store), None)
    evaluate = get_func(js_store, js, lib + "evaluate")
    check("evaluate('1 + 2')", evaluate(js_store, "1 + 2"), Variant("ok", "3"))
    check("evaluate('1/0')", evaluate(js_store, "1/0"), Variant("err", "division by zero"))
    stats = get_func(js_store, js, lib + "summarize")(js_store, [1.0, 2.0, 4.5], "xs")
    check(
        "summarize -> record",
        (type(stats).__name__, vars(stats)),
        ("Record", {"count": 3, "total": 7.5, "mean": 2.5, "label": "xs"}),
    )
    summarize = get_func(js_store, js, lib + "summarize")
    check("summarize([], None).mean", summarize(js_store, [], None).mean, None)
    check("words -> list<string>", get_func(js_store, js, lib + "words")(js_store, " a  bc "), ["a", "bc"])
    tokenize = get_func(js_store, js, lib + "tokenize")
    check(
        "tokenize -> result<list<variant>, string> (ok)",
        tokenize(js_store, "2*(3)"),
        [
            Variant("number", 2.0),
            Variant("operator", "*"),
            Variant("open-paren"),
            Variant("number", 3.0),
            Variant("close-paren"),
        ],
    )
    check("tokenize (err: plain str, untagged)", tokenize(js_store, "2$"), "unexpected character '$' at 1")
    check("classify -> enum", get_func(js_store, js, lib + "classify")(js_store, 0.5), "fraction")
    check(
        "operators-used -> flags",
        get_func(js_store, js, lib + "operators-used")(js_store, "1+2^3"),
        {"add", "pow"},
    )
    check("encode -> list<u8>", get_func(js_store, js, lib + "encode")(js_store, "hé"), b"h\xc3\xa9")
    check("checksum(list<u8> = bytes)", get_func(js_store, js, lib + "checksum")(js_store, b"\x01\xff"), 256)
    cmds = get_func(js_store, js, "ext:host/commands@0.1.0#list-commands")(js_store)
    check("list-commands", [c.name for c in cmds], ["eval", "sum"])
    run = get_func(js_store, js, "ext:host/commands@0.1.0#run")
    check("run eval", run(js_store, "eval", ["2", "*", "21"]), Variant("ok", "42"))
    check("host log calls", logs[:2], [("info", "ext-js initialized"), ("debug", 'run eval ["2","*","21"]')])

    # ---- ext-add: its import ext:js/lib@0.3.0 is served by ext-js through a Python proxy
    print("ext-add calls (ext:js/lib@0.3.0 -> ext-js's ext:js/lib@0.3.1#evaluate):")
    add_linker = new_linker(engine, logs)
    with add_linker.root() as root, root.add_instance("ext:js/lib@0.3.0") as js_lib:
        # The proxy runs in ext-add's Store but calls ext-js's Func with ext-js's
        # Store; result<string, string> passes through as the Variant it is.
        js_lib.add_func("evaluate", lambda _store, expr: evaluate(js_store, expr))

    def add_instance() -> tuple[Store, Instance]:
        store = new_store(engine)
        return store, add_linker.instantiate(store, components["ext-add"])

    add_store, add = add_instance()
    check("init", get_func(add_store, add, "ext:host/lifecycle@0.1.0#init")(add_store), None)
    check("add(2, 3)", get_func(add_store, add, "ext:add/lib@1.0.0#add")(add_store, 2, 3), 5)
    add_expr = get_func(add_store, add, "ext:add/lib@1.0.0#add-expr")
    check("add-expr('1 + 2', '2 ^ 3')", add_expr(add_store, "1 + 2", "2 ^ 3"), Variant("ok", "11"))
    check("add-expr('1/0', '1')", add_expr(add_store, "1/0", "1"), Variant("err", "'1/0': division by zero"))
    t0 = time.perf_counter()
    for _ in range(100):
        add_expr(add_store, "1", "2")
    print(f"  add-expr: {(time.perf_counter() - t0) * 1e4:.0f} us per call (2 proxied evaluate calls)")

    # ---- ext-wat and starter: host log only
    print("ext-wat / starter calls:")
    plain = new_linker(engine, logs)

    def wat_instance() -> tuple[Store, Instance]:
        store = new_store(engine)
        return store, plain.instantiate(store, components["ext-wat"])

    def starter_instance() -> tuple[Store, Instance]:
        store = new_store(engine)
        return store, plain.instantiate(store, components["starter"])

    wat_store, wat = wat_instance()
    check("ext-wat init", get_func(wat_store, wat, "ext:host/lifecycle@0.1.0#init")(wat_store), None)
    check("ext-wat mul(6, 7)", get_func(wat_store, wat, "ext:wat/lib@1.0.0#mul")(wat_store, 6, 7), 42)
    try:
        get_func(wat_store, wat, "ext:wat/lib@1.0.0#div")(wat_store, 1, 0)
        check("ext-wat div(1, 0) traps", "no trap", "trap")
    except WasmtimeError as e:
        check("ext-wat div(1, 0) traps", str(e).splitlines()[-1].strip(), "wasm trap: integer divide by zero")
    try:  # the trap poisoned wat_store
        get_func(wat_store, wat, "ext:wat/lib@1.0.0#mul")(wat_store, 1, 1)
        check("store poisoned after trap", "no error", "error")
    except WasmtimeError as e:
        check("store poisoned after trap", "cannot enter component instance" in str(e), True)

    print("conformance examples:")
    run_conformance(engine, "ext-js", js_instance)
    run_conformance(engine, "ext-add", add_instance)
    run_conformance(engine, "ext-wat", wat_instance)
    run_conformance(engine, "starter", starter_instance)

    print(f"{'FAILED' if failures else 'passed'}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
