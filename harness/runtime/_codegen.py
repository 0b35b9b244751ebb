"""Compile generated Python (the fast paths' lowering and lifting) so tracebacks can show it.

Code compiled from a string has no file: a traceback through it reads `File "<string>"` with
no line. As `dataclasses` and `attrs` do, the source is registered in `linecache` under a file
name that says what generated it, so tracebacks and debuggers show the generated line. The
name holds a digest of the source: the same source (one per function signature, however often
an extension restarts) is one entry, so the cache stays as small as the set of signatures.
"""

from __future__ import annotations

import hashlib
import linecache
from types import CodeType
from typing import Literal

__all__ = ["compile_generated"]


def compile_generated(source: str, what: str, mode: Literal["exec", "eval"] = "exec") -> CodeType:
    """`compile(source)` under the file name `<ext-harness WHAT DIGEST>`, its lines in linecache."""
    digest = hashlib.blake2b(source.encode("utf-8"), digest_size=6).hexdigest()
    filename = f"<ext-harness {what} {digest}>"
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # (size, mtime, lines, name): a None mtime tells `linecache.checkcache` to keep the entry
    linecache.cache[filename] = (len(source), None, lines, filename)
    return compile(source, filename, mode)
