"""A provider's resource destructor that traps when a consumer drops its handle across a link."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.model._errors import CallError
from harness.runtime._host import Host

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
