"""The on-disk compile cache: hits, misses, corruption, config keys, concurrent writers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import wasmtime

from harness import _cache
from harness._cache import CompileCache, default_cache_dir
from harness._engine import EngineConfig, shared_engine

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


def test_cached_component_runs(tmp_path: Path, wasm: bytes) -> None:
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
    """An entry compiled under another config, with a valid checksum, under this config's key."""
    cache = CompileCache(tmp_path)
    cache.load_or_compile(shared_engine(FUEL), FUEL, wasm)
    [fuel_entry] = cache.entries()
    digest = __import__("hashlib").sha256(wasm).hexdigest()
    target = cache.path_for(CompileCache.key(digest, CFG))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(fuel_entry.read_bytes())

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
        from harness._cache import CompileCache
        from harness._engine import EngineConfig, shared_engine
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
