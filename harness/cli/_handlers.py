"""The CLI's commands: each takes the parsed arguments, does the work, prints through
`_render` and returns the exit code. A usage problem found here raises `_Usage` (exit 2)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model._diagnostics import sort_diagnostics
from ..model._errors import BadArgumentsError, CallError, HarnessError, NoSuchCommandError, NoSuchFunctionError
from ..model._text import printable
from ._args import (
    EXIT_FAILED,
    EXIT_OK,
    _Usage,
    parse_call_arg,
    split_call_positionals,
    split_run_positionals,
    taken_as_paths,
    taken_as_string,
)
from ._render import diagnostic_lines, print_call_error, print_json

if TYPE_CHECKING:
    from ..runtime._host import Host

__all__ = ["cmd_build", "cmd_call", "cmd_commands", "cmd_compose", "cmd_inspect", "cmd_new", "cmd_run", "cmd_wit"]


def _load(paths: Sequence[str], args: argparse.Namespace) -> Host:
    """`Host.load` with the load options; a bad option value or path is a usage error."""
    from ..runtime._host import Host

    try:
        return Host.load(*paths, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                         link=getattr(args, "link", "dynamic"))
    except HarnessError as e:
        raise _Usage(str(e)) from e


# --------------------------------------------------------------------------- wit, inspect

def cmd_wit(args: argparse.Namespace) -> int:
    from ..model._contract import host_wit_path

    path = host_wit_path()
    print(path if args.path else path.read_text(encoding="utf-8"), end="" if not args.path else "\n")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..pipeline._inspect import inspect
    from ._render import inspection_to_json, inspection_to_text

    insp = inspect(*args.paths, cache_dir=args.cache_dir, use_cache=not args.no_cache)
    if args.json:
        print_json(inspection_to_json(insp), indent=2)
    else:
        sys.stdout.write(inspection_to_text(insp))  # escaped by the renderer
    return EXIT_FAILED if insp.errors else EXIT_OK


# --------------------------------------------------------------------------- call

def _extension_names(paths: Sequence[str], *, loadable_only: bool = False) -> frozenset[str]:
    """The names of the extensions discovered under `paths` (manifests only: nothing is compiled);
    with `loadable_only`, without those discovery already rejected (e.g. duplicate names)."""
    from ..pipeline._discovery import discover

    found = discover(*paths)
    return frozenset(c.name for c in (*found.candidates, *(() if loadable_only else found.failed)))


def cmd_call(args: argparse.Namespace) -> int:
    paths, extension, function, raw = split_call_positionals(args.positionals, args.explicit_paths,
                                                             names_under=_extension_names)
    timeout = args.timeout_ms / 1000 if args.timeout_ms else None
    try:
        value = _do_call(paths, extension, function, raw, args, timeout)
    except CallError as e:
        remarks = []
        if isinstance(e, NoSuchFunctionError) and extension not in _extension_names(paths, loadable_only=True):
            remarks.append(taken_as_paths(paths))
        if isinstance(e, BadArgumentsError) and (note := taken_as_string(raw, e.details.get("path"))):
            remarks.append(note)
        return print_call_error(e, args.json, extension=extension, function=function, remarks=remarks)
    except HarnessError as e:  # a usage problem found by the host (e.g. bad option values)
        raise _Usage(str(e)) from e
    print_json({"value": value} if args.json else value)
    return EXIT_OK


def _do_call(paths: list[str], extension: str, function: str, raw: list[str], args: argparse.Namespace,
             timeout: float | None) -> Any:
    from ..model._witypes import has_handle, render
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
        if has_handle(sig):  # handles live as long as the host, which ends with this command
            what = "returns" if has_handle(sig.result) else "takes"
            raise _Usage(f"{extension}:{key} {what} a resource handle ({render(sig)}); a handle lives only as long "
                         "as the host, which ends with this command, so the CLI cannot call it: call it from Python "
                         "(host.call returns a Handle), or through a function that uses the resource itself")
        params = [t for _, t in sig.params]
        decoded = []
        for i, a in enumerate(raw):
            try:
                decoded.append(parse_call_arg(a, params[i] if i < len(params) else None))
            except ValueError as e:
                raise _Usage(f"argument {i + 1} ({a[:20]!r}...): {e}") from None
        try:
            py_args = args_to_python(decoded, sig)
        except BadArgumentsError as e:  # the same error, told where: a new one (a raised error stays as it is)
            raise BadArgumentsError(f"{extension}:{key}: {e.message}", extension=extension, function=key,
                                    chain=e.chain, frames=e.frames, details=e.details) from e.__cause__
        if args.use_async:
            result = asyncio.run(host.acall(extension, key, *py_args, timeout=timeout))
        else:
            result = host.call(extension, key, *py_args, timeout=timeout)
        return to_json(result, sig.result)


# --------------------------------------------------------------------------- commands, run

def cmd_commands(args: argparse.Namespace) -> int:
    with _load(args.paths, args) as host:
        registry = host.commands
        diags = sort_diagnostics([*host.diagnostics, *registry.diagnostics])
        commands = registry.list()
        if args.json:
            print_json({"commands": [c.to_json() for c in commands],
                        "diagnostics": [d.to_json() for d in diags]}, indent=2)
        else:
            if commands:
                width = max(len(c.usage) for c in commands)
                ext_width = max(len(c.extension) for c in commands)
                for c in commands:  # names and descriptions come from the extensions
                    print(printable(f"{c.usage:<{width}}  {c.extension:<{ext_width}}  {c.description}".rstrip(),
                                    one_line=True))
            else:
                print("no commands")
            for d in diags:
                print("\n".join(diagnostic_lines(d)), file=sys.stderr)
    return EXIT_FAILED if any(d.is_error for d in diags) else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    try:
        paths, command, cmd_args = split_run_positionals(args.positionals, args.explicit_paths)
    except ValueError as e:
        raise _Usage(str(e)) from None
    timeout = args.timeout_ms / 1000 if args.timeout_ms else None
    with _load(paths, args) as host:
        try:
            if args.use_async:
                output = asyncio.run(host.commands.arun(command, cmd_args, timeout=timeout))
            else:
                output = host.commands.run(command, cmd_args, timeout=timeout)
        except CallError as e:
            notes = [d for d in (*host.errors, *host.commands.diagnostics)
                     if isinstance(e, NoSuchCommandError) or d.extension == e.extension]
            return print_call_error(e, args.json, notes=notes, indent=2)
    if args.json:
        print_json({"command": command, "output": output}, indent=2)
    else:
        output = printable(output)  # the extension's text: newlines and tabs kept, controls escaped
        sys.stdout.write(output if output.endswith("\n") or not output else output + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------- compose

def cmd_compose(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..model._errors import LoadError, UsageError
    from ..pipeline._compose import compose

    *paths, extension = args.positionals
    if not paths:
        raise _Usage("compose needs PATH... EXTENSION: at least one path, then the extension's name")
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise _Usage(f"no such path: {', '.join(missing)}")
    try:
        data, unit = compose(*paths, extension=extension, cache_dir=args.cache_dir, use_cache=not args.no_cache)
    except UsageError as e:
        raise _Usage(e.args[0] if e.args else str(e)) from e
    except LoadError as e:
        if args.json:
            print_json({"extension": extension, "output": None,
                        "diagnostics": [d.to_json() for d in e.diagnostics]}, indent=2)
        for d in e.diagnostics:
            print("\n".join(diagnostic_lines(d)), file=sys.stderr)
        return EXIT_FAILED
    out = Path(args.output)
    try:
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as e:
        raise _Usage(f"cannot write {out}: {e.strerror or e}") from e
    if args.json:
        print_json({"extension": extension, "output": str(out), "bytes": len(data),
                    "providers": list(unit.providers), "links": [k.to_json() for k in unit.links],
                    "imports": sorted(i.name for i in unit.outer_imports())}, indent=2)
    else:
        with_ = f" with {', '.join(unit.providers)}" if unit.providers else " (it imports no library)"
        print(printable(f"{extension}: composed{with_} -> {out} ({len(data)} bytes)"))
        for k in unit.links:
            print(printable(f"  {k.consumer} {k.import_name} <- {k.provider} {k.export_name}"))
        kept = sorted(i.name for i in unit.outer_imports())
        print(printable(f"  imports kept: {', '.join(kept) or 'none'}"))
    return EXIT_OK


# --------------------------------------------------------------------------- new, build

def cmd_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..pipeline._scaffold import scaffold

    try:
        folder = scaffold(args.name, args.lang, Path(args.dir))
    except (ValueError, FileExistsError) as e:
        raise _Usage(str(e)) from e
    print(printable(f"created {folder} ({args.lang})"))
    print(printable(f"next: cd {folder} && ext-harness build && pytest --ext-suite"))
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..pipeline._build import BuildResult, Toolchains, build

    def log(message: str) -> None:
        print(printable(f"==> {message}"), file=sys.stderr, flush=True)

    def show(r: BuildResult) -> None:
        if args.json:
            return
        where = f" -> {_shown(r.output)}" if r.output else ""
        if r.status == "built":
            print(printable(f"{r.name}: built {r.size} bytes in {r.seconds:.1f}s{where}"), flush=True)
        elif r.status == "up-to-date":
            print(printable(f"{r.name}: up to date ({r.size} bytes){where}"), flush=True)
        for p in r.problems:
            print(printable(f"error[{p.code}] {p.extension}: {p.message}"), flush=True)
            for line in p.output.rstrip().splitlines():
                print(printable(f"  | {line}"))
            print(printable(f"  hint: {p.hint}"), flush=True)

    def _shown(path: Path) -> Path:
        """Relative to the current folder when inside it: shorter, and what the user typed."""
        try:
            return path.resolve().relative_to(Path.cwd())
        except ValueError:
            return path

    paths = [Path(p) for p in args.paths] or [Path.cwd()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _Usage(f"no such path: {', '.join(missing)}")
    tools = Toolchains(Path(args.toolchains) if args.toolchains else None, install=not args.no_install, log=log)
    results = build(paths, tools, force=args.force, on_result=show)
    failed = [r for r in results if r.status == "failed"]
    if args.json:
        print_json({"results": [{"extension": r.name, "folder": str(r.folder), "status": r.status,
                                 "output": str(r.output) if r.output else None, "seconds": round(r.seconds, 3),
                                 "size": r.size, "problems": [p.to_json() for p in r.problems]}
                                for r in results]}, indent=2)
    elif not results:
        print(printable(f"no extension (extension.toml) under {', '.join(map(str, paths))}"))
    else:
        total = sum(r.seconds for r in results)
        print(f"{len(results) - len(failed)} ok, {len(failed)} failed in {total:.1f}s")
    return EXIT_FAILED if failed or not results else EXIT_OK
