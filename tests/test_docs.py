"""The user docs stay true: every code is documented, every Python example runs.

`docs/errors.md` must list exactly the codes of `harness/_codes.py` (a table row
per code), and each fenced ```python block in docs/*.md is executed, in a fresh
namespace with the repository root as the working directory, so an example that
drifts from the library fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness._codes import CODES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_ROW = re.compile(r"^\|\s*`([a-z][a-z-]*)`\s*\|", re.M)
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.M | re.S)


def test_every_code_is_in_errors_md_and_nothing_else() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    rows = _ROW.findall(text)
    assert sorted(set(CODES) - set(rows)) == [], "codes missing from docs/errors.md"
    assert sorted(set(rows) - set(CODES)) == [], "docs/errors.md lists codes that do not exist"
    assert len(rows) == len(set(rows)), "a code is listed twice in docs/errors.md"


def test_errors_md_keeps_each_codes_hint() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    for code in CODES.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{code.code}` |"))
        assert code.hint.replace("|", "\\|") in row, f"{code.code}: the fix differs from harness/_codes.py"


def _blocks() -> list[tuple[str, int, str]]:
    out: list[tuple[str, int, str]] = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((path.name, line, m.group(1)))
    return out


BLOCKS = _blocks()


def test_docs_have_python_examples() -> None:
    names = {name for name, _, _ in BLOCKS}
    assert {"quickstart.md", "async.md", "writing-extensions.md", "errors.md"} <= names


@pytest.mark.parametrize(("name", "line", "code"), BLOCKS, ids=[f"{n}:{ln}" for n, ln, _ in BLOCKS])
def test_python_example_runs(name: str, line: int, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    compiled = compile(code, f"docs/{name}:{line}", "exec")
    exec(compiled, {"__name__": f"docs_{name.removesuffix('.md').replace('-', '_')}"})
