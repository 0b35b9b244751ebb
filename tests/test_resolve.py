"""Resolution: linking library imports, cycles, blocking, load order."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from harness.model._diagnostics import Diagnostic
from harness.model._names import classify
from harness.model._records import Analysed, Candidate, Endpoint, Link, Manifest, Resolution
from harness.model._witypes import FuncT, InstanceT, Item, Prim
from harness.pipeline._graph import cycle_through, strongly_connected, topological_order
from harness.pipeline._resolve import resolve

U32 = Prim("u32")
LIB = InstanceT((("f", FuncT((("x", U32),), U32)),))

Spec = str | tuple[str, Item]


def mk(name: str, exports: Iterable[Spec] = (), imports: Iterable[Spec] = (),
       provides: Mapping[str, str] | None = None) -> Analysed:
    """An analysed extension in one line: endpoints are names (default interface) or (name, item)."""

    def endpoints(specs: Iterable[Spec]) -> tuple[Endpoint, ...]:
        out = []
        for s in specs:
            n, item = (s, LIB) if isinstance(s, str) else s
            out.append(Endpoint(n, classify(n), item))
        return tuple(out)

    manifest = Manifest(name=name, provides=dict(provides or {}))
    cand = Candidate(name, Path(name), Path(name) / "c.wasm", "wasm", manifest)
    return Analysed(cand, f"digest-{name}", endpoints(imports), endpoints(exports))


def fail(name: str, code: str = "invalid-component") -> Diagnostic:
    return Diagnostic(code, f"{name} is broken", name)


def codes(res: Resolution, ext: str) -> list[str]:
    return [d.code for d in res.diagnostics if d.extension == ext]


def only(res: Resolution, ext: str, code: str) -> Diagnostic:
    found = [d for d in res.diagnostics if d.extension == ext and d.code == code]
    assert len(found) == 1, res.diagnostics
    return found[0]


# ------------------------------------------------------------------ happy paths

def test_chain_loads_providers_first() -> None:
    res = resolve([
        mk("alpha", imports=["ext:mid/lib@1.0.0"]),
        mk("mid", exports=["ext:mid/lib@1.0.0"], imports=["ext:zeta/lib@1.0.0"]),
        mk("zeta", exports=["ext:zeta/lib@1.0.0"]),
    ])
    assert res.load_order == ("zeta", "mid", "alpha")
    assert res.links == (
        Link("alpha", "ext:mid/lib@1.0.0", "mid", "ext:mid/lib@1.0.0"),
        Link("mid", "ext:zeta/lib@1.0.0", "zeta", "ext:zeta/lib@1.0.0"),
    )
    assert dict(res.status) == {"alpha": "ok", "mid": "ok", "zeta": "ok"}
    assert res.diagnostics == ()
    assert res.links_of("mid") == (Link("mid", "ext:zeta/lib@1.0.0", "zeta", "ext:zeta/lib@1.0.0"),)


def test_diamond_and_ties_broken_by_name() -> None:
    res = resolve([
        mk("top", imports=["ext:left/lib@1.0.0", "ext:right/lib@1.0.0"]),
        mk("right", exports=["ext:right/lib@1.0.0"], imports=["ext:base/lib@1.0.0"]),
        mk("left", exports=["ext:left/lib@1.0.0"], imports=["ext:base/lib@1.0.0"]),
        mk("base", exports=["ext:base/lib@1.0.0"]),
        mk("aaa-standalone"),
    ])
    assert res.load_order == ("aaa-standalone", "base", "left", "right", "top")
    assert len(res.links) == 4
    assert res.diagnostics == ()


def test_wasi_and_host_imports_are_not_resolved() -> None:
    res = resolve([mk("a", imports=["wasi:cli/environment@0.2.0", "ext:host/log@0.1.0"])])
    assert res.status["a"] == "ok" and res.links == () and res.diagnostics == ()


def test_newest_export_of_one_provider_wins() -> None:
    res = resolve([
        mk("p", exports=["ext:p/lib@1.0.0", "ext:p/lib@1.4.0", "ext:p/lib@2.0.0"]),
        mk("c", imports=["ext:p/lib@1.2.0"]),
    ])
    assert res.links == (Link("c", "ext:p/lib@1.2.0", "p", "ext:p/lib@1.4.0"),)
    assert res.diagnostics == ()


# ------------------------------------------------------------------ version skew

def test_older_compatible_provider_is_a_warning() -> None:
    res = resolve([mk("p", exports=["ext:p/lib@1.1.0"]), mk("c", imports=["ext:p/lib@1.2.0"])])
    d = only(res, "c", "older-provider")
    assert d.severity == "warning" and d.subject == "ext:p/lib@1.2.0"
    assert d.message == "c imports ext:p/lib@1.2.0, served by p's older ext:p/lib@1.1.0"
    assert d.details["provided_version"] == "1.1.0"
    assert res.status == {"c": "ok", "p": "ok"}
    assert res.load_order == ("p", "c")
    assert res.links == (Link("c", "ext:p/lib@1.2.0", "p", "ext:p/lib@1.1.0"),)


def test_newer_compatible_provider_is_silent() -> None:
    res = resolve([mk("p", exports=["ext:p/lib@1.9.0"]), mk("c", imports=["ext:p/lib@1.2.0"])])
    assert res.diagnostics == () and res.load_order == ("p", "c")


def test_incompatible_version_is_missing_with_near_miss() -> None:
    res = resolve([mk("p", exports=["ext:p/lib@2.0.0"]), mk("c", imports=["ext:p/lib@1.2.0"])])
    d = only(res, "c", "missing-import")
    assert d.message == ("c imports ext:p/lib@1.2.0, but no extension exports a compatible version; "
                         "near misses: ext:p/lib@2.0.0 from p (incompatible version)")
    assert d.details["near_misses"] == [
        {"name": "ext:p/lib@2.0.0", "provider": "p", "kind": "incompatible-version"}]
    assert "ext:p/lib@2.0.0" in d.hint
    assert res.status == {"c": "error", "p": "ok"} and res.load_order == ("p",)


# ------------------------------------------------------------------ missing imports

@pytest.mark.parametrize(("imported", "exported", "kind"), [
    ("ext:js/lib@0.2.0", "ext:js/lib@0.3.0", "incompatible-version"),
    ("ext:js/lib@0.2.0", "ext:js/lib", "unversioned"),
    ("ext:js/lib", "ext:js/lib@0.2.0", "versioned"),
    ("ext:js/lib@0.2.0", "other:js/lib@0.2.0", "other-package"),
    ("ext:js/lib@0.2.0", "ext:jsx/lib@0.2.0", "other-package"),
    ("ext:js/lib@0.2.0", "ext:js/eval@0.2.0", "other-interface"),
])
def test_missing_import_near_misses(imported: str, exported: str, kind: str) -> None:
    res = resolve([mk("prov", exports=[exported]), mk("app", imports=[imported])])
    d = only(res, "app", "missing-import")
    assert d.subject == imported
    assert d.details["near_misses"] == [{"name": exported, "provider": "prov", "kind": kind}]
    assert f"{exported} from prov" in d.message
    assert res.status["app"] == "error" and res.status["prov"] == "ok"


def test_missing_import_without_near_miss_and_failed_hint() -> None:
    res = resolve([mk("app", imports=["ext:js/lib@0.2.0"])], failed={"broken": fail("broken")})
    d = only(res, "app", "missing-import")
    assert d.details["near_misses"] == []
    assert d.details["failed_earlier"] == ["broken"]
    assert d.message == ("app imports ext:js/lib@0.2.0, but no extension exports a compatible version "
                         "(extensions that failed earlier, which may provide it: broken)")
    assert d.hint  # the code's default hint
    assert res.status == {"app": "error", "broken": "error"}


def test_near_miss_tiers() -> None:
    res = resolve([
        mk("a", exports=["aaa:x/lib@1.0.0"]),        # same interface name, other package
        mk("b", exports=["ext:js/aaa@1.0.0"]),       # same package, other interface
        mk("z", exports=["zzz:js/lib@1.0.0"]),       # same package and interface, other namespace
        mk("v", exports=["ext:js/lib@2.0.0"]),       # other version
        mk("app", imports=["ext:js/lib@1.0.0"]),
    ])
    misses = only(res, "app", "missing-import").details["near_misses"]
    assert [m["name"] for m in misses] == [
        "ext:js/lib@2.0.0", "zzz:js/lib@1.0.0", "aaa:x/lib@1.0.0", "ext:js/aaa@1.0.0"]
    assert [m["kind"] for m in misses] == [
        "incompatible-version", "other-package", "other-package", "other-interface"]


def test_near_misses_leave_out_the_importers_own_exports() -> None:
    """With the usual `ns:pkg/lib` naming every extension's own export is an `other-package` miss."""
    res = resolve([
        mk("shout-js", exports=["me:shout/lib@0.2.0", "me:words/lib@9.0.0"], imports=["me:words/lib@0.1.0"]),
        mk("other", exports=["me:other/lib@1.0.0"]),
    ])
    d = only(res, "shout-js", "missing-import")
    assert d.details["near_misses"] == [{"name": "me:other/lib@1.0.0", "provider": "other", "kind": "other-package"}]
    assert "from shout-js" not in d.message


