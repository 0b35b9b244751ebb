"""The generated argument lowering: every scalar kind arrives intact, bad values are refused by name."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness import BadArgumentsError, Host
from harness.testing import (
    BOOL,
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Forward,
    ext,
    fn,
    iface,
    write_extension,
)

PARAMS = [("a", BOOL), ("b", S8), ("c", U8), ("d", S16), ("e", U16), ("f", S32), ("g", U32), ("h", S64),
          ("i", U64), ("j", F32), ("k", F64)]
SINK = "t:sink/all@1.0.0"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("fast")
    sink = iface(SINK, fn("take", PARAMS, U32))
    write_extension(ext("scalars", exports=[iface("t:scalars/lib@1.0.0", fn("take", PARAMS, U32,
                                                                        Forward(SINK, "take")))],
                        imports=[sink]), folder)
    received: list[tuple[Any, ...]] = []

    def take(*args: Any) -> int:
        received.append(args)
        return len(received)

    with Host.load(folder, cache_dir=str(folder / "cache"), interfaces={SINK: {"take": take}}) as h:
        yield h, received


EDGES = [
    (True, -128, 255, -32768, 65535, -(2**31), 2**32 - 1, -(2**63), 2**64 - 1, 1.5, -0.0),
    (False, 127, 0, 32767, 0, 2**31 - 1, 0, 2**63 - 1, 0, -3.25, 1e308),
    (True, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9),  # ints where floats are expected
]


@pytest.mark.parametrize("args", EDGES)
def test_every_scalar_kind_arrives_intact(loaded: Any, args: tuple[Any, ...]) -> None:
    host, received = loaded
    n = host.call("scalars", "take", *args)
    got = received[n - 1]
    assert got[:9] == args[:9]
    assert math.isclose(got[9], args[9], rel_tol=1e-6) and got[10] == args[10]
    assert all(type(g) is bool for g in got[:1]) and all(type(g) is int for g in got[1:9])


@pytest.mark.parametrize(("index", "value", "problem"), [
    (0, 1, "expected a bool"),
    (1, 128, "s8 range"),
    (2, -1, "u8 range"),
    (6, 2**32, "u32 range"),
    (7, True, "expected an integer"),
    (8, 1.0, "expected an integer"),
    (10, "1", "expected a number"),
    (9, None, "expected a number"),
])
def test_bad_values_are_refused_naming_the_parameter(loaded: Any, index: int, value: Any, problem: str) -> None:
    host, received = loaded
    args = list(EDGES[2])
    args[index] = value
    before = len(received)
    with pytest.raises(BadArgumentsError) as e:
        host.call("scalars", "take", *args)
    assert f"argument {PARAMS[index][0]!r}" in e.value.message and problem in e.value.message
    assert len(received) == before  # nothing reached the guest
    assert host.call("scalars", "take", *EDGES[2]) == before + 1


def test_generated_code_has_a_file_name_and_its_lines_in_tracebacks() -> None:
    """Like dataclasses' generated methods: a traceback through the fast path shows the generated
    line, under a name saying what generated it, not `File "<string>"` with nothing to read."""
    import linecache
    import traceback

    from wasmtime import component as wc

    from harness.runtime._fastpath import ArgumentProblem, compile_lift, compile_lower

    for params in ((wc.U32(),), (wc.String(), wc.U32())):
        lower, _ = compile_lower(params, None)
        with pytest.raises(ArgumentProblem) as e:
            lower(tuple("x" if isinstance(p, wc.U32) else "ok" for p in params))
        frames = [f for f in traceback.extract_tb(e.value.__traceback__) if f.filename.startswith("<ext-harness")]
        assert frames, [f.filename for f in traceback.extract_tb(e.value.__traceback__)]
        assert all(f.filename.startswith("<ext-harness fastpath") for f in frames)
        linecache.checkcache()  # the entries are not dropped as stale files
        assert "raise Problem(" in linecache.getline(frames[-1].filename, frames[-1].lineno or 0)
        assert "raise Problem(" in "".join(traceback.format_exception(e.value))
    lift = compile_lift(wc.U32())
    assert lift is not None and lift.__code__.co_filename.startswith("<ext-harness fastpath lift")
    one = {k for k in linecache.cache if str(k).startswith("<ext-harness fastpath lower")}
    compile_lower((wc.U32(),), None)
    assert {k for k in linecache.cache if str(k).startswith("<ext-harness fastpath lower")} == one  # no growth
