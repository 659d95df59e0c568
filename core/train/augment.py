"""Training augmentation as pure functions on aligned faces: random warp, flips, colour shifts.

Images are (R, R, 3) uint8 RGB aligned crops; landmarks (68, 2) in crop pixels. Every function takes an
explicit numpy Generator so a sample is reproducible from its seed.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.extract.alignment import MIRROR_68


def random_warp_maps(
    rng: np.random.Generator, size: int, grid: int = 5, strength: float = 0.06
) -> tuple[np.ndarray, np.ndarray]:
    """(size, size) float32 x and y remap tables: a smooth random displacement of a `grid` x `grid` lattice
    (points moved by about `strength` of the image), interpolated bicubically and tapered to zero at the
    borders so the crop's edges stay put."""
    jitter = rng.normal(0.0, strength * size / 2, size=(2, grid, grid)).astype(np.float32)
    dx = cv2.resize(jitter[0], (size, size), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(jitter[1], (size, size), interpolation=cv2.INTER_CUBIC)
    taper = np.sin(np.pi * np.arange(size) / (size - 1)).astype(np.float32)
    window = np.outer(taper, taper)
    gx, gy = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    return gx + dx * window, gy + dy * window


def random_warp(image: np.ndarray, rng: np.random.Generator, strength: float = 0.06) -> np.ndarray:
    """(R, R, 3) uint8 face bent by a smooth random grid: the network must learn the face, not the pixels."""
    map_x, map_y = random_warp_maps(rng, image.shape[0], strength=strength)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flip(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a face left/right; landmarks follow and are relabelled so point i is the same feature."""
    size = image.shape[1]
    flipped = landmarks.copy()
    flipped[:, 0] = size - 1 - flipped[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), flipped[MIRROR_68]


def lab_shift(
    image: np.ndarray, rng: np.random.Generator, lightness: float = 0.3, ab: float = 0.05
) -> np.ndarray:
    """(R, R, 3) uint8 face with its LAB lightness scaled by up to +-`lightness` and a/b shifted by up to
    +-`ab` of the range: the model sees the identity under varied light and white balance."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[:, :, 0] *= 1.0 + rng.uniform(-lightness, lightness)
    lab[:, :, 1:] += rng.uniform(-ab, ab, size=2) * 255.0
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def clahe(image: np.ndarray) -> np.ndarray:
    """(R, R, 3) uint8 face with contrast-limited histogram equalisation on its lightness."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
