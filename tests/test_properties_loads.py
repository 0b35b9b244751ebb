"""If `inspect` says an extension is ok, it loads (issue 9, finding 12).

Components with random imports (plain names, WASI names and versions with real,
wrong or made-up functions, host interfaces, interfaces served from Python,
library interfaces at several versions, plus hand-written components with root
functions and resources) go through `inspect` and then the linker. Properties:

* status ok ⇒ the linker links it: it is in `host.runtimes`, the linker adds no
  diagnostic about it, and its own export answers;
* status not ok ⇒ it has a coded error diagnostic naming an import (or the
  dependency it is blocked by), and every other extension still loads;
* the status matches a reference model of what the host serves, so the check
  neither lets through what cannot link nor refuses what can.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import stat
from harness.model._codes import DIAGNOSTIC_CODES
from harness.model._diagnostics import Diagnostic
from harness.model._hostconfig import HostConfig
from harness.model._witypes import ValueType
from harness.pipeline._inspect import inspect
from harness.runtime._host import Host
from harness.testing import (
    LOG_LEVEL,
    STRING,
    U8,
    U32,
    U64,
    Const,
    MockExtension,
    MockFunction,
    MockInterface,
    fn,
    iface,
    list_of,
    option,
    record,
    result,
    tuple_of,
    write_extension,
)

PY_IFACE = "test:py/api@1.0.0"
PY_FUNCS = {"f": lambda: 5}
LIB = "x:lib/a"
PROVIDER = MockExtension("provider", exports=(iface(
    f"{LIB}@1.2.0", fn("f", (), U32, Const(1)), fn("g", (("x", U32),), U32, Const(2))),))
LIB_TYPES: dict[str, tuple[tuple[tuple[str, ValueType], ...], ValueType | None]] = {
    "f": ((), U32), "g": ((("x", U32),), U32)}

DATETIME = record(seconds=U64, nanoseconds=U32)
# Real WASI 0.2 functions without resources, with their types
WASI_FUNCS: dict[str, dict[str, tuple[tuple[tuple[str, ValueType], ...], ValueType | None]]] = {
    "wasi:cli/environment": {"get-environment": ((), list_of(tuple_of(STRING, STRING))),
                             "get-arguments": ((), list_of(STRING)), "initial-cwd": ((), option(STRING))},
    "wasi:random/random": {"get-random-bytes": ((("len", U64),), list_of(U8)), "get-random-u64": ((), U64)},
    "wasi:random/insecure-seed": {"insecure-seed": ((), tuple_of(U64, U64))},
    "wasi:clocks/monotonic-clock": {"now": ((), U64), "resolution": ((), U64)},
    "wasi:clocks/wall-clock": {"now": ((), DATETIME), "resolution": ((), DATETIME)},
    "wasi:cli/exit": {"exit": ((("status", result()),), None)},
    "wasi:http/types": {"noop": ((), None)},  # not served by add_wasip2
}
WASI_SERVED = set(WASI_FUNCS) - {"wasi:http/types"}
WASI_VERSIONS = ["0.2.0", "0.2.3", "0.2.99", "0.3.0", "0.1.0", "1.0.0", "0.2.0-rc-2023-11-10", None]
PLAIN_NAMES = ["host", "foo", "i", "wasmtime", "env", "wasi", "ext"]
OTHER_TYPES: list[ValueType] = [U32, STRING, list_of(U8), option(U32)]


@dataclass(frozen=True)
class Import:
    """One generated import and whether the host can serve it (the reference model)."""

    interface: MockInterface
    servable: bool


def _version(name: str, version: str | None) -> str:
    return name if version is None else f"{name}@{version}"


@st.composite
def _funcs(draw: st.DrawFn, real: dict[str, tuple[tuple[tuple[str, ValueType], ...], ValueType | None]]
           ) -> tuple[tuple[MockFunction, ...], bool]:
    """Functions of an import: real ones (some with a wrong result type), maybe a made-up one.
    Returns them and whether all of them are real with their real types."""
    names = draw(st.lists(st.sampled_from(sorted(real)), unique=True, max_size=len(real))) if real else []
    out: list[MockFunction] = []
    exact = True
    for name in names:
        params, res = real[name]
        if draw(st.integers(0, 4)) == 0:
            wrong = draw(st.sampled_from([t for t in OTHER_TYPES if t != res]))
            out.append(fn(name, params, wrong))
            exact = False
        else:
            out.append(fn(name, params, res))
    if draw(st.integers(0, 3)) == 0:
        out.append(fn(draw(st.sampled_from(["made-up", "zz", "extra"])), (), U32))
        exact = False
    return tuple(out), exact


@st.composite
def _import(draw: st.DrawFn, used: set[str]) -> Import | None:
    kind = draw(st.sampled_from(["plain", "wasi", "wasi", "host", "python", "library", "library"]))
    if kind == "plain":
        name = draw(st.sampled_from(PLAIN_NAMES))
        funcs = draw(st.lists(st.sampled_from(["f", "g", "log"]), unique=True, max_size=2))
        imp = Import(iface(name, *(fn(f, (), U32) for f in funcs)), servable=False)
    elif kind == "wasi":
        base = draw(st.sampled_from(sorted(WASI_FUNCS)))
        version = draw(st.sampled_from(WASI_VERSIONS))
        funcs, exact = draw(_funcs(WASI_FUNCS[base]))
        served_version = version is not None and version.startswith("0.2.") and "-" not in version
        # an instance with no exports links whatever its name: there is nothing to check
        servable = not funcs or (base in WASI_SERVED and served_version and exact)
        type_names = (("datetime", DATETIME),) if base == "wasi:clocks/wall-clock" else ()
        imp = Import(iface(_version(base, version), *funcs, type_names=type_names), servable)
    elif kind == "host":
        name = draw(st.sampled_from(["ext:host/log@0.1.0", "ext:host/log@0.1.7", "ext:host/log@0.2.0",
                                     "ext:host/other@0.1.0"]))
        log = fn("log", (("level", LOG_LEVEL), ("message", STRING)), None)
        funcs = tuple(draw(st.sampled_from([(log,), (), (log, fn("flush", (), None))])))
        compatible = name.startswith("ext:host/log@0.1.")
        imp = Import(iface(name, *funcs, type_names=(("level", LOG_LEVEL),)),
                     servable=compatible and all(f.name == "log" for f in funcs))
    elif kind == "python":
        names = draw(st.lists(st.sampled_from(["f", "g"]), unique=True, max_size=2))
        imp = Import(iface(PY_IFACE, *(fn(n, (), U32) for n in names)), servable=set(names) <= set(PY_FUNCS))
    else:
        version = draw(st.sampled_from(["1.0.0", "1.2.0", "1.5.0", "2.0.0", None]))
        funcs, exact = draw(_funcs(LIB_TYPES))
        compatible = version is not None and version.startswith("1.")
        imp = Import(iface(_version(LIB, version), *funcs), servable=compatible and exact)
    if imp.interface.name in used:
        return None
    used.add(imp.interface.name)
    return imp


@st.composite
def _consumer(draw: st.DrawFn, k: int) -> tuple[MockExtension, bool]:
    used: set[str] = set()
    imports = [i for i in draw(st.lists(_import(used), max_size=3)) if i is not None]
    letter = "abcdefgh"[k]
    ext = MockExtension(f"c{letter}", exports=(iface(f"x:gen{letter}/api@1.0.0", fn("id", (), U32, Const(100 + k))),),
                        imports=tuple(i.interface for i in imports))
    return ext, all(i.servable for i in imports)


# hand-written components the mock cannot express: (WAT, servable)
RAW: dict[str, tuple[str, bool]] = {
    "rootfunc": ('(component (import "f" (func)))', False),
    "resource": (f'(component (import "{LIB}@1.0.0" (instance (export "r" (type (sub resource))) '
                 '(export "f" (func (result u32))))))', False),
    "nested": (f'(component (import "{LIB}@1.0.0" (instance (export "f" (func (result u32))) '
               '(export "inner" (instance)))))', False),
    "host-resource": ('(component (import "ext:host/log@0.1.0" (instance (export "h" (type (sub resource))))))',
                      False),
    "plain-empty": ('(component (import "host" (instance)))', False),
    "http-empty": ('(component (import "wasi:http/types@0.2.0" (instance)))', True),
    "shared-memory": ("(component (core module $m (memory 1 1 shared)) (core instance (instantiate $m)))", False),
    "nothing": ("(component)", True),
}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[MockExtension, bool]], list[str]]:
    consumers = [draw(_consumer(k)) for k in range(draw(st.integers(1, 3)))]
    raw = draw(st.lists(st.sampled_from(sorted(RAW)), unique=True, max_size=2))
    return consumers, raw


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loads-props-") as d:
        (Path(d) / "cache").mkdir()
        yield Path(d)


_runs = iter(range(10**9))


def _errors_of(diags: tuple[Diagnostic, ...], name: str) -> list[Diagnostic]:
    return [d for d in diags if d.extension == name and d.is_error]


def _load(folder: Path, cache: Path) -> tuple[object, Host]:
    """What `Host.load(folder, interfaces=PY_FUNCS)` does, with the interfaces' functions known
    to `inspect` (a mapping, not only their names)."""
    cfg = HostConfig.from_kwargs({"cache_dir": str(cache), "interfaces": {PY_IFACE: PY_FUNCS}})
    ins = inspect([folder], cache_dir=str(cache), host_interfaces={PY_IFACE: PY_FUNCS})
    return ins, Host(ins, cfg)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_inspect_ok_means_it_loads(workdir: Path, scenario: tuple[list[tuple[MockExtension, bool]], list[str]]
                                   ) -> None:
    consumers, raw = scenario
    folder = workdir / f"s{next(_runs)}"
    write_extension(PROVIDER, folder)
    expected = {"provider": True}
    for ext, servable in consumers:
        write_extension(ext, folder)
        expected[ext.name] = servable
    for key in raw:
        text, servable = RAW[key]
        name = "raw" + key.replace("-", "")
        (folder / f"{name}.wasm").write_bytes(wasmtime.wat2wasm(text))
        expected[name] = servable
    ins, host = _load(folder, workdir / "cache")
    with host:
        status = {name: ins.status(name) for name in expected}  # type: ignore[attr-defined]
        linked = dict(host.status)
        link_diags = [d for d in host.diagnostics if d not in ins.diagnostics]  # type: ignore[attr-defined]
        for name, servable in expected.items():
            if status[name] == "ok":
                assert name in host.runtimes, (name, [str(d) for d in link_diags])
                assert linked[name] == "ok"
                assert not [d for d in link_diags if d.extension == name], [str(d) for d in link_diags]
            else:
                errors = _errors_of(ins.diagnostics, name)  # type: ignore[attr-defined]
                assert errors, name
                assert all(d.code in DIAGNOSTIC_CODES and d.subject and d.hint for d in errors)
                assert name not in host.runtimes
            # the reference model of what the host serves agrees
            assert (status[name] == "ok") == servable, (name, status[name], [str(d) for d in _errors_of(
                ins.diagnostics, name)])  # type: ignore[attr-defined]
            stat("loads", "ok" if servable else "refused")
        assert not link_diags, [str(d) for d in link_diags]
        assert host.call("provider", f"{LIB}@1.2.0#f") == 1
        for k, (ext, _) in enumerate(consumers):
            if status[ext.name] == "ok":
                assert host.call(ext.name, f"x:gen{'abcdefgh'[k]}/api@1.0.0#id") == 100 + k


# ------------------------------------------------------------------ the cases found, one by one

CASES: dict[str, tuple[str, str, str]] = {
    # name: (component text, code, subject)
    "plain-name": ('(component (import "host" (instance (export "f" (func)))))', "unsupported-import", "host"),
    "plain-name-wasmtime": ('(component (import "wasmtime" (instance (export "f" (func)))))',
                            "unsupported-import", "wasmtime"),
    "wasi-0.3": ('(component (import "wasi:cli/environment@0.3.0" (instance (export "get-environment" '
                 '(func (result (list (tuple string string))))))))', "unsupported-import",
                 "wasi:cli/environment@0.3.0"),
    "wasi-unversioned": ('(component (import "wasi:cli/environment" (instance (export "get-environment" '
                         '(func (result (list (tuple string string))))))))', "unsupported-import",
                         "wasi:cli/environment"),
    "wasi-wrong-type": ('(component (import "wasi:cli/environment@0.2.0" (instance (export "get-environment" '
                        '(func (result u32))))))', "unsupported-import", "wasi:cli/environment@0.2.0"),
    "wasi-unknown-function": ('(component (import "wasi:cli/environment@0.2.0" (instance '
                              '(export "get-everything" (func)))))', "unsupported-import",
                              "wasi:cli/environment@0.2.0"),
    "wasi-http": ('(component (import "wasi:http/types@0.2.0" (instance (export "f" (func)))))',
                  "unsupported-import", "wasi:http/types@0.2.0"),
    "host-unknown-interface": ('(component (import "ext:host/other@0.1.0" (instance (export "x" (func)))))',
                               "missing-import", "ext:host/other@0.1.0"),
    "host-log-extra-function": ('(component (import "ext:host/log@0.1.0" (instance (export "log" (func)) '
                                '(export "flush" (func)))))', "missing-import", "ext:host/log@0.1.0"),
    # resources in library interfaces link (runtime._handles); one the provider lacks is a mismatch
    "library-resource": (RAW["resource"][0], "type-mismatch", f"{LIB}@1.0.0"),
    "python-missing-function": (f'(component (import "{PY_IFACE}" (instance (export "g" (func (result u32))))))',
                                "missing-import", PY_IFACE),
    "shared-memory": (RAW["shared-memory"][0], "invalid-component", ""),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_import_nobody_serves_is_diagnosed_at_inspect(tmp_path: Path, case: str) -> None:
    """Each passed `inspect` as ok and then failed in the linker before the fix."""
    text, code, subject = CASES[case]
    write_extension(PROVIDER, tmp_path)
    (tmp_path / "odd.wasm").write_bytes(wasmtime.wat2wasm(text))
    ins, host = _load(tmp_path, tmp_path / "cache")
    with host:
        [d] = _errors_of(ins.diagnostics, "odd")  # type: ignore[attr-defined]
        assert d.code == code
        if subject:
            assert d.subject == subject and subject in d.message
        assert ins.status("odd") == "error"  # type: ignore[attr-defined]
        assert host.errors == ins.errors  # type: ignore[attr-defined]  # nothing new at link time
        assert host.call("provider", f"{LIB}@1.2.0#f") == 1


def test_the_link_check_runs_no_guest_code(tmp_path: Path) -> None:
    """A component whose core start function loops: inspect returns at once (the check stops
    before the first core instance), and its WASI import is still checked."""
    looping = ("(core module $m (func $s (loop br 0)) (start $s)) (core instance (instantiate $m))")
    (tmp_path / "spin.wasm").write_bytes(wasmtime.wat2wasm(
        f'(component (import "wasi:cli/environment@0.2.0" (instance)) {looping})'))
    (tmp_path / "spinbad.wasm").write_bytes(wasmtime.wat2wasm(
        f'(component (import "wasi:cli/environment@0.2.0" (instance (export "x" (func)))) {looping})'))
    ins = inspect([tmp_path], cache_dir=str(tmp_path / "cache"))
    assert ins.status("spin") == "ok"
    assert [(d.code, d.subject) for d in ins.errors] == [("unsupported-import", "wasi:cli/environment@0.2.0")]


def test_real_toolchain_components_still_pass() -> None:
    """The bundled examples (componentize-py, QuickJS, WAT) import many WASI 0.2 interfaces."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    ins = inspect([examples])
    assert ins.errors == (), [str(d) for d in ins.errors]
    assert set(ins.load_order) >= {"ext-add", "ext-js", "ext-wat"}


