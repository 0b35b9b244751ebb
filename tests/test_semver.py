"""The linker's semver rule, as resolution applies it (same rule as wasmtime's linker)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.model._names import InterfaceName, classify
from harness.model._records import Analysed, Candidate, Endpoint, Link, Manifest
from harness.model._witypes import FuncT, InstanceT, Prim
from harness.pipeline._resolve import resolve

LIB = InstanceT((("f", FuncT((("x", Prim("u32")),), Prim("u32"))),))


def mk(name: str, exports: Iterable[str] = (), imports: Iterable[str] = ()) -> Analysed:
    cand = Candidate(name, Path(name), Path(name) / "c.wasm", "wasm", Manifest(name=name))
    return Analysed(cand, name,
                    tuple(Endpoint(n, classify(n), LIB) for n in imports),
                    tuple(Endpoint(n, classify(n), LIB) for n in exports))


# (imported version, exported version, served?, older-provider warning?); "" = unversioned
ROWS = [
    ("1.2.3", "1.0.0", True, True),
    ("1.2.3", "1.2.3", True, False),
    ("1.2.3", "1.2.4", True, False),
    ("1.2.3", "1.9.9", True, False),
    ("1.2.3", "2.0.0", False, False),
    ("1.2.3", "0.2.3", False, False),
    ("2.0.0", "1.9.9", False, False),
    ("0.2.3", "0.2.0", True, True),
    ("0.2.3", "0.2.9", True, False),
    ("0.2.3", "0.3.0", False, False),
    ("0.2.3", "1.2.3", False, False),
    ("0.2.0", "0.2.0+build.5", True, False),
    ("0.0.1", "0.0.1", True, False),
    ("0.0.1", "0.0.2", False, False),
    ("0.0.2", "0.0.1", False, False),
    ("1.0.0-rc.1", "1.0.0-rc.1", True, False),
    ("1.0.0-rc.1", "1.0.0-rc.2", False, False),
    ("1.0.0-rc.1", "1.0.0", False, False),
    ("1.0.0", "1.0.0-rc.1", False, False),
    ("1.0.0", "1.1.0-alpha", False, False),
    ("", "", True, False),
    ("", "1.0.0", False, False),
    ("1.0.0", "", False, False),
    ("", "0.0.1", False, False),
]


def _name(version: str) -> str:
    return "ext:p/lib" + (f"@{version}" if version else "")


@pytest.mark.parametrize(("imported", "exported", "served", "older"), ROWS)
def test_semver_rule(imported: str, exported: str, served: bool, older: bool) -> None:
    imp, exp = InterfaceName.parse(_name(imported)), InterfaceName.parse(_name(exported))
    assert imp is not None and exp is not None
    assert imp.compatible_with(exp) is served

    res = resolve([mk("p", exports=[_name(exported)]), mk("c", imports=[_name(imported)])])
    got = [d.code for d in res.diagnostics]
    if served:
        assert res.links == (Link("c", _name(imported), "p", _name(exported)),)
        assert got == (["older-provider"] if older else [])
        assert res.load_order == ("p", "c")
    else:
        assert got == ["missing-import"]
        assert res.status["c"] == "error"
        assert res.diagnostics[0].details["near_misses"][0]["name"] == _name(exported)


@pytest.mark.parametrize(("imported", "chosen"), [
    ("1.2.3", "1.9.9"),
    ("1.0.0", "1.9.9"),
    ("2.0.0", "2.0.0"),
    ("0.2.3", "0.2.7"),
    ("0.3.0", None),
    ("0.0.1", "0.0.1"),
    ("0.0.2", None),
    ("1.0.0-rc.1", "1.0.0-rc.1"),
    ("", None),
])
def test_newest_compatible_export_is_chosen(imported: str, chosen: str | None) -> None:
    versions = ["1.0.0", "1.9.9", "1.2.0", "2.0.0", "0.2.0", "0.2.7", "0.0.1", "1.0.0-rc.1", "1.10.0-rc.1"]
    res = resolve([mk("p", exports=[_name(v) for v in versions]), mk("c", imports=[_name(imported)])])
    if chosen is None:
        assert [d.code for d in res.diagnostics] == ["missing-import"]
    else:
        assert res.links == (Link("c", _name(imported), "p", _name(chosen)),)


def test_numeric_not_lexical_ordering() -> None:
    res = resolve([mk("p", exports=["ext:p/lib@1.9.0", "ext:p/lib@1.10.0"]),
                   mk("c", imports=["ext:p/lib@1.0.0"])])
    assert res.links[0].export_name == "ext:p/lib@1.10.0"


@pytest.mark.parametrize("text", [
    "ext:a/b", "ext:a/b@", "ext:a/b@1", "ext:a/b@1.2.3", "ext:a/b@1.2.3-rc.1+x", "ext:a/b@@1.0.0",
    "ext:a/b@1.0.0@2", "wasi:io/streams@0.2.0", "a:b:c/d@0.0.1", "%ext:a/b@1.0.0", "Ext:a/b",
    "ext:a@1.0.0/b", "plain", "ext:a/b@01.0.0", "ext:a/b@1.0.0-", "x:y/z@1.0.0+build",
])
def test_cached_name_parsing_matches_interface_name_parse(text: str) -> None:
    from harness.pipeline._resolve import _parse

    assert _parse(text) == InterfaceName.parse(text)
    assert _parse(text) == InterfaceName.parse(text)  # cached


@given(st.text(alphabet="ab:/@.-+01%x", max_size=24))
def test_cached_name_parsing_matches_on_random_text(text: str) -> None:
    from harness.pipeline._resolve import _parse

    assert _parse(text) == InterfaceName.parse(text)


@pytest.mark.parametrize("text", ["ext:js/lib@1.0.0\n", "ext:js/lib\n", "ext:js/lib@1.0.0 "])
def test_names_with_trailing_whitespace_are_not_interface_names(text: str) -> None:
    assert InterfaceName.parse(text) is None
