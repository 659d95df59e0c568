"""Face verification: does an upright, normalised crop around these landmarks look like a face?

dlib's HOG frontal detector is run on the crop that the landmarks define (face turned upright, scaled to
the detector's preferred size). A true face scores well; a false positive, or landmarks fitted to the face
at the wrong roll, does not. Cost: about a millisecond per candidate.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from facegraft.extract.alignment import canonical_box
from facegraft.extract.landmarkers import upright_crop

FACE_PX = 100  # canonical box side in the verification crop: HOG's window is 80 px
NO_FACE = -2.0


@lru_cache(maxsize=1)
def _hog():
    import dlib

    return dlib.get_frontal_face_detector()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_confidence(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """HOG score of the upright face that `landmarks` (68, 2) outline in the (H, W, 3) uint8 frame.

    Returns NO_FACE (-2) when nothing face-like sits where the landmarks say; ~0 is a weak face, >0.5 a clear one.
    """
    cb = canonical_box()
    side = max(cb[2] - cb[0], cb[3] - cb[1])
    matrix, size, box = upright_crop(landmarks, "dlib-hog", max_face_px=int(FACE_PX * side / side))
    # upright_crop caps the box at max_face_px; scale up small faces so HOG (80 px window) can see them.
    k = FACE_PX / max(box[2] - box[0], 1e-6)
    if abs(k - 1.0) > 1e-3:
        matrix = matrix * k
        size = int(np.ceil(size * k))
        box = box * k
    crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    rects, scores, idx = _hog().run(np.ascontiguousarray(crop), 0, -1.0)
    best = NO_FACE
    for r, s, i in zip(rects, scores, idx):
        found = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float)
        if i == 0 and _iou(found, box) > 0.45:  # the frontal, upright sub-detector only
            best = max(best, float(s))
    return best
