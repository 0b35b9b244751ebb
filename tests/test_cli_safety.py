"""The command line under hostile input: guest text is escaped before a terminal, JSON output
is valid UTF-8, bad arguments are usage errors (exit 2) instead of tracebacks."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.model._text import json_text, printable
from harness.pytest_plugin._report import CheckRecord, RunReport

ROOT = Path(__file__).resolve().parent.parent
WAT = ROOT / "fixtures" / "wat"
VALUES = str(WAT / "cli_values.wat")
ESC = "\x1b"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- the escaping rule

@pytest.mark.parametrize(("text", "shown"), [
    ("plain text, é, 日本, 🙂", "plain text, é, 日本, 🙂"),
    ("a\nb\tc", "a\nb\tc"),
    ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
    ("cr\rover", "cr\\x0dover"),
    ("\x00\x08\x0b\x0c\x1f\x7f", "\\x00\\x08\\x0b\\x0c\\x1f\\x7f"),
    ("c1 \x85 \x9b31m", "c1 \\x85 \\x9b31m"),
    ("bidi \u202egnp.exe \u2066x\u2069 \u200f \u061c", "bidi \\u202egnp.exe \\u2066x\\u2069 \\u200f \\u061c"),
    ("bad byte \udcff", "bad byte \\udcff"),
])
def test_printable_escapes_control_characters(text: str, shown: str) -> None:
    assert printable(text) == shown
    printable(text).encode("utf-8")  # never a lone surrogate left


def test_one_line_escapes_newlines_and_tabs_too() -> None:
    assert printable("name\nfake line\t", one_line=True) == "name\\x0afake line\\x09"


def test_json_text_is_valid_utf8_and_decodes_to_the_same_strings() -> None:
    data = {"esc": "\x1b[2J", "c1": "\x9b", "bidi": "\u202e", "del": "\x7f", "text": "é 🙂", "bad": "x\udcff"}
    text = json_text(data)
    text.encode("utf-8")
    assert not any(c in text for c in "\x1b\x9b\u202e\x7f")
    back = json.loads(text)
    assert {k: v for k, v in back.items() if k != "bad"} == {k: v for k, v in data.items() if k != "bad"}
    assert back["bad"] == "x\ufffd"


# --------------------------------------------------------------------------- guest text on the terminal

HOSTILE = r"\1b[2J\1b]0;pwned\07\e2\80\ae!"  # erase screen, set title, bell, RLO: 18 bytes


def _hostile_initfail(folder: Path) -> Path:
    wat = (WAT / "host" / "initfail.wat").read_text()
    wat = wat.replace('"not configured"', f'"{HOSTILE}"').replace(r"\0e\00\00\00", r"\12\00\00\00")
    path = folder / "initevil.wat"
    path.write_text(wat)
    return path


def _hostile_commands(folder: Path) -> Path:
    wat = (WAT / "commands_hello.wat").read_text()
    assert "hello from WAT" in wat and "Say hello" in wat
    # same lengths, so the offsets in the data segment stay right: 14 and 9 bytes
    wat = wat.replace("hello from WAT", r"\1b[2J\1b[31mRED\07\0d").replace("Say hello", r"\1b[2J\1b[0m!")
    path = folder / "cmdevil.wat"
    path.write_text(wat)
    return path


def _no_raw_controls(*texts: str) -> None:
    for text in texts:
        assert ESC not in text and "\x07" not in text and "\u202e" not in text and "\r" not in text, text


def test_an_init_error_with_terminal_sequences_is_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the init error reached the terminal raw (erase screen, set title)."""
    evil = _hostile_initfail(tmp_path)
    code, out, err = run(capsys, "commands", "--no-cache", str(evil))
    assert code == 1
    _no_raw_controls(out, err)
    assert "init failed: \\x1b[2J\\x1b]0;pwned\\x07\\u202e!" in err
    code, out, err = run(capsys, "call", "--no-cache", str(evil), "initevil", "ext:host/lifecycle@0.1.0#init")
    assert code == 1
    _no_raw_controls(out, err)
    assert "\\x1b[2J" in err
    code, out, err = run(capsys, "call", "--json", "--no-cache", str(evil), "initevil", "init")
    _no_raw_controls(out, err)
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\u202e!" in json.loads(out)["error"]["message"].encode(
        "unicode_escape").decode()


def test_command_output_and_listing_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = _hostile_commands(tmp_path)
    code, out, err = run(capsys, "run", "--no-cache", str(evil), "hello")
    assert code == 0
    _no_raw_controls(out, err)
    assert out == "\\x1b[2J\\x1b[31mRED\\x07\\x0d\n"
    code, out, err = run(capsys, "commands", "--no-cache", str(evil))
    assert code == 0
    _no_raw_controls(out, err)
    assert "\\x1b[2J\\x1b[0m!" in out
    code, out, err = run(capsys, "run", "--json", "--no-cache", str(evil), "hello")
    _no_raw_controls(out, err)
    assert json.loads(out)["output"] == "\x1b[2J\x1b[31mRED\x07\r"  # JSON keeps the text, escaped


def test_a_hostile_file_name_is_escaped_in_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "ev\x1b[31mil\nfake"
    (tmp_path / f"{name}.wat").write_text("(component)")
    _, out, err = run(capsys, "inspect", "--no-cache", str(tmp_path))
    _no_raw_controls(out, err)
    assert "ev\\x1b[31mil\\x0afake  [" in out  # one line: the newline cannot fake a row


