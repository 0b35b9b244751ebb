"""Command registry: namespacing, duplicates, errors, sync and async runs (mock components).

The mock command extensions forward `list-commands` and `run` to a host-served
interface, so each test decides in Python what the guest answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wasmtime.component import Variant

from harness.cli import main as cli_main
from harness.cli._args import split_run_positionals
from harness.model._errors import (
    BadArgumentsError,
    CommandFailedError,
    NoSuchCommandError,
    TrapError,
)
from harness.model._witypes import ValueType
from harness.pytest_plugin._command_checks import conformance_check
from harness.runtime._commands import CommandArg, CommandInfo, CommandRegistry
from harness.runtime._host import Host
from harness.testing import (
    BOOL,
    S32,
    STRING,
    AddParams,
    Const,
    Forward,
    MockExtension,
    Trap,
    ext,
    fn,
    iface,
    list_of,
    record,
    result,
    write_extension,
)

ARG = record(name=STRING, description=STRING, required=BOOL)
CMD = record(name=STRING, description=STRING, args=list_of(ARG))
TYPES = [("argument", ARG), ("command", CMD)]
RUN_PARAMS: list[tuple[str, ValueType]] = [("name", STRING), ("args", list_of(STRING))]


def commands_iface(version: str = "0.1.0", *, list_behaviour: Any = None, run_behaviour: Any = None,
                   run_result: Any = None, callback: str | None = None) -> Any:
    lb = list_behaviour or (Forward(callback, "list-commands") if callback else Const([]))
    rb = run_behaviour or (Forward(callback, "run") if callback else Const(Variant("ok", "")))
    return iface(f"ext:host/commands@{version}",
                 fn("list-commands", (), list_of(CMD), lb),
                 fn("run", RUN_PARAMS, run_result or result(STRING, STRING), rb),
                 type_names=TYPES)


def cmd(name: str, description: str = "", *args: tuple[str, bool]) -> dict[str, Any]:
    """A `command` record as the host function hands it to the guest (a dict: docs/values.md)."""
    return {"name": name, "description": description,
            "args": [{"name": a, "description": f"the {a}", "required": req} for a, req in args]}


class Guest:
    """The Python side of one mock command extension: what it lists and how it runs."""

    def __init__(self, name: str, commands: list[dict[str, Any]],
                 run: Callable[[str, list[str]], Any] | None = None) -> None:
        self.name = name
        self.commands = commands
        self.listed = 0
        self.runs: list[tuple[str, list[str]]] = []
        self._run = run or (lambda n, a: {"ok": f"{name}:{n}({' '.join(a)})"})

    @property
    def callback(self) -> str:
        return f"test:{self.name}/cmds@1.0.0"

    def list_commands(self) -> list[dict[str, Any]]:
        self.listed += 1
        return self.commands

    def run(self, name: str, args: list[str]) -> Any:
        self.runs.append((name, list(args)))
        return self._run(name, args)

    def mock(self, version: str = "0.1.0") -> MockExtension:
        cb = iface(self.callback, fn("list-commands", (), list_of(CMD)),
                   fn("run", RUN_PARAMS, result(STRING, STRING)), type_names=TYPES)
        return ext(self.name, exports=[commands_iface(version, callback=self.callback)], imports=[cb])

    def served(self) -> dict[str, dict[str, Callable[..., Any]]]:
        return {self.callback: {"list-commands": self.list_commands, "run": self.run}}


def load(tmp_path: Path, *items: Guest | MockExtension, **config: Any) -> Host:
    interfaces: dict[str, dict[str, Callable[..., Any]]] = {}
    for item in items:
        if isinstance(item, Guest):
            write_extension(item.mock(), tmp_path)
            interfaces.update(item.served())
        else:
            write_extension(item, tmp_path)
    return Host.load(tmp_path, interfaces=interfaces, **config)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Host, Guest, Guest]]:
    def beta_run(name: str, args: list[str]) -> dict[str, str]:
        if name == "fail":
            return {"err": f"cannot {' '.join(args)}"}
        return {"ok": f"beta {name} {args}"}

    alpha = Guest("alpha", [cmd("hello", "greets", ("who", True)), cmd("only-a")])
    beta = Guest("beta", [cmd("hello", "also greets"), cmd("fail", "always fails", ("what", False))], beta_run)
    with load(tmp_path, alpha, beta) as host:
        assert host.status == {"alpha": "ok", "beta": "ok"}, host.diagnostics
        yield host, alpha, beta


# --------------------------------------------------------------------------- listing


def test_list_is_namespaced_and_sorted(two: tuple[Host, Guest, Guest]) -> None:
    host, _, _ = two
    infos = host.commands.list()
    assert [(c.name, c.qualified, c.unique) for c in infos] == [
        ("fail", "beta:fail", True),
        ("hello", "alpha:hello", False),
        ("hello", "beta:hello", False),
        ("only-a", "alpha:only-a", True),
    ]
    hello = infos[1]
    assert hello == CommandInfo("hello", "alpha:hello", "alpha", "greets",
                                (CommandArg("who", "the who", True),), unique=False)
    assert hello.usage == "alpha:hello <who>"
    assert infos[0].usage == "fail [what]"
    assert hello.to_json()["args"] == [{"name": "who", "description": "the who", "required": True}]
    assert len(host.commands) == 4
    assert "only-a" in host.commands and "beta:hello" in host.commands
    assert "hello" not in host.commands


def test_duplicate_command_is_a_warning_and_both_stay_reachable(two: tuple[Host, Guest, Guest]) -> None:
    host, alpha, beta = two
    (diag,) = host.commands.diagnostics
    assert diag.code == "duplicate-command"
    assert diag.severity == "warning"
    assert diag.subject == "hello"
    assert "alpha" in diag.message and "beta" in diag.message and "alpha:hello" in diag.message
    assert diag.details["extensions"] == ["alpha", "beta"]
    assert host.commands.run("alpha:hello", ["bob"]) == "alpha:hello(bob)"
    assert host.commands.run("beta:hello", []) == "beta hello []"
    with pytest.raises(NoSuchCommandError, match="ambiguous") as e:
        host.commands.run("hello", [])
    assert e.value.details["candidates"] == ["alpha:hello", "beta:hello"]
    assert "alpha:hello" in str(e.value) and "beta:hello" in str(e.value)
    assert alpha.runs == [("hello", ["bob"])]
    assert beta.runs == [("hello", [])]
    # Warnings of the registry are its own: the load itself stays clean.
    assert host.diagnostics == ()


def test_list_commands_is_called_once(two: tuple[Host, Guest, Guest]) -> None:
    host, alpha, beta = two
    assert alpha.listed == 0  # nothing is called before the registry is used
    registry = host.commands
    assert host.commands is registry
    registry.list()
    registry.run("only-a", [])
    assert (alpha.listed, beta.listed) == (1, 1)


def test_bare_unique_name_runs_with_args(two: tuple[Host, Guest, Guest]) -> None:
    host, alpha, _ = two
    assert host.commands.run("only-a", ["x", "y z", "é"]) == "alpha:only-a(x y z é)"
    assert alpha.runs == [("only-a", ["x", "y z", "é"])]
    assert host.commands.run("only-a") == "alpha:only-a()"


# --------------------------------------------------------------------------- errors


def test_command_failed(two: tuple[Host, Guest, Guest]) -> None:
    host, _, _ = two
    with pytest.raises(CommandFailedError) as e:
        host.commands.run("fail", ["to", "fly"])
    err = e.value
    assert err.code == "command-failed"
    assert err.extension == "beta" and err.function == "beta:fail"
    assert err.message == "beta:fail failed: cannot to fly"
    assert err.details == {"error": "cannot to fly", "args": ["to", "fly"]}
    assert err.to_json()["hint"] == "read the command's message"


@pytest.mark.parametrize(("name", "match"), [
    ("helo", "did you mean"),
    ("zzz-nothing", "commands: alpha:hello, alpha:only-a, beta:fail, beta:hello, fail, only-a"),
    ("gamma:hello", "no extension named 'gamma' is loaded"),
    ("alpha:nope", "no command 'alpha:nope'"),
])
def test_no_such_command(two: tuple[Host, Guest, Guest], name: str, match: str) -> None:
    host, _, _ = two
    with pytest.raises(NoSuchCommandError, match=match) as e:
        host.commands.run(name, [])
    assert e.value.code == "no-such-command"
    assert isinstance(e.value, LookupError)


def test_extension_without_commands(tmp_path: Path) -> None:
    plain = ext("plain", exports=[iface("ext:plain/lib@1.0.0", fn("add", [("a", S32), ("b", S32)], S32,
                                                                   AddParams()))])
    with load(tmp_path, plain) as host:
        assert host.commands.list() == []
        assert host.commands.diagnostics == ()
        with pytest.raises(NoSuchCommandError, match="plain offers no commands"):
            host.commands.run("plain:add", ["1"])
        with pytest.raises(NoSuchCommandError, match="commands: none"):
            host.commands.run("add", [])


def test_bad_arguments(two: tuple[Host, Guest, Guest]) -> None:
    host, alpha, _ = two
    with pytest.raises(BadArgumentsError, match="list of strings"):
        host.commands.run("only-a", "abc")
    with pytest.raises(BadArgumentsError, match="must be a string, got int 3"):
        host.commands.run("only-a", ["1", 3])  # type: ignore[list-item]
    assert alpha.runs == []


def test_trap_in_run_is_the_call_error_and_the_extension_restarts(tmp_path: Path) -> None:
    trapping = ext("trappy", exports=[commands_iface(
        list_behaviour=Const([{"name": "boom", "description": "", "args": []}]), run_behaviour=Trap())])
    with load(tmp_path, trapping) as host:
        assert [c.qualified for c in host.commands.list()] == ["trappy:boom"]
        with pytest.raises(TrapError) as e:
            host.commands.run("boom", [])
        assert e.value.code == "trap" and e.value.extension == "trappy"
        with pytest.raises(TrapError):  # restarted, traps again: still a clean error
            host.commands.run("trappy:boom", [])


# --------------------------------------------------------------------------- bad-command


def test_list_commands_trapping_is_bad_command(tmp_path: Path) -> None:
    broken = ext("broken", exports=[commands_iface(list_behaviour=Trap())])
    good = Guest("good", [cmd("ok")])
    with load(tmp_path, broken, good) as host:
        (diag,) = host.commands.diagnostics
        assert (diag.code, diag.extension, diag.severity) == ("bad-command", "broken", "error")
        assert diag.subject == "ext:host/commands@0.1.0#list-commands"
        assert "trap" in diag.message
        assert [c.qualified for c in host.commands.list()] == ["good:ok"]
        with pytest.raises(NoSuchCommandError, match="broken offers no commands"):
            host.commands.run("broken:x", [])


def test_wrong_run_type_is_bad_command(tmp_path: Path) -> None:
    wrong = ext("wrong", exports=[commands_iface(run_result=result(STRING),
                                                  run_behaviour=Const(Variant("ok", "x")))])
    with load(tmp_path, wrong) as host:
        (diag,) = host.commands.diagnostics
        assert diag.code == "bad-command" and diag.subject == "ext:host/commands@0.1.0#run"
        assert "result<string, string>" in diag.message and "wrong type" in diag.message


def test_invalid_and_repeated_names_are_bad_command(tmp_path: Path) -> None:
    guest = Guest("names", [cmd(""), cmd("two words"), cmd("a:b"), cmd("fine"), cmd("fine", "again")])
    with load(tmp_path, guest) as host:
        diags = host.commands.diagnostics
        assert [d.code for d in diags] == ["bad-command"] * 4
        assert sorted(d.subject or "" for d in diags) == ["<empty>", "a:b", "fine", "two words"]
        assert [c.qualified for c in host.commands.list()] == ["names:fine"]
        assert host.commands.get("fine").description == ""


def test_version_rule_for_the_commands_interface(tmp_path: Path) -> None:
    newer = Guest("newer", [cmd("n")])
    write_extension(newer.mock("0.1.7"), tmp_path)
    later = Guest("later", [cmd("l")])
    write_extension(later.mock("0.2.0"), tmp_path)  # 0.2 is not compatible with 0.1
    with Host.load(tmp_path, interfaces={**newer.served(), **later.served()}) as host:
        assert [c.qualified for c in host.commands.list()] == ["newer:n"]
        assert host.commands.run("n", []) == "newer:n()"
        assert later.listed == 0


def test_registry_skips_extensions_that_failed_to_load(tmp_path: Path) -> None:
    failing = ext("failing", exports=[commands_iface(
        list_behaviour=Const([{"name": "x", "description": "", "args": []}]))], init=Trap())
    with load(tmp_path, failing, Guest("fine", [cmd("x")])) as host:
        assert host.status["failing"] == "error"
        assert [c.qualified for c in host.commands.list()] == ["fine:x"]
        assert host.commands.run("x") == "fine:x()"


# --------------------------------------------------------------------------- async


def test_arun_and_gather(two: tuple[Host, Guest, Guest]) -> None:
    host, _, _ = two

    async def main() -> list[Any]:
        return list(await asyncio.gather(
            host.commands.arun("alpha:hello", ["a"]),
            host.commands.arun("beta:hello", ["b"]),
            host.commands.arun("fail", ["x"]),
            host.commands.arun("nope", []),
            return_exceptions=True))

    out = asyncio.run(main())
    assert out[0] == "alpha:hello(a)"
    assert out[1] == "beta hello ['b']"
    assert isinstance(out[2], CommandFailedError)
    assert isinstance(out[3], NoSuchCommandError)


def test_registry_can_be_built_directly(two: tuple[Host, Guest, Guest]) -> None:
    host, alpha, _ = two
    fresh = CommandRegistry(host)
    assert [c.qualified for c in fresh.list()] == [c.qualified for c in host.commands.list()]
    assert alpha.listed == 2


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_dir(tmp_path: Path) -> Path:
    listed = [{"name": "greet", "description": "says hi", "args": [
        {"name": "who", "description": "", "required": True}]}]
    write_extension(ext("aa", exports=[commands_iface(list_behaviour=Const(listed),
                                                      run_behaviour=Const(Variant("ok", "hi")))]), tmp_path)
    write_extension(ext("bb", exports=[commands_iface(list_behaviour=Const(listed),
                                                      run_behaviour=Const(Variant("err", "bad")))]), tmp_path)
    return tmp_path


def test_cli_commands_lists_and_warns(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["commands", str(cli_dir)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["aa:greet <who>  aa  says hi", "bb:greet <who>  bb  says hi"]
    assert "warning[duplicate-command]" in err
    assert cli_main(["commands", "--json", str(cli_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["qualified"] for c in doc["commands"]] == ["aa:greet", "bb:greet"]
    assert [d["code"] for d in doc["diagnostics"]] == ["duplicate-command"]


def test_cli_run_exit_codes(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(cli_dir)
    assert cli_main(["run", d, "aa:greet", "x"]) == 0
    assert capsys.readouterr().out == "hi\n"
    assert cli_main(["run", "--async", d, "aa:greet", "x"]) == 0
    assert capsys.readouterr().out == "hi\n"
    assert cli_main(["run", d, "bb:greet"]) == 1
    assert "error[command-failed]: bb:greet failed: bad" in capsys.readouterr().err
    assert cli_main(["run", d, "greet"]) == 1
    assert "ambiguous" in capsys.readouterr().err
    assert cli_main(["run", "--json", d, "bb:greet"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "command-failed"
    assert cli_main(["run", "--json", "-p", d, "aa:greet", "--", "-v"]) == 0
    assert json.loads(capsys.readouterr().out) == {"command": "aa:greet", "output": "hi"}
    assert cli_main(["run", str(cli_dir / "missing"), "greet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["run", d]) == 2
    assert cli_main(["commands"]) == 2


def test_split_run_positionals() -> None:
    exists = {"a", "b"}.__contains__
    assert split_run_positionals(["a", "b", "cmd", "a"], exists=exists) == (["a", "b"], "cmd", ["a"])
    assert split_run_positionals(["a", "b"], exists=exists) == (["a"], "b", [])
    assert split_run_positionals(["x", "y"], ["a"], exists=exists) == (["a"], "x", ["y"])
    with pytest.raises(ValueError, match="does not exist"):
        split_run_positionals(["x", "y"], exists=exists)
    with pytest.raises(ValueError, match="expected"):
        split_run_positionals(["a"], exists=exists)


# --------------------------------------------------------------------------- conformance hook


def test_conformance_check(tmp_path: Path) -> None:
    listed = [{"name": "greet", "description": "", "args": []}]
    examples = {"conformance": {"example": [
        {"command": "greet", "args": ["x"], "expect": "hi"},
        {"command": "greet", "expect": {"ok": "hi"}},
        {"command": "nope", "expect_error": "no-such-command"},
    ]}}
    good = ext("good", exports=[commands_iface(list_behaviour=Const(listed),
                                               run_behaviour=Const(Variant("ok", "hi")))],
               manifest_extra=examples)
    wrong = {"conformance": {"example": [{"command": "greet", "expect": {"err": "no"}}]}}
    liar = ext("liar", exports=[commands_iface(list_behaviour=Const(listed),
                                               run_behaviour=Const(Variant("ok", "hi")))],
               manifest_extra=wrong)
    broken = ext("broken", exports=[commands_iface(list_behaviour=Trap())])
    with load(tmp_path, good, liar, broken) as host:
        ok, message = conformance_check(host, "good")
        assert ok, message
        assert "1 command(s): greet" in message and "3 command example(s) matched" in message
        assert "shared names" in message  # liar offers greet too
        ok, message = conformance_check(host, "liar")
        assert not ok
        assert "expected err 'no', got output 'hi'" in message and "(sync)" in message and "(async)" in message
        ok, message = conformance_check(host, "broken")
        assert not ok and "bad-command" in message
