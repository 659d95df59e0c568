"""Stored named masks of a shot's faces, loaded for merging and training: each with the alignment matrix
of the crop it lives in. Faces lacking the mask are refused, never silently given another mask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facegraft.errors import InputError
from facegraft.io.framespec import format_frame_spec
from facegraft.store.alignments import AlignmentsStore, Face


@dataclass
class StoredMask:
    """A named mask stored with a face: (S, S) uint8 in the face's aligned crop, and the face's (2, 3)
    plate -> crop alignment matrix that defines that crop."""

    mask: np.ndarray
    matrix: np.ndarray


def stored_masks(store: AlignmentsStore, faces: Sequence[Face], name: str) -> dict[int, StoredMask]:
    """{face id: StoredMask} of the mask `name` of every face; InputError naming the frames of the faces
    that lack it (a face merged without its mask would lose what covers it without a word)."""
    unaligned = sorted({face.frame for face in faces if face.matrix is None})
    if unaligned:
        raise InputError(
            f"faces on frames {format_frame_spec(unaligned)} have no alignment matrix, so no aligned crop "
            "to hold a mask (landmarks imported from JSON: extract those frames, or faceset export)",
            store.path,
        )
    found: dict[int, StoredMask] = {}
    lacking = []
    for face in faces:
        mask = store.masks(int(face.id)).get(name)
        if mask is None:
            lacking.append(face.frame)
        else:
            found[int(face.id)] = StoredMask(mask, face.matrix)
    if lacking:
        noun = "face lacks" if len(lacking) == 1 else "faces lack"
        frames = format_frame_spec(lacking)
        raise InputError(
            f"{len(lacking)} {noun} the stored mask '{name}' (frames {frames}); "
            f"run facegraft mask apply SHOTDIR --model MASKDIR --name {name}",
            store.path,
        )
    return found
