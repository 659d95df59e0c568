"""`facegraft-watch IN_DIR -o OUT --model M [convert options]` (also `python -m facegraft_watcher`).

The watcher's own options are declared here. Convert's options (``--colour lct``, ``--mask ...``,
``--person lead``) are the engine's declarations as the service lists them (``/v1/options/convert``): the
same ones the CLI, the panels and the farm template use, so the watcher never imports the engine. The
options the watcher sets itself (plate, shot, model, output, frames; smoothing across frames, which frames
converted one batch at a time cannot have) are refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from facegraft_client import Client, ServiceError
from facegraft_watcher import Watcher, WatchOptions, summary

PROG = "facegraft-watch"
# Convert options the watcher decides itself (or that one-batch-at-a-time conversion cannot honour).
OWN = frozenset({"plate", "shot", "model", "out_dir", "frames", "smooth", "smooth_frames", "swap"})


class UsageError(Exception):
    """A command line the watcher refuses; one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def base_parser() -> argparse.ArgumentParser:
    """The watcher's own options."""
    p = _Parser(
        prog=PROG,
        description="Process plate frames as they land in a folder: extract and convert through the engine "
        "service. Frames are taken once complete, in frame order; state lives in OUT/.facegraft-watch, so a "
        "restart neither loses nor repeats a frame, and a replaced frame is done again. Frames are converted "
        "as they land, each batch on its own: landmark smoothing across frames is off.",
        epilog="Any other option is one of facegraft convert's (facegraft convert --help lists them), "
        "checked against the engine service's declarations, e.g. --colour lct --person lead.",
    )
    p.add_argument("in_dir", metavar="IN_DIR")
    p.add_argument("-o", "--output", dest="out_dir", required=True, help="folder for the passes")
    p.add_argument("--model", required=True, help="the trained model's folder")
    p.add_argument("--shot", default=None, help="an extracted shot to use (default: extract into OUT/shots)")
    p.add_argument("--pattern", default="*.exr", help="file names to take (default: *.exr)")
    p.add_argument("--settle", type=float, default=1.0, help="seconds a file's size must hold still")
    p.add_argument("--batch", type=int, default=50, help="frames per engine job")
    p.add_argument("--until-idle", type=float, default=None, help="exit after this many idle seconds")
    p.add_argument(
        "--progress", choices=("auto", "plain", "json"), default="auto", help="json: a JSON summary line"
    )
    p.add_argument("--quiet", action="store_true", help="warnings and errors only")
    return p


def convert_parser(declared: list[dict]) -> argparse.ArgumentParser:
    """A parser of convert's options as the service declares them, less the ones the watcher sets."""
    p = _Parser(prog=PROG, add_help=False)
    for o in declared:
        if o["name"] in OWN or not o.get("flag"):
            continue
        if o["kind"] == "flag":  # the flag turns the declared default the other way
            p.add_argument(o["flag"], dest=o["name"], action="store_const", const=not o.get("default"))
        elif o.get("repeatable"):
            p.add_argument(o["flag"], dest=o["name"], action="append", choices=o.get("choices"))
        else:
            p.add_argument(o["flag"], dest=o["name"], choices=o.get("choices"))
    return p


def convert_args(declared: list[dict], argv: list[str]) -> dict:
    """{option name: value} of the convert options given in `argv` (strings; the service types them)."""
    own = {o["flag"]: o["name"] for o in declared if o["name"] in OWN and o.get("flag")}
    for token in argv:
        flag = token.split("=", 1)[0]
        if flag in own:
            raise UsageError(f"{flag} is set by the watcher itself, not taken as a convert option")
    ns = convert_parser(declared).parse_args(argv)
    return {k: v for k, v in vars(ns).items() if v is not None}


def _stop_on_signals(watcher: Watcher) -> None:
    """SIGINT and SIGTERM stop the watcher where it stands (a batch already sent runs on in the engine).

    Installed explicitly: a process started in the background by a non-interactive shell inherits SIGINT
    ignored, and a supervisor's SIGTERM would otherwise end it without its summary."""

    def stop(signum, frame) -> None:
        watcher.stop()
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def run(argv: list[str]) -> int:
    """Parse, connect to (or start) the engine service, and watch until stopped or idle."""
    args, rest = base_parser().parse_known_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="facegraft watch: %(message)s"
    )
    in_dir, out_dir = Path(args.in_dir).resolve(), Path(args.out_dir).resolve()
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir}: not a folder")
    model = Path(args.model).resolve()
    shot = Path(args.shot).resolve() if args.shot else None
    out_dir.mkdir(parents=True, exist_ok=True)
    roots = [in_dir, out_dir, model] + ([shot] if shot else [])
    client = Client(serve_args=[a for r in roots for a in ("--root", str(r))])
    convert = convert_args(client.options("convert"), rest)
    person = convert.pop("person", None) or []
    opts = WatchOptions(
        in_dir=in_dir,
        out_dir=out_dir,
        model=model,
        shot=shot,
        pattern=args.pattern,
        settle=args.settle,
        batch=args.batch,
        person=tuple(s.strip() for v in person for s in str(v).split(",") if s.strip()),
        convert_args={**convert, "smooth": False},
    )
    watcher = Watcher(opts, client)
    _stop_on_signals(watcher)
    try:
        watcher.run(until_idle=args.until_idle)
    except KeyboardInterrupt:
        pass
    if args.progress == "json":
        print(json.dumps({"task": "watch", "event": "summary", **summary(watcher)}))
    elif not args.quiet:
        print(f"{PROG}: processed {len(watcher.processed)} frames into {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The console entry point: exit 0 when done, 2 for a bad command line, 1 when the service fails."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"{PROG}: error: engine service: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
