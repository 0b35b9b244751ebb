"""Stage 2: compile each discovered extension and read its imports and exports.

Everything a user can get wrong here (a core module instead of a component, a
truncated file, an import the host cannot serve) becomes a coded `Diagnostic`;
`analyse` never raises for bad input, so one broken extension never stops the
others. Types are read from the compiled component without instantiating it and
converted once into the frozen `_witypes` model, which later stages compare.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

from ..model import _names, _typejson, _witypes
from ..model._diagnostics import Diagnostic, sort_diagnostics
from ..model._errors import WatSyntaxError
from ..model._names import classify
from ..model._records import Analysed, Candidate, Endpoint
from ..model._witypes import (
    ComponentItem,
    InstanceT,
    Item,
    ModuleItem,
    ResourceItem,
    TypeItem,
    render,
)
from ._cache import CompileCache
from ._engine import EngineConfig, shared_engine
from ._wasmtypes import from_wasmtime_item as _convert_item
from ._wasmtypes import resource_names as _resource_names
from ._wat import assemble_wat_file

__all__ = ["AnalysisConfig", "analyse", "analyse_all", "binary_layer"]

_MAGIC = b"\0asm"
_CORE_VERSION = b"\x01\x00\x00\x00"
_COMPONENT_VERSION = b"\x0d\x00\x01\x00"


@dataclass(frozen=True)
class AnalysisConfig:
    """How to compile. `cache=None` compiles every time; the default caches in the user cache dir."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    cache: CompileCache | None = field(default_factory=CompileCache)


def binary_layer(data: bytes) -> str:
    """`component`, `core` (a core module), `empty`, `not-wasm` or `unknown` from the 8-byte header."""
    if not data:
        return "empty"
    if not data.startswith(_MAGIC):
        return "not-wasm"
    version = data[4:8]
    if version == _COMPONENT_VERSION:
        return "component"
    if version == _CORE_VERSION:
        return "core"
    return "unknown"


