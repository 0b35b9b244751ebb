"""The public surface: what `harness` exports, how those names present themselves, the
exception tree, `inspect`'s arguments, and docs that name only public modules."""

from __future__ import annotations

import ast
import importlib
import pickle
import pkgutil
import pydoc
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

import harness
from harness.model import _errors
from harness.model._codes import CODES
from harness.model._diagnostics import Diagnostic

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "examples" / "README.md"]
HOST = ROOT / "fixtures" / "wat" / "host"
# packages a user imports by their dotted name; never listed in `__all__`
PUBLIC_MODULES = {"harness.testing", "harness.testing.strategies", "harness.pytest_plugin", "harness.cli",
                  "harness.suites", "harness.wit"}


def exported() -> dict[str, object]:
    return {name: getattr(harness, name) for name in harness.__all__}


# ------------------------------------------------------------------ __all__ is the public surface

def test_all_is_sorted_unique_and_every_name_imports() -> None:
    assert len(harness.__all__) == len(set(harness.__all__)), "a name is listed twice"
    namespace: dict[str, object] = {}
    exec("from harness import *", namespace)  # what `import *` gives a user
    assert set(harness.__all__) <= set(namespace)


def test_no_private_name_and_no_module_in_all() -> None:
    for name, value in exported().items():
        assert not name.startswith("_") or name == "__version__", name
        assert not isinstance(value, types.ModuleType), f"{name} is a module: import it by its dotted name"


def test_every_public_name_of_the_package_is_in_all() -> None:
    for name in [*harness._LAZY, *dir(harness)]:
        value = getattr(harness, name)
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        assert name in harness.__all__, f"harness.{name} is public but missing from __all__"


def test_every_harness_exception_and_warning_is_exported() -> None:
    """Anything a user can be made to catch or filter has a public name."""
    raised: set[type] = set()
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if info.name.startswith(("harness.suites", "harness.wit", "harness.cli.__main__")):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, (harness.HarnessError, Warning)) \
                    and value.__module__.startswith("harness"):
                raised.add(value)
    assert raised, "no exception found: the walk is broken"
    missing = {cls.__qualname__ for cls in raised if getattr(harness, cls.__name__, None) is not cls}
    assert missing == set()


def _names_the_docs_use() -> set[str]:
    names: set[str] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for line in re.findall(r"^\s*from harness import ([^#\n]+)", text, re.M):
            names |= {n.strip(" ()") for n in line.split(",") if n.strip(" ()")}
        for name in re.findall(r"`harness\.([A-Za-z_][A-Za-z0-9_]*)", text):
            if f"harness.{name}" not in PUBLIC_MODULES and name not in ("model", "pipeline", "runtime", "host"):
                names.add(name)  # (the layers' private modules are the next test's; `harness.host` is a logger)
    return names


def test_every_name_the_docs_use_is_exported() -> None:
    used = _names_the_docs_use()
    assert {"Host", "CODES", "CallError", "Diagnostic", "TrapError"} <= used, "the scan found too little"
    assert sorted(used - set(harness.__all__)) == []


# ------------------------------------------------------------------ names say harness.X and keep working

def test_classes_and_functions_say_they_are_harness_names() -> None:
    for name, value in exported().items():
        if isinstance(value, (type, types.FunctionType)):
            assert value.__module__ == "harness", name
            assert getattr(harness, value.__qualname__) is value, name
    assert repr(harness.TrapError) == "<class 'harness.TrapError'>"


