"""The face of a reference photo, found as extraction finds faces: the identity embedding of its largest
face (or of an aligned face PNG, read by its tags), for choosing a person or a faceset's faces by photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.extract import identity
from facegraft.extract.pipeline import ExtractOptions, build_tracker
from facegraft.geometry.alignment import canonical_crop_landmarks, face_size
from facegraft.io.colour import ColourConverter, resolve_colourspace
from facegraft.io.plate import open_plate
from facegraft.store.face_images import read_face_png, read_face_tags


def photo_embedding(path: Path) -> np.ndarray:
    """(128,) embedding of the largest face found in a photo (or of an aligned face PNG by its tags)."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        face_type = read_face_tags(path).get("face_type")
        if face_type:
            rgb = read_face_png(path)
            return identity.embed(rgb, canonical_crop_landmarks(face_type, rgb.shape[0]))
    with open_plate(path) as plate:
        conv = ColourConverter(resolve_colourspace(plate.default_colourspace))
        _, pixels = next(iter(plate.iter_frames(plate.frames[:1])))
        rgb = conv.to_working_uint8(pixels)
    faces = build_tracker(ExtractOptions(embeddings=False, detect_every=1)).step(rgb, 0)
    if not faces:
        raise InputError("no face found in the reference photo", path)
    largest = max(faces, key=lambda f: face_size(f.landmarks))
    return identity.embed(rgb, largest.landmarks)
