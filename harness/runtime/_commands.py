"""Commands contributed by extensions that export `ext:host/commands@0.1.x`.

Every command is reachable as `extension:command`; the bare `command` works too
when exactly one extension offers it. Two extensions offering the same bare
name is not an error (each was written without knowing the other): both stay
reachable by their qualified names and a `duplicate-command` warning says so.

Each extension's `list-commands` is called once, when the registry is built
(on first use of `Host.commands`): command lists are static for the life of a
loaded extension, and calling into guests on every lookup would make listing
slow and a faulting guest would make it flaky.
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import difflib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model._diagnostics import Diagnostic, sort_diagnostics
from ..model._errors import BadArgumentsError, CallError, CommandFailedError, HarnessError, NoSuchCommandError
from ..model._names import InterfaceName, Version
from ..model._text import json_text, printable
from ..model._witypes import FuncT, ListT, Prim, RecordT, ResultT, render, type_diff

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["COMMANDS_INTERFACE", "CommandArg", "CommandInfo", "CommandRegistry", "add_cli_commands",
           "split_run_positionals"]

COMMANDS_INTERFACE = InterfaceName.parse("ext:host/commands@0.1.0")

_STRING, _BOOL = Prim("string"), Prim("bool")
_ARGUMENT = RecordT((("name", _STRING), ("description", _STRING), ("required", _BOOL)))
_COMMAND = RecordT((("name", _STRING), ("description", _STRING), ("args", ListT(_ARGUMENT))))
_EXPECTED: dict[str, FuncT] = {
    "list-commands": FuncT((), ListT(_COMMAND)),
    "run": FuncT((("name", _STRING), ("args", ListT(_STRING))), ResultT(_STRING, _STRING)),
}
# No `:` (it separates the extension) and no whitespace (commands are typed in shells).
_VALID_NAME = re.compile(r"^[^\s:]+$")


@dataclass(frozen=True)
class CommandArg:
    """One documented argument of a command (the guest checks the arguments itself)."""

    name: str
    description: str
    required: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "required": self.required}


@dataclass(frozen=True)
class CommandInfo:
    """A command as offered by one extension.

    `unique` says whether the bare `name` reaches this command (no other
    extension offers the same name); `qualified` always does.
    """

    name: str
    qualified: str
    extension: str
    description: str
    args: tuple[CommandArg, ...] = ()
    unique: bool = True

    @property
    def usage(self) -> str:
        """`eval <expr>`, `greet [name]`: required arguments in <>, optional ones in []."""
        shown = self.name if self.unique else self.qualified
        parts = [f"<{a.name}>" if a.required else f"[{a.name}]" for a in self.args]
        return " ".join([shown, *parts])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "qualified": self.qualified, "extension": self.extension,
                "description": self.description, "args": [a.to_json() for a in self.args],
                "unique": self.unique, "usage": self.usage}


class CommandRegistry:
    """The commands of a loaded `Host`, with namespacing. Build it through `host.commands`."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._by_qualified: dict[str, CommandInfo] = {}
        self._by_bare: dict[str, list[str]] = {}
        self._run_keys: dict[str, str] = {}
        self._diagnostics: list[Diagnostic] = []
        for extension in host.extensions:
            self._collect(extension)
        self._mark_duplicates()

    # ------------------------------------------------------------------ building

    def _problem(self, extension: str, subject: str, message: str, **details: Any) -> None:
        self._diagnostics.append(Diagnostic("bad-command", message, extension=extension, subject=subject,
                                            details=details))

    def _collect(self, extension: str) -> None:
        rt = self._host.runtimes[extension]
        keys = rt.function_keys()
        served: list[InterfaceName] = []
        for i in sorted({k.rpartition("#")[0] for k in keys if "#" in k}):
            parsed = InterfaceName.parse(i)
            if parsed is not None and COMMANDS_INTERFACE is not None and parsed.compatible_with(COMMANDS_INTERFACE):
                served.append(parsed)
        if not served:
            return
        # Several 0.1.x exports (unusual): use the newest.
        iface = str(max(served, key=lambda n: n.version or Version.parse("0.0.0")))
        for func, expected in _EXPECTED.items():
            key = f"{iface}#{func}"
            found = rt.signature(key)
            if found is None:
                self._problem(extension, key, f"{extension} exports {iface} without `{func}`; "
                              f"its commands are ignored", interface=iface)
                return
            diff = type_diff(expected, found)
            if diff is not None:
                self._problem(extension, key, f"{extension}: {key} has the wrong type ({diff}); "
                              f"expected {render(expected)}; its commands are ignored",
                              expected=render(expected), found=render(found))
                return
        list_key = f"{iface}#list-commands"
        try:
            listed = self._host.call(extension, list_key)
        except CallError as e:
            self._problem(extension, list_key, f"{extension}: {list_key} failed ({e.code}: {e.message}); "
                          f"its commands are ignored", reason=e.code)
            return
        self._run_keys[extension] = f"{iface}#run"
        seen: set[str] = set()
        for item in listed:
            name = str(getattr(item, "name", ""))
            if not _VALID_NAME.fullmatch(name):
                self._problem(extension, name or "<empty>",
                              f"{extension} offers a command named {name!r}; a command name must be "
                              f"non-empty without `:` or whitespace; it is ignored", command=name)
                continue
            if name in seen:
                self._problem(extension, name, f"{extension} lists the command {name!r} twice; "
                              f"the first one is kept", command=name)
                continue
            seen.add(name)
            args = tuple(CommandArg(str(a.name), str(a.description), bool(a.required))
                         for a in getattr(item, "args", ()))
            info = CommandInfo(name, f"{extension}:{name}", extension, str(getattr(item, "description", "")),
                               args)
            self._by_qualified[info.qualified] = info
            self._by_bare.setdefault(name, []).append(info.qualified)

    def _mark_duplicates(self) -> None:
        for name, owners in self._by_bare.items():
            if len(owners) < 2:
                continue
            for q in owners:
                info = self._by_qualified[q]
                self._by_qualified[q] = CommandInfo(info.name, info.qualified, info.extension,
                                                    info.description, info.args, unique=False)
            exts = [self._by_qualified[q].extension for q in owners]
            self._diagnostics.append(Diagnostic(
                "duplicate-command",
                f"command {name!r} is offered by {' and '.join(exts)}; the bare name is ambiguous, "
                f"call it as {' or '.join(owners)}",
                extension=exts[1], subject=name, severity="warning",
                details={"command": name, "extensions": exts, "qualified": owners}))

    # ------------------------------------------------------------------ queries

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """`duplicate-command` warnings and `bad-command` errors found while building."""
        return sort_diagnostics(self._diagnostics)

    def list(self) -> builtins.list[CommandInfo]:
        """Every command, sorted by name then extension."""
        return sorted(self._by_qualified.values(), key=lambda c: (c.name, c.extension))

    def __len__(self) -> int:
        return len(self._by_qualified)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._by_qualified or len(self._by_bare.get(name, [])) == 1)

    def get(self, name: str) -> CommandInfo:
        """The command `name` (`extension:command`, or a bare unique `command`)."""
        info = self._by_qualified.get(name)
        if info is not None:
            return info
        owners = self._by_bare.get(name, [])
        if len(owners) == 1:
            return self._by_qualified[owners[0]]
        if owners:
            raise NoSuchCommandError(
                f"command {name!r} is ambiguous: it is offered by "
                f"{', '.join(self._by_qualified[q].extension for q in owners)}; call it as {' or '.join(owners)}",
                function=name, details={"candidates": list(owners)})
        extension, sep, _ = name.partition(":")
        if sep and extension not in self._host.runtimes:
            loaded = ", ".join(self._host.extensions) or "none"
            raise NoSuchCommandError(f"no command {name!r}: no extension named {extension!r} is loaded "
                                     f"(loaded: {loaded})", extension=extension, function=name)
        if sep and extension not in self._run_keys:
            raise NoSuchCommandError(f"no command {name!r}: {extension} offers no commands",
                                     extension=extension, function=name)
        names = [*self._by_qualified, *(b for b, o in self._by_bare.items() if len(o) == 1)]
        # Suggest what the user can type: the bare name when it is unique, else the qualified ones.
        near: builtins.list[str] = []
        shown: set[str] = set()
        for match in difflib.get_close_matches(name, [*self._by_bare, *self._by_qualified], n=3):
            owners = [match] if match in self._by_qualified else self._by_bare[match]
            for q in owners:
                if q not in shown:
                    shown.add(q)
                    near.append(self._by_qualified[q].name if self._by_qualified[q].unique else q)
        listed = ", ".join(sorted(names)) or "none"
        hint = f"; did you mean {', '.join(near)}?" if near else f"; commands: {listed}"
        raise NoSuchCommandError(f"no command {name!r}{hint}", extension=extension if sep else None,
                                 function=name)

    # ------------------------------------------------------------------ running

    def _prepare(self, name: str, args: Sequence[str]) -> tuple[CommandInfo, str, builtins.list[str]]:
        info = self.get(name)
        if isinstance(args, (str, bytes)):
            # A lone string would be split into characters: almost always a mistake.
            raise BadArgumentsError(f"{info.qualified}: args must be a list of strings, not a single "
                                    f"{type(args).__name__}", extension=info.extension, function=info.qualified)
        arg_list = list(args)
        bad = next((a for a in arg_list if not isinstance(a, str)), None)
        if bad is not None:
            raise BadArgumentsError(f"{info.qualified}: every argument must be a string, got "
                                    f"{type(bad).__name__} {bad!r}", extension=info.extension,
                                    function=info.qualified)
        return info, self._run_keys[info.extension], arg_list

    @staticmethod
    def _unwrap(info: CommandInfo, args: builtins.list[str], result: Any) -> str:
        tag = getattr(result, "tag", None)
        payload = getattr(result, "payload", result)
        if tag == "err":
            raise CommandFailedError(f"{info.qualified} failed: {payload}", extension=info.extension,
                                     function=info.qualified, details={"error": payload, "args": args})
        return str(payload)

    def run(self, name: str, args: Sequence[str] = (), *, timeout: float | None = None) -> str:
        """Run a command; its output on success.

        Raises `NoSuchCommandError`, `CommandFailedError` (the command returned
        an error), `BadArgumentsError`, or the `CallError` of the call itself
        (a trap, a timeout, ...).
        """
        info, key, arg_list = self._prepare(name, args)
        result = self._host.call(info.extension, key, info.name, arg_list, timeout=timeout)
        return self._unwrap(info, arg_list, result)

    async def arun(self, name: str, args: Sequence[str] = (), *, timeout: float | None = None) -> str:
        """`run` without blocking the event loop (through `Host.acall`)."""
        info, key, arg_list = self._prepare(name, args)
        result = await self._host.acall(info.extension, key, info.name, arg_list, timeout=timeout)
        return self._unwrap(info, arg_list, result)


