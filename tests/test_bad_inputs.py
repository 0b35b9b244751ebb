"""Adversarial inputs: malformed files next to a good extension.

Every case is a folder holding one bad input (or a few) and the extension `good`.
Loading it must report the bad input with a documented diagnostic code, never
raise, hang or print a traceback, and `good` must still load and answer calls.
A mutated component that turns out to be valid is accepted only if
`wasm-tools validate` agrees it is valid.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import stat
from harness.model._codes import DIAGNOSTIC_CODES
from harness.model._diagnostics import Diagnostic
from harness.pipeline._wasmtools import wasm_tools
from harness.runtime._host import Host
from harness.testing import (
    STRING,
    U32,
    Const,
    Forward,
    MockExtension,
    fn,
    iface,
    list_of,
    to_toml,
    to_wat,
    tuple_of,
    write_extension,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bad"
LOAD_TIMEOUT_S = 20
GOOD = MockExtension("good", exports=(iface("x:good/lib@1.0.0", fn("id", (), U32, Const(42))),))
GOOD_WASM = bytes(wasmtime.wat2wasm(to_wat(GOOD)))
OUTCOMES: Counter[str] = Counter()


@dataclass(frozen=True)
class Case:
    """One corpus entry. `build(folder)` writes the bad input(s) into `folder` and returns
    extra paths to pass to the host (the folder itself is always passed)."""

    id: str
    build: Callable[[Path], list[Path]]
    codes: frozenset[str]  # acceptable codes for the bad input
    may_be_valid: bool = False  # a mutation that may still be a valid component


# ------------------------------------------------------------------ builders

def _file(name: str, data: bytes | str) -> Callable[[Path], list[Path]]:
    def build(folder: Path) -> list[Path]:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return []
    return build


def _ext_folder(name: str, manifest: str | bytes, files: dict[str, bytes] | None = None
                ) -> Callable[[Path], list[Path]]:
    def build(folder: Path) -> list[Path]:
        root = folder / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "extension.toml").write_bytes(manifest if isinstance(manifest, bytes) else manifest.encode())
        for fname, data in (files or {}).items():
            (root / fname).write_bytes(data)
        return []
    return build


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


COMPONENT_HEADER = b"\0asm\x0d\0\x01\0"
CORE_HEADER = b"\0asm\x01\0\0\0"
VALID_MANIFEST = 'name = "{n}"\nversion = "1.0.0"\ncomponent = "{n}.wasm"\n'


def truncation_cases() -> list[Case]:
    n = len(GOOD_WASM)
    cuts = sorted({0, 1, 3, 4, 7, 8, 9, 10, 11, 12, 16, 24, 32, 48, 64, n // 5, n // 4, n // 3, n // 2,
                   2 * n // 3, 3 * n // 4, n - 16, n - 4, n - 2, n - 1})
    return [Case(f"truncated-{c}", _file(f"trunc{c}.wasm", GOOD_WASM[:c]),
                 frozenset({"invalid-component", "not-a-component"}), may_be_valid=True) for c in cuts]


def bitflip_cases(count: int = 45) -> list[Case]:
    rng = random.Random(20240601)
    out = []
    for k in range(count):
        data = bytearray(GOOD_WASM)
        for _ in range(rng.choice((1, 1, 2, 4))):
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        out.append(Case(f"bitflip-{k}", _file(f"flip{k}.wasm", bytes(data)),
                        frozenset({"invalid-component", "not-a-component", "unsupported-import",
                                   "missing-import", "instantiation-failed"}), may_be_valid=True))
    return out


def _sections(data: bytes) -> list[tuple[int, int, int]]:
    """(start, payload start, end) of each top-level section of a well-formed component."""
    out = []
    i = 8
    while i < len(data):
        j, size, shift = i + 1, 0, 0
        while True:
            b = data[j]
            j += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out.append((i, j, j + size))
        i = j + size
    return out


_MUTANT_CODES = frozenset({"invalid-component", "not-a-component", "unsupported-import", "missing-import",
                           "instantiation-failed"})


def section_edge_cases() -> list[Case]:
    """Truncations at and around each section's edges, and inserts at each boundary: where a
    parser's bookkeeping (ids, lengths, counts) is most likely to go wrong."""
    sections = _sections(GOOD_WASM)
    assert sections and sections[-1][2] == len(GOOD_WASM)
    already = {c for c in range(len(GOOD_WASM)) if f"truncated-{c}" in {x.id for x in truncation_cases()}}
    cuts = sorted({c for start, body, end in sections
                   for c in (start, start + 1, body, (body + end) // 2, end - 1)} - already)
    out = [Case(f"edge-cut-{c}", _file(f"edge{c}.wasm", GOOD_WASM[:c]),
                frozenset({"invalid-component", "not-a-component"}), may_be_valid=True) for c in cuts]
    inserts = {
        "unknown-id": b"\x7f\x00",
        "oversized": b"\x01" + _leb(1 << 30),
        "custom": b"\x00\x04\x03abc",  # a valid custom section: the result may be valid
        "noise": bytes([0xA5, 0x5A, 0xC3, 0x3C]),
    }
    for k, (start, _, end) in enumerate(sections):
        for label, blob in inserts.items():
            mutated = GOOD_WASM[:start] + blob + GOOD_WASM[start:]
            out.append(Case(f"insert-{label}-{k}", _file(f"ins{label}{k}.wasm", mutated), _MUTANT_CODES,
                            may_be_valid=True))
        dup = GOOD_WASM[:end] + GOOD_WASM[start:end] + GOOD_WASM[end:]
        out.append(Case(f"duplicate-section-{k}", _file(f"dupsec{k}.wasm", dup), _MUTANT_CODES,
                        may_be_valid=True))
    return out


def random_byte_cases(count: int = 25) -> list[Case]:
    rng = random.Random(7)
    out = []
    for k in range(count):
        size = rng.choice((1, 2, 7, 8, 9, 64, 512, 4096))
        data = bytes(rng.randrange(256) for _ in range(size))
        if k % 3 == 0:  # a right header, then noise
            data = (COMPONENT_HEADER if k % 2 else CORE_HEADER) + data
        out.append(Case(f"random-{k}", _file(f"rand{k}.wasm", data),
                        frozenset({"invalid-component", "not-a-component"})))
    return out


def core_module_cases() -> list[Case]:
    mods = [
        "(module)",
        '(module (func (export "f") (result i32) i32.const 1))',
        '(module (memory 1) (export "memory" (memory 0)))',
        '(module (import "env" "f" (func)))',
        '(module (func $s unreachable) (start $s))',
    ]
    out = [Case("fixture-core-module", lambda f: [_copy(FIXTURES / "core-module.wasm", f / "core.wasm")],
                frozenset({"not-a-component"})),
           Case("fixture-core-module-wat", lambda f: [_copy(FIXTURES / "core-module.wat", f / "corewat.wat")],
                frozenset({"not-a-component", "wat-syntax"})),
           Case("fixture-garbage", lambda f: [_copy(FIXTURES / "garbage.wasm", f / "garbage.wasm")],
                frozenset({"invalid-component"}))]
    for k, text in enumerate(mods):
        out.append(Case(f"core-{k}", _file(f"core{k}.wasm", bytes(wasmtime.wat2wasm(text))),
                        frozenset({"not-a-component"})))
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def empty_cases() -> list[Case]:
    return [
        Case("empty-wasm", _file("empty.wasm", b""), frozenset({"invalid-component", "not-a-component"})),
        Case("empty-wat", _file("emptywat.wat", b""), frozenset({"wat-syntax", "invalid-component"})),
        Case("empty-manifest", _ext_folder("hollow", ""), frozenset({"bad-manifest", "missing-component"})),
        Case("empty-component-in-folder", _ext_folder("hollow2", VALID_MANIFEST.format(n="hollow2"),
                                                      {"hollow2.wasm": b""}),
             frozenset({"invalid-component"})),
        Case("whitespace-wat", _file("blank.wat", "   \n\t\n"), frozenset({"wat-syntax", "invalid-component"})),
    ]


def huge_size_cases() -> list[Case]:
    def sparse(folder: Path) -> list[Path]:
        with open(folder / "sparse.wasm", "wb") as fh:
            fh.write(COMPONENT_HEADER)
            fh.truncate(65 * 1024 * 1024)  # past the default 64 MiB cap, without using disk
        return []

    return [
        Case("huge-section-length", _file("hugesec.wasm", COMPONENT_HEADER + b"\x01" + _leb(0xFFFFFFF0) + b"\0"),
             frozenset({"invalid-component"})),
        Case("huge-section-length-core", _file("hugecore.wasm", CORE_HEADER + b"\x01" + _leb(0xFFFFFFF0) + b"\0"),
             frozenset({"invalid-component", "not-a-component"})),
        Case("huge-type-count", _file("hugecount.wasm", COMPONENT_HEADER + b"\x07\x05" + _leb(0xFFFFFFFF)),
             frozenset({"invalid-component"})),
        Case("overlong-leb", _file("overlong.wasm", COMPONENT_HEADER + b"\x01" + b"\xff" * 12 + b"\x01"),
             frozenset({"invalid-component"})),
        Case("file-too-large-sparse", sparse, frozenset({"file-too-large"})),
        Case("fixture-huge-section", lambda f: [_copy(FIXTURES / "huge-section.wasm", f / "hugefix.wasm")],
             frozenset({"invalid-component"})),
    ]


INVALID_WATS = [
    "(component",
    "(component (export))",
    "(component (core module $m (func (result i32))))",  # no value on the stack
    '(component (import "x:y/z@1.0.0" (instance (export "f" (func (param "a" nosuch))))))',
    "(module (func $f (call $nope)))",
    "(component (core module (func (export \"f\") i32.const 1 i32.add)))",
    ")))((",
    "(component (type (record)))",
    '(component (type (flags ' + " ".join(f'"f{i}"' for i in range(33)) + ')))',
    "\x00\x01\x02 binary in text",
    "(component (core instance (instantiate 7)))",
    '(component (export "x:bad/name@1.0.0@2" (func 0)))',
]


def invalid_wat_cases() -> list[Case]:
    out = [Case(f"invalid-wat-{k}", _file(f"badwat{k}.wat", text),
                frozenset({"wat-syntax", "invalid-component", "not-a-component"}))
           for k, text in enumerate(INVALID_WATS)]
    out.append(Case("fixture-invalid-wat", lambda f: [_copy(FIXTURES / "invalid.wat", f / "fixwat.wat")],
                    frozenset({"wat-syntax"})))
    out.append(Case("invalid-wat-in-folder",
                    _ext_folder("watty", 'name = "watty"\ncomponent = "c.wat"\n', {"c.wat": b"(component (oops"}),
                    frozenset({"wat-syntax"})))
    return out


def utf8_cases() -> list[Case]:
    name = b"x:good/lib@1.0.0"
    assert GOOD_WASM.count(name) == 1
    bad_name = GOOD_WASM.replace(name, b"x:good/l\xffb@1.0.0")
    bad_field = GOOD_WASM.replace(b"id", b"\xc3(", 1) if GOOD_WASM.count(b"id") else GOOD_WASM
    cases = [
        Case("utf8-export-name", _file("badname.wasm", bad_name), frozenset({"invalid-component"})),
        Case("utf8-function-name", _file("badfunc.wasm", bad_field), frozenset({"invalid-component"}),
             may_be_valid=True),
        Case("utf8-manifest", _ext_folder("latin", b'name = "lat\xe9n"\ncomponent = "latin.wasm"\n',
                                          {"latin.wasm": GOOD_WASM}),
             frozenset({"bad-manifest"})),
        Case("utf8-wat", _file("latin1.wat", b'(component (export "\xe9" (core module (module))))'),
             frozenset({"wat-syntax", "invalid-component"})),
        Case("fixture-utf8-name", lambda f: [_copy(FIXTURES / "bad-utf8-name.wasm", f / "fixutf8.wasm")],
             frozenset({"invalid-component"})),
    ]

    def bytes_filename(folder: Path) -> list[Path]:
        with open(os.path.join(os.fsencode(folder), b"bad\xffname.wasm"), "wb") as fh:
            fh.write(GOOD_WASM)
        return []

    cases.append(Case("utf8-file-name", bytes_filename, frozenset({"invalid-name"})))
    return cases


BAD_TOMLS = [
    'name = "x',
    "name = ",
    "[limits\nname = 'a'",
    'name = "a"\nname = "b"',
    "= 3",
    'name = "a" extra',
    '[[capabilities]]\nname = "a"\n[capabilities]\n',
    "name = 'a'\n[limits]\ntimeout_ms = 1_",
    'name = """unterminated',
    "\ufeff\x00name = 'a'",
]

WRONG_TYPES = [
    "name = 5",
    'name = "wt"\nversion = [1, 2]',
    'name = "wt"\ncomponent = true',
    'name = "wt"\ncomponent = "wt.wasm"\n[limits]\ntimeout_ms = "fast"',
    'name = "wt"\ncomponent = "wt.wasm"\n[limits]\nmemory_mb = -5',
    'name = "wt"\ncomponent = "wt.wasm"\ncapabilities = "all"',
    'name = "wt"\ncomponent = "wt.wasm"\nprovides = 3',
    'name = "wt"\ncomponent = "wt.wasm"\n[provides]\n"x:good/lib" = 7',
    'name = "wt"\ncomponent = "wt.wasm"\nversion = "not.a.version"',
    'name = "wt"\ncomponent = "wt.wasm"\n[capabilities]\npreopens = "yes"',
    'name = ["wt"]',
    'name = "wt"\ncomponent = "wt.wasm"\n[limits]\nfuel = 1.5',
]


def manifest_cases() -> list[Case]:
    out = [Case(f"bad-toml-{k}", _ext_folder(f"bt{k}", text, {f"bt{k}.wasm": GOOD_WASM}),
                frozenset({"bad-manifest"})) for k, text in enumerate(BAD_TOMLS)]
    out += [Case(f"wrong-type-{k}", _ext_folder(f"wt{k}", text, {"wt.wasm": GOOD_WASM}),
                 frozenset({"bad-manifest", "invalid-name"})) for k, text in enumerate(WRONG_TYPES)]
    out.append(Case("fixture-bad-toml", lambda f: [_copytree(FIXTURES / "bad-toml", f / "badtoml")],
                    frozenset({"bad-manifest"})))
    out.append(Case("fixture-wrong-types", lambda f: [_copytree(FIXTURES / "wrong-types", f / "wrongtypes")],
                    frozenset({"bad-manifest"})))
    out.append(Case("unknown-key-warning",
                    _ext_folder("uk", 'name = "uk"\ncomponent = "uk.wasm"\ncolour = "blue"\n', {"uk.wasm": GOOD_WASM}),
                    frozenset({"unknown-manifest-key", "duplicate-name"})))
    out.append(Case("missing-component", _ext_folder("mc", 'name = "mc"\ncomponent = "nope.wasm"\n'),
                    frozenset({"missing-component"})))
    out.append(Case("invalid-name", _ext_folder("in", 'name = "9lives"\ncomponent = "in.wasm"\n',
                                                {"in.wasm": GOOD_WASM}), frozenset({"invalid-name"})))
    out.append(Case("invalid-name-file", _file("-dash.wasm", GOOD_WASM), frozenset({"invalid-name"})))
    return out


def _copytree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def path_cases() -> list[Case]:
    def outside(folder: Path) -> list[Path]:
        secret = folder.parent / f"{folder.name}-outside.wasm"
        secret.write_bytes(GOOD_WASM)
        _ext_folder("esc1", f'name = "esc1"\ncomponent = "../../{secret.name}"\n')(folder)
        return []

    def symlink_out(folder: Path) -> list[Path]:
        secret = folder.parent / f"{folder.name}-target.wasm"
        secret.write_bytes(GOOD_WASM)
        _ext_folder("esc3", 'name = "esc3"\ncomponent = "link.wasm"\n')(folder)
        os.symlink(secret, folder / "esc3" / "link.wasm")
        return []

    def loop(folder: Path) -> list[Path]:
        _ext_folder("loopy", 'name = "loopy"\ncomponent = "a.wasm"\n')(folder)
        os.symlink("b.wasm", folder / "loopy" / "a.wasm")
        os.symlink("a.wasm", folder / "loopy" / "b.wasm")
        return []

    def self_loop(folder: Path) -> list[Path]:
        os.symlink("selfish.wasm", folder / "selfish.wasm")
        return []

    def dir_loop(folder: Path) -> list[Path]:
        os.symlink("dloop", folder / "dloop")
        return []

    def passed_loop(folder: Path) -> list[Path]:
        link = folder.parent / f"{folder.name}-given.wasm"
        os.symlink(link.name, link)  # given explicitly, pointing at itself
        return [link]

    return [
        Case("path-traversal", outside, frozenset({"path-escape"})),
        Case("path-traversal-deep", _ext_folder("esc2", 'name = "esc2"\ncomponent = "../../../../../../etc/passwd"\n'),
             frozenset({"path-escape"})),
        Case("absolute-path", _ext_folder("abs", 'name = "abs"\ncomponent = "/etc/passwd"\n'),
             frozenset({"path-escape"})),
        Case("absolute-wit", _ext_folder("abswit", 'name = "abswit"\ncomponent = "c.wasm"\nwit = "/etc"\n',
                                         {"c.wasm": GOOD_WASM}), frozenset({"path-escape", "bad-manifest"})),
        Case("symlink-out", symlink_out, frozenset({"path-escape"})),
        Case("symlink-loop", loop, frozenset({"symlink-loop"})),
        Case("symlink-self", self_loop, frozenset({"symlink-loop"})),
        Case("symlink-dir-loop", dir_loop, frozenset({"symlink-loop"})),
        Case("symlink-loop-given", passed_loop, frozenset({"symlink-loop"})),
        Case("not-found-path", lambda f: [f / "does-not-exist"], frozenset({"not-found"})),
        Case("not-an-extension", lambda f: [_write(f.parent / f"{f.name}-notes.txt", b"hello")],
             frozenset({"not-an-extension"})),
    ]


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def duplicate_cases() -> list[Case]:
    def dup(folder: Path) -> list[Path]:
        for sub in ("one", "two"):
            _ext_folder(sub, 'name = "twin"\ncomponent = "c.wasm"\n', {"c.wasm": GOOD_WASM})(folder)
        return []

    def dup_file_and_folder(folder: Path) -> list[Path]:
        (folder / "same.wasm").write_bytes(GOOD_WASM)
        _ext_folder("samefolder", 'name = "same"\ncomponent = "c.wasm"\n', {"c.wasm": GOOD_WASM})(folder)
        return []

    def dup_wat_wasm(folder: Path) -> list[Path]:
        (folder / "pair.wasm").write_bytes(GOOD_WASM)
        (folder / "pair.wat").write_text(to_wat(GOOD), encoding="utf-8")
        return []

    return [Case("duplicate-folders", dup, frozenset({"duplicate-name"})),
            Case("duplicate-file-folder", dup_file_and_folder, frozenset({"duplicate-name"})),
            Case("duplicate-wat-wasm", dup_wat_wasm, frozenset({"duplicate-name"}))]


SANDBOX_ENV = Path(__file__).parent.parent / "fixtures" / "wat" / "sandbox_env.wat"  # imports WASI


def _wasi_ext(name: str, extra: str) -> Callable[[Path], list[Path]]:
    """An extension importing WASI (so the linker builds its sandbox) with `extra` manifest lines."""
    def build(folder: Path) -> list[Path]:
        root = folder / name
        root.mkdir()
        (root / "data").mkdir()
        shutil.copyfile(SANDBOX_ENV, root / f"{name}.wat")
        (root / "extension.toml").write_text(f'name = "{name}"\ncomponent = "{name}.wat"\n{extra}\n')
        return []
    return build


def hostile_manifest_cases() -> list[Case]:
    """Issue 9, finding 10: each stopped discovery of every extension, or raised in Host.load."""
    bad = frozenset({"bad-manifest"})
    return [
        Case("toml-nested-arrays", _ext_folder("nest1", "x = " + "[" * 5000 + "]" * 5000,
                                               {"nest1.wasm": GOOD_WASM}), bad),
        Case("toml-nested-tables", _ext_folder("nest2", "x = " + "{a = " * 3000 + "1" + "}" * 3000,
                                               {"nest2.wasm": GOOD_WASM}), bad),
        Case("toml-nested-65", _ext_folder("nest3", "x = " + "[" * 65 + "]" * 65, {"nest3.wasm": GOOD_WASM}), bad),
        Case("toml-huge-int", _ext_folder("hugeint", "version = " + "7" * 5000, {"hugeint.wasm": GOOD_WASM}), bad),
        Case("nul-in-component", _ext_folder("nulc", 'component = "nulc\\u0000.wasm"', {"nulc.wasm": GOOD_WASM}),
             bad),
        Case("nul-in-wit", _ext_folder("nulw", 'wit = "w\\u0000"', {"nulw.wasm": GOOD_WASM}), bad),
        Case("long-component-path", _ext_folder("longc", 'component = "' + "c" * 5000 + '.wasm"',
                                                {"longc.wasm": GOOD_WASM}), bad),
        Case("nul-in-preopen-host", _wasi_ext("nulph", '[capabilities]\npreopens = { "data\\u0000" = "/d" }'), bad),
        Case("nul-in-preopen-guest", _wasi_ext("nulpg", '[capabilities]\npreopens = { "data" = "/d\\u0000" }'),
             bad),
        Case("long-preopen", _wasi_ext("longp", '[capabilities]\npreopens = { "' + "p" * 5000 + '" = "/d" }'), bad),
        Case("nul-in-env", _wasi_ext("nule", '[capabilities]\nenv = { "A\\u0000B" = "x" }'), bad),
        Case("nul-in-env-value", _wasi_ext("nulv", '[capabilities]\nenv = { A = "x\\u0000y" }'), bad),
        Case("equals-in-env-name", _wasi_ext("eqe", '[capabilities]\nenv = { "A=B" = "x" }'), bad),
        Case("nul-in-args", _wasi_ext("nula", '[capabilities]\nargs = ["a\\u0000b"]'), bad),
        Case("memory-mb-wraps", _ext_folder("wrapm", "[limits]\nmemory_mb = 17592186044416",
                                            {"wrapm.wasm": GOOD_WASM}), bad),
        Case("fuel-wraps", _ext_folder("wrapf", "[limits]\nfuel = 18446744073709551616", {"wrapf.wasm": GOOD_WASM}),
             bad),
        Case("manifest-over-1mib", _ext_folder("bigm", "# " + "m" * (1024 * 1024), {"bigm.wasm": GOOD_WASM}),
             frozenset({"file-too-large"})),
    ]


UNLINKABLE = {
    # issue 9, finding 12: each was `ok` in inspect, then failed in the linker
    "plain-name-import": ('(component (import "host" (instance (export "f" (func)))))', "unsupported-import"),
    "wasi-0-3": ('(component (import "wasi:cli/environment@0.3.0" (instance (export "get-environment" '
                 '(func (result (list (tuple string string))))))))', "unsupported-import"),
    "wasi-unversioned": ('(component (import "wasi:random/random" (instance (export "get-random-u64" '
                         '(func (result u64))))))', "unsupported-import"),
    "wasi-wrong-type": ('(component (import "wasi:random/random@0.2.0" (instance (export "get-random-u64" '
                        '(func (result string))))))', "unsupported-import"),
    "wasi-http": ('(component (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func)))))',
                  "unsupported-import"),
    "host-unknown": ('(component (import "ext:host/secrets@0.1.0" (instance (export "get" (func)))))',
                     "missing-import"),
    "host-log-extra": ('(component (import "ext:host/log@0.1.0" (instance (export "log" (func)) '
                       '(export "flush" (func)))))', "missing-import"),
    "library-resource": ('(component (import "x:good/lib@1.0.0" (instance (export "r" (type (sub resource))) '
                         '(export "id" (func (result u32))))))', "type-mismatch"),  # no `r` in good
    "shared-memory": ("(component (core module $m (memory 1 1 shared)) (core instance (instantiate $m)))",
                      "invalid-component"),
}


def unlinkable_cases() -> list[Case]:
    return [Case(f"unlinkable-{k}", _file(f"unlink{k.replace('-', '')}.wasm", bytes(wasmtime.wat2wasm(text))),
                 frozenset({code})) for k, (text, code) in UNLINKABLE.items()]


def self_import_cases() -> list[Case]:
    me = "x:selfish/lib@1.0.0"
    selfish = MockExtension("selfish", exports=(iface(me, fn("id", (), U32, Const(1)),
                                                       fn("via", (), U32, Forward(me, "id"))),),
                            imports=(iface(me, fn("id", (), U32)),))

    def build(folder: Path) -> list[Path]:
        write_extension(selfish, folder)
        return []

    def fixture(folder: Path) -> list[Path]:
        return [_copy(FIXTURES / "self-import.wat", folder / "selfimport.wat")]

    def with_dependent(folder: Path) -> list[Path]:
        write_extension(selfish, folder)
        write_extension(MockExtension("leaning", imports=(iface(me, fn("id", (), U32)),)), folder)
        return []

    return [Case("self-import", build, frozenset({"cycle"})),
            Case("fixture-self-import", fixture, frozenset({"cycle"})),
            Case("self-import-with-dependent", with_dependent, frozenset({"cycle", "blocked-by-dependency"}))]


CORPUS: list[Case] = [
    *truncation_cases(), *section_edge_cases(), *bitflip_cases(), *random_byte_cases(), *core_module_cases(),
    *empty_cases(), *huge_size_cases(), *invalid_wat_cases(), *utf8_cases(), *manifest_cases(), *path_cases(),
    *duplicate_cases(), *self_import_cases(), *hostile_manifest_cases(), *unlinkable_cases(),
]


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 150
    assert len({c.id for c in CORPUS}) == len(CORPUS)


# ------------------------------------------------------------------ running a case

@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as d:
        (Path(d) / "cache").mkdir()
        yield Path(d)


@pytest.fixture(scope="module")
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
        yield ex


def _wasm_tools_valid(path: Path) -> bool:
    tool = wasm_tools()
    assert tool is not None
    done = subprocess.run([tool, "validate", "--features", "all", str(path)], capture_output=True, timeout=30)
    return done.returncode == 0


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_bad_input_is_a_coded_diagnostic_and_good_still_loads(
        case: Case, workdir: Path, pool: concurrent.futures.ThreadPoolExecutor,
        capfd: pytest.CaptureFixture[str]) -> None:
    folder = workdir / case.id
    folder.mkdir()
    write_extension(GOOD, folder)
    extra = case.build(folder)

    def load() -> tuple[tuple[Diagnostic, ...], int | None, dict[str, str]]:
        with Host.load(folder, *extra, cache_dir=str(workdir / "cache")) as host:
            answer = host.call("good", "id") if "good" in host.extensions else None
            return host.diagnostics, answer, {k: str(v) for k, v in host.status.items()}

    try:
        diags, answer, status = pool.submit(load).result(timeout=LOAD_TIMEOUT_S)
    except concurrent.futures.TimeoutError:  # pragma: no cover - the failure being tested for
        pytest.fail(f"{case.id}: loading did not finish within {LOAD_TIMEOUT_S} s")
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    # good is untouched by its neighbour
    assert answer == 42, [str(d) for d in diags]
    assert status["good"] == "ok"
    assert not any(d.extension == "good" for d in diags), [str(d) for d in diags]
    for d in diags:
        assert d.code in DIAGNOSTIC_CODES
        assert "Traceback" not in d.message
        assert d.hint
    if diags:
        codes = {d.code for d in diags}
        assert codes <= case.codes, (case.id, [str(d) for d in diags])
        for code in codes:
            OUTCOMES[code] += 1
            stat("bad-inputs", code)
    else:
        # nothing reported: only acceptable for a mutation that really is valid
        assert case.may_be_valid, f"{case.id}: no diagnostic for a bad input"
        mutated = [p for p in folder.iterdir() if p.suffix == ".wasm"]
        assert mutated and all(_wasm_tools_valid(p) for p in mutated), case.id
        OUTCOMES["valid-after-all"] += 1
        stat("bad-inputs", "valid-after-all")


# ------------------------------------------------------------------ generated manifests (issue 9, finding 10)

WASI_ENV = "wasi:cli/environment@0.2.0"
HOSTILE = MockExtension(
    "hostile",
    exports=(iface("x:hostile/lib@1.0.0", fn("id", (), U32, Const(7))),),
    imports=(iface("x:good/lib@1.0.0", fn("id", (), U32)),
             iface(WASI_ENV, fn("get-environment", (), list_of(tuple_of(STRING, STRING))))),
)
HOSTILE_WAT = to_wat(HOSTILE)

_odd_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from("\0\n\t=/.\\\"'é\x1b[]{}#"), max_size=8),
    st.sampled_from(["", ".", "..", "../good/good.wasm", "/", "/etc", "hostile.wat", "good", "a" * 300,
                     "x/" * 2100, "\0", "data", "ns:pkg/iface", "wasi:cli/environment@0.2.0",
                     "x:good/lib", "x:good/lib@1.0.0"]),
)
_odd_scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    _odd_text,
)
_odd_value = st.recursive(_odd_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_odd_text, inner, max_size=3)), max_leaves=8)


