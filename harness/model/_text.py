"""Text that reaches a terminal or a JSON document: the one place control characters are escaped.

Extension names, paths, init errors, log messages, command output and error messages
come from extensions, and an extension author is not trusted: a raw ESC can erase the
screen, recolour it, set the window title or fake a line of output; bidi controls can
make text read differently from what it is (CVE-2021-42574). Every renderer of text
for people passes guest-influenced text through `printable`, and every JSON writer
uses `json_text`.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["json_text", "printable"]

# C0 controls but tab and newline, DEL, C1 controls, the bidi controls (ALM, LRM, RLM,
# embeddings/overrides, isolates), and lone surrogates (undecodable bytes in argv or
# file names under surrogateescape: not valid Unicode, so not valid UTF-8 either).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
_UNSAFE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
# In JSON text the C0 controls are already escaped by `json.dumps`; these are left.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_BIDI}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` with every control character shown as an escape (`\\x1b`, `\\u202e`, `\\udcff`).

    Newlines and tabs are kept unless `one_line` (for a value shown inside a line, such as
    a name: a newline there could fake a line of output).
    """
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escape, text)


def json_text(data: Any, *, indent: int | None = None) -> str:
    """`data` as JSON that is valid UTF-8 and safe to print: non-ASCII text stays readable,
    DEL, C1 and bidi controls become `\\uXXXX` escapes (the same string once decoded), and a
    lone surrogate, which no UTF-8 can carry, becomes U+FFFD."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)
    text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _SURROGATE.sub("\ufffd", text)
