"""The public fixtures: wat_component, mock_extension, scenario, ext_host, ext_snapshot.

They import wasmtime (and syrupy) only when a test uses them. Compiled components go
to the suite's compile cache: `--ext-cache-dir` / ini `ext_cache_dir`, else the same
default as the CLI (`EXT_HARNESS_CACHE_DIR`, else the user cache), so a component is
compiled once across sessions and xdist workers (the cache locks each entry).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..runtime._host import Host
    from ..testing import MockExtension
    from ..testing._scenario import ScenarioBuilder
    from ._suite import SuiteRun

__all__ = ["WatComponents", "ext_host", "ext_snapshot", "ext_suite_run", "mock_extension", "scenario",
           "wat_component"]


@pytest.fixture(scope="session")
def ext_suite_run(pytestconfig: pytest.Config) -> SuiteRun:
    """The suite's pipeline run (only with `--ext-suite`)."""
    from ._session import SESSION_KEY

    session = pytestconfig.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip("the conformance suite runs with --ext-suite")
    return session.run


@pytest.fixture(scope="session")
def _ext_cache_dir(pytestconfig: pytest.Config) -> Path:
    """The suite's compile cache folder: the option, the ini setting, else the CLI's default."""
    from ..pipeline._cache import default_cache_dir
    from ._session import _dir

    return _dir(pytestconfig, "ext_cache_dir", "ext_cache_dir", None) or default_cache_dir()


class WatComponents:
    """`wat_component(text_or_name, name=None) -> Path` of an assembled `.wasm`, cached by content."""

    def __init__(self, fixtures: Path, out: Path) -> None:
        self.fixtures = fixtures
        self.out = out

    def find(self, ref: str | Path) -> Path:
        p = Path(ref)
        for cand in (p, self.fixtures / p):
            if cand.is_file():
                return cand
        hits = sorted(self.fixtures.rglob(p.name)) if self.fixtures.is_dir() else []
        if len(hits) == 1:
            return hits[0]
        where = f"{len(hits)} matches" if hits else "not found"
        raise FileNotFoundError(f"WAT fixture {str(ref)!r}: {where} under {self.fixtures}")

    def text(self, ref: str | Path) -> tuple[str, str, str]:
        """(text, source for messages, default name)."""
        if isinstance(ref, str) and ("\n" in ref or ref.lstrip().startswith("(")):
            return ref, "<wat>", "component"
        path = self.find(ref)
        return path.read_text(encoding="utf-8"), str(path), path.stem

    def __call__(self, ref: str | Path, name: str | None = None) -> Path:
        from ..pipeline._wat import assemble_wat

        text, source, default = self.text(ref)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
        target = self.out / digest / f"{name or default}.wasm"
        if not target.exists():
            binary = assemble_wat(text, source=source)  # WatSyntaxError: line and column
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(binary)
            tmp.replace(target)
        return target


@pytest.fixture
def wat_component(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> WatComponents:
    """Assemble component WAT (text, or a file name under fixtures/wat/) into a `.wasm` path."""
    base = tmp_path_factory.getbasetemp() / "ext-wat"
    return WatComponents(Path(pytestconfig.rootpath) / "fixtures" / "wat", base)


@pytest.fixture
def mock_extension(tmp_path: Path) -> Callable[..., Path]:
    """`mock_extension(ext("a", exports=[...]))` or `mock_extension("a", exports=[...])` → folder."""
    from ..testing import MockExtension, write_extension

    folder = tmp_path / "extensions"

    def make(decl: MockExtension | str, **kw: Any) -> Path:
        if isinstance(decl, str):
            manifest = kw.pop("manifest", None)
            decl = MockExtension(decl, exports=tuple(kw.pop("exports", ())),
                                 imports=tuple(kw.pop("imports", ())), manifest_extra=manifest or {}, **kw)
        elif kw:
            raise TypeError("keyword arguments only go with a name: mock_extension('a', exports=[...])")
        return write_extension(decl, folder)

    return make


@pytest.fixture
def scenario(tmp_path: Path) -> ScenarioBuilder:
    """Dependency scenarios in a line: chain(n), diamond(), cycle(k), graph({...}), ..."""
    from ..testing._scenario import ScenarioBuilder

    return ScenarioBuilder(tmp_path / "scenarios")


def _limits(request: pytest.FixtureRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("ext_limits"))):
        out.update(marker.kwargs)
    return out


@pytest.fixture
def ext_host(request: pytest.FixtureRequest, tmp_path: Path, _ext_cache_dir: Path) -> Iterator[Callable[..., Host]]:
    """`ext_host(scenario | folder | mock | [...], **host_options) -> Host`, closed after the test.

    `@pytest.mark.ext_limits(timeout_ms=..., fuel=..., memory_mb=...)` sets the defaults.
    """
    from ..runtime._host import Host
    from ..testing import MockExtension, write_extension

    hosts: list[Host] = []
    mocks = tmp_path / "ext-host-mocks"

    def flatten(items: tuple[Any, ...]) -> list[Path]:
        out: list[Path] = []
        for item in items:
            if isinstance(item, list | tuple):
                out += flatten(tuple(item))
            elif isinstance(item, MockExtension):
                out.append(write_extension(item, mocks))
            else:
                out.append(Path(item))
        return out

    def load(*sources: Any, **config: Any) -> Host:
        options = {"cache_dir": str(_ext_cache_dir), **_limits(request), **config}
        host = Host.load(*flatten(sources), **options)
        hosts.append(host)
        return host

    yield load
    for h in reversed(hosts):
        h.close()


def _snapshot_extension(root: Path) -> type:
    from syrupy.extensions.amber import AmberSnapshotExtension

    from ._snapshot import serialize

    class ExtSnapshotExtension(AmberSnapshotExtension):
        """Amber snapshots of pipeline results, serialized by `harness.pytest_plugin._snapshot`."""

        def serialize(self, data: Any, **kwargs: Any) -> str:
            return serialize(data, root)

    return ExtSnapshotExtension


@pytest.fixture
def ext_snapshot(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Any:
    """syrupy's `snapshot` with a serializer for hosts, diagnostics, errors and traces."""
    try:
        snapshot = request.getfixturevalue("snapshot")
    except pytest.FixtureLookupError:
        pytest.skip("ext_snapshot needs syrupy (pip install syrupy)")
    return snapshot.use_extension(_snapshot_extension(Path(pytestconfig.rootpath)))

