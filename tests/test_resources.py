"""Resources across dynamic links: names in the type model, the link type check, handle tables."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as wc

from harness.model._errors import BadArgumentsError, StaleHandleError, TrapError
from harness.model._witypes import FuncT, HandleT, InstanceT, Prim, ResourceItem, render, type_diff
from harness.pipeline._wasmtypes import from_wasmtime_item, resource_names
from harness.runtime._handles import Handle
from harness.runtime._host import Host

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
LIB = "test:res/counter@1.0.0"
USER = "test:res/user@1.0.0"


def _interfaces(name: str, side: str) -> dict[str, object]:
    engine = wasmtime.Engine()
    comp = wc.Component(engine, wasmtime.wat2wasm((HOST / name).read_text()))
    externs = comp.type.exports(engine) if side == "exports" else comp.type.imports(engine)
    names = resource_names(externs, engine)
    return {n: from_wasmtime_item(e.ty, engine, names) for n, e in externs.items()}


# ------------------------------------------------------------------ names in the type model

def test_handles_are_named_by_resource_and_interface_on_both_sides() -> None:
    provided = _interfaces("counter.wat", "exports")[LIB]
    imported = _interfaces("counter_user.wat", "imports")[LIB]
    assert isinstance(provided, InstanceT) and isinstance(imported, InstanceT)
    own = HandleT("own", "counter", "test:res/counter")
    borrow = HandleT("borrow", "counter", "test:res/counter")
    assert provided.get("counter") == ResourceItem()
    assert provided.get("make") == FuncT((("start", Prim("u32")),), own)
    assert imported.get("bump-twice") == FuncT((("c", borrow),), Prim("u32"))
    assert render(provided.get("[method]counter.inc")) == "func(self: borrow<counter>) -> u32"
    assert render(provided.get("maybe")) == "func(start: u32) -> option<own<counter>>"
    # what the consumer imports is what the provider exports: the link type check passes
    assert type_diff(imported, provided, LIB) is None


def _iface(result: HandleT) -> InstanceT:
    return InstanceT((("counter", ResourceItem()),
                      ("[method]counter.inc", FuncT((("self", HandleT("borrow", "counter", "a:b/c")),), result))))


def test_a_handle_of_another_resource_is_a_mismatch_naming_the_method() -> None:
    diff = type_diff(_iface(HandleT("own", "counter", "a:b/c")), _iface(HandleT("own", "ticker", "a:b/c")), LIB)
    assert diff == f"{LIB}#[method]counter.inc → result: expected own<counter>, found own<ticker>"


def test_same_resource_name_from_another_interface_is_a_mismatch() -> None:
    diff = type_diff(_iface(HandleT("own", "counter", "a:b/c")), _iface(HandleT("own", "counter", "x:y/z")), LIB)
    assert diff == (f"{LIB}#[method]counter.inc → result: expected own<counter> of a:b/c, "
                    "found own<counter> of x:y/z")


@pytest.mark.parametrize("kind", ["own", "borrow"])
def test_handle_types_round_trip_through_the_interface_cache_json(kind: str) -> None:
    from harness.model._typejson import value_from_json, value_to_json
    for t in (HandleT(kind, "counter", "a:b/c"), HandleT(kind)):  # type: ignore[arg-type]
        assert value_from_json(value_to_json(t)) == t


# ------------------------------------------------------------------ handles through a dynamic link

@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def linked(cache_dir: Path) -> Iterator[Host]:
    with Host.load(HOST / "counter.wat", HOST / "counter_user.wat", cache_dir=str(cache_dir),
                   timeout_ms=20_000) as host:
        assert host.status == {"counter": "ok", "counter_user": "ok"}, host.diagnostics
        yield host


def _user(host: Host, fn: str, *args: object) -> object:
    return host.call("counter_user", f"{USER}#{fn}", *args)


def _lib(host: Host, fn: str) -> object:
    return host.call("counter", f"{LIB}#{fn}")


def _entries(host: Host) -> int:
    return sum(len(t.entries) for t in host._handle_tables.values())


def test_inspect_accepts_resources_in_a_library_interface_and_it_loads(cache_dir: Path) -> None:
    from harness import inspect
    report = inspect(HOST / "counter.wat", HOST / "counter_user.wat", cache_dir=str(cache_dir))
    assert [d.code for d in report.diagnostics if d.severity == "error"] == []
    with Host.load(HOST / "counter.wat", HOST / "counter_user.wat", cache_dir=str(cache_dir)) as host:
        assert host.status == {"counter": "ok", "counter_user": "ok"}


def test_constructor_methods_and_drop_across_the_link(linked: Host) -> None:
    assert _user(linked, "run", 4) == 7  # new counter(4), inc ×3
    assert _lib(linked, "live") == 0 and _lib(linked, "dropped") == 1  # the consumer's drop ran the destructor
    assert _entries(linked) == 0


def test_borrow_is_for_the_call_and_the_provider_gets_its_own_resource_back(linked: Host) -> None:
    assert _user(linked, "run-make", 10) == 12  # make(10), bump-twice(borrow)
    assert _user(linked, "identity", 7) == 9  # bump-twice then take: the provider's own counter, state kept
    assert _lib(linked, "live") == 0 and _lib(linked, "dropped") == 2
    assert _entries(linked) == 0


def test_own_moves_to_the_provider(linked: Host) -> None:
    assert _user(linked, "give", 7) == 7  # take(own): the provider drops it itself
    assert _lib(linked, "dropped") == 1 and _entries(linked) == 0


def test_handles_nested_in_an_option(linked: Host) -> None:
    assert _user(linked, "maybe", 7) == 8 and _user(linked, "maybe", 0) == 0
    assert _lib(linked, "live") == 0 and _entries(linked) == 0


def test_a_handle_lives_across_calls_until_dropped(linked: Host) -> None:
    _user(linked, "hold", 5)
    assert _user(linked, "poke") == 6 and _user(linked, "poke") == 7
    assert _entries(linked) == 1 and _lib(linked, "live") == 1
    _user(linked, "release")
    assert _entries(linked) == 0 and _lib(linked, "live") == 0


def test_a_provider_restart_makes_outstanding_handles_stale(linked: Host) -> None:
    _user(linked, "hold", 5)
    with pytest.raises(TrapError):
        _lib(linked, "boom")
    with pytest.raises(StaleHandleError) as e:
        _user(linked, "poke")
    assert e.value.code == "stale-handle" and "counter restarted" in e.value.message
    assert _entries(linked) == 0
    assert _user(linked, "run", 1) == 4  # both serve again


def _rss_kib() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4  # pages of 4 KiB


def test_100k_create_drop_cycles_leave_the_tables_empty_and_rss_flat(linked: Host) -> None:
    _user(linked, "churn", 10_000)  # warm-up: code paths, allocator pools
    before = _rss_kib()
    assert _user(linked, "churn", 100_000) == 0
    grown = _rss_kib() - before
    assert _lib(linked, "dropped") == 110_000 and _lib(linked, "live") == 0
    assert _entries(linked) == 0
    assert grown < 8 * 1024, f"RSS grew {grown} KiB over 100k cycles"  # measured: 0 KiB


# ------------------------------------------------------------------ handles in the Python API

def _lib_call(host: Host, fn: str, *args: object) -> Any:
    return host.call("counter", f"{LIB}#{fn}", *args)


def test_a_returned_resource_is_a_handle_usable_in_later_calls_and_dropped(linked: Host) -> None:
    h = _lib_call(linked, "make", 3)
    assert isinstance(h, Handle) and h.live and h.extension == "counter" and "counter" in repr(h)
    assert _lib_call(linked, "[method]counter.inc", h) == 4
    assert _lib_call(linked, "bump-twice", h) == 6 and _lib_call(linked, "[method]counter.get", h) == 6
    assert _lib(linked, "live") == 1
    h.drop()
    h.drop()  # again: nothing
    assert not h.live and _lib(linked, "live") == 0 and _lib(linked, "dropped") == 1
    with pytest.raises(StaleHandleError, match="dropped or given away"):
        _lib_call(linked, "[method]counter.inc", h)


def test_a_handle_as_a_context_manager_and_given_away_as_own(linked: Host) -> None:
    with _lib_call(linked, "[constructor]counter", 10) as c:
        assert _lib_call(linked, "take", c) == 10  # own: the extension has it now
        assert not c.live
    assert _lib(linked, "dropped") == 1 and _lib(linked, "live") == 0
    with _lib_call(linked, "[constructor]counter", 1) as c:
        assert _lib(linked, "live") == 1
    assert _lib(linked, "live") == 0


def test_a_handle_nested_in_a_result(linked: Host) -> None:
    assert _lib_call(linked, "maybe", 0) is None
    m = _lib_call(linked, "maybe", 4)
    assert isinstance(m, Handle) and _lib_call(linked, "[method]counter.get", m) == 4
    m.drop()
    assert _lib(linked, "live") == 0


def test_a_handle_after_a_restart_is_stale_not_a_crash(linked: Host) -> None:
    h = _lib_call(linked, "make", 3)
    with pytest.raises(TrapError):
        _lib(linked, "boom")
    with pytest.raises(StaleHandleError, match="restarted"):
        _lib_call(linked, "[method]counter.inc", h)
    h.drop()  # the old Store is never touched
    assert _lib(linked, "live") == 0


def test_a_non_handle_or_another_extensions_handle_is_refused(cache_dir: Path, tmp_path: Path) -> None:
    shutil.copy(HOST / "counter.wat", tmp_path / "other.wat")
    with Host.load(HOST / "counter.wat", tmp_path / "other.wat", cache_dir=str(cache_dir)) as host:
        with pytest.raises(BadArgumentsError, match="expected a handle"):
            host.call("counter", f"{LIB}#[method]counter.inc", 5)
        h = host.call("counter", f"{LIB}#make", 1)
        with pytest.raises(BadArgumentsError, match="counter of counter was given where borrow<counter> of other"):
            host.call("other", f"{LIB}#[method]counter.inc", h)
        assert h.live
        h.drop()


def test_100k_handles_made_and_dropped_from_python_leave_nothing(linked: Host) -> None:
    make = linked.function("counter", f"{LIB}#make")
    for i in range(100_000):
        make(i).drop()
    assert _lib(linked, "dropped") == 100_000 and _lib(linked, "live") == 0


# ------------------------------------------------------------------ the CLI

@pytest.mark.parametrize(("function", "args", "what"), [("make", ["3"], "returns"),
                                                         ("bump-twice", ["1"], "takes")])
def test_the_cli_refuses_a_call_with_a_handle_clearly(function: str, args: list[str], what: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main
    code = main(["call", "--no-cache", str(HOST / "counter.wat"), "counter", function, *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert f"counter:{LIB}#{function} {what} a resource handle" in err and "call it from Python" in err
    assert "ResourceAny" not in err


def test_a_consumer_restart_drops_the_resources_it_held(linked: Host) -> None:
    _user(linked, "hold", 5)
    assert _lib(linked, "live") == 1 and _entries(linked) == 1
    with pytest.raises(TrapError):
        _user(linked, "crash")  # its Store, and the handle in it, are gone
    assert _user(linked, "run", 1) == 4  # the next hop sweeps what the old instance held
    assert _lib(linked, "live") == 0 and _lib(linked, "dropped") == 2 and _entries(linked) == 0


def test_an_own_handle_stays_usable_when_the_call_fails_before_taking_it(linked: Host) -> None:
    h = _lib_call(linked, "make", 3)
    with pytest.raises(BadArgumentsError, match="takes 1 argument"):
        _lib_call(linked, "take", h, 5)  # refused before the call: nothing was given away
    assert h.live and _lib_call(linked, "[method]counter.get", h) == 3
    assert _lib_call(linked, "take", h) == 3  # now it is given away
    assert not h.live and _lib(linked, "live") == 0 and _lib(linked, "dropped") == 1
    with pytest.raises(StaleHandleError, match="given away"):
        _lib_call(linked, "take", h)
