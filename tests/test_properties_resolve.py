"""Resolution properties: the resolver against a brute-force reference model.

Scenarios come from `harness.testing.strategies.dependency_graphs()`. Most run on
`Analysed` values directly (fast); a smaller number are written out as mock
extensions and go through discovery, analysis, resolution and the linker, where
each consumer's `via<k>` must answer with the id of the provider it was linked to.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import stat
from harness.model._diagnostics import Diagnostic
from harness.model._records import Resolution
from harness.pipeline._inspect import inspect
from harness.pipeline._resolve import resolve
from harness.runtime._host import Host
from harness.testing import ExpectedResolution, GraphScenario
from harness.testing.strategies import dependency_graphs


def _error_codes(diags: tuple[Diagnostic, ...], ext: str) -> set[str]:
    return {d.code for d in diags if d.extension == ext and d.is_error}


def check(scenario: GraphScenario, res: Resolution, diags: tuple[Diagnostic, ...],
          exp: ExpectedResolution) -> None:
    """Every property of one resolution against the reference."""
    names = {n.name for n in scenario.nodes}
    assert dict(res.status) == dict(exp.status)
    # the codes each extension gets from resolution (broken ones keep their analysis code)
    for n in names - exp.broken:
        got = _error_codes(diags, n) - {"blocked-by-dependency"}
        assert got == set(exp.errors[n]), (n, got, exp.errors[n], [str(d) for d in diags])
    # missing-import iff no compatible provider; ambiguous-provider iff several
    got_missing = {(d.extension, d.subject) for d in diags if d.code == "missing-import"}
    assert got_missing == set(exp.missing)
    got_ambiguous = {(d.extension, d.subject) for d in diags if d.code == "ambiguous-provider"}
    assert got_ambiguous == set(exp.ambiguous)
    got_older = {(d.extension, d.subject) for d in diags if d.code == "older-provider"}
    assert got_older == set(exp.older)
    # a cycle diagnostic iff on a cycle, listing exactly the members of its cycle
    cycle_diags = [d for d in diags if d.code == "cycle"]
    assert {d.extension for d in cycle_diags} == set(exp.cycles)
    for d in cycle_diags:
        assert d.extension is not None
        assert set(d.details["members"]) == set(exp.cycles[d.extension])
        path = list(d.details["cycle"])
        assert path[0] == path[-1]  # a closed path, shared by the members of one cycle
        assert set(path) <= exp.cycles[d.extension]
        assert d.extension in path
        for a, b in itertools.pairwise(path):  # the path follows real links
            assert any(x[0] == a and x[2] == b for x in exp.links), (a, b)
    # every dependent of a failure is blocked, naming a failed dependency it reaches
    blocked = [d for d in diags if d.code == "blocked-by-dependency"]
    assert sorted(d.extension or "" for d in blocked) == sorted(exp.blocked)
    for d in blocked:
        dep = d.details["dependency"]
        assert exp.status[dep] == "error"
        via = list(d.details["via"])
        assert via[0] == d.extension and via[-1] == dep
        for a, b in itertools.pairwise(via):
            assert any(x[0] == a and x[2] == b for x in exp.links), (a, b)
    # links: exactly the resolved imports between two ok extensions
    ok = exp.ok
    assert set((lk.consumer, lk.import_name, lk.provider, lk.export_name) for lk in res.links) == {
        x for x in exp.links if x[0] in ok and x[2] in ok}
    # the load order holds every ok extension once and respects every link
    assert sorted(res.load_order) == sorted(ok)
    pos = {n: i for i, n in enumerate(res.load_order)}
    for lk in res.links:
        assert pos[lk.provider] < pos[lk.consumer], (lk, res.load_order)
    counts = {"cycle": len(exp.cycles), "missing": len(exp.missing), "ambiguous": len(exp.ambiguous),
              "blocked": len(exp.blocked), "ok": len(ok)}
    for what, count in counts.items():
        stat("resolve-outcomes", what, count)


@settings(max_examples=400)
@given(scenario=dependency_graphs(max_nodes=8), data=st.data())
def test_resolution_matches_reference_for_any_discovery_order(scenario: GraphScenario,
                                                               data: st.DataObject) -> None:
    exts, failed = scenario.analysed()
    exp = scenario.expected()
    res = resolve(exts, failed)
    check(scenario, res, res.diagnostics, exp)
    for _ in range(3):  # the same result for any discovery order
        order = data.draw(st.permutations(exts))
        again = resolve(order, dict(reversed(list(failed.items()))))
        assert again == res
    stat("resolve", "scenarios")
    stat("resolve", "with-cycle" if exp.cycles else "acyclic")


@settings(max_examples=200)
@given(scenario=dependency_graphs(max_nodes=6, cycles=False, missing=False, ambiguous=False, skew=False,
                                  broken=False))
def test_clean_graphs_load_completely(scenario: GraphScenario) -> None:
    exts, failed = scenario.analysed()
    res = resolve(exts, failed)
    assert [d for d in res.diagnostics if d.is_error] == []
    assert {d.code for d in res.diagnostics} <= {"older-provider"}
    assert set(res.load_order) == {n.name for n in scenario.nodes}
    stat("resolve", "clean-scenarios")


def test_reference_model_on_a_hand_made_graph() -> None:
    """The reference itself, checked on a graph whose answer is known."""
    from harness.testing import ExtraExport, GraphEdge, GraphNode

    s = GraphScenario(
        nodes=(GraphNode("alpha", "1.0.0"), GraphNode("beta", "1.2.0"), GraphNode("gamma", "0.1.0"),
               GraphNode("delta", "2.0.0"), GraphNode("eps", "1.0.0"), GraphNode("zeta", "1.0.0")),
        edges=(GraphEdge("alpha", "beta", "1.4.1"),  # older provider (warning only)
               GraphEdge("beta", "gamma", "0.1.0"),
               GraphEdge("gamma", "beta", "1.0.0"),  # beta <-> gamma cycle
               GraphEdge("delta", "ghost", "1.0.0"),  # missing
               GraphEdge("eps", "delta", "2.0.0"),  # blocked by delta
               GraphEdge("zeta", "alpha", "1.0.0")),
        extra_exports=(ExtraExport("eps", "alpha", "1.2.0"),))  # alpha's lib twice: zeta is ambiguous
    exp = s.expected()
    assert exp.cycles == {"beta": frozenset({"beta", "gamma"}), "gamma": frozenset({"beta", "gamma"})}
    assert exp.missing == {("delta", "test:ghost/api@1.0.0")}
    assert exp.ambiguous == {("zeta", "test:alpha/api@1.0.0")}
    assert exp.older == {("alpha", "test:beta/api@1.4.1")}
    assert dict(exp.status) == {"alpha": "blocked", "beta": "error", "gamma": "error", "delta": "error",
                                "eps": "blocked", "zeta": "error"}
    res = resolve(*s.analysed())
    check(s, res, res.diagnostics, exp)


# ------------------------------------------------------------------ through the real pipeline

@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="graph-props-") as d:
        (Path(d) / "cache").mkdir()
        yield Path(d)


_runs = iter(range(10**9))


@settings(max_examples=40)
@given(scenario=dependency_graphs(max_nodes=5), data=st.data())
def test_pipeline_and_linker_match_reference(workdir: Path, scenario: GraphScenario,
                                             data: st.DataObject) -> None:
    folder = workdir / f"g{next(_runs)}"
    paths = list(scenario.materialize(folder).values())
    exp = scenario.expected()
    cache = str(workdir / "cache")
    first = inspect(paths, cache_dir=cache)
    check(scenario, first.resolution, first.diagnostics, exp)
    for n in exp.broken:
        assert _error_codes(first.diagnostics, n) == {"invalid-component"}
    order = data.draw(st.permutations(paths))
    again = inspect(order, cache_dir=cache)
    assert again.resolution == first.resolution
    assert again.diagnostics == first.diagnostics
    # the linker wires each import to the provider resolution chose
    with Host.load(*paths, cache_dir=cache) as host:
        assert set(host.extensions) == exp.ok
        vias = scenario.via_results(exp)
        for (consumer, func), want in vias.items():
            assert host.call(consumer, func) == want, (consumer, func)
            stat("resolve-pipeline", "via-calls")
    stat("resolve-pipeline", "scenarios")


def test_reference_model_on_load_time_failures(tmp_path: Path) -> None:
    """Failing inits and type mismatches, in the reference and through the host: an init that
    fails blocks its dependents, even one whose own init would fail too (it never runs)."""
    from harness.testing import S32, GraphEdge, GraphNode

    s = GraphScenario(
        nodes=(GraphNode("base", init_fails=True), GraphNode("mid", init_fails=True), GraphNode("top"),
               GraphNode("lib", param=S32), GraphNode("app"), GraphNode("solo", init_fails=True)),
        edges=(GraphEdge("mid", "base"), GraphEdge("top", "mid"), GraphEdge("app", "lib")))
    exp = s.expected()
    assert exp.init_failed == {"base", "solo"}
    assert exp.mismatched == {("app", "test:lib/api@1.0.0")}
    assert dict(exp.status) == {"base": "error", "mid": "blocked", "top": "blocked", "lib": "ok",
                                "app": "error", "solo": "error"}
    assert exp.codes == {"init-failed", "type-mismatch", "blocked-by-dependency"}
    paths = list(s.materialize(tmp_path / "exts").values())
    with Host.load(*paths, cache_dir=str(tmp_path / "cache"), strict=False) as host:
        assert dict(host.status) == dict(exp.status)
        assert {d.code for d in host.diagnostics} == exp.codes
        assert host.call("lib", "id") == exp.ids[("lib", "test:lib/api@1.0.0")]


_NAME_TEXT = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,3}:[a-z][a-z-]{0,3}/[a-z][a-z-]{0,3}(@[0-9]{1,2}\.[0-9]\.[0-9](-[a-z0-9.]{1,4})?)?",
                  fullmatch=True),
    st.text(alphabet="ab:/@.-01", max_size=14))


@settings(max_examples=300)
@given(text=_NAME_TEXT)
def test_the_resolver_name_memo_parses_as_interface_name_does(text: str) -> None:
    """`_name` (an lru_cache) parses the part before `@` and the version apart; the result is
    `InterfaceName.parse`'s, whether or not it was cached before."""
    from harness.model._names import InterfaceName
    from harness.pipeline._resolve import _name

    parsed = InterfaceName.parse(text)
    for _ in range(2):
        info = _name(text)
        assert (None if info is None else info.iface) == parsed
    assert _name.cache_info().maxsize == 200_000  # bounded: a long session cannot grow it without end
