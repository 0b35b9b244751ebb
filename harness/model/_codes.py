"""Every stable code a user can meet, in one table.

Codes are part of the public contract: tests, snapshots and CI scripts match on
them, so a code is never renamed. `docs/errors.md` is checked against this table
by the test suite, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CALL_CODES", "CODES", "DIAGNOSTIC_CODES", "Code", "describe"]

Stage = Literal["discovery", "analysis", "resolution", "linking", "load", "call", "build", "usage"]


@dataclass(frozen=True)
class Code:
    """One stable code: where it arises, what it means, how to fix it."""

    code: str
    stage: Stage
    summary: str
    hint: str


_TABLE: tuple[Code, ...] = (
    # discovery
    Code("bad-manifest", "discovery",
         "extension.toml is not valid TOML, or a key has the wrong type or value",
         "fix extension.toml at the line and column given; see docs/writing-extensions.md for the keys"),
    Code("unknown-manifest-key", "discovery",
         "extension.toml has a key the host does not know (a warning; the key is ignored)",
         "remove the key or check its spelling"),
    Code("missing-component", "discovery",
         "the component file named by the manifest does not exist or cannot be read",
         "build the extension, or correct `component` in extension.toml"),
    Code("path-escape", "discovery",
         "a path leaves the extension's folder (`..`, an absolute path or a symlink pointing out)",
         "keep the component inside the extension folder and name it with a relative path"),
    Code("symlink-loop", "discovery",
         "a symbolic link points back into itself",
         "remove or repair the link"),
    Code("duplicate-name", "discovery",
         "two extensions have the same name; neither is loaded",
         "rename one of them (the `name` key, or the file stem without a manifest)"),
    Code("file-too-large", "discovery",
         "a component or manifest file is larger than the configured size cap",
         "shrink the component or raise `max_file_size`"),
    Code("invalid-name", "discovery",
         "the extension name is not a valid identifier (letters, digits, - and _, starting with a letter)",
         "rename the extension"),
    Code("not-found", "discovery",
         "a path given to the host does not exist",
         "check the path"),
    Code("not-an-extension", "discovery",
         "a path given to the host is a file that is not an extension (.wasm, .wat or extension.toml)",
         "pass an extension folder, a folder of extensions, or a .wasm/.wat file"),
    Code("unreadable", "discovery",
         "a folder (or file) that may hold an extension cannot be read (permissions, I/O error); "
         "nothing in it is loaded",
         "make it readable by the user running the host (`ls -ld PATH` shows who may read it)"),
    Code("wat-syntax", "discovery",
         "a .wat file is not valid component text",
         "fix the WAT at the line and column given"),
    # analysis
    Code("invalid-component", "analysis",
         "the file is not a valid WebAssembly component (wasmtime's reason is attached)",
         "rebuild the component; `wasm-tools validate FILE` shows the same error"),
    Code("not-a-component", "analysis",
         "the file is a core WebAssembly module, not a component",
         "wrap it with `wasm-tools component new` (with an adapter for WASI modules)"),
    Code("unsupported-import", "analysis",
         "an import the host cannot serve: not an interface instance (a bare function, module or type), "
         "not an interface name (`host`), a WASI interface or version outside WASI 0.2, or a resource "
         "inside an interface",
         "import functions through an interface (`ns:pkg/iface@x.y.z`)"),
    # resolution
    Code("missing-import", "resolution",
         "no extension in the set exports a compatible version of an imported interface",
         "add the extension that provides it, or import a version one of the providers is compatible with"),
    Code("type-mismatch", "resolution",
         "the provider's function type differs from the one the importer expects",
         "rebuild one side against the same WIT; a changed signature needs a new major version"),
    Code("ambiguous-provider", "resolution",
         "several extensions export a compatible version of an imported interface",
         "pin one in the importer's manifest: [provides] \"ns:pkg/iface\" = \"extension-name\""),
    Code("bad-pin", "resolution",
         "a [provides] pin names an extension that does not export the interface",
         "correct the pin or remove it"),
    Code("cycle", "resolution",
         "extensions import each other in a cycle, so there is no order to load them in",
         "break the cycle: move the shared functions into an interface of one extension"),
    Code("blocked-by-dependency", "resolution",
         "an extension depends (directly or not) on one that failed, so it is not loaded",
         "fix the dependency named in the message"),
    Code("older-provider", "resolution",
         "the import is served by a compatible provider older than the version imported (a warning)",
         "update the provider; functions added in the newer version will be missing"),
    Code("duplicate-command", "resolution",
         "two extensions offer a command with the same name; both stay reachable by their qualified name",
         "call it as `extension:command`, or rename one"),
    Code("bad-command", "resolution",
         "an extension's `ext:host/commands` export is unusable: a function is missing or has another type, "
         "`list-commands` failed, or a command name is empty, repeated or contains `:` or whitespace",
         "build against wit/host.wit (ext:host/commands@0.1.x) and return distinct names such as `eval`"),
    # linking
    Code("instantiation-failed", "linking",
         "the component did not instantiate (a start trap, a missing import, a limit)",
         "run the extension alone with `ext-harness inspect` and read wasmtime's reason"),
    Code("init-failed", "linking",
         "the extension's `init` returned an error or trapped",
         "read the message returned by `init`"),
    Code("capability-denied", "linking",
         "the manifest asks for a capability the host configuration does not allow",
         "grant it in the host configuration, or drop it from [capabilities]"),
    # a strict load: the diagnostics above, as one exception
    Code("load-failed", "load",
         "`Host.load(..., strict=True)` found error diagnostics; `LoadError.diagnostics` holds them, each with "
         "its own code",
         "read the first diagnostic (the message) or all of them in `.diagnostics`; drop strict=True to load "
         "the extensions that are fine"),
    # calls
    Code("trap", "call", "the guest trapped (unreachable, out-of-bounds access, division by zero, ...)",
         "read the wasm backtrace; the extension is restarted on the next call"),
    Code("timeout", "call", "the call ran past its time limit and was interrupted",
         "raise `timeout` / [limits] timeout_ms, or fix the endless loop"),
    Code("fuel-exhausted", "call", "the call used up its fuel budget",
         "raise [limits] fuel, or make the guest do less work"),
    Code("memory-limit", "call", "the guest tried to grow its memory (or tables) past its limit",
         "raise [limits] memory_mb, or make the guest use less memory"),
    Code("reentrancy", "call", "a call cycle at run time (A -> B -> A) was refused",
         "allow it with Host(..., reentrancy=True), or break the cycle"),
    Code("deadlock", "call", "two threads called into each other's busy extensions",
         "avoid cross calls from two threads at once, or use acall"),
    Code("host-error", "call", "a host function (e.g. ext:host/log) raised a Python exception, or returned a "
         "value its WIT type does not allow (an integer out of range is refused, never truncated)",
         "the Python cause is attached as __cause__"),
    Code("extension-faulted", "call",
         "the extension faulted and is out of restarts, or failed to restart",
         "raise `restart_budget`, or fix the fault named in the message"),
    Code("no-such-function", "call", "the extension does not export that function, or is not loaded",
         "list exports with `ext-harness inspect`; name functions as `ns:pkg/iface@ver#func`"),
    Code("bad-arguments", "call", "the arguments do not match the function's parameter types",
         "check the function's signature with `ext-harness inspect`"),
    Code("stale-handle", "call",
         "a resource handle is no longer valid: it was dropped or moved, or its provider restarted since it was "
         "made (a restart loses every resource the provider had handed out)",
         "make the resource again after a restart; do not use a handle after drop() or after passing it as own"),
    Code("no-such-command", "call", "no extension offers that command",
         "list commands with `ext-harness commands PATH`"),
    Code("command-failed", "call", "the command returned an error",
         "read the command's message"),
    Code("host-closed", "call", "the host was closed (`Host.close()` or the end of its `with` block) before the call "
         "started", "call before closing the host; a call already running when it closes gets `timeout`"),
    # ext-harness build
    Code("build-config", "build",
         "`ext-harness build` cannot tell how to build the extension: no single source to guess from, a bad "
         "[build] table, or no `world` in extension.toml",
         "name the entry point in extension.toml: [build] lang = \"python\" entry = \"src/app.py\" "
         "(see docs/writing-extensions.md)"),
    Code("build-failed", "build", "the toolchain (componentize-py, componentize-qjs, wasm-tools parse) "
         "reported an error; its output is shown",
         "fix the source at the place the tool's output names"),
    Code("build-invalid", "build",
         "the built component fails `wasm-tools validate`, or does not target the manifest's world",
         "make the source implement every export of the world in extension.toml, or correct `world`"),
    Code("toolchain-unavailable", "build",
         "a toolchain could not be found or installed (npm, pip, network, or installing turned off)",
         "install Node.js 18+ and npm for JavaScript; check access to PyPI and npm; or pass --toolchains DIR "
         "holding an installed copy"),
    Code("usage", "usage", "the host or the CLI was called with wrong arguments",
         "see `ext-harness --help`"),
)

CODES: dict[str, Code] = {c.code: c for c in _TABLE}
DIAGNOSTIC_CODES: frozenset[str] = frozenset(
    c.code for c in _TABLE if c.stage in ("discovery", "analysis", "resolution", "linking")
)
CALL_CODES: frozenset[str] = frozenset(c.code for c in _TABLE if c.stage == "call")


def describe(code: str) -> Code:
    """Look a code up; an unknown code is a programming error, not a user error."""
    return CODES[code]
