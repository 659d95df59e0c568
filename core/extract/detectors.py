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
from facegraft.registry import lookup


@dataclass
class Detection:
    """One face candidate: box (x0, y0, x1, y1) in frame pixels and a detector-specific score."""

    box: np.ndarray
    score: float


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

    def __init__(self, options: DetectorOptions | None = None) -> None:
        self.options = options or self.Options()
        self._lock = threading.Lock()  # the models keep per-call state; extraction detects ahead in a thread

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB frame, best score first, boxes in the frame's pixels.

        Detection runs on the frame downscaled to `detect_width` (kept large enough for `min_face`); when
        that finds nothing, the full-resolution frame is searched too before giving up, so small faces
        cost time only on frames where nothing bigger was found."""
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
        if not found and scale < 1.0 and self.options.full_resolution_retry:
            found = self._detect_at(rgb, 1.0)
        return sorted(found, key=lambda d: -d.score)

    def _detect_at(self, rgb: np.ndarray, scale: float) -> list[Detection]:
        if scale != 1.0:
            h, w = rgb.shape[:2]
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=interp)
        found = [d for d in self._detect(np.ascontiguousarray(rgb)) if d.score >= self.options.threshold]
        for d in found:
            d.box = np.asarray(d.box, np.float64) / scale
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
    threshold: float = 0.0
    upsample: int = 0  # 1 finds faces down to ~40 px at twice the cost


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
    threshold: float = 0.0
    upsample: int = 0


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
    threshold: float = 2.0  # cascade level weight
    min_neighbors: int = 5
    scale_factor: float = 1.1


class HaarDetector(Detector):
    """OpenCV's Viola-Jones frontal cascade (ships with opencv-python < 5): fast, frontal only."""

    name = "haar"
    Options = HaarOptions
    window = 30

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
    threshold: float = 0.5
    weights: str = ""  # s3fd weights; default: face-alignment's torch.hub cache


class SfdDetector(Detector):
    """face-alignment's S3FD detector (the one its FAN was trained with); weights from its cache or a path."""

    name = "sfd"
    Options = SfdOptions
    window = 20
    WEIGHTS_FILE = "s3fd-619a316812.pth"

    def __init__(self, options: SfdOptions | None = None) -> None:
        super().__init__(options)
        path = self.options.weights or str(torch_hub_checkpoints() / self.WEIGHTS_FILE)
        require_file(path, "S3FD detector weights")
        from face_alignment.detection.sfd.sfd_detector import SFDDetector

        self._det = SFDDetector("cpu", path_to_detector=path, filter_threshold=self.options.threshold)

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        return [Detection(np.asarray(b[:4], float), float(b[4])) for b in self._det.detect_from_image(rgb)]


DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls for cls in (DlibHogDetector, DlibMmodDetector, HaarDetector, SfdDetector)
}


def make_detector(name: str, **options: object) -> Detector:
    """The detector registered as `name`, built with its options; InputError for an unknown name."""
    cls = lookup(DETECTORS, name, "detector")
    return cls(cls.Options(**options))
