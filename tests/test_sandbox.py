"""Preopened folders under attack: a guest must never reach past what was granted at load.

The guest is fixtures/wat/sandbox_fs.wat, a real WASI guest (wasi:filesystem@0.2.0): it reads,
writes, renames and creates symbolic links in its preopens, and `fault` traps so the host
restarts it on the next call, which is when preopens are opened again. Every link in these
tests points at a folder the test made (tmp_path/outside), holding a marker file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness import CapabilityDeniedError, ExtensionFaultedError, Host
from harness.model._records import Capabilities, Preopen
from harness.pipeline._sandbox import open_preopen, plan_preopens

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wat"
FS_WAT = FIXTURES / "sandbox_fs.wat"
MARKER = b"outside-marker"
NOT_PERMITTED = {"err": 31}  # wasi:filesystem error-code `not-permitted`, as a result value
READ, WRITE, SYMLINK, RENAME, FAULT = (f"test:sandbox/fs@1.0.0#{f}" for f in
                                       ("read", "write", "symlink", "rename", "fault"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _extension(tmp_path: Path, preopens: str, folders: tuple[str, ...] = ("data",)) -> Path:
    """tmp_path/ext (the extension, with `folders`) and tmp_path/outside (a marker file)."""
    root = tmp_path / "ext"
    root.mkdir()
    for folder in folders:
        (root / folder).mkdir(parents=True)
        (root / folder / "inside.txt").write_bytes(b"inside")
    shutil.copy(FS_WAT, root / "fs.wat")
    (root / "extension.toml").write_text(
        f'name = "fsx"\ncomponent = "fs.wat"\n\n[capabilities]\npreopens = {preopens}\n', encoding="utf-8")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(MARKER)
    return root


def _load(root: Path, cache: Path) -> Host:
    host = Host.load(root, cache_dir=str(cache))
    assert host.status == {"fsx": "ok"}, [str(d) for d in host.errors]
    return host


def _refused_on_restart(host: Host, preopen: str) -> None:
    """The next call restarts the extension; re-opening `preopen` must fail, coded."""
    with pytest.raises(ExtensionFaultedError) as info:
        host.call("fsx", READ, 1, "secret.txt")
    cause = info.value.__cause__
    assert isinstance(cause, CapabilityDeniedError)
    assert (cause.code, cause.extension, cause.preopen) == ("capability-denied", "fsx", preopen)
    assert "capability-denied" in str(info.value) and "symbolic link" in str(info.value)
    assert any(e.kind == "restart-failed" and "capability-denied" in e.message for e in host.events)


# ------------------------------------------------------------------ the escape, end to end

def test_a_guest_that_swaps_its_preopen_for_a_link_cannot_follow_it_after_a_restart(
        tmp_path: Path, cache_dir: Path) -> None:
    """The attack from the guest's side: it may write `work`, so it renames `work/data` away,
    puts a link climbing out in its place, and faults. Re-opening the path would follow it."""
    root = _extension(tmp_path, '[{ host = "work", guest = "/work", write = true }, '
                                '{ host = "work/data", guest = "/data" }]', folders=("work/data",))
    with _load(root, cache_dir) as host:
        assert host.call("fsx", READ, 1, "inside.txt") == {"ok": b"inside"}
        assert host.call("fsx", RENAME, 0, "data", "old") == {"ok": None}
        assert host.call("fsx", SYMLINK, 0, "../../outside", "data") == {"ok": None}
        assert os.readlink(root / "work" / "data") == "../../outside"  # the guest did plant it
        with pytest.raises(Exception, match="unreachable"):
            host.call("fsx", FAULT)
        _refused_on_restart(host, "work/data")


@pytest.mark.parametrize("absolute", [False, True], ids=["relative-link", "absolute-link"])
def test_a_preopen_replaced_by_a_link_out_of_the_folder_is_refused_on_restart(
        tmp_path: Path, cache_dir: Path, absolute: bool) -> None:
    root = _extension(tmp_path, '{ "." = "/ext", "data" = "/data" }')
    with _load(root, cache_dir) as host:
        assert host.call("fsx", READ, 1, "inside.txt") == {"ok": b"inside"}
        (root / "data").rename(root / "data.old")
        (root / "data").symlink_to(tmp_path / "outside" if absolute else Path("..") / "outside")
        assert (root / "data" / "secret.txt").read_bytes() == MARKER  # the path now leads out
        with pytest.raises(Exception, match="unreachable"):
            host.call("fsx", FAULT)
        _refused_on_restart(host, "data")


def test_a_link_planted_above_the_preopen_is_refused_too(tmp_path: Path, cache_dir: Path) -> None:
    """Not only the last component: `a/b` with `a` swapped for a link to a copy outside."""
    root = _extension(tmp_path, '{ "a/b" = "/b" }', folders=("a/b",))
    (tmp_path / "outside" / "b").mkdir()
    (tmp_path / "outside" / "b" / "secret.txt").write_bytes(MARKER)
    with _load(root, cache_dir) as host:
        (root / "a").rename(root / "a.old")
        (root / "a").symlink_to(Path("..") / "outside")
        with pytest.raises(Exception, match="unreachable"):
            host.call("fsx", FAULT)
        with pytest.raises(ExtensionFaultedError) as info:
            host.call("fsx", READ, 0, "secret.txt")
        assert isinstance(info.value.__cause__, CapabilityDeniedError)
        assert "'a' is a symbolic link" in str(info.value)


def test_an_unchanged_preopen_is_opened_again_after_a_restart(tmp_path: Path, cache_dir: Path) -> None:
    root = _extension(tmp_path, '{ "data" = "/data" }')
    with _load(root, cache_dir) as host:
        with pytest.raises(Exception, match="unreachable"):
            host.call("fsx", FAULT)
        assert host.call("fsx", READ, 0, "inside.txt") == {"ok": b"inside"}
        assert [e.kind for e in host.events if e.kind.startswith("restart")] == ["restart"]


# ------------------------------------------------------------------ read-only unless granted

def test_preopens_are_read_only_by_default(tmp_path: Path, cache_dir: Path) -> None:
    root = _extension(tmp_path, '{ "." = "/ext", "data" = "/data" }')
    manifest = (root / "extension.toml").read_bytes()
    with _load(root, cache_dir) as host:
        assert host.call("fsx", READ, 0, "extension.toml") == {"ok": manifest}
        assert host.call("fsx", WRITE, 0, "extension.toml", b"pwned") == NOT_PERMITTED
        assert host.call("fsx", WRITE, 1, "new.txt", b"x") == NOT_PERMITTED
        assert host.call("fsx", SYMLINK, 0, "../outside", "data2") == NOT_PERMITTED
        assert host.call("fsx", RENAME, 0, "data", "moved") == NOT_PERMITTED
    assert (root / "extension.toml").read_bytes() == manifest
    assert sorted(p.name for p in root.iterdir()) == ["data", "extension.toml", "fs.wat"]


def test_write_true_grants_writing(tmp_path: Path, cache_dir: Path) -> None:
    root = _extension(tmp_path, '{ "data" = { guest = "/data", write = true } }')
    with _load(root, cache_dir) as host:
        assert host.call("fsx", WRITE, 0, "new.txt", b"written") == {"ok": None}
        assert host.call("fsx", READ, 0, "new.txt") == {"ok": b"written"}
        assert host.call("fsx", READ, 0, "../extension.toml") == NOT_PERMITTED  # still confined
    assert (root / "data" / "new.txt").read_bytes() == b"written"


@pytest.mark.parametrize(("preopens", "subject", "held"), [
    ('{ "." = { guest = "/ext", write = true } }', ".", "fs.wat"),
    ('[{ host = "build", guest = "/b", write = true }]', "build", "fs.wasm"),
])
def test_a_writable_preopen_holding_the_manifest_or_component_is_refused(
        tmp_path: Path, cache_dir: Path, preopens: str, subject: str, held: str) -> None:
    root = _extension(tmp_path, preopens, folders=("build",))
    if held == "fs.wasm":
        shutil.move(root / "fs.wat", root / "build" / "fs.wasm")
        text = (root / "extension.toml").read_text().replace('"fs.wat"', '"build/fs.wasm"')
        (root / "extension.toml").write_text(text)
        from harness.pipeline._wat import assemble_wat
        (root / "build" / "fs.wasm").write_bytes(assemble_wat(FS_WAT.read_text()))
    with Host.load(root, cache_dir=str(cache_dir)) as host:
        assert host.status == {"fsx": "error"}
        (diag,) = host.errors
        assert (diag.code, diag.extension, diag.subject) == ("capability-denied", "fsx", subject)
        assert held in diag.message and "write = false" in diag.message


@pytest.mark.parametrize("protected", ["extension.toml", "fs.wat"])
def test_a_writable_preopen_is_refused_while_the_manifest_or_component_has_a_hard_link(
        tmp_path: Path, cache_dir: Path, protected: str) -> None:
    """A hard link is not a path: `data/m`, a second name of the manifest planted by the
    author, let the guest rewrite the manifest through its writable `data` (before: it did)."""
    root = _extension(tmp_path, '{ "data" = { guest = "/data", write = true } }')
    os.link(root / protected, root / "data" / "m")
    before = (root / protected).read_bytes()
    with Host.load(root, cache_dir=str(cache_dir)) as host:
        if host.status == {"fsx": "ok"}:  # the hole: show what the guest could do with it
            host.call("fsx", WRITE, 0, "m", b"pwned")
        assert (root / protected).read_bytes() == before
        assert host.status == {"fsx": "error"}
        (diag,) = host.errors
        assert (diag.code, diag.subject) == ("capability-denied", "data")
        assert f"{protected} has 2 hard links" in diag.message and "write = false" in diag.message


# ------------------------------------------------------------------ the check itself

def _caps(*preopens: Preopen) -> Capabilities:
    return Capabilities(preopens=preopens)


def test_plan_accepts_real_folders_and_open_returns_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (grant,) = plan_preopens("x", tmp_path, _caps(Preopen("a/./b", "/b")), ())
    assert (grant.base, grant.parts) == (tmp_path.resolve(), ("a", "b"))
    fd = open_preopen("x", grant)
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / "a" / "b"))
    finally:
        os.close(fd)


@pytest.mark.parametrize(("make", "host_path", "fragment"), [
    (lambda r: None, "missing", "it does not exist"),
    (lambda r: (r / "file").write_text("x"), "file", "it is not a directory"),
    (lambda r: ((r / "real").mkdir(), (r / "link").symlink_to("real")), "link", "it is a symbolic link"),
    (lambda r: ((r / "real" / "sub").mkdir(parents=True), (r / "link").symlink_to("real")), "link/sub",
     "'link' is a symbolic link"),
    (lambda r: None, "../up", "leaves the extension folder"),
])
def test_plan_refuses_with_a_reason(tmp_path: Path, make: object, host_path: str, fragment: str) -> None:
    root = tmp_path / "ext"
    root.mkdir()
    assert callable(make)
    make(root)
    with pytest.raises(CapabilityDeniedError) as info:
        plan_preopens("x", root, _caps(Preopen(host_path, "/g")), ())
    assert (info.value.code, info.value.preopen) == ("capability-denied", host_path)
    assert fragment in str(info.value) and str(info.value).startswith("capability-denied: x: ")


def test_open_refuses_a_folder_swapped_after_the_plan(tmp_path: Path) -> None:
    """What is opened on each instantiation is checked again, not taken from the plan."""
    (tmp_path / "ext" / "data").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (grant,) = plan_preopens("x", tmp_path / "ext", _caps(Preopen("data", "/data")), ())
    (tmp_path / "ext" / "data").rmdir()
    (tmp_path / "ext" / "data").symlink_to(tmp_path / "outside")
    with pytest.raises(CapabilityDeniedError, match="symbolic link"):
        open_preopen("x", grant)


def test_grant_outside_folder_pins_the_folder_a_link_led_to_at_load(tmp_path: Path) -> None:
    """With the host's grant a link may be followed, once: later swaps are refused like any other."""
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "real").mkdir()
    (tmp_path / "ext" / "data").symlink_to("real")
    (grant,) = plan_preopens("x", tmp_path / "ext", _caps(Preopen("data", "/data")), (), outside=True)
    assert grant.parts == ("real",)
    (tmp_path / "ext" / "real").rename(tmp_path / "ext" / "real.old")
    (tmp_path / "ext" / "real").symlink_to(tmp_path)
    with pytest.raises(CapabilityDeniedError, match="symbolic link"):
        open_preopen("x", grant)