def test_near_misses_are_capped_and_ranked() -> None:
    exts = [mk(f"p{i}", exports=[f"ext:p{i}/lib@1.0.0"]) for i in range(20)]
    exts.append(mk("v", exports=["ext:js/lib@9.0.0"]))
    res = resolve([*exts, mk("app", imports=["ext:js/lib@1.0.0"])])
    misses = only(res, "app", "missing-import").details["near_misses"]
    assert len(misses) == 5
    assert misses[0] == {"name": "ext:js/lib@9.0.0", "provider": "v", "kind": "incompatible-version"}
    assert all(m["kind"] == "other-package" for m in misses[1:])


# ------------------------------------------------------------------ types

def _js(param_type: str) -> InstanceT:
    return InstanceT((
        ("evaluate", FuncT((("expr", Prim(param_type)),), Prim("string"))),
        ("version", FuncT((), Prim("string"))),
    ))


def test_type_mismatch_message_is_exact() -> None:
    res = resolve([
        mk("ext-js", exports=[("ext:js/lib@0.2.1", _js("u32"))]),
        mk("app", imports=[("ext:js/lib@0.2.0", _js("string"))]),
        mk("user", imports=["ext:app/lib@1.0.0"]),
        mk("app2", exports=["ext:app/lib@1.0.0"]),
    ])
    d = only(res, "app", "type-mismatch")
    assert d.message == ("app's import ext:js/lib@0.2.0 does not match ext-js's export ext:js/lib@0.2.1: "
                         "ext:js/lib@0.2.0#evaluate → param expr: expected string, found u32")
    assert d.details["path"] == "ext:js/lib@0.2.0#evaluate → param expr"
    assert d.details["difference"] == "expected string, found u32"
    assert d.subject == "ext:js/lib@0.2.0"
    assert res.status["app"] == "error"
    assert res.links == (Link("user", "ext:app/lib@1.0.0", "app2", "ext:app/lib@1.0.0"),)


