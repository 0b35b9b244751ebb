"""The user docs stay true: every code is documented, every Python example runs.

`docs/errors.md` must list exactly the codes of `harness/model/_codes.py` (a table row
per code), and each fenced ```python block in docs/*.md is executed (the blocks
of a page in order, in one namespace, with the repository root as the working
directory), so an example that drifts from the library fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.model._codes import CODES

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
        assert code.hint.replace("|", "\\|") in row, f"{code.code}: the fix differs from harness/model/_codes.py"


def _blocks() -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.setdefault(path.name, []).append((line, m.group(1)))
    return out


BLOCKS = _blocks()


def test_docs_have_python_examples() -> None:
    assert {"quickstart.md", "async.md", "writing-extensions.md"} <= set(BLOCKS)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_python_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks of one page run in order in one namespace, like a reader's session."""
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": f"docs_{name.removesuffix('.md').replace('-', '_')}"}
    for line, code in BLOCKS[name]:
        # The file name in tracebacks points at the block: docs/page.md:LINE.
        exec(compile(code, f"docs/{name}:{line}", "exec"), namespace)
