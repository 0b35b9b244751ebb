"""What the host serves to an extension's imports, checked before anything is linked.

The invariant: if `inspect` says an extension is ok, `Host.load` links it. The
linker (`Host._link_one`) serves exactly

* `wasi:*` imports with wasmtime's WASI p2 (`Linker.add_wasip2`: the 0.2.x
  interfaces of wasi:io, clocks, random, cli, filesystem and sockets; not
  wasi:http, not 0.3, not unversioned names);
* `ext:host/*` imports with an interface given to `Host.load(interfaces=...)`
  or else the host API (`HOST_API`), functions only;
* library imports with proxies into the resolved provider: functions, and resources as host
  resource types whose handles the host translates (`runtime._handles`);

and nothing else. `check_links` turns everything outside that into a coded
diagnostic for the import (`unsupported-import` or `missing-import`), then
confirms the rest by linking the compiled component the way the host will, in a
throwaway Store whose instance limit is 0: wasmtime type-checks every import
before it creates the first core instance, so the check runs no guest code
(no start function, no allocation) and costs about 0.2 ms.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import wasmtime
from wasmtime import component as wc

from ..model._diagnostics import Diagnostic
from ..model._names import InterfaceName
from ..model._records import Analysed, Endpoint
from ..model._witypes import FuncT, InstanceT, ModuleItem, ResourceItem, TypeItem

__all__ = ["HOST_API", "ServedInterfaces", "check_limits", "check_links", "host_interface_for",
           "served_interfaces"]

# The host API's imports and the functions the host defines for each. `Host._link_one`
# should take its list from here, so the check and the linker cannot disagree.
HOST_API: Mapping[str, tuple[str, ...]] = {"ext:host/log@0.1.0": ("log",)}

# interface name → the functions it has (None: not known, so not checked)
ServedInterfaces = Mapping[str, Collection[str] | None]

_WASI_SERVED = "wasmtime's WASI 0.2 (wasi:io, clocks, random, cli, filesystem and sockets, versions 0.2.x)"
_NAMED_IMPORT = re.compile(r"imports (?:instance|function|resource|module|component|type) `([^`]+)`")
_LIMIT_REACHED = "instance count too high"


def served_interfaces(interfaces: Iterable[str] | Mapping[str, Any]) -> dict[str, Collection[str] | None]:
    """`Host.load(interfaces=...)` as a `ServedInterfaces`: a mapping keeps its function names
    (`{"ns:pkg/iface@1.0.0": {"f": callable}}`), a plain list of names has none to check."""
    if isinstance(interfaces, Mapping):
        out: dict[str, Collection[str] | None] = {}
        for name, funcs in interfaces.items():
            out[str(name)] = frozenset(str(f) for f in funcs) if isinstance(funcs, Iterable) else None
        return out
    return {str(name): None for name in interfaces}


def host_interface_for(name: str, served: ServedInterfaces
                       ) -> tuple[str, Collection[str] | None, bool] | None:
    """(served interface, its functions, whether it comes from `Host.load(interfaces=...)`)
    for a host-kind import, or None if nothing serves it. Same order as the linker:
    the interfaces given to `Host.load` first, then `HOST_API`."""
    parsed = InterfaceName.parse(name)
    if parsed is None:
        return None
    for served_name, funcs in served.items():
        other = InterfaceName.parse(served_name)
        if other is not None and parsed.compatible_with(other):
            return served_name, funcs, True
    for api_name, funcs in HOST_API.items():
        other = InterfaceName.parse(api_name)
        if other is not None and parsed.compatible_with(other):
            return api_name, funcs, False
    return None


def check_links(a: Analysed, engine: wasmtime.Engine, served: ServedInterfaces) -> list[Diagnostic]:
    """Every import of `a` the host cannot serve, as error diagnostics (empty: it links)."""
    found = [d for imp in a.imports for d in _import_problems(a, imp, served)]
    if found:
        return found  # linking would only stop at the first of them
    problem = _trial_link(a, engine, served)
    return [] if problem is None else [problem]


def check_limits(a: Analysed, engine: wasmtime.Engine, served: ServedInterfaces,
                 store_limits: Mapping[str, int]) -> Diagnostic | None:
    """Whether `a` instantiates under the Store limits it will get (`Store.set_limits` keywords).

    Only for an engine with epoch interruption (or fuel), and after `check_links`
    passed. The Store's deadline has already passed (and it has no fuel), so
    wasmtime creates each core instance's memories and tables, checking their
    declared minimums and counts against the limits, and then traps at the entry
    of the first start function, before any of its instructions runs. What a
    start function would do, and anything instantiated after it, is not checked.
    """
    try:
        linker = _linker(a, engine, served)
        store = wasmtime.Store(engine)
        store.set_limits(**store_limits)
        store.set_epoch_deadline(0)
        if any(i.kind == "wasi" for i in a.imports):
            store.set_wasi(wasmtime.WasiConfig())
        try:
            linker.instantiate(store, a.component)
        finally:
            linker.close()
    except Exception as exc:
        text = str(exc)
        if "wasm trap" in text:
            return None  # stopped at a start function's entry (deadline or fuel): all before it fits
        from ._analysis import _summary
        reason = _summary(text) if text else type(exc).__name__
        return _diag("instantiation-failed", a, a.candidate.component_path.name,
                     f"{a.name} cannot be instantiated under its limits: {reason}",
                     hint="raise the limit in [limits] (or the Host.load option), or make the component "
                          "declare less memory, fewer tables or instances",
                     reason=text, limits=dict(store_limits))
    return None


# --------------------------------------------------------------------------- static rules

def _import_problems(a: Analysed, imp: Endpoint, served: ServedInterfaces) -> list[Diagnostic]:
    file = a.candidate.component_path.name
    if imp.kind == "other":
        return [_diag("unsupported-import", a, imp.name,
                      f"{file}: import `{imp.name}` is not an interface name (`namespace:package/interface"
                      "@version`), so nothing can serve it: it is not WASI, not the host API and not an "
                      "interface another extension can export",
                      hint="import it through an interface (`ns:pkg/iface@x.y.z`); a component built with "
                           "a plain-named import is built against another host")]
    if imp.kind not in ("host", "library") or not isinstance(imp.item, InstanceT):
        return []
    out: list[Diagnostic] = []
    for item_name, item in imp.item.exports:
        if isinstance(item, (FuncT, TypeItem)):
            continue
        if isinstance(item, ResourceItem) and imp.kind == "library":
            continue  # defined as a host resource type; handles are translated (runtime._handles)
        what = ("a resource" if isinstance(item, ResourceItem) else "a core module" if isinstance(item, ModuleItem)
                else "an instance" if isinstance(item, InstanceT) else "a component")
        owner = "host" if imp.kind == "host" else "library"
        out.append(_diag("unsupported-import", a, imp.name,
                         f"{file}: import `{imp.name}` has {what} `{item_name}`; the host links only the "
                         f"functions (and plain types) of {owner} interfaces",
                         hint="pass such values as records or handles made of plain types, or compose the "
                              "two components statically (`wasm-tools compose`)",
                         item=item_name))
    if imp.kind != "host":
        return out
    target = host_interface_for(imp.name, served)
    if target is None:
        offered = sorted({*HOST_API, *served})
        out.append(_diag("missing-import", a, imp.name,
                         f"{a.name} imports {imp.name}, which the host does not provide "
                         f"(it provides {', '.join(offered)})",
                         hint="import a version of an interface the host provides, or give the host an "
                              "implementation with Host.load(..., interfaces={...})",
                         provided=offered))
        return out
    served_name, funcs, _ = target
    if funcs is not None:
        for fname, _ in imp.item.funcs():
            if fname not in funcs:
                out.append(_diag("missing-import", a, imp.name,
                                 f"{a.name} imports {imp.name}#{fname}, which the host's {served_name} lacks",
                                 hint=f"the host's {served_name} has: {', '.join(sorted(funcs)) or 'nothing'}",
                                 function=fname, provider=served_name))
    return out


# --------------------------------------------------------------------------- trial link

def _trial_link(a: Analysed, engine: wasmtime.Engine, served: ServedInterfaces) -> Diagnostic | None:
    """Link `a` as `Host._link_one` does, with stub functions, in a Store that may not instantiate.

    Stubs never run: with `instances=0` instantiation stops at the first core
    instance, after every import has been type-checked. Host-defined functions are
    dynamically typed in wasmtime, so what is checked here is what the linker
    checks: names and kinds for host and library imports, full types for WASI.
    """
    try:
        linker = _linker(a, engine, served)
        uses_wasi = any(i.kind == "wasi" for i in a.imports)
        store = wasmtime.Store(engine)
        store.set_limits(memory_size=0, table_elements=0, instances=0, tables=0, memories=0)
        if uses_wasi:
            store.set_wasi(wasmtime.WasiConfig())
        try:
            linker.instantiate(store, a.component)
        finally:
            linker.close()
    except Exception as exc:  # wasmtime's link error, or anything else: a diagnostic, never an exception
        return _trial_failure(a, exc)
    return None  # no core instance at all: nothing could run, and it linked


def _linker(a: Analysed, engine: wasmtime.Engine, served: ServedInterfaces) -> Any:
    """A Linker defining what `Host._link_one` defines for `a`, with stubs for functions."""
    linker = wc.Linker(engine)
    if any(i.kind == "wasi" for i in a.imports):
        linker.add_wasip2()
    with linker.root() as root:
        for imp in a.imports:
            if not isinstance(imp.item, InstanceT):
                continue
            if imp.kind == "host":
                target = host_interface_for(imp.name, served)
                if target is None:
                    continue
                _, funcs, from_python = target
                wanted = [f for f, _ in imp.item.funcs()] if from_python or funcs is None else list(funcs)
                _define(root, imp.name, wanted)
            elif imp.kind == "library":
                resources = [n for n, i in imp.item.exports if isinstance(i, ResourceItem)]
                _define(root, imp.name, [f for f, _ in imp.item.funcs()], resources)
    return linker


def _define(root: Any, name: str, funcs: Iterable[str], resources: Iterable[str] = ()) -> None:
    with root.add_instance(name) as inst:
        for i, rname in enumerate(resources):  # as `Host._define_proxies` does: host resource types
            inst.add_resource(rname, wc.ResourceType.host(i + 1), _no_dtor)
        for fname in funcs:
            inst.add_func(fname, _stub)


def _no_dtor(*_args: object) -> None:  # pragma: no cover - no resource exists in the trial
    pass


def _stub(*_args: object) -> None:  # pragma: no cover - never called: no guest code runs in the trial
    raise RuntimeError("ext-harness link check: this stub must not be called")


def _trial_failure(a: Analysed, exc: Exception) -> Diagnostic | None:
    text = str(exc)
    if _LIMIT_REACHED in text:
        return None  # every import type-checked; stopped before the first core instance
    from ._analysis import _summary
    # wasmtime's first line repeats the import's name; the "Caused by" lines say what is wrong
    first, _, causes = text.partition("\n")
    reason = _summary(causes if causes.strip() else first) if text else type(exc).__name__
    file = a.candidate.component_path.name
    m = _NAMED_IMPORT.search(text)
    if m is None:
        return _diag("instantiation-failed", a, file, f"{a.name} cannot be linked: {reason}",
                     reason=text)
    name = m[1]
    kind = next((i.kind for i in a.imports if i.name == name), None)
    if kind == "wasi":
        message = f"{file}: import `{name}` is not served by the host's WASI, which is {_WASI_SERVED}: {reason}"
        hint = "build against WASI 0.2 (wasi:*@0.2.x) and only the interfaces listed, or stub them out"
    else:
        message = f"{file}: import `{name}` cannot be linked: {reason}"
        hint = ""
    return _diag("unsupported-import", a, name, message, hint=hint, reason=text)


def _diag(code: str, a: Analysed, subject: str, message: str, *, hint: str = "",
          **details: Any) -> Diagnostic:
    return Diagnostic(code, message, extension=a.name, subject=subject, hint=hint,
                      details={"path": str(a.candidate.component_path), "import": subject, **details})


