"""Find faces in a frame and follow each person to the next one.

Full-frame detection runs on keyframes (every few frames, and on the first frame of every shot). Between
them each followed face is found again by the detector in a small region around where its track predicts
it (a few milliseconds), which tells that the face is still there and gives its five points; the 68-point
landmarker then fits from the previous frame's landmarks moved with those points. A face the detector misses
(a hand over it, a turn, motion blur) keeps its track, unstored, for up to `max_coast` frames and gets the
same track id back when it is found again; a cut ends every track. A new face, or a lost one found away
from where its track predicts it, is taken only where the detector also finds it when it looks at the
region about it, as it follows faces: a real face holds at that scale, a texture the whole frame's scale
happened to score does not.

Each face carries a landmark confidence: how well the 68 landmarks agree with the detector's own five
points. Where the 68-point model cannot fit (large yaw, heavy occlusion), the face is stored with a coarse
fit of the mean face to the five points and flagged `landmarks-unreliable`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from facegraft.extract.detectors import Detection, Detector
from facegraft.extract.landmarkers import Landmarker
from facegraft.extract.verify import face_check
from facegraft.geometry.alignment import (
    LEFT_EYE,
    RIGHT_EYE,
    eye_distance,
    mean_face,
    transform_points,
    umeyama,
)
from facegraft.registry import unknown
from facegraft.store.alignments import LANDMARKS_UNRELIABLE

SETTLED = 0.02  # landmarks moving less than this (of the eye distance) under another pass are settled
FOLLOWED = 0.05  # a followed face moving less than this under a pass goes straight to the final pass
MAX_FOLLOW_PASSES = 3  # landmark passes while following a face
POINT_ERROR_SCALE = 0.25  # five-point disagreement (of the box side) at which landmark confidence reaches 0
RELIABLE = 0.5  # landmark confidence below this: the 68 points are not trusted (flagged)
TRACK_FLOOR = 0.5  # a followed face is still there while the detector scores it this much of min_confidence
SAME_FACE_IOU = 0.3  # a detection continues a track when it overlaps the predicted box this much,
SAME_FACE_SHIFT = 0.7  # or is this near it (centre distance, of its size) at a similar size
NEAR_MARGIN = (
    1.0  # region searched around a followed face, of its size on each side (the model needs context)
)
NEAR_ZOOMS = (1.0, 1.25, 0.8)  # scales a followed face is looked for at, the next only if one misses
COAST_MARGIN_STEP = 0.25  # the region grows by this much per frame a face is missed
VELOCITY_SMOOTHING = 0.5
SHORT_MISS = 2  # a face missed for up to this many frames is taken back at the track floor where predicted


@dataclass
class TrackedFace:
    """A face in one frame: (68, 2) float32 plate-pixel landmarks and where they came from."""

    landmarks: np.ndarray
    box: np.ndarray  # (4,) the detector's box, frame px
    score: float  # the detector's score on this frame: the face is there
    confidence: float  # landmark confidence 0..1: the 68 points agree with the detector's five
    track_id: int = -1
    detected: bool = True  # found by a full-frame detection (False: followed in its track's region)
    embedding: np.ndarray | None = None
    points: np.ndarray | None = None  # (5, 2) the detector's points, when it gives them
    flags: tuple[str, ...] = ()


@dataclass
class Track:
    """One person followed through a shot: the last face seen, its box motion, frames missed since."""

    id: int
    last: TrackedFace
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    missed: int = 0

    def predicted(self) -> np.ndarray:
        """(4,) where to look for the face: its last box, moved on by its motion while it is missed
        (a face seen on the last frame is looked for around its last box, so a resumed extraction, which
        knows only the stored boxes, looks in the same place)."""
        return self.last.box + self.velocity * self.missed


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


def box_side(box: np.ndarray) -> float:
    """Longer side of a (4,) box."""
    return float(max(box[2] - box[0], box[3] - box[1], 1e-6))


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) detector-style points of (68, 2) landmarks: the two eye centres, nose tip, mouth corners."""
    lm = np.asarray(landmarks, np.float64)
    return np.stack([lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0), lm[30], lm[48], lm[54]])


def mean_face_fit(points: np.ndarray) -> np.ndarray:
    """(68, 2) mean face placed by the similarity that best maps its five points onto `points` (5, 2)."""
    mean = mean_face()
    return transform_points(mean, umeyama(five_points(mean), points))


