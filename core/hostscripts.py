"""Host scripts the engine writes for farms: the Nuke comp of a convert's passes as a ``.nk`` file, built
by the Nuke adapter's own comp description (shipped with the engine as `facegraft_nuke`)."""

from __future__ import annotations

import re
from pathlib import Path

from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.framespec import parse_frame_spec

_FRAME = re.compile(r"^(?P<stem>.*?)(?P<frame>-?\d+)\.(?P<ext>exr|png|tif|tiff)$")


def find_passes(passes: str) -> tuple[str, list[int]]:
    """(pattern with ####, frame numbers) of the pass files in a folder or matching a pattern."""
    p = Path(passes)
    folder, wanted = (p, None) if p.is_dir() else (p.parent, p.name)
    if not folder.is_dir():
        raise InputError("no such folder of passes", folder)
    found: dict[str, list[int]] = {}
    for f in sorted(folder.iterdir()):
        m = _FRAME.match(f.name)
        if not m:
            continue
        pattern = f"{m['stem']}{'#' * len(m['frame'])}.{m['ext']}"
        if wanted is not None and pattern != wanted:
            continue
        found.setdefault(pattern, []).append(int(m["frame"]))
    if not found:
        raise InputError("no pass files (name.####.exr) found", passes)
    pattern = max(found, key=lambda k: len(found[k]))
    return str(folder / pattern), sorted(found[pattern])


def write_nuke_script(plate: str, passes: str, out: str, frames: str | None = None) -> dict:
    """Write the comp script; returns what it wrote (script, passes pattern, frame range)."""
    from facegraft_nuke.comp import comp_spec, nuke_pattern
    from facegraft_nuke.nkscript import script

    pattern, found = find_passes(passes)
    if frames:
        numbers = parse_frame_spec(frames)
        first, last = min(numbers), max(numbers)
    else:
        first, last = found[0], found[-1]
    plate_read = {
        "name": "plate",
        "file": nuke_pattern(str(Path(plate).absolute())),
        "first": first,
        "last": last,
    }
    text = script(plate_read, comp_spec(pattern, first, last, "plate"))
    target = Path(out)
    if not target.parent.is_dir():
        raise InputError("the folder for the script does not exist", target.parent)
    write_bytes_atomic(target, text.encode(), "the Nuke script")
    return {"script": str(target), "passes": pattern, "first": first, "last": last}
