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

import builtins
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..model._diagnostics import Diagnostic, sort_diagnostics
from ..model._errors import BadArgumentsError, CallError, CommandFailedError, NoSuchCommandError
from ..model._names import InterfaceName, Version
from ..model._witypes import FuncT, ListT, Prim, RecordT, ResultT, render, type_diff

if TYPE_CHECKING:
    from ._extension import ExtensionRuntime

__all__ = ["COMMANDS_INTERFACE", "CommandArg", "CommandInfo", "CommandRegistry"]


class CommandHost(Protocol):
    """What the registry needs from a host (`Host` is one): its extensions and calls into them.
    A protocol, so the registry does not import the `Host` that builds it."""

    @property
    def extensions(self) -> tuple[str, ...]: ...

    @property
    def runtimes(self) -> Mapping[str, ExtensionRuntime]: ...

    def call(self, extension: str, function: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def acall(self, extension: str, function: str, *args: Any, timeout: float | None = None) -> Any: ...

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

    def __init__(self, host: CommandHost) -> None:
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
            name = str(item["name"])  # records arrive as dicts (docs/values.md)
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
            args = tuple(CommandArg(str(a["name"]), str(a["description"]), bool(a["required"]))
                         for a in item["args"])
            info = CommandInfo(name, f"{extension}:{name}", extension, str(item["description"]),
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
        ((tag, payload),) = result.items()  # result<string, string>: {"ok": out} or {"err": why}
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
