"""An extension folder from a mock declaration: `extension.toml` and the component text.

The manifest is written with `tomli-w` (the maintained counterpart of the
stdlib's `tomllib` reader): quoting keys and escaping strings by hand is where
an earlier writer went wrong (a key with a trailing newline was written bare).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from ..model._errors import UsageError
from ._dsl import MockExtension
from ._watgen import to_wat

__all__ = ["to_toml", "write_extension"]


def to_toml(doc: Mapping[str, Any]) -> str:
    """TOML text for a manifest: scalars, arrays, tables and arrays of tables."""
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError) as e:
        raise UsageError(f"TOML cannot hold this manifest: {e}") from e


def write_extension(ext: MockExtension, folder: Path) -> Path:
    """Write `folder/<name>/extension.toml` and `<name>.wat`; return the extension folder."""
    root = Path(folder) / ext.name
    root.mkdir(parents=True, exist_ok=True)
    wat_name = f"{ext.name}.wat"
    (root / wat_name).write_text(to_wat(ext), encoding="utf-8")
    doc: dict[str, Any] = {"name": ext.name, "version": ext.version, "component": wat_name}
    doc.update(ext.manifest_extra)
    (root / "extension.toml").write_text(to_toml(doc), encoding="utf-8")
    return root
