"""Training faces from a shot: aligned crops decoded once, with their landmarks in crop pixels and pose.

A faceset is read from a shot folder (its `alignments.db` and `faces/`). Faces whose image was deleted by
the user are left out (the store is the index, the folder is the user's selection), so are faces flagged
not-target (by the review page, `faceset filter --move` or `faceset clean`) and, when a person is chosen,
every other person's faces. Crops are resized to
the training resolution once and kept in memory as uint8, so sampling costs no decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facegraft.errors import InputError
from facegraft.geometry.alignment import transform_points
from facegraft.mask.stored import stored_masks
from facegraft.persons.select import chosen_person
from facegraft.store.alignments import NOT_TARGET, AlignmentsStore, Person
from facegraft.store.shot import Shot


@dataclass
class Faceset:
    """N faces at one resolution: images (N, R, R, 3) uint8 RGB, landmarks (N, 68, 2) float32 in crop
    pixels, yaw (N,) degrees, the face ids they came from, and optionally one stored mask per face
    (N, R, R) uint8 for the masked loss (`--train-mask`)."""

    images: np.ndarray
    landmarks: np.ndarray
    yaw: np.ndarray
    face_ids: list[int]
    shot: Path
    masks: np.ndarray | None = None
    person: Person | None = None  # the person the faces were chosen from (None: every target face)
    skipped_not_target: int = 0
    skipped_other_persons: int = 0

    def __len__(self) -> int:
        return len(self.face_ids)


def load_faceset(
    shot_dir: str | Path,
    resolution: int,
    face_type: str | None = None,
    mask: str | None = None,
    person: str = "",
) -> Faceset:
    """Every face of a shot whose aligned PNG still exists, resized to `resolution`.

    `face_type`, when given, must match the one the shot was extracted with (a different coverage would
    teach the model a different crop than merge will give it). `mask` names a stored mask to load with
    each face, resized like its image (the mask lives in the same aligned crop); faces lacking it are
    refused. `person` (an id, name or photo, see `resolve_person`) keeps that person's faces only."""
    shot = Path(shot_dir)
    images, landmarks, yaw, ids, kept = [], [], [], [], []
    not_target = other_persons = 0
    with AlignmentsStore.open(shot) as store:
        chosen = chosen_person(store, person)
        for face in store.faces():
            if face.image is None or face.matrix is None:
                continue
            if NOT_TARGET in face.flags:
                not_target += 1
                continue
            if chosen is not None and face.person_id != chosen.id:
                other_persons += 1
                continue
            if face_type is not None and face.face_type != face_type:
                raise InputError(
                    f"faces were extracted as '{face.face_type}', training asks for '{face_type}' "
                    "(re-export the faceset or pass the same --face-type)",
                    shot,
                )
            path = Shot(shot).faces / face.image
            if not path.is_file():
                continue
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputError("cannot decode face image", path)
            scale = resolution / bgr.shape[1]
            if bgr.shape[0] != resolution:
                bgr = cv2.resize(bgr, (resolution, resolution), interpolation=cv2.INTER_AREA)
            images.append(bgr[:, :, ::-1])
            landmarks.append(transform_points(face.landmarks, face.matrix) * scale)
            yaw.append(face.pose[0])
            ids.append(int(face.id))
            kept.append(face)
        stored = stored_masks(store, kept, mask) if mask else None
    if not ids:
        if chosen is not None:
            raise InputError(f"{chosen.label} has no face images to train on", shot)
        why = f" ({not_target} faces are flagged {NOT_TARGET})" if not_target else ""
        raise InputError(
            f"no face images to train on (run extract first, or the faces/ folder is empty){why}", shot
        )
    return Faceset(
        np.ascontiguousarray(np.stack(images)),
        np.stack(landmarks).astype(np.float32),
        np.asarray(yaw, np.float32),
        ids,
        shot,
        None if stored is None else np.stack([_resized(stored[i].mask, resolution) for i in ids]),
        chosen,
        not_target,
        other_persons,
    )


def _resized(mask: np.ndarray, resolution: int) -> np.ndarray:
    """(S, S) uint8 mask area-resized to (resolution, resolution)."""
    if mask.shape[0] == resolution:
        return mask
    return cv2.resize(mask, (resolution, resolution), interpolation=cv2.INTER_AREA)


def yaw_balanced_weights(yaw: np.ndarray, bins: int = 9) -> np.ndarray:
    """(N,) sampling probabilities that make each occupied yaw bin equally likely (rare poses get seen)."""
    yaw = np.asarray(yaw, np.float64)
    if len(yaw) == 0:
        return np.zeros(0)
    edges = np.linspace(yaw.min(), yaw.max() + 1e-6, bins + 1)
    which = np.clip(np.digitize(yaw, edges) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins).astype(np.float64)
    w = 1.0 / counts[which]
    return w / w.sum()
