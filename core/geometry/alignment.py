"""Alignment maths: similarity fits (Umeyama), the canonical mean face, face types and aligned crops.

The canonical face lives in unit coordinates where the inner-face landmarks (17..67: brows, eyes, nose,
mouth) span the unit square. A face type is a square region of that space; an aligned crop of `size`
pixels maps that region onto the crop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from facegraft.registry import lookup

# Left/right mirror of the 68-point (iBUG 300-W) layout: MIRROR_68[i] is the point that i becomes when the
# face is flipped horizontally.
MIRROR_68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 21, -1))  # brows 17..21 <-> 26..22
    + list(range(21, 16, -1))
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # right eye <- left eye
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48]  # outer lip top
    + [59, 58, 57, 56, 55]  # outer lip bottom
    + [64, 63, 62, 61, 60]  # inner lip top
    + [67, 66, 65],  # inner lip bottom
    dtype=np.int64,
)

LEFT_EYE = slice(36, 42)  # the subject's right eye, on the image's left
RIGHT_EYE = slice(42, 48)


@dataclass(frozen=True)
class FaceType:
    """A square region of canonical space: centre offset (in units of the inner face) and half-width."""

    name: str
    half_width: float
    centre_y: float = 0.5
    description: str = ""


FACE_TYPES: dict[str, FaceType] = {
    ft.name: ft
    for ft in (
        FaceType("half", 0.55, 0.55, "eyes to mouth, cheeks cut: the tightest crop"),
        FaceType("mid", 0.70, 0.52, "brows to chin, ears cut"),
        FaceType("full", 0.85, 0.50, "the whole face from brows to chin with a margin"),
        FaceType("whole", 1.10, 0.40, "face plus forehead and the sides of the head"),
        FaceType("head", 1.45, 0.30, "the whole head including hair"),
    )
}


def face_type(name: str) -> FaceType:
    """The face type called `name`; ValueError listing the choices otherwise."""
    return lookup(FACE_TYPES, name, "face type", ValueError)


@lru_cache(maxsize=1)
def _canonical() -> dict:
    with resources.files("facegraft.geometry").joinpath("data/mean_face.json").open() as f:
        return json.load(f)


def mean_face() -> np.ndarray:
    """(68, 2) float64 canonical landmarks; the inner face (17..67) spans the unit square."""
    return np.asarray(_canonical()["mean_face"], dtype=np.float64)


def canonical_box(detector: str = "dlib-hog") -> np.ndarray:
    """(4,) x0, y0, x1, y1 in canonical space: where `detector` puts its box around the mean face."""
    boxes = _canonical()["detector_boxes"]
    return np.asarray(boxes.get(detector, boxes["dlib-hog"]), dtype=np.float64)


def umeyama(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> np.ndarray:
    """(3, 3) least-squares similarity (or rigid if not `scale`) transform mapping (N, 2) src onto dst."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (s_c**2).sum() / n
    c = float((sig * d).sum() / var_s) if scale and var_s > 0 else 1.0
    t = np.eye(3)
    t[:2, :2] = c * rot
    t[:2, 2] = mu_d - c * rot @ mu_s
    return t


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points through a (2, 3) or (3, 3) affine matrix."""
    m = np.asarray(matrix, np.float64)
    p = np.asarray(points, np.float64)
    return p @ m[:2, :2].T + m[:2, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """(2, 3) inverse of a (2, 3) affine matrix."""
    m = np.eye(3)
    m[:2] = np.asarray(matrix, np.float64)[:2]
    return np.linalg.inv(m)[:2]


def to_canonical(landmarks: np.ndarray) -> np.ndarray:
    """(3, 3) similarity taking plate-pixel landmarks onto the canonical mean face (fitted on 17..67)."""
    return umeyama(np.asarray(landmarks)[17:], mean_face()[17:])


def alignment_matrix(landmarks: np.ndarray, face_type_name: str = "full", size: int = 512) -> np.ndarray:
    """(2, 3) float64 matrix mapping plate pixels to a `size` x `size` aligned crop of the face type."""
    ft = face_type(face_type_name)
    to_canon = to_canonical(landmarks)
    scale = size / (2.0 * ft.half_width)
    crop = np.array(
        [[scale, 0.0, size / 2 - scale * 0.5], [0.0, scale, size / 2 - scale * ft.centre_y], [0, 0, 1]]
    )
    return (crop @ to_canon)[:2]


def warp_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Aligned crop: (H, W, C) image through the (2, 3) plate->crop matrix into (size, size, C).

    The border replicates edge pixels: a reflecting border would mirror the face into a second face.
    """
    return cv2.warpAffine(
        image,
        np.asarray(matrix, np.float64),
        (size, size),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )


def roll_degrees(landmarks: np.ndarray) -> float:
    """In-plane rotation of the face in degrees (positive = counter-clockwise on screen), from the fit."""
    m = to_canonical(landmarks)
    # m maps plate -> canonical; the face's rotation on screen is the inverse rotation.
    return float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres in the landmarks' units: the normaliser for landmark errors."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(lm[LEFT_EYE].mean(0) - lm[RIGHT_EYE].mean(0)))


def face_size(landmarks: np.ndarray) -> float:
    """Size of a face in plate pixels: the side of the canonical unit square (inner face) on the plate."""
    m = to_canonical(landmarks)
    return float(1.0 / np.sqrt(abs(np.linalg.det(m[:2, :2]))))


def canonical_crop_landmarks(face_type_name: str, size: int) -> np.ndarray:
    """(68, 2) mean-face landmarks in the pixels of a `size` aligned crop of the face type."""
    ft = face_type(face_type_name)
    scale = size / (2.0 * ft.half_width)
    m = np.array([[scale, 0.0, size / 2 - scale * 0.5], [0.0, scale, size / 2 - scale * ft.centre_y]])
    return transform_points(mean_face(), m)
