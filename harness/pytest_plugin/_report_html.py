"""The conformance report as one self-contained HTML page, for a person opening a CI artifact.

No script, no network: the dependency graph is an inline SVG laid out here (providers on
the left, each consumer one column right of its furthest provider), the style is inline,
and a Content-Security-Policy forbids anything else, so the page renders the same offline
and from a zip. Failing checks come first. Every text that can come from an extension (names,
versions, interfaces, messages) is made printable and then escaped with `html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..model._text import printable
from ._check_record import CheckRecord
from ._suite import CHECKS

__all__ = ["GraphEdge", "GraphNode", "dependency_graph", "render_html", "render_svg"]

_NODE_W, _NODE_H = 210, 46
_COL_GAP, _ROW_GAP = 150, 34
_MARGIN = 24
_MAX_LABEL = 30
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.summary { font-size: 1.05rem; }
.passed { color: #176f2c; } .failed { color: #b00020; } .skipped { color: #777; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
td.failed { background: #fdd; } td.passed { background: #e6f4ea; } td.skipped { background: #f3f3f3; }
.failure { border-left: 4px solid #b00020; padding: .2rem .8rem; margin: 1rem 0; background: #fff7f7; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; }
svg text { font-family: system-ui, sans-serif; }
.versions { color: #555; font-size: .9rem; }
"""
_MARK = {"passed": "✔ passed", "failed": "✘ failed", "skipped": "- skipped"}


@dataclass(frozen=True)
class GraphNode:
    """An extension (or, `missing`, an imported interface nobody exports)."""

    key: str
    label: str
    failed: bool = False
    missing: bool = False


@dataclass(frozen=True)
class GraphEdge:
    """consumer → provider; `kind`: link, mismatch, cycle or missing."""

    source: str
    target: str
    label: str
    kind: str


def _esc(text: object, *, one_line: bool = True) -> str:
    return html.escape(printable(str(text), one_line=one_line), quote=True)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…"


def dependency_graph(by_ext: Mapping[str, Sequence[CheckRecord]]) -> tuple[list[GraphNode], list[GraphEdge]]:
    """Nodes and edges from the records' details (`resolution`: links, mismatched, cycle_next, missing)."""
    nodes: dict[str, GraphNode] = {}
    edges: list[GraphEdge] = []
    missing: dict[str, str] = {}
    for name, recs in by_ext.items():
        version = next((r.details.get("version") for r in recs if r.details.get("version")), None)
        nodes[f"e:{name}"] = GraphNode(f"e:{name}", f"{name} {version}" if version else name,
                                       failed=any(r.outcome == "failed" for r in recs))
        for r in recs:
            if r.check != "resolution":
                continue
            for link in r.details.get("links", []):
                iface = str(link.get("import", "")).split("@")[0]
                edges.append(GraphEdge(f"e:{name}", f"e:{link.get('provider')}", iface, "link"))
            for provider in r.details.get("mismatched", []):
                edges.append(GraphEdge(f"e:{name}", f"e:{provider}", "type mismatch", "mismatch"))
            nxt = r.details.get("cycle_next")
            if nxt and nxt != name:
                edges.append(GraphEdge(f"e:{name}", f"e:{nxt}", "cycle", "cycle"))
            for iface in r.details.get("missing", []):
                key = missing.setdefault(str(iface), f"m:{len(missing)}")
                edges.append(GraphEdge(f"e:{name}", key, "missing", "missing"))
    for iface, key in missing.items():
        nodes[key] = GraphNode(key, iface, missing=True)
    for e in edges:  # a provider the records do not describe (e.g. outside the run) still gets a box
        if e.target not in nodes:
            nodes[e.target] = GraphNode(e.target, e.target.removeprefix("e:"))
    return list(nodes.values()), edges


