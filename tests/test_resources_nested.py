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
    Reps,
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
        "blst": list_of(b),
        "bopt": option(b),
        "bvar": variant(("n", U32), ("a", b)),
        "bdeep": list_of(record(h=b, o=option(o), rs=list_of(result(b, o)))),  # borrows and owns mixed
    }


BORROWED = ("brec", "btup", "blst", "bopt", "bvar", "bdeep")
MINE = _types("")
LIBRARY = iface(
    LIB,
    fn("make", [], own("counter"), New()),
    method("counter", "rep", [], U32, Rep()),
    fn("live", [], U32, Live("counter")),
    fn("dropped", [], U32, Dropped("counter")),
    *(fn(f"echo-{k}", [("x", t)], t, Echo()) for k, t in MINE.items() if k not in BORROWED),
    *(fn(f"rep-{k}", [("x", t)], U32, Reps()) for k, t in MINE.items() if k in BORROWED),
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


BORROW_VALUES: dict[str, Callable[[Callable[[], Handle]], Any]] = {
    "brec": lambda mk: {"n": 1, "h": mk()},
    "btup": lambda mk: (9, mk()),
    "blst": lambda mk: [mk(), mk(), mk()],
    "bopt": lambda mk: mk(),
    "bvar": lambda mk: {"tag": "a", "value": mk()},
    "bdeep": lambda mk: [{"h": mk(), "o": mk(), "rs": [{"ok": mk()}, {"err": mk()}]}, {"h": mk(), "o": None, "rs": []}],
}


@pytest.mark.parametrize("via", ["prov", "user"])
@pytest.mark.parametrize("shape", BORROWED)
def test_borrowed_handles_nested_anywhere_in_parameters(host: Host, via: str, shape: str) -> None:
    """The provider sums the reps it was lent or given (and drops what it owns); a forwarding consumer
    drops the borrows it was lent, wherever they sit, or wasmtime would trap its call."""
    api = LIB if via == "prov" else USER
    value = BORROW_VALUES[shape](lambda: host.call(via, f"{api}#make"))
    handles = _handles(value)
    reps = [host.call(via, f"{api}#{'[method]counter.rep' if via == 'prov' else 'rep'}", h) for h in handles]
    assert host.call(via, f"{api}#rep-{shape}", value) == sum(reps)
    kinds = _kinds(MINE[shape], value)
    assert [h.live for h in handles] == [k == "borrow" for k in kinds]  # lent for the call, or given
    for h in handles:
        h.drop()
    assert host.call("prov", f"{LIB}#live") == 0 and host.call("prov", f"{LIB}#dropped") == len(handles)
    assert host.held_handles("prov") == {}


def _kinds(t: Any, v: Any) -> list[str]:
    """The handle kinds of the handles in `v` (a value of `t`), in order."""
    from harness.model._witypes import HandleT, ListT, OptionT, RecordT, ResultT, TupleT, VariantT
    if isinstance(t, HandleT):
        return [t.kind]
    if isinstance(t, ListT):
        return [k for x in v for k in _kinds(t.element, x)]
    if isinstance(t, OptionT):
        return [] if v is None else _kinds(t.payload, v)
    if isinstance(t, ResultT):
        [(tag, x)] = v.items()
        return _kinds(t.ok if tag == "ok" else t.err, x)
    if isinstance(t, VariantT):
        return _kinds(dict(t.cases)[v["tag"]], v["value"])
    if isinstance(t, TupleT):
        return [k for e, x in zip(t.elements, v, strict=True) for k in _kinds(e, x)]
    if isinstance(t, RecordT):
        return [k for n, f in t.fields for k in _kinds(f, v[n])]
    return []


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
