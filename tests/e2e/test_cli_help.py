"""`--help` works for every command and subcommand of the real parser: exit 0, a usage line, no traceback.

The commands are found by walking the parser's subparsers, so a command added later is covered too."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys

import pytest

from facegraft.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser (the top level as ()), parents before their subcommands."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(build_parser())


def test_the_walk_finds_nested_commands() -> None:
    assert ("extract",) in COMMANDS and ("alignments", "shots") in COMMANDS
    assert ("faceset", "sort") in COMMANDS and ("mask", "train") in COMMANDS
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "facegraft")
def test_help_exits_zero_with_usage(command: tuple[str, ...]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0, err.getvalue()
    assert "usage" in out.getvalue() and "Traceback" not in out.getvalue() + err.getvalue()


def test_help_in_a_subprocess() -> None:
    """`python -m facegraft extract --help` as a person runs it (a `%` in an option's help once broke it;
    tests/unit/test_options_progress.py keeps such a help text)."""
    proc = subprocess.run(
        [sys.executable, "-m", "facegraft", "extract", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_every_no_flag_says_it_turns_its_option_off():
    """A declared option's `--no-X` flag says it switches X off (the declaration describes X itself;
    hand-written flags such as serve --no-resume already say what they do)."""
    wrong = []
    for path in COMMANDS:
        parser = build_parser()
        for name in path:
            parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
                name
            ]
        for action in parser._actions:
            flags = [s for s in action.option_strings if s.startswith("--no-")]
            if flags and hasattr(action, "declared_help") and not (action.help or "").startswith("turn off"):
                wrong.append(f"{' '.join(path)} {flags[0]}: {action.help}")
    assert wrong == []