def test_functions_not_imported_are_not_compared() -> None:
    imported = InstanceT((("version", FuncT((), Prim("string"))),))
    res = resolve([
        mk("ext-js", exports=[("ext:js/lib@0.2.1", _js("u32"))]),
        mk("app", imports=[("ext:js/lib@0.2.0", imported)]),
    ])
    assert res.diagnostics == () and res.load_order == ("ext-js", "app")


def test_function_missing_in_provider() -> None:
    wanted = InstanceT((("nope", FuncT((), None)),))
    res = resolve([mk("p", exports=["ext:p/lib@1.0.0"]), mk("c", imports=[("ext:p/lib@1.0.0", wanted)])])
    d = only(res, "c", "type-mismatch")
    assert d.message.endswith("ext:p/lib@1.0.0#nope: missing in provider (expected func())")


def test_equal_but_distinct_types_match() -> None:
    a = InstanceT((("f", FuncT((("x", Prim("u32")),), Prim("u32"))),))
    b = InstanceT((("f", FuncT((("x", Prim("u32")),), Prim("u32"))),))
    assert a is not b
    res = resolve([mk("p", exports=[("ext:p/lib@1.0.0", a)]), mk("c", imports=[("ext:p/lib@1.0.0", b)])])
    assert res.diagnostics == ()


# ------------------------------------------------------------------ ambiguity and pins

