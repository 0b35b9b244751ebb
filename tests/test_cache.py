"""The on-disk compile cache: hits, misses, corruption, config keys, concurrent writers, and that
nothing planted in it runs (authenticated entries, a private root, the interface as JSON)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model import _typejson
from harness.model._witypes import (
    ComponentItem,
    FuncT,
    FutureT,
    HandleT,
    InstanceT,
    Item,
    ModuleItem,
    Prim,
    ResourceItem,
    StreamT,
    TypeItem,
    ValueType,
)
from harness.pipeline import _cache
from harness.pipeline._cache import CompileCache, default_cache_dir
from harness.pipeline._engine import EngineConfig, shared_engine
from harness.testing.strategies import wit_types

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _wasm(name: str = "analysis_calc_provider.wat") -> bytes:
    return bytes(wasmtime.wat2wasm((FIXTURES / "wat" / name).read_text()))


def _export_names(component: wasmtime.component.Component, engine: wasmtime.Engine) -> list[str]:
    return list(component.type.exports(engine))


CFG = EngineConfig()
FUEL = EngineConfig(consume_fuel=True)


@pytest.fixture
def wasm() -> bytes:
    return _wasm()


def test_miss_then_hit_and_a_fresh_instance_hits(tmp_path: Path, wasm: bytes) -> None:
    engine = shared_engine(CFG)
    cache = CompileCache(tmp_path)
    first, cached1 = cache.load_or_compile(engine, CFG, wasm)
    second, cached2 = cache.load_or_compile(engine, CFG, wasm)
    assert (cached1, cached2) == (False, True)
    assert (cache.stats.misses, cache.stats.hits) == (1, 1)
    assert len(cache.entries()) == 1
    assert _export_names(second, engine) == _export_names(first, engine) == ["ext:calc/eval@1.0.0"]

    fresh = CompileCache(tmp_path)  # no process-level state shared with `cache`
    third, cached3 = fresh.load_or_compile(engine, CFG, wasm)
    assert cached3 is True
    assert _export_names(third, engine) == ["ext:calc/eval@1.0.0"]
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("proc", [True, False], ids=["mapped", "from-bytes"])
def test_cached_component_runs(tmp_path: Path, wasm: bytes, proc: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not proc:  # no /proc/self/fd: the verified bytes are handed to wasmtime instead
        monkeypatch.setattr(_cache, "_PROC_FD", tmp_path / "no-proc")
    engine = shared_engine(CFG)
    cache = CompileCache(tmp_path)
    cache.load_or_compile(engine, CFG, wasm)
    component, cached = CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    assert cached
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1)
    instance = wasmtime.component.Linker(engine).instantiate(store, component)
    iface = instance.get_export_index(store, "ext:calc/eval@1.0.0")
    assert iface is not None
    index = instance.get_export_index(store, "evaluate", iface)
    assert index is not None
    func = instance.get_func(store, index)
    assert func is not None
    assert func(store, 41) == 41


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_entry_is_deleted_and_rebuilt(tmp_path: Path, wasm: bytes, damage: str) -> None:
    engine = shared_engine(CFG)
    cache = CompileCache(tmp_path)
    cache.load_or_compile(engine, CFG, wasm)
    [entry] = cache.entries()
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":  # wasmtime itself would load this one: only the checksum notices
        mid = len(data) // 2
        data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    elif damage == "garbage":
        data = bytearray(b"not a compiled component" * 10)
    else:
        data = bytearray()
    entry.write_bytes(bytes(data))

    component, cached = cache.load_or_compile(engine, CFG, wasm)
    assert cached is False
    assert cache.stats.rejected == 1
    assert _export_names(component, engine) == ["ext:calc/eval@1.0.0"]
    # rebuilt: the next load is a clean hit
    _, cached_again = CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    assert cached_again is True


def test_keyed_by_engine_config(tmp_path: Path, wasm: bytes) -> None:
    cache = CompileCache(tmp_path)
    _, c1 = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    _, c2 = cache.load_or_compile(shared_engine(FUEL), FUEL, wasm)
    assert (c1, c2) == (False, False)  # a different config is a different entry
    assert len(cache.entries()) == 2
    _, c3 = cache.load_or_compile(shared_engine(FUEL), FUEL, wasm)
    _, c4 = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    assert (c3, c4) == (True, True)
    assert CompileCache.key("ab" * 32, CFG) != CompileCache.key("ab" * 32, FUEL)
    assert CompileCache.key("ab" * 32, CFG) == CompileCache.key("ab" * 32, EngineConfig())
    assert CompileCache.key("ab" * 32, CFG) != CompileCache.key("cd" * 32, CFG)


def test_key_includes_wasmtime_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = CompileCache.key("ab" * 32, CFG)
    monkeypatch.setattr(_cache, "_wasmtime_version", lambda: "0.0.0-other")
    assert CompileCache.key("ab" * 32, CFG) != before


def test_mismatched_entry_never_crashes(tmp_path: Path, wasm: bytes) -> None:
    """An entry compiled under another config, with a valid MAC, under this config's key."""
    cache = CompileCache(tmp_path)
    cache.load_or_compile(shared_engine(FUEL), FUEL, wasm)
    [fuel_entry] = cache.entries()
    digest = __import__("hashlib").sha256(wasm).hexdigest()
    key = CompileCache.key(digest, CFG)
    target = cache.path_for(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    code = fuel_entry.read_bytes()[: -_cache._TRAILER.size]
    secret = cache._key()
    assert secret is not None
    target.write_bytes(code + _cache._seal(code, secret, key, _cache._CODE_KIND))  # a valid seal

    component, cached = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    assert cached is False
    assert cache.stats.rejected == 1
    assert _export_names(component, shared_engine(CFG)) == ["ext:calc/eval@1.0.0"]
    _, cached_again = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    assert cached_again is True


def test_replacing_an_entry_keeps_loaded_components_valid(tmp_path: Path, wasm: bytes) -> None:
    engine = shared_engine(CFG)
    CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    loaded, cached = CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    assert cached
    [entry] = CompileCache(tmp_path).entries()
    entry.unlink()  # another process clears the cache, then rewrites the entry
    CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    assert _export_names(loaded, engine) == ["ext:calc/eval@1.0.0"]


def test_two_processes_write_the_same_entry(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, wasmtime
        from harness.pipeline._cache import CompileCache
        from harness.pipeline._engine import EngineConfig, shared_engine
        wasm = bytes(wasmtime.wat2wasm(open({str(FIXTURES / "wat" / "analysis_types.wat")!r}).read()))
        cfg = EngineConfig()
        for _ in range(5):
            cache = CompileCache(sys.argv[1])
            for p in cache.entries():
                p.unlink(missing_ok=True)
            component, _ = cache.load_or_compile(shared_engine(cfg), cfg, wasm)
            assert list(component.type.exports(shared_engine(cfg))) == ["ext:types/all@1.0.0", "run"]
        print("ok")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    assert len(CompileCache(tmp_path).entries()) == 1
    assert not list(tmp_path.rglob("*.tmp"))
    _, cached = CompileCache(tmp_path).load_or_compile(
        shared_engine(CFG), CFG, _wasm("analysis_types.wat"))
    assert cached is True


def test_disabled_cache_never_touches_disk(tmp_path: Path, wasm: bytes,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXT_HARNESS_CACHE_DIR", str(tmp_path))
    cache = CompileCache.disabled()
    assert not cache.enabled
    for _ in range(2):
        _, cached = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
        assert cached is False
    assert list(tmp_path.iterdir()) == []
    assert cache.entries() == []


def test_unwritable_root_still_compiles(tmp_path: Path, wasm: bytes) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    cache = CompileCache(blocker)
    with pytest.warns(_cache.CacheWarning, match="not a folder"):
        component, cached = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    assert cached is False
    assert _export_names(component, shared_engine(CFG)) == ["ext:calc/eval@1.0.0"]
    assert blocker.read_text() == "a file where the cache directory should be"


def test_unwritable_subfolder_still_compiles(tmp_path: Path, wasm: bytes) -> None:
    cache = CompileCache(tmp_path)
    key = CompileCache.key(hashlib.sha256(wasm).hexdigest(), CFG)
    (tmp_path / key[:2]).write_text("a file where an entry folder should be")
    component, cached = cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    assert cached is False
    assert cache.stats.store_failures == 1
    assert _export_names(component, shared_engine(CFG)) == ["ext:calc/eval@1.0.0"]


def test_text_is_never_compiled_as_wat(tmp_path: Path) -> None:
    # wasmtime-py would assemble non-binary bytes as WAT; a .wasm file of text must be rejected.
    with pytest.raises(wasmtime.WasmtimeError, match="magic"):
        CompileCache(tmp_path).load_or_compile(shared_engine(CFG), CFG, b"(component)")
    assert CompileCache(tmp_path).entries() == []


def test_invalid_bytes_raise_and_store_nothing(tmp_path: Path, wasm: bytes) -> None:
    cache = CompileCache(tmp_path)
    with pytest.raises(wasmtime.WasmtimeError):
        cache.load_or_compile(shared_engine(CFG), CFG, wasm[: len(wasm) // 2])
    assert cache.entries() == []


def test_clear(tmp_path: Path, wasm: bytes) -> None:
    cache = CompileCache(tmp_path)
    cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    cache.load_or_compile(shared_engine(CFG), CFG, _wasm("analysis_calc_importer.wat"))
    assert cache.clear() == 2
    assert cache.entries() == []


def test_tests_never_fill_the_users_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A test or CLI subprocess that names no cache folder gets one under pytest's temp folder."""
    assert default_cache_dir().is_relative_to(tmp_path_factory.getbasetemp())
    assert os.environ["EXT_HARNESS_CACHE_DIR"] == str(default_cache_dir())  # inherited by subprocesses


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXT_HARNESS_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    assert CompileCache().root == tmp_path / "explicit"
    monkeypatch.delenv("EXT_HARNESS_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "ext-harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "ext-harness"


# --------------------------------------------------------------------------- security: nothing a user can plant runs

OTHER_UID = 54321  # any uid that is not ours; the tests run as root, so chown to it works


class _Plant:
    """A pickle payload that creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def _fixture_candidate(name: str = "analysis_types.wat") -> Any:
    from harness.model._records import Candidate, Manifest

    path = FIXTURES / "wat" / name
    return Candidate(name="victim", root=path.parent, component_path=path, source="wat",
                     manifest=Manifest(name="victim"))


def _old_style_trailer(payload: bytes) -> bytes:
    """What an attacker can compute without the key: the entry layout with a plain SHA-256."""
    return _cache._TRAILER.pack(_cache._MAGIC, len(payload), hashlib.sha256(payload).digest())


def test_planted_pickle_entry_never_runs(tmp_path: Path) -> None:
    from harness.pipeline._analysis import AnalysisConfig, analyse
    from harness.pipeline._inspect import inspect

    cache_dir = tmp_path / "cache"
    fresh, _ = analyse(_fixture_candidate(), AnalysisConfig(cache=None))
    assert fresh is not None
    analyse(_fixture_candidate(), AnalysisConfig(cache=CompileCache(cache_dir)))  # fills the cache
    [side] = sorted(cache_dir.glob("??/*.iface"))
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Plant(marker))
    for planted in (payload + _old_style_trailer(payload), payload):
        side.write_bytes(planted)
        cache = CompileCache(cache_dir)
        again, diags = analyse(_fixture_candidate(), AnalysisConfig(cache=cache))
        assert not marker.exists(), "a cache entry ran code"
        assert again is not None and diags == []
        assert (again.imports, again.exports) == (fresh.imports, fresh.exports)
        assert cache.stats.rejected == 1
        assert side.read_bytes() != planted  # rewritten, not kept

    side.write_bytes(payload + _old_style_trailer(payload))
    insp = inspect([FIXTURES / "wat" / "analysis_types.wat"], cache_dir=cache_dir)
    assert not marker.exists()
    assert insp.resolution.status == {"analysis_types": "ok"}


@pytest.mark.parametrize("forgery", ["sha256-trailer", "other-key", "payload-bit", "mac-bit"])
def test_tampered_code_entry_is_a_miss(tmp_path: Path, wasm: bytes, forgery: str) -> None:
    """Only an entry sealed with this cache's own key is deserialised; anything else is rebuilt."""
    engine = shared_engine(CFG)
    cache = CompileCache(tmp_path / "cache")
    cache.load_or_compile(engine, CFG, wasm)
    [entry] = cache.entries()
    if forgery == "sha256-trailer":
        # valid compiled code, but of another component, with the checksum recomputed
        other = bytes(CompileCache.disabled().load_or_compile(
            engine, CFG, _wasm("analysis_calc_importer.wat"))[0].serialize())
        entry.write_bytes(other + _old_style_trailer(other))
    elif forgery == "other-key":  # sealed by another cache (another user's key)
        elsewhere = CompileCache(tmp_path / "elsewhere")
        elsewhere.load_or_compile(engine, CFG, _wasm("analysis_calc_importer.wat"))
        [foreign] = elsewhere.entries()
        entry.write_bytes(foreign.read_bytes())
    else:
        data = bytearray(entry.read_bytes())
        data[len(data) // 2 if forgery == "payload-bit" else len(data) - 1] ^= 0x01
        entry.write_bytes(bytes(data))

    fresh = CompileCache(tmp_path / "cache")
    component, cached = fresh.load_or_compile(engine, CFG, wasm)
    assert cached is False
    assert fresh.stats.rejected == 1
    assert _export_names(component, engine) == ["ext:calc/eval@1.0.0"]
    _, cached_again = CompileCache(tmp_path / "cache").load_or_compile(engine, CFG, wasm)
    assert cached_again is True  # rewritten with a valid seal


@pytest.mark.parametrize("mode", [0o660, 0o606])
def test_entry_writable_by_others_is_a_miss(tmp_path: Path, wasm: bytes, mode: int) -> None:
    """wasmtime maps the file after the check, so a file others could rewrite meanwhile is not used."""
    engine = shared_engine(CFG)
    CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    [entry] = CompileCache(tmp_path).entries()
    os.chmod(entry, mode)
    cache = CompileCache(tmp_path)
    _, cached = cache.load_or_compile(engine, CFG, wasm)
    assert cached is False and cache.stats.rejected == 1
    [entry] = cache.entries()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_deserialise_is_never_reached_for_a_bad_seal(tmp_path: Path, wasm: bytes,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    engine = shared_engine(CFG)
    CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    [entry] = CompileCache(tmp_path).entries()
    data = bytearray(entry.read_bytes())
    data[100] ^= 0x80
    entry.write_bytes(bytes(data))
    calls: list[str] = []

    def spy(*args: object) -> None:
        calls.append("deserialize")
        raise AssertionError("deserialised an unauthenticated entry")

    monkeypatch.setattr(wasmtime.component.Component, "deserialize", classmethod(spy))
    monkeypatch.setattr(wasmtime.component.Component, "deserialize_file", classmethod(spy))
    _, cached = CompileCache(tmp_path).load_or_compile(engine, CFG, wasm)
    assert cached is False and calls == []


def _assert_refused(cache: CompileCache, wasm: bytes, why: str) -> None:
    engine = shared_engine(CFG)
    with pytest.warns(_cache.CacheWarning, match=why):
        _, c1 = cache.load_or_compile(engine, CFG, wasm)
    _, c2 = cache.load_or_compile(engine, CFG, wasm)
    assert (c1, c2) == (False, False)
    assert cache.refused is not None and why in cache.refused


def test_root_owned_by_someone_else_is_refused(tmp_path: Path, wasm: bytes) -> None:
    root = tmp_path / "squatted"
    root.mkdir(mode=0o700)
    os.chown(root, OTHER_UID, OTHER_UID)
    _assert_refused(CompileCache(root), wasm, f"owned by uid {OTHER_UID}")
    assert list(root.iterdir()) == []  # nothing read or written there


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o720, 0o702])
def test_root_writable_by_others_is_refused(tmp_path: Path, wasm: bytes, mode: int) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, mode)
    _assert_refused(CompileCache(root), wasm, "other users can write to it")
    assert list(root.iterdir()) == []


def test_symlink_root_is_refused(tmp_path: Path, wasm: bytes) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    _assert_refused(CompileCache(link), wasm, "symbolic link")
    assert list(real.iterdir()) == []


def test_squatted_fallback_folder_is_refused(tmp_path: Path, wasm: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """No home: the fallback folder in the temp dir has a predictable name, so its owner is checked."""
    monkeypatch.delenv("EXT_HARNESS_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("no home directory")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fallback = default_cache_dir()
    assert fallback == tmp_path / f"ext-harness-cache-{os.getuid()}"
    fallback.mkdir()
    os.chown(fallback, OTHER_UID, OTHER_UID)
    _assert_refused(CompileCache(), wasm, f"owned by uid {OTHER_UID}")


@pytest.mark.parametrize("damage", ["mode", "owner", "symlink", "size"])
def test_bad_key_file_is_refused(tmp_path: Path, wasm: bytes, damage: str) -> None:
    CompileCache(tmp_path).load_or_compile(shared_engine(CFG), CFG, wasm)
    key = tmp_path / _cache._KEY_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    if damage == "mode":
        os.chmod(key, 0o644)
        why = "readable or writable by others"
    elif damage == "owner":
        os.chown(key, OTHER_UID, OTHER_UID)
        why = f"owned by uid {OTHER_UID}"
    elif damage == "symlink":
        target = tmp_path / "chosen-key"
        target.write_bytes(b"k" * 32)
        os.chmod(target, 0o600)
        key.unlink()
        key.symlink_to(target)
        why = "symbolic link"
    else:
        key.write_bytes(b"short")
        why = "not 32 bytes"
    _assert_refused(CompileCache(tmp_path), wasm, why)


def test_root_key_and_entries_are_private(tmp_path: Path, wasm: bytes) -> None:
    root = tmp_path / "a" / "b" / "cache"
    cache = CompileCache(root)
    cache.load_or_compile(shared_engine(CFG), CFG, wasm)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / _cache._KEY_NAME).stat().st_mode) == 0o600
    assert len((root / _cache._KEY_NAME).read_bytes()) == 32
    files = [p for p in root.rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in files) == ["", ".cwasm", ".lock"]  # the key, the code entry, its lock
    for p in root.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    assert cache.refused is None


def test_refusal_is_reported_once_and_loading_goes_on(tmp_path: Path) -> None:
    from harness.pipeline._inspect import inspect
    from harness.runtime._host import Host

    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o777)
    path = FIXTURES / "wat" / "analysis_calc_provider.wat"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            insp = inspect([path], cache_dir=root)
            assert insp.resolution.status == {"analysis_calc_provider": "ok"}
            assert not any(a.cached for a in insp.analysed)
        with Host.load(path, cache_dir=str(root)) as host:
            assert host.call("analysis_calc_provider", "ext:calc/eval@1.0.0#evaluate", 5) == 5
    refusals = [w for w in seen if issubclass(w.category, _cache.CacheWarning)]
    assert len(refusals) == 1
    text = str(refusals[0].message)
    assert str(root) in text and "compiling without it" in text and "--no-cache" in text
    assert list(root.iterdir()) == []


# --------------------------------------------------------------------------- the interface format (JSON)

_NAMES = st.text(max_size=8)
_VALUES: st.SearchStrategy[ValueType] = st.one_of(
    wit_types(max_depth=2, max_width=3),
    st.sampled_from([Prim("error-context"), HandleT("own"), HandleT("borrow"), HandleT("own", "r-1")]),
    st.builds(FutureT, st.none() | wit_types(max_depth=1, max_width=2)),
    st.builds(StreamT, st.none() | wit_types(max_depth=1, max_width=2)),
)


def _named(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    return st.lists(st.tuples(_NAMES, inner), max_size=3).map(tuple)


_FUNCS = st.builds(FuncT, _named(_VALUES), st.none() | _VALUES)
_ITEMS: st.SearchStrategy[Item] = st.deferred(lambda: st.one_of(
    _FUNCS, st.just(ResourceItem()), st.just(ModuleItem()), _VALUES.map(TypeItem),
    _named(_ITEMS).map(InstanceT), st.builds(ComponentItem, _named(_ITEMS), _named(_ITEMS))))


@settings(max_examples=300, deadline=None)
@given(_ITEMS)
def test_type_model_round_trips_through_json(item: Item) -> None:
    text = json.dumps(_typejson.item_to_json(item))
    assert _typejson.item_from_json(json.loads(text)) == item


@settings(max_examples=100, deadline=None)
@given(_named(_ITEMS), _named(_ITEMS))
def test_interface_document_round_trips(imports: Any, exports: Any) -> None:
    from harness.pipeline._analysis import _interface_to_json, _named_from_json

    doc = json.loads(_interface_to_json((imports, exports)))
    assert (_named_from_json(doc["imports"]), _named_from_json(doc["exports"])) == (imports, exports)


@pytest.mark.parametrize("bad", [
    "u128", [], ["list"], ["list", "u8", "u8"], ["record", [["a"]]], ["record", [[1, "u8"]]],
    ["handle", "shared", "r"], ["enum", [1]], {"list": "u8"}, None, 7, ["nope", "u8"],
])
def test_decoder_rejects_what_the_encoder_never_writes(bad: object) -> None:
    with pytest.raises(ValueError):
        _typejson.value_from_json(bad)
    with pytest.raises(ValueError):
        _typejson.item_from_json(["type", bad])


_BUNDLED = [*sorted((FIXTURES / "wat").glob("*.wat")),
            FIXTURES.parent / "examples" / "ext-wat" / "build" / "ext-wat.wasm",
            FIXTURES.parent / "examples" / "ext-js" / "build" / "ext-js.wasm"]


@pytest.mark.parametrize("path", _BUNDLED, ids=lambda p: p.name)
def test_cached_interface_equals_the_fresh_one(tmp_path: Path, path: Path) -> None:
    from harness.pipeline import _analysis
    from harness.pipeline._wat import assemble_wat_file

    if not path.exists():
        pytest.skip(f"{path} is not built")
    data = assemble_wat_file(path) if path.suffix == ".wat" else path.read_bytes()
    engine = shared_engine(CFG)
    component, _ = CompileCache.disabled().load_or_compile(engine, CFG, data)
    fresh = _analysis._read_interface(component, engine)
    assert _analysis._fully_converted(fresh)

    cache = CompileCache(tmp_path)
    digest = hashlib.sha256(data).hexdigest()
    _analysis._store_interface(cache, digest, CFG, fresh)
    assert _analysis._load_interface(CompileCache(tmp_path), digest, CFG) == fresh
    side = next(tmp_path.glob("??/*.iface"))
    assert json.loads(side.read_bytes()[:-_cache._TRAILER.size])["version"] == 1


def test_a_lock_held_forever_delays_a_load_but_never_stops_it(tmp_path: Path, wasm: bytes,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process stuck while compiling the same entry (holding its flock): wait, then compile."""
    import fcntl
    import threading

    monkeypatch.setattr(_cache, "_LOCK_WAIT", 0.3)
    cache = CompileCache(tmp_path / "cache")
    key = cache.key(hashlib.sha256(wasm).hexdigest(), CFG)
    lock = cache.path_for(key).with_name(f".{key}.lock")
    (tmp_path / "cache").mkdir(mode=0o700)
    lock.parent.mkdir(mode=0o700)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a separate open file: flock excludes it even in this process
    results: list[bool] = []
    try:
        worker = threading.Thread(target=lambda: results.append(
            cache.load_or_compile(shared_engine(CFG), CFG, wasm)[1]), daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the load waited for the lock without a limit"
    finally:
        os.close(fd)
    assert results == [False] and cache.stats.misses == 1
