"""`ext-harness new`: a new extension folder that builds and passes `pytest --ext-suite` at once.

The files come from `templates/` (package data): `common/` for every language, then the language's
own folder. A template's `{{key}}` placeholders are filled by plain replacement (no template engine:
the files are WIT, TOML, Python, JavaScript and WAT, whose own braces must pass through untouched).
The host contract is copied into `wit/deps/host.wit` from the installed `harness.wit`, so the folder
works outside any checkout.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..model._contract import host_wit_path
from ._build import LANGS, Lang

__all__ = ["NAME_PATTERN", "scaffold"]

# Also a valid WIT package and world name, so one name serves the folder, the manifest and the WIT.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*")
_NAMESPACE = "my"
_SOURCES: dict[Lang, tuple[str, str]] = {  # lang -> (entry, component)
    "python": ("src/app.py", "build/{name}.wasm"),
    "js": ("src/main.js", "build/{name}.wasm"),
    "wat": ("src/main.wat", "src/main.wat"),
}
_COMMAND_EXAMPLE = '''
# A command, run as `{name}:greet` through the host's command registry (`ext-harness run . greet you`).
[[conformance.example]]
command = "greet"
args = ["you"]
expect = "Hello, you!"
'''
_WASI_NOTE = {
    "python": " Built with --stub-wasi: the component imports no WASI.",
    "js": " Built with --stub-wasi: the component imports no WASI.",
    "wat": " The component imports only ext:host/log@0.1.0.",
}


def _fill(text: str, values: dict[str, str]) -> str:
    out = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)
    return out


def _walk(node: Traversable, rel: Path) -> list[tuple[Path, Traversable]]:
    out: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            out.extend(_walk(child, rel / child.name))
        elif child.name.endswith(".tmpl"):
            out.append((rel / child.name.removesuffix(".tmpl"), child))
    return out


def scaffold(name: str, lang: Lang, parent: Path) -> Path:
    """Write the folder `parent/name`; raises ValueError for a bad name or language, FileExistsError
    if the folder exists (nothing is overwritten)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"extension name {name!r} must be lowercase words joined by '-' (like my-ext), "
                         "as it also names the WIT package and world")
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    folder = parent / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    entry, component = _SOURCES[lang]
    init_message = f"{name} initialized"
    values = {
        "name": name, "ns": _NAMESPACE, "lang": lang, "entry": entry, "component": component.format(name=name),
        "description": f"{name}: a new extension ({lang})",
        "host_world": "command-extension",
        "command_example": _COMMAND_EXAMPLE.format(name=name),
        "wasi_note": _WASI_NOTE[lang], "init_len": str(len(init_message.encode())),
        "snake": name.replace("-", "_"),
    }
    templates = resources.files("harness.pipeline") / "templates"
    files = _walk(templates / "common", Path()) + _walk(templates / lang, Path())
    folder.mkdir(parents=True)
    for rel, source in files:
        target = folder / rel
        if rel == Path("gitignore"):
            target = folder / ".gitignore"
        elif rel == Path("tests/test_ext.py"):
            target = folder / "tests" / f"test_{values['snake']}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_fill(source.read_text(encoding="utf-8"), values), encoding="utf-8")
    deps = folder / "wit" / "deps"
    deps.mkdir(parents=True, exist_ok=True)
    (deps / "host.wit").write_text(host_wit_path().read_text(encoding="utf-8"), encoding="utf-8")
    return folder
