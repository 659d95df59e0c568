"""Identity embeddings: dlib's 128-d face descriptor (shipped in face-recognition-models).

Two faces of the same person lie closer than ~0.6 (Euclidean); ~57 ms a face on this CPU, so the
extractor computes it once per track segment, not per frame.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from facegraft.extract.model_files import shipped_model

SAME_PERSON = 0.6  # dlib's published threshold


@lru_cache(maxsize=1)
def _model():
    import dlib

    return dlib, dlib.face_recognition_model_v1(str(shipped_model("face_recognition")))


def embed(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(128,) float32 descriptor of the face that `landmarks` (68, 2) outline in an (H, W, 3) uint8 frame."""
    dlib, model = _model()
    pts = np.asarray(landmarks, np.float64)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    rect = dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
    return np.asarray(model.compute_face_descriptor(np.ascontiguousarray(rgb), shape), np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors; below SAME_PERSON means the same person."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
