"""Shape the raw face mask into the blend matte: erode or dilate, per-side erosion, feather.

Pure functions on (H, W) float32 mattes in 0..1 in plate pixels (a region of interest of the plate).
The feather stays inside the shaped edge: the matte reaches 0 where the eroded mask ends, so the edge of
the model's face never shows.
"""

from __future__ import annotations

import cv2
import numpy as np


def _disc(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def erode(mask: np.ndarray, pixels: float) -> np.ndarray:
    """(H, W) float32 mask shrunk by `pixels` (a disc min-filter); negative grows it (max-filter)."""
    if abs(pixels) < 0.5:
        return mask
    op = cv2.erode if pixels > 0 else cv2.dilate
    return op(mask, _disc(abs(pixels)), borderType=cv2.BORDER_CONSTANT, borderValue=0.0)


def erode_side(mask: np.ndarray, pixels: float, outward: np.ndarray) -> np.ndarray:
    """(H, W) float32 mask with the edge facing the unit vector `outward` (x, y) moved in by `pixels`.

    A pixel survives only when the pixel `pixels` further out is also inside: one side shrinks, the
    others stay where they were."""
    if pixels < 0.5:
        return mask
    dx, dy = float(outward[0]) * pixels, float(outward[1]) * pixels
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    moved = cv2.warpAffine(
        mask,
        shift,
        (mask.shape[1], mask.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return np.minimum(mask, moved)


def feather(mask: np.ndarray, pixels: float) -> np.ndarray:
    """(H, W) float32 mask with a soft edge about `pixels` wide lying inside the hard edge.

    The mask is eroded by the blur's radius first (a gaussian of sigma pixels/6 cut at 3 sigma), so the
    blurred edge ends exactly where the mask ended."""
    if pixels < 0.5:
        return mask
    sigma = pixels / 6.0
    radius = int(np.ceil(3 * sigma))
    inner = erode(mask, radius + 1)  # one more pixel: a disc of pixels is not quite round
    soft = cv2.GaussianBlur(inner, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_CONSTANT)
    return soft * (mask > 0)  # and the tails of the gaussian never pass the mask's edge


def face_directions(face_to_plate: np.ndarray) -> dict[str, np.ndarray]:
    """Unit vectors (x, y) in plate pixels pointing to each side of the face (top: towards the brow),
    from the (2, 3) aligned-crop -> plate matrix."""
    a = np.asarray(face_to_plate, np.float64)[:2, :2]
    out = {}
    for side, v in {"top": (0, -1), "bottom": (0, 1), "left": (-1, 0), "right": (1, 0)}.items():
        d = a @ np.array(v, np.float64)
        out[side] = d / max(np.linalg.norm(d), 1e-9)
    return out


def shape_matte(
    raw: np.ndarray,
    erode_px: float = 0.0,
    feather_px: float = 0.0,
    sides: dict[str, float] | None = None,
    directions: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The blend matte from the raw mask: (H, W) float32 0..1 -> (H, W) float32 0..1.

    Erode (or dilate when negative) by `erode_px`, erode each named side of the face by `sides[name]`
    pixels along `directions[name]`, then feather by `feather_px`."""
    m = np.clip(raw.astype(np.float32, copy=False), 0.0, 1.0)
    m = erode(m, erode_px)
    for side, px in (sides or {}).items():
        if px > 0:
            if directions is None:
                raise ValueError("per-side erosion needs the face's directions")
            m = erode_side(m, px, directions[side])
    m = feather(m, feather_px)
    return np.clip(m, 0.0, 1.0)


def edge_position(matte: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Sub-pixel positions where each row of an (H, W) matte first and last crosses `level`:
    (H, 2) float64, NaN for rows the matte does not reach. Used to measure how much an edge moves."""
    out = np.full((matte.shape[0], 2), np.nan)
    for y, row in enumerate(matte):
        above = np.nonzero(row >= level)[0]
        if above.size == 0:
            continue
        i, j = above[0], above[-1]
        left = i - (row[i] - level) / (row[i] - row[i - 1]) if i > 0 and row[i] != row[i - 1] else float(i)
        right = (
            j + (row[j] - level) / (row[j] - row[j + 1])
            if j + 1 < row.size and row[j] != row[j + 1]
            else float(j)
        )
        out[y] = (left, right)
    return out
