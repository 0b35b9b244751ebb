"""Reports of a conformance run: JUnit XML, JSON, a Markdown summary with a Mermaid graph, and
one self-contained HTML page with the graph drawn (`_report_html`).

The writer works on `CheckRecord`s only (built from pytest reports in the
controller, so it sees the merged results of every xdist worker) and never on
live pipeline objects: links and missing imports travel in each record's details.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from ..model._text import printable
from ..pipeline._wasmtools import wasm_tools
from ._check_record import CheckRecord
from ._suite import CHECKS

__all__ = ["CheckRecord", "RunReport", "tool_versions"]

_ICON = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


def tool_versions() -> dict[str, str]:
    """wasmtime (Python package) and wasm-tools (binary) versions, for the reports."""
    out: dict[str, str] = {}
    try:
        out["wasmtime"] = metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        out["wasmtime"] = "unknown"
    try:
        out["ext-harness"] = metadata.version("ext-harness")
    except metadata.PackageNotFoundError:
        out["ext-harness"] = "unknown"
    tool = wasm_tools()
    if tool is None:
        out["wasm-tools"] = "not found"
    else:
        try:
            proc = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30, check=False)
            out["wasm-tools"] = proc.stdout.strip().removeprefix("wasm-tools ").split(" ")[0] or "unknown"
        except (OSError, subprocess.SubprocessError):
            out["wasm-tools"] = "unknown"
    return out


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall("`+", text)), default=0)


def _code_span(text: str) -> str:
    """`text` as inline code, whatever backticks it holds (CommonMark: a longer fence)."""
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{printable(text, one_line=True)}{pad}{ticks}"


def _cell(text: str) -> str:
    """A Markdown table cell: a `|` or a newline in a name must not open another cell or row."""
    return printable(text, one_line=True).replace("|", "\\|")


def _label(text: str) -> str:
    """A Mermaid node label between double quotes (Mermaid's entity for a quote is `#quot;`)."""
    return printable(text, one_line=True).replace('"', "#quot;")


def _node(name: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


class RunReport:
    """All check records of one run; writes the four report files."""

    def __init__(self, records: Iterable[CheckRecord] = ()) -> None:
        self.records: dict[str, CheckRecord] = {}
        for r in records:
            self.add(r)

    def add(self, record: CheckRecord) -> None:
        # a later phase (e.g. a teardown error) must not hide a failure already recorded
        old = self.records.get(record.id)
        if old is not None and old.outcome == "failed" and record.outcome != "failed":
            return
        if old is not None:
            record.duration += old.duration
        self.records[record.id] = record

    def by_extension(self) -> dict[str, list[CheckRecord]]:
        out: dict[str, list[CheckRecord]] = {}
        for r in self.records.values():
            out.setdefault(r.extension, []).append(r)
        for recs in out.values():
            recs.sort(key=lambda r: CHECKS.index(r.check) if r.check in CHECKS else len(CHECKS))
        return dict(sorted(out.items()))

    @property
    def failed(self) -> list[CheckRecord]:
        return [r for r in self.records.values() if r.outcome == "failed"]

    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "skipped": 0}
        for r in self.records.values():
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    # ------------------------------------------------------------------ writers

    def write(self, folder: Path, versions: dict[str, str], duration: float = 0.0) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "conformance.xml", folder / "conformance.json", folder / "conformance.md"]
        paths[0].write_bytes(self.junit_xml(versions, duration))
        paths[1].write_text(json.dumps(self.to_json(versions, duration), indent=2, sort_keys=True) + "\n",
                            encoding="utf-8")
        paths[2].write_text(self.markdown(versions), encoding="utf-8")
        paths.append(folder / "conformance.html")
        paths[3].write_text(self.html(versions), encoding="utf-8")
        return paths

    def html(self, versions: dict[str, str]) -> str:
        """One self-contained page (inline SVG graph, no script, no network), failing checks first."""
        from ._report_html import render_html

        return render_html(self.by_extension(), self.failed, self.counts(), versions)

    def to_json(self, versions: dict[str, str], duration: float = 0.0) -> dict[str, Any]:
        exts: dict[str, Any] = {}
        for name, recs in self.by_extension().items():
            version = next((r.details.get("version") for r in recs if r.details.get("version")), None)
            exts[name] = {
                "version": version,
                "outcome": "failed" if any(r.outcome == "failed" for r in recs) else "passed",
                "checks": {r.check: {"outcome": r.outcome, "message": r.message,
                                     "duration": round(r.duration, 4), "nodeid": r.nodeid,
                                     "details": r.details}
                           for r in recs},
            }
        return {"versions": versions, "duration": round(duration, 3), "summary": self.counts(),
                "extensions": exts}

    def junit_xml(self, versions: dict[str, str], duration: float = 0.0) -> bytes:
        c = self.counts()
        suites = ET.Element("testsuites")
        suite = ET.SubElement(suites, "testsuite", name="ext-harness conformance",
                              tests=str(len(self.records)), failures=str(c["failed"]), errors="0",
                              skipped=str(c["skipped"]), time=f"{duration:.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in sorted(versions.items()):
            ET.SubElement(props, "property", name=f"{k}-version", value=v)
        for name, recs in self.by_extension().items():
            for r in recs:
                case = ET.SubElement(suite, "testcase", classname=printable(name, one_line=True), name=r.check,
                                     time=f"{r.duration:.3f}")
                # XML 1.0 cannot carry most control characters, and the text is read by people
                message = printable(r.message)
                if r.outcome == "failed":
                    el = ET.SubElement(case, "failure", message=message.splitlines()[0] if message else "")
                    el.text = message
                elif r.outcome == "skipped":
                    ET.SubElement(case, "skipped", message=message)
        ET.indent(suites)
        data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
        return data

    def markdown(self, versions: dict[str, str]) -> str:
        c = self.counts()
        lines = ["# Extension conformance", "",
                 f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped — "
                 + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), ""]
        header = "| extension | " + " | ".join(CHECKS) + " |"
        lines += [header, "|" + "---|" * (len(CHECKS) + 1)]
        by_ext = self.by_extension()
        for name, recs in by_ext.items():
            cells = {r.check: _ICON.get(r.outcome, r.outcome) for r in recs}
            lines.append(f"| {_cell(name)} | " + " | ".join(cells.get(k, "") for k in CHECKS) + " |")
        lines += ["", "## Dependency graph", "", "```mermaid", "graph LR"]
        lines += self._mermaid(by_ext)
        lines += ["```", ""]
        if self.failed:
            lines += ["## Failures", ""]
            for r in sorted(self.failed, key=lambda r: r.id):
                message = r.message.strip()
                fence = "`" * max(3, _longest_backtick_run(message) + 1)  # the text cannot close it
                lines += [f"### {_code_span(r.id)}", "", fence, message, fence, ""]
        return printable("\n".join(lines))  # names and messages can come from extensions

    def _mermaid(self, by_ext: dict[str, list[CheckRecord]]) -> list[str]:
        out: list[str] = []
        failed = set()
        missing_nodes: dict[str, str] = {}
        edges: list[str] = []
        for name, recs in by_ext.items():
            version = next((r.details.get("version") for r in recs if r.details.get("version")), None)
            label = f"{name} {version}" if version else name
            out.append(f'  {_node(name)}["{_label(label)}"]')
            if any(r.outcome == "failed" for r in recs):
                failed.add(name)
            for r in recs:
                if r.check != "resolution":
                    continue
                for link in r.details.get("links", []):
                    iface = str(link.get("import", "")).split("@")[0]
                    edges.append(f'  {_node(name)} -->|"{_label(iface)}"| {_node(str(link.get("provider")))}')
                for provider in r.details.get("mismatched", []):
                    edges.append(f'  {_node(name)} -.-x|"type mismatch"| {_node(str(provider))}')
                nxt = r.details.get("cycle_next")
                if nxt and nxt != name:
                    edges.append(f'  {_node(name)} -.->|cycle| {_node(str(nxt))}')
                for missing in r.details.get("missing", []):
                    node = missing_nodes.setdefault(missing, f"m{len(missing_nodes)}")
                    edges.append(f"  {_node(name)} -.->|missing| {node}")
        for iface, node in missing_nodes.items():
            out.append(f'  {node}(["{_label(iface)}"])')
        out += edges
        out.append("  classDef failed fill:#fdd,stroke:#c00,color:#600")
        out.append("  classDef missing fill:#eee,stroke:#999,stroke-dasharray: 4 4")
        if failed:
            out.append(f"  class {','.join(_node(n) for n in sorted(failed))} failed")
        if missing_nodes:
            out.append(f"  class {','.join(missing_nodes.values())} missing")
        return out
