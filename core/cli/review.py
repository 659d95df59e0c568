"""`facegraft review`: open a shot's review page on the engine service."""

from __future__ import annotations

import argparse
import json

from facegraft.cli.common import say
from facegraft.commands import add_reporting


def add(sub: argparse._SubParsersAction) -> None:
    """The `review` command and its flags on the CLI's sub-command table."""
    rv = sub.add_parser(
        "review",
        help="open a shot's review page: fix faces, landmarks and masks by hand in a browser",
        description="Uses the running engine service, or starts one allowed to read the shot and its plate "
        "(it keeps running: `facegraft serve --stop`), and prints the page's address, which carries the "
        "service token once.",
    )
    rv.add_argument("shot", metavar="SHOTDIR")
    rv.add_argument("--port", type=int, default=None, help="port of a service this starts (default: any)")
    rv.add_argument("--no-browser", action="store_true", help="only print the page's address")
    add_reporting(rv)


def run(args: argparse.Namespace) -> int:
    """Run `facegraft review` as parsed; the exit code."""
    import webbrowser

    from facegraft.service.review_address import review_address

    address = review_address(args.shot, args.port)
    if args.progress == "json":
        summary = {"url": address.url, "port": address.port, "started": address.started}
        print(json.dumps({"task": "review", "event": "summary", **summary}))
    else:
        print(address.url)
        if address.started:
            say(args, f"started the engine service (port {address.port}); `facegraft serve --stop` stops it")
    if not args.no_browser:
        webbrowser.open(address.url)
    return 0
