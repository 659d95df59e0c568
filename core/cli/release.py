"""`facegraft release`: record or show the likeness release of a shot or project."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facegraft.cli.common import Parser, say
from facegraft.commands import add_reporting
from facegraft.errors import InputError


def add(sub: argparse._SubParsersAction) -> None:
    """The `release` command and its flags on the CLI's sub-command table."""
    rl = sub.add_parser(
        "release",
        help="record or show the likeness release of a shot or project (copied into every output)",
        description="A release is recorded on a shot, or on a project folder for every shot inside it; "
        "a shot's own release wins over the nearest enclosing project's.",
    )
    rsub = rl.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
    rs = rsub.add_parser(
        "set", help="record the source identity and its release reference on a shot or project"
    )
    rs.add_argument("--identity", required=True, help="who the source face is")
    rs.add_argument("--reference", required=True, help="the signed likeness release's id")
    rw = rsub.add_parser("show", help="print the release that applies to a shot (and where it is recorded)")
    for q in (rs, rw):
        q.add_argument("shot", metavar="SHOTDIR", nargs="?", help="the shot folder")
        q.add_argument("--project", metavar="DIR", help="a project folder instead (facegraft-project.json)")
        add_reporting(q)


def run(args: argparse.Namespace) -> int:
    """Run `facegraft release` as parsed; the exit code."""
    from facegraft.provenance import release
    from facegraft.store.alignments import AlignmentsStore

    if (args.shot is None) == (args.project is None):
        raise InputError("name either a shot folder (SHOTDIR) or --project DIR")
    where = args.shot or args.project
    if args.job == "set" and args.project:
        record = release.set_project_release(args.project, args.identity, args.reference)
    elif args.job == "set":
        record = release.set_release(args.shot, args.identity, args.reference)
    elif args.project:
        found = release.project_release(args.project)
        file = str(Path(args.project) / release.PROJECT_FILE)
        record = {**found, "source": "project", "file": file} if found else {}
    else:
        with AlignmentsStore.open(args.shot) as store:
            record = release.get_release(store) or {}
    if args.progress == "json" or args.job == "show":
        print(json.dumps(record))
    else:
        say(args, f"recorded on {where}: {record['identity']}, release {record['reference']}")
    return 0
