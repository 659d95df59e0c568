"""Landmark masks in aligned-crop space: `components` (the face from brows to chin) and `extended`
(components plus the forehead). Pure functions of landmarks; (S, S) uint8, 255 inside.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from facegraft.geometry.alignment import transform_points

# Convex parts whose union follows the non-convex outline of the face.
_PARTS = [
    list(range(0, 9)) + list(range(17, 22)) + [27, 28, 29, 30, 33],  # image-left half
    list(range(8, 17)) + list(range(22, 27)) + [27, 28, 29, 30, 33],  # image-right half
    list(range(4, 13)) + list(range(31, 36)) + list(range(48, 60)),  # lower face and mouth
]


def _fill(size: int, polygons: list[np.ndarray]) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for poly in polygons:
        hull = cv2.convexHull(np.round(poly * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def components_mask(crop_landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 mask of the face from brows to chin, from (68, 2) landmarks in crop pixels."""
    pts = np.asarray(crop_landmarks, np.float64)
    return _fill(size, [pts[p] for p in _PARTS])


def extended_mask(crop_landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 mask of `components` plus the forehead above the brows."""
    pts = np.asarray(crop_landmarks, np.float64)
    brows = pts[17:27]
    chin = pts[8]
    up = brows.mean(0) - chin
    forehead = brows + 0.35 * up  # about the hairline on an average face
    extra = [np.vstack([brows, forehead]), np.vstack([pts[[0, 16]], forehead])]
    return np.maximum(components_mask(pts, size), _fill(size, extra))


MASKERS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "components": components_mask,
    "extended": extended_mask,
}


def landmark_masks(
    landmarks: np.ndarray, matrix: np.ndarray, size: int, names: tuple[str, ...] = ("components", "extended")
) -> dict[str, np.ndarray]:
    """Masks by name for plate-pixel (68, 2) landmarks, drawn in the (2, 3) plate->crop matrix's crop."""
    crop_pts = transform_points(landmarks, matrix)
    return {name: MASKERS[name](crop_pts, size) for name in names}
