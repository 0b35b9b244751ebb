"""Assemble component text (`.wat`) into binary with wasmtime's own parser.

WABT cannot read components, so `wasmtime.wat2wasm` is the one assembler that
accepts everything wasmtime can run. Its errors carry a `--> <anon>:LINE:COL`
pointer; we lift that into `WatSyntaxError.line` / `.column` so callers can show
the user where to look without parsing text themselves.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path

import wasmtime

from ..model._errors import WatSyntaxError

__all__ = ["assemble_wat", "assemble_wat_file"]

_LOCATION = re.compile(r"-->\s*<anon>:(\d+):(\d+)")
_CACHE_SIZE = 128
_cache: OrderedDict[str, bytes] = OrderedDict()
_cache_lock = threading.Lock()


def assemble_wat(text: str, source: str = "<wat>") -> bytes:
    """Binary for `text`; raises `WatSyntaxError` pointing at the offending line and column.

    Results are kept in a small in-process LRU keyed by the text's sha256, because
    test suites assemble the same fixtures over and over.
    """
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        binary = bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raise _syntax_error(str(exc), source) from None
    with _cache_lock:
        _cache[key] = binary
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return binary


def assemble_wat_file(path: str | Path) -> bytes:
    """Assemble a `.wat` file; errors name the file. OSError (unreadable file) propagates."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise WatSyntaxError("file is not valid UTF-8", source=str(path), line=line,
                             column=column) from None
    return assemble_wat(text, source=str(path))


def _syntax_error(raw: str, source: str) -> WatSyntaxError:
    """Turn wasmtime's message (reason, then a caret snippet) into a located error."""
    m = _LOCATION.search(raw)
    reason = raw.strip().splitlines()[0].strip() if raw.strip() else "invalid component text"
    line = int(m[1]) if m else None
    column = int(m[2]) if m else None
    snippet = raw.replace("<anon>", source).split("\n", 1)
    message = reason if len(snippet) < 2 else f"{reason}\n{snippet[1]}"
    return WatSyntaxError(message, source=source, line=line, column=column)
