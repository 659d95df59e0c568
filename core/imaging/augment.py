"""Training augmentation as pure functions on aligned faces: random warp, warp to landmarks, flips,
colour shifts.

Images are (R, R, 3) uint8 RGB aligned crops; landmarks (68, 2) in crop pixels. Every function takes an
explicit numpy Generator
when it draws anything, so a sample is reproducible from its seed.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.geometry.alignment import MIRROR_68


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


def flip_landmarks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(68, 2) landmarks of a face mirrored left/right in a `size`-wide crop, relabelled so point i is
    the same feature."""
    flipped = landmarks.copy()
    flipped[:, 0] = size - 1 - flipped[:, 0]
    return flipped[MIRROR_68]


def flip(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a face left/right; landmarks follow and are relabelled so point i is the same feature."""
    return np.ascontiguousarray(image[:, ::-1]), flip_landmarks(landmarks, image.shape[1])


def _tps_kernel(d2: np.ndarray) -> np.ndarray:
    """Thin-plate radial basis r^2 log r, written with the squared distance (0 at r = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d2 > 0, 0.5 * d2 * np.log(d2), 0.0)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared distances between two point lists (n, 2)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def landmark_warp_maps(
    src_landmarks: np.ndarray, dst_landmarks: np.ndarray, size: int, anchors: int = 8, grid: int = 33
) -> tuple[np.ndarray, np.ndarray]:
    """(size, size) float32 x and y remap tables that carry the points `src_landmarks` (68, 2) to
    `dst_landmarks` (crop pixels) with a thin-plate spline, `anchors` points per side pinning the borders.

    The spline maps each output position to where it samples the input (so a feature at src lands at dst);
    it is solved on a `grid` x `grid` lattice and upsampled bilinearly, so the cost barely grows with size."""
    src = np.asarray(src_landmarks, np.float64) / (size - 1)
    dst = np.asarray(dst_landmarks, np.float64) / (size - 1)
    edge = np.linspace(0.0, 1.0, anchors)
    border = np.concatenate(
        [np.stack([edge, np.zeros_like(edge)], 1), np.stack([edge, np.ones_like(edge)], 1)]
        + [
            np.stack([np.zeros_like(edge[1:-1]), edge[1:-1]], 1),
            np.stack([np.ones_like(edge[1:-1]), edge[1:-1]], 1),
        ]
    )
    ctrl = np.concatenate([dst, border])  # positions in the output image
    value = np.concatenate([src, border])  # where each of them samples the input
    n = len(ctrl)
    k = _tps_kernel(_sq_dist(ctrl, ctrl)) + 1e-6 * np.eye(n)
    poly = np.concatenate([np.ones((n, 1)), ctrl], 1)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n], system[:n, n:], system[n:, :n] = k, poly, poly.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = value - ctrl  # solve for the displacement: zero everywhere the landmarks agree
    try:
        coef = np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:  # coincident points: the least-squares spline is as good
        coef = np.linalg.lstsq(system, rhs, rcond=None)[0]
    g = np.linspace(0.0, 1.0, grid)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    basis = _tps_kernel(_sq_dist(pts, ctrl))
    disp = basis @ coef[:n] + np.concatenate([np.ones((len(pts), 1)), pts], 1) @ coef[n:]
    disp = (disp * (size - 1)).reshape(grid, grid, 2).astype(np.float32)
    # Bilinear upsampling with corners aligned (lattice point j sits at pixel j * (size-1)/(grid-1)).
    u = np.arange(size, dtype=np.float32) * ((grid - 1) / (size - 1))
    ux, uy = np.meshgrid(u, u)
    full = cv2.remap(disp, ux, uy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gx, gy = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    return gx + full[:, :, 0], gy + full[:, :, 1]


def warp_to_landmarks(
    image: np.ndarray, landmarks: np.ndarray, target: np.ndarray, amount: float = 1.0
) -> np.ndarray:
    """(R, R, 3) uint8 face bent so its landmarks move `amount` (0..1) of the way to `target` (68, 2),
    another face's landmarks: the model sees the identity with another face's proportions and expression
    geometry, and must still render the original."""
    goal = landmarks + amount * (np.asarray(target, np.float32) - landmarks)
    map_x, map_y = landmark_warp_maps(landmarks, goal, image.shape[0])
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


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
