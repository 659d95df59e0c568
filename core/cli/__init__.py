"""The `facegraft` command: one module per command (its flags and what it runs), the job commands' flags
from the command registry (`facegraft.commands`). Errors are one line naming the file and the problem,
exit 2 for bad input; `--verbose` adds the traceback."""

from __future__ import annotations

import argparse
import sys
import traceback

from facegraft import __version__
from facegraft.cli import (
    alignments,
    convert,
    extract,
    faceset,
    farm,
    mask,
    model,
    release,
    review,
    serve,
    train,
    verify,
)
from facegraft.cli.common import Parser
from facegraft.commands import JOB_COMMANDS, add_command
from facegraft.errors import FacegraftError

# Each command's module, in the order `facegraft --help` lists them after the job commands.
MODULES = {
    "extract": extract,
    "train": train,
    "convert": convert,
    "alignments": alignments,
    "faceset": faceset,
    "farm": farm,
    "release": release,
    "verify": verify,
    "serve": serve,
    "review": review,
    "model": model,
    "mask": mask,
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the job commands from the registry, every other command from its module."""
    parser = Parser(prog="facegraft", description="Face replacement for VFX plates.")
    parser.add_argument("--version", action="version", version=f"facegraft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name in JOB_COMMANDS:
        add_command(sub, name)
    for name, module in MODULES.items():
        if name not in JOB_COMMANDS:
            module.add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: the process's) and run the command; its exit code, errors as one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return MODULES[args.command].run(args)
    except FacegraftError as exc:
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"facegraft: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("facegraft: interrupted", file=sys.stderr)
        return 130
