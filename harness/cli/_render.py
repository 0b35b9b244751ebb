"""What the CLI prints: reports of an `Inspection` (a stable JSON document for tools, and
text for people), failed calls, usage errors and JSON documents.

Every discovered extension is listed, including those that failed discovery or
analysis (they only appear in candidates and diagnostics), so a report never
hides an extension the user pointed at. Every handler prints through this module, so
each kind of output has one shape and one escaping.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model._diagnostics import Diagnostic
from ..model._errors import CallError
from ..model._records import Endpoint
from ..model._text import json_text, printable
from ..model._witypes import FuncT, InstanceT, render
from ._args import EXIT_FAILED, EXIT_USAGE

if TYPE_CHECKING:  # the pipeline (and wasmtime) is imported by the commands that need it, not by `--help`
    from ..pipeline._inspect import Inspection

__all__ = ["SCHEMA_VERSION", "call_error_lines", "diagnostic_lines", "inspection_to_json", "inspection_to_text",
           "print_call_error", "print_json", "print_usage_error"]

SCHEMA_VERSION = 1


def _endpoint_json(e: Endpoint) -> dict[str, Any]:
    return {"name": e.name, "kind": e.kind, "type": render(e.item)}


def _extension_rows(insp: Inspection) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for c in insp.candidates:
        a = insp.get(c.name)
        rows.setdefault(c.name, {
            "name": c.name,
            "version": c.version,
            "path": str(c.component_path.absolute()),
            "status": insp.status(c.name),
            "imports": [_endpoint_json(e) for e in sorted(a.imports, key=lambda e: e.name)] if a else [],
            "exports": [_endpoint_json(e) for e in sorted(a.exports, key=lambda e: e.name)] if a else [],
        })
    rejected = {c.name: str(c.component_path.absolute()) for c in reversed(insp.rejected)}
    for d in insp.diagnostics:  # extensions that never became candidates (e.g. duplicate names)
        if d.extension and d.extension not in rows and d.is_error:
            path = rejected.get(d.extension) or _absolute(d.details.get("path"))
            rows[d.extension] = {"name": d.extension, "version": None, "path": path, "status": "error",
                                 "imports": [], "exports": []}
    return [rows[n] for n in sorted(rows)]


def _absolute(path: object) -> str | None:
    """A diagnostic's `path` if it names a place on disk (manifest values such as `../x` do not)."""
    return path if isinstance(path, str) and os.path.isabs(path) else None


def inspection_to_json(insp: Inspection) -> dict[str, Any]:
    """The `ext-harness inspect --json` document (schema in docs/cli.md)."""
    diags = insp.diagnostics
    return {
        "schema": SCHEMA_VERSION,
        "extensions": _extension_rows(insp),
        "load_order": list(insp.load_order),
        "links": [link.to_json() for link in insp.links],
        "diagnostics": [d.to_json() for d in diags],
        "errors": sum(1 for d in diags if d.is_error),
        "warnings": sum(1 for d in diags if not d.is_error),
    }


def _endpoint_lines(e: Endpoint, tag: str) -> list[str]:
    head = f"    {tag}{e.name}"
    if isinstance(e.item, InstanceT):
        funcs = list(e.item.funcs())
        lines = [head]
        lines += [f"        {n}: {render(f)}" for n, f in funcs]
        if not funcs:
            lines[0] += " (no functions)"
        return lines
    if isinstance(e.item, FuncT):
        return [f"{head}: {render(e.item)}"]
    return [f"{head}: {render(e.item)}"]


def diagnostic_lines(d: Diagnostic) -> list[str]:
    """`error[code] extension (subject): message` and its hint, as printed by the CLI.

    Names, subjects and messages can come from extensions (a manifest's name, an init
    error, a file name): control characters are escaped (`printable`), newlines too, so
    a message cannot fake a line of its own (a diagnostic or the summary)."""
    where = printable(d.extension or "", one_line=True)
    if d.subject:
        subject = printable(d.subject, one_line=True)
        where += f" ({subject})" if where else f"({subject})"
    lines = [f"{d.severity}[{d.code}]{' ' + where if where else ''}: {printable(d.message, one_line=True)}"]
    if d.hint:
        lines.append(f"  hint: {printable(d.hint, one_line=True)}")
    return lines


