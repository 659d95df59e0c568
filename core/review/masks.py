"""Hand-painted masks: brush strokes on a face's mask in its aligned crop, and painted masks carried to a
new crop when an edit moves the face's alignment.

A painted mask is stored by name (default ``label``, the name the occlusion-mask trainer learns from):
(size, size) uint8, 255 = face to keep, 0 = not face (an occluder, background), in the stored face's
aligned crop space. Landmark masks (`geometry.masks.MASKERS`) are never painted: they are redrawn from the
landmarks whenever those change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from facegraft.geometry.masks import MASKERS

LABEL = "label"
# The mask a new painted mask starts from, first found: the landmark masks extraction stores.
START_FROM = ("extended", "components")


def start_mask(masks: Mapping[str, np.ndarray], name: str, size: int) -> tuple[np.ndarray, str]:
    """(mask, where it came from): the stored painted mask `name`, else the first landmark mask of
    START_FROM the face has, made hard (its anti-aliased edge cut at half), else all face; (size, size)
    uint8, 0 or 255 unless the stored mask holds other values."""
    if name in masks:
        found = masks[name]
        if found.shape != (size, size):  # stored at another resolution: painted at the crop's
            found = cv2.resize(found, (size, size), interpolation=cv2.INTER_NEAREST)
        return found.copy(), name
    for base in START_FROM:
        if base in masks:
            return np.where(masks[base] >= 128, 255, 0).astype(np.uint8), base
    return np.full((size, size), 255, np.uint8), "none"


def paint_stroke(
    mask: np.ndarray, points: Sequence[Sequence[float]], radius: float, include: bool
) -> np.ndarray:
    """A copy of the (S, S) uint8 mask with a round brush of `radius` crop pixels dragged through `points`
    (crop pixels, in order) painted 255 (`include`) or 0."""
    out = np.ascontiguousarray(mask.copy())
    value = 255 if include else 0
    pts = np.round(np.asarray(points, np.float64).reshape(-1, 2) * 16).astype(np.int64)
    r = max(0.5, float(radius))
    for x, y in pts:  # a lone click paints a dot
        cv2.circle(out, (int(x), int(y)), int(round(r * 16)), value, -1, cv2.LINE_8, 4)
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        cv2.line(out, (int(x0), int(y0)), (int(x1), int(y1)), value, max(1, int(round(2 * r))), cv2.LINE_8, 4)
    return out


def carried(masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The masks an edit of the landmarks carries to the face's new crop: all but the landmark masks, which
    are drawn again (painted, imported and predicted masks alike)."""
    return {name: m for name, m in masks.items() if name not in MASKERS}


def carry_mask(mask: np.ndarray, old_matrix: np.ndarray, new_matrix: np.ndarray, size: int) -> np.ndarray:
    """An (h, w) uint8 mask of a `size` px crop (any resolution) moved from the crop of `old_matrix` to
    that of `new_matrix` (both (2, 3) plate -> crop pixels), so it stays on the same plate pixels; what was
    outside the old crop is 0 (not face)."""
    h, w = mask.shape
    to_mask = np.diag([w / size, h / size, 1.0])
    old, new = np.eye(3), np.eye(3)
    old[:2], new[:2] = old_matrix, new_matrix
    moved = to_mask @ new @ np.linalg.inv(old) @ np.linalg.inv(to_mask)
    return cv2.warpAffine(mask, moved[:2], (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
