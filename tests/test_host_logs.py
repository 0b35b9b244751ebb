"""`ext:host/log` is bounded: a ring of records with a per-message cap and a dropped count,
and Python's `logging` gets the same capped text with control characters escaped.

Memory-safe by construction: the floods are 2000 × 64 KiB (128 MB if nothing were bounded),
and the assertions are on lengths and counts, not on the process's memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.model._errors import UsageError
from harness.model._hostconfig import HostConfig
from harness.runtime._host import Host

CHATTY = Path(__file__).resolve().parent.parent / "fixtures" / "wat" / "host" / "chatty.wat"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _load(cache_dir: Path, **config: object) -> Host:
    host = Host.load(CHATTY, cache_dir=str(cache_dir), **config)  # type: ignore[arg-type]
    assert not host.errors, host.errors
    return host


@pytest.fixture
def small(cache_dir: Path) -> Iterator[Host]:
    with _load(cache_dir, max_log_records=100, max_log_message=1000) as host:
        yield host


def test_a_flood_of_long_messages_keeps_the_newest_records_cut_to_the_cap(small: Host) -> None:
    """Before: every record was kept whole (2000 × 1 MiB reached 2 GB)."""
    small.call("chatty", "repeat", "x" * 65536, 2000)
    assert len(small.logs) == 100
    assert small.logs_dropped == 1900
    marker = "… [truncated: 64536 more characters]"
    for record in small.logs:
        assert record.message == "x" * 1000 + marker
        assert record.truncated == 64536
        assert (record.extension, record.level) == ("chatty", "info")
    small.call("chatty", "repeat", "the last word", 1)
    assert small.logs[-1].message == "the last word"
    assert small.logs[-1].truncated == 0
    assert len(small.logs) == 100 and small.logs_dropped == 1901


def test_a_message_at_the_cap_is_kept_whole(small: Host) -> None:
    small.call("chatty", "repeat", "é" * 1000, 1)
    assert small.logs[-1].message == "é" * 1000
    assert small.logs[-1].truncated == 0


def test_the_default_bounds(cache_dir: Path) -> None:
    with _load(cache_dir) as host:
        assert host.logs.maxlen == 10_000
        host.call("chatty", "repeat", "y" * (1 << 20), 3)
        assert [len(r.message) for r in host.logs] == [4096 + len("… [truncated: 1044480 more characters]")] * 3
        assert host.logs_dropped == 0


def test_no_records_kept_with_zero_but_every_one_counted(cache_dir: Path) -> None:
    with _load(cache_dir, max_log_records=0) as host:
        host.call("chatty", "repeat", "z", 7)
        assert list(host.logs) == []
        assert host.logs_dropped == 7


def test_python_logging_gets_the_capped_text_with_controls_escaped(small: Host,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="harness.host")
    small.call("chatty", "repeat", "\x1b[2J\x1b]0;owned\x07" + "w" * 5000, 1)
    (record,) = [r for r in caplog.records if r.name == "harness.host"]
    text = record.getMessage()
    # 14 control-laden characters + 986 w = the 1000 kept; 4014 cut
    assert text == "[chatty] \\x1b[2J\\x1b]0;owned\\x07" + "w" * 986 + "… [truncated: 4014 more characters]"
    assert "\x1b" not in text
    assert small.logs[-1].message.startswith("\x1b[2J")  # the record keeps the guest's text, cut


@pytest.mark.parametrize(("option", "value"), [
    ("max_log_records", -1), ("max_log_records", True), ("max_log_records", 10**8), ("max_log_records", 1.5),
    ("max_log_message", 0), ("max_log_message", 63), ("max_log_message", 2**40), ("max_log_message", None),
])
def test_log_bounds_are_range_checked(option: str, value: object) -> None:
    with pytest.raises(UsageError, match=f"Host option {option} must be an integer from"):
        HostConfig.from_kwargs({option: value})
