"""The faces a mask network learns from and is applied to: aligned crops with their stored masks.

A face's crop is its image in SHOTDIR/faces/ when that still exists, else it is cut from the plate again
with the stored alignment matrix (the same crop extraction wrote), so every stored face can be masked even
after the user deleted its image from the faceset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facegraft.errors import InputError
from facegraft.faceset.export import plates_of
from facegraft.geometry.alignment import warp_face
from facegraft.io.colour import ColourConverter, resolve_colourspace
from facegraft.io.plate import open_plate
from facegraft.store.alignments import AlignmentsStore, Face
from facegraft.store.face_images import read_face_png
from facegraft.store.shot import FACES_DIR


def face_crops(store: AlignmentsStore, faces: Sequence[Face]) -> Iterator[tuple[Face, np.ndarray]]:
    """(face, (S, S, 3) uint8 RGB aligned crop at the face's stored size) for each face with a matrix:
    first those whose faces/ image exists, then the rest cut from the plate, frame by frame."""
    missing = []
    for face in faces:
        if face.matrix is None:
            continue
        path = store.shot_dir / FACES_DIR / face.image if face.image else None
        if path is None or not path.is_file():
            missing.append(face)
            continue
        rgb = read_face_png(path)
        if rgb.shape[:2] != (face.size, face.size):
            rgb = cv2.resize(rgb, (face.size, face.size), interpolation=cv2.INTER_AREA)
        yield face, rgb
    if not missing:
        return
    for (plate_path, colourspace), frames in plates_of(store, missing, None).items():
        with open_plate(plate_path) as plate:
            conv = ColourConverter(resolve_colourspace(colourspace or plate.default_colourspace))
            absent = sorted(set(frames) - set(plate.frames))
            if absent:
                raise InputError(
                    f"face images are missing and the plate lacks frame {absent[0]} to cut them from",
                    plate_path,
                )
            for info, pixels in plate.iter_frames(sorted(frames)):
                rgb = conv.to_working_uint8(pixels)
                for face in frames[info.frame]:
                    yield face, warp_face(rgb, face.matrix, face.size)


@dataclass
class LabelledFaces:
    """N labelled faces at one resolution: images (N, R, R, 3) uint8 RGB, masks (N, R, R) uint8 (255 =
    visible face), the face type they were cropped at, and where each came from (shot, face id)."""

    images: np.ndarray
    masks: np.ndarray
    face_type: str
    origins: list[tuple[str, int]]

    def __len__(self) -> int:
        return len(self.origins)


def load_labelled(shots: Sequence[str | Path], resolution: int, label: str) -> LabelledFaces:
    """Every face of the shots that carries the stored mask `label`, crop and mask resized to `resolution`.

    Refuses shots whose labelled faces were cropped at different face types (one network learns one crop)."""
    images, masks, origins, kinds = [], [], [], set()
    size = (resolution, resolution)
    for shot in shots:
        with AlignmentsStore.open(shot) as store:
            labelled = {}
            for face in store.faces():
                mask = store.masks(int(face.id)).get(label)
                if mask is not None and face.matrix is not None:
                    labelled[int(face.id)] = (face, mask)
            crops = face_crops(store, [face for face, _ in labelled.values()])
            for face, rgb in crops:
                mask = labelled[int(face.id)][1]
                kinds.add(face.face_type)
                images.append(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
                masks.append(cv2.resize(mask, size, interpolation=cv2.INTER_AREA))
                origins.append((str(store.shot_dir), int(face.id)))
    if not origins:
        names = ", ".join(str(s) for s in shots)
        raise InputError(
            f"no face carries a '{label}' mask in {names} (paint some on the review page, or "
            "facegraft mask import SHOTDIR DIR)"
        )
    if len(kinds) > 1:
        raise InputError(
            f"the labelled faces were cropped at several face types ({', '.join(sorted(kinds))})"
        )
    return LabelledFaces(np.stack(images), np.stack(masks), kinds.pop(), origins)
