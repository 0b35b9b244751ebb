"""Read `extension.toml` into a frozen `Manifest`, reporting every problem at once.

A manifest is user-written, so nothing here raises: bad TOML and wrong types are
`bad-manifest` errors (the manifest is then unusable), unknown keys are
`unknown-manifest-key` warnings (the key is ignored, so a typo never goes
unnoticed but never blocks loading either). All problems are collected in one
pass so the user can fix them in one edit.

Keys (all optional; see docs/writing-extensions.md):

    name = "adder"                 version = "1.2.0"          component = "adder.wasm"
    description = "..."            world = "ext:host/plugin"  wit = "wit"
    [provides]      "ns:pkg/iface" = "extension-name"       # pin a provider
    [capabilities]  preopens = { "data" = "/data" }         # host dir (inside the folder) -> guest dir, read-only
                    # or preopens = { "data" = { guest = "/data", write = true } }
                    # or preopens = [{ host = "data", guest = "/data", write = true }]
                    inherit_env = false  env = { K = "v" }  inherit_stdio = false
                    network = false      args = ["--x"]
    [limits]        timeout_ms, fuel, memory_mb, memories, instances, tables, table_elements
                    (integers in the ranges of `_hostconfig.LIMITS`)
    [[conformance.example]]  function = "ns:pkg/iface@1.0.0#f"  args = [1, 2]
                             expect = 3  |  expect_error = "trap"   command = "greet" (optional)
    [build]         lang = "python" | "js" | "wat"   entry = "src/app.py"     # read by `ext-harness build`
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..model._codes import CALL_CODES
from ..model._diagnostics import Diagnostic
from ..model._hostconfig import LIMITS
from ..model._names import InterfaceName, Version
from ..model._records import Capabilities, ConformanceExample, Limits, Manifest, Preopen

__all__ = ["MANIFEST_NAME", "manifest_identity", "parse_manifest"]

MANIFEST_NAME = "extension.toml"

_TOP_KEYS = frozenset(
    {"name", "version", "component", "description", "world", "wit", "provides", "capabilities",
     "limits", "conformance", "build"}
)
_CAP_KEYS = frozenset({"preopens", "inherit_env", "env", "inherit_stdio", "network", "args"})
_LIMIT_KEYS = tuple(LIMITS)
_PREOPEN_KEYS = frozenset({"guest", "write"})
_EXAMPLE_KEYS = frozenset({"function", "args", "expect", "expect_error", "command"})
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")

# Bounds on what a manifest may hold. Nesting is capped so every later stage can
# walk values recursively; paths are capped at Linux's PATH_MAX / NAME_MAX so an
# over-long one is a manifest error here rather than an OSError at load time.
MAX_DEPTH = 64
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
# Largest accepted `[limits]` values, the same as for `Host.load` (`_hostconfig.LIMITS`): each
# still fits the type wasmtime takes once scaled (`memory_mb` * 2**20 bytes, fuel as a signed
# 64-bit count).
LIMIT_MAX: dict[str, int] = {key: spec.high for key, spec in LIMITS.items()}


def _show(value: Any) -> str:
    """A value as TOML would spell it (`true`, not Python's `True`)."""
    return json.dumps(value, default=str)


def _type_name(value: Any) -> str:
    """The TOML word for a parsed value, so messages speak the user's language."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "date/time"
    return type(value).__name__


class _Reader:
    """Collects diagnostics while walking the parsed TOML."""

    def __init__(self, path: Path, extension: str) -> None:
        self.path = path
        self.extension = extension
        self.diagnostics: list[Diagnostic] = []
        self.failed = False

    def error(self, key: str, message: str, **details: Any) -> None:
        self.failed = True
        self.diagnostics.append(Diagnostic(
            "bad-manifest", f"{self.path.name}: {message}", extension=self.extension, subject=key,
            details={"path": str(self.path), "key": key, **details},
        ))

    def wrong_type(self, key: str, expected: str, value: Any) -> None:
        self.error(key, f"`{key}` must be {expected}, not {_type_name(value)}",
                   expected=expected, found=_type_name(value))

    def unknown(self, table: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
        for key in sorted(set(table) - known):
            full = f"{prefix}{key}"
            near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = (f"did you mean `{prefix}{near[0]}`?" if near
                    else f"known keys here: {', '.join(sorted(known))}")
            self.diagnostics.append(Diagnostic(
                "unknown-manifest-key", f"{self.path.name}: unknown key `{full}` is ignored",
                extension=self.extension, subject=full, severity="warning", hint=hint,
                details={"path": str(self.path), "key": full, **({"did_you_mean": f"{prefix}{near[0]}"}
                                                                  if near else {})},
            ))

    def string(self, table: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str):
            self.wrong_type(prefix + key, "a string", value)
            return None
        return value

    def file_name(self, key: str, value: str | None, what: str = "") -> bool:
        """False (after reporting) if `value` cannot be a file name; see `_path_problem`."""
        problem = None if value is None else _path_problem(value)
        if problem is not None:
            self.error(key, f"`{key}`{what} {_clip(value or '')} {problem}", value=value)
            return False
        return True

    def boolean(self, table: Mapping[str, Any], key: str, prefix: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.wrong_type(prefix + key, "a boolean", value)
            return False
        return value

    def table(self, value: Any, key: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.wrong_type(key, "a table", value)
            return None
        return value

    def string_table(self, value: Any, key: str) -> tuple[tuple[str, str], ...]:
        table = self.table(value, key)
        if table is None:
            return ()
        out: list[tuple[str, str]] = []
        for k, v in table.items():
            if isinstance(v, str):
                out.append((k, v))
            else:
                self.wrong_type(f"{key}.{k}", "a string", v)
        return tuple(out)

    def plain(self, value: Any, key: str) -> bool:
        """True if `value` is JSON-like (no TOML dates/times, which no WIT type maps to)."""
        if isinstance(value, (datetime.date, datetime.time)):
            self.error(key, f"`{key}` holds a TOML date/time; use a string instead")
            return False
        if isinstance(value, list):
            return all(self.plain(v, key) for v in value)
        if isinstance(value, dict):
            return all(self.plain(v, key) for v in value.values())
        return True


def _toml_position(message: str, path: Path) -> dict[str, int]:
    """Line and column of a TOML error; tomllib says "at end of document" for the last spot."""
    m = _TOML_POSITION.search(message)
    if m:
        return {"line": int(m[1]), "column": int(m[2])}
    if "at end of document" in message:
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError):
            return {}
        return {"line": len(lines), "column": len(lines[-1]) + 1}
    return {}


def parse_manifest(path: Path, *, default_name: str) -> tuple[Manifest | None, list[Diagnostic]]:
    """Parse `path`; `default_name` (the folder's name) is used when `name` is absent.

    Returns `(None, diagnostics)` when any error was found, so a half-understood
    manifest is never acted on.
    """
    reader = _Reader(path, default_name)
    data = _read_toml(reader, path)
    if data is None:
        return None, reader.diagnostics

    raw_name = data.get("name")
    if isinstance(raw_name, str) and raw_name:
        reader.extension = raw_name
    name = reader.string(data, "name")
    if name == "":
        reader.error("name", "`name` must not be empty")

    version = reader.string(data, "version")
    if version is not None:
        try:
            Version.parse(version)
        except ValueError:
            reader.error("version", f"`version` {version!r} is not a semantic version (like 1.2.0)",
                         value=version)

    component = reader.string(data, "component")
    if component == "":
        reader.error("component", "`component` must not be empty")
    reader.file_name("component", component)
    description = reader.string(data, "description") or ""
    world = reader.string(data, "world")
    wit = reader.string(data, "wit")
    reader.file_name("wit", wit)

    provides = _provides(reader, data["provides"]) if "provides" in data else {}
    capabilities = _capabilities(reader, data["capabilities"]) if "capabilities" in data else None
    limits = _limits(reader, data["limits"]) if "limits" in data else None
    examples = _conformance(reader, data["conformance"]) if "conformance" in data else ()
    reader.unknown(data, _TOP_KEYS, "")

    if reader.failed:
        return None, reader.diagnostics
    return Manifest(
        name=name or default_name,
        version=version,
        component=component,
        description=description,
        provides=provides,
        capabilities=capabilities or Capabilities(),
        limits=limits or Limits(),
        examples=examples,
        world=world,
        wit=wit,
    ), reader.diagnostics


def manifest_identity(path: Path, *, default_name: str) -> tuple[str, str | None]:
    """(name, component) of a manifest `parse_manifest` rejected, read as leniently as possible.

    The name is the one its diagnostics carry; the component is the `component`
    key if it is a non-empty string. Used only to learn what a broken extension
    exports, so its dependents are reported as blocked by it.
    """
    data = _read_toml(_Reader(path, default_name), path)
    if data is None:
        return default_name, None
    name = data.get("name")
    component = data.get("component")
    usable = isinstance(component, str) and component and _path_problem(component) is None
    return (name if isinstance(name, str) and name else default_name,
            component if usable else None)


def _read_toml(reader: _Reader, path: Path) -> dict[str, Any] | None:
    """The parsed document, or None after reporting why it cannot be used.

    Everything tomllib can raise for hostile bytes is caught here, not only its
    decode error: deep nesting raises RecursionError, an integer literal of more
    than 4300 digits ValueError. A document nested deeper than `MAX_DEPTH` is
    refused too, so no later stage can hit the recursion limit on it.
    """
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        reader.error(MANIFEST_NAME, f"not valid TOML: {exc}", **_toml_position(str(exc), path))
        return None
    except UnicodeDecodeError as exc:
        reader.error(MANIFEST_NAME, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
        return None
    except OSError as exc:
        reader.error(MANIFEST_NAME, f"cannot be read: {exc.strerror or exc}")
        return None
    except RecursionError:
        reader.error(MANIFEST_NAME, f"not valid TOML: nested more than {MAX_DEPTH} levels deep",
                     limit=MAX_DEPTH)
        return None
    except (ValueError, MemoryError) as exc:  # e.g. "Exceeds the limit (4300 digits) for integer ..."
        reader.error(MANIFEST_NAME, f"not valid TOML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return None
    if _depth_exceeds(data, MAX_DEPTH):
        reader.error(MANIFEST_NAME, f"not valid TOML: nested more than {MAX_DEPTH} levels deep",
                     limit=MAX_DEPTH)
        return None
    return data


def _clip(value: str, limit: int = 60) -> str:
    """`value` quoted for a message (NUL and other controls escaped), cut to `limit` characters."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "…"


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/tables nest deeper than `limit` (iterative: the point is to avoid recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _path_problem(value: str) -> str | None:
    """Why `value` cannot name a file on this system, or None.

    Checked when the manifest is read, so such a path is a `bad-manifest` for its
    extension instead of an exception from the OS layer during discovery or linking.
    """
    if "\0" in value:
        return "contains a NUL character"
    try:
        raw = os.fsencode(value)
    except UnicodeError:
        return "cannot be encoded as a file name"
    if len(raw) > MAX_PATH_BYTES:
        return f"is {len(raw)} bytes long, over the {MAX_PATH_BYTES}-byte limit for a path"
    longest = max((len(part) for part in raw.split(b"/")), default=0)
    if longest > MAX_NAME_BYTES:
        return f"has a {longest}-byte name in it, over the {MAX_NAME_BYTES}-byte limit for a file name"
    return None


def _provides(reader: _Reader, value: Any) -> dict[str, str]:
    pins: dict[str, str] = {}
    for iface, ext in reader.string_table(value, "provides"):
        if InterfaceName.parse(iface) is None:
            reader.error(f"provides.{iface}",
                         f"`provides` key {iface!r} is not an interface name (like \"ns:pkg/iface\")",
                         value=iface)
        else:
            pins[iface] = ext
    return dict(sorted(pins.items()))


def _preopens(reader: _Reader, value: Any) -> tuple[Preopen, ...]:
    key = "capabilities.preopens"
    out: list[Preopen] = []
    if isinstance(value, dict):
        for host, spec in value.items():
            where = f"{key}.{host}"
            if isinstance(spec, str):
                out.append(Preopen(host, spec))
            elif isinstance(spec, dict):
                found = _preopen_entry(reader, spec, where, host, _PREOPEN_KEYS)
                if found is not None:
                    out.append(found)
            else:
                reader.wrong_type(where, "a string (the guest path) or a table { guest = ..., write = ... }", spec)
        return tuple(out)
    if not isinstance(value, list):
        reader.wrong_type(key, "a table or an array of tables", value)
        return ()
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        entry = reader.table(item, where)
        if entry is None:
            continue
        if "host" not in entry:
            reader.error(f"{where}.host", f"`{where}` needs a `host` path")
        host = reader.string(entry, "host", f"{where}.")
        found = _preopen_entry(reader, entry, where, host, _PREOPEN_KEYS | {"host"})
        if found is not None:
            out.append(found)
    return tuple(out)


def _preopen_entry(reader: _Reader, entry: dict[str, Any], where: str, host: str | None,
                   known: frozenset[str]) -> Preopen | None:
    """`{ guest = "/data", write = true }`; `write` defaults to false (read-only)."""
    reader.unknown(entry, known, f"{where}.")
    guest = reader.string(entry, "guest", f"{where}.")
    if "guest" not in entry:
        reader.error(f"{where}.guest", f"`{where}` needs a `guest` path")
    write = reader.boolean(entry, "write", f"{where}.")
    if host is None or guest is None:
        return None
    return Preopen(host, guest, write)


def _capabilities(reader: _Reader, value: Any) -> Capabilities | None:
    table = reader.table(value, "capabilities")
    if table is None:
        return None
    p = "capabilities."
    reader.unknown(table, _CAP_KEYS, p)
    args: tuple[str, ...] = ()
    if "args" in table:
        raw = table["args"]
        if isinstance(raw, list) and all(isinstance(a, str) for a in raw):
            args = tuple(raw)
        else:
            reader.wrong_type(p + "args", "an array of strings", raw)
    preopens = _preopens(reader, table["preopens"]) if "preopens" in table else ()
    env = reader.string_table(table["env"], p + "env") if "env" in table else ()
    _check_capability_strings(reader, preopens, env, args)
    return Capabilities(
        preopens=preopens,
        env=env,
        inherit_env=reader.boolean(table, "inherit_env", p),
        inherit_stdio=reader.boolean(table, "inherit_stdio", p),
        network=reader.boolean(table, "network", p),
        args=args,
    )


def _check_capability_strings(reader: _Reader, preopens: Any, env: tuple[tuple[str, str], ...],
                              args: tuple[str, ...]) -> None:
    """Strings handed to WASI as C strings: a NUL would cut them short (or raise at load).

    Preopen paths (host and guest) must also be usable file names; an environment
    variable's name must be non-empty and free of `=`.
    """
    key = "capabilities.preopens"
    for entry in preopens:  # a `Preopen`, or a (host, guest) pair
        host, guest = (entry.host, entry.guest) if hasattr(entry, "host") else (entry[0], entry[1])
        reader.file_name(key, host, " host path")
        reader.file_name(key, guest, " guest path")
    for name, value in env:
        if not name or "=" in name or "\0" in name:
            reader.error("capabilities.env", f"`capabilities.env` name {_clip(name)} must be non-empty and "
                         "contain neither '=' nor a NUL character", name=name)
        if "\0" in value:
            reader.error("capabilities.env", f"`capabilities.env` value of {_clip(name)} ({_clip(value)}) "
                         "contains a NUL character", name=name, value=value)
    for i, arg in enumerate(args):
        if "\0" in arg:
            reader.error(f"capabilities.args[{i}]", f"`capabilities.args[{i}]` {_clip(arg)} contains a NUL "
                         "character", value=arg)


def _limits(reader: _Reader, value: Any) -> Limits | None:
    table = reader.table(value, "limits")
    if table is None:
        return None
    reader.unknown(table, frozenset(_LIMIT_KEYS), "limits.")
    values: dict[str, int] = {}
    for key in _LIMIT_KEYS:
        if key not in table:
            continue
        v = table[key]
        # bool is an int subclass in Python; `true` is not a limit.
        if type(v) is not int or v <= 0:
            reader.error(f"limits.{key}", f"`limits.{key}` must be a positive integer, not {_cut(_show(v))}",
                         expected="a positive integer", found=_type_name(v))
        elif v > LIMIT_MAX[key]:
            most = LIMIT_MAX[key]
            reader.error(f"limits.{key}", f"`limits.{key}` is {_cut(str(v))}, over its maximum {most} "
                         f"({LIMITS[key].unit})", expected=f"at most {most}", found=_cut(str(v)))
        else:
            values[key] = v
    return Limits(**values)


def _conformance(reader: _Reader, value: Any) -> tuple[ConformanceExample, ...]:
    table = reader.table(value, "conformance")
    if table is None:
        return ()
    reader.unknown(table, frozenset({"example"}), "conformance.")
    if "example" not in table:
        return ()
    raw = table["example"]
    if not isinstance(raw, list):
        reader.wrong_type("conformance.example", "an array of tables ([[conformance.example]])", raw)
        return ()
    out: list[ConformanceExample] = []
    for i, item in enumerate(raw):
        example = _example(reader, item, f"conformance.example[{i}]")
        if example is not None:
            out.append(example)
    return tuple(out)


def _example(reader: _Reader, item: Any, where: str) -> ConformanceExample | None:
    entry = reader.table(item, where)
    if entry is None:
        return None
    p = f"{where}."
    reader.unknown(entry, _EXAMPLE_KEYS, p)
    before = len(reader.diagnostics)
    function = reader.string(entry, "function", p)
    command = reader.string(entry, "command", p)
    if "function" not in entry and "command" not in entry:
        reader.error(p + "function", f"`{where}` needs a `function` (or a `command`)")
    args: tuple[Any, ...] = ()
    if "args" in entry:
        raw_args = entry["args"]
        if not isinstance(raw_args, list):
            reader.wrong_type(p + "args", "an array", raw_args)
        elif reader.plain(raw_args, p + "args"):
            args = tuple(raw_args)
    has_expect = "expect" in entry
    expect = entry.get("expect")
    if has_expect:
        reader.plain(expect, p + "expect")
    expect_error = reader.string(entry, "expect_error", p)
    if expect_error is not None and expect_error not in CALL_CODES:
        reader.error(p + "expect_error",
                     f"`{p}expect_error` {expect_error!r} is not a call error code "
                     f"(one of: {', '.join(sorted(CALL_CODES))})", value=expect_error)
    if has_expect and "expect_error" in entry:
        reader.error(p + "expect", f"`{where}` has both `expect` and `expect_error`; keep one")
    if any(d.is_error for d in reader.diagnostics[before:]):
        return None
    return ConformanceExample(
        function=function if function is not None else "",
        args=args,
        expect=expect,
        expect_error=expect_error,
        has_expect=has_expect,
        command=command,
    )