def _columns(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> dict[str, int]:
    """Column of each node: 0 for nodes depending on nothing, else 1 + the furthest dependency's.
    Edges that close a cycle are ignored for the layout (iterative DFS: no recursion limit)."""
    deps: dict[str, list[str]] = {n.key: [] for n in nodes}
    for e in edges:
        if e.kind != "cycle" and e.source != e.target:
            deps[e.source].append(e.target)
    column: dict[str, int] = {}
    for root in deps:
        if root in column:
            continue
        on_path: set[str] = {root}
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(deps[node]):
                stack[-1] = (node, i + 1)
                nxt = deps[node][i]
                if nxt not in column and nxt not in on_path:
                    on_path.add(nxt)
                    stack.append((nxt, 0))
                continue
            stack.pop()
            on_path.discard(node)
            column[node] = 1 + max((column[d] for d in deps[node] if d in column), default=-1)
    return column


def render_svg(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> str:
    """The graph as an inline `<svg>`: boxes in columns, arrows consumer → provider, labelled."""
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40" role="img">' \
               '<text x="10" y="25">no extensions</text></svg>'
    column = _columns(nodes, edges)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for n in sorted(nodes, key=lambda n: (column[n.key], n.missing, n.label)):
        c = column[n.key]
        r = rows.get(c, 0)
        rows[c] = r + 1
        pos[n.key] = (_MARGIN + c * (_NODE_W + _COL_GAP), _MARGIN + r * (_NODE_H + _ROW_GAP))
    width = _MARGIN * 2 + (max(rows) + 1) * (_NODE_W + _COL_GAP) - _COL_GAP
    height = _MARGIN * 2 + max(rows.values()) * (_NODE_H + _ROW_GAP) - _ROW_GAP
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="dependency-graph" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="dependency graph">',
           "<defs>"]
    for kind, colour in (("link", "#335"), ("mismatch", "#b00020"), ("cycle", "#b06000"), ("missing", "#888")):
        out.append(f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
                   f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/>'
                   "</marker>")
    out.append("</defs>")
    for e in edges:
        (sx, sy), (tx, ty) = pos[e.source], pos[e.target]
        x1, y1 = float(sx), sy + _NODE_H / 2  # from the consumer's left side ...
        x2, y2 = float(tx + _NODE_W), ty + _NODE_H / 2  # ... to the provider's right side
        if x2 >= x1:  # same column or a back edge (cycle): go round the bottom
            x1, y1, x2, y2 = sx + _NODE_W / 2, sy + _NODE_H, tx + _NODE_W / 2, ty + _NODE_H
        colour = {"link": "#335", "mismatch": "#b00020", "cycle": "#b06000", "missing": "#888"}[e.kind]
        dash = "" if e.kind == "link" else ' stroke-dasharray="6 4"'
        out.append(f'<g class="edge edge-{e.kind}"><title>{_esc(e.source[2:])} → {_esc(e.target[2:])}: '
                   f'{_esc(e.label)}</title>'
                   f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{colour}" '
                   f'stroke-width="1.6"{dash} marker-end="url(#arrow-{e.kind})"/>'
                   f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 - 5:.0f}" font-size="11" fill="{colour}" '
                   f'text-anchor="middle">{_esc(_short(e.label))}</text></g>')
    for n in nodes:
        x, y = pos[n.key]
        fill, stroke = ("#fdd", "#c00") if n.failed else ("#eee", "#999") if n.missing else ("#eef3ff", "#446")
        dash = ' stroke-dasharray="4 4"' if n.missing else ""
        cls = "node" + (" failed" if n.failed else "") + (" missing" if n.missing else "")
        out.append(f'<g class="{cls}"><title>{_esc(n.label)}</title>'
                   f'<rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="{22 if n.missing else 6}" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
                   f'<text x="{x + _NODE_W / 2:.0f}" y="{y + _NODE_H / 2 + 5:.0f}" font-size="14" '
                   f'text-anchor="middle" fill="#222">{_esc(_short(n.label))}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def render_html(by_ext: Mapping[str, Sequence[CheckRecord]], failed: Sequence[CheckRecord],
                counts: Mapping[str, int], versions: Mapping[str, str]) -> str:
    """The whole page: summary, failing checks (first), the graph, then the table of every check."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>Extension conformance</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>Extension conformance</h1>",
             f'<p class="summary"><span class="passed">{counts.get("passed", 0)} passed</span>, '
             f'<span class="failed">{counts.get("failed", 0)} failed</span>, '
             f'<span class="skipped">{counts.get("skipped", 0)} skipped</span></p>',
             '<p class="versions">' + ", ".join(f"{_esc(k)} {_esc(v)}" for k, v in sorted(versions.items()))
             + "</p>"]
    if failed:
        parts.append(f'<h2 id="failures">Failing checks ({len(failed)})</h2>')
        for r in sorted(failed, key=lambda r: (r.extension, CHECKS.index(r.check) if r.check in CHECKS else 99)):
            parts.append(f'<div class="failure"><h3>{_esc(r.extension)} — {_esc(r.check)}</h3>'
                         f"<pre>{_esc(r.message.strip(), one_line=False)}</pre></div>")
    nodes, edges = dependency_graph(by_ext)
    parts += ['<h2 id="graph">Dependency graph</h2>',
              "<p>Arrows go from an extension to the one it imports from; dashed: missing import, type "
              "mismatch or cycle; red: an extension with a failing check.</p>",
              render_svg(nodes, edges)]
    order = sorted(by_ext, key=lambda n: (not any(r.outcome == "failed" for r in by_ext[n]), n))
    parts += ['<h2 id="checks">Checks</h2>', "<table><thead><tr><th>extension</th>"
              + "".join(f"<th>{c}</th>" for c in CHECKS) + "</tr></thead><tbody>"]
    for name in order:
        cells = {r.check: r for r in by_ext[name]}
        row = [f"<td>{_esc(name)}</td>"]
        for c in CHECKS:
            rec = cells.get(c)
            row.append("<td></td>" if rec is None else
                       f'<td class="{_esc(rec.outcome)}" title="{_esc(rec.message[:300])}">'
                       f"{_esc(_MARK.get(rec.outcome, rec.outcome))}</td>")
        parts.append("<tr>" + "".join(row) + "</tr>")
    parts += ["</tbody></table>", "</body></html>", ""]
    return "\n".join(parts)