def analyse(candidate: Candidate, config: AnalysisConfig | None = None
            ) -> tuple[Analysed | None, list[Diagnostic]]:
    """Compile `candidate` and read its interface; None plus error diagnostics if it cannot be used."""
    config = config if config is not None else AnalysisConfig()
    name = candidate.name
    path = candidate.component_path
    subject = str(path)

    def error(code: str, message: str, **details: Any) -> tuple[None, list[Diagnostic]]:
        return None, [Diagnostic(code, message, extension=name, subject=subject,
                                 details={"path": str(path), **details})]

    # -- bytes
    try:
        if candidate.source == "wat" or path.suffix.lower() == ".wat":
            data = assemble_wat_file(path)
        else:
            data = path.read_bytes()
    except WatSyntaxError as e:
        return error("wat-syntax", f"{path.name}:{e.line}:{e.column}: {e.reason.splitlines()[0]}"
                     if e.line is not None else f"{path.name}: {e.reason.splitlines()[0]}",
                     line=e.line, column=e.column, reason=e.reason)
    except OSError as e:
        return error("missing-component", f"{path.name}: cannot read the component file: "
                     f"{e.strerror or e}", reason=str(e))

    # -- which kind of binary
    layer = binary_layer(data)
    if layer == "core":
        return error("not-a-component",
                     f"{path.name} is a core WebAssembly module (binary version 1), not a component",
                     reason="core module")
    if layer != "component":
        reason = {
            "empty": "the file is empty",
            "not-wasm": "the file does not start with the WebAssembly magic bytes \\0asm",
            "unknown": f"unknown WebAssembly binary version/layer {data[4:8].hex(' ')}",
        }[layer]
        return error("invalid-component", f"{path.name} is not a valid component: {reason}",
                     reason=reason)

    # -- compile (through the cache)
    digest = hashlib.sha256(data).hexdigest()
    engine = shared_engine(config.engine)
    cache = config.cache or CompileCache.disabled()
    started = time.perf_counter()
    try:
        component, cached = cache.load_or_compile(engine, config.engine, data, digest=digest)
    except Exception as e:  # wasmtime's validation/compile error; never let it escape
        reason = _reason(e)
        grant = ("; 64-bit memories need Host.load(memory64=True)"
                 if "memory64 must be enabled" in reason and not config.engine.memory64 else "")
        return error("invalid-component", f"{path.name} is not a valid component: {_summary(reason)}{grant}",
                     reason=reason)
    seconds = time.perf_counter() - started

    # -- interface (the converted model is cached too: walking wasmtime's types
    #    through ctypes costs more than loading the compiled code)
    interface = _load_interface(cache, digest, config.engine) if cached else None
    if interface is None:
        try:
            raw = _read_interface(component, engine)
        except Exception as e:  # pragma: no cover - wasmtime accepted it but cannot describe it
            return error("invalid-component",
                         f"{path.name}: cannot read the component's types: {_reason(e)}",
                         reason=_reason(e))
        if _fully_converted(raw):
            _store_interface(cache, digest, config.engine, raw)
    else:
        raw = interface
    raw_imports, raw_exports = raw

    diags: list[Diagnostic] = []
    imports: list[Endpoint] = []
    for import_name, item in raw_imports:
        if isinstance(item, Exception):
            diags.append(_unsupported(candidate, import_name,
                                      f"uses a type the host cannot read ({item})"))
        elif isinstance(item, InstanceT):
            imports.append(Endpoint(import_name, classify(import_name), item))
        elif isinstance(item, TypeItem):
            continue  # an `eq` type import is only an alias: nothing to provide at run time
        else:
            diags.append(_unsupported(candidate, import_name, f"is {_describe(item)}"))

    exports: list[Endpoint] = []
    for export_name, item in raw_exports:
        if isinstance(item, Exception):
            diags.append(Diagnostic(
                "invalid-component",
                f"{path.name}: export `{export_name}` uses a type the host cannot read: {item}",
                extension=name, subject=export_name, details={"path": str(path), "reason": str(item)}))
        else:
            exports.append(Endpoint(export_name, classify(export_name), item))

    if any(d.is_error for d in diags):
        return None, diags
    return Analysed(
        candidate=candidate,
        digest=digest,
        imports=tuple(imports),
        exports=tuple(exports),
        component=component,
        compile_seconds=seconds,
        cached=cached,
    ), diags


def analyse_all(candidates: Iterable[Candidate], config: AnalysisConfig | None = None
                ) -> tuple[tuple[Analysed, ...], tuple[Diagnostic, ...]]:
    """Analyse every candidate; the usable ones in input order, and all diagnostics sorted."""
    config = config if config is not None else AnalysisConfig()
    done: list[Analysed] = []
    diags: list[Diagnostic] = []
    for candidate in candidates:
        try:
            analysed, found = analyse(candidate, config)
        except Exception as e:  # a failure nothing above foresaw stays with its own extension
            analysed, found = None, [Diagnostic(
                "invalid-component", f"{candidate.component_path.name} could not be analysed: {_reason(e)}",
                extension=candidate.name, subject=str(candidate.component_path),
                details={"path": str(candidate.component_path), "reason": _reason(e)})]
        diags.extend(found)
        if analysed is not None:
            done.append(analysed)
    return tuple(done), sort_diagnostics(diags)


# --------------------------------------------------------------------------- interface cache

_Named = tuple[tuple[str, "Item | Exception"], ...]
_INTERFACE_KIND = "iface"


def _read_interface(component: Any, engine: wasmtime.Engine) -> tuple[_Named, _Named]:
    """Every top-level import and export, converted; a conversion failure is kept as the exception."""
    ctype = component.type
    imports, exports = ctype.imports(engine), ctype.exports(engine)

    def convert(externs: dict[str, Any], other: dict[str, Any]) -> _Named:
        out: list[tuple[str, Item | Exception]] = []
        try:  # the other side's names too: an export may hand out a resource of an import
            names = _resource_names(externs, engine) + _resource_names(other, engine)
        except Exception:  # names are a nicety: handles then render as own<resource>
            names = []
        for n, ext in externs.items():
            try:
                out.append((n, _convert_item(ext.ty, engine, names)))
            except Exception as e:  # a type this version of the model does not know
                out.append((n, e))
        return tuple(out)

    return convert(imports, exports), convert(exports, imports)