def test_the_rename_holds_however_a_lazy_name_was_first_reached() -> None:
    code = ("import harness.runtime._commands as m, harness; "
            "assert harness.CommandArg.__module__ == 'harness'; assert m.CommandInfo.__module__ == 'harness'; "
            "assert m.CommandRegistry is harness.CommandRegistry")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_importing_harness_and_its_errors_loads_no_wasmtime() -> None:
    code = ("import sys, harness; harness.HostClosedError, harness.CacheWarning, harness.HostConfig; "
            "assert 'wasmtime' not in sys.modules, 'import harness loaded wasmtime'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_type_hints_and_docs_of_renamed_classes_still_resolve() -> None:
    for name, value in exported().items():
        if isinstance(value, type) or callable(value):
            typing.get_type_hints(value)  # raises NameError if looked up in the wrong module
            text = pydoc.render_doc(value, renderer=pydoc.plaintext)
            doc = (value.__doc__ or "").strip().splitlines()
            if doc and isinstance(value, type) and value.__doc__ is not type.__doc__:
                assert doc[0].strip() in text, name
    assert typing.get_type_hints(harness.Diagnostic)["code"] is str


def test_pickles_round_trip_by_public_name() -> None:
    assert pickle.loads(pickle.dumps(harness.inspect)) is harness.inspect
    assert b"harness.model" not in pickle.dumps(harness.TrapError)
    diag = Diagnostic("not-found", "x does not exist", extension=None, subject="x")
    assert pickle.loads(pickle.dumps(diag)) == diag
    assert pickle.loads(pickle.dumps(CODES["trap"])) == CODES["trap"]
    config = harness.HostConfig()
    assert pickle.loads(pickle.dumps(config)) == config


def _one_of_each() -> list[harness.HarnessError]:
    call_args = {"extension": "ext-a", "function": "f", "chain": ["ext-a:f"], "frames": ["0: 0x1"],
                 "details": {"reason": "r"}}
    errors: list[harness.HarnessError] = [
        harness.UsageError("bad option"),
        harness.WatSyntaxError("unexpected token", source="a.wat", line=3, column=7),
        harness.LoadError([Diagnostic("not-found", "x does not exist", extension=None, subject="x")]),
        harness.CapabilityDeniedError("ext-a", "data", "data is a symbolic link", "hint text"),
    ]
    errors += [cls("it failed", **call_args) for cls in _concrete_call_errors()]  # type: ignore[arg-type]
    return errors


def _concrete_call_errors() -> list[type[harness.CallError]]:
    return [cls for cls in vars(_errors).values()
            if isinstance(cls, type) and issubclass(cls, harness.CallError) and cls is not harness.CallError]


@pytest.mark.parametrize("error", _one_of_each(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_message_and_fields(error: harness.HarnessError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.args, vars(copy)) == (str(error), error.args, vars(error))
    assert repr(copy) == repr(error) and repr(error).startswith(type(error).__name__ + "(")


# ------------------------------------------------------------------ the exception tree

def _tree() -> list[tuple[int, str, tuple[str, ...], str]]:
    """(depth, class, extra bases, code or "abstract") for each line of the drawing."""
    doc = _errors.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        m = re.match(r"^ {4}((?:│   |    )*)(?:[├└]── )?([A-Z]\w+) (?:\(\+ ([\w, ]+)\)|\((\w+)\))?\s+(\S+)", line)
        if m is None:
            continue
        indent, name, extra, root_base, code = m.groups()
        depth = len(indent) // 4 + (1 if "──" in line else 0)
        bases = tuple(b.strip() for b in (extra or root_base or "").split(",") if b.strip())
        rows.append((depth, name, bases, code.rstrip(":")))
    return rows


def test_the_drawn_exception_tree_is_the_real_one() -> None:
    rows = _tree()
    assert len(rows) >= 20, rows
    parents: list[str] = []
    drawn = set()
    for depth, name, bases, code in rows:
        cls = getattr(harness, name)
        drawn.add(cls)
        del parents[depth:]
        builtin = tuple(b.__name__ for b in cls.__bases__ if not b.__module__.startswith("harness"))
        mine = [b.__name__ for b in cls.__bases__ if b.__module__.startswith("harness")]
        assert mine == parents[-1:], f"{name}: drawn under {parents[-1:]}, derives from {mine}"
        assert builtin == bases, f"{name}: drawn with {bases}, built-in bases are {builtin}"
        if issubclass(cls, harness.HarnessError):
            if code == "abstract":
                assert not hasattr(cls, "code"), name
            else:
                assert cls.code == code and "code" in vars(cls), f"{name}: drawn with {code}"
        parents.append(name)
    every = {c for c in vars(_errors).values() if isinstance(c, type) and issubclass(c, (Exception, Warning))}
    assert drawn == every


def test_each_raised_class_has_its_own_documented_code() -> None:
    concrete = [c for c in vars(_errors).values() if isinstance(c, type) and issubclass(c, harness.HarnessError)
                and hasattr(c, "code")]
    codes = [c.code for c in concrete]
    assert len(codes) == len(set(codes)), "two classes share a code"
    assert set(codes) <= set(CODES)
    for abstract in (harness.HarnessError, harness.CallError):
        assert not hasattr(abstract, "code")
        with pytest.raises(TypeError, match="no code of its own"):
            abstract("x")


def test_a_closed_host_raises_host_closed_not_no_such_function(tmp_path: Path) -> None:
    host = harness.Host.load(HOST / "calc.wat", cache_dir=str(tmp_path))
    host.close()
    with pytest.raises(harness.HostClosedError) as e:
        host.call("calc", "add", 1, 2)
    assert e.value.code == "host-closed" and e.value.hint == CODES["host-closed"].hint
    assert not isinstance(e.value, LookupError)


def test_a_strict_load_raises_load_failed_with_every_diagnostic(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(harness.LoadError) as e:
        harness.Host.load(HOST / "calc.wat", missing, HOST / "initfail.wat", cache_dir=str(tmp_path),
                          strict=True)
    assert e.value.code == "load-failed" and "code" not in vars(e.value)
    assert {d.code for d in e.value.diagnostics} == {"not-found", "init-failed"}
    assert str(e.value).startswith(str(e.value.diagnostics[0]))


# ------------------------------------------------------------------ inspect takes paths like Host.load

@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    cache = tmp_path_factory.mktemp("cache")
    return HOST / "calc.wat", HOST / "twice.wat", str(cache)


def test_inspect_takes_one_string_as_one_path(two: tuple[Path, Path, str]) -> None:
    calc, _, cache = two
    insp = harness.inspect(str(calc), cache_dir=cache)
    assert insp.load_order == ("calc",) and insp.errors == ()


def test_inspect_takes_paths_one_by_one_or_in_one_list(two: tuple[Path, Path, str]) -> None:
    calc, twice, cache = two
    spread = harness.inspect(calc, str(twice), cache_dir=cache)
    assert set(spread.load_order) == {"calc", "twice"} and spread.errors == ()
    for old_form in ([calc, twice], (str(calc), twice)):
        assert harness.inspect(old_form, cache_dir=cache).load_order == spread.load_order
    assert harness.inspect(cache_dir=cache).load_order == ()


@pytest.mark.parametrize("bad", [b"calc.wat", 3, None, [HOST / "calc.wat", 3]])
def test_inspect_refuses_what_is_not_a_path(bad: object) -> None:
    with pytest.raises(harness.UsageError, match=r"paths must be str or pathlib\.Path"):
        harness.inspect(bad)  # type: ignore[arg-type]


def test_discover_takes_paths_like_inspect(two: tuple[Path, Path, str]) -> None:
    """Before: `discover("folder")` iterated the characters of the string, and a Path raised TypeError."""
    calc, twice, _ = two
    assert harness.discover(str(calc)).names == ("calc",)
    assert harness.discover(calc).names == ("calc",)
    spread = harness.discover(calc, str(twice))
    assert spread.names == ("calc", "twice") and spread.diagnostics == ()
    assert harness.discover([calc, twice]) == harness.discover((str(calc), twice)) == spread
    assert harness.discover(str(HOST / "nowhere")).diagnostics[0].code == "not-found"
    with pytest.raises(harness.UsageError, match=r"paths must be str or pathlib\.Path"):
        harness.discover(b"calc.wat")  # type: ignore[arg-type]


# ------------------------------------------------------------------ docs name only public modules

PRIVATE = re.compile(r"harness(?:\.[a-z_]+)*\._[a-z]\w*|harness/(?:[a-z_]+/)*_[a-z]\w*(?:\.py)?")
# Lines another change rewrites (the value mapping gets docs/values.md): each must still occur,
# so the entry is dropped as soon as its line is fixed.
PENDING: set[tuple[str, str]] = set()  # (doc, private name) still to be replaced


def test_docs_and_readme_name_no_private_module() -> None:
    found = set()
    for doc in DOCS:
        for m in PRIVATE.finditer(doc.read_text(encoding="utf-8")):
            found.add((doc.name, m.group(0)))
    assert sorted(found - PENDING) == [], "name the public module instead (add an export if there is none)"
    assert sorted(PENDING - found) == [], "fixed: remove these from PENDING"


def test_the_private_name_pattern_finds_what_it_must() -> None:
    hits = PRIVATE.findall("see harness._mock, harness.runtime._values.to_json, harness/pipeline/_graph.py; "
                           "not harness.testing, harness.CODES, harness/__init__.py or harness.pytest_plugin")
    assert hits == ["harness._mock", "harness.runtime._values", "harness/pipeline/_graph.py"]


def test_python_examples_in_docs_import_only_public_names() -> None:
    for doc in DOCS:
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
                    assert not any(part.startswith("_") for part in node.module.split(".")), (doc.name, node.module)


def _rewrites(source: str) -> list[int]:
    """Lines where an `except ... as e:` block assigns to `e.<attr>` / `e.<attr>[...]` or setattr(e, ...)."""
    lines = []
    for handler in ast.walk(ast.parse(source)):
        if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
            continue
        for node in ast.walk(handler):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, (ast.Attribute, ast.Subscript)):
                        base = t.value
                        while isinstance(base, (ast.Attribute, ast.Subscript)):
                            base = base.value
                        if isinstance(base, ast.Name) and base.id == handler.name:
                            lines.append(node.lineno)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == handler.name:
                lines.append(node.lineno)
    return sorted(set(lines))


def test_no_handler_in_harness_changes_the_exception_it_caught() -> None:
    """An error is never rewritten after it is raised (its message, chain and details are the
    ones it was raised with): no `except ... as e:` block assigns to `e.<attr>`."""
    offenders = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "harness").rglob("*.py"))
                 for line in _rewrites(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_rewrite_scan_finds_each_form() -> None:
    source = ("try:\n    f()\nexcept E as e:\n    e.message = 'x: ' + e.message\n    e.details['k'] = 1\n"
              "    e.chain += ('a',)\n    setattr(e, 'code', 'x')\n    other.message = e.message\n    raise\n")
    assert _rewrites(source) == [4, 5, 6, 7]
