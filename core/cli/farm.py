"""`facegraft farm openjd`: an Open Job Description template that runs a command over frame chunks."""

from __future__ import annotations

import argparse
from pathlib import Path

from facegraft.cli.common import Parser, report
from facegraft.commands import add_reporting


def add(sub: argparse._SubParsersAction) -> None:
    """The `farm` command and its flags on the CLI's sub-command table."""
    fm = sub.add_parser("farm", help="render-farm job descriptions")
    fsub2 = fm.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
    oj = fsub2.add_parser(
        "openjd",
        help="write an Open Job Description template that runs a command over chunks of frames",
        description="facegraft farm openjd --job job.yaml --frames 1001-1100 --chunk-size 10 -- convert "
        "PLATE --shot SHOT --model MODEL -o OUT [options]",
    )
    oj.add_argument("--job", required=True, help="the job template to write (YAML)")
    oj.add_argument("--frames", required=True, help="the frames to cover, farm syntax")
    oj.add_argument("--chunk-size", type=int, default=10, help="frames per task (default: 10)")
    oj.add_argument("--name", default=None, help="the job's name")
    oj.add_argument(
        "argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the facegraft command (convert ...)"
    )
    add_reporting(oj)


def run(args: argparse.Namespace) -> int:
    """Run `facegraft farm` as parsed; the exit code."""
    from facegraft.farm.openjd import job_template, write_job

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    template, values = job_template(command, args.frames, args.chunk_size, args.name, Path(args.job).parent)
    path, params = write_job(args.job, template, values)
    text = (
        f"wrote {path} and {params.name}: {command[0]} over {args.frames} in chunks of {args.chunk_size}\n"
        f"run it locally: openjd run {path} -p file://{params.absolute()}"
    )
    return report(args, "farm-openjd", {"job": str(path), "params": str(params)}, text)
