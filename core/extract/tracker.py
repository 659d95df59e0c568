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

from facegraft.extract.alignment import canonical_box, eye_distance, to_canonical
from facegraft.extract.detectors import Detection, Detector
from facegraft.extract.landmarkers import Landmarker
from facegraft.extract.verify import cnn_face_check, face_check

SETTLED = 0.02  # landmarks moving less than this (of the eye distance) under another pass are settled
TRACK_SLACK = 0.5  # a face already tracked is kept down to this much below the new-face threshold
CLEAR_FACE = 0.9  # new faces verifying below this also need the CNN detector's agreement
SAME_FACE_NCC = 0.5  # between keyframes, a followed face's crop must correlate this well with the last
FOLLOWED = 0.08  # a followed face moving less than this under a pass goes straight to the final pass
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
    patch: np.ndarray | None = None  # small normalised upright crop, to notice a cut between keyframes


def appearance(rgb: np.ndarray, landmarks: np.ndarray, size: int = 24) -> np.ndarray:
    """(size, size) float32 zero-mean, unit-norm grey crop of the upright inner face: the dot product of two
    is their normalised cross-correlation (1: the same picture; a cut to something else drops it)."""
    m = to_canonical(landmarks)
    scale = np.array([[size, 0, 0], [0, size, 0], [0, 0, 1.0]])
    grey = cv2.cvtColor(
        cv2.warpAffine(
            rgb, (scale @ m)[:2], (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        ),
        cv2.COLOR_RGB2GRAY,
    ).astype(np.float32)
    grey -= grey.mean()
    norm = float(np.linalg.norm(grey))
    return grey / norm * size if norm > 1e-6 else grey


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
        self._verdicts: list[tuple[np.ndarray, bool]] = []
        self.landmarker = landmarker
        self.min_confidence = min_confidence
        self.rotate_retry = rotate_retry
        self.rolls = rolls

    def locate(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        """Best (68, 2) landmarks for the face in `box` and their verification score.

        The landmarker starts from the upright guess and, unless that one settles cleanly, from rolled
        guesses too. Each guess is refined until it stops moving and verified; among those that verify as
        a face, the one that moves least under a last upright pass wins: a correct fit is a fixed point of
        the landmarker, a wrong one keeps drifting.
        """
        best: tuple[float, np.ndarray, float] | None = None
        fallback: tuple[np.ndarray, float] = (np.zeros((68, 2)), -np.inf)
        for roll in self.rolls:
            pts, _ = self.converge(rgb, self.landmarker.landmarks(rgb, box, roll))
            pts, conf = self.settle(rgb, pts)
            if conf < self.min_confidence:
                if conf > fallback[1]:
                    fallback = (pts, conf)
                continue
            pts, movement = self.converge(rgb, pts)
            if best is None or movement < best[0]:
                best = (movement, pts, conf)
            if movement < SETTLED and conf > 0.5:
                break
        if best is None:
            return fallback
        return self.landmarker.refine(rgb, best[1], final=True), best[2]

    def converge(
        self, rgb: np.ndarray, pts: np.ndarray, passes: int = 4, settled: float = SETTLED
    ) -> tuple[np.ndarray, float]:
        """Upright landmark passes from `pts` until they move less than `settled` eye distances (at most
        `passes`); returns the landmarks and the last movement."""
        pts = np.asarray(pts, np.float64)
        moved = np.inf
        for _ in range(passes):
            new = self.landmarker.refine(rgb, pts)
            moved = float(np.linalg.norm(new - pts, axis=1).mean() / max(eye_distance(pts), 1e-6))
            pts = new
            if moved < settled:
                break
        return pts, moved

    def settle(self, rgb: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, float]:
        """Verify landmarks; where the verifying detector boxes the upright face differently (the landmarks
        drifted in scale or position), run the landmarker once more in the detector's box."""
        conf, found = face_check(rgb, pts)
        if found is not None and box_iou(found, canonical_box()) < DRIFT_IOU:
            pts = self.landmarker.refine(rgb, pts, canon_box=found)
            conf, _ = face_check(rgb, pts)
        return pts, conf

    def find(
        self,
        rgb: np.ndarray,
        known: list[np.ndarray] | None = None,
        detections: list[Detection] | None = None,
    ) -> list[TrackedFace]:
        """Faces in an (H, W, 3) uint8 frame, duplicates merged; with rotate_retry, turned plates too.

        Detections on faces already `known` (landmark boxes of tracked faces) are skipped; `detections`
        are the detector's boxes on this frame when they were found ahead of time."""
        faces = self._find_upright(rgb, known or [], detections)
        if faces or known or not self.rotate_retry:
            return faces
        h, w = rgb.shape[:2]
        for k in (2, 1, 3):  # upside down is the commonest wrong orientation
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            faces = self._find_upright(turned, [], None)
            if faces:
                back = cv2.invertAffineTransform(_rotation(k, w, h))
                for f in faces:
                    f.landmarks = (f.landmarks @ back[:, :2].T + back[:, 2]).astype(np.float32)
                    f.box = landmark_box(f.landmarks)
                    # The face is found; re-run the landmarker in the original frame, upright-corrected.
                    f.landmarks = self.landmarker.refine(rgb, f.landmarks).astype(np.float32)
                return faces
        return []

    def _second_opinion(self, rgb: np.ndarray, pts: np.ndarray, lbox: np.ndarray) -> bool:
        """A CNN detector's verdict on a candidate that verified only weakly (~0.1 s, so rare); verdicts are
        remembered by place, so a face-like patch in a locked-off plate is judged once, not every keyframe."""
        for box, verdict in self._verdicts:
            if box_iou(box, lbox) > 0.5:
                return verdict
        verdict = cnn_face_check(rgb, pts)
        self._verdicts = [*self._verdicts[-31:], (lbox, verdict)]
        return verdict

    def _find_upright(
        self, rgb: np.ndarray, known: list[np.ndarray], detections: list[Detection] | None = None
    ) -> list[TrackedFace]:
        faces: list[TrackedFace] = []
        for det in self.detector.detect(rgb) if detections is None else detections:
            centre = (det.box[:2] + det.box[2:]) / 2
            if any(k[0] <= centre[0] <= k[2] and k[1] <= centre[1] <= k[3] for k in known):
                continue
            pts, conf = self.locate(rgb, det.box)
            if conf < self.min_confidence:
                continue
            lbox = landmark_box(pts)
            if conf < CLEAR_FACE and not self._second_opinion(rgb, pts, lbox):
                continue
            if any(box_iou(lbox, landmark_box(f.landmarks)) > 0.4 for f in faces):
                continue  # a second box on a face already found
            faces.append(
                TrackedFace(pts.astype(np.float32), det.box, det.score, conf, patch=appearance(rgb, pts))
            )
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

    def keyframe(self, position: int) -> bool:
        """Whether the frame at `position` runs the detector whatever the tracks do (so a caller may
        detect on it ahead of time, e.g. in the thread that decodes frames)."""
        return position % self.detect_every == 0

    def step(
        self, rgb: np.ndarray, position: int, detections: list[Detection] | None = None
    ) -> list[TrackedFace]:
        """Faces in this frame; `position` is the frame's index in the extraction's frame list.

        Keyframes (every `detect_every`) run the detector for new faces (or take the `detections` found
        on this frame ahead of time); other frames only follow the known ones. A lost track makes the
        frame a full detection.
        """
        if self.detect_every == 1:  # detection on every frame, each frame on its own: no tracking
            faces = self.finder.find(rgb, detections=detections)
            self._match(rgb, faces)
            faces.sort(key=lambda f: (float(f.landmarks[:, 0].mean()), float(f.landmarks[:, 1].mean())))
            self.previous = faces
            return faces
        keyframe = self.keyframe(position)
        followed = self._follow(rgb, verify=keyframe) if self.previous else []
        ahead = detections if keyframe else None
        if followed is None:
            faces = self.finder.find(rgb, detections=ahead)
            self._match(rgb, faces)
        elif keyframe or not followed:
            new = self.finder.find(rgb, known=[landmark_box(f.landmarks) for f in followed], detections=ahead)
            self._match(rgb, new)
            faces = followed + new
        else:
            faces = followed
        faces.sort(key=lambda f: (float(f.landmarks[:, 0].mean()), float(f.landmarks[:, 1].mean())))
        self.previous = faces
        return faces

    def _follow(self, rgb: np.ndarray, verify: bool) -> list[TrackedFace] | None:
        """Faces followed from the previous frame, or None when any track is lost (then detect).

        The landmarker re-runs from the previous landmarks until they settle (a fast move needs a few
        passes). On keyframes each followed face is verified as a face on its upright crop; between them
        its upright crop must still look like the last one (a cut, or a face leaving the frame, loses the
        track). Then the averaged final pass places the landmarks.
        """
        lm = self.finder.landmarker
        out = []
        for prev in self.previous:
            pts, _ = self.finder.converge(rgb, prev.landmarks, MAX_FOLLOW_PASSES, FOLLOWED)
            conf = prev.confidence
            if verify:
                settled, conf = self.finder.settle(rgb, pts)
                if conf < self.finder.min_confidence - TRACK_SLACK:
                    return None
                if settled is not pts:  # re-run in the detector's box: settle again, as detection does
                    pts, _ = self.finder.converge(rgb, settled)
            pts = lm.refine(rgb, pts, final=True)
            patch = appearance(rgb, pts)
            if not verify and prev.patch is not None and float((patch * prev.patch).mean()) < SAME_FACE_NCC:
                return None
            out.append(
                TrackedFace(
                    pts.astype(np.float32),
                    landmark_box(pts),
                    conf,
                    conf,
                    prev.track_id,
                    detected=False,
                    embedding=prev.embedding,
                    patch=patch,
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
