"""Measure what a model does to identity: dlib face-recognition distances of swapped faces to the source.

A swapped face is judged the way a viewer would: it is enlarged, found and landmarked by the extractor like
any plate, and its 128-d descriptor compared with the source person's. The same is done for the original
destination face, so the improvement is measured on the same faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facegraft.extract import identity
from facegraft.extract.pipeline import ExtractOptions, build_tracker
from facegraft.extract.tracker import Tracker


@dataclass
class IdentityReport:
    """Per face: distance of the swap to the source and of the original destination face to the source
    (NaN where no face could be found to measure)."""

    swap_to_source: np.ndarray
    original_to_source: np.ndarray

    def summary(self) -> dict:
        ok = np.isfinite(self.swap_to_source) & np.isfinite(self.original_to_source)
        return {
            "faces": int(ok.sum()),
            "swap_to_source_mean": float(np.mean(self.swap_to_source[ok])),
            "original_to_source_mean": float(np.mean(self.original_to_source[ok])),
            "swap_closer_on": int(np.sum(self.swap_to_source[ok] < self.original_to_source[ok])),
        }


def describe_face(face: np.ndarray, tracker: Tracker | None = None, size: int = 256) -> np.ndarray | None:
    """(128,) descriptor of an aligned (R, R, 3) uint8 face, or None when no face is found in it."""
    tracker = tracker or build_tracker(ExtractOptions(detect_every=1, embeddings=False))
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((2 * size, 2 * size, 3), 128, np.uint8)
    canvas[size // 2 : size // 2 + size, size // 2 : size // 2 + size] = big
    found = tracker.step(canvas, 0)
    return identity.embed(canvas, found[0].landmarks) if found else None


def swap_identity(model: torch.nn.Module, faces: np.ndarray, source_descriptor: np.ndarray) -> IdentityReport:
    """Distances to the source for the swaps of (N, R, R, 3) uint8 destination faces and for the faces."""
    tracker = build_tracker(ExtractOptions(detect_every=1, embeddings=False))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        swapped, _ = model.swap(torch.from_numpy(faces.astype(np.float32) / 255).permute(0, 3, 1, 2))
    model.train(was_training)
    swaps = np.clip(swapped.float().permute(0, 2, 3, 1).numpy() * 255 + 0.5, 0, 255).astype(np.uint8)

    def dist(img: np.ndarray) -> float:
        d = describe_face(img, tracker)
        return float("nan") if d is None else identity.distance(d, source_descriptor)

    return IdentityReport(np.array([dist(s) for s in swaps]), np.array([dist(f) for f in faces]))
