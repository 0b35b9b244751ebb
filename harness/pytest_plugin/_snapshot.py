"""Deterministic text for what the pipeline produced, for snapshot tests.

Snapshots must be stable across machines and runs, so volatile parts are masked:
absolute paths become relative to the rootdir (or `<path>/name` outside it),
timings become `<time>`, addresses and wasm offsets `0x…`, and async traces are
grouped per extension (order inside one extension is deterministic; the
interleaving of two extensions is not).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model._diagnostics import Diagnostic
from ..model._errors import CallError, UsageError

if TYPE_CHECKING:
    from ..runtime._host import Host

__all__ = ["CallTrace", "mask", "serialize", "traced_gather"]

_HEX = re.compile(r"0x[0-9a-fA-F]+")
_TIME = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns|s)\b")
_ABS = re.compile(r"(?<![\w.<])/(?:[^\s'\"`:,()\[\]]+/)*([^\s'\"`:,()\[\]]+)")
_WASM_FRAME = re.compile(r"^\s*\d+:\s+0x.*$", re.M)


def mask(text: str, root: str | Path | None = None) -> str:
    """Hide what differs between machines and runs."""
    if root:
        r = str(Path(root).resolve())
        text = text.replace(r + "/", "").replace(r, ".")
    text = _ABS.sub(lambda m: f"<path>/{m[1]}", text)
    text = _WASM_FRAME.sub("  <frame>", text)
    text = _HEX.sub("0x…", text)
    return _TIME.sub("<time>", text)


@dataclass
class CallTrace:
    """Start/end events of calls, per extension, in the order each extension ran them."""

    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # (ext, kind, function, outcome)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, ext: str, kind: str, function: str, outcome: str = "") -> None:
        with self.lock:
            self.events.append((ext, kind, function, outcome))

    def per_extension(self) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        for ext, kind, function, outcome in self.events:
            out.setdefault(ext, []).append((kind, function, outcome))
        return dict(sorted(out.items()))


def trace_of(host: Host, since: int = 0) -> CallTrace:
    """The async calls a host loaded with `trace=True` ran, as its extensions' workers saw them:
    start and end (with `ok` or the error code) in the order each extension ran them."""
    trace = CallTrace()
    for ev in sorted(host.traces[since:], key=lambda e: e.seq):
        trace.add(ev.extension, ev.kind, ev.function.rpartition("#")[2],
                  "" if ev.kind == "start" else ev.outcome)
    return trace


async def traced_gather(host: Host, calls: Iterable[tuple[str, str, Sequence[Any]]]) -> CallTrace:
    """Run calls concurrently with `Host.acall` and return their trace (see `trace_of`).

    The host must be loaded with `trace=True`; failed calls are part of the trace, not raised.
    """
    if not host.config.trace:
        raise UsageError("traced_gather needs a host loaded with trace=True (ext_host(..., trace=True))")
    from ..runtime._values import to_json

    calls = list(calls)
    since = len(host.traces)
    results = await asyncio.gather(*(host.acall(e, f, *a) for e, f, a in calls), return_exceptions=True)
    # Each extension's worker runs its calls in submission order, so its n-th `end` event
    # belongs to its n-th call: that is where the returned value is shown.
    values: dict[str, list[Any]] = {}
    for (ext, _, _), result in zip(calls, results, strict=True):
        values.setdefault(ext, []).append(result)
    trace = CallTrace()
    for ext, kind, function, outcome in trace_of(host, since).events:
        if kind == "end" and outcome == "ok" and values.get(ext):
            outcome = f"ok {to_json(values[ext].pop(0), None)!r}"
        elif kind == "end" and values.get(ext):
            values[ext].pop(0)
        trace.add(ext, kind, function, outcome)
    return trace


def _diag(d: Diagnostic, root: str | None) -> str:
    where = f" [{d.extension}]" if d.extension else ""
    subject = f" ({mask(d.subject, root)})" if d.subject else ""
    return f"{d.severity} {d.code}{where}{subject}: {mask(d.message, root)}"


def _error(e: CallError, root: str | None) -> list[str]:
    first = e.message.splitlines()[0] if e.message else ""
    lines = [f"error {e.code}", f"  extension: {e.extension}", f"  function: {e.function}"]
    if e.chain:
        lines.append(f"  chain: {' → '.join(e.chain)}")
    lines.append(f"  message: {mask(first, root)}")
    return lines


def serialize(obj: Any, root: str | Path | None = None) -> str:
    """Text for a Host, an Inspection, a Scenario, diagnostics, a CallError, a CallTrace, or data."""
    r = str(root) if root is not None else None
    return "\n".join(_lines(obj, r)) + "\n"


def _lines(obj: Any, root: str | None) -> list[str]:
    from ..testing._scenario import Scenario

    if isinstance(obj, Diagnostic):
        return [_diag(obj, root)]
    if isinstance(obj, CallError):
        return _error(obj, root)
    if isinstance(obj, CallTrace):
        out = ["trace:"]
        for ext, evs in obj.per_extension().items():
            out.append(f"  {ext}:")
            out += [f"    {kind} {fn}" + (f" → {outcome}" if outcome else "") for kind, fn, outcome in evs]
        return out
    if isinstance(obj, Scenario):
        return [f"scenario {obj.name}: {', '.join(obj.extensions)}",
                "expected status: " + ", ".join(f"{k}={v}" for k, v in sorted(obj.status.items())),
                "expected codes: " + (", ".join(sorted(obj.codes)) or "none")]
    if hasattr(obj, "resolution") and hasattr(obj, "diagnostics"):  # Host or Inspection
        return _pipeline(obj, root)
    if isinstance(obj, Mapping):
        out = []
        for k in sorted(obj, key=str):
            sub = _lines(obj[k], root)
            out += [f"{k}: {sub[0]}"] if len(sub) == 1 else [f"{k}:", *("  " + s for s in sub)]
        return out or ["{}"]
    if isinstance(obj, list | tuple):
        out = []
        for item in obj:
            sub = _lines(item, root)
            out += [f"- {sub[0]}", *("  " + s for s in sub[1:])]
        return out or ["[]"]
    if isinstance(obj, str):
        return mask(obj, root).splitlines() or [""]
    return [mask(repr(obj), root)]


def _pipeline(obj: Any, root: str | None) -> list[str]:
    res = obj.resolution
    status = obj.status if isinstance(getattr(obj, "status", None), Mapping) else dict(res.status)
    out = ["load order: " + (", ".join(res.load_order) or "(none)"),
           "status: " + ", ".join(f"{k}={v}" for k, v in sorted(status.items()))]
    out.append("links:" if res.links else "links: (none)")
    for link in sorted(res.links, key=lambda x: (x.consumer, x.import_name)):
        out.append(f"  {link.consumer} imports {link.import_name} ← {link.provider} ({link.export_name})")
    diags = list(obj.diagnostics)
    out.append("diagnostics:" if diags else "diagnostics: (none)")
    out += [f"  {_diag(d, root)}" for d in diags]
    events = getattr(obj, "events", None)
    if events:
        out.append("events:")
        out += [f"  {e.kind} {e.extension}: {mask(e.message, root)}" for e in events]
    return out