def test_ambiguity_is_an_error_only_when_imported() -> None:
    provs = [mk("js-a", exports=["ext:js/lib@0.2.1"]), mk("js-b", exports=["ext:js/lib@0.2.5"])]
    quiet = resolve(provs)
    assert quiet.diagnostics == () and quiet.load_order == ("js-a", "js-b")

    res = resolve([*provs, mk("app", imports=["ext:js/lib@0.2.0"])])
    d = only(res, "app", "ambiguous-provider")
    assert d.message == ("app imports ext:js/lib@0.2.0, which 2 extensions export compatibly: "
                         "js-a (ext:js/lib@0.2.1), js-b (ext:js/lib@0.2.5)")
    assert d.hint == 'pin one in app\'s extension.toml: [provides] "ext:js/lib" = "js-a"'
    assert d.details["providers"] == ["js-a", "js-b"]
    assert res.status == {"app": "error", "js-a": "ok", "js-b": "ok"}


def test_incompatible_exports_do_not_make_ambiguity() -> None:
    res = resolve([
        mk("js-a", exports=["ext:js/lib@0.2.1"]), mk("js-b", exports=["ext:js/lib@0.3.0"]),
        mk("app", imports=["ext:js/lib@0.2.0"]),
    ])
    assert res.diagnostics == ()
    assert res.links == (Link("app", "ext:js/lib@0.2.0", "js-a", "ext:js/lib@0.2.1"),)


@pytest.mark.parametrize("key", ["ext:js/lib", "ext:js/lib@0.2.0", "ext:js/lib@0.2.9"])
def test_pin_resolves_ambiguity(key: str) -> None:
    res = resolve([
        mk("js-a", exports=["ext:js/lib@0.2.1"]), mk("js-b", exports=["ext:js/lib@0.2.5"]),
        mk("app", imports=["ext:js/lib@0.2.0"], provides={key: "js-a"}),
    ])
    assert res.diagnostics == ()
    assert res.links == (Link("app", "ext:js/lib@0.2.0", "js-a", "ext:js/lib@0.2.1"),)
    assert res.load_order == ("js-a", "app", "js-b")


def test_versioned_pin_beats_unversioned_pin() -> None:
    res = resolve([
        mk("js-a", exports=["ext:js/lib@0.2.1"]), mk("js-b", exports=["ext:js/lib@0.2.5"]),
        mk("app", imports=["ext:js/lib@0.2.0"], provides={"ext:js/lib": "js-a", "ext:js/lib@0.2.0": "js-b"}),
    ])
    assert res.links == (Link("app", "ext:js/lib@0.2.0", "js-b", "ext:js/lib@0.2.5"),)


def test_bad_pin_to_extension_without_compatible_export() -> None:
    res = resolve([
        mk("js-a", exports=["ext:js/lib@0.2.1"]), mk("js-old", exports=["ext:js/lib@0.1.0"]),
        mk("app", imports=["ext:js/lib@0.2.0"], provides={"ext:js/lib": "js-old"}),
        mk("user", imports=["ext:app/lib@1.0.0"]), mk("app-lib", imports=[]),
    ])
    d = only(res, "app", "bad-pin")
    assert d.message == ("app pins ext:js/lib to js-old for its import ext:js/lib@0.2.0, but js-old does not "
                         "export a version of ext:js/lib compatible with ext:js/lib@0.2.0")
    assert d.hint == 'pin one of the extensions that do: [provides] "ext:js/lib" = "js-a"'
    assert res.status["app"] == "error"


def test_bad_pin_to_unknown_extension() -> None:
    res = resolve([
        mk("js-a", exports=["ext:js/lib@0.2.1"]),
        mk("app", imports=["ext:js/lib@0.2.0"], provides={"ext:js/lib": "ghost"}),
    ])
    d = only(res, "app", "bad-pin")
    assert "no extension is named 'ghost'" in d.message
    assert d.details["target"] == "ghost"


def test_pin_to_failed_extension_blocks() -> None:
    res = resolve([
        mk("js-a", exports=["ext:js/lib@0.2.1"]),
        mk("app", imports=["ext:js/lib@0.2.0"], provides={"ext:js/lib": "js-broken"}),
    ], failed={"js-broken": fail("js-broken", "invalid-component")})
    d = only(res, "app", "blocked-by-dependency")
    assert d.details["dependency"] == "js-broken" and d.details["reason"] == "invalid-component"
    assert res.status == {"app": "blocked", "js-a": "ok", "js-broken": "error"}
    assert res.load_order == ("js-a",)


