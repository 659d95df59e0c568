"""What every `facegraft` command shares: the parser with the project's one-line errors, and how a command
ends (its summary as JSON, or a line of text), plus the table layout the listing commands print."""

from __future__ import annotations

import argparse
import json
import sys

from facegraft.errors import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: one line, `facegraft: error: ...`, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"facegraft: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def report(args: argparse.Namespace, task: str, summary: dict, text: str) -> int:
    """How every command ends: its summary as one JSON line with ``--progress json``, else the text (unless
    ``--quiet``); exit 0."""
    if args.progress == "json":
        print(json.dumps({"task": task, "event": "summary", **summary}))
    else:
        say(args, text)
    return 0


def say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def table(headers: tuple[str, ...], rows: list[tuple]) -> str:
    """Left-aligned columns two spaces apart, a header line first."""
    cells = [tuple(map(str, headers)), *(tuple(map(str, row)) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def ids(ids: list) -> str:
    """Track ids for a table cell: comma-separated, '-' for none."""
    return ",".join(str(i) for i in ids if i is not None) or "-"
