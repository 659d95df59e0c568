"""What a faceset is sorted and reported by, measured on one aligned face: pure functions of the crop
(``(S, S, 3) uint8 RGB``) and its landmarks in crop pixels (``(68, 2)``).

The face region for the pixel measures is the landmark hull, so background and hair do not decide how
sharp or bright a face reads.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.geometry.alignment import LEFT_EYE, RIGHT_EYE, eye_distance
from facegraft.geometry.masks import components_mask

HIST_BINS = 32


def face_region(crop_landmarks: np.ndarray, size: int) -> np.ndarray:
    """(S, S) bool: inside the face (brows to chin) drawn from crop landmarks."""
    return components_mask(crop_landmarks, size) > 127


def sharpness(rgb: np.ndarray, region: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face at 128 px inside `region`: high is sharp, low is blurred.

    Measured at a fixed size so faces extracted at different sizes compare."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = cv2.resize(region.astype(np.uint8), (128, 128), interpolation=cv2.INTER_NEAREST) > 0
    mask = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # keep the hull edge out
    lap = cv2.Laplacian(small, cv2.CV_32F, ksize=3)
    values = lap[mask] if mask.any() else lap.ravel()
    return float(values.var())


def brightness(rgb: np.ndarray, region: np.ndarray) -> float:
    """Mean HSV value of the face, 0..1."""
    v = rgb.max(axis=2)
    values = v[region] if region.any() else v.ravel()
    return float(values.mean() / 255.0)


def hue(rgb: np.ndarray, region: np.ndarray) -> float:
    """Circular mean hue of the face in degrees 0..360, weighted by saturation (grey pixels carry none)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float64)
    h, s = hsv[..., 0][region], hsv[..., 1][region]
    if h.size == 0:
        return 0.0
    angle = h / 256.0 * 2 * np.pi
    x, y = (s * np.cos(angle)).sum(), (s * np.sin(angle)).sum()
    return float(np.degrees(np.arctan2(y, x)) % 360.0)


def dark_fraction(rgb: np.ndarray) -> float:
    """Fraction of the crop that is black (all channels below 8): what a bare image folder can tell of a
    face cut by the frame edge."""
    return float((rgb.max(axis=2) < 8).mean())


def colour_histogram(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """(3 * HIST_BINS,) float32 per-channel histogram of the face, each channel summing to 1."""
    pixels = rgb[region] if region.any() else rgb.reshape(-1, 3)
    out = []
    for c in range(3):
        h = np.bincount(pixels[:, c] // (256 // HIST_BINS), minlength=HIST_BINS).astype(np.float64)
        out.append(h / max(h.sum(), 1.0))
    return np.concatenate(out).astype(np.float32)


def mouth_openness(landmarks: np.ndarray) -> float:
    """Gap between the inner lips over the eye distance: 0 closed, ~0.5 wide open."""
    lm = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean()
    return float(gap / max(eye_distance(lm), 1e-6))


def eye_openness(landmarks: np.ndarray) -> float:
    """Eye aspect ratio (lid gap over eye width) averaged over both eyes: ~0.3 open, < 0.15 closed."""
    lm = np.asarray(landmarks, np.float64)
    ratios = []
    for eye in (LEFT_EYE, RIGHT_EYE):
        p = lm[eye]
        gap = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        ratios.append(gap / max(2.0 * np.linalg.norm(p[0] - p[3]), 1e-6))
    return float(np.mean(ratios))


def outside_fraction(matrix: np.ndarray, size: int, frame_size: tuple[int, int]) -> float:
    """Fraction of a `size` crop whose pixels come from outside the plate frame (width, height): the part
    of a face cut by the frame edge, which extraction fills by repeating the edge."""
    if frame_size[0] <= 0 or frame_size[1] <= 0:
        return 0.0
    m = np.eye(3)
    m[:2] = np.asarray(matrix, np.float64)
    inv = np.linalg.inv(m)[:2]
    step = max(size // 64, 1)
    ys, xs = np.mgrid[0:size:step, 0:size:step].astype(np.float64) + 0.5
    px = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    py = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    inside = (px >= 0) & (px < frame_size[0]) & (py >= 0) & (py < frame_size[1])
    return float(1.0 - inside.mean())


def thumbnail(rgb: np.ndarray, size: int = 32) -> np.ndarray:
    """(size * size * 3,) float32 0..1: the face shrunk, for near-duplicate tests."""
    small = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / 255.0).ravel()