# ------------------------------------------------------------------ cycles

def test_self_import_is_a_cycle_and_blocks_dependents() -> None:
    res = resolve([
        mk("a", exports=["ext:a/lib@1.0.0"], imports=["ext:a/lib@1.0.0"]),
        mk("b", imports=["ext:a/lib@1.0.0"]),
    ])
    d = only(res, "a", "cycle")
    assert d.details["cycle"] == ["a", "a"]
    assert d.message == "a imports ext:a/lib@1.0.0, which it exports itself: a → a"
    blocked = only(res, "b", "blocked-by-dependency")
    assert blocked.details == {"dependency": "a", "reason": "cycle", "via": ["b", "a"]}
    assert res.status == {"a": "error", "b": "blocked"} and res.load_order == ()
    assert res.links == ()


def test_two_cycle() -> None:
    res = resolve([
        mk("b", exports=["ext:b/lib@1.0.0"], imports=["ext:a/lib@1.0.0"]),
        mk("a", exports=["ext:a/lib@1.0.0"], imports=["ext:b/lib@1.0.0"]),
    ])
    assert only(res, "a", "cycle").details["cycle"] == ["a", "b", "a"]
    assert only(res, "b", "cycle").details["cycle"] == ["a", "b", "a"]
    assert only(res, "b", "cycle").subject == "ext:a/lib@1.0.0"


def test_three_cycle_with_blocked_dependent_and_partial_success() -> None:
    exts = [
        mk("c", exports=["ext:c/lib@1.0.0"], imports=["ext:a/lib@1.0.0"]),
        mk("a", exports=["ext:a/lib@1.0.0"], imports=["ext:b/lib@1.0.0"]),
        mk("b", exports=["ext:b/lib@1.0.0"], imports=["ext:c/lib@1.0.0", "ext:ok/lib@1.0.0"]),
        mk("dep", exports=["ext:dep/lib@1.0.0"], imports=["ext:b/lib@1.0.0"]),
        mk("far", imports=["ext:dep/lib@1.0.0"]),
        mk("ok", exports=["ext:ok/lib@1.0.0"]),
        mk("ok-user", imports=["ext:ok/lib@1.0.0"]),
    ]
    res = resolve(exts)
    for m in "abc":
        d = only(res, m, "cycle")
        assert d.details["cycle"] == ["a", "b", "c", "a"]
        assert "a → b → c → a" in d.message
        assert d.details["members"] == ["a", "b", "c"]
    assert only(res, "a", "cycle").message == (
        "a is part of an import cycle: a → b → c → a (a imports ext:b/lib@1.0.0 from b)")
    far = only(res, "far", "blocked-by-dependency")
    assert far.details == {"dependency": "b", "reason": "cycle", "via": ["far", "dep", "b"]}
    assert far.message == "far is not loaded: it depends on b (via dep), which failed with cycle"
    assert far.subject == "b"
    assert res.status == {"a": "error", "b": "error", "c": "error", "dep": "blocked", "far": "blocked",
                          "ok": "ok", "ok-user": "ok"}
    assert res.load_order == ("ok", "ok-user")
    assert res.links == (Link("ok-user", "ext:ok/lib@1.0.0", "ok", "ext:ok/lib@1.0.0"),)


def test_every_cycle_is_reported() -> None:
    res = resolve([
        mk("a", exports=["ext:a/lib@1.0.0"], imports=["ext:b/lib@1.0.0"]),
        mk("b", exports=["ext:b/lib@1.0.0"], imports=["ext:a/lib@1.0.0"]),
        mk("x", exports=["ext:x/lib@1.0.0"], imports=["ext:y/lib@1.0.0"]),
        mk("y", exports=["ext:y/lib@1.0.0"], imports=["ext:x/lib@1.0.0"]),
    ])
    assert sorted(d.extension or "" for d in res.diagnostics if d.code == "cycle") == ["a", "b", "x", "y"]


def test_member_off_the_shortest_cycle_gets_its_own_path() -> None:
    res = resolve([
        mk("a", exports=["ext:a/lib@1.0.0"], imports=["ext:b/lib@1.0.0"]),
        mk("b", exports=["ext:b/lib@1.0.0"], imports=["ext:a/lib@1.0.0", "ext:c/lib@1.0.0"]),
        mk("c", exports=["ext:c/lib@1.0.0"], imports=["ext:a/lib@1.0.0"]),
    ])
    assert only(res, "a", "cycle").details["cycle"] == ["a", "b", "a"]
    assert only(res, "c", "cycle").details["cycle"] == ["a", "b", "c", "a"]