# --------------------------------------------------------------------------- CLI: `commands`, `run`
# Registered by harness.cli through `add_cli_commands` (the CLI module owns the parser).

_EXIT_OK, _EXIT_FAILED, _EXIT_USAGE = 0, 1, 2


def add_cli_commands(sub: Any, add_load_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `ext-harness commands PATH...` and `ext-harness run PATH... COMMAND [ARG...]`."""
    from ..cli._main import add_call_options

    p_list = sub.add_parser(
        "commands", help="list the commands the extensions offer",
        description="List every command offered by the extensions under PATH..., with its qualified "
                    "name (extension:command), arguments and description. Exit 1 if loading or "
                    "listing reported an error.")
    p_list.add_argument("paths", nargs="+", metavar="PATH",
                        help="an extension folder, a folder of extensions, a .wasm or .wat file")
    add_load_options(p_list)
    p_list.set_defaults(handler=_cli_commands)

    p_run = sub.add_parser(
        "run", help="run a command offered by an extension",
        description="Run COMMAND (`extension:command`, or a bare `command` offered by one extension) "
                    "with string arguments. The paths are the leading arguments that exist on disk; "
                    "use -p/--path to name them explicitly, and `--` before arguments starting with -. "
                    "Exit 0 on success, 1 if the command failed or could not be run, 2 on wrong usage.",
        epilog="example: ext-harness run examples/ eval '1 + 2 * 3'")
    p_run.add_argument("positionals", nargs="*", metavar="PATH... COMMAND [ARG...]")
    add_call_options(p_run, "command")
    add_load_options(p_run)
    p_run.set_defaults(handler=_cli_run)


def split_run_positionals(positionals: Sequence[str], explicit_paths: Sequence[str] = (),
                          exists: Callable[[str], bool] | None = None) -> tuple[
                              builtins.list[str], str, builtins.list[str]]:
    """(paths, command, args): the paths are the leading arguments that exist on disk."""
    from ..cli._main import leading_paths, missing_path_message

    paths, items = leading_paths(positionals, explicit_paths, 1, exists)
    if not paths:
        if len(items) < 2:
            raise ValueError("expected PATH... COMMAND [ARG...]")
        raise ValueError(missing_path_message(items[0]))
    if not items:
        raise ValueError("expected COMMAND after the paths")
    return paths, items[0], items[1:]


def _usage(subcommand: str, message: str) -> int:
    print(printable(f"ext-harness {subcommand}: error: {message}"), file=sys.stderr)
    return _EXIT_USAGE


def _print_json(data: Any) -> None:
    sys.stdout.write(json_text(data, indent=2) + "\n")


def _load(paths: Sequence[str], args: argparse.Namespace, **config: Any) -> Host:
    from ._host import Host
    return Host.load(*paths, cache_dir=args.cache_dir, use_cache=not args.no_cache, **config)


def _cli_commands(args: argparse.Namespace) -> int:
    from ..cli._render import diagnostic_lines

    try:
        host = _load(args.paths, args)
    except HarnessError as e:
        return _usage("commands", str(e))
    with host:
        registry = host.commands
        diags = sort_diagnostics([*host.diagnostics, *registry.diagnostics])
        commands = registry.list()
        if args.json:
            _print_json({"commands": [c.to_json() for c in commands],
                         "diagnostics": [d.to_json() for d in diags]})
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
    return _EXIT_FAILED if any(d.is_error for d in diags) else _EXIT_OK


def _cli_run(args: argparse.Namespace) -> int:
    from ..cli._render import call_error_lines, diagnostic_lines

    try:
        paths, command, cmd_args = split_run_positionals(args.positionals, args.explicit_paths)
    except ValueError as e:
        return _usage("run", str(e))
    timeout = args.timeout_ms / 1000 if args.timeout_ms else None
    try:
        host = _load(paths, args)
    except HarnessError as e:
        return _usage("run", str(e))
    with host:
        try:
            if args.use_async:
                output = asyncio.run(host.commands.arun(command, cmd_args, timeout=timeout))
            else:
                output = host.commands.run(command, cmd_args, timeout=timeout)
        except CallError as e:
            notes = [d for d in (*host.errors, *host.commands.diagnostics)
                     if isinstance(e, NoSuchCommandError) or d.extension == e.extension]
            if args.json:
                _print_json({"error": e.to_json(), "diagnostics": [d.to_json() for d in notes]})
            else:
                lines = call_error_lines(e)
                for d in notes:
                    lines += ["  note: " + ln.lstrip() for ln in diagnostic_lines(d)[:1]]
                print("\n".join(lines), file=sys.stderr)
            return _EXIT_FAILED
    if args.json:
        _print_json({"command": command, "output": output})
    else:
        output = printable(output)  # the extension's text: newlines and tabs kept, controls escaped
        sys.stdout.write(output if output.endswith("\n") or not output else output + "\n")
    return _EXIT_OK


# --------------------------------------------------------------------------- conformance
# Called by the conformance suite (harness.pytest_plugin._suite, check "commands").


def _expected_output(expect: Any) -> tuple[str, str | None]:
    """(kind, text) of a command example's `expect`: a string, {ok = "..."} or {err = "..."}."""
    if isinstance(expect, str):
        return "ok", expect
    if isinstance(expect, dict) and len(expect) == 1:
        ((tag, value),) = expect.items()
        if tag in ("ok", "err") and isinstance(value, str):
            return tag, value
    return "invalid", None


def _run_example(host: Host, qualified: str, args: builtins.list[str], expect: Any, has_expect: bool,
                 expect_error: str | None, mode: str) -> str | None:
    """None if the example behaved as the manifest says, else what went wrong."""
    registry = host.commands
    try:
        output = asyncio.run(registry.arun(qualified, args)) if mode == "async" else registry.run(qualified, args)
    except CallError as e:
        if expect_error is not None:
            return None if e.code == expect_error else f"expected error {expect_error}, got {e.code}: {e.message}"
        kind, text = _expected_output(expect)
        if isinstance(e, CommandFailedError) and kind == "err":
            got = str(e.details.get("error", ""))
            return None if got == text else f"expected err {text!r}, got err {got!r}"
        return f"failed: {e.code}: {e.message}"
    if expect_error is not None:
        return f"expected error {expect_error}, got output {output!r}"
    if has_expect:
        kind, text = _expected_output(expect)
        if kind == "invalid":
            return "`expect` of a command example must be a string, {ok = \"...\"} or {err = \"...\"}"
        if kind == "err":
            return f"expected err {text!r}, got output {output!r}"
        if output != text:
            return f"expected {text!r}, got {output!r}"
    return None


def conformance_check(host: Host, name: str) -> tuple[bool, str]:
    """The commands check of the conformance suite for extension `name`.

    Passes when its `ext:host/commands` export is usable (no `bad-command`) and
    every `[[conformance.example]]` with a `command` key behaves as declared,
    run both sync and async as `name:command` (so duplicates elsewhere do not matter).
    """
    registry = host.commands
    bad = [d for d in registry.diagnostics if d.extension == name and d.is_error]
    mine = [c for c in registry.list() if c.extension == name]
    listing = ", ".join(c.name for c in mine) or "none"
    if bad:
        lines = "\n".join(f"  {d.code}: {d.message}" for d in bad)
        return False, f"{name}: commands unusable\n{lines}\n    fix: {bad[0].hint}"
    notes = [f"{len(mine)} command(s): {listing}"]
    dup = [d for d in registry.diagnostics if d.code == "duplicate-command"
           and name in d.details.get("extensions", [])]
    if dup:
        notes.append("shared names (reachable only qualified): " + ", ".join(sorted(d.subject or "" for d in dup)))
    rt = host.runtimes.get(name)
    examples = [e for e in rt.analysed.candidate.manifest.examples if e.command is not None] if rt else []
    failures: builtins.list[str] = []
    for i, ex in enumerate(examples, 1):
        args = [a for a in ex.args if isinstance(a, str)]
        label = f"example {i} ({ex.command} {' '.join(args)})".replace(" )", ")")
        if len(args) != len(ex.args):
            failures.append(f"  {label}: command arguments must be strings")
            continue
        for mode in ("sync", "async"):
            problem = _run_example(host, f"{name}:{ex.command}", args, ex.expect, ex.has_expect,
                                   ex.expect_error, mode)
            if problem is not None:
                failures.append(f"  {label} ({mode}): {problem}")
    if failures:
        return False, (f"{name}: command examples failed\n" + "\n".join(failures)
                       + "\n    fix: correct the command, or the [[conformance.example]] entry")
    if examples:
        notes.append(f"{len(examples)} command example(s) matched, sync and async")
    return True, "; ".join(notes)