def test_a_newline_in_a_diagnostic_message_cannot_fake_a_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The invalid-name message quotes the file's path; before, its newline reached the terminal
    and `summary: FAKE...` stood on a line of its own."""
    (tmp_path / "ok\nsummary: FAKE.wat").write_text("(component)")
    _, out, err = run(capsys, "inspect", "--no-cache", str(tmp_path))
    _no_raw_controls(out, err)
    assert [ln for ln in (out + err).splitlines() if ln.startswith("summary:")] == [
        "summary: 1 extension(s): 0 ok, 1 error, 0 blocked; 1 error(s), 0 warning(s)"]
    assert "error[invalid-name]" in out and "summary: FAKE.wat) must start with a letter" in out


def test_a_failed_call_is_printed_one_line_per_part() -> None:
    """Both CLI paths (`call` and `run`) print a failed call with `call_error_lines`: a guest's
    newline in the message cannot fake a line (before, only other controls were escaped)."""
    from harness.cli._render import call_error_lines
    from harness.model._errors import TrapError

    e = TrapError("x: f trapped: boom\nerror[ok]: \x1b[2Jall fine", extension="x", function="f", chain=["x"])
    lines = call_error_lines(e)
    assert lines[0] == "error[trap]: x: f trapped: boom\\x0aerror[ok]: \\x1b[2Jall fine"
    assert [ln.split(":")[0] for ln in lines] == ["error[trap]", "  call chain", "  hint"]


# --------------------------------------------------------------------------- JSON is valid UTF-8

def test_json_output_is_valid_utf8_for_undecodable_arguments(tmp_path: Path) -> None:
    """Before: a non-UTF-8 argument (surrogateescape'd by Python) came back out as invalid UTF-8."""
    argv = [b"call", b"--json", b"--no-cache", os.fsencode(VALUES), b"x\xff", b"f"]
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *argv], capture_output=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout.decode("utf-8"))  # strict: raises on invalid UTF-8
    assert doc["error"]["extension"] == "x\ufffd"
    assert doc["error"]["code"] == "no-such-function"


def test_json_output_with_a_surrogate_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "call", "--json", "--no-cache", VALUES, "cli_values", "f\udcff")
    assert code == 1
    out.encode("utf-8")
    assert json.loads(out)["error"]["function"] == "f\ufffd"


# --------------------------------------------------------------------------- usage errors, not tracebacks

def test_deeply_nested_json_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a RecursionError traceback."""
    code, out, err = run(capsys, "call", "--no-cache", VALUES, "cli_values", "list-sum", "[" * 5000 + "]" * 5000)
    assert code == 2
    assert "argument 1 ('[[[[[[[[[[[[[[[[[[[['...): it is JSON nested too deeply to read" in err
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("sub", ["call", "run"])
def test_a_missing_explicit_path_is_named(sub: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Before: `-p /missing` loaded nothing and said "no extension named ..." (exit 1)."""
    missing = str(tmp_path / "missing")
    code, _, err = run(capsys, sub, "-p", VALUES, "-p", missing, "cli_values", "add", "1", "2")
    assert code == 2
    assert f"ext-harness {sub}: error: no such path: {missing!r} (given with -p/--path)" in err


@pytest.mark.parametrize("sub", ["call", "run"])
def test_a_name_too_long_for_the_os_is_not_a_traceback(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: OSError (File name too long) while looking for leading paths."""
    code, _, err = run(capsys, sub, "x" * 5000, "ext", "f")
    assert code == 2
    assert "does not exist" in err


# --------------------------------------------------------------------------- any argv

_WORDS = ["cli_values", "add", "list-sum", "echo-string", "str-len", "point-sum", "opt-or", "scale", "half",
          "hello", "nope", "x:y", ":", "-", "--", "-p", VALUES, str(WAT / "commands_hello.wat"), "/nonexistent/x",
          "x" * 5000, "", ".", "\udcff", "\x1b[2J", "[" * 3000, "[" * 500 + "]" * 500, "1e999", "NaN", "-1",
          "9" * 5000, '{"x":1,"y-coord":2}', '{"some":1}', '"\\ud800"', "--json", "--no-cache", "--async",
          "--timeout-ms", "--timeout-ms=1", "--timeout-ms=0", "--bogus", "--help"]


_ANY = st.one_of(st.sampled_from(_WORDS), st.text(max_size=8))
_CALLS = st.tuples(st.sampled_from(["cli_values", "nope"]), st.sampled_from(_WORDS[1:10]),
                   st.lists(_ANY, max_size=3)).map(lambda t: [VALUES, t[0], t[1], *t[2]])


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(sub=st.sampled_from(["inspect", "call", "run", "commands", "wit", "bogus"]),
       items=st.one_of(st.lists(_ANY, max_size=6), _CALLS))
def test_any_argv_ends_in_an_exit_code_with_safe_output(sub: str, items: list[str],
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = str(tmp_path_factory.getbasetemp() / "argv-cache")
    argv = [sub, *items] if sub in ("inspect", "wit", "bogus") or "--no-cache" in items else \
        [sub, "--cache-dir", cache, *items]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2), argv
    for text in (out.getvalue(), err.getvalue()):
        text.encode("utf-8")  # no lone surrogates: the bytes on the terminal are UTF-8
        assert ESC not in text and "Traceback" not in text, argv


# --------------------------------------------------------------------------- the suite's reports

def test_markdown_and_junit_reports_escape_guest_text() -> None:
    message = "trapped: \x1b[2J```\n<img src=x onerror=alert(1)>\n````"
    report = RunReport([CheckRecord("ev|il\x1b", "behaviour", "failed", message)])
    md = report.markdown({"wasmtime": "1"})
    _no_raw_controls(md)
    assert "| ev\\|il\\x1b |" in md
    assert "\n`````\ntrapped: \\x1b[2J```" in md  # a fence longer than any backtick run inside
    xml = report.junit_xml({"wasmtime": "1"}).decode("utf-8")
    _no_raw_controls(xml)
