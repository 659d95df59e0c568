"""Contact sheet of a shot's persons: one row per person, a few of its faces spread over its frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.persons.shot import PersonSummary, pick_samples
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import read_face_png

THUMB = 96  # pixels per face thumbnail
PER_ROW = 8  # faces per person
LABEL_W = 220  # pixels for the person's label at the left of its row


def _thumb(path: Path) -> np.ndarray:
    try:
        rgb = read_face_png(path)
    except InputError:
        rgb = np.full((THUMB, THUMB, 3), 64, np.uint8)
    return cv2.resize(rgb, (THUMB, THUMB), interpolation=cv2.INTER_AREA)


def render_sheet(store: AlignmentsStore, persons: list[PersonSummary], faces_dir: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB sheet: per person its label, face count and frame span, then its faces."""
    rows = []
    for person in persons:
        row = np.full((THUMB + 8, LABEL_W + PER_ROW * (THUMB + 4), 3), 24, np.uint8)
        faces = [f for f in store.person_faces(person.id) if f.image]
        for i, f in enumerate(pick_samples(faces, PER_ROW)):
            x = LABEL_W + i * (THUMB + 4)
            row[4 : 4 + THUMB, x : x + THUMB] = _thumb(faces_dir / f.image)  # type: ignore[operator]
        span = f"{person.ranges[0][0]}-{person.ranges[-1][1]}" if person.ranges else "-"
        for line, text in enumerate(
            (f"{person.id}: {person.label}", f"{person.faces} faces", f"frames {span}")
        ):
            cv2.putText(
                row, text, (8, 28 + 26 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (235, 235, 235), 1, cv2.LINE_AA
            )
        rows.append(row)
    if not rows:
        rows.append(np.full((THUMB + 8, LABEL_W + PER_ROW * (THUMB + 4), 3), 24, np.uint8))
    return np.concatenate(rows, axis=0)


def write_sheet(store: AlignmentsStore, persons: list[PersonSummary], path: Path, faces_dir: Path) -> Path:
    """Render the sheet and write it as a PNG through a temporary name."""
    sheet = render_sheet(store, persons, faces_dir)
    ok, data = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError("cannot encode the contact sheet", str(path))
    write_bytes_atomic(path, data.tobytes(), "the persons contact sheet")
    return path
