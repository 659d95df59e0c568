"""68-point landmarkers, chosen by name from one registry (`LANDMARKERS`), behind one small base class.

`facemesh` (MediaPipe Face Mesh, Apache-2.0, shipped in this package, run by ai-edge-litert) mapped to the
68 iBUG points; `dlib68` (dlib's regression-tree predictor shipped by face-recognition-models, trained on
iBUG 300-W, whose terms exclude commercial use); `fan` is face-alignment's 2D-FAN, loaded by face-alignment's
own model code from its cache or `weights`.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import ClassVar

import cv2
import numpy as np

from facegraft.errors import ModelFileError
from facegraft.extract.model_files import require_file, shipped_model, torch_hub_checkpoints
from facegraft.geometry.alignment import (
    LEFT_EYE,
    RIGHT_EYE,
    canonical_box,
    invert_affine,
    to_canonical,
    transform_points,
)
from facegraft.options import opt
from facegraft.registry import lookup


@dataclass
class LandmarkerOptions:
    """Options every landmarker understands."""

    upright_passes: int = 1  # re-run landmarks on the face rotated upright this many times
    max_face_px: int = 400  # upright crops larger than this are scaled down (speed; ample precision)
    ensemble: int = 9  # boxes in the final upright pass, slightly moved and scaled, landmarks averaged


class Landmarker:
    """Base class: `landmarks_in_box` on an (H, W, 3) uint8 RGB image returns (68, 2) float64 pixels."""

    name: ClassVar[str] = ""
    box_convention: ClassVar[str] = "dlib-hog"  # where this model expects the box around a face
    Options: ClassVar[type[LandmarkerOptions]] = LandmarkerOptions

    def __init__(self, options: LandmarkerOptions | None = None) -> None:
        self.options = options or self.Options()

    def landmarks_in_box(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def landmarks(self, rgb: np.ndarray, box: np.ndarray, roll: float = 0.0) -> np.ndarray:
        """(68, 2) landmarks for the face in `box`: a first pass, then passes on the face turned upright.

        `roll` (degrees) is a guess of the face's roll for the first pass: the image is turned by it first.

        Detectors box rolled faces loosely and landmarkers are trained on upright faces, so each later
        pass rotates the face upright (at native scale), boxes it the way this model expects from the
        previous landmarks, and maps the result back to the frame.
        """
        pts = self._landmarks_rolled(rgb, box, roll)
        for _ in range(self.options.upright_passes):
            pts = self.refine(rgb, pts)
        return pts

    def _landmarks_rolled(self, rgb: np.ndarray, box: np.ndarray, roll: float) -> np.ndarray:
        """Landmarks in `box` with the image turned by `roll` degrees about the box centre first."""
        if roll == 0.0:
            return self.landmarks_in_box(rgb, box)
        box = np.asarray(box, np.float64)
        side = float(max(box[2] - box[0], box[3] - box[1]))
        k = min(1.0, self.options.max_face_px / side)
        size = int(np.ceil(2 * side * k))
        matrix = cv2.getRotationMatrix2D(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), -roll, k)
        matrix[:, 2] += size / 2 - np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        crop = cv2.warpAffine(
            rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        half = side * k / 2
        pts = self.landmarks_in_box(
            crop, np.array([size / 2 - half, size / 2 - half, size / 2 + half, size / 2 + half])
        )
        return transform_points(pts, invert_affine(matrix))

    def refine(self, rgb: np.ndarray, rough: np.ndarray, final: bool = False) -> np.ndarray:
        """One upright pass starting from `rough` (68, 2) landmarks; returns (68, 2) in frame pixels.

        A `final` pass averages over `ensemble` jittered boxes."""
        matrix, size, box = upright_crop(rough, self.box_convention, self.options.max_face_px)
        crop = cv2.warpAffine(
            rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        boxes = jittered_boxes(box, self.options.ensemble if final else 1)
        pts = np.mean([self.landmarks_in_box(crop, b) for b in boxes], axis=0)
        return transform_points(pts, invert_affine(matrix))


def upright_crop(
    landmarks: np.ndarray,
    convention: str,
    max_face_px: int,
    margin: float = 0.25,
    canon_box: np.ndarray | None = None,
) -> tuple[np.ndarray, int, np.ndarray]:
    """(2, 3) frame->crop matrix that turns the face upright, the square crop size, and the model's box.

    The box is where `convention`'s detector would put it around an upright face with these landmarks.
    The crop keeps the face at native scale, capped at `max_face_px` for the box.
    """
    to_canon = to_canonical(landmarks)
    px_per_unit = 1.0 / np.sqrt(abs(np.linalg.det(to_canon[:2, :2])))
    cb = canonical_box(convention) if canon_box is None else np.asarray(canon_box, np.float64)
    side = max(cb[2] - cb[0], cb[3] - cb[1])
    k = min(px_per_unit, max_face_px / side)
    origin = np.array([(cb[0] + cb[2]) / 2, (cb[1] + cb[3]) / 2]) - side * (0.5 + margin)
    crop = np.array([[k, 0, -k * origin[0]], [0, k, -k * origin[1]], [0, 0, 1.0]])
    matrix = (crop @ to_canon)[:2]
    size = int(np.ceil(k * side * (1 + 2 * margin)))
    box = np.array(
        [k * (cb[0] - origin[0]), k * (cb[1] - origin[1]), k * (cb[2] - origin[0]), k * (cb[3] - origin[1])]
    )
    return matrix, size, box


MAX_ENSEMBLE = 32
_JITTER = [
    (0, 0, 1.0),
    (1, 0, 1.0),
    (-1, 0, 1.0),
    (0, 1, 1.0),
    (0, -1, 1.0),
    (0, 0, 1.04),
    (0, 0, 0.96),
    (1, 1, 1.02),
    (-1, -1, 0.98),
]


def _radical_inverse(i: int, base: int) -> float:
    """The i-th point of the van der Corput sequence in `base`, in [0, 1)."""
    out, f = 0.0, 1.0
    while i > 0:
        f /= base
        out += f * (i % base)
        i //= base
    return out


def jitter_table(n: int) -> list[tuple[float, float, float]]:
    """`n` (dx, dy, scale) box offsets: the nine hand-placed ones, then a Halton sequence (bases 2, 3 and
    5) filling dx, dy in [-1, 1] and scale in 0.96..1.04 evenly, so every further box adds new information."""
    out = list(_JITTER[: max(1, n)])
    i = 1
    while len(out) < n:
        out.append(
            (
                2 * _radical_inverse(i, 2) - 1,
                2 * _radical_inverse(i, 3) - 1,
                1 + 0.04 * (2 * _radical_inverse(i, 5) - 1),
            )
        )
        i += 1
    return out


def jittered_boxes(box: np.ndarray, n: int, step: float = 0.025) -> list[np.ndarray]:
    """`n` (4,) boxes around `box`: itself, then moved by up to `step` of its size and scaled by up to 4%.

    Averaging a landmarker over them removes most of its dependence on exactly where the box sits, so a
    face's landmarks hardly depend on how it was found; the spread left falls about as 1/sqrt(n). (On small
    faces the whole-pixel outputs, which every box rounds alike, set the floor instead.)"""
    b = np.asarray(box, np.float64)
    w, h = b[2] - b[0], b[3] - b[1]
    c = (b[:2] + b[2:]) / 2
    out = []
    for dx, dy, sc in jitter_table(min(n, MAX_ENSEMBLE)):
        cc = c + np.array([dx * step * w, dy * step * h])
        out.append(np.array([cc[0] - sc * w / 2, cc[1] - sc * h / 2, cc[0] + sc * w / 2, cc[1] + sc * h / 2]))
    return out


class Dlib68Landmarker(Landmarker):
    """dlib's 68-point shape predictor (~1 ms a face on CPU), shipped with face-recognition-models."""

    name = "dlib68"
    box_convention = "dlib-hog"

    def __init__(self, options: LandmarkerOptions | None = None) -> None:
        super().__init__(options)
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(shipped_model("shape_predictor_68")))

    def landmarks_in_box(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        # dlib's rectangle is inclusive and integer: keep sub-pixel boxes by scaling the image instead
        # would cost a resize; rounding moves landmarks by well under a pixel.
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = self._predictor(rgb, self._dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def full_object_detection(self, landmarks: np.ndarray, box: np.ndarray):
        """dlib's shape object for `landmarks` (what dlib's face-recognition model takes)."""
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        pts = [self._dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
        return self._dlib.full_object_detection(self._dlib.rectangle(x0, y0, x1 - 1, y1 - 1), pts)


@dataclass
class FanOptions(LandmarkerOptions):
    weights: str = ""  # 2DFAN-4 state dict; default: face-alignment's torch.hub cache
    device: str = opt("cpu", "torch device the network runs on (cpu, cuda, cuda:N)")


class FanLandmarker(Landmarker):
    """face-alignment's 2D-FAN-4 heat-map network; weights from face-alignment's cache or `weights`."""

    name = "fan"
    box_convention = "dlib-hog"
    Options = FanOptions
    WEIGHTS_FILE = "2DFAN4-11f355bf06.pth.tar"

    def __init__(self, options: FanOptions | None = None) -> None:
        super().__init__(options)
        import torch
        from face_alignment.models import FAN

        path = require_file(
            self.options.weights or torch_hub_checkpoints() / self.WEIGHTS_FILE, "2D-FAN-4 landmark weights"
        )
        try:
            state = torch.load(str(path), map_location=self.options.device, weights_only=True)
            net = FAN(4)
            net.load_state_dict(state)
        except Exception as exc:  # a wrong or damaged file: say which, not a torch traceback
            raise ModelFileError(f"not a 2D-FAN-4 state dict ({type(exc).__name__}: {exc})", path) from None
        self._torch = torch
        self._net = net.to(self.options.device).eval()

    def landmarks_in_box(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        from face_alignment.utils import CENTER_Y_OFFSET, REFERENCE_SCALE, crop, get_preds_fromhm

        x0, y0, x1, y1 = (float(v) for v in box)
        center = np.array([(x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * CENTER_Y_OFFSET])
        scale = (x1 - x0 + y1 - y0) / REFERENCE_SCALE
        patch = crop(rgb, center, scale).transpose(2, 0, 1).astype(np.float32) / 255.0
        with self._torch.inference_mode():
            out = self._net(self._torch.from_numpy(patch)[None].to(self.options.device))
        if isinstance(out, list):
            out = out[-1]
        _, pts, _ = get_preds_fromhm(out.float().cpu().numpy(), center, scale)
        return np.asarray(pts, np.float64).reshape(68, 2)


@contextmanager
def stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block (a native library's chatter; Python's own
    sys.stderr is flushed first and is unaffected afterwards)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@lru_cache(maxsize=1)
def facemesh_table() -> tuple[np.ndarray, tuple[tuple[np.ndarray, ...], ...]]:
    """The mesh vertex of each iBUG point (68,), and the jaw's two halves (temple to chin), each a tuple of
    cheek rows (vertex ids, outermost first)."""
    with resources.files("facegraft.extract").joinpath("data/facemesh_ibug68.json").open() as f:
        table = json.load(f)
    sides = tuple(tuple(np.asarray(r, np.intp) for r in side) for side in table["jaw_sides"])
    return np.asarray(table["ibug68"], np.intp), sides


def evenly_along(polyline: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) points spaced evenly by arc length along an (M, 2) polyline, its ends included."""
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    at = np.concatenate([[0.0], np.cumsum(seg)])
    want = np.linspace(0.0, at[-1], n)
    return np.column_stack([np.interp(want, at, polyline[:, k]) for k in range(2)])


def mesh_to_ibug68(mesh: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG points of (468, 2) Face Mesh vertices.

    The jaw follows the visible edge of the face: on each cheek row the vertex furthest out across the face
    (perpendicular to the eye line), which on a turned head is the cheek's edge rather than the outline
    vertex hidden behind it, and iBUG's nine points per half spaced evenly along that edge."""
    mesh = np.asarray(mesh, np.float64)
    ibug, sides = facemesh_table()
    out = mesh[ibug].copy()
    eye_line = mesh[263] - mesh[33]
    across = eye_line / max(float(np.linalg.norm(eye_line)), 1e-9)
    mid = float((mesh[33] + mesh[263]) @ across) / 2
    for side, rows, points in ((-1.0, sides[0], slice(0, 9)), (1.0, sides[1], slice(16, 7, -1))):
        edge = np.array([mesh[row[int(np.argmax(side * (mesh[row] @ across - mid)))]] for row in rows])
        out[points] = evenly_along(edge, 9)
    return out


@dataclass
class FaceMeshOptions(LandmarkerOptions):
    crop_scale: float = opt(
        1.7,
        "the square input spans this many times the landmarks' (or the box's) longer side",
        bounds=(1.0, 3.0),
    )


class FaceMeshLandmarker(Landmarker):
    """MediaPipe Face Mesh v1 (`face_landmark.tflite`, 192x192 input, 468 points, ~2 ms a face on one core),
    its vertices mapped to the 68 iBUG points by `mesh_to_ibug68`."""

    name = "facemesh"
    box_convention = "dlib-hog"
    Options = FaceMeshOptions
    INPUT = 192
    MODEL_FILE = "data/face_landmark.tflite"

    def __init__(self, options: FaceMeshOptions | None = None) -> None:
        super().__init__(options)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ModelFileError("the package ai-edge-litert is not installed (pip install it)") from None
        path = resources.files("facegraft.extract").joinpath(self.MODEL_FILE)
        self._net = Interpreter(model_path=str(path), num_threads=1)
        with stderr_silenced():  # LiteRT's C++ logs a line for its CPU delegate straight to fd 2
            self._net.allocate_tensors()
        self._input = self._net.get_input_details()[0]["index"]
        self._points, self._presence = (d["index"] for d in self._net.get_output_details())
        self.presence = 0.0  # the model's own face-presence probability on the last crop

    def mesh_in_crop(self, rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """(468, 3) mesh vertices in frame pixels (z in the same scale, larger is further) of the model's
        input cut from `rgb` by the (2, 3) frame->input `matrix`; sets `presence`."""
        crop = cv2.warpAffine(
            rgb, matrix, (self.INPUT, self.INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        self._net.set_tensor(self._input, (crop.astype(np.float32) / 255.0)[None])
        self._net.invoke()
        raw = self._net.get_tensor(self._points).reshape(-1, 3).astype(np.float64)
        logit = float(self._net.get_tensor(self._presence).ravel()[0])
        self.presence = float(1.0 / (1.0 + np.exp(-np.clip(logit, -60.0, 60.0))))
        back = invert_affine(matrix)
        xy = transform_points(raw[:, :2], back)
        return np.column_stack([xy, raw[:, 2] * np.sqrt(abs(np.linalg.det(back[:2, :2])))])

    def input_matrix(self, centre: np.ndarray, side: float, angle: float) -> np.ndarray:
        """(2, 3) frame->input matrix: a square of `side` px about `centre`, turned by `angle` (radians)."""
        k = self.INPUT / max(side, 1e-6)
        c, s = np.cos(angle) * k, np.sin(angle) * k
        rot = np.array([[c, s], [-s, c]])
        return np.column_stack([rot, self.INPUT / 2 - rot @ np.asarray(centre, np.float64)])

    def landmarks_in_box(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0, y1 - y0) * self.options.crop_scale
        mesh = self.mesh_in_crop(rgb, self.input_matrix(np.array([(x0 + x1) / 2, (y0 + y1) / 2]), side, 0.0))
        return mesh_to_ibug68(mesh[:, :2])

    def refine(self, rgb: np.ndarray, rough: np.ndarray, final: bool = False) -> np.ndarray:
        """One pass framed as MediaPipe frames a tracked face: the input turned to the eye line, about the
        centre of the landmarks' extent, `crop_scale` times its longer side; a `final` pass averages over
        `ensemble` jittered squares."""
        rough = np.asarray(rough, np.float64)
        eyes = rough[LEFT_EYE].mean(0), rough[RIGHT_EYE].mean(0)  # image left, image right
        angle = float(np.arctan2(eyes[1][1] - eyes[0][1], eyes[1][0] - eyes[0][0]))
        c, s = np.cos(angle), np.sin(angle)
        upright = rough @ np.array([[c, -s], [s, c]])  # the landmarks turned by -angle
        lo, hi = upright.min(0), upright.max(0)
        centre = np.array([[c, -s], [s, c]]) @ ((lo + hi) / 2)
        side = float((hi - lo).max()) * self.options.crop_scale
        offsets = jitter_table(min(self.options.ensemble, MAX_ENSEMBLE)) if final else [(0.0, 0.0, 1.0)]
        step = 0.025 * side / self.options.crop_scale
        axes = np.array([[c, s], [-s, c]])  # across and down the upright face, in frame pixels
        pts = []
        for dx, dy, sc in offsets:
            matrix = self.input_matrix(centre + step * np.array([dx, dy]) @ axes, side * sc, angle)
            pts.append(mesh_to_ibug68(self.mesh_in_crop(rgb, matrix)[:, :2]))
        return np.mean(pts, axis=0)


LANDMARKERS: dict[str, type[Landmarker]] = {
    cls.name: cls for cls in (FaceMeshLandmarker, Dlib68Landmarker, FanLandmarker)
}


def make_landmarker(name: str, **options: object) -> Landmarker:
    """The landmarker registered as `name`, built with its options; InputError for an unknown name."""
    cls = lookup(LANDMARKERS, name, "landmarker")
    return cls(cls.Options(**options))
