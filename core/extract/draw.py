"""The `alignments draw` job: plate frames with the stored boxes and landmarks drawn, as JPEGs."""

from __future__ import annotations

from pathlib import Path

import cv2

from facegraft.errors import InputError
from facegraft.extract.pipeline import draw_debug
from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.colour import ColourConverter, resolve_colourspace
from facegraft.io.framespec import select_frames
from facegraft.io.plate import open_plate
from facegraft.store.alignments import AlignmentsStore


def draw_alignments(
    store: AlignmentsStore,
    plate_path: str,
    out_dir: Path,
    frames: str | None = None,
    colourspace: str | None = None,
) -> int:
    """Write `out_dir/NNNNNN.jpg` for each stored frame of the plate (in `frames`); returns the count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    with open_plate(plate_path) as plate:
        space = resolve_colourspace(
            colourspace or store.plate().get("colourspace") or plate.default_colourspace
        )
        conv = ColourConverter(space)
        stored = store.frames_done()
        wanted = [f for f in select_frames(plate.frames, frames) if f in stored]
        for info, pixels in plate.iter_frames(wanted):
            rec = store.frame(info.frame)
            rgb = conv.to_working_uint8(pixels)
            drawn = cv2.cvtColor(draw_debug(rgb, rec.faces if rec else []), cv2.COLOR_RGB2BGR)
            ok, jpeg = cv2.imencode(".jpg", drawn)
            if not ok:
                raise InputError("cannot encode the debug image", out_dir)
            write_bytes_atomic(out_dir / f"{info.frame:06d}.jpg", jpeg.tobytes(), "the debug image")
            n += 1
    return n
