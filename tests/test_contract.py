"""The host contract (`wit/host.wit`) is valid WIT, and the host implements what it declares."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import harness
from harness.pipeline._inspect import inspect
from harness.pipeline._wasmtools import wasm_tools as find_wasm_tools

ROOT = Path(__file__).resolve().parent.parent
WIT = ROOT / "wit"


def wasm_tools() -> str:
    found = find_wasm_tools()
    if found is None:
        pytest.skip("wasm-tools is not installed")
    return found


def test_contract_parses_and_declares_the_worlds_and_interfaces() -> None:
    out = subprocess.run([wasm_tools(), "component", "wit", str(WIT), "--json"], check=True,
                         capture_output=True, text=True).stdout
    doc = json.loads(out)
    (package,) = [p for p in doc["packages"] if p["name"] == "ext:host@0.1.0"]
    interfaces = {doc["interfaces"][i]["name"] for i in package["interfaces"].values()}
    worlds = {doc["worlds"][w]["name"] for w in package["worlds"].values()}
    assert interfaces == {"log", "lifecycle", "commands"}
    assert worlds == {"plugin", "extension", "command-extension"}


def test_contract_encodes_to_a_valid_wit_package(tmp_path: Path) -> None:
    out = tmp_path / "host.wasm"
    subprocess.run([wasm_tools(), "component", "wit", str(WIT), "--wasm", "-o", str(out)], check=True)
    subprocess.run([wasm_tools(), "validate", str(out)], check=True)


def test_a_component_targeting_the_extension_world_is_accepted(tmp_path: Path) -> None:
    """ext-wat imports ext:host/log and exports lifecycle: exactly the `extension` world."""
    wasm = tmp_path / "ext-wat.wasm"
    wasm.write_bytes(harness.pipeline._wat.assemble_wat((ROOT / "examples" / "ext-wat" / "ext-wat.wat").read_text()))
    subprocess.run([wasm_tools(), "component", "targets", str(WIT), "--world", "ext:host/extension", str(wasm)],
                   check=True, capture_output=True)
    bad = subprocess.run([wasm_tools(), "component", "targets", str(WIT), "--world", "ext:host/command-extension",
                          str(wasm)], capture_output=True, text=True)
    assert bad.returncode != 0 and "commands" in bad.stderr


def test_the_host_serves_the_log_interface_it_declares(tmp_path: Path) -> None:
    insp = inspect([ROOT / "fixtures" / "wat" / "host" / "logger.wat"], cache_dir=tmp_path)
    (logger,) = insp.analysed
    (imp,) = logger.imports
    assert imp.name == "ext:host/log@0.1.0" and imp.kind == "host"
    with harness.Host.load(ROOT / "fixtures" / "wat" / "host" / "logger.wat", cache_dir=str(tmp_path)) as host:
        assert host.status == {"logger": "ok"}
