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

from ._diagnostics import Diagnostic
from ._errors import CallError

if TYPE_CHECKING:
    from ._host import Host

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


async def traced_gather(host: Host, calls: Iterable[tuple[str, str, Sequence[Any]]]) -> CallTrace:
    """Run calls concurrently (one worker per extension, as `Host.acall` does) and trace them."""
    from ._values import to_json

    trace = CallTrace()
    loop = asyncio.get_running_loop()

    def run(ext: str, function: str, args: Sequence[Any]) -> None:
        trace.add(ext, "start", function)
        try:
            value = host.call(ext, function, *args)
        except CallError as e:
            trace.add(ext, "end", function, f"error {e.code}")
            return
        trace.add(ext, "end", function, f"ok {to_json(value, None)!r}")

    futures = [loop.run_in_executor(host.runtimes[e].executor(), run, e, f, a) if e in host.runtimes
               else loop.run_in_executor(None, run, e, f, a) for e, f, a in calls]
    await asyncio.gather(*futures)
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
    from ._plugin_scenario import Scenario

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
