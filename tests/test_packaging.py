"""The wheel's contents as pyproject.toml declares them, checked without building one.

setuptools warns (and a later version ignores the folder) when a folder of data files inside a
package is importable as a namespace package but missing from `packages`; the templates of
`ext-harness new` and the npm pins of `ext-harness build` are such folders. Building a wheel here
would need setuptools from the network, so the declaration is checked against the tree instead
(`pip wheel . --no-deps` shows the result: no warning, every template in the wheel).
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _folders_of_data() -> set[str]:
    """Every folder under harness/ that holds files but is not a regular package (setuptools warns
    about exactly these; a folder of folders only is not importable data)."""
    out = set()
    for folder in (ROOT / "harness").rglob("*"):
        if (folder.is_dir() and "__pycache__" not in folder.parts and not (folder / "__init__.py").exists()
                and any(p.is_file() for p in folder.iterdir())):
            out.add(".".join(folder.relative_to(ROOT).parts))
    return out


def test_every_data_folder_is_a_declared_package() -> None:
    packages = set(CONFIG["packages"])
    missing = sorted(_folders_of_data() - packages)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    mapped = set(CONFIG["package-dir"])
    gone = sorted(p for p in packages - mapped if not (ROOT / p.replace(".", "/")).is_dir())
    assert not gone, f"listed in packages but not in the tree: {gone}"


def test_every_template_and_pin_is_package_data() -> None:
    patterns = CONFIG["package-data"]["harness.pipeline"]
    base = ROOT / "harness" / "pipeline"
    files = [p for d in ("templates", "toolchains") for p in (base / d).rglob("*") if p.is_file()]
    assert any(p.name.endswith(".tmpl") for p in files) and any(p.parent.name == "toolchains" for p in files)
    unshipped = [str(p.relative_to(base)) for p in files
                 if not any(fnmatch.fnmatch(str(p.relative_to(base)), pat.replace("**/", "*")) for pat in patterns)]
    assert not unshipped, f"not matched by package-data of harness.pipeline: {unshipped}"
