"""`facegraft serve`: run, stop or ask about the engine service for hosts."""

from __future__ import annotations

import argparse
import json


def add(sub: argparse._SubParsersAction) -> None:
    """The `serve` command and its flags on the CLI's sub-command table."""
    sv = sub.add_parser(
        "serve",
        help="run the engine service for hosts (loopback or a Unix socket only)",
        description="Listens on 127.0.0.1 (or a Unix socket) only; every request needs the token in "
        "$FACEGRAFT_HOME/service/token (default ~/.facegraft). Jobs may only name files under the --root "
        "folders (default: $FACEGRAFT_ROOTS, else your home and the current folder).",
    )
    where = sv.add_mutually_exclusive_group()
    where.add_argument(
        "--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: any free port)"
    )
    where.add_argument("--socket", default=None, help="listen on this Unix socket instead")
    sv.add_argument(
        "--root", action="append", default=None, help="a folder jobs may read and write (repeatable)"
    )
    sv.add_argument("--no-resume", action="store_true", help="leave jobs cut short by a crash interrupted")
    act = sv.add_mutually_exclusive_group()
    act.add_argument("--status", action="store_true", help="print the running service's status and exit")
    act.add_argument("--stop", action="store_true", help="stop the running service")
    sv.add_argument("--verbose", action="store_true", help="mirror the service log on the console")


def run(args: argparse.Namespace) -> int:
    """Run `facegraft serve` as parsed; the exit code."""
    from facegraft.service import server

    if args.status:
        info = server.status()
        print(json.dumps(info, indent=2))
        return 0 if info.get("up") else 1
    if args.stop:
        stopped = server.stop()
        print("stopped the engine service" if stopped else "no engine service was running")
        return 0
    return server.serve(args.port, args.socket, args.root, args.verbose, resume=not args.no_resume)
