"""Measure a swap the way a viewer would: whose face the comp shows, whether it keeps the plate's pose,
how sharp it is, and whether the pixels outside it were left alone.

Faces are found on the comp by the same detector and landmarker as extraction, and compared with dlib's
face-recognition descriptor (distances below 0.6 are the same person). Pure functions of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facegraft.extract import identity
from facegraft.geometry.alignment import eye_distance
from facegraft.geometry.masks import components_mask


@dataclass
class FoundFace:
    """The face nearest to an expected position on a frame: its landmarks (68, 2) and descriptor (128,)."""

    landmarks: np.ndarray
    descriptor: np.ndarray


def find_face(rgb: np.ndarray, near: np.ndarray | None = None, tracker=None) -> FoundFace | None:
    """Detect and landmark the face of an (H, W, 3) uint8 working-encoded frame nearest `near` (68, 2).

    Pass a fresh tracker per frame (or none): a tracker carries faces over from the frame before."""
    from facegraft.extract.pipeline import ExtractOptions, build_tracker

    tracker = tracker or build_tracker(ExtractOptions(detect_every=1, embeddings=False))
    found = tracker.step(rgb, 0)
    if not found:
        return None
    if near is not None:
        centre = np.asarray(near).mean(0)
        found = sorted(found, key=lambda f: float(np.linalg.norm(f.landmarks.mean(0) - centre)))
    lm = np.asarray(found[0].landmarks, np.float64)
    return FoundFace(lm, identity.embed(rgb, lm))


def landmark_agreement(found: np.ndarray, reference: np.ndarray, points: slice = slice(0, 48)) -> float:
    """Mean distance of landmarks `points` (default 0-47: jaw, brows, nose, eyes) in % of the reference's
    eye-centre distance."""
    err = np.linalg.norm(np.asarray(found)[points] - np.asarray(reference)[points], axis=1).mean()
    return float(err / eye_distance(np.asarray(reference)) * 100.0)


def laplacian_variance(face: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian of an (R, R, 3) face in 0..1 (or uint8) inside `mask` (R, R) > 0.5."""
    img = face.astype(np.float32) / (255.0 if face.dtype == np.uint8 else 1.0)
    grey = cv2.cvtColor(np.clip(img, 0, 1), cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(grey * 255.0, cv2.CV_32F, ksize=1)
    sel = lap[mask > 0.5] if mask is not None else lap.ravel()
    return float(np.var(sel))


def face_mask(crop_landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 0/1 face region (brows to chin) from landmarks in crop pixels."""
    return components_mask(crop_landmarks, size).astype(np.float32) / 255.0


def untouched(comp: np.ndarray, plate: np.ndarray, matte: np.ndarray) -> dict:
    """Where the matte is 0: how many pixels there are and how many differ from the plate at all."""
    outside = matte == 0
    differs = np.any(comp != plate, axis=-1) & outside
    return {"outside_pixels": int(outside.sum()), "changed_outside": int(differs.sum())}