# ------------------------------------------------------------------ blocking

def test_blocked_by_extension_that_failed_earlier() -> None:
    broken = mk("broken", exports=["ext:broken/lib@1.0.0"], imports=["ext:nowhere/lib@1.0.0"])
    res = resolve([
        broken,
        mk("mid", exports=["ext:mid/lib@1.0.0"], imports=["ext:broken/lib@1.0.0"]),
        mk("top", imports=["ext:mid/lib@1.0.0"]),
        mk("fine"),
    ], failed={"broken": fail("broken", "unsupported-import")})
    assert codes(res, "broken") == []  # its imports are not resolved again
    mid = only(res, "mid", "blocked-by-dependency")
    assert mid.message == "mid is not loaded: it depends on broken, which failed with unsupported-import"
    assert mid.hint == "fix broken (unsupported-import); mid loads once it does"
    top = only(res, "top", "blocked-by-dependency")
    assert top.details == {"dependency": "broken", "reason": "unsupported-import",
                           "via": ["top", "mid", "broken"]}
    assert res.status == {"broken": "error", "fine": "ok", "mid": "blocked", "top": "blocked"}
    assert res.load_order == ("fine",)
    assert res.links == ()


def test_blocked_by_missing_import_of_a_dependency() -> None:
    res = resolve([
        mk("p", exports=["ext:p/lib@1.0.0"], imports=["ext:gone/lib@1.0.0"]),
        mk("c", imports=["ext:p/lib@1.0.0"]),
    ])
    d = only(res, "c", "blocked-by-dependency")
    assert d.details["reason"] == "missing-import"
    assert res.status == {"c": "blocked", "p": "error"}


def test_nearest_failed_dependency_is_named() -> None:
    res = resolve([
        mk("far", exports=["ext:far/lib@1.0.0"], imports=["ext:x/lib@1.0.0"]),
        mk("mid", exports=["ext:mid/lib@1.0.0"], imports=["ext:far/lib@1.0.0"]),
        mk("near", exports=["ext:near/lib@1.0.0"], imports=["ext:y/lib@1.0.0"]),
        mk("top", imports=["ext:mid/lib@1.0.0", "ext:near/lib@1.0.0"]),
    ])
    assert only(res, "top", "blocked-by-dependency").details["dependency"] == "near"
    assert only(res, "mid", "blocked-by-dependency").details["dependency"] == "far"


# ------------------------------------------------------------------ determinism

def _messy_set() -> list[Analysed]:
    return [
        mk("base", exports=["ext:base/lib@1.2.0"]),
        mk("old", exports=["ext:old/lib@1.0.0"]),
        mk("skew", imports=["ext:old/lib@1.3.0", "ext:base/lib@1.0.0"]),
        mk("c1", exports=["ext:c1/lib@1.0.0"], imports=["ext:c2/lib@1.0.0"]),
        mk("c2", exports=["ext:c2/lib@1.0.0"], imports=["ext:c1/lib@1.0.0"]),
        mk("on-cycle", imports=["ext:c2/lib@1.0.0"]),
        mk("miss", exports=["ext:miss/lib@1.0.0"], imports=["ext:base/lib@2.0.0"]),
        mk("on-miss", imports=["ext:miss/lib@1.0.0", "ext:base/lib@1.0.0"]),
        mk("dup1", exports=["ext:dup/lib@1.0.0"]),
        mk("dup2", exports=["ext:dup/lib@1.1.0"]),
        mk("amb", imports=["ext:dup/lib@1.0.0"]),
        mk("pinned", imports=["ext:dup/lib@1.0.0"], provides={"ext:dup/lib": "dup2"}),
    ]


