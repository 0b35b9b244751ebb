"""The `ext-harness` argument parser: every subcommand, its options and its handler."""

from __future__ import annotations

import argparse
from typing import Any

from ..model._text import printable
from ._args import positive_int
from ._handlers import cmd_build, cmd_call, cmd_commands, cmd_compose, cmd_inspect, cmd_new, cmd_run, cmd_wit

__all__ = ["build_parser"]

_PATHS_HELP = "an extension folder, a folder of extensions, a .wasm or .wat file"


class _Parser(argparse.ArgumentParser):
    """argparse, with what it prints (usage errors quote the arguments) escaped like all output."""

    intermixed = False  # True: positionals may follow options (`new NAME --lang js DIR`)
    _mixing = False

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(printable(message), file)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self.intermixed and not self._mixing:  # parse_known_intermixed_args calls back into this method
            self._mixing = True
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._mixing = False
        return super().parse_known_args(args, namespace)


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


def _add_call_options(p: argparse.ArgumentParser, what: str) -> None:
    """The options `call` and `run` share: explicit paths, asyncio, a time limit."""
    p.add_argument("-p", "--path", action="append", default=[], dest="explicit_paths",
                   metavar="PATH", help="an extension path (repeatable); then no positional is a path")
    p.add_argument("--async", action="store_true", dest="use_async",
                   help=f"run the {what} through asyncio")
    p.add_argument("--timeout-ms", type=positive_int, metavar="N", help=f"time limit of the {what}")
    p.add_argument("--link", choices=("dynamic", "fused"), default="dynamic",
                   help="dynamic: each extension in its own Store, linked through the host (default); fused: each "
                        "extension that imports libraries runs composed with private copies of its providers "
                        "(docs/linking.md)")


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
    p_inspect.add_argument("paths", nargs="+", metavar="PATH", help=_PATHS_HELP)
    _add_load_options(p_inspect)
    p_inspect.set_defaults(handler=cmd_inspect)

    p_call = sub.add_parser(
        "call", help="call an exported function with JSON arguments",
        description="Call FUNCTION of EXTENSION with arguments given as JSON (a word that is not "
                    "valid JSON is a string). The paths are the leading arguments that exist on disk; "
                    "use -p/--path to name them explicitly.",
        epilog="example: ext-harness call examples/ ext-add 'ext:add/lib#add' 3 4")
    p_call.add_argument("positionals", nargs="*", metavar="PATH... EXTENSION FUNCTION [ARG_JSON...]")
    _add_call_options(p_call, "call")
    _add_load_options(p_call)
    p_call.set_defaults(handler=cmd_call)

    p_wit = sub.add_parser(
        "wit", help="print the host contract (WIT package ext:host@0.1.0)",
        description="Print wit/host.wit, the contract extensions are built against; with --path, "
                    "print where it is (copy it into your extension's wit/deps/).")
    p_wit.add_argument("--path", action="store_true", help="print the file's path instead of its text")
    p_wit.set_defaults(handler=cmd_wit)

    p_list = sub.add_parser(
        "commands", help="list the commands the extensions offer",
        description="List every command offered by the extensions under PATH..., with its qualified "
                    "name (extension:command), arguments and description. Exit 1 if loading or "
                    "listing reported an error.")
    p_list.add_argument("paths", nargs="+", metavar="PATH", help=_PATHS_HELP)
    _add_load_options(p_list)
    p_list.set_defaults(handler=cmd_commands)

    p_run = sub.add_parser(
        "run", help="run a command offered by an extension",
        description="Run COMMAND (`extension:command`, or a bare `command` offered by one extension) "
                    "with string arguments. The paths are the leading arguments that exist on disk; "
                    "use -p/--path to name them explicitly, and `--` before arguments starting with -. "
                    "Exit 0 on success, 1 if the command failed or could not be run, 2 on wrong usage.",
        epilog="example: ext-harness run examples/ eval '1 + 2 * 3'")
    p_run.add_argument("positionals", nargs="*", metavar="PATH... COMMAND [ARG...]")
    _add_call_options(p_run, "command")
    _add_load_options(p_run)
    p_run.set_defaults(handler=cmd_run)

    p_new = sub.add_parser(
        "new", help="create a new extension folder (Python, JavaScript or WAT)",
        description="Create the folder NAME (in DIR, default the current folder) holding an extension that "
                    "builds with `ext-harness build` and passes `pytest --ext-suite` as it is: extension.toml "
                    "with conformance examples, wit/ with the host contract in wit/deps/, a source file, "
                    "a test using the pytest fixtures and a .gitignore.",
        epilog="example: ext-harness new my-ext --lang python && cd my-ext && ext-harness build && "
               "pytest --ext-suite")
    p_new.add_argument("name", metavar="NAME", help="the extension's name: lowercase words joined by '-'")
    p_new.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to create NAME (default: .)")
    p_new.add_argument("--lang", required=True, choices=("python", "js", "wat"), help="the source language")
    p_new.set_defaults(handler=cmd_new)
    if isinstance(p_new, _Parser):
        p_new.intermixed = True

    p_compose = sub.add_parser(
        "compose", help="compose an extension and everything it imports into one component",
        description="Discover and resolve PATH... as `call` does, then compose EXTENSION with its providers, "
                    "transitively, into one component (wasm-tools compose): library imports are satisfied "
                    "inside it, across compatible versions; ext:host/* and WASI imports stay imports; it "
                    "exports what EXTENSION exports. The result is validated. Exit 1 if EXTENSION cannot be "
                    "composed (its diagnostics are printed), 2 on wrong usage.",
        epilog="example: ext-harness compose examples/ ext-add -o ext-add.composed.wasm")
    p_compose.add_argument("positionals", nargs="+", metavar="PATH... EXTENSION")
    p_compose.add_argument("-o", "--output", required=True, metavar="OUT.wasm", help="where to write the component")
    _add_load_options(p_compose)
    p_compose.set_defaults(handler=cmd_compose)

    p_build = sub.add_parser(
        "build", help="build extensions from source with pinned toolchains",
        description="Build every extension under PATH... (default: the current folder) from source: "
                    "componentize-py for Python, componentize-qjs for JavaScript, wasm-tools for WAT, each "
                    "installed on first use into the tool cache. An extension whose inputs are unchanged is "
                    "skipped. Each output is checked with `wasm-tools validate` and `component targets`. "
                    "Exit 1 if any extension failed.")
    p_build.add_argument("paths", nargs="*", metavar="PATH", help="an extension folder or a folder of them")
    p_build.add_argument("--force", action="store_true", help="rebuild even if the inputs are unchanged")
    p_build.add_argument("--toolchains", metavar="DIR",
                         help="tool cache folder (default: $EXT_HARNESS_TOOLCHAINS, else "
                              "$XDG_CACHE_HOME/ext-harness/toolchains or ~/.cache/ext-harness/toolchains)")
    p_build.add_argument("--no-install", action="store_true",
                         help="fail instead of installing a missing toolchain (no network)")
    p_build.add_argument("--json", action="store_true", help="print a JSON document instead of text")
    p_build.set_defaults(handler=cmd_build)
    return parser