def point_agreement(landmarks: np.ndarray, points: np.ndarray, box: np.ndarray) -> float:
    """Landmark confidence 0..1: 1 - the mean distance between the landmarks' five points and the
    detector's, as a share of POINT_ERROR_SCALE box sides (two models that agree are on the face)."""
    err = float(np.linalg.norm(five_points(landmarks) - points, axis=1).mean()) / box_side(box)
    return float(np.clip(1.0 - err / POINT_ERROR_SCALE, 0.0, 1.0))


def hog_agreement(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """Landmark confidence 0..1 where no five points judge them: HOG's score on the upright crop the
    landmarks define (a face turned upright by right landmarks scores ~1; wrong ones score below 0)."""
    score, _ = face_check(rgb, landmarks)
    return float(np.clip(score, 0.0, 1.0))


def landmark_confidence(rgb: np.ndarray, landmarks: np.ndarray, det: Detection) -> float:
    """0..1 how surely (68, 2) landmarks sit on the face `det` found: their agreement with its five
    points, or where those disagree (a detector's points on a face upside down are often wrong), HOG's
    verdict on the face the landmarks turn upright."""
    conf = point_agreement(landmarks, det.points, det.box) if det.points is not None else 0.0
    return conf if conf >= RELIABLE else max(conf, hog_agreement(rgb, landmarks))


def turned(landmarks: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    """(68, 2) landmarks turned `degrees` about `centre`."""
    return transform_points(landmarks, cv2.getRotationMatrix2D(tuple(map(float, centre)), degrees, 1.0))


TURNS = (180.0, 90.0, -90.0)
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
        raise unknown(mode, NORMALISERS, "normalisation", ValueError)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


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


class FaceFinder:
    """Detection plus 68 landmarks plus their confidence, on one frame or one face."""

    def __init__(
        self,
        detector: Detector,
        landmarker: Landmarker,
        min_confidence: float = 0.7,
        rotate_retry: bool = False,
    ) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.min_confidence = min_confidence
        self.rotate_retry = rotate_retry

    @property
    def track_floor(self) -> float:
        """Detector score down to which a followed face is still there."""
        return self.min_confidence * TRACK_FLOOR

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

    def fit(
        self, rgb: np.ndarray, det: Detection, start: np.ndarray | None = None, followed: bool = False
    ) -> tuple[np.ndarray, float, tuple[str, ...]]:
        """(68, 2) landmarks, landmark confidence and flags for the face the detector found as `det`.

        The landmarker starts from `start` (the previous frame's landmarks moved with the face) or from the
        mean face placed on the detector's five points; where the fit disagrees with those points, a fresh
        start from the mean face is tried. With rotate_retry, the mean face turned upside down and on its
        sides is tried too (the five points of a face upside down are often wrong themselves). Where
        nothing fits, the face gets the mean-face fit, flagged."""
        if det.points is None:
            return self._fit_without_points(rgb, det.box, start)
        placed = mean_face_fit(det.points)
        seeds: list[tuple[np.ndarray, bool]] = [(placed, False)]
        if start is not None:
            seeds.insert(0, (start, followed))
        if self.rotate_retry:
            centre = det.points.mean(0)
            seeds += [(turned(placed, centre, degrees), False) for degrees in TURNS]
        best: tuple[float, np.ndarray] = (-1.0, placed)
        for seed, following in seeds:
            if following:
                pts, _ = self.converge(rgb, seed, MAX_FOLLOW_PASSES, FOLLOWED)
            else:
                pts, _ = self.converge(rgb, seed)
            conf = landmark_confidence(rgb, pts, det)
            if conf > best[0]:
                best = (conf, pts)
            if conf >= RELIABLE:
                break
        conf, pts = best
        if conf < RELIABLE:  # the averaged final pass would not save it: keep its time
            return placed, conf, (LANDMARKS_UNRELIABLE,)
        pts = self.landmarker.refine(rgb, pts, final=True)
        return pts, landmark_confidence(rgb, pts, det), ()

    def _fit_without_points(
        self, rgb: np.ndarray, box: np.ndarray, start: np.ndarray | None
    ) -> tuple[np.ndarray, float, tuple[str, ...]]:
        """Landmarks for a detector without points: from its box, confidence from HOG on the upright crop."""
        pts = self.landmarker.landmarks(rgb, box) if start is None else start
        pts, _ = self.converge(rgb, pts)
        pts = self.landmarker.refine(rgb, pts, final=True)
        conf = hog_agreement(rgb, pts)
        return pts, conf, () if conf >= RELIABLE else (LANDMARKS_UNRELIABLE,)

    def face_at(self, rgb: np.ndarray, det: Detection, start: np.ndarray | None = None) -> TrackedFace:
        """A TrackedFace for one detection."""
        pts, conf, flags = self.fit(rgb, det, start, followed=start is not None)
        return TrackedFace(
            pts.astype(np.float32),
            np.asarray(det.box, np.float64),
            det.score,
            conf,
            points=det.points,
            flags=flags,
        )

    def locate(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        """(68, 2) landmarks for the face in `box` (e.g. drawn by a person) and their confidence: the
        detector looks around the box first; without a detection there, the landmarker fits in the box."""
        box = np.asarray(box, np.float64)
        near = [
            d for d in self.detector.detect_near(rgb, box, 0.3, self.track_floor) if box_iou(d.box, box) > 0.2
        ]
        if near:
            pts, conf, _ = self.fit(rgb, near[0])
            return pts, conf
        pts, conf, _ = self._fit_without_points(rgb, box, None)
        return pts, conf

    def settle(self, rgb: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, float]:
        """Landmarks `pts` and their confidence against the detector's points around them."""
        pts = np.asarray(pts, np.float64)
        lbox = landmark_box(pts)
        near = self.detector.detect_near(rgb, lbox, NEAR_MARGIN, self.track_floor)
        near = [d for d in near if d.points is not None and box_iou(d.box, lbox) > 0.1]
        if not near:
            return pts, hog_agreement(rgb, pts)
        return pts, point_agreement(pts, near[0].points, near[0].box)

    def find(self, rgb: np.ndarray, detections: list[Detection] | None = None) -> list[TrackedFace]:
        """New faces in an (H, W, 3) uint8 frame (detections scoring at least min_confidence), duplicates
        merged; with rotate_retry and nothing found upright, the frame turned too."""
        faces = self._find_upright(rgb, detections)
        if faces or not self.rotate_retry:
            return faces
        return self.find_turned(rgb)

    def find_turned(self, rgb: np.ndarray) -> list[TrackedFace]:
        """Faces found in the frame turned upside down, or on either side, mapped back to the frame."""
        h, w = rgb.shape[:2]
        for k in (2, 1, 3):  # upside down is the commonest wrong orientation
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            faces = self._find_upright(turned, None)
            if faces:
                back = cv2.invertAffineTransform(_rotation(k, w, h))
                for f in faces:
                    f.landmarks = transform_points(f.landmarks, back).astype(np.float32)
                    f.box = landmark_box(f.landmarks)
                    if f.points is not None:
                        f.points = transform_points(f.points, back)
                    f.landmarks = self.landmarker.refine(rgb, f.landmarks, final=True).astype(np.float32)
                return faces
        return []

    def _find_upright(self, rgb: np.ndarray, detections: list[Detection] | None) -> list[TrackedFace]:
        found = self.detector.detect(rgb) if detections is None else detections
        return [self.face_at(rgb, d) for d in found if d.score >= self.min_confidence]


def _follow_start(face: TrackedFace, det: Detection) -> np.ndarray:
    """The previous frame's landmarks moved by the similarity that takes their five points (or the box
    corners) to this frame's detector points: a good start even when the face moved fast, found from what
    the store keeps (so a resumed extraction starts from the same place)."""
    if det.points is not None:
        src, dst = five_points(face.landmarks), det.points
    else:
        src = np.array([face.box[:2], face.box[2:], [face.box[0], face.box[3]]])
        dst = np.array([det.box[:2], det.box[2:], [det.box[0], det.box[3]]])
    return transform_points(face.landmarks, umeyama(src, dst))


class Tracker:
    """Per-frame face state: keyframe detections start tracks, regions around known faces follow them."""

    def __init__(
        self,
        finder: FaceFinder,
        detect_every: int = 5,
        next_track_id: int = 0,
        embed: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        max_coast: int = 30,
    ) -> None:
        self.finder = finder
        self.detect_every = max(1, detect_every)
        self.next_track_id = next_track_id
        self.embed = embed
        self.max_coast = max(0, max_coast)
        self.tracks: list[Track] = []

    @property
    def previous(self) -> list[TrackedFace]:
        """Faces of the tracks seen on the last frame."""
        return [t.last for t in self.tracks if t.missed == 0]

    def resume(self, previous: list[TrackedFace], next_track_id: int) -> None:
        """Continue from faces stored for the preceding frame (a resumed extraction)."""
        self.tracks = [Track(f.track_id, f) for f in previous]
        self.next_track_id = next_track_id

    def keyframe(self, position: int) -> bool:
        """Whether the frame at `position` runs the full-frame detector whatever the tracks do (so a caller
        may detect on it ahead of time, e.g. in the thread that decodes frames)."""
        return position % self.detect_every == 0

    def step(
        self,
        rgb: np.ndarray,
        position: int,
        detections: list[Detection] | None = None,
        cut: bool = False,
    ) -> list[TrackedFace]:
        """Faces in this frame; `position` is the frame's index in the extraction's frame list, `cut` says
        a new shot starts here (every track ends; the frame is a keyframe). `detections` are the full
        frame's, found ahead of time on keyframes."""
        if cut:
            self.tracks = []
        faces = self._follow(rgb)
        # A face just lost to the search near it (a region the model scores unlike the whole frame, as at
        # the frame's edge) is looked for in the whole frame too, for its first SHORT_MISS frames.
        just_lost = any(0 < t.missed <= SHORT_MISS for t in self.tracks)
        if detections is None and (cut or self.keyframe(position) or just_lost):
            detections = self.finder.detector.detect(rgb)
        if detections is not None:
            faces += self._start_tracks(rgb, faces, detections)
            if not faces and self.finder.rotate_retry:
                faces = self._start_tracks(rgb, [], [], self.finder.find_turned(rgb))
        self.tracks = [t for t in self.tracks if t.missed <= self.max_coast and _inside(t.predicted(), rgb)]
        for f in faces:
            if f.embedding is None and self.embed is not None:
                f.embedding = self.embed(rgb, f.landmarks)
                for t in self.tracks:
                    if t.id == f.track_id:
                        t.last.embedding = f.embedding
        faces.sort(key=lambda f: (float(f.landmarks[:, 0].mean()), float(f.landmarks[:, 1].mean())))
        return faces

    def _follow(self, rgb: np.ndarray) -> list[TrackedFace]:
        """Each track's face found again near where it is predicted; tracks not found coast one frame."""
        out: list[TrackedFace] = []
        taken: list[np.ndarray] = []
        for track in sorted(self.tracks, key=lambda t: (t.missed, -t.last.score)):
            guess = track.predicted()
            margin = NEAR_MARGIN + COAST_MARGIN_STEP * track.missed
            near: list[Detection] = []
            for zoom in NEAR_ZOOMS:
                near = [
                    d
                    for d in self.finder.detector.detect_near(
                        rgb, guess, margin, self.finder.track_floor, zoom
                    )
                    if self._continues(d, guess, track.missed)
                    and not any(box_iou(d.box, b) > 0.5 for b in taken)
                ]
                if near:
                    break
            if not near:
                track.missed += 1
                continue
            det = near[0]
            face = self.finder.face_at(rgb, det, _follow_start(track.last, det))
            face.track_id, face.detected, face.embedding = track.id, False, track.last.embedding
            step = (face.box - track.last.box) / (track.missed + 1)
            track.velocity = VELOCITY_SMOOTHING * track.velocity + (1 - VELOCITY_SMOOTHING) * step
            track.last, track.missed = face, 0
            taken.append(det.box)
            out.append(face)
        return out

    def _continues(self, det: Detection, predicted: np.ndarray, missed: int) -> bool:
        """Whether a detection is the tracked face: overlapping where it is predicted, scoring at least the
        track floor while the face is followed (missed for SHORT_MISS frames at most); a face that moved
        far (a fast move, a jump in the plate) or comes back after longer must score as a new face does,
        so a track never wanders onto a weak look-alike nearby."""
        overlaps = box_iou(det.box, predicted) >= SAME_FACE_IOU
        if overlaps and missed <= SHORT_MISS:
            return det.score >= self.finder.track_floor
        if det.score < self.finder.min_confidence:
            return False
        side = box_side(predicted)
        ratio = box_side(det.box) / side
        shift = float(np.hypot(*((det.box[:2] + det.box[2:]) / 2 - (predicted[:2] + predicted[2:]) / 2)))
        near = shift <= (SAME_FACE_SHIFT + COAST_MARGIN_STEP * missed) * side
        return overlaps or (0.6 < ratio < 1.7 and near)

    def _holds_near(self, rgb: np.ndarray, det: Detection) -> bool:
        """Whether the detector still sees a new face when it looks at it as it will follow it (the region
        about it, at the follow's scales): a real face does at any scale, while texture the whole frame's
        scale happened to score (foliage, sky, a pattern) scores nothing there. A face upside down or on
        its side, which the whole frame's scale can still score upright, is looked for in its region turned
        the three ways too."""
        for zoom in NEAR_ZOOMS:
            near = self.finder.detector.detect_near(rgb, det.box, NEAR_MARGIN, self.finder.track_floor, zoom)
            if any(box_iou(d.box, det.box) >= SAME_FACE_IOU for d in near):
                return True
        return any(self._holds_turned(rgb, det.box, k) for k in (2, 1, 3))

    def _holds_turned(self, rgb: np.ndarray, box: np.ndarray, k: int) -> bool:
        """Whether the detector finds a face over `box` in the region about it turned k quarter turns
        anticlockwise (the turned face's box is compared with `box` back in the frame)."""
        h, w = rgb.shape[:2]
        grow = box_side(box) * (NEAR_MARGIN + 0.5)  # a little more than detect_near looks at
        x0, y0 = max(int(box[0] - grow), 0), max(int(box[1] - grow), 0)
        x1, y1 = min(int(np.ceil(box[2] + grow)), w), min(int(np.ceil(box[3] + grow)), h)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return False
        turn = _rotation(k, x1 - x0, y1 - y0)
        back = cv2.invertAffineTransform(turn)
        region = np.ascontiguousarray(np.rot90(rgb[y0:y1, x0:x1], k))
        local = np.asarray(box, np.float64) - (x0, y0, x0, y0)
        near = self.finder.detector.detect_near(
            region, _box_moved(local, turn), NEAR_MARGIN, self.finder.track_floor
        )
        offset = np.array([x0, y0, x0, y0], np.float64)
        return any(box_iou(_box_moved(d.box, back) + offset, box) >= SAME_FACE_IOU for d in near)

    def _start_tracks(
        self,
        rgb: np.ndarray,
        followed: list[TrackedFace],
        detections: list[Detection],
        found: list[TrackedFace] | None = None,
    ) -> list[TrackedFace]:
        """Faces of this frame's detections that no followed face holds: a coasting track that predicts
        one gets it back (same id), the others start new tracks. `found` are faces already fitted
        (e.g. in the turned frame): they start new tracks as they are."""
        new: list[TrackedFace] = []
        for face in found or []:
            track = Track(self.next_track_id, face)
            self.next_track_id += 1
            self.tracks.append(track)
            face.track_id = track.id
            new.append(face)
        held = [f.box for f in followed]
        for det in detections:
            if det.score < self.finder.min_confidence:
                continue
            if any(box_iou(det.box, b) > 0.3 or _centre_inside(det.box, b) for b in held):
                continue
            coasting = [
                t for t in self.tracks if t.missed > 0 and self._continues(det, t.predicted(), t.missed)
            ]
            track = max(coasting, key=lambda t: box_iou(det.box, t.predicted()), default=None)
            where_predicted = track is not None and box_iou(det.box, track.predicted()) >= SAME_FACE_IOU
            if not where_predicted and not self._holds_near(rgb, det):
                continue
            start = _follow_start(track.last, det) if track is not None else None
            face = self.finder.face_at(rgb, det, start)
            if track is None:
                track = Track(self.next_track_id, face)
                self.next_track_id += 1
                self.tracks.append(track)
            face.track_id, face.embedding = track.id, track.last.embedding  # a new track's is None
            track.last, track.missed, track.velocity = face, 0, np.zeros(4)
            held.append(det.box)
            new.append(face)
        return new


def _box_moved(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(4,) box around a (4,) box's corners moved by a (2, 3) matrix (a quarter turn keeps it a box)."""
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]], np.float64)
    return landmark_box(transform_points(corners, matrix))


def _centre_inside(box: np.ndarray, other: np.ndarray) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(other[0] <= cx <= other[2] and other[1] <= cy <= other[3])


def _inside(box: np.ndarray, rgb: np.ndarray) -> bool:
    """Whether any of a (4,) box lies inside the frame."""
    h, w = rgb.shape[:2]
    return bool(box[2] > 0 and box[3] > 0 and box[0] < w and box[1] < h)
