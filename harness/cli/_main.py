"""`ext-harness`: inspect a set of extensions, or call one of their functions.

Exit codes: 0 success, 1 a problem with the extensions or the call (error
diagnostics, a call error), 2 wrong usage (argparse's own code, kept).

`call` takes `PATH... EXTENSION FUNCTION [ARG...]` as positionals; the paths are
the leading arguments that exist on disk (at least EXTENSION and FUNCTION are
always left over). `-p/--path` names paths explicitly, and then every positional
is EXTENSION FUNCTION ARG... (for an extension named like a file in the working
directory). Subcommands `run` and `commands` are registered by
`harness.runtime._commands` when that module exists.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..model._errors import BadArgumentsError, CallError, HarnessError, NoSuchFunctionError
from ..model._text import json_text, printable
from ..model._witypes import EnumT, Prim, ValueType

__all__ = ["build_parser", "main", "parse_call_arg", "split_call_positionals"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Usage(Exception):
    """A usage problem found after argparse (reported like argparse does, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with what it prints (usage errors quote the arguments) escaped like all output."""

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(printable(message), file)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__
    try:
        wt = version("wasmtime")
    except PackageNotFoundError:  # pragma: no cover
        wt = "unknown"
    return f"ext-harness {__version__} (wasmtime {wt})"


def _add_load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON document instead of text")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the compile cache")
    p.add_argument("--cache-dir", metavar="DIR", help="compile cache folder (default: the user cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ext-harness",
        description="Host, link and test WebAssembly-component extensions.",
        epilog="exit codes: 0 success, 1 error diagnostics or call error, 2 usage error",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p_inspect = sub.add_parser(
        "inspect", help="discover, analyse and resolve extensions; report interfaces and diagnostics",
        description="Report every extension under PATH...: status, imports, exports, load order, "
                    "links and diagnostics. Exit 1 if there is any error diagnostic.")
    p_inspect.add_argument("paths", nargs="+", metavar="PATH",
                           help="an extension folder, a folder of extensions, a .wasm or .wat file")
    _add_load_options(p_inspect)
    p_inspect.set_defaults(handler=_cmd_inspect)

    p_call = sub.add_parser(
        "call", help="call an exported function with JSON arguments",
        description="Call FUNCTION of EXTENSION with arguments given as JSON (a word that is not "
                    "valid JSON is a string). The paths are the leading arguments that exist on disk; "
                    "use -p/--path to name them explicitly.",
        epilog="example: ext-harness call examples/ ext-add 'ext:add/lib#add' 3 4")
    p_call.add_argument("positionals", nargs="*", metavar="PATH... EXTENSION FUNCTION [ARG_JSON...]")
    add_call_options(p_call, "call")
    _add_load_options(p_call)
    p_call.set_defaults(handler=_cmd_call)

    p_wit = sub.add_parser(
        "wit", help="print the host contract (WIT package ext:host@0.1.0)",
        description="Print wit/host.wit, the contract extensions are built against; with --path, "
                    "print where it is (copy it into your extension's wit/deps/).")
    p_wit.add_argument("--path", action="store_true", help="print the file's path instead of its text")
    p_wit.set_defaults(handler=_cmd_wit)

    from ..runtime._commands import add_cli_commands  # `run` and `commands` live with the command registry

    add_cli_commands(sub, _add_load_options)
    return parser


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argparse's --help/--version/usage exits included)."""
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(list(argv) if argv is not None else None)
        if extras:
            if args.command != "call" or any(_looks_like_option(x) for x in extras):
                parser.error(f"unrecognized arguments: {' '.join(extras)}")
            args.positionals = [*args.positionals, *extras]  # positionals after an option
        code: int = args.handler(args)
        return code
    except SystemExit as e:  # argparse: --help, --version, usage errors (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
    except _Usage as e:
        print(printable(f"ext-harness {args.command}: error: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _looks_like_option(text: str) -> bool:
    """An unknown `-x`; `-3` and `-1.5e3` are arguments (JSON numbers), not options."""
    if not text.startswith("-") or text == "-":
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return True
    return False


# --------------------------------------------------------------------------- inspect

def _cmd_wit(args: argparse.Namespace) -> int:
    from ..model._contract import host_wit_path

    path = host_wit_path()
    print(path if args.path else path.read_text(encoding="utf-8"), end="" if not args.path else "\n")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ..pipeline._inspect import inspect
    from ._render import inspection_to_json, inspection_to_text

    insp = inspect(args.paths, cache_dir=args.cache_dir, use_cache=not args.no_cache)
    if args.json:
        _print_json(inspection_to_json(insp), sys.stdout, indent=2)
    else:
        sys.stdout.write(inspection_to_text(insp))  # escaped by the renderer
    return EXIT_FAILED if insp.errors else EXIT_OK


# --------------------------------------------------------------------------- call

def leading_paths(positionals: Sequence[str], explicit_paths: Sequence[str], names: int,
                  exists: Any = None) -> tuple[list[str], list[str]]:
    """(paths, the rest) for `call` and `run`: the paths are `explicit_paths` (`-p`), else the
    longest run of leading arguments that exist on disk, leaving at least `names` arguments.
    Without explicit paths and with none found, the paths are `[]`."""
    items = list(positionals)
    check = exists or _exists
    if explicit_paths:
        missing = next((p for p in explicit_paths if not check(p)), None)
        if missing is not None:
            raise ValueError(f"no such path: {missing!r} (given with -p/--path)")
        return list(explicit_paths), items
    n = 0
    while n < len(items) - names and check(items[n]):
        n += 1
    return items[:n], items[n:]


def _exists(path: str) -> bool:
    """`Path.exists`, but a name the OS refuses (too long, a NUL byte) is just not there."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def missing_path_message(first: str) -> str:
    return f"{first!r} does not exist: the leading arguments must be existing extension paths " \
           "(or name them with -p/--path)"


def add_call_options(p: argparse.ArgumentParser, what: str) -> None:
    """The options `call` and `run` share: explicit paths, asyncio, a time limit."""
    p.add_argument("-p", "--path", action="append", default=[], dest="explicit_paths",
                   metavar="PATH", help="an extension path (repeatable); then no positional is a path")
    p.add_argument("--async", action="store_true", dest="use_async",
                   help=f"run the {what} through asyncio")
    p.add_argument("--timeout-ms", type=_positive_int, metavar="N", help=f"time limit of the {what}")


def split_call_positionals(positionals: Sequence[str], explicit_paths: Sequence[str] = (),
                           exists: Any = None) -> tuple[list[str], str, str, list[str]]:
    """(paths, extension, function, raw args) from `call`'s positionals (see `leading_paths`)."""
    try:
        paths, items = leading_paths(positionals, explicit_paths, 2, exists)
    except ValueError as e:
        raise _Usage(str(e)) from None
    if not paths:
        if not items:
            raise _Usage("expected PATH... EXTENSION FUNCTION [ARG...]")
        if len(items) < 3:
            raise _Usage("expected PATH... EXTENSION FUNCTION [ARG...] (at least 3 arguments)")
        raise _Usage(missing_path_message(items[0]))
    if len(items) < 2:
        raise _Usage("expected EXTENSION and FUNCTION after the paths")
    return paths, items[0], items[1], items[2:]


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


def _cmd_call(args: argparse.Namespace) -> int:
    paths, extension, function, raw = split_call_positionals(args.positionals, args.explicit_paths)
    timeout = args.timeout_ms / 1000 if args.timeout_ms else None
    try:
        value = _do_call(paths, extension, function, raw, args, timeout)
    except CallError as e:
        if e.extension is None:
            e.extension = extension
        if e.function is None:
            e.function = function
        _report_error(e, args.json)
        return EXIT_FAILED
    except HarnessError as e:  # a usage problem found by the host (e.g. bad option values)
        raise _Usage(str(e)) from e
    if args.json:
        _print_json({"value": value}, sys.stdout)
    else:
        _print_json(value, sys.stdout)
    return EXIT_OK


def _do_call(paths: list[str], extension: str, function: str, raw: list[str], args: argparse.Namespace,
             timeout: float | None) -> Any:
    from ..runtime._host import Host
    from ..runtime._values import args_to_python, to_json

    with Host.load(*paths, cache_dir=args.cache_dir, use_cache=not args.no_cache) as host:
        rt = host.runtimes.get(extension)
        key = rt.canonical(function) if rt is not None else None
        if rt is None or key is None:
            host.function(extension, function)  # raises the precise no-such-function error
            raise NoSuchFunctionError(f"{extension} exports no function {function!r}",
                                      extension=extension, function=function)  # pragma: no cover
        sig = rt.signature(key)
        if sig is None:  # pragma: no cover - canonical keys always have a signature
            raise NoSuchFunctionError(f"{extension}: no signature for {key}", extension=extension,
                                      function=key)
        params = [t for _, t in sig.params]
        decoded = []
        for i, a in enumerate(raw):
            try:
                decoded.append(parse_call_arg(a, params[i] if i < len(params) else None))
            except ValueError as e:
                raise _Usage(f"argument {i + 1} ({a[:20]!r}...): {e}") from None
        try:
            py_args = args_to_python(decoded, sig)
        except BadArgumentsError as e:
            e.extension, e.function = extension, key
            e.message = f"{extension}:{key}: {e.message}"
            raise
        if args.use_async:
            result = asyncio.run(host.acall(extension, key, *py_args, timeout=timeout))
        else:
            result = host.call(extension, key, *py_args, timeout=timeout)
        return to_json(result, sig.result)


def _report_error(e: CallError, as_json: bool) -> None:
    if as_json:
        _print_json({"error": e.to_json()}, sys.stdout)
        return
    from ._render import call_error_lines

    print("\n".join(call_error_lines(e)), file=sys.stderr)


def _print_json(data: Any, stream: TextIO, indent: int | None = None) -> None:
    stream.write(json_text(data, indent=indent) + "\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
