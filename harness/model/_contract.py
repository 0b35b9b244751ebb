"""Where the host contract (`ext:host@0.1.0`, the WIT in `wit/`) is, installed or in a checkout.

A wheel ships it as `harness/wit/host.wit`; an editable install or a checkout reads
the repository's `wit/host.wit`. Authors copy it into their extension's `wit/deps/`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HOST_PACKAGE", "host_wit_path"]

HOST_PACKAGE = "ext:host@0.1.0"


def host_wit_path() -> Path:
    here = Path(__file__).resolve().parent.parent  # harness/ (this file is harness/model/_contract.py)
    for candidate in (here / "wit" / "host.wit", here.parent / "wit" / "host.wit"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("the host contract host.wit is missing from this installation")
