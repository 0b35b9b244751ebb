"""Resources in the mock DSL: a provider defining one (constructor, methods, statics, handles in and
out, an observable destructor) and a consumer calling it through a dynamic link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as c

from harness.model._errors import BadArgumentsError, StaleHandleError, TrapError, UsageError
from harness.model._witypes import HandleT, render
from harness.pipeline._wasmtypes import from_wasmtime_item, resource_names
from harness.runtime._handles import Handle
from harness.runtime._host import Host
from harness.testing import (
    STRING,
    U32,
    U64,
    Dropped,
    Echo,
    Forward,
    Live,
    New,
    Rep,
    Reps,
    Trap,
    borrow,
    constructor,
    ext,
    fn,
    iface,
    list_of,
    method,
    own,
    record,
    static,
    to_wat,
    write_extension,
)

LIB = "test:res/counter@1.0.0"
USER = "test:res/user@1.0.0"
R, B = own("counter", LIB), borrow("counter", LIB)

LIBRARY = iface(
    LIB,
    constructor("counter", [("start", U32)]),
    method("counter", "rep", [], U32, Rep()),
    static("counter", "zero", [], own("counter"), New()),
    fn("make", [("start", U32)], own("counter"), New()),
    fn("take", [("c", own("counter"))], U64, Rep()),
    fn("take-labelled", [("c", own("counter")), ("label", STRING)], U32, Rep()),
    fn("take-two", [("a", own("counter")), ("b", own("counter"))], U32, Rep()),
    fn("same", [("c", own("counter"))], own("counter"), Echo()),
    fn("live", [], U32, Live("counter")),
    fn("dropped", [], U32, Dropped("counter")),
)
PROVIDER = ext("prov", exports=[LIBRARY])
CONSUMER = ext("user", imports=[LIBRARY], exports=[iface(
    USER,
    fn("new", [("start", U32)], R, Forward(LIB, "[constructor]counter")),
    fn("zero", [], R, Forward(LIB, "[static]counter.zero")),
    fn("rep", [("c", B)], U32, Forward(LIB, "[method]counter.rep")),
    fn("take", [("c", R)], U64, Forward(LIB, "take")),
    fn("same", [("c", R)], R, Forward(LIB, "same")),
)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mockres")
    write_extension(PROVIDER, d)
    write_extension(CONSUMER, d)
    (d / "cache").mkdir()
    return d


@pytest.fixture
def host(folder: Path) -> Iterator[Host]:
    with Host.load(folder / "prov", folder / "user", cache_dir=str(folder / "cache"), timeout_ms=20_000) as h:
        assert h.status == {"prov": "ok", "user": "ok"}, h.diagnostics
        yield h


def _prov(host: Host, fn_: str, *args: Any) -> Any:
    return host.call("prov", f"{LIB}#{fn_}", *args)


def _user(host: Host, fn_: str, *args: Any) -> Any:
    return host.call("user", f"{USER}#{fn_}", *args)


def test_the_declared_resource_is_what_analysis_reports() -> None:
    engine = wasmtime.Engine()
    comp = c.Component(engine, wasmtime.wat2wasm(to_wat(PROVIDER)))
    externs = comp.type.exports(engine)
    analysed = from_wasmtime_item(externs[LIB].ty, engine, resource_names(externs, engine))
    assert analysed == LIBRARY.instance_type()
    assert render(LIBRARY.instance_type().get("[method]counter.rep")) == "func(self: borrow<counter>) -> u32"
    assert LIBRARY.resources == ("counter",)
    assert LIBRARY.function("make") is not None and LIBRARY.function("make").result == HandleT(  # type: ignore[union-attr]
        "own", "counter", "test:res/counter")


def test_provider_resources_from_python(host: Host) -> None:
    a, b = _prov(host, "[constructor]counter", 7), _prov(host, "make", 1)
    z = _prov(host, "[static]counter.zero")
    assert all(isinstance(h, Handle) and h.live for h in (a, b, z))
    assert [_prov(host, "[method]counter.rep", h) for h in (a, b, z)] == [1, 2, 3]  # reps: 1, 2, ...
    same = _prov(host, "same", b)  # Echo: the own goes in and comes back, the same resource
    assert not b.live and _prov(host, "[method]counter.rep", same) == 2
    assert _prov(host, "live") == 3 and _prov(host, "dropped") == 0
    assert _prov(host, "take", same) == 2  # Rep of an own: the provider drops it, its destructor runs
    a.drop()
    with z:
        pass
    assert _prov(host, "live") == 0 and _prov(host, "dropped") == 3


def test_consumer_calls_through_the_link_and_drops_run_the_providers_destructor(host: Host) -> None:
    a, z = _user(host, "new", 5), _user(host, "zero")
    assert (_user(host, "rep", a), _user(host, "rep", z)) == (1, 2)  # borrow forwarded, then dropped by the mock
    back = _user(host, "same", a)  # own → provider → own back: the provider's resource 1 again
    assert _user(host, "rep", back) == 1 and _prov(host, "live") == 2
    assert host.held_handles("prov") == {"user": 2}
    assert _user(host, "take", back) == 1  # moved to the provider, which drops it
    z.drop()  # the consumer's drop reaches the provider
    assert _prov(host, "live") == 0 and _prov(host, "dropped") == 2
    assert host.held_handles("prov") == {}


def test_an_own_handle_survives_a_refused_argument_after_it(host: Host) -> None:
    h = _prov(host, "make", 3)
    with pytest.raises(BadArgumentsError, match="label"):
        _prov(host, "take-labelled", h, 5)  # h was lowered, then the string refused: the call never ran
    assert h.live and _prov(host, "[method]counter.rep", h) == 1
    with pytest.raises(StaleHandleError, match="earlier in the same call"):
        _prov(host, "take-two", h, h)
    assert h.live and _prov(host, "live") == 1
    assert _prov(host, "take-labelled", h, "x") == 1 and not h.live
    assert _prov(host, "live") == 0 and _prov(host, "dropped") == 1


def test_resource_declaration_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="New needs the result own<r>"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [], U32, New()))]))
    with pytest.raises(UsageError, match="Rep needs a first parameter"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [("n", U32)], U32, Rep()))]))
    with pytest.raises(UsageError, match="defines no resource 'nope'"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [], U32, Live("nope")))]))
    with pytest.raises(UsageError, match="Echo needs"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [("c", own("r"))], U32, Echo()))]))
    with pytest.raises(UsageError, match="Rep needs a first parameter"):  # a list's handles: that is Reps
        to_wat(ext("x", exports=[iface(LIB, fn("f", [("cs", list_of(borrow("r")))], U32, Rep()))]))
    with pytest.raises(UsageError, match="Reps needs an integer result"):
        to_wat(ext("x", exports=[iface(LIB, fn("f", [("cs", list_of(borrow("r")))], None, Reps()))]))


def test_mock_extension_fixture_declares_resources(mock_extension: Any, ext_host: Any) -> None:
    lib = mock_extension(PROVIDER)
    user = mock_extension("user", imports=[LIBRARY], exports=CONSUMER.exports)
    host = ext_host(lib, user)
    with _user(host, "new", 1) as h:
        assert _user(host, "rep", h) == 1
    assert _prov(host, "dropped") == 1


def test_a_consumers_export_names_the_imported_resource(host: Host) -> None:
    with _user(host, "new", 1) as h:
        assert repr(h) == "<handle counter of user (live)>"  # not `resource`: the import names it
        assert h.type == HandleT("own", "counter", "test:res/counter")


def test_an_own_given_for_a_call_that_fails_before_the_provider_runs_is_dropped_not_leaked(tmp_path: Path) -> None:
    """user#pair(a, b) forwards a fresh own `a` and a stale borrow `b`: the hop refuses `b` after it
    took `a` from the link's table; `a` was given away by the consumer and never reached the provider,
    so the provider's resource is dropped (its destructor runs) instead of living on unreachable.
    `pair` takes the flat path of the proxy, `pair-rec` (handles nested) the general one."""
    lib = iface(LIB, fn("make", [], own("counter"), New()),
                fn("pair", [("a", own("counter")), ("b", borrow("counter"))], U32, Reps()),
                fn("pair-rec", [("x", record(a=own("counter"), b=list_of(borrow("counter"))))], U32, Reps()),
                fn("live", [], U32, Live("counter")), fn("dropped", [], U32, Dropped("counter")),
                fn("boom", [], None, Trap()))
    user = ext("user", imports=[lib], exports=[iface(
        USER, fn("make", [], R, Forward(LIB, "make")),
        fn("pair", [("a", R), ("b", B)], U32, Forward(LIB, "pair")),
        fn("pair-rec", [("x", record(a=R, b=list_of(B)))], U32, Forward(LIB, "pair-rec")))])
    write_extension(ext("prov", exports=[lib]), tmp_path)
    write_extension(user, tmp_path)
    with Host.load(tmp_path / "prov", tmp_path / "user", cache_dir=str(tmp_path)) as host:
        for f, args in (("pair", lambda a, b: (a, b)), ("pair-rec", lambda a, b: ({"a": a, "b": [b]},))):
            old = _user(host, "make")
            with pytest.raises(TrapError):
                _prov(host, "boom")  # the provider restarts: `old` is stale
            fresh = _user(host, "make")
            assert _prov(host, "live") == 1
            with pytest.raises(StaleHandleError):
                _user(host, f, *args(fresh, old))
            assert _prov(host, "live") == 0 and _prov(host, "dropped") == 1, f
            assert host.held_handles("prov") == {}
