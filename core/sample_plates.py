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

from facegraft.registry import require_choice


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
    from facegraft.geometry.alignment import invert_affine, to_canonical, transform_points

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


OCCLUDER_SHAPES = ("hand", "bar")


@dataclass
class OccludedFrame:
    """A plate frame with its truth: `image` (H, W, 3) uint8 sRGB, `matrix` (2, 3) photo -> plate pixels,
    `matte` (H, W) float32 0..1 of the occluder in front of the face (all 0 where there is none)."""

    image: np.ndarray
    matrix: np.ndarray
    matte: np.ndarray


def _capsule(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, width: float) -> None:
    """Draw an anti-aliased capsule (a thick round-ended line) from a to b into a uint8 canvas, in place."""
    p, q = (tuple(int(round(v * 16)) for v in pt) for pt in (a, b))
    cv2.line(canvas, p, q, 255, max(1, int(round(width))), cv2.LINE_AA, 4)


def occluder_matte(
    shape: str, centre: tuple[float, float], size: float, angle: float, canvas: tuple[int, int]
):
    """(H, W) float32 0..1 anti-aliased matte of a `hand` (palm, four fingers and a thumb, fingers up) or a
    `bar` (a microphone boom, 3 x `size` long), `size` plate pixels across, turned `angle` degrees
    (counter-clockwise on screen) about `centre`, on a canvas (W, H)."""
    require_choice(shape, OCCLUDER_SHAPES, "occluder shape", ValueError)
    w, h = canvas
    a = np.radians(angle)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # y points down on screen
    at = lambda x, y: np.asarray(centre) + rot @ (np.array([x, y]) * size)  # noqa: E731
    img = np.zeros((h, w), np.uint8)
    if shape == "bar":
        _capsule(img, at(-1.5, 0), at(1.5, 0), 0.28 * size)
        return img.astype(np.float32) / 255.0
    palm = np.array([at(x, y) for x, y in ((-0.3, -0.2), (0.3, -0.2), (0.28, 0.35), (-0.26, 0.38))])
    cv2.fillConvexPoly(img, np.round(palm * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    for x, length in ((-0.22, 0.55), (-0.07, 0.66), (0.08, 0.62), (0.22, 0.48)):
        _capsule(img, at(x, -0.15), at(1.15 * x, -0.15 - length), 0.13 * size)
    _capsule(img, at(-0.25, 0.25), at(-0.62, -0.05), 0.15 * size)
    return img.astype(np.float32) / 255.0


def _occluder_colours(
    shape: str, canvas: tuple[int, int], gain: float, rng: np.random.Generator
) -> np.ndarray:
    """(H, W, 3) float32 0..1 sRGB colour of the occluder: skin or dark metal, shaded by soft noise and
    lit by the frame's `gain`."""
    w, h = canvas
    base = np.array([0.80, 0.58, 0.47] if shape == "hand" else [0.20, 0.21, 0.24], np.float32)
    noise = cv2.resize(rng.normal(0.0, 1.0, (h // 16 + 2, w // 16 + 2)).astype(np.float32), (w, h))
    shade = 1.0 + 0.12 * noise[..., None]
    lin = srgb_to_linear(np.clip(base * shade, 0.0, 1.0)) * gain
    return np.clip(linear_to_srgb(lin), 0.0, 1.0)


def occluded_plate(
    photo: np.ndarray,
    landmarks: np.ndarray,
    moves: Sequence[Move],
    canvas: tuple[int, int],
    shape: str = "hand",
    every: int = 2,
    seed: int = 0,
) -> list[OccludedFrame]:
    """Frames of `photo` moved by `moves` with an occluder over part of the face on every `every`-th
    frame (from the second): a hand held over the lower face, or a bar (a microphone) across it below the
    eyes, at a new place and angle each time. `landmarks` (68, 2) are the photo's, in photo pixels; they
    place the occluder."""
    rng = np.random.default_rng(seed)
    out = []
    for i, move in enumerate(moves):
        image, m = render(photo, move, canvas)
        matte = np.zeros(image.shape[:2], np.float32)
        if every > 0 and i % every == every - 1:
            lm = np.asarray(landmarks, np.float64) @ m[:, :2].T + m[:, 2]
            width = float(np.linalg.norm(lm[16] - lm[0]))
            centre = lm[27:68].mean(0)
            if shape == "hand":
                offset = np.array([rng.uniform(-0.45, 0.45), rng.uniform(0.25, 0.5)]) * width
                size, angle = 0.55 * width, rng.uniform(-35, 35)
            else:
                offset = np.array([rng.uniform(-0.2, 0.2), rng.uniform(0.12, 0.4)]) * width
                size, angle = width, rng.uniform(-30, 30)
            matte = occluder_matte(shape, tuple(centre + offset), size, angle, canvas)
            colour = _occluder_colours(shape, canvas, move.gain, rng)
            a = matte[..., None]
            mixed = image.astype(np.float32) * (1.0 - a) + colour * 255.0 * a
            image = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        out.append(OccludedFrame(image, m, matte))
    return out


def visible_face(
    landmarks: np.ndarray, frame: OccludedFrame, crop_matrix: np.ndarray, size: int
) -> np.ndarray:
    """(size, size) bool truth of an occluded plate's face in an aligned crop: the face (the `components`
    landmark hull of the photo's true `landmarks` moved onto the plate) less what the occluder covers
    (matte above one half), drawn in the crop that the (2, 3) plate -> crop matrix makes."""
    from facegraft.geometry.alignment import transform_points
    from facegraft.geometry.masks import components_mask

    plate_lm = transform_points(landmarks, frame.matrix)
    face = components_mask(transform_points(plate_lm, crop_matrix), size) > 127
    covered = cv2.warpAffine(frame.matte, np.asarray(crop_matrix, np.float64), (size, size)) > 0.5
    return face & ~covered
