"""The conformance checks, as plain functions over one pipeline run (no pytest needed).

`SuiteRun` inspects the given extensions once, links them once (lazily: the
discovery/analysis/resolution checks need no Host), and answers `check(name,
check)` with a `CheckResult`. The pytest suite in `suites/` only turns results into
pass/fail/skip, so the verdicts are the same under xdist and outside pytest.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..model._codes import describe
from ..model._diagnostics import Diagnostic
from ..model._names import InterfaceName
from ..model._records import ConformanceExample
from ..model._witypes import FuncT, InstanceT, ResourceItem
from ..pipeline._wasmtools import wasm_tools
from ._command_checks import conformance_check
from ._compare import same_json
from ._regression import read_snapshot, snapshot_of, verdict, write_snapshot

if TYPE_CHECKING:
    from ..pipeline._inspect import Inspection
    from ..runtime._host import Host

__all__ = ["CHECKS", "PATHS_ENTRY", "CheckResult", "SuiteRun", "SuiteSettings"]

# The checks in the order they run (a later one is skipped when an earlier one failed); the suite's
# tests, each extension's records and the report columns follow this one list.
CHECKS: tuple[str, ...] = ("discovery", "analysis", "resolution", "linking", "behaviour", "composition",
                           "resources", "commands", "regression")
PATHS_ENTRY = "(paths)"  # pseudo-extension for problems not tied to one extension (e.g. a missing path)
Outcome = Literal["passed", "failed", "skipped"]
_EXAMPLE_KEYS = "function or command, args, expect or expect_error"
_EXAMPLE_INDEX = re.compile(r"conformance\.example\[(\d+)\]\.")


@dataclass(frozen=True)
class SuiteSettings:
    """What `pytest --ext-suite` (or a script) configures."""

    paths: tuple[Path, ...]
    cache_dir: Path | None = None
    timeout_ms: int | None = 30_000
    fuel: int | None = None
    memory_mb: int | None = None
    snapshot_dir: Path | None = None
    snapshot_update: bool = False
    link: str = "dynamic"  # how the suite's host links (`Host.load(link=...)`); `composition` uses the other too


@dataclass(frozen=True)
class CheckResult:
    extension: str
    check: str
    outcome: Outcome
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"extension": self.extension, "check": self.check, "outcome": self.outcome,
                "message": self.message, "details": dict(self.details)}


def _explain(name: str, check: str, diags: Sequence[Diagnostic], warnings: Sequence[Diagnostic] = ()) -> str:
    """The failure text; warnings of the same stage follow, as they often explain the error
    (a misspelt `componnet` key is why `component` is missing)."""
    lines = [f"{name}: {check} failed"]
    for d in [*diags, *warnings]:
        subject = f" [{d.subject}]" if d.subject else ""
        label = "" if d.is_error else "warning "
        lines.append(f"  {label}{d.code}{subject}: {d.message}")
        lines.append(f"    fix: {d.hint}")
    return "\n".join(lines)


class SuiteRun:
    """One pipeline run over the suite's paths, shared by every check of a process."""

    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._host: Host | None = None
        self._host_error: str | None = None
        self._other: Host | None = None  # linked the other way, for the composition check
        self._other_error: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # ------------------------------------------------------------------ pipeline

    @cached_property
    def inspection(self) -> Inspection:
        from ..pipeline._inspect import inspect

        return inspect(*self.settings.paths, cache_dir=self.settings.cache_dir,
                       consume_fuel=self.settings.fuel is not None or None)

    def extensions(self) -> list[str]:
        """Every extension name the run saw, failed ones included; sorted."""
        names = {c.name for c in self.inspection.candidates}
        names |= {d.extension for d in self.inspection.diagnostics if d.extension}
        out = sorted(names)
        if any(d.extension is None and d.is_error for d in self.inspection.diagnostics):
            out.append(PATHS_ENTRY)
        return out

    def _new_host(self, link: str) -> Host:
        from ..runtime._host import Host, HostConfig

        cfg = HostConfig(cache_dir=str(self.settings.cache_dir) if self.settings.cache_dir else None,
                         timeout_ms=self.settings.timeout_ms, fuel=self.settings.fuel,
                         memory_mb=self.settings.memory_mb, restart_budget=1_000_000, link=link)
        return Host(self.inspection, cfg)

    def host(self) -> Host | None:
        with self._lock:
            if self._host is None and self._host_error is None:
                try:
                    self._host = self._new_host(self.settings.link)
                except Exception as e:  # a host bug must not take the whole suite down silently
                    self._host_error = f"{type(e).__name__}: {e}"
            return self._host

    @property
    def other_link(self) -> str:
        return "dynamic" if self.settings.link == "fused" else "fused"

    def other_host(self) -> Host | None:
        """The same extensions linked the other way (loaded on first use: fusing composes and compiles)."""
        with self._lock:
            if self._other is None and self._other_error is None:
                try:
                    self._other = self._new_host(self.other_link)
                except Exception as e:
                    self._other_error = f"{type(e).__name__}: {e}"
            return self._other

    def close(self) -> None:
        with self._lock:
            for host in (self._host, self._other):
                if host is not None:
                    host.close()
            self._host = self._other = None
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def _diags(self, name: str, stages: tuple[str, ...], *, errors_only: bool = True,
               diags: Sequence[Diagnostic] | None = None) -> list[Diagnostic]:
        pool = self.inspection.diagnostics if diags is None else diags
        want = None if name == PATHS_ENTRY else name
        return [d for d in pool if d.extension == want and describe(d.code).stage in stages
                and (d.is_error or not errors_only)]

    def _earlier_failure(self, name: str, stages: tuple[str, ...]) -> Diagnostic | None:
        found = self._diags(name, stages)
        return found[0] if found else None

    # ------------------------------------------------------------------ checks

    def check(self, name: str, check: str) -> CheckResult:
        fn = getattr(self, f"check_{check}", None)
        if fn is None:
            raise ValueError(f"unknown check {check!r}; known: {', '.join(CHECKS)}")
        if name == PATHS_ENTRY and check != "discovery":
            return CheckResult(name, check, "skipped", "only discovery applies to the given paths")
        result: CheckResult = fn(name)
        return result

    def _skip_after(self, name: str, check: str, stages: tuple[str, ...]) -> CheckResult | None:
        d = self._earlier_failure(name, stages)
        if d is None:
            return None
        stage = describe(d.code).stage
        return CheckResult(name, check, "skipped", f"{name}: not checked: {stage} failed ({d.code})",
                           {"blocked_by": d.code})

    def check_discovery(self, name: str) -> CheckResult:
        problems = self._diags(name, ("discovery",))
        warnings = [d for d in self._diags(name, ("discovery",), errors_only=False) if not d.is_error]
        notes = {"warnings": [str(d) for d in warnings]} if warnings else {}
        if problems:
            return CheckResult(name, "discovery", "failed", _explain(name, "discovery", problems, warnings),
                               {"codes": [d.code for d in problems], **notes})
        cand = next((c for c in self.inspection.candidates if c.name == name), None)
        if cand is None:
            return CheckResult(name, "discovery", "failed", f"{name}: discovery failed: not discovered")
        details: dict[str, Any] = {"version": cand.version, "component": cand.component_path.name,
                                   "source": cand.source, **notes}
        message = "manifest valid, name unique, component inside"
        if warnings:
            message += "; warnings: " + "; ".join(f"{d.code} [{d.subject}]: {d.message}" for d in warnings)
        return CheckResult(name, "discovery", "passed", message, details)

    def _binary(self, name: str) -> Path | None:
        cand = next((c for c in self.inspection.candidates if c.name == name), None)
        if cand is None:
            return None
        if cand.source != "wat":
            return cand.component_path
        from ..pipeline._wat import assemble_wat_file

        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ext-suite-")
        out = Path(self._tmp.name) / f"{name}.wasm"
        out.write_bytes(assemble_wat_file(cand.component_path))
        return out

    def check_analysis(self, name: str) -> CheckResult:
        skipped = self._skip_after(name, "analysis", ("discovery",))
        if skipped is not None:
            return skipped
        problems = self._diags(name, ("analysis",))
        if problems:
            return CheckResult(name, "analysis", "failed", _explain(name, "analysis", problems),
                               {"codes": [d.code for d in problems]})
        a = self.inspection.get(name)
        if a is None:
            return CheckResult(name, "analysis", "failed", f"{name}: analysis failed: not analysed")
        interface = a.render_interface()
        notes: list[str] = []
        tool = wasm_tools()
        binary = self._binary(name)
        if tool is None or binary is None:
            notes.append("wasm-tools not found: `wasm-tools validate` not run")
        else:
            proc = subprocess.run([tool, "validate", str(binary)], capture_output=True, text=True,
                                  timeout=120, check=False)
            if proc.returncode != 0:
                return CheckResult(name, "analysis", "failed",
                                   f"{name}: analysis failed\n  `wasm-tools validate` rejects "
                                   f"{a.candidate.component_path.name}: {proc.stderr.strip()}\n"
                                   f"    fix: {describe('invalid-component').hint}")
            notes.append("wasm-tools validate: ok")
            m = a.candidate.manifest
            if m.world:
                wit = a.candidate.root / (m.wit or "wit")
                proc = subprocess.run([tool, "component", "targets", str(wit), "--world", m.world,
                                       str(binary)], capture_output=True, text=True, timeout=120,
                                      check=False)
                if proc.returncode != 0:
                    why = proc.stderr.strip().replace(str(a.candidate.root) + "/", "")
                    return CheckResult(name, "analysis", "failed",
                                       f"{name}: analysis failed\n  the component does not target world "
                                       f"{m.world} of {m.wit or 'wit'}/: {why}\n"
                                       "    fix: rebuild the component against that world, or correct "
                                       "`world`/`wit` in extension.toml")
                notes.append(f"targets {m.world}: ok")
        return CheckResult(name, "analysis", "passed", "; ".join(notes),
                           {"interface": interface, "cached": a.cached,
                            "compile_seconds": round(a.compile_seconds, 3)})

    def check_resolution(self, name: str) -> CheckResult:
        skipped = self._skip_after(name, "resolution", ("discovery", "analysis"))
        if skipped is not None:
            return skipped
        res = self.inspection.resolution
        links = [link.to_json() for link in res.links_of(name)]
        problems = self._diags(name, ("resolution",))
        warnings = [str(d) for d in self._diags(name, ("resolution",), errors_only=False) if not d.is_error]
        details: dict[str, Any] = {"links": links, "status": res.status.get(name, "error")}
        if warnings:
            details["warnings"] = warnings
        if problems:
            details["codes"] = [d.code for d in problems]
            details["missing"] = [d.subject for d in problems if d.code == "missing-import" and d.subject]
            details["mismatched"] = [str(d.details["provider"]) for d in problems
                                     if d.code == "type-mismatch" and d.details.get("provider")]
            cycle = next((d.details.get("cycle") for d in problems if d.code == "cycle"), None)
            if isinstance(cycle, list | tuple) and name in cycle:
                at = list(cycle).index(name)
                details["cycle_next"] = str(list(cycle)[(at + 1) % len(cycle)])
            return CheckResult(name, "resolution", "failed", _explain(name, "resolution", problems), details)
        served = ", ".join(f"{link['import']} ← {link['provider']}" for link in links)
        return CheckResult(name, "resolution", "passed",
                           f"every library import served ({served})" if links else "no library imports",
                           details)

    def _linked(self, name: str, check: str) -> tuple[Host | None, CheckResult | None]:
        skipped = self._skip_after(name, check, ("discovery", "analysis", "resolution"))
        if skipped is not None:
            return None, skipped
        host = self.host()
        if host is None:
            return None, CheckResult(name, check, "failed", f"{name}: the host failed: {self._host_error}")
        return host, None

    def check_linking(self, name: str) -> CheckResult:
        host, early = self._linked(name, "linking")
        if early is not None or host is None:
            return early or CheckResult(name, "linking", "failed", "no host")
        problems = self._diags(name, ("linking",), diags=host.diagnostics)
        if problems:
            return CheckResult(name, "linking", "failed", _explain(name, "linking", problems),
                               {"codes": [d.code for d in problems]})
        if name not in host.runtimes:
            return CheckResult(name, "linking", "failed",
                               f"{name}: linking failed: not loaded ({host.status.get(name)})")
        inits = [e for e in host.events if e.extension == name and e.kind == "init"]
        rt = host.runtimes[name]
        return CheckResult(name, "linking", "passed",
                           "instantiated" + (" and init succeeded" if inits else " (no init)"),
                           {"limits": {k: v for k, v in asdict(rt.limits).items() if v is not None}})

    def _function_key(self, host: Host, name: str, ref: str) -> str | None:
        rt = host.runtimes[name]
        key = rt.canonical(ref)
        if key is not None:
            return key
        iface, _, func = ref.rpartition("#")
        parsed = InterfaceName.parse(iface) if iface else None
        if parsed is None:
            return None
        for k in rt.function_keys():
            kiface, _, kfunc = k.rpartition("#")
            other = InterfaceName.parse(kiface) if kiface else None
            if kfunc == func and other is not None and other.compatible_with(parsed):
                return k
        return None

    def _signature(self, host: Host, name: str, key: str) -> FuncT | None:
        return host.runtimes[name].signature(key)

    def check_behaviour(self, name: str) -> CheckResult:
        host, early = self._linked(name, "behaviour")
        if early is not None or host is None:
            return early or CheckResult(name, "behaviour", "failed", "no host")
        if name not in host.runtimes:
            return CheckResult(name, "behaviour", "skipped", f"{name}: not checked: linking failed")
        # an ignored key in an example (`expected = ...` for `expect`) silently weakens it: that
        # example fails (it is not run); the others still run, so one run reports every problem
        typos = [d for d in self._diags(name, ("discovery",), errors_only=False)
                 if d.code == "unknown-manifest-key" and (d.subject or "").startswith("conformance.")]
        mistyped = {int(m.group(1)) for d in typos if (m := _EXAMPLE_INDEX.match(d.subject or ""))}
        examples = [(j, e) for j, e in enumerate(host.runtimes[name].analysed.candidate.manifest.examples)
                    if e.command is None]
        if not examples and not typos:
            return CheckResult(name, "behaviour", "skipped",
                               f"{name}: no [[conformance.example]] entries in extension.toml")
        failures: list[str] = []
        ran: list[dict[str, Any]] = []
        for i, (j, ex) in enumerate(examples, 1):
            if j in mistyped:
                continue
            for mode in ("sync", "async"):
                problem = self._run_example(host, name, ex, mode)
                ran.append({"example": i, "function": ex.function, "mode": mode, "ok": problem is None})
                if problem is not None:
                    failures.append(f"  example {i} ({mode}) {ex.function}{_args(ex)}: {problem}")
        lines: list[str] = []
        if typos:
            keys = ", ".join(f"`{d.subject}`" for d in typos)
            lines += [f"  unknown-manifest-key: extension.toml: {keys} ignored, so the example does not check "
                      "what it says (not run)",
                      f"    fix: check the spelling; an example's keys are {_EXAMPLE_KEYS}"]
        if failures:
            lines += [*failures, "    fix: correct the extension, or the [[conformance.example]] entry"]
        if lines:
            counts = [f"{len(failures)} of {len(ran)} runs"] if ran else []
            counts += [f"{len(mistyped)} example(s) with unknown keys"] if mistyped else []
            return CheckResult(name, "behaviour", "failed",
                               f"{name}: behaviour failed ({'; '.join(counts) or 'unknown keys'})\n"
                               + "\n".join(lines),
                               {"runs": ran, **({"codes": ["unknown-manifest-key"]} if typos else {})})
        return CheckResult(name, "behaviour", "passed",
                           f"{len(examples)} example(s) matched, sync and async", {"runs": ran})

    def _run_example(self, host: Host, name: str, ex: ConformanceExample, mode: str) -> str | None:
        from ..model._errors import CallError
        from ..runtime._values import to_json as values_to_json
        from ..runtime._values import to_python as values_to_python
        from ._compare import same_json

        key = self._function_key(host, name, ex.function)
        if key is None:
            known = list(host.runtimes[name].function_keys())
            near = difflib.get_close_matches(ex.function, known, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}? " if near else ""
            return f"no-such-function: {hint}it exports {', '.join(known)}"
        sig = self._signature(host, name, key)
        if sig is None:
            return "cannot read the function's type"
        if len(ex.args) != len(sig.params):
            return f"expects {len(sig.params)} argument(s), the example gives {len(ex.args)}"
        try:
            args = tuple(values_to_python(a, t) for a, (_, t) in zip(ex.args, sig.params, strict=True))
        except Exception as e:
            return f"arguments do not fit the parameter types: {e}"
        try:
            value = host.call(name, key, *args) if mode == "sync" else asyncio.run(host.acall(name, key, *args))
        except CallError as e:
            if ex.expect_error is not None:
                if e.code == ex.expect_error:
                    return None
                return f"expected error {ex.expect_error!r}, got {e.code}: {e.message.splitlines()[0]}"
            return f"unexpected error {e.code}: {e.message.splitlines()[0]}"
        if ex.expect_error is not None:
            return f"expected error {ex.expect_error!r}, but it returned {values_to_json(value, sig.result)!r}"
        got = values_to_json(value, sig.result)
        if ex.has_expect and not same_json(ex.expect, got, sig.result):
            return f"expected {ex.expect!r}, got {got!r}"
        return None

    def check_composition(self, name: str) -> CheckResult:
        """The examples give the same values and error codes under both link modes: the extension
        behaves the same statically composed (what wasmtime's linker, wac and Spin run)."""
        host, early = self._linked(name, "composition")
        if early is not None or host is None:
            return early or CheckResult(name, "composition", "failed", "no host")
        if name not in host.runtimes:
            return CheckResult(name, "composition", "skipped", f"{name}: not checked: linking failed")
        if not self.inspection.resolution.links_of(name):
            return CheckResult(name, "composition", "skipped",
                               f"{name} imports no library: both link modes load it the same way")
        examples = [e for e in host.runtimes[name].analysed.candidate.manifest.examples if e.command is None]
        if not examples:
            return CheckResult(name, "composition", "skipped",
                               f"{name}: no [[conformance.example]] entries in extension.toml")
        mine, theirs = self.settings.link, self.other_link
        other = self.other_host()
        if other is None:
            return CheckResult(name, "composition", "failed", f"{name}: the {theirs} host failed: {self._other_error}")
        if name not in other.runtimes:
            problems = [d for d in other.errors if d.extension == name]
            return CheckResult(name, "composition", "failed",
                               _explain(name, f"composition ({theirs} link)", problems) if problems else
                               f"{name}: composition failed: not loaded with link={theirs!r}",
                               {"codes": [d.code for d in problems]})
        failures: list[str] = []
        runs: list[dict[str, Any]] = []
        for i, ex in enumerate(examples, 1):
            a, b = self._outcome(host, name, ex), self._outcome(other, name, ex)
            same = a == b or (a[0] == b[0] == "value" and same_json(a[1], b[1], a[2]))
            runs.append({"example": i, "function": ex.function, "same": same, mine: list(a[:2]), theirs: list(b[:2])})
            if not same:
                failures.append(f"  example {i} {ex.function}{_args(ex)}: link={mine} gave {_shown(a)}, "
                                f"link={theirs} gave {_shown(b)}")
        if failures:
            return CheckResult(name, "composition", "failed",
                               f"{name}: composition failed ({len(failures)} of {len(runs)} examples differ)\n"
                               + "\n".join(failures) + "\n    fix: an extension must not depend on sharing a "
                               "provider's state or Store with other extensions (see docs/linking.md)",
                               {"runs": runs})
        return CheckResult(name, "composition", "passed",
                           f"{len(runs)} example(s) gave the same results linked dynamic and fused", {"runs": runs})

    def check_resources(self, name: str) -> CheckResult:
        """After the behaviour examples of the extension and of every extension linked to it, no other
        extension still holds one of its resources: each handle handed out was dropped (through
        `resource.drop` on the provider's Store, which runs its destructor), so none leaks."""
        host, early = self._linked(name, "resources")
        if early is not None or host is None:
            return early or CheckResult(name, "resources", "failed", "no host")
        if name not in host.runtimes:
            return CheckResult(name, "resources", "skipped", f"{name}: not checked: linking failed")
        exported = [f"{ep.name}#{rname}" for ep in host.runtimes[name].analysed.exports
                    if isinstance(ep.item, InstanceT)
                    for rname, it in ep.item.exports if isinstance(it, ResourceItem)]
        if not exported:
            return CheckResult(name, "resources", "skipped", f"{name} exports no resource")
        users = [name, *sorted({lk.consumer for lk in self.inspection.resolution.links
                                if lk.provider == name and lk.consumer in host.runtimes})]
        runs = 0
        for user in users:  # outcomes are the behaviour check's business; here only what is left held counts
            for ex in host.runtimes[user].analysed.candidate.manifest.examples:
                if ex.command is None:
                    self._outcome(host, user, ex)
                    runs += 1
        held = host.held_handles(name)
        details = {"resources": exported, "example_runs": runs, "held": held}
        if held:
            who = ", ".join(f"{c} ({n})" for c, n in sorted(held.items()))
            return CheckResult(name, "resources", "failed",
                               f"{name}: resources leaked: after {runs} example run(s), handles of {name}'s "
                               f"resources are still held by {who}\n    fix: drop every handle when done "
                               "(JavaScript: `h[Symbol.dispose]()`; Rust: let it go out of scope; WAT: "
                               "`resource.drop`)", {**details, "codes": ["resource-leak"]})
        if runs == 0:
            return CheckResult(name, "resources", "skipped",
                               f"{name}: no [[conformance.example]] of it or of an extension importing it "
                               "exercises its resources", details)
        return CheckResult(name, "resources", "passed",
                           f"no handle of {', '.join(exported)} held after {runs} example run(s) "
                           f"of {', '.join(users)}", details)

    def _outcome(self, host: Host, name: str, ex: ConformanceExample) -> tuple[str, Any, Any]:
        """("value", JSON, type), ("error", code, None), or ("problem", text, None) for one example call."""
        from ..model._errors import CallError
        from ..runtime._values import to_json as values_to_json
        from ..runtime._values import to_python as values_to_python

        key = self._function_key(host, name, ex.function)
        sig = self._signature(host, name, key) if key is not None else None
        if key is None or sig is None or len(ex.args) != len(sig.params):
            return ("problem", "the example does not fit the function (see the behaviour check)", None)
        try:
            args = tuple(values_to_python(a, t) for a, (_, t) in zip(ex.args, sig.params, strict=True))
            value = host.call(name, key, *args)
        except CallError as e:
            return ("error", e.code, None)
        except Exception as e:
            return ("problem", f"{type(e).__name__}: {e}", None)
        return ("value", values_to_json(value, sig.result), sig.result)

    def check_commands(self, name: str) -> CheckResult:
        host, early = self._linked(name, "commands")
        if early is not None or host is None:
            return early or CheckResult(name, "commands", "failed", "no host")
        if name not in host.runtimes:
            return CheckResult(name, "commands", "skipped", f"{name}: not checked: linking failed")
        if not any(k.startswith("ext:host/commands@") for k in host.runtimes[name].function_keys()):
            return CheckResult(name, "commands", "skipped", f"{name} exports no ext:host/commands interface")
        ok, message = conformance_check(host, name)
        return CheckResult(name, "commands", "passed" if ok else "failed", message)

    def check_regression(self, name: str) -> CheckResult:
        skipped = self._skip_after(name, "regression", ("discovery", "analysis"))
        if skipped is not None:
            return skipped
        a = self.inspection.get(name)
        folder = self.settings.snapshot_dir
        if a is None or folder is None:
            return CheckResult(name, "regression", "skipped", "no snapshot folder configured")
        current = snapshot_of(a)
        old = read_snapshot(folder, name)
        if self.settings.snapshot_update:
            if old is None or old.to_json() != current.to_json():
                write_snapshot(current, folder)
                return CheckResult(name, "regression", "passed", f"interface snapshot written to {name}.json",
                                   {"updated": True})
            return CheckResult(name, "regression", "passed", "interface unchanged")
        if old is None:
            return CheckResult(name, "regression", "skipped",
                               f"{name}: no interface snapshot yet in {folder}; record one by running "
                               "the same command with --snapshot-update")
        ok, message = verdict(old, current)
        return CheckResult(name, "regression", "passed" if ok else "failed", message)


def _shown(outcome: tuple[str, Any, Any]) -> str:
    kind, what, _ = outcome
    return f"error {what}" if kind == "error" else f"{what!r}" if kind == "value" else f"({what})"


def _args(ex: ConformanceExample) -> str:
    text = ", ".join(repr(a) for a in ex.args)
    return f"({text[:80]}{'…' if len(text) > 80 else ''})"
