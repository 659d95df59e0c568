"""A plate with two people in it, its extraction, and its two persons set by track (not by grouping).

The astronaut is on the left and Grace Hopper on the right, 300 px tall, drifting towards each other over
a scene-linear EXR sequence. Person 1 (unnamed, label ``person1``) is the left face's track and person 2
(named ``hopper``) the right one's, each with its own track's mean descriptor as its reference, so tests
of choosing a person do not depend on the grouping's thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

FIRST, N = 1001, 4
W, H = 640, 320


def two_people_frame(photos: dict[str, np.ndarray], i: int) -> np.ndarray:
    """Frame i, (H, W, 3) uint8 sRGB: the astronaut left, Grace Hopper right, moving 3 px a frame inwards."""
    canvas = np.full((H, W, 3), 118, np.uint8)
    a = cv2.resize(photos["astronaut"], (300, 300), interpolation=cv2.INTER_AREA)
    g = photos["grace_hopper"]
    g = cv2.resize(g, (round(g.shape[1] * 300 / g.shape[0]), 300), interpolation=cv2.INTER_AREA)
    dx = 3 * i
    canvas[10:310, 10 + dx : 310 + dx] = a
    canvas[10:310, W - 10 - g.shape[1] - dx : W - 10 - dx] = g
    return canvas


def set_persons(shot: Path, by_frame: Callable | None = None) -> None:
    """Persons by track: left face's track person 1, right one's person 2 ('hopper'). `by_frame(face,
    person)` may give a face another person (a track that switched people)."""
    from facegraft.store.alignments import AlignmentsStore, Person

    with AlignmentsStore.open(shot) as store:
        faces = store.faces()
        left = min(faces, key=lambda f: f.box[0]).track_id
        person_of_track = {t: (1 if t == left else 2) for t in {f.track_id for f in faces}}
        refs = {}
        for pid in (1, 2):
            embs = [f.embedding for f in faces if person_of_track[f.track_id] == pid]
            refs[pid] = np.mean(embs, axis=0).astype(np.float32)
        assignment = {f.id: person_of_track[f.track_id] for f in faces}
        if by_frame is not None:
            assignment = {f.id: by_frame(f, assignment[f.id]) for f in faces}
        store.replace_persons([Person(1, "", refs[1]), Person(2, "hopper", refs[2])], assignment)


def make_two_people_shot(root: Path, photos: dict[str, np.ndarray]) -> dict[str, Path]:
    """Write the plate under root/plate, extract it into root/shot (both faces on every frame, checked)
    and set its two persons; returns {"root", "plate", "shot"}."""
    from facegraft.extract.pipeline import ExtractOptions, extract
    from facegraft.sample_plates import write_exr_sequence

    frames = [two_people_frame(photos, i) for i in range(N)]
    write_exr_sequence(frames, root / "plate" / "plate.%04d.exr", FIRST)
    plate = root / "plate" / "plate.####.exr"
    summary = extract(plate, root / "shot", ExtractOptions(size=128, persons=False), progress_mode="quiet")
    assert summary.faces == 2 * N, f"expected both faces on every frame, found {summary.faces}"
    set_persons(root / "shot")
    return {"root": root, "plate": plate, "shot": root / "shot"}
