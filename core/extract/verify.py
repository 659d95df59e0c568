"""Face verification: does an upright, normalised crop around these landmarks look like a face?

dlib's HOG frontal detector is run on the crop that the landmarks define (face turned upright, scaled to
the detector's preferred size). A true face scores well; a false positive, or landmarks fitted to the face
at the wrong roll, does not. Cost: about a millisecond per candidate.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.extract.detectors import shared_hog
from facegraft.geometry.alignment import canonical_box, to_canonical

FACE_PX = 100  # canonical box side in the verification crop: HOG's window is 80 px
NO_FACE = -2.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _upright(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """The (S, S, 3) upright crop used for verification, the expected face box in it, its scale (crop px
    per canonical unit) and its origin in canonical units."""
    cb = canonical_box()
    k = FACE_PX / float(cb[2] - cb[0])
    margin = 0.35 * (cb[2] - cb[0])
    origin = cb[:2] - margin
    size = int(np.ceil(k * (cb[2] - cb[0] + 2 * margin)))
    scale = np.array([[k, 0, -k * origin[0]], [0, k, -k * origin[1]], [0, 0, 1.0]])
    matrix = (scale @ to_canonical(landmarks))[:2]
    crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    expected = np.array(
        [k * (cb[0] - origin[0]), k * (cb[1] - origin[1]), k * (cb[2] - origin[0]), k * (cb[3] - origin[1])]
    )
    return np.ascontiguousarray(crop), expected, k, origin


def face_check(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[float, np.ndarray | None]:
    """HOG score of the upright face that `landmarks` (68, 2) outline in the (H, W, 3) uint8 frame, and the
    box HOG puts around it in canonical units (None when it finds none there).

    The score is NO_FACE (-2) when nothing face-like sits where the landmarks say; ~0 is a weak face and
    >0.5 a clear one. Comparing the box with `canonical_box()` tells whether the landmarks drifted in scale.
    """
    crop, expected, k, origin = _upright(rgb, landmarks)
    hog = shared_hog(0)
    with hog.lock:
        rects, scores, idx = hog.model.run(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), 0, -1.0)
    best, best_box = NO_FACE, None
    for r, s, i in zip(rects, scores, idx):
        found = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float)
        if i == 0 and _iou(found, expected) > 0.3 and s > best:  # the frontal, upright sub-detector only
            best, best_box = float(s), found / k + np.tile(origin, 2)
    return best, best_box