LIMITS = {"memory_size": 256 * 2**20, "memories": 4, "tables": 16, "table_elements": 1_000_000, "instances": 1000}
_LOOP_START = "(func $s (loop br 0)) (start $s)"
OVER_LIMITS = {
    # name: (component text, reported at inspect)
    "big-memory": ("(core module $m (memory 60000)) (core instance (instantiate $m))", True),
    "five-memories": ("(core module $m (memory 1) (memory 1) (memory 1) (memory 1) (memory 1)) "
                      "(core instance (instantiate $m))", True),
    "big-table": ("(core module $m (table 2000000 funcref)) (core instance (instantiate $m))", True),
    "fits": ("(core module $m (memory 16)) (core instance (instantiate $m))", False),
    "looping-start": (f"(core module $m (memory 1) {_LOOP_START}) (core instance (instantiate $m))", False),
    # not checked: instances after a start function are never created in the check
    "big-after-start": (f"(core module $m {_LOOP_START}) (core instance (instantiate $m)) "
                        "(core module $n (memory 60000)) (core instance (instantiate $n))", False),
}


@pytest.mark.parametrize("consume_fuel", [False, True], ids=["epoch", "fuel"])
def test_memory_tables_and_counts_over_the_limits_are_found_at_inspect(tmp_path: Path, consume_fuel: bool) -> None:
    """With the Store limits the host will use, `inspect` instantiates each component up to its
    first start function: a declared minimum over the limit is reported there, and no guest
    instruction runs (a start function that loops forever does not hang `inspect`)."""
    for name, (body, _) in OVER_LIMITS.items():
        (tmp_path / f"{name.replace('-', '')}.wasm").write_bytes(wasmtime.wat2wasm(f"(component {body})"))
    ins = inspect([tmp_path], cache_dir=str(tmp_path / "cache"), consume_fuel=consume_fuel,
                  store_limits=lambda _candidate: LIMITS)
    for name, (_, reported) in OVER_LIMITS.items():
        errors = _errors_of(ins.diagnostics, name.replace("-", ""))
        if reported:
            [d] = errors
            assert d.code == "instantiation-failed" and "under its limits" in d.message, str(d)
        else:
            assert errors == [], [str(e) for e in errors]
    # the host agrees: under the same limits the big memory does not instantiate
    with Host.load(tmp_path / "bigmemory.wasm", cache_dir=str(tmp_path / "cache"), memory_mb=256) as host:
        assert host.status["bigmemory"] == "error"


def test_a_bare_inspect_checks_the_default_limits(tmp_path: Path) -> None:
    """`inspect` without `store_limits` (the CLI's, a user's) checks against the limits of a
    default `Host.load`, so its ok still means a default load works."""
    for name in ("big-memory", "five-memories", "fits"):
        body, _ = OVER_LIMITS[name]
        (tmp_path / f"{name.replace('-', '')}.wasm").write_bytes(wasmtime.wat2wasm(f"(component {body})"))
    ins = inspect([tmp_path], cache_dir=str(tmp_path / "cache"))
    assert ins.resolution.status == {"bigmemory": "error", "fivememories": "error", "fits": "ok"}
    with Host.load(tmp_path, cache_dir=str(tmp_path / "cache")) as host:
        assert host.extensions == ("fits",)
