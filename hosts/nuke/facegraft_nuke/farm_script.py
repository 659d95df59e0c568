"""`facegraft-nuke-script --plate P --passes OUT -o comp.nk` (also `python -m facegraft_nuke.farm_script`):
the comp of a convert's passes as a Nuke script, for scripts a farm builds without Nuke.

Read of the plate, Read of the passes, Shuffles for swap/matte/facemask and a Merge (over) of the swap onto
the plate: the same `comp_spec` the panel builds live. Standard library only (runs in any Python).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from facegraft_nuke.comp import comp_spec, nuke_pattern
from facegraft_nuke.nkscript import script

PROG = "facegraft-nuke-script"
_PASS_FILE = re.compile(r"^(?P<stem>.*?)(?P<frame>-?\d+)\.(?P<ext>exr|png|tif|tiff)$")
_SPEC_PART = re.compile(r"^(-?\d+)(?:-(-?\d+))?(?:x\d+)?$")


class ScriptError(Exception):
    """Bad input: one line naming the file and the problem, exit 2."""


def find_passes(passes: str) -> tuple[str, list[int]]:
    """(pattern with ####, frame numbers) of the pass files in a folder or matching a pattern; the
    sequence with the most frames when a folder holds several."""
    p = Path(passes)
    folder, wanted = (p, None) if p.is_dir() else (p.parent, p.name)
    if not folder.is_dir():
        raise ScriptError(f"{folder}: no such folder of passes")
    found: dict[str, list[int]] = {}
    for f in sorted(folder.iterdir()):
        m = _PASS_FILE.match(f.name)
        if not m:
            continue
        pattern = f"{m['stem']}{'#' * len(m['frame'])}.{m['ext']}"
        if wanted is None or pattern == wanted:
            found.setdefault(pattern, []).append(int(m["frame"]))
    if not found:
        raise ScriptError(f"{passes}: no pass files (name.####.exr) found")
    pattern = max(found, key=lambda k: len(found[k]))
    return str(folder / pattern), sorted(found[pattern])


def frame_bounds(spec: str) -> tuple[int, int]:
    """(first, last) of a farm frame spec (``1001-1100``, ``1001-1100x2``, ``1001,1005,1010-1020``)."""
    ends: list[int] = []
    for part in spec.replace(" ", "").split(","):
        m = _SPEC_PART.match(part)
        if not m:
            raise ScriptError(f"--frames {spec!r}: not a frame spec (1001-1100, 1001-1100x2, 1001,1005)")
        ends += [int(m[1]), int(m[2] if m[2] is not None else m[1])]
    return min(ends), max(ends)


def write_script(
    plate: str, passes: str, out: str, frames: str | None = None, colourspace: str | None = None
) -> dict:
    """Write the comp script (to a temporary name, then renamed); returns what it wrote."""
    pattern, found = find_passes(passes)
    first, last = frame_bounds(frames) if frames else (found[0], found[-1])
    plate_read = {
        "name": "plate",
        "file": nuke_pattern(str(Path(plate).absolute())),
        "first": first,
        "last": last,
        **({"colorspace": colourspace} if colourspace else {}),
    }
    text = script(plate_read, comp_spec(pattern, first, last, "plate", colourspace=colourspace))
    target = Path(out)
    if not target.parent.is_dir():
        raise ScriptError(f"{target.parent}: the folder for the script does not exist")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {"script": str(target), "passes": pattern, "first": first, "last": last}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--plate", required=True, help="the plate the passes were converted from")
    p.add_argument("--passes", required=True, help="the convert output folder, or its file pattern")
    p.add_argument("--frames", default=None, help="frame range A-B (default: the frames found)")
    p.add_argument("-o", "--output", required=True, help="the .nk file to write")
    p.add_argument(
        "--colourspace",
        default=None,
        help="the plate's colour space as Nuke names it: both Reads take it, so the comp happens in "
        "Nuke's working space (default: the passes are read raw)",
    )
    p.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    args = p.parse_args(argv)
    try:
        info = write_script(args.plate, args.passes, args.output, args.frames, args.colourspace)
    except (ScriptError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info) if args.json else f"wrote {info['script']} ({info['first']}-{info['last']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
