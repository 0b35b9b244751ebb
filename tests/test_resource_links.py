"""Resources across a link: a provider's destructor that traps when a consumer drops its handle,
and a function taking two borrows."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from harness.model._errors import CallError
from harness.runtime._host import Host
from harness.testing import U32, Forward, Live, New, Reps, borrow, ext, fn, iface, own, write_extension

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host"
USER = "test:res/user@1.0.0"
DTOR = '(func (export "dtor") (param $rep i32)\n'
# the destructor traps for a counter whose value is 13
TRAPPING = DTOR + ('      (if (i32.eq (i32.load offset=4 (i32.mul (local.get $rep) (i32.const 8))) (i32.const 13))\n'
                   '        (then unreachable))\n')


def test_a_trapping_destructor_fails_the_dropping_call_and_the_provider_restarts(tmp_path: Path) -> None:
    wat = (HOST / "counter.wat").read_text()
    assert DTOR in wat
    (tmp_path / "counter.wat").write_text(wat.replace(DTOR, TRAPPING))
    shutil.copy(HOST / "counter_user.wat", tmp_path / "counter_user.wat")
    with Host.load(tmp_path, cache_dir=str(tmp_path / ".cache")) as host:
        assert not host.errors, host.errors
        assert host.call("counter_user", f"{USER}#run", 1) == 4  # made, bumped three times, dropped
        with pytest.raises(CallError) as info:
            host.call("counter_user", f"{USER}#run", 10)  # dropped at 13: the destructor traps
        err = info.value
        assert (err.code, err.extension) == ("trap", "counter")
        assert err.function == "test:res/counter#[dtor]counter"
        assert "unreachable" in err.message
        assert err.chain[0] == f"counter_user:{USER}#run"
        # both go on: the provider restarted, the consumer's next call makes a fresh counter
        assert host.call("counter_user", f"{USER}#run", 1) == 4
        assert host.call("counter", "test:res/counter@1.0.0#dropped") == 1  # in the new instance
        assert any(e.kind == "restart" and e.extension == "counter" for e in host.events)


def test_two_borrows_in_one_call_reach_the_provider_through_a_link_and_from_python(tmp_path: Path) -> None:
    """Each borrow is translated to the provider's own resource (Reps sums the reps it sees)."""
    lib_name = "test:res/counter@1.0.0"
    lib = iface(lib_name, fn("make", [("start", U32)], own("counter"), New()),
                fn("both", [("a", borrow("counter")), ("b", borrow("counter"))], U32, Reps()),
                fn("live", [], U32, Live("counter")))
    mine, lent = own("counter", lib_name), borrow("counter", lib_name)
    user = ext("user", imports=[lib], exports=[iface(
        USER, fn("make", [("start", U32)], mine, Forward(lib_name, "make")),
        fn("both", [("a", lent), ("b", lent)], U32, Forward(lib_name, "both")))])
    write_extension(ext("prov", exports=[lib]), tmp_path)
    write_extension(user, tmp_path)
    with Host.load(tmp_path / "prov", tmp_path / "user", cache_dir=str(tmp_path / ".cache")) as host:
        a, b = host.call("user", f"{USER}#make", 1), host.call("user", f"{USER}#make", 2)
        assert host.call("user", f"{USER}#both", a, b) == 1 + 2  # the provider's reps 1 and 2
        assert host.call("user", f"{USER}#both", b, b) == 2 + 2
        pa, pb = host.call("prov", f"{lib_name}#make", 5), host.call("prov", f"{lib_name}#make", 6)
        assert host.call("prov", f"{lib_name}#both", pa, pb) == 3 + 4
        assert host.call("prov", f"{lib_name}#live") == 4
        for h in (a, b, pa, pb):
            h.drop()
        assert host.call("prov", f"{lib_name}#live") == 0


def test_handle_numbers_that_come_round_again_skip_those_in_use(tmp_path: Path) -> None:
    """Before: after 2**32 handles a number still held was handed out again, and the held handle
    then named the new resource, or went stale when that one was dropped."""
    shutil.copy(HOST / "counter.wat", tmp_path / "counter.wat")
    shutil.copy(HOST / "counter_user.wat", tmp_path / "counter_user.wat")
    with Host.load(tmp_path, cache_dir=str(tmp_path / ".cache")) as host:
        host.call("counter_user", f"{USER}#hold", 5)  # the consumer keeps a counter: host number 1
        (table,) = host._handle_tables.values()
        assert list(table.entries) == [1]
        table._reps = itertools.count(2**32 + 1)  # the next number would be 1 again
        assert host.call("counter_user", f"{USER}#run", 1) == 4  # made, bumped, dropped meanwhile
        assert host.call("counter_user", f"{USER}#poke") == 6  # still the held counter (5 + 1)
        assert list(table.entries) == [1]