def _table(keys: list[str]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(st.one_of(st.sampled_from(keys), _odd_text), _odd_value, max_size=4)


_generated_manifest = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.just("hostile"), _odd_value),
        "component": st.one_of(st.just("hostile.wat"), _odd_value),
        "version": st.one_of(st.just("1.0.0"), _odd_value),
        "wit": _odd_value,
        "world": _odd_value,
        "description": _odd_value,
        "provides": st.one_of(_table(["x:good/lib", "x:good/lib@1.0.0", WASI_ENV]), _odd_value),
        "capabilities": st.one_of(
            _table(["preopens", "env", "args", "inherit_env", "inherit_stdio", "network"]),
            st.fixed_dictionaries({"preopens": st.dictionaries(_odd_text, _odd_text, max_size=2),
                                   "env": st.dictionaries(_odd_text, _odd_text, max_size=2),
                                   "args": st.lists(_odd_text, max_size=2)}),
            _odd_value),
        "limits": st.one_of(_table(["timeout_ms", "fuel", "memory_mb", "instances", "tables",
                                    "table_elements"]), _odd_value),
        "conformance": st.one_of(st.fixed_dictionaries({"example": st.lists(
            _table(["function", "args", "expect", "expect_error", "command"]), max_size=2)}), _odd_value),
        "extra": _odd_value,
    },
)
_manifest_text = st.one_of(
    _generated_manifest.map(lambda doc: to_toml(doc)),
    st.builds(lambda n, open_, close: "x = " + open_ * n + close * n,
              st.integers(1, 3000), st.sampled_from(["[", "{a="]), st.sampled_from(["]", "}"])),
    st.text(max_size=200),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_manifest_text)