# ------------------------------------------------------------------ inspect agrees with the linker

@pytest.mark.parametrize(("preopens", "folders", "why"), [
    ('{ "missing" = "/m" }', (), "missing"),
    ('{ "." = { guest = "/ext", write = true } }', (), "fs.wat"),
])
def test_inspect_reports_a_preopen_the_host_would_refuse(tmp_path: Path, cache_dir: Path, preopens: str,
                                                          folders: tuple[str, ...], why: str) -> None:
    """If inspect says ok, the extension loads: a preopen the linker would refuse is
    `capability-denied` at inspect already, and the load agrees."""
    from harness import inspect

    root = _extension(tmp_path, preopens, folders=folders)
    insp = inspect([root], cache_dir=cache_dir)
    [diag] = [d for d in insp.diagnostics if d.is_error]
    assert (diag.code, diag.extension) == ("capability-denied", "fsx") and why in diag.message
    assert insp.resolution.status["fsx"] == "error" and "fsx" not in insp.resolution.load_order
    with Host.load(root, cache_dir=str(cache_dir)) as host:
        assert host.status == {"fsx": "error"} and [d.code for d in host.errors] == ["capability-denied"]


def test_inspect_ok_preopens_load(tmp_path: Path, cache_dir: Path) -> None:
    from harness import inspect

    root = _extension(tmp_path, '{ "." = "/ext", "data" = { guest = "/data", write = true } }')
    assert inspect([root], cache_dir=cache_dir).resolution.status == {"fsx": "ok"}
    with _load(root, cache_dir) as host:
        assert host.call("fsx", READ, 1, "inside.txt") == {"ok": b"inside"}