def _fully_converted(raw: tuple[_Named, _Named]) -> bool:
    return not any(isinstance(item, Exception) for part in raw for _, item in part)


_INTERFACE_FORMAT = "ext-harness/interface"
_INTERFACE_VERSION = 1  # of the document below; the `model` fingerprint covers the converter's code


@functools.cache
def _schema() -> str:
    """Fingerprint of the model's source: a cached interface from other code is not trusted."""
    h = hashlib.sha256()
    for module in (_witypes, _names, _typejson):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()


def _load_interface(cache: CompileCache, digest: str, cfg: EngineConfig
                    ) -> tuple[_Named, _Named] | None:
    """The cached interface (JSON, authenticated by the cache), or None; an unusable one is deleted."""
    data = cache.load_extra(digest, cfg, _INTERFACE_KIND)
    if data is None:
        return None
    try:
        doc = json.loads(data)
        if (isinstance(doc, dict) and doc.get("format") == _INTERFACE_FORMAT
                and doc.get("version") == _INTERFACE_VERSION and doc.get("model") == _schema()):
            return _named_from_json(doc.get("imports")), _named_from_json(doc.get("exports"))
    except (ValueError, RecursionError):  # not JSON, or a shape the decoder does not know
        pass
    cache.discard_extra(digest, cfg, _INTERFACE_KIND)
    return None


def _named_from_json(part: object) -> _Named:
    if not isinstance(part, list):
        raise ValueError("expected a list of [name, item] pairs")
    out: list[tuple[str, Item | Exception]] = []
    for pair in part:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError("expected a [name, item] pair")
        out.append((pair[0], _typejson.item_from_json(pair[1])))
    return tuple(out)


def _interface_to_json(raw: tuple[_Named, _Named]) -> bytes:
    """Only for a fully converted interface (no exceptions among the items)."""
    def part(named: _Named) -> list[object]:
        return [[n, _typejson.item_to_json(i)] for n, i in named if not isinstance(i, Exception)]

    doc = {"format": _INTERFACE_FORMAT, "version": _INTERFACE_VERSION, "model": _schema(),
           "imports": part(raw[0]), "exports": part(raw[1])}
    return json.dumps(doc, separators=(",", ":")).encode()


def _store_interface(cache: CompileCache, digest: str, cfg: EngineConfig,
                     raw: tuple[_Named, _Named]) -> None:
    cache.store_extra(digest, cfg, _INTERFACE_KIND, _interface_to_json(raw))


def _unsupported(candidate: Candidate, import_name: str, what: str) -> Diagnostic:
    return Diagnostic(
        "unsupported-import",
        f"{candidate.component_path.name}: import `{import_name}` {what}; the host can only provide "
        f"interface instances",
        extension=candidate.name,
        subject=import_name,
        details={"path": str(candidate.component_path), "import": import_name},
    )


def _describe(item: Item) -> str:
    if isinstance(item, ResourceItem):
        return "an abstract resource type (no extension can export a top-level resource)"
    if isinstance(item, ModuleItem):
        return "a core module"
    if isinstance(item, ComponentItem):
        return "a component"
    return f"a bare function `{render(item)}` (not inside an interface)"


def _summary(reason: str) -> str:
    """wasmtime's multi-line error ("X\n\nCaused by:\n    0: Y\n    1: Z") as one line "X: Y: Z"."""
    parts: list[str] = []
    for raw in reason.splitlines():
        line = raw.strip()
        if not line or line == "Caused by:":
            continue
        head, sep, rest = line.partition(": ")
        if sep and head.isdigit():
            line = rest
        parts.append(line)
    return ": ".join(parts) or "wasmtime rejected the component"


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    if isinstance(e, wasmtime.WasmtimeError):
        return text or "wasmtime rejected the component"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