def test_resolution_is_identical_for_every_input_order() -> None:
    exts = _messy_set()
    failed = {"gone": fail("gone")}
    expected = resolve(exts, failed)
    assert expected.status == {
        "amb": "error", "base": "ok", "c1": "error", "c2": "error", "dup1": "ok", "dup2": "ok",
        "gone": "error", "miss": "error", "old": "ok", "on-cycle": "blocked", "on-miss": "blocked",
        "pinned": "ok", "skew": "ok"}
    assert expected.load_order == ("base", "dup1", "dup2", "old", "pinned", "skew")
    rng = random.Random(7)
    orders = list(itertools.permutations(exts[:6])) + [rng.sample(exts, len(exts)) for _ in range(200)]
    for order in orders:
        rest = [e for e in exts if e not in order]
        assert resolve([*order, *rest], failed) == expected


def test_load_order_is_topological_on_random_dags() -> None:
    rng = random.Random(3)
    for _ in range(30):
        n = rng.randint(1, 40)
        exts = []
        for i in range(n):
            deps = rng.sample(range(i), min(i, rng.randint(0, 3)))
            exts.append(mk(f"e{i:02d}", exports=[f"ext:e{i}/lib@1.0.0"],
                           imports=[f"ext:e{d}/lib@1.0.0" for d in deps]))
        res = resolve(rng.sample(exts, n))
        assert res.diagnostics == ()
        pos = {name: i for i, name in enumerate(res.load_order)}
        assert len(pos) == n
        for link in res.links:
            assert pos[link.provider] < pos[link.consumer]


def test_long_chain_does_not_recurse() -> None:
    n = 3000
    exts = [mk(f"e{i:05d}", exports=[f"ext:e{i}/lib@1.0.0"],
               imports=[f"ext:e{i + 1}/lib@1.0.0"] if i + 1 < n else []) for i in range(n)]
    res = resolve(exts)
    assert res.load_order[0] == f"e{n - 1:05d}" and res.load_order[-1] == "e00000"
    last = mk(f"e{n - 1:05d}", exports=[f"ext:e{n - 1}/lib@1.0.0"], imports=["ext:e0/lib@1.0.0"])
    ring = [*exts[:-1], last]
    res = resolve(ring)
    assert all(s == "error" for s in res.status.values())
    d = only(res, "e01234", "cycle")
    assert len(d.details["cycle"]) == n + 1
    assert "e00000 → e00001" in d.message and f"… ({n + 1 - 16} more) …" in d.message
    assert "(e01234 imports ext:e1235/lib@1.0.0 from e01235)" in d.message


def test_unparsable_library_import_is_missing() -> None:
    ext = mk("a")
    bad = Analysed(ext.candidate, ext.digest, (Endpoint("not an interface", "library", LIB),), ())
    res = resolve([bad])
    assert codes(res, "a") == ["missing-import"]


def test_diagnostics_are_sorted() -> None:
    res = resolve(_messy_set())
    keys = [(d.extension or "", d.code, d.subject or "", d.message) for d in res.diagnostics]
    assert keys == sorted(keys)


# ------------------------------------------------------------------ graph helpers

def _brute_sccs(nodes: list[str], succ: dict[str, list[str]]) -> set[frozenset[str]]:
    reach = {n: {n} for n in nodes}
    changed = True
    while changed:
        changed = False
        for n in nodes:
            new = set().union(*(reach[m] for m in succ.get(n, ()) if m in reach)) | reach[n]
            if new != reach[n]:
                reach[n], changed = new, True
    return {frozenset(m for m in nodes if n in reach[m] and m in reach[n]) for n in nodes}


def test_tarjan_matches_brute_force() -> None:
    rng = random.Random(11)
    for _ in range(100):
        nodes = [f"n{i}" for i in range(rng.randint(1, 12))]
        succ = {n: rng.sample(nodes, min(len(nodes), rng.randint(0, 3))) for n in nodes}
        got = strongly_connected(nodes, succ)
        assert {frozenset(c) for c in got} == _brute_sccs(nodes, succ)
        assert sum(len(c) for c in got) == len(nodes)
        for comp in got:
            if len(comp) > 1 or comp[0] in succ[comp[0]]:
                for member, path in cycle_through(comp, succ).items():
                    assert path[0] == path[-1] == comp[0] and member in path
                    assert all(b in succ[a] for a, b in itertools.pairwise(path))


def test_topological_order_smallest_ready_first() -> None:
    deps = {"b": ["z"], "a": ["z"], "z": [], "c": []}
    assert topological_order(deps.keys(), deps) == ["c", "z", "a", "b"]
    assert topological_order(["x", "y"], {"x": ["y"], "y": ["x"]}) == []
