"""Where the `wasm-tools` binary is, and which version it is (one lookup for every user)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["wasm_tools", "wasm_tools_version"]


def wasm_tools() -> str | None:
    """The `wasm-tools` binary: on PATH, or installed next to the running Python."""
    found = shutil.which("wasm-tools")
    if found:
        return found
    local = Path(sys.executable).parent / "wasm-tools"
    return str(local) if local.exists() else None


@functools.cache
def wasm_tools_version(tool: str) -> str:
    """`wasm-tools --version` of `tool` (part of the composed-component cache key: another
    composer may produce other bytes). Memoised per process: it costs a subprocess."""
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip() or f"unknown ({out.returncode})"
