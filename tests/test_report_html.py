"""The HTML conformance report: one self-contained page (inline SVG graph, no script, no
network), failing checks first, guest text escaped; rendered in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin._report import CheckRecord, RunReport
from harness.testing import Const, err, write_extension
from harness.testing._scenario import ScenarioBuilder

_GUEST = '<script>alert("x")</script><img src=x onerror=alert(1)>'
_NODE_FILL = (0xEE, 0xF3, 0xFF)  # an extension's box in the graph (`_report_html`): nowhere else on the page


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real `pytest --ext-suite` run over a chain, a missing import and an init that fails with markup."""
    base = tmp_path_factory.mktemp("html-report")
    node = ScenarioBuilder.node
    for decl in (node("app", ["lib"]), node("lib"), node("needy", ["nobody"]),
                 node("grumpy", init=Const(err(_GUEST)))):
        write_extension(decl, base / "exts")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--ext-suite=exts", "--ext-report=out", "--ext-cache-dir=cache",
         "-p", "no:cacheprovider", "-q", "-o", "asyncio_default_fixture_loop_scope=function", "--rootdir", str(base)],
        cwd=base, capture_output=True, text=True, timeout=180, check=False)
    page = base / "out" / "conformance.html"
    assert page.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"base": base, "path": page, "html": page.read_text(encoding="utf-8")}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained(report: dict[str, Any]) -> None:
    text = report["html"]
    parser = _Tags()
    parser.feed(text)
    names = {tag for tag, _ in parser.tags}
    assert "svg" in names and not names & {"script", "img", "link", "iframe", "object", "embed", "image"}
    fetching = [(tag, a) for tag, attrs in parser.tags for a in attrs if a in ("src", "href", "xlink:href")]
    assert fetching == []  # nothing to fetch: no images, links, style sheets
    assert not any(a.startswith("on") for _, attrs in parser.tags for a in attrs)
    assert re.sub(r'xmlns="http://www\.w3\.org/2000/svg"', "", text).count("://") == 0  # no URL
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_guest_text_is_escaped(report: dict[str, Any]) -> None:
    text = report["html"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "<img" not in text


def test_failing_checks_come_first_and_the_graph_has_every_extension(report: dict[str, Any]) -> None:
    text = report["html"]
    assert text.index('id="failures"') < text.index('id="graph"') < text.index('id="checks"')
    failures = text[text.index('id="failures"'):text.index('id="graph"')]
    assert "needy — resolution" in failures and "grumpy — linking" in failures
    svg = text[text.index("<svg"):text.index("</svg>")]
    assert svg.count('<g class="node') == 5  # four extensions and the missing interface
    assert svg.count('class="node failed"') == 2 and svg.count('class="node missing"') == 1
    assert 'class="edge edge-link"' in svg and 'class="edge edge-missing"' in svg
    assert ">test:lib/api</text>" in svg  # the link app → lib, labelled with the interface


def test_an_empty_report_and_a_cycle_still_render() -> None:
    assert "no extensions" in RunReport().html({})
    rep = RunReport([CheckRecord("a", "resolution", "failed", "cycle", details={"cycle_next": "b"}),
                     CheckRecord("b", "resolution", "failed", "cycle", details={"cycle_next": "a"})])
    svg = rep.html({})
    assert svg.count('class="edge edge-cycle"') == 2 and svg.count('<g class="node failed"') == 2


# --------------------------------------------------------------------------- a real browser

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):  # .ci/run installs it: a CI run must not pass by skipping
        pytest.fail("Chromium is not installed; .ci/run installs it (apt-get install chromium)")
    pytest.skip("Chromium is not installed (CI installs it: apt-get install chromium)")


def _browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with networking disabled: every host resolves to nothing, every proxy is dead."""
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r) if channels == 3 else bytes(v for j, v in enumerate(r) if j % 4 != 3)
                           for r in rows]


def test_chromium_renders_the_graph_offline(report: dict[str, Any], tmp_path: Path) -> None:
    page: Path = report["path"]
    dom = _browse(page, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="dependency-graph"' in dom.stdout
    assert dom.stdout.count("<rect") == 5 and ">app 1.0.0</text>" in dom.stdout and ">lib 1.0.0</text>" in dom.stdout
    assert "<script" not in dom.stdout.lower()  # the guest's markup stayed text

    shot = tmp_path / "report.png"
    run = _browse(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1600",
                  "--hide-scrollbars")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1400, 1600)
    fill = bytes(_NODE_FILL)
    node_pixels = sum(row[i:i + 3] == fill for row in rows[::4] for i in range(0, len(row), 3 * 4))
    assert node_pixels > 50, "the graph's boxes are not on the screenshot"  # 2 boxes ≈ 19 000 px; sampled 1/16
    colours = {row[i:i + 3] for row in rows[::8] for i in range(0, len(row), 3 * 8)}
    assert len(colours) > 8, "the screenshot is blank"