def test_generated_manifests_never_escape_and_good_still_loads(
        text: str, workdir: Path, pool: concurrent.futures.ThreadPoolExecutor) -> None:
    """Whatever the manifest holds: no exception leaves `Host.load`, every report is coded,
    `good` still loads, and the hostile extension either loads (then it answers) or has an error."""
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        folder = Path(d)
        write_extension(GOOD, folder)
        root = folder / "hostile"
        root.mkdir()
        (root / "hostile.wat").write_text(HOSTILE_WAT, encoding="utf-8")
        (root / "data").mkdir()
        (root / "extension.toml").write_bytes(text.encode("utf-8", "surrogatepass"))

        def load() -> tuple[tuple[Diagnostic, ...], dict[str, str], int | None]:
            with Host.load(folder, cache_dir=str(workdir / "cache"), strict=False) as host:
                status = {k: str(v) for k, v in host.status.items()}
                return host.diagnostics, status, host.call("good", "id")

        diags, status, answer = pool.submit(load).result(timeout=LOAD_TIMEOUT_S)
    assert answer == 42
    assert status["good"] == "ok"
    for diag in diags:
        assert diag.code in DIAGNOSTIC_CODES and diag.hint
    others = sorted(status.keys() - {"good"})
    for name in others:
        if status[name] == "ok":
            continue
        assert any(d.is_error and d.extension == name for d in diags), (name, [str(x) for x in diags])
    stat("generated-manifests", "loaded" if "ok" in {status[n] for n in others} else "rejected")
