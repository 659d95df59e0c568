"""Watermark a finished comp: every swapped face gets the invisible mark, in the display-referred working
encoding that deliverables carry, and nothing outside the matte (nor a clipped highlight) changes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegraft.provenance.watermark import (
    ENGINE_ID,
    Payload,
    embed_face,
    find_faces,
    job_tag,
    luma,
    read_face,
)

RETRIES = 2  # times a face is marked again when it does not read back


def job_payload(job_id: str) -> Payload:
    """The payload for a conversion job: facegraft's engine id and the job id's 16-bit tag."""
    return Payload(ENGINE_ID, job_tag(job_id))


def describe(payload: Payload) -> str:
    """How headers name a payload: `engine fa job 1a2b`."""
    return f"engine {payload.engine:02x} job {payload.job:04x}"


@dataclass
class MarkedFrame:
    """The marked comp in the plate's space and in the display encoding, and how many faces carry it."""

    comp: np.ndarray
    display: np.ndarray
    faces: int


def mark_comp(
    comp: np.ndarray,
    display: np.ndarray,
    matte: np.ndarray,
    payload: Payload,
    to_plate,
    fallback: list[np.ndarray] = (),
) -> MarkedFrame:
    """Mark each swapped face of a comp.

    `comp` (H, W, 3) float32 in the plate's colour space; `display` the same frame in the working display
    encoding, unclipped; `matte` (H, W) float32 0..1 the blend matte; `to_plate` converts display floats
    back to the plate's space. Faces are found on the comp as a reader will find them (`fallback` landmarks
    stand in for a face the detector misses). Only pixels inside the matte and below display white change,
    so highlights above 1.0 and everything outside the face keep their exact values."""
    clipped = np.clip(display, 0.0, 1.0).astype(np.float32)
    where = (matte * (display.max(axis=2) < 1.0)).astype(np.float32)
    if not where.any():
        return MarkedFrame(comp, clipped, 0)
    found = find_faces(np.clip(clipped * 255.0 + 0.5, 0, 255).astype(np.uint8))
    faces = [lm for lm in found if _inside(lm, where)]
    for lm in fallback:
        if _inside(lm, where) and not any(_same_face(lm, f) for f in faces):
            faces.append(lm)
    marked = clipped
    for lm in faces:
        marked = _embed_checked(marked, where, lm, payload)
    changed = np.any(marked != clipped, axis=2)
    out = comp.copy()
    if changed.any():
        out[changed] = to_plate(marked)[changed]
    return MarkedFrame(out, np.where(changed[..., None], marked, clipped), len(faces))


def _embed_checked(
    display: np.ndarray, where: np.ndarray, landmarks: np.ndarray, payload: Payload
) -> np.ndarray:
    """Mark one face, then read it back as a reader would (8 bits, faces found afresh); when the landmarks
    found on the marked face put the reader off, mark again from the original at those landmarks."""
    best, best_score = display, -1.0
    for _ in range(RETRIES + 1):
        marked = embed_face(display, where, landmarks, payload)
        u8 = np.clip(marked * 255.0 + 0.5, 0, 255).astype(np.uint8)
        again = [lm for lm in find_faces(u8) if _same_face(lm, landmarks)]
        if not again:
            return marked  # the detector misses it either way: nothing better to aim at
        reading = read_face(luma(u8), again[0])
        score = reading.confidence if reading.payload == payload else 0.0
        if score > best_score:
            best, best_score = marked, score
        if reading.detected and reading.payload == payload:
            break
        landmarks = again[0]
    return best


def _inside(landmarks: np.ndarray, matte: np.ndarray) -> bool:
    """Whether a face's centre lies in the matte: a face the swap covers, not a bystander."""
    x, y = np.round(landmarks[27:48].mean(axis=0)).astype(int)
    h, w = matte.shape
    return 0 <= x < w and 0 <= y < h and matte[y, x] > 0.5


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two landmark sets are the same face (centres closer than a third of the eye distance)."""
    eyes = np.linalg.norm(a[36:42].mean(axis=0) - a[42:48].mean(axis=0))
    return float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0))) < eyes / 3.0
