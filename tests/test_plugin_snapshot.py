"""Interface snapshots leave out the exports toolchains generate for themselves, so a toolchain
upgrade (which changes them) does not read as a breaking change of the author's interface."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.pytest_plugin._regression import (
    InterfaceSnapshot,
    read_snapshot,
    snapshot_of,
    toolchain_generated,
    verdict,
)

REPO = Path(__file__).resolve().parents[1]
_QJS_INIT = "func(shim: string, script: string, entry-path: option<string>, disable-gc: bool) -> result<_, string>"
_PY_INIT = "func(app-name: string, symbols: record { exports: list<u32> }, stub-wasi: bool) -> result<_, string>"


@pytest.mark.parametrize(("name", "functions", "generated"), [
    ("init", {"init": _QJS_INIT}, True),                         # componentize-qjs
    ("init", {"init": "func(shim: string) -> result<_, string>"}, True),  # a later version's signature
    ("exports", {"init": _PY_INIT}, True),                       # componentize-py
    ("ext:host/lifecycle", {"init": "func() -> result<_, string>"}, False),  # the host contract's init
    ("my:pkg/exports", {"init": "func() -> result<_, string>"}, False),
    ("exports", {"init": _PY_INIT, "other": "func()"}, False),   # more than the hook: the author's
    ("init", {"init": "func() -> u32"}, False),
    ("greet", {"greet": "func(name: string) -> string"}, False),
])
def test_toolchain_generated_exports_are_recognised_by_shape(name: str, functions: dict[str, str],
                                                             generated: bool) -> None:
    assert toolchain_generated(name, functions) is generated


def test_a_componentize_qjs_component_snapshot_has_only_the_authors_exports(tmp_path: Path) -> None:
    from harness.pipeline._inspect import inspect

    if not (REPO / "examples" / "ext-js" / "build" / "ext-js.wasm").is_file():
        pytest.skip("examples are not built (examples/build.sh)")
    folder = tmp_path / "ext-js"
    shutil.copytree(REPO / "examples" / "ext-js", folder, ignore=shutil.ignore_patterns("node_modules"))
    analysed = inspect(folder, cache_dir=tmp_path / "cache").get("ext-js")
    assert analysed is not None and any(e.name == "init" for e in analysed.exports)  # the component has it
    snap = snapshot_of(analysed)
    assert "init" not in snap.exports and "ext:js/lib" in snap.exports


def test_a_toolchain_upgrade_is_not_an_interface_change(tmp_path: Path) -> None:
    """A snapshot recorded with the hook (older versions did) compares equal after the hook changed."""
    authored = {"my:pkg/lib": {"greet": "func(name: string) -> string"}}
    (tmp_path / "e.json").write_text(json.dumps({
        "name": "e", "version": "1.0.0", "imports": {}, "interface_versions": {},
        "exports": {**authored, "init": {"init": _QJS_INIT}, "exports": {"init": _PY_INIT}}}))
    old = read_snapshot(tmp_path, "e")
    assert old is not None and old.exports == authored
    upgraded = InterfaceSnapshot("e", "1.0.0", {}, authored, {})
    assert verdict(old, upgraded) == (True, "interface unchanged")
