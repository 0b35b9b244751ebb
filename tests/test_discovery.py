"""Discovery over trees built in tmp_path: what is found, what is reported, and determinism."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from unittest import mock

import pytest

from harness.pipeline._discovery import Discovery, DiscoveryConfig, discover

WASM = b"\0asm\x0d\0\x01\0"  # discovery never validates the bytes


def ext(folder: Path, manifest: str | None, **files: bytes | str) -> Path:
    """Make an extension folder with an optional extension.toml and some files."""
    folder.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (folder / "extension.toml").write_text(manifest)
    for name, data in files.items():
        path = folder / name.replace("__", ".")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return folder


def codes(result: Discovery) -> list[tuple[str, str | None]]:
    return [(d.code, d.extension) for d in result.diagnostics]


def test_folder_with_manifest(tmp_path: Path) -> None:
    root = ext(tmp_path / "adder", 'name = "adder"\nversion = "1.0.0"\n', adder__wasm=WASM)
    result = discover([root])
    assert result.diagnostics == ()
    [c] = result.candidates
    assert (c.name, c.source, c.order, c.version) == ("adder", "manifest", 0, "1.0.0")
    assert c.root == root.resolve() and c.root.is_absolute()
    assert c.component_path == (root / "adder.wasm").resolve()
    assert c.manifest.name == "adder"


def test_manifest_file_given_directly_means_its_folder(tmp_path: Path) -> None:
    root = ext(tmp_path / "adder", "", adder__wasm=WASM)
    assert discover([root / "extension.toml"]).names == ("adder",)


def test_manifest_component_key_and_default_lookup(tmp_path: Path) -> None:
    a = ext(tmp_path / "a", 'component = "out/thing.wasm"', **{"out/thing.wasm": WASM}, a__wasm=WASM)
    b = ext(tmp_path / "b", "", b__wat="(component)", other__wasm=WASM)  # <name>.wat beats others
    c = ext(tmp_path / "c", "", only__wasm=WASM)  # the only component in the folder
    result = discover([a, b, c])
    assert result.diagnostics == ()
    paths = {x.name: x.component_path.relative_to(x.root).as_posix() for x in result.candidates}
    assert paths == {"a": "out/thing.wasm", "b": "b.wat", "c": "only.wasm"}
    assert {x.source for x in result.candidates} == {"manifest"}


def test_bare_wasm_and_wat_files(tmp_path: Path) -> None:
    ext(tmp_path, None, one__wasm=WASM, two__wat="(component)")
    result = discover([tmp_path / "one.wasm", tmp_path / "two.wat"])
    assert result.diagnostics == ()
    assert [(c.name, c.source, c.order) for c in result.candidates] == [("one", "wasm", 0), ("two", "wat", 1)]
    one = result.candidates[0]
    assert one.root == tmp_path.resolve()
    assert one.manifest.name == "one" and one.manifest.component is None


def test_scanned_folder_takes_direct_children_only(tmp_path: Path) -> None:
    ext(tmp_path / "exts" / "zeta", 'name = "zeta"', zeta__wasm=WASM)
    ext(tmp_path / "exts" / "alpha", "", alpha__wat="(component)")
    ext(tmp_path / "exts", None, bare__wasm=WASM, notes__txt="hi", __hidden__wasm=WASM)
    ext(tmp_path / "exts" / "plain" / "deep", "", deep__wasm=WASM)  # two levels down: not found
    ext(tmp_path / "exts" / "plain", None, inner__wasm=WASM)  # plain folder: not descended into
    ext(tmp_path / "exts" / "build", "", build__wasm=WASM)
    ext(tmp_path / "exts" / "node_modules", "", node_modules__wasm=WASM)
    ext(tmp_path / "exts" / ".git", "", git__wasm=WASM)
    # files inside an extension folder are not bare extensions of their own
    ext(tmp_path / "exts" / "zeta", None, helper__wasm=WASM)
    result = discover([tmp_path / "exts"])
    assert result.names == ("alpha", "bare", "zeta")
    assert [c.order for c in result.candidates] == [0, 1, 2]
    assert result.diagnostics == ()


def test_missing_input_is_not_found(tmp_path: Path) -> None:
    result = discover([tmp_path / "nope", tmp_path / "nope"])
    assert codes(result) == [("not-found", None)]
    assert str(tmp_path / "nope") in result.diagnostics[0].message


def test_other_file_is_not_an_extension(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("x")
    assert codes(discover([tmp_path / "readme.md"])) == [("not-an-extension", None)]


@pytest.mark.parametrize(("manifest", "files", "fragment"), [
    ('component = "gone.wasm"', {}, "gone.wasm not found"),
    ("", {}, "expected ext.wasm or ext.wat"),
    ("", {"a__wasm": WASM, "b__wasm": WASM}, "found a.wasm, b.wasm"),
    ('component = "sub"', {"sub/x": b""}, "not a regular file"),
])
def test_missing_component(tmp_path: Path, manifest: str, files: dict[str, bytes],
                           fragment: str) -> None:
    root = ext(tmp_path / "ext", manifest, **files)
    result = discover([root])
    assert result.candidates == ()
    assert codes(result) == [("missing-component", "ext")]
    assert fragment in result.diagnostics[0].message
    assert result.diagnostics[0].hint


@pytest.mark.parametrize("component", ["../outside.wasm", "sub/../../outside.wasm", "/etc/passwd"])
def test_component_path_escape(tmp_path: Path, component: str) -> None:
    (tmp_path / "outside.wasm").write_bytes(WASM)
    root = ext(tmp_path / "ext", f'component = "{component}"')
    result = discover([root])
    assert result.candidates == ()
    assert codes(result) == [("path-escape", "ext")]
    assert result.diagnostics[0].subject == component


def test_dotdot_that_stays_inside_is_fine(tmp_path: Path) -> None:
    root = ext(tmp_path / "ext", 'component = "sub/../ext.wasm"', ext__wasm=WASM)
    assert discover([root]).names == ("ext",)


def test_symlink_out_of_the_folder_is_path_escape(tmp_path: Path) -> None:
    (tmp_path / "outside.wasm").write_bytes(WASM)
    root = ext(tmp_path / "ext", "")
    (root / "ext.wasm").symlink_to(tmp_path / "outside.wasm")
    result = discover([root])
    assert codes(result) == [("path-escape", "ext")]
    assert result.diagnostics[0].details["target"] == str((tmp_path / "outside.wasm").resolve())


def test_symlink_inside_the_folder_is_followed(tmp_path: Path) -> None:
    root = ext(tmp_path / "ext", "", real__wasm=WASM)
    (root / "ext.wasm").symlink_to("real.wasm")
    [c] = discover([root]).candidates
    assert c.component_path == (root / "real.wasm").resolve()


def test_manifest_symlinked_out_is_path_escape(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.toml").write_text("")
    root = ext(tmp_path / "ext", None, ext__wasm=WASM)
    (root / "extension.toml").symlink_to(tmp_path / "elsewhere.toml")
    assert codes(discover([root])) == [("path-escape", "ext")]


def test_preopen_and_wit_paths_must_stay_inside(tmp_path: Path) -> None:
    root = ext(tmp_path / "ext", 'wit = "../wit"\n[capabilities]\npreopens = { "/" = "/root" }',
               ext__wasm=WASM)
    result = discover([root])
    assert result.candidates == ()
    assert sorted((d.code, d.details["key"]) for d in result.diagnostics) == [
        ("path-escape", "capabilities.preopens"), ("path-escape", "wit")]


def test_symlink_loops(tmp_path: Path) -> None:
    root = ext(tmp_path / "ext", 'component = "loop.wasm"')
    (root / "loop.wasm").symlink_to("loop.wasm")
    scanned = tmp_path / "scan"
    scanned.mkdir()
    (scanned / "a.wasm").symlink_to("b.wasm")
    (scanned / "b.wasm").symlink_to("a.wasm")
    (tmp_path / "self").symlink_to("self")
    result = discover([root, scanned, tmp_path / "self"])
    assert result.candidates == ()
    assert sorted(codes(result), key=str) == sorted(
        [("symlink-loop", "ext"), ("symlink-loop", "a"), ("symlink-loop", "b"), ("symlink-loop", None)],
        key=str)


def test_python_313_loop_error_is_also_a_loop(tmp_path: Path) -> None:
    root = ext(tmp_path / "ext", "", ext__wasm=WASM)
    real_resolve = Path.resolve

    def resolve(self: Path, strict: bool = False) -> Path:
        if self.name == "ext.wasm":
            raise OSError(40, "Too many levels of symbolic links")
        return real_resolve(self, strict=strict)

    with mock.patch.object(Path, "resolve", resolve):
        result = discover([root])
    assert codes(result) == [("symlink-loop", "ext")]


def test_duplicate_names_drop_both(tmp_path: Path) -> None:
    a = ext(tmp_path / "a", 'name = "same"', same__wasm=WASM)
    b = ext(tmp_path / "b", "", same__wat="(component)")
    ok = ext(tmp_path / "ok", "", ok__wasm=WASM)
    result = discover([a, b / "same.wat", ok])
    assert result.names == ("ok",)
    assert result.candidates[0].order == 0
    [d] = result.diagnostics
    assert (d.code, d.extension) == ("duplicate-name", "same")
    assert d.details["paths"] == sorted([str(a.resolve()), str((b / "same.wat").resolve())])


def test_same_path_twice_is_one_extension(tmp_path: Path) -> None:
    root = ext(tmp_path / "exts" / "adder", "", adder__wasm=WASM)
    (tmp_path / "link").symlink_to(root)
    inputs: list[str | Path] = [root, str(root), tmp_path / "exts",
                                tmp_path / "exts" / "adder" / ".." / "adder", tmp_path / "link"]
    result = discover(inputs)
    assert result.names == ("adder",)
    assert result.diagnostics == ()


def test_same_file_under_two_link_names_is_one_extension(tmp_path: Path) -> None:
    ext(tmp_path, None, adder__wasm=WASM)
    (tmp_path / "latest.wasm").symlink_to("adder.wasm")
    result = discover([tmp_path])
    assert result.names == ("adder",)


def test_follow_symlinks_off_skips_links_while_scanning(tmp_path: Path) -> None:
    real = ext(tmp_path / "real" / "adder", "", adder__wasm=WASM)
    scan = tmp_path / "scan"
    scan.mkdir()
    (scan / "adder").symlink_to(real)
    (scan / "loop.wasm").symlink_to("loop.wasm")
    assert discover([scan]).names == ("adder",)
    off = discover([scan], config=DiscoveryConfig(follow_symlinks=False))
    assert off.candidates == () and off.diagnostics == ()


def test_file_too_large(tmp_path: Path) -> None:
    big = ext(tmp_path / "big", "", big__wasm=b"x" * 101)
    bare = ext(tmp_path / "loose", None, loose__wasm=b"x" * 101)
    huge_manifest = ext(tmp_path / "hm", "# " + "x" * 200, hm__wasm=WASM)
    small = ext(tmp_path / "small", "", small__wasm=b"x" * 100)
    result = discover([big, bare / "loose.wasm", huge_manifest, small], config=DiscoveryConfig(max_file_size=100))
    assert result.names == ("small",)
    assert codes(result) == [("file-too-large", "big"), ("file-too-large", "hm"), ("file-too-large", "loose")]
    d = result.diagnostics[0]
    assert (d.details["size"], d.details["limit"]) == (101, 100)
    assert d.subject == "big.wasm"


def test_huge_file_is_never_read(tmp_path: Path) -> None:
    root = ext(tmp_path / "big", "", big__wasm=b"x" * 10)
    with mock.patch.object(Path, "read_bytes", side_effect=AssertionError("read")), \
         mock.patch("builtins.open", side_effect=AssertionError("open")):
        result = discover([root / "big.wasm"], config=DiscoveryConfig(max_file_size=5))
    assert codes(result) == [("file-too-large", "big")]


@pytest.mark.parametrize("name", ["1st", "has space", "dot.ted", "_under", "ünï", "trailing\n"])
def test_invalid_manifest_name(tmp_path: Path, name: str) -> None:
    root = ext(tmp_path / "ext", f"name = {json.dumps(name)}", ext__wasm=WASM)
    result = discover([root])
    assert result.candidates == ()
    assert codes(result) == [("invalid-name", name)]


def test_invalid_bare_file_name(tmp_path: Path) -> None:
    ext(tmp_path, None, **{"2fa__wasm": WASM, "my__ext__wasm": WASM, "Good_one-2__wasm": WASM})
    result = discover([tmp_path])
    assert result.names == ("Good_one-2",)
    assert sorted(codes(result), key=str) == [("invalid-name", "2fa"), ("invalid-name", "my.ext")]


def test_bad_manifest_diagnostics_pass_through(tmp_path: Path) -> None:
    bad = ext(tmp_path / "bad", "name = \n", bad__wasm=WASM)
    warn = ext(tmp_path / "warn", "colour = 1", warn__wasm=WASM)
    result = discover([bad, warn])
    assert result.names == ("warn",)
    assert [(d.code, d.extension, d.severity) for d in result.diagnostics] == [
        ("bad-manifest", "bad", "error"), ("unknown-manifest-key", "warn", "warning")]
    assert result.diagnostics[0].details["line"] == 1


def _messy_tree(tmp_path: Path) -> list[Path]:
    exts = tmp_path / "exts"
    ext(exts / "b", 'name = "b"', b__wasm=WASM)
    ext(exts / "a", "", a__wat="(component)")
    ext(exts / "dup1", 'name = "dup"', dup__wasm=WASM)
    ext(exts / "dup2", 'name = "dup"', dup__wasm=WASM)
    ext(exts / "bad", "x = ", bad__wasm=WASM)
    ext(exts / "esc", 'component = "../b/b.wasm"')
    ext(exts / "warn", "z = 1\ny = 2", warn__wasm=WASM)
    ext(exts, None, c__wasm=WASM, **{"9__wasm": WASM})
    loose = ext(tmp_path / "loose", None, d__wasm=WASM, dup__wat="(component)")
    return [exts, loose / "d.wasm", loose / "dup.wat", exts / "a", tmp_path / "missing", loose]


def test_result_is_identical_for_any_input_order(tmp_path: Path) -> None:
    inputs = _messy_tree(tmp_path)
    baseline = discover(inputs)
    assert baseline.names == ("a", "b", "c", "d", "warn")
    assert [c.order for c in baseline.candidates] == list(range(5))
    assert {d.code for d in baseline.diagnostics} == {
        "bad-manifest", "duplicate-name", "path-escape", "invalid-name", "unknown-manifest-key",
        "not-found"}
    [dup] = [d for d in baseline.diagnostics if d.code == "duplicate-name"]
    assert len(dup.details["paths"]) == 3
    rng = random.Random(7)
    perms = list(itertools.permutations(inputs))
    for perm in rng.sample(perms, 40):
        again = discover(perm)
        assert again == baseline
        assert [d.to_json() for d in again.diagnostics] == [d.to_json() for d in baseline.diagnostics]


def test_result_is_identical_for_any_listing_order(tmp_path: Path) -> None:
    inputs = _messy_tree(tmp_path)
    baseline = discover(inputs)
    real_scandir = os.scandir

    class Shuffled:
        def __init__(self, path: str | Path, seed: int) -> None:
            with real_scandir(path) as it:
                self.entries = list(it)
            random.Random(seed).shuffle(self.entries)
            self.entries.reverse()

        def __enter__(self) -> list[os.DirEntry[str]]:
            return self.entries

        def __exit__(self, *exc: object) -> None:
            pass

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(self.entries)

    for seed in range(5):
        with mock.patch("harness.pipeline._discovery.os.scandir", lambda p, s=seed: Shuffled(p, s)):
            assert discover(inputs) == baseline


def test_empty_inputs(tmp_path: Path) -> None:
    assert discover([]) == Discovery((), ())
    assert discover([tmp_path]) == Discovery((), ())


def test_rejected_extensions_with_a_safe_component_are_listed_as_failed(tmp_path: Path) -> None:
    """Only to learn their exports later; never a candidate, and no extra diagnostics."""
    outside = ext(tmp_path.parent / f"{tmp_path.name}-outside", None, outside__wasm=WASM) / "outside.wasm"
    ext(tmp_path / "badtoml", "name = ", badtoml__wasm=WASM)
    ext(tmp_path / "badkey", 'name = "renamed"\ncomponent = "impl.wasm"\nversion = 1', impl__wasm=WASM)
    ext(tmp_path / "wit", 'wit = "../x"', wit__wasm=WASM)
    ext(tmp_path / "dup", 'name = "twin"', dup__wasm=WASM)
    ext(tmp_path / "twin", "", twin__wasm=WASM)
    ext(tmp_path / "invalid", 'name = "9lives"', invalid__wasm=WASM)
    # rejected too, but their component is not safely inside the folder, or too big
    escape = ext(tmp_path / "escape", "name = ")
    (escape / "escape.wasm").symlink_to(outside)
    ext(tmp_path / "abs", f'component = "{outside}"\nversion = 1')
    ext(tmp_path / "big", "name = ", big__wasm=b"x" * 101)
    result = discover([tmp_path], config=DiscoveryConfig(max_file_size=100))
    assert result.candidates == ()
    failed = [(c.name, c.component_path.relative_to(tmp_path).as_posix()) for c in result.failed]
    assert failed == [("9lives", "invalid/invalid.wasm"), ("badtoml", "badtoml/badtoml.wasm"),
                      ("renamed", "badkey/impl.wasm"), ("twin", "dup/dup.wasm"),
                      ("twin", "twin/twin.wasm"), ("wit", "wit/wit.wasm")]
    assert all(c.manifest.capabilities == c.manifest.capabilities.__class__() for c in result.failed)
    assert {d.extension for d in result.diagnostics if d.is_error} == {
        "9lives", "abs", "badtoml", "big", "escape", "renamed", "twin", "wit"}
    assert len(result.diagnostics) == len(discover([tmp_path], config=DiscoveryConfig(max_file_size=100)).diagnostics)


# ------------------------------------------------------------------ hostile manifests (issue 9, finding 10)

HOSTILE_MANIFESTS = {
    "deep-array": "x = " + "[" * 3000 + "]" * 3000,
    "deep-table": "x = " + "{a = " * 3000 + "1" + "}" * 3000,
    "nul-component": 'component = "h\\u0000.wasm"',
    "long-component": 'component = "' + "h" * 5000 + '.wasm"',
    "huge-int-literal": "version = " + "9" * 5000,
    "nul-preopen": '[capabilities]\npreopens = { "d\\u0000" = "/d" }',
    "nul-name": 'name = "h\\u0000"',
}


@pytest.mark.parametrize("manifest", HOSTILE_MANIFESTS.values(), ids=HOSTILE_MANIFESTS.keys())
def test_a_hostile_manifest_fails_only_its_own_extension(tmp_path: Path, manifest: str) -> None:
    """Before: RecursionError / ValueError escaped `discover`, so no extension was found."""
    ext(tmp_path / "good", "", good__wasm=WASM)
    ext(tmp_path / "hostile", manifest, hostile__wasm=WASM)
    result = discover([tmp_path])
    assert result.names == ("good",)
    errors = [d for d in result.diagnostics if d.is_error]
    assert errors and {d.code for d in errors} <= {"bad-manifest", "invalid-name"}
    assert all(len(d.message) < 1000 for d in errors)  # a 5000-character value is cut in the message


def test_nothing_in_one_extension_escapes_discovery(tmp_path: Path) -> None:
    """The last line of defence: an exception no check foresaw is that extension's diagnostic."""
    ext(tmp_path / "good", "", good__wasm=WASM)
    ext(tmp_path / "odd", "", odd__wasm=WASM)
    real = Path.stat

    def stat(self: Path, *a: object, **kw: object) -> os.stat_result:
        if self.name == "odd.wasm":
            raise RuntimeError("unforeseen")
        return real(self, *a, **kw)  # type: ignore[arg-type]

    with mock.patch.object(Path, "stat", stat):
        result = discover([tmp_path])
    assert result.names == ("good",)
    [d] = result.diagnostics
    assert (d.code, d.subject) == ("unreadable", str((tmp_path / "odd").resolve()))
    assert "RuntimeError: unforeseen" in d.message


