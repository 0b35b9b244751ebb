"""`inspect`: failures of discovery and analysis carried into resolution.

An extension that failed an earlier stage must block its dependents
(`blocked-by-dependency`), not leave them with a misleading `missing-import`,
whenever its exports can still be learnt from its component.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.model._diagnostics import Diagnostic
from harness.pipeline._inspect import Inspection, inspect

PROVIDER = """(component
  (core module $m (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (instance $lib (export "add" (func $add)))
  (export "ext:add/lib@1.2.0" (instance $lib)))
"""

CONSUMER = """(component
  (import "ext:add/lib@1.0.0" (instance $lib (export "add" (func (param "a" u32) (param "b" u32) (result u32)))))
  (core func $add (canon lower (func $lib "add")))
  (core module $m (import "lib" "add" (func $add (param i32 i32) (result i32)))
    (func (export "twice") (param i32) (result i32) local.get 0 local.get 0 call $add))
  (core instance $i (instantiate $m (with "lib" (instance (export "add" (func $add))))))
  (func $twice (param "x" u32) (result u32) (canon lift (core func $i "twice")))
  (instance $out (export "twice" (func $twice)))
  (export "ext:b/lib@0.1.0" (instance $out)))
"""

# imports what CONSUMER exports: blocked transitively
SECOND = """(component
  (import "ext:b/lib@0.1.0" (instance $lib (export "twice" (func (param "x" u32) (result u32)))))
  (core func $twice (canon lower (func $lib "twice")))
  (core module $m (import "lib" "twice" (func $twice (param i32) (result i32)))
    (func (export "quad") (param i32) (result i32) local.get 0 call $twice call $twice))
  (core instance $i (instantiate $m (with "lib" (instance (export "twice" (func $twice))))))
  (func $quad (param "x" u32) (result u32) (canon lift (core func $i "quad")))
  (instance $out (export "quad" (func $quad)))
  (export "ext:c/lib@0.1.0" (instance $out)))
"""


def folder(root: Path, name: str, manifest: str, wat: str = PROVIDER, file: str | None = None) -> Path:
    d = root / name
    d.mkdir()
    (d / "extension.toml").write_text(manifest)
    (d / (file or f"{name}.wat")).write_text(wat)
    return d


def run(root: Path) -> Inspection:
    return inspect([root], use_cache=False)


def diags(insp: Inspection, ext: str) -> list[Diagnostic]:
    return [d for d in insp.diagnostics if d.extension == ext]


def only(insp: Inspection, ext: str, code: str) -> Diagnostic:
    found = [d for d in diags(insp, ext) if d.code == code]
    assert len(found) == 1, [d.to_json() for d in insp.diagnostics]
    return found[0]


def assert_blocked_by(insp: Inspection, ext: str, dependency: str, reason: str) -> None:
    assert insp.status(ext) == "blocked", [d.to_json() for d in insp.diagnostics]
    assert [d.code for d in diags(insp, ext)] == ["blocked-by-dependency"]
    d = only(insp, ext, "blocked-by-dependency")
    assert d.details["dependency"] == dependency
    assert d.details["reason"] == reason
    assert dependency in d.message and reason in d.message


@pytest.fixture()
def consumer(tmp_path: Path) -> Path:
    (tmp_path / "user.wat").write_text(CONSUMER)
    return tmp_path


@pytest.mark.parametrize(("manifest", "code"), [
    ('name = "add"\n[limits]\nfuel = -1\n', "bad-manifest"),  # wrong value
    ('name = "add"\nversion = 3\n', "bad-manifest"),  # wrong type
    ('name = "add"\nversion = \n', "bad-manifest"),  # not TOML at all: the folder's name is used
    ('name = "add"\nwit = "../elsewhere"\n', "path-escape"),  # a path other than the component
])
def test_bad_manifest_with_readable_component_blocks_dependents(consumer: Path, manifest: str,
                                                                 code: str) -> None:
    folder(consumer, "add", manifest)
    insp = run(consumer)
    assert insp.status("add") == "error"
    only(insp, "add", code)
    assert_blocked_by(insp, "user", "add", code)
    assert insp.load_order == ()
    assert insp.links == ()
    assert insp.get("add") is None  # never handed to the linker


def test_bad_manifest_names_the_component_explicitly(consumer: Path) -> None:
    folder(consumer, "prov", 'name = "add"\ncomponent = "impl.wat"\nlimits = 3\n', file="impl.wat")
    insp = run(consumer)
    only(insp, "add", "bad-manifest")
    assert_blocked_by(insp, "user", "add", "bad-manifest")


def test_invalid_name_blocks_dependents(consumer: Path) -> None:
    folder(consumer, "prov", 'name = "bad name"\n')
    (consumer / "prov" / "prov.wat").rename(consumer / "prov" / "x.wat")
    insp = run(consumer)
    only(insp, "bad name", "invalid-name")
    assert_blocked_by(insp, "user", "bad name", "invalid-name")


def test_duplicate_name_blocks_dependents(consumer: Path) -> None:
    (consumer / "add.wat").write_text(PROVIDER)
    folder(consumer, "adder", 'name = "add"\n', file="impl.wat")
    insp = run(consumer)
    only(insp, "add", "duplicate-name")
    assert_blocked_by(insp, "user", "add", "duplicate-name")


def test_blocking_is_transitive(consumer: Path) -> None:
    folder(consumer, "add", 'name = "add"\nversion = 3\n')
    (consumer / "second.wat").write_text(SECOND)
    insp = run(consumer)
    assert_blocked_by(insp, "user", "add", "bad-manifest")
    assert_blocked_by(insp, "second", "add", "bad-manifest")
    assert only(insp, "second", "blocked-by-dependency").details["via"] == ["second", "user", "add"]


def test_component_escaping_the_folder_is_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "add.wat").write_text(PROVIDER)
    exts = tmp_path / "exts"
    exts.mkdir()
    (exts / "user.wat").write_text(CONSUMER)
    d = exts / "add"
    d.mkdir()
    (d / "extension.toml").write_text('name = "add"\nversion = 3\n')
    (d / "add.wat").symlink_to(outside / "add.wat")
    insp = run(exts)
    only(insp, "add", "bad-manifest")
    # its exports stay unknown: the consumer cannot be shown to depend on it
    miss = only(insp, "user", "missing-import")
    assert miss.details["failed_earlier"] == ["add"]


def test_analysis_failure_leaves_exports_unknown(consumer: Path) -> None:
    (consumer / "add.wat").write_text("(component (")
    insp = run(consumer)
    only(insp, "add", "wat-syntax")
    miss = only(insp, "user", "missing-import")
    assert miss.details["failed_earlier"] == ["add"]


def test_salvaged_component_that_fails_analysis_adds_no_noise(consumer: Path) -> None:
    folder(consumer, "add", 'name = "add"\nversion = 3\n', wat="(component (")
    insp = run(consumer)
    assert [d.code for d in diags(insp, "add")] == ["bad-manifest"]
    assert only(insp, "user", "missing-import").details["failed_earlier"] == ["add"]


def test_failed_extension_known_not_to_export_is_not_suggested(consumer: Path) -> None:
    folder(consumer, "other", 'name = "other"\nversion = 3\n', wat=CONSUMER.replace(
        "ext:add/lib@1.0.0", "ext:zzz/lib@1.0.0"))
    insp = run(consumer)
    miss = only(insp, "user", "missing-import")
    assert "failed_earlier" not in miss.details
    assert "failed earlier" not in miss.message


def test_healthy_dependents_still_load(consumer: Path) -> None:
    (consumer / "good.wat").write_text(PROVIDER.replace("ext:add/lib", "ext:good/lib"))
    folder(consumer, "add", 'name = "add"\nversion = 3\n')
    insp = run(consumer)
    assert insp.load_order == ("good",)
    assert insp.status("good") == "ok"


def test_result_does_not_depend_on_input_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "user.wat").write_text(CONSUMER)
    folder(b, "add", 'name = "add"\nversion = 3\n')
    one, two = inspect([a, b], use_cache=False), inspect([b, a], use_cache=False)
    assert [d.to_json() for d in one.diagnostics] == [d.to_json() for d in two.diagnostics]
    assert dict(one.resolution.status) == dict(two.resolution.status)


def test_healthy_pair_links(consumer: Path) -> None:
    (consumer / "add.wat").write_text(PROVIDER)
    insp = run(consumer)
    assert insp.load_order == ("add", "user")
    assert [link.to_json() for link in insp.links] == [{
        "consumer": "user", "import": "ext:add/lib@1.0.0", "provider": "add",
        "export": "ext:add/lib@1.2.0"}]
    assert insp.errors == ()
