"""Find faces in a frame and follow them to the next one.

Detection is the expensive step, so the tracker detects on a downscaled frame every few frames (and when a
track is lost) and otherwise re-runs the landmarker at full resolution in the box that the previous
frame's landmarks give. A candidate face is kept only when an upright crop around its landmarks verifies
as a face, which drops detector false positives and picks the right roll for rolled faces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from facegraft.extract.alignment import canonical_box, eye_distance
from facegraft.extract.detectors import Detector
from facegraft.extract.landmarkers import Landmarker
from facegraft.extract.verify import face_check

SETTLED = 0.02  # landmarks moving less than this (of the eye distance) under another pass are settled
TRACK_SLACK = 0.5  # a face already tracked is kept down to this much below the new-face threshold
MAX_FOLLOW_PASSES = 4  # landmark passes while following a face before it counts as settled
DRIFT_IOU = 0.85  # below this overlap with the verifying detector's box, landmarks are re-run in that box


@dataclass
class TrackedFace:
    """A face in one frame: (68, 2) float32 plate-pixel landmarks and where they came from."""

    landmarks: np.ndarray
    box: np.ndarray  # the detector's box on detection frames; the landmarks' box while tracking
    score: float  # detector score on detection frames, verification score while tracking
    confidence: float  # verification score (HOG on the upright crop)
    track_id: int = -1
    detected: bool = True
    embedding: np.ndarray | None = None


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """(4,) bounding box of (68, 2) landmarks."""
    pts = np.asarray(landmarks, np.float64)
    return np.concatenate([pts.min(0), pts.max(0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (4,) x0, y0, x1, y1 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _rotation(k: int, width: int, height: int) -> np.ndarray:
    """(2, 3) matrix taking original pixels to np.rot90(image, k) pixels (k quarter turns anticlockwise)."""
    k %= 4
    if k == 0:
        return np.array([[1.0, 0, 0], [0, 1.0, 0]])
    if k == 1:
        return np.array([[0, 1.0, 0], [-1.0, 0, width - 1.0]])
    if k == 2:
        return np.array([[-1.0, 0, width - 1.0], [0, -1.0, height - 1.0]])
    return np.array([[0, -1.0, height - 1.0], [1.0, 0, 0]])


NORMALISERS = ("none", "clahe", "hist")


def normalise_for_detection(rgb: np.ndarray, mode: str) -> np.ndarray:
    """(H, W, 3) uint8 frame with its lightness equalised (`clahe` or `hist`) so the detector and the
    landmarker see faces in bad light; aligned crops still come from the original frame."""
    if mode == "none":
        return rgb
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    if mode == "clahe":
        lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    elif mode == "hist":
        lab[:, :, 0] = cv2.equalizeHist(lab[:, :, 0])
    else:
        raise ValueError(f"unknown normalisation '{mode}' (choose from: {', '.join(NORMALISERS)})")
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


class FaceFinder:
    """Detection plus landmarks plus verification on one frame."""

    def __init__(
        self,
        detector: Detector,
        landmarker: Landmarker,
        min_confidence: float = 0.5,
        rotate_retry: bool = False,
        rolls: tuple[float, ...] = (0.0, 30.0, -30.0),
    ) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.min_confidence = min_confidence
        self.rotate_retry = rotate_retry
        self.rolls = rolls

    def locate(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        """Best (68, 2) landmarks for the face in `box` and their verification score.

        The landmarker starts from the upright guess and, unless that one is clearly settled, from rolled
        guesses too. Among those that verify as a face, the one that moves least under one more upright
        pass wins: a correct fit is a fixed point of the landmarker, a wrong one keeps drifting.
        """
        best: tuple[float, np.ndarray, float] | None = None
        fallback: tuple[np.ndarray, float] = (np.zeros((68, 2)), -np.inf)
        for roll in self.rolls:
            pts, conf = self.settle(rgb, self.landmarker.landmarks(rgb, box, roll))
            if conf < self.min_confidence:
                if conf > fallback[1]:
                    fallback = (pts, conf)
                continue
            again = self.landmarker.refine(rgb, pts, final=True)
            movement = float(np.linalg.norm(again - pts, axis=1).mean() / max(eye_distance(pts), 1e-6))
            if best is None or movement < best[0]:
                best = (movement, again, conf)
            if movement < SETTLED and conf > 0.5:
                break
        return (best[1], best[2]) if best is not None else fallback

    def settle(self, rgb: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, float]:
        """Verify landmarks; where the verifying detector boxes the upright face differently (the landmarks
        drifted in scale or position), run the landmarker once more in the detector's box."""
        conf, found = face_check(rgb, pts)
        if found is not None and box_iou(found, canonical_box()) < DRIFT_IOU:
            pts = self.landmarker.refine(rgb, pts, canon_box=found)
            conf, _ = face_check(rgb, pts)
        return pts, conf

    def find(self, rgb: np.ndarray, known: list[np.ndarray] | None = None) -> list[TrackedFace]:
        """Faces in an (H, W, 3) uint8 frame, duplicates merged; with rotate_retry, turned plates too.

        Detections on faces already `known` (landmark boxes of tracked faces) are skipped."""
        faces = self._find_upright(rgb, known or [])
        if faces or known or not self.rotate_retry:
            return faces
        h, w = rgb.shape[:2]
        for k in (2, 1, 3):  # upside down is the commonest wrong orientation
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            faces = self._find_upright(turned, [])
            if faces:
                back = cv2.invertAffineTransform(_rotation(k, w, h))
                for f in faces:
                    f.landmarks = (f.landmarks @ back[:, :2].T + back[:, 2]).astype(np.float32)
                    f.box = landmark_box(f.landmarks)
                    # The face is found; re-run the landmarker in the original frame, upright-corrected.
                    f.landmarks = self.landmarker.refine(rgb, f.landmarks).astype(np.float32)
                return faces
        return []

    def _find_upright(self, rgb: np.ndarray, known: list[np.ndarray]) -> list[TrackedFace]:
        faces: list[TrackedFace] = []
        for det in self.detector.detect(rgb):
            centre = (det.box[:2] + det.box[2:]) / 2
            if any(k[0] <= centre[0] <= k[2] and k[1] <= centre[1] <= k[3] for k in known):
                continue
            pts, conf = self.locate(rgb, det.box)
            if conf < self.min_confidence:
                continue
            lbox = landmark_box(pts)
            if any(box_iou(lbox, landmark_box(f.landmarks)) > 0.4 for f in faces):
                continue  # a second box on a face already found
            faces.append(TrackedFace(pts.astype(np.float32), det.box, det.score, conf))
        return faces