# ------------------------------------------------------------------ unreadable folders (issue 9, finding 11)

def test_a_folder_that_cannot_be_searched_is_diagnosed_not_skipped(tmp_path: Path) -> None:
    """EACCES on `extension.toml` made `os.path.lexists` answer False: the extension vanished silently."""
    ext(tmp_path / "good", "", good__wasm=WASM)
    secret = ext(tmp_path / "secret", "", secret__wasm=WASM)
    real_lstat = os.lstat

    def lstat(path: object, *a: object, **kw: object) -> os.stat_result:
        if Path(os.fsdecode(path)) == secret / "extension.toml":  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fsdecode(path))  # type: ignore[arg-type]
        return real_lstat(path, *a, **kw)  # type: ignore[arg-type]

    with mock.patch("os.lstat", lstat):
        scanned = discover([tmp_path])
        given = discover([secret])
    for result in (scanned, given):
        [d] = result.diagnostics
        assert (d.code, d.extension, d.severity) == ("unreadable", None, "error")
        assert d.subject == str(secret.resolve()) and "Permission denied" in d.message
        assert d.hint
    assert scanned.names == ("good",)


def test_a_folder_that_cannot_be_listed_is_unreadable(tmp_path: Path) -> None:
    with mock.patch("harness.pipeline._discovery.os.scandir", side_effect=PermissionError(13, "Permission denied")):
        result = discover([tmp_path])
    assert codes(result) == [("unreadable", None)]


