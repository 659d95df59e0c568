"""Moving plates made from the shipped photos by known transforms, for the demo, tests and benchmarks.

Every frame comes with its 2x3 matrix from photo pixels to plate pixels, so landmarks found on the photo
can be mapped to where they must be on the plate. Borders replicate edge pixels: a reflecting border would
mirror the face into extra faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Move:
    """A camera move on a photo: rotation (degrees, counter-clockwise), scale, shift (plate px), gain."""

    angle: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    gain: float = 1.0  # multiplies linear light: 0.3 is a dark plate


def move_matrix(photo_size: tuple[int, int], canvas: tuple[int, int], move: Move) -> np.ndarray:
    """(2, 3) matrix from photo pixels to plate pixels: the photo centred on the canvas, then moved."""
    w, h = photo_size
    cw, ch = canvas
    m = cv2.getRotationMatrix2D((w / 2, h / 2), move.angle, move.scale)
    m[:, 2] += np.array([(cw - w) / 2 + move.shift[0], (ch - h) / 2 + move.shift[1]])
    return m


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0..1 to linear light (the inverse of the sRGB transfer function)."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light to sRGB-encoded values (negative clipped; values above 1 keep growing)."""
    x = np.maximum(np.asarray(x, np.float32), 0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def render(photo: np.ndarray, move: Move, canvas: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 sRGB frame of `photo` moved by `move` on a canvas (W, H), and its (2, 3) matrix."""
    m = move_matrix((photo.shape[1], photo.shape[0]), canvas, move)
    frame = cv2.warpAffine(photo, m, canvas, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if move.gain != 1.0:
        lin = srgb_to_linear(frame / 255.0) * move.gain
        frame = np.clip(linear_to_srgb(lin) * 255 + 0.5, 0, 255).astype(np.uint8)
    return frame, m


def camera_path(
    n: int, amplitude: float = 40.0, zoom: float = 0.15, roll: float = 8.0, light: float = 0.35
) -> list[Move]:
    """A smooth hand-held move over `n` frames: drift, push-in, a little roll and a light change."""
    t = np.linspace(0, 1, n)
    return [
        Move(
            angle=float(roll * np.sin(2 * np.pi * ti)),
            scale=float(1.0 + zoom * ti),
            shift=(
                float(amplitude * np.sin(np.pi * ti)),
                float(0.5 * amplitude * np.cos(np.pi * ti) - 0.5 * amplitude),
            ),
            gain=float(1.0 - light * np.sin(np.pi * ti)),
        )
        for ti in t
    ]


def write_png_sequence(frames: Sequence[np.ndarray], pattern: str | Path, first: int = 1001) -> list[Path]:
    """(H, W, 3) uint8 RGB frames to `pattern` with %04d-style numbering; returns the paths."""
    paths = []
    for i, f in enumerate(frames):
        p = Path(str(pattern) % (first + i))
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def write_exr_sequence(
    frames: Sequence[np.ndarray], pattern: str | Path, first: int = 1001, highlights: float = 0.0
) -> list[Path]:
    """uint8 sRGB frames as scene-linear half EXRs; `highlights` > 0 lifts near-white areas above 1.0."""
    from facegraft.io.images import write_image

    paths = []
    for i, f in enumerate(frames):
        lin = srgb_to_linear(f / 255.0)
        if highlights:
            bright = lin.min(axis=2, keepdims=True) > 0.9
            lin = np.where(bright, lin * highlights, lin)
        p = Path(str(pattern) % (first + i))
        p.parent.mkdir(parents=True, exist_ok=True)
        write_image(p, lin.astype(np.float32), channels=("R", "G", "B"), dtype="half")
        paths.append(p)
    return paths


def write_video(
    frames: Sequence[np.ndarray],
    path: str | Path,
    fps: int = 24,
    crf: int = 18,
    pts: Sequence[int] | None = None,
    time_base: int = 90000,
) -> Path:
    """uint8 RGB frames as H.264 (yuv420p); `pts` in 1/time_base units gives a variable frame rate."""
    import fractions

    import av

    path = Path(path)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf)}
        stream.codec_context.time_base = fractions.Fraction(1, time_base)
        step = time_base // fps
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts = int(pts[i]) if pts is not None else i * step
            vf.time_base = fractions.Fraction(1, time_base)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


# Depth of each of the 68 landmarks, in units of the canonical inner face, for turning a photographed head:
# an ellipsoidal skull, the nose standing out and the eyes set in.
def _landmark_depth(canonical: np.ndarray) -> np.ndarray:
    x = canonical[:, 0] - 0.5
    depth = 0.85 * np.sqrt(np.clip(1.0 - (x / 0.85) ** 2, 0.0, None))
    depth[27:31] += np.array([0.08, 0.14, 0.22, 0.32])  # nose bridge to tip
    depth[31:36] += np.array([0.12, 0.18, 0.22, 0.18, 0.12])  # nostrils
    depth[36:48] -= 0.05  # eyes
    return depth


def turn_head(photo: np.ndarray, landmarks: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 photo with the head turned by `yaw` degrees (> 0 towards the image's right), and
    the 68 landmarks where the turned face has them.

    The landmarks are lifted onto a generic head, rotated and projected back (weak perspective); the
    image follows through a piecewise-affine warp over the landmarks and a fixed ring around the head, so
    the background stays put. A known out-of-plane move for tests of pose handling: the estimated yaw
    follows it to about +-30 degrees (pitch is not offered: a nod of a flat photo fools the pose fit).
    """
    from facegraft.extract.alignment import invert_affine, to_canonical, transform_points

    lm = np.asarray(landmarks, np.float64)
    to_canon = to_canonical(lm)
    canon = transform_points(lm, to_canon)
    z = _landmark_depth(canon)
    a = np.radians(yaw)
    x = canon[:, 0] - 0.5
    turned_canon = np.stack([0.5 + x * np.cos(a) + z * np.sin(a), canon[:, 1]], 1)
    turned = transform_points(turned_canon, invert_affine(to_canon[:2]))
    h, w = photo.shape[:2]
    centre = lm.mean(0)
    radius = 2.2 * float(np.linalg.norm(lm[0] - lm[16]))
    ring = centre + radius * np.stack(
        [
            np.cos(np.linspace(0, 2 * np.pi, 16, endpoint=False)),
            np.sin(np.linspace(0, 2 * np.pi, 16, endpoint=False)),
        ],
        1,
    )
    frame = np.array(
        [
            [0, 0],
            [w - 1, 0],
            [w - 1, h - 1],
            [0, h - 1],
            [w / 2, 0],
            [w / 2, h - 1],
            [0, h / 2],
            [w - 1, h / 2],
        ]
    )
    fixed = np.vstack([ring, frame])
    fixed[:, 0] = np.clip(fixed[:, 0], 0, w - 1)
    fixed[:, 1] = np.clip(fixed[:, 1], 0, h - 1)
    src = np.vstack([lm, fixed])
    dst = np.vstack([turned, fixed])
    out = photo.copy()
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    for p in dst:
        subdiv.insert((float(np.clip(p[0], 0, w - 1)), float(np.clip(p[1], 0, h - 1))))
    index = {
        (round(float(np.clip(p[0], 0, w - 1)), 3), round(float(np.clip(p[1], 0, h - 1)), 3)): i
        for i, p in enumerate(dst)
    }
    for tri in subdiv.getTriangleList():
        keys = [(round(float(tri[k]), 3), round(float(tri[k + 1]), 3)) for k in (0, 2, 4)]
        if not all(k in index for k in keys):
            continue
        ids = [index[k] for k in keys]
        _warp_triangle(photo, out, src[ids], dst[ids])
    return out, turned.astype(np.float32)


def _warp_triangle(src_img: np.ndarray, dst_img: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """Fill the triangle `dst` of dst_img with the pixels of the triangle `src` of src_img (in place)."""
    h, w = dst_img.shape[:2]
    x0, y0 = np.floor(dst.min(0)).astype(int)
    x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    m = cv2.getAffineTransform(dst.astype(np.float32), src.astype(np.float32))
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    patch = cv2.warpAffine(
        src_img,
        m,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round((dst - [x0, y0]) * 16).astype(np.int32), 255, cv2.LINE_8, 4)
    region = dst_img[y0:y1, x0:x1]
    region[mask > 0] = patch[mask > 0]
