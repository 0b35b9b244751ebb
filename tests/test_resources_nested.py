"""Handles nested in records, lists, options, results, variants and tuples: in parameters and results,
from Python into the provider and through a dynamic link (consumer → provider), the provider's
resource identity kept (its rep), destructors run and the handle tables empty at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.runtime._handles import Handle
from harness.runtime._host import Host
from harness.testing import (
    BOOL,
    STRING,
    U32,
    Dropped,
    Echo,
    Forward,
    Live,
    New,
    Rep,
    borrow,
    ext,
    fn,
    iface,
    list_of,
    method,
    option,
    own,
    record,
    result,
    tuple_of,
    variant,
    write_extension,
)

LIB = "test:nest/lib@1.0.0"
USER = "test:nest/user@1.0.0"


def _types(interface: str) -> dict[str, Any]:
    """The nested shapes, their handles of `counter` of LIB (`interface` "" inside LIB itself)."""
    o, b = own("counter", interface), borrow("counter", interface)
    return {
        "rec": record(h=o, n=U32),
        "lst": list_of(o),
        "opt": option(o),
        "optopt": option(option(o)),
        "res": result(o, STRING),
        "optres": option(result(o, BOOL)),  # untagged: None, a resource or a bool
        "optboth": option(result(o, o)),  # the option untagged, its payload a tagged Variant
        "var": variant(("a", o), ("b", U32)),
        "tup": tuple_of(o, U32, o),
        "deep": list_of(record(h=o, tags=list_of(result(o, U32)))),
        "brec": record(n=U32, h=b),  # borrow: parameters only
        "btup": tuple_of(U32, b),
    }


BORROWED = ("brec", "btup")
MINE = _types("")
LIBRARY = iface(
    LIB,
    fn("make", [], own("counter"), New()),
    method("counter", "rep", [], U32, Rep()),
    fn("live", [], U32, Live("counter")),
    fn("dropped", [], U32, Dropped("counter")),
    *(fn(f"echo-{k}", [("x", t)], t, Echo()) for k, t in MINE.items() if k not in BORROWED),
    *(fn(f"rep-{k}", [("x", t)], U32, Rep()) for k, t in MINE.items() if k in BORROWED),
)
THEIRS = _types(LIB)
CONSUMER = ext("user", imports=[LIBRARY], exports=[iface(
    USER,
    fn("make", [], own("counter", LIB), Forward(LIB, "make")),
    fn("rep", [("c", borrow("counter", LIB))], U32, Forward(LIB, "[method]counter.rep")),
    *(fn(f"echo-{k}", [("x", t)], t, Forward(LIB, f"echo-{k}")) for k, t in THEIRS.items() if k not in BORROWED),
    *(fn(f"rep-{k}", [("x", t)], U32, Forward(LIB, f"rep-{k}")) for k, t in THEIRS.items() if k in BORROWED),
)])


def _value(shape: str, mk: Callable[[], Handle]) -> Any:
    """A value of `shape`, in the host's value mapping, with fresh handles from `mk`."""
    return {
        "rec": lambda: {"h": mk(), "n": 7},
        "lst": lambda: [mk(), mk(), mk()],
        "opt": mk,
        "optopt": lambda: {"some": mk()},
        "res": lambda: {"ok": mk()},
        "optres": lambda: {"ok": mk()},
        "optboth": lambda: {"err": mk()},
        "var": lambda: {"tag": "a", "value": mk()},
        "tup": lambda: (mk(), 3, mk()),
        "deep": lambda: [{"h": mk(), "tags": [{"ok": mk()}, {"err": 4}]}, {"h": mk(), "tags": []}],
    }[shape]()


def _handles(v: Any) -> list[Handle]:
    """The handles in a value, in order."""
    if isinstance(v, Handle):
        return [v]
    if isinstance(v, dict):
        return [h for x in v.values() for h in _handles(x)]
    if isinstance(v, list | tuple):
        return [h for x in v for h in _handles(x)]
    return []


def _shape(v: Any) -> Any:
    """The value with each handle replaced by a marker: what must come back unchanged around them."""
    if isinstance(v, Handle):
        return "<h>"
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shape(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_shape(x) for x in v)
    return v


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("nested")
    write_extension(ext("prov", exports=[LIBRARY]), d)
    write_extension(CONSUMER, d)
    (d / "cache").mkdir()
    return d


@pytest.fixture
def host(folder: Path) -> Iterator[Host]:
    with Host.load(folder / "prov", folder / "user", cache_dir=str(folder / "cache"), timeout_ms=20_000) as h:
        assert h.status == {"prov": "ok", "user": "ok"}, h.diagnostics
        yield h


@pytest.mark.parametrize("via", ["prov", "user"])
@pytest.mark.parametrize("shape", [k for k in MINE if k not in BORROWED])
def test_owned_handles_nested_in_parameters_and_results(host: Host, via: str, shape: str) -> None:
    api = LIB if via == "prov" else USER

    def call(f: str, *args: Any) -> Any:
        return host.call(via, f"{api}#{f}", *args)

    rep = (lambda h: call("[method]counter.rep", h)) if via == "prov" else (lambda h: call("rep", h))
    value = _value(shape, lambda: call("make"))
    sent = _handles(value)
    reps = [rep(h) for h in sent]
    assert len(set(reps)) == len(reps) > 0
    back = call(f"echo-{shape}", value)
    assert not any(h.live for h in sent)  # passed as own: given away
    got = _handles(back)
    assert _shape(back) == _shape(value)
    assert [rep(h) for h in got] == reps  # the provider's own resources came back, in place
    assert host.call("prov", f"{LIB}#live") == len(reps)
    for h in got:
        h.drop()
    assert host.call("prov", f"{LIB}#live") == 0 and host.call("prov", f"{LIB}#dropped") == len(reps)
    assert host.held_handles("prov") == {}


@pytest.mark.parametrize("via", ["prov", "user"])
def test_borrowed_handles_nested_in_records_and_tuples(host: Host, via: str) -> None:
    api = LIB if via == "prov" else USER
    a, b = host.call(via, f"{api}#make"), host.call(via, f"{api}#make")
    assert host.call(via, f"{api}#rep-brec", {"n": 1, "h": b}) == 2
    assert host.call(via, f"{api}#rep-btup", (9, a)) == 1
    assert a.live and b.live  # lent for the call only
    a.drop()
    b.drop()
    assert host.call("prov", f"{LIB}#live") == 0 and host.held_handles("prov") == {}


def test_a_nested_handle_of_the_wrong_extension_is_refused_and_nothing_leaks(host: Host) -> None:
    from harness.model._errors import BadArgumentsError
    theirs = host.call("prov", f"{LIB}#make")  # a handle of prov, given to user's function
    with pytest.raises(BadArgumentsError, match="was given where"):
        host.call("user", f"{USER}#echo-rec", {"h": theirs, "n": 1})
    assert theirs.live
    theirs.drop()
    assert host.call("prov", f"{LIB}#live") == 0


@pytest.mark.parametrize("via", ["prov", "user"])
@pytest.mark.parametrize(("shape", "value"), [("opt", None), ("optopt", {"some": None}), ("optopt", None),
                                             ("res", {"err": "no"}), ("optres", {"err": True}),
                                             ("var", {"tag": "b", "value": 3}),
                                             ("lst", []), ("deep", [])])
def test_the_cases_without_a_handle_pass_too(host: Host, via: str, shape: str, value: Any) -> None:
    api = LIB if via == "prov" else USER
    assert host.call(via, f"{api}#echo-{shape}", value) == value
    assert host.call("prov", f"{LIB}#live") == 0 and host.held_handles("prov") == {}
