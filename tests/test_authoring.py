"""`ext-harness new` and `ext-harness build`: a new extension builds and passes `pytest --ext-suite`.

Each language runs new -> build -> suite once, in a folder outside the repository. The Python and
JavaScript ones use the tool cache examples/build.sh filled (`--no-install`, so CI never downloads
here) and are skipped when it is empty; the WAT one needs no toolchain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.pipeline._build import Toolchains

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300
OTHER_UID = 54321  # any uid that is not ours; the tests run as root, so chown to it works


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def _suite(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "--ext-suite", "-q", "-p", "no:randomly", "-p",
                           "no:cacheprovider", "-p", "no:xdist"], cwd=folder, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def _own_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    """Plain `pytest` in the folder: the tests the template wrote into tests/."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "-p", "no:xdist"], cwd=folder, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def _new_built(tmp: Path, lang: str) -> Path:
    if lang != "wat" and not Toolchains().installed(lang):  # type: ignore[arg-type]
        pytest.skip(f"the {lang} toolchain is not in the tool cache; run examples/build.sh first")
    made = _cli("new", f"hello-{lang}", "--lang", lang, cwd=tmp)
    assert made.returncode == 0, made.stderr
    folder = tmp / f"hello-{lang}"
    built = _cli("build", "--no-install", cwd=folder)
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"hello-{lang}: built" in built.stdout
    return folder


