"""`facegraft verify`: say whether files are synthetic (metadata, C2PA, watermark)."""

from __future__ import annotations

import argparse
import json

from facegraft.commands import add_reporting


def add(sub: argparse._SubParsersAction) -> None:
    """The `verify` command and its flags on the CLI's sub-command table."""
    vf = sub.add_parser(
        "verify",
        help="say whether files are synthetic: metadata, C2PA manifest, invisible watermark",
        description="Reports the metadata, C2PA manifest and watermark of each file or image sequence "
        "(name it with a frame token: comp.####.exr). Exit 0 whatever the verdict, 2 for unreadable input.",
    )
    vf.add_argument("files", nargs="+", metavar="FILE_OR_SEQUENCE")
    vf.add_argument("--json", action="store_true", help="one JSON object per file")
    add_reporting(vf)


def run(args: argparse.Namespace) -> int:
    """Run `facegraft verify` as parsed; the exit code."""
    from facegraft.provenance.verify import verify

    for f in args.files:
        report = verify(f)
        if args.json or args.progress == "json":
            print(json.dumps(report))
            continue
        state = "synthetic (facegraft)" if report["synthetic"] else "NOT marked as synthetic"
        print(f"{f}: {state}")
        meta = report["metadata"]
        print("  metadata: " + (", ".join(f"{k}={v}" for k, v in meta.items()) if meta else "none"))
        c2pa = report["c2pa"]
        if c2pa is None:
            print("  c2pa: none")
        else:
            kind = (c2pa.get("digital_source_type") or "unknown source type").rsplit("/", 1)[-1]
            print(f"  c2pa: {c2pa['validation']}, {kind}")
            for error in c2pa.get("errors", []):
                print(f"    {error}")
        mark = report["watermark"]
        found = "found" if mark["detected"] else "not found"
        where = f" in {mark['frames_marked']} of {mark['frames_with_faces']} frames with a face"
        payload = f", {mark['payload']}" if mark["payload"] else ""
        print(f"  watermark: {found} (confidence {mark['confidence']:.2f}{where}{payload})")
    return 0
