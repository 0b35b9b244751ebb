"""How the CLI reads its arguments: paths before names, JSON arguments, exit codes.

`call` takes `PATH... EXTENSION FUNCTION [ARG...]` and `run` takes `PATH... COMMAND [ARG...]`
as positionals; the paths are the leading arguments that exist on disk (the names after them
are always left over). For `call`, the paths also end at the first argument that names an
extension found under the paths before it, so `call . shout-js ...` works where `shout-js` is
also a subfolder. `-p/--path` names paths explicitly, and then no positional is a path
(for the rare case the rule gets wrong). Errors say which arguments were taken as paths, and
which argument was taken as a string because it is not valid JSON.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from ..model._witypes import EnumT, Prim, ValueType

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "leading_paths", "missing_path_message", "parse_call_arg",
           "split_call_positionals", "split_run_positionals", "taken_as_paths", "taken_as_string"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Usage(Exception):
    """A usage problem found after argparse (reported like argparse does, exit 2)."""


def positive_int(text: str) -> int:
    """argparse `type=` for `--timeout-ms`."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def looks_like_option(text: str) -> bool:
    """An unknown `-x`; `-3` and `-1.5e3` are arguments (JSON numbers), not options."""
    if not text.startswith("-") or text == "-":
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return True
    return False


def leading_paths(positionals: Sequence[str], explicit_paths: Sequence[str], names: int,
                  exists: Any = None,
                  names_under: Callable[[Sequence[str]], Collection[str]] | None = None) -> tuple[list[str], list[str]]:
    """(paths, the rest) for `call` and `run`: the paths are `explicit_paths` (`-p`), else the
    longest run of leading arguments that exist on disk, leaving at least `names` arguments,
    and ending before the first argument that names an extension found under the paths before
    it (`names_under(paths)`: the extension names there; asked only when an argument could be
    either). Without explicit paths and with none found, the paths are `[]`."""
    items = list(positionals)
    check = exists or _exists
    if explicit_paths:
        missing = next((p for p in explicit_paths if not check(p)), None)
        if missing is not None:
            raise ValueError(f"no such path: {missing!r} (given with -p/--path)")
        return list(explicit_paths), items
    n = 0
    while n < len(items) - names and check(items[n]):
        if n and names_under is not None and items[n] in names_under(items[:n]):
            break
        n += 1
    return items[:n], items[n:]


def taken_as_paths(paths: Sequence[str]) -> str:
    """The note every path-related `call` error carries: which arguments were read as paths."""
    shown = ", ".join(repr(p) for p in paths) if paths else "none"
    return f"taken as paths: {shown} (name paths explicitly with -p/--path)"


def taken_as_string(raw: Sequence[str], path: object) -> str | None:
    """The note for a `bad-arguments` error at `path` (`args[i]...`) when argument i is not valid
    JSON and so was passed as a string (`parse_call_arg`); None when that is not why."""
    m = re.match(r"args\[(\d+)\]", path) if isinstance(path, str) else None
    if m is None or int(m.group(1)) >= len(raw):
        return None
    i = int(m.group(1))
    try:
        json.loads(raw[i])
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}" if e.lineno > 1 else f"column {e.colno}"
        shown = raw[i] if len(raw[i]) <= 40 else raw[i][:40] + "..."
        return (f"taken as a string: args[{i}] {shown!r} is not valid JSON ({e.msg} at {where}); "
                "write the argument as JSON (quote it for the shell)")
    except (ValueError, RecursionError):
        return None
    return None


def _exists(path: str) -> bool:
    """`Path.exists`, but a name the OS refuses (too long, a NUL byte) is just not there."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def missing_path_message(first: str) -> str:
    return f"{first!r} does not exist: the leading arguments must be existing extension paths " \
           "(or name them with -p/--path)"


def split_call_positionals(positionals: Sequence[str], explicit_paths: Sequence[str] = (),
                           exists: Any = None,
                           names_under: Callable[[Sequence[str]], Collection[str]] | None = None,
                           ) -> tuple[list[str], str, str, list[str]]:
    """(paths, extension, function, raw args) from `call`'s positionals (see `leading_paths`)."""
    try:
        paths, items = leading_paths(positionals, explicit_paths, 2, exists, names_under)
    except ValueError as e:
        raise _Usage(str(e)) from None
    if not paths:
        if not items:
            raise _Usage("expected PATH... EXTENSION FUNCTION [ARG...]")
        if len(items) < 3:
            raise _Usage("expected PATH... EXTENSION FUNCTION [ARG...] (at least 3 arguments); "
                         + taken_as_paths(paths))
        raise _Usage(f"{missing_path_message(items[0])}; {taken_as_paths(paths)}")
    if len(items) < 2:
        raise _Usage(f"expected EXTENSION and FUNCTION after the paths; {taken_as_paths(paths)}")
    return paths, items[0], items[1], items[2:]


def split_run_positionals(positionals: Sequence[str], explicit_paths: Sequence[str] = (),
                          exists: Callable[[str], bool] | None = None) -> tuple[list[str], str, list[str]]:
    """(paths, command, args) from `run`'s positionals (see `leading_paths`)."""
    paths, items = leading_paths(positionals, explicit_paths, 1, exists)
    if not paths:
        if len(items) < 2:
            raise ValueError("expected PATH... COMMAND [ARG...]")
        raise ValueError(missing_path_message(items[0]))
    if not items:
        raise ValueError("expected COMMAND after the paths")
    return paths, items[0], items[1:]


def parse_call_arg(text: str, t: ValueType | None) -> Any:
    """JSON if it parses, else the text itself; a string-typed parameter takes the raw text
    unless it is a JSON string (so `42` passes "42" to a `string` parameter).

    Raises `ValueError` for JSON nested deeper than Python's recursion limit allows to read."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("it is JSON nested too deeply to read (about 1000 levels at most)") from None
    except ValueError:
        return text
    if isinstance(t, (EnumT,)) or (isinstance(t, Prim) and t.name in ("string", "char")):
        return value if isinstance(value, str) else text
    return value