@pytest.fixture(scope="module", params=["wat", "js", "python"])
def new_extension(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _new_built(tmp_path_factory.mktemp(f"author-{request.param}"), request.param)


def test_a_new_extension_passes_the_suite(new_extension: Path) -> None:
    files = sorted(str(p.relative_to(new_extension)) for p in new_extension.rglob("*") if p.is_file()
                   and "build" not in p.parts and "reports" not in p.parts)
    assert "extension.toml" in files and "wit/deps/host.wit" in files and ".gitignore" in files
    assert any(f.startswith("tests/test_") for f in files)
    result = _suite(new_extension)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert "conformance" in result.stdout
    # every language's template offers the `greet` command, and the suite runs its example
    report = json.loads((new_extension / "reports" / "conformance.json").read_text(encoding="utf-8"))
    [checks] = [e["checks"] for e in report["extensions"].values()]
    assert checks["commands"]["outcome"] == "passed", checks["commands"]
    assert checks["behaviour"]["outcome"] == "passed", checks["behaviour"]
    # the tests written into tests/ pass as written (values in the value mapping, the command)
    own = _own_tests(new_extension)
    assert own.returncode == 0 and "3 passed" in own.stdout, own.stdout[-4000:] + own.stderr[-2000:]
    # a second build is skipped: the inputs did not change
    again = _cli("build", "--no-install", cwd=new_extension)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr


def test_new_refuses_a_bad_name_and_an_existing_folder(tmp_path: Path) -> None:
    bad = _cli("new", "My_Ext", "--lang", "wat", cwd=tmp_path)
    assert bad.returncode == 2 and "lowercase words" in bad.stderr
    assert _cli("new", "ok", "--lang", "wat", str(tmp_path / "sub"), cwd=tmp_path).returncode == 0
    assert (tmp_path / "sub" / "ok" / "extension.toml").is_file()
    again = _cli("new", "ok", "--lang", "wat", "sub", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_build_reports_a_tool_error_with_a_code_and_escaped_output(tmp_path: Path) -> None:
    assert _cli("new", "broken", "--lang", "wat", cwd=tmp_path).returncode == 0
    src = tmp_path / "broken" / "src" / "main.wat"
    src.write_text("(component (bogus \x1b[31m))\n", encoding="utf-8")
    result = _cli("build", "broken", cwd=tmp_path)
    assert result.returncode == 1
    assert "error[build-failed] broken: wasm-tools parse failed" in result.stdout
    assert "\x1b" not in result.stdout  # the tool echoes the source: escaped before the terminal
    assert not (tmp_path / "broken" / "build" / "broken.wasm").exists()


def test_build_needs_an_entry_point_it_can_tell(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    (folder / "src").mkdir(parents=True)
    (folder / "extension.toml").write_text('name = "two"\nworld = "my:two/two@0.1.0"\n', encoding="utf-8")
    (folder / "src" / "a.py").write_text("", encoding="utf-8")
    (folder / "src" / "b.py").write_text("", encoding="utf-8")
    result = _cli("build", "--no-install", cwd=tmp_path)
    assert result.returncode == 1
    assert "error[build-config] two: 2 python files in src/" in result.stdout
    (folder / "extension.toml").write_text('name = "two"\n[build]\nlang = "rust"\n', encoding="utf-8")
    result = _cli("build", "--no-install", "two", cwd=tmp_path)
    assert "error[build-config] two: `build.lang` = 'rust' is not one of python, js, wat" in result.stdout


def test_build_table_is_a_known_manifest_key(tmp_path: Path) -> None:
    from harness.pipeline._manifest import parse_manifest

    path = tmp_path / "extension.toml"
    path.write_text('name = "a"\n[build]\nlang = "js"\nentry = "src/main.js"\n', encoding="utf-8")
    manifest, diags = parse_manifest(path, default_name="a")
    assert manifest is not None and [d.code for d in diags] == []


def test_toolchain_folder_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_TOOLCHAINS", str(tmp_path / "tc"))
    tools = Toolchains(install=False)
    assert tools.root == tmp_path / "tc"
    monkeypatch.delenv("EXT_HARNESS_TOOLCHAINS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Toolchains().root == tmp_path / "xdg" / "ext-harness" / "toolchains"
    assert not Toolchains(tmp_path / "tc", install=False).installed("js")


def _no_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("EXT_HARNESS_TOOLCHAINS", "EXT_HARNESS_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)

    def no_home() -> Path:
        raise RuntimeError("no home directory")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_toolchains_share_the_caches_folder_rule_without_a_home(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.pipeline._cache import default_cache_dir

    _no_home(monkeypatch, tmp_path)
    assert Toolchains().root == default_cache_dir() / "toolchains"
    assert default_cache_dir() == tmp_path / f"ext-harness-cache-{os.getuid()}"


@pytest.mark.parametrize("squat", ["parent-owner", "root-mode"])
def test_a_squatted_toolchain_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, squat: str) -> None:
    """Without a home the toolchains sit under a predictable temp name: a folder another user made (or can
    write) there is refused before anything installed in it runs."""
    from harness.pipeline._build import COMPONENTIZE_PY_VERSION, build_one

    assert _cli("new", "py-ext", "--lang", "python", cwd=tmp_path).returncode == 0
    _no_home(monkeypatch, tmp_path)
    root = Toolchains().root
    planted = root / f"componentize-py-{COMPONENTIZE_PY_VERSION}" / "componentize_py"
    planted.mkdir(parents=True)
    if squat == "parent-owner":
        os.chown(root.parent, OTHER_UID, OTHER_UID)
        expected = f"owned by uid {OTHER_UID}"
    else:
        root.chmod(0o777)
        expected = "can be written by other users (mode 777)"
    result = build_one(tmp_path / "py-ext", Toolchains(install=False))
    assert result.status == "failed"
    assert [p.code for p in result.problems] == ["toolchain-unavailable"]
    assert expected in result.problems[0].message and str(root.parent if squat == "parent-owner" else root) \
        in result.problems[0].message


def test_the_shipped_npm_pin_is_the_builders_version() -> None:
    import json

    from harness.pipeline._build import COMPONENTIZE_QJS_VERSION

    pins = ROOT / "harness" / "pipeline" / "toolchains"
    pkg = json.loads((pins / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((pins / "package-lock.json").read_text(encoding="utf-8"))
    assert pkg["devDependencies"]["componentize-qjs"] == COMPONENTIZE_QJS_VERSION
    assert lock["packages"]["node_modules/componentize-qjs"]["version"] == COMPONENTIZE_QJS_VERSION


def test_a_missing_npm_is_toolchain_unavailable_and_the_cache_is_private(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert _cli("new", "js-ext", "--lang", "js", cwd=tmp_path).returncode == 0
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no npm, no node
    from harness.pipeline._build import build_one

    result = build_one(tmp_path / "js-ext", Toolchains(tmp_path / "tc"))
    assert result.status == "failed"
    assert [p.code for p in result.problems] == ["toolchain-unavailable"]
    assert "npm not found" in result.problems[0].message
    assert (tmp_path / "tc").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (tmp_path / "tc").iterdir()) == [".lock"]  # nothing half-installed