class Tracker:
    """Per-frame face state: detect on keyframes or when lost, otherwise follow the previous landmarks."""

    def __init__(
        self,
        finder: FaceFinder,
        detect_every: int = 5,
        next_track_id: int = 0,
        embed: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.finder = finder
        self.detect_every = max(1, detect_every)
        self.next_track_id = next_track_id
        self.embed = embed
        self.previous: list[TrackedFace] = []

    def resume(self, previous: list[TrackedFace], next_track_id: int) -> None:
        """Continue from faces stored for the preceding frame (a resumed extraction)."""
        self.previous = previous
        self.next_track_id = next_track_id

    def step(self, rgb: np.ndarray, position: int) -> list[TrackedFace]:
        """Faces in this frame; `position` is the frame's index in the extraction's frame list.

        Keyframes (every `detect_every`) run the detector for new faces; other frames only follow the
        known ones. A lost track makes the frame a full detection.
        """
        if self.detect_every == 1:  # detection on every frame, each frame on its own: no tracking
            faces = self.finder.find(rgb)
            self._match(rgb, faces)
            faces.sort(key=lambda f: (float(f.landmarks[:, 0].mean()), float(f.landmarks[:, 1].mean())))
            self.previous = faces
            return faces
        keyframe = position % self.detect_every == 0
        followed = self._follow(rgb) if self.previous else []
        if followed is None:
            faces = self.finder.find(rgb)
            self._match(rgb, faces)
        elif keyframe or not followed:
            new = self.finder.find(rgb, known=[landmark_box(f.landmarks) for f in followed])
            self._match(rgb, new)
            faces = followed + new
        else:
            faces = followed
        faces.sort(key=lambda f: (float(f.landmarks[:, 0].mean()), float(f.landmarks[:, 1].mean())))
        self.previous = faces
        return faces

    def _follow(self, rgb: np.ndarray, verify: bool = True) -> list[TrackedFace] | None:
        """Faces followed from the previous frame, or None when any track is lost (then detect).

        The landmarker re-runs from the previous landmarks until they settle (a fast move needs a few
        passes), every followed face is verified as a face on its upright crop (a cut to another shot or
        a face leaving the frame loses the track), then the averaged final pass places the landmarks.
        """
        lm = self.finder.landmarker
        out = []
        for prev in self.previous:
            pts = np.asarray(prev.landmarks, np.float64)
            for _ in range(MAX_FOLLOW_PASSES):
                new = lm.refine(rgb, pts)
                moved = float(np.linalg.norm(new - pts, axis=1).mean() / max(eye_distance(pts), 1e-6))
                pts = new
                if moved < SETTLED:
                    break
            pts, conf = self.finder.settle(rgb, pts)
            if conf < self.finder.min_confidence - TRACK_SLACK:
                return None
            pts = lm.refine(rgb, pts, final=True)
            out.append(
                TrackedFace(
                    pts.astype(np.float32),
                    landmark_box(pts),
                    conf,
                    conf,
                    prev.track_id,
                    detected=False,
                    embedding=prev.embedding,
                )
            )
        return out

    def _match(self, rgb: np.ndarray, faces: list[TrackedFace]) -> None:
        """Give detected faces the id (and identity) of the track they continue, or a new one."""
        free = list(self.previous)
        for f in faces:
            fbox = landmark_box(f.landmarks)
            best = max(free, key=lambda p: box_iou(fbox, landmark_box(p.landmarks)), default=None)
            if best is not None and box_iou(fbox, landmark_box(best.landmarks)) > 0.3:
                f.track_id, f.embedding = best.track_id, best.embedding
                free.remove(best)
            else:
                f.track_id = self.next_track_id
                self.next_track_id += 1
        for f in faces:
            if f.embedding is None and self.embed is not None:
                f.embedding = self.embed(rgb, f.landmarks)
