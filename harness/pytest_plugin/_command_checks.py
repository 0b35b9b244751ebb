"""The `commands` check of the conformance suite: an extension's `ext:host/commands` export
is usable and every command example of its manifest behaves as declared."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..model._errors import CallError, CommandFailedError

if TYPE_CHECKING:
    from ..runtime._host import Host

__all__ = ["conformance_check"]


def _expected_output(expect: Any) -> tuple[str, str | None]:
    """(kind, text) of a command example's `expect`: a string, {ok = "..."} or {err = "..."}."""
    if isinstance(expect, str):
        return "ok", expect
    if isinstance(expect, dict) and len(expect) == 1:
        ((tag, value),) = expect.items()
        if tag in ("ok", "err") and isinstance(value, str):
            return tag, value
    return "invalid", None


def _run_example(host: Host, qualified: str, args: list[str], expect: Any, has_expect: bool,
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
    failures: list[str] = []
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