def _discover_as_nobody(folder: Path) -> list[tuple[str, str | None, str | None]]:
    """Discover in a forked child that dropped root (root reads every folder whatever its mode)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = discover([folder])
            payload = json.dumps([[d.code, d.extension, d.subject] for d in result.diagnostics]
                                 + [["name", c.name, None] for c in result.candidates])
            os.write(write_end, payload.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    import select
    chunks = []
    deadline = 30.0
    while True:
        ready, _, _ = select.select([read_end], [], [], deadline)
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("discovery as nobody did not finish in 30 s")
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return [tuple(x) for x in json.loads(b"".join(chunks))]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_really_unreadable_folder_is_diagnosed() -> None:
    import shutil
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="unreadable-"))  # not under tmp_path: root-only (0700) parents
    try:
        base.chmod(0o755)
        folder = ext(base / "exts", None)
        folder.chmod(0o755)
        ext(folder / "good", "", good__wasm=WASM)
        secret = ext(folder / "secret", "", secret__wasm=WASM)
        for p in (folder / "good", folder / "good" / "extension.toml", folder / "good" / "good.wasm"):
            p.chmod(0o755)
        secret.chmod(0o000)
        if os.geteuid() == 0:
            found = _discover_as_nobody(folder)
        else:
            result = discover([folder])
            found = [(d.code, d.extension, d.subject) for d in result.diagnostics] + [
                ("name", c.name, None) for c in result.candidates]
        assert sorted(found, key=str) == [("name", "good", None), ("unreadable", None, str(secret))]
    finally:
        (base / "exts" / "secret").chmod(0o755)
        shutil.rmtree(base)


def test_manifests_have_a_cap_of_their_own(tmp_path: Path) -> None:
    """tomllib takes about a second per MiB: a 64 MiB manifest would stall discovery for a minute."""
    ext(tmp_path / "big", "# " + "x" * (1024 * 1024), big__wasm=WASM)
    ext(tmp_path / "fine", "# " + "x" * 1000, fine__wasm=WASM)
    result = discover([tmp_path])
    assert result.names == ("fine",)
    [d] = result.diagnostics
    assert (d.code, d.extension, d.details["limit"]) == ("file-too-large", "big", 1024 * 1024)
    assert discover([tmp_path], config=DiscoveryConfig(max_manifest_size=2 * 1024 * 1024)).names == ("big", "fine")
