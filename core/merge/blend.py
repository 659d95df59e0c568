"""The image maths of merging a swapped face into a plate: pure functions, I/O-free.

Faces in crop space are (R, R, 3) float32 in the working encoding (0..1); plate regions are (H, W, 3)
float32 in the plate's own colour space; mattes are (H, W) float32 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np


def scaled_about_centre(face_to_plate: np.ndarray, size: int, percent: float) -> np.ndarray:
    """(2, 3) crop -> plate matrix that draws the face `percent` larger (smaller when negative) about the
    crop's centre, so the face grows in place."""
    s = 1.0 + percent / 100.0
    c = (size - 1) / 2.0
    scale = np.array([[1 / s, 0, c - c / s], [0, 1 / s, c - c / s], [0, 0, 1]], np.float64)
    m = np.vstack([np.asarray(face_to_plate, np.float64)[:2], [0, 0, 1]])
    return (m @ np.linalg.inv(scale))[:2]


def sharpen(face: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: (R, R, 3) float32 -> same. A negative `amount` blurs with sigma |amount| instead."""
    if amount == 0:
        return face
    if amount < 0:
        return cv2.GaussianBlur(face, (0, 0), -amount)
    soft = cv2.GaussianBlur(face, (0, 0), sigma)
    return face + amount * (face - soft)


def degrade(
    face: np.ndarray, blur: float = 0.0, noise: float = 0.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """(H, W, 3) float32 softened by a gaussian of sigma `blur` px and given gaussian grain of std
    `noise`, to match a softer or grainier plate."""
    out = cv2.GaussianBlur(face, (0, 0), blur) if blur > 0 else face
    if noise > 0:
        rng = rng or np.random.default_rng(0)
        out = out + rng.normal(0.0, noise, size=out.shape).astype(np.float32)
    return out


def motion_kernel(velocity: np.ndarray, power: float) -> np.ndarray | None:
    """Normalised line kernel along `velocity` (x, y px per frame), `power` frames of travel long; None
    when the blur would be shorter than a pixel."""
    v = np.asarray(velocity, np.float64) * power
    length = float(np.hypot(*v))
    if length < 1.0:
        return None
    r = int(np.ceil(length / 2))
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    d = v / length
    for t in np.linspace(-length / 2, length / 2, max(3, int(np.ceil(length * 2)))):
        cv2.circle(k, (int(round(r + t * d[0])), int(round(r + t * d[1]))), 0, 1.0, -1)
    return k / k.sum()


def motion_blur(
    premult: np.ndarray, matte: np.ndarray, kernel: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Blur a premultiplied (H, W, 3) face and its (H, W) matte with the same kernel (blurring
    premultiplied colour keeps the edge free of dark or bright fringes)."""
    if kernel is None:
        return premult, matte
    return cv2.filter2D(premult, -1, kernel), cv2.filter2D(matte, -1, kernel)


def over(premult: np.ndarray, matte: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """Premultiplied face over the plate: (H, W, 3) + (H, W) + (H, W, 3) float32 -> (H, W, 3) float32.

    Where the matte is 0 the plate's value is returned unchanged, bit for bit."""
    a = matte[..., None]
    comp = premult + plate * (1.0 - a)
    return np.where(a > 0, comp, plate)


def region(
    face_to_plate: np.ndarray, size: int, frame_shape: tuple[int, int], margin: float
) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the plate region the aligned crop covers plus `margin` px, clipped to the
    frame (height, width); None when it lies outside."""
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
    m = np.asarray(face_to_plate, np.float64)
    pts = corners @ m[:2, :2].T + m[:2, 2]
    h, w = frame_shape
    x0 = max(0, int(np.floor(pts[:, 0].min() - margin)))
    y0 = max(0, int(np.floor(pts[:, 1].min() - margin)))
    x1 = min(w, int(np.ceil(pts[:, 0].max() + margin)) + 1)
    y1 = min(h, int(np.ceil(pts[:, 1].max() + margin)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def warp_to_region(
    crop: np.ndarray,
    face_to_plate: np.ndarray,
    box: tuple[int, int, int, int],
    interpolation: int = cv2.INTER_CUBIC,
) -> np.ndarray:
    """An aligned crop (R, R[, C]) drawn into the plate region `box`: (y1-y0, x1-x0[, C]) float32, zero
    outside the crop."""
    x0, y0, x1, y1 = box
    m = np.asarray(face_to_plate, np.float64)[:2].copy()
    m[:, 2] -= (x0, y0)
    return cv2.warpAffine(
        crop.astype(np.float32, copy=False),
        m,
        (x1 - x0, y1 - y0),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