def call_error_lines(e: CallError) -> list[str]:
    """`error[code]: message`, the call chain and the hint of a failed call, as the CLI prints
    them; one line each (a guest's text in a message cannot fake a line)."""
    lines = [f"error[{e.code}]: {printable(e.message, one_line=True)}"]
    if e.chain:
        lines.append(f"  call chain: {printable(' → '.join(e.chain), one_line=True)}")
    lines.append(f"  hint: {printable(e.hint, one_line=True)}")
    return lines


def inspection_to_text(insp: Inspection) -> str:
    """A report for people: extensions with their interfaces, load order, links, diagnostics."""
    out: list[str] = []
    rows = _extension_rows(insp)
    for row in rows:
        version = f" {row['version']}" if row["version"] else ""
        head = f"{row['name']}{version}  [{row['status']}]  {row['path'] or '(no file)'}"
        out.append(printable(head, one_line=True))  # a newline in a file name must not fake a line
        a = insp.get(row["name"])
        if a is None:
            out.append("    (not analysed)")
        else:
            if a.imports:
                out.append("  imports:")
                width = max(len(e.kind) for e in a.imports) + 3
                for e in sorted(a.imports, key=lambda e: e.name):
                    out += _endpoint_lines(e, f"[{e.kind}]".ljust(width))
            else:
                out.append("  imports: none")
            if a.exports:
                out.append("  exports:")
                for e in sorted(a.exports, key=lambda e: e.name):
                    out += _endpoint_lines(e, "")
            else:
                out.append("  exports: none")
        out.append("")
    if not rows:
        out += ["no extensions found", ""]
    out.append("load order: " + (" → ".join(insp.load_order) if insp.load_order else "(none)"))
    if insp.links:
        out.append("links:")
        out += [f"  {link.consumer} ─ {link.import_name} → {link.provider} ({link.export_name})"
                for link in insp.links]
    else:
        out.append("links: none")
    diags = insp.diagnostics
    if diags:
        out.append("diagnostics:")
        for d in diags:
            out += ["  " + line for line in diagnostic_lines(d)]
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "error", "blocked")}
    n_err = sum(1 for d in diags if d.is_error)
    out.append(f"summary: {len(rows)} extension(s): {counts['ok']} ok, {counts['error']} error, "
               f"{counts['blocked']} blocked; {n_err} error(s), {len(diags) - n_err} warning(s)")
    return printable("\n".join(out)) + "\n"  # names, paths and messages can come from extensions


def print_json(data: Any, indent: int | None = None) -> None:
    """One JSON document on stdout (non-ASCII and controls escaped, see `json_text`)."""
    sys.stdout.write(json_text(data, indent=indent) + "\n")


def print_usage_error(command: str, message: str) -> int:
    """`ext-harness COMMAND: error: MESSAGE` on stderr, as argparse prints usage errors; exit code 2."""
    print(printable(f"ext-harness {command}: error: {message}"), file=sys.stderr)
    return EXIT_USAGE


def print_call_error(e: CallError, as_json: bool, *, extension: str | None = None, function: str | None = None,
                     notes: Sequence[Diagnostic] | None = None, remarks: Sequence[str] = (),
                     indent: int | None = None) -> int:
    """A failed call or command: the `{"error": ...}` envelope on stdout with `--json`, else
    `call_error_lines` on stderr; exit code 1.

    `extension` and `function` are what the user asked for: they stand in for the error's own
    when it does not know them (the error itself is left as raised). `notes` are diagnostics
    that explain the failure (`run`): a `diagnostics` list in JSON, `note:` lines in text.
    `remarks` say how the CLI read its arguments (`taken as paths: ...`): a `notes` list of
    strings in JSON, `note:` lines in text, so both modes tell the same."""
    if as_json:
        error = e.to_json()
        if error.get("extension") is None:
            error["extension"] = extension
        if error.get("function") is None:
            error["function"] = function
        doc: dict[str, Any] = {"error": error}
        if notes is not None:
            doc["diagnostics"] = [d.to_json() for d in notes]
        if remarks:
            doc["notes"] = list(remarks)
        print_json(doc, indent)
    else:
        lines = call_error_lines(e)
        for d in notes or ():
            lines += ["  note: " + ln.lstrip() for ln in diagnostic_lines(d)[:1]]
        lines += [f"  note: {printable(r, one_line=True)}" for r in remarks]
        print("\n".join(lines), file=sys.stderr)
    return EXIT_FAILED
