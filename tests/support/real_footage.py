"""The committed real clips (tests/data/real) and their reference, and the figures an extraction is judged by.

The reference of each clip (tests/data/real/reference/<stem>.json, made once by make_reference.py beside
it) holds every face two independent CNN detectors found (YuNet and CenterFace; neither is the product's),
the `agreed` faces both found, the hard cuts chosen by eye (cuts.json) and the agreed faces linked into
persons within each shot. Reference frames are decode indices from 0 in display order.

Matching is tolerant because the product's boxes follow another convention than the reference detectors'
(and those two differ from each other, see each reference's `box_difference`): a stored face matches a
reference box when their boxes overlap with IoU >= MATCH_IOU, or when the reference box's centre lies inside
the bounding box of the stored face's landmarks. Within a frame each stored face matches at most one
reference face (best IoU first), so one large stored box cannot count for two people.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REAL_DIR = Path(__file__).resolve().parents[1] / "data" / "real"
REFERENCE_DIR = REAL_DIR / "reference"
DETECTORS = ("yunet", "centerface")
MATCH_IOU = 0.3
# Video plates are numbered 1..N in presentation order (facegraft.io.video.VideoReader, as Nuke numbers a
# movie): decode index = stored frame number - VIDEO_FIRST_FRAME.
VIDEO_FIRST_FRAME = 1
# A person's track consistency is scored only over this many matched frames or more.
MIN_PERSON_FRAMES = 5

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One box of one reference detector: plate pixels x0,y0,x1,y1 and the detector's score."""

    box: Box
    score: float
    detector: str


@dataclass(frozen=True)
class AgreedFace:
    """A face both reference detectors found: the mean of their boxes, and each one's score."""

    box: Box
    yunet_score: float
    centerface_score: float

    @property
    def width(self) -> float:
        """Box width in plate pixels."""
        return self.box[2] - self.box[0]


@dataclass(frozen=True)
class Person:
    """One person's agreed boxes inside one shot, linked across frames (decode indices)."""

    id: int
    shot: int
    frames: tuple[int, ...]
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Reference:
    """The reference of one clip: its faces per decode index, persons, cuts and how it was made."""

    clip: str
    frames: int
    width: int
    height: int
    agreed: dict[int, list[AgreedFace]]
    detections: dict[str, dict[int, list[Detection]]]
    persons: list[Person]
    cuts: list[int]
    provenance: dict

    @property
    def path(self) -> Path:
        """The clip file."""
        return REAL_DIR / self.clip

    @property
    def stem(self) -> str:
        """The clip's name without its extension (the reference's name)."""
        return Path(self.clip).stem

    def shot_of(self, index: int) -> int:
        """The shot (0..) a decode index belongs to."""
        return sum(1 for cut in self.cuts if cut <= index)

    def agreed_faces(self, min_width: float = 0.0) -> list[tuple[int, AgreedFace]]:
        """(decode index, face) of every agreed face at least min_width wide."""
        return [(i, f) for i in sorted(self.agreed) for f in self.agreed[i] if f.width >= min_width]


@dataclass(frozen=True)
class ExtractionScore:
    """How one stored extraction compares with a clip's reference (see score_extraction)."""

    clip: str
    frames: int
    min_width: float
    stored_frames: int
    stored_faces: int
    reference_faces: int
    found_faces: int
    reference_frames: int
    found_frames: int
    non_faces: list[tuple[int, Box]]
    persons_scored: int
    person_consistency: dict[int, float]
    consistent_frames: int
    matched_person_frames: int
    tracks_across_cuts: dict[int, tuple[int, ...]]
    recall_by_shot: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def face_recall(self) -> float:
        """Share of agreed faces >= min_width that a stored face matches (1.0 when there are none)."""
        return self.found_faces / self.reference_faces if self.reference_faces else 1.0

    @property
    def frame_recall(self) -> float:
        """Share of frames holding an agreed face >= min_width where at least one of them is matched."""
        return self.found_frames / self.reference_frames if self.reference_frames else 1.0

    @property
    def non_faces_per_500(self) -> float:
        """Stored faces that no reference detector saw at all, per 500 frames."""
        return len(self.non_faces) * 500.0 / max(self.frames, 1)

    @property
    def track_consistency_min(self) -> float:
        """The worst person's share of matched frames carrying its majority track id (1.0 if none scored)."""
        return min(self.person_consistency.values(), default=1.0)

    @property
    def track_consistency(self) -> float:
        """Over all scored persons: matched frames carrying their person's majority track id."""
        return self.consistent_frames / self.matched_person_frames if self.matched_person_frames else 1.0

    def report(self) -> str:
        """One paragraph of the figures, for test failure messages and the bench."""
        shots = ", ".join(f"shot {s} {f}/{n}" for s, (f, n) in sorted(self.recall_by_shot.items()))
        worst = sorted(self.person_consistency.items(), key=lambda kv: kv[1])[:3]
        worst_text = ", ".join(f"person {p} {c:.2f}" for p, c in worst) or "none"
        non_faces = ", ".join(f"f{i} {_fmt_box(b)}" for i, b in self.non_faces[:4])
        crossing = ", ".join(
            f"track {t} in shots {list(s)}" for t, s in sorted(self.tracks_across_cuts.items())
        )
        return (
            f"{self.clip}: {self.stored_faces} faces stored in {self.stored_frames} of {self.frames} frames. "
            f"Face recall {self.face_recall:.3f} ({self.found_faces}/{self.reference_faces} agreed faces "
            f">= {self.min_width:g} px; by shot: {shots or 'none'}); frame recall {self.frame_recall:.3f} "
            f"({self.found_frames}/{self.reference_frames} frames). Non-faces {len(self.non_faces)} "
            f"({self.non_faces_per_500:.2f} per 500 frames){': ' + non_faces if non_faces else ''}"
            f"{' ...' if len(self.non_faces) > 4 else ''}. Track consistency {self.track_consistency:.3f} "
            f"overall, min {self.track_consistency_min:.3f} over {self.persons_scored} persons "
            f"(worst: {worst_text}). Tracks across cuts: {crossing or 'none'}."
        )

    def __str__(self) -> str:
        return self.report()


@dataclass(frozen=True)
class CutScore:
    """Found cuts against the reference cuts (decode indices)."""

    found: list[int]
    missed: list[int]
    false: list[int]
    tolerance: int = 0

    @property
    def ok(self) -> bool:
        """Every reference cut found and no false one."""
        return not self.missed and not self.false

    def report(self) -> str:
        """One line of the figures, for test failure messages and the bench."""
        return (
            f"cuts (tolerance {self.tolerance} frames): {len(self.found)} found {self.found}, "
            f"{len(self.missed)} missed {self.missed}, {len(self.false)} false {self.false}"
        )

    def __str__(self) -> str:
        return self.report()


def reference_stems() -> list[str]:
    """Stems of every clip that has a reference."""
    names = {
        p.name.split(".")[0]
        for p in REFERENCE_DIR.glob("*.json*")
        if p.name not in ("cuts.json", "persons.json")
    }
    return sorted(names)


def load_reference(clip_stem: str) -> Reference:
    """The reference of one committed clip (tests/data/real/reference/<clip_stem>.json or .json.gz)."""
    plain, packed = REFERENCE_DIR / f"{clip_stem}.json", REFERENCE_DIR / f"{clip_stem}.json.gz"
    if plain.is_file():
        doc = json.loads(plain.read_text())
    elif packed.is_file():
        with gzip.open(packed, "rt") as fh:
            doc = json.load(fh)
    else:
        raise FileNotFoundError(f"no reference for {clip_stem!r} in {REFERENCE_DIR}")
    agreed: dict[int, list[AgreedFace]] = {}
    for frame, x0, y0, x1, y1, ys, cs in doc["agreed"]:
        agreed.setdefault(int(frame), []).append(AgreedFace((x0, y0, x1, y1), ys, cs))
    detections: dict[str, dict[int, list[Detection]]] = {}
    for name, rows in doc["detections"].items():
        per_frame = detections.setdefault(name, {})
        for frame, x0, y0, x1, y1, score in rows:
            per_frame.setdefault(int(frame), []).append(Detection((x0, y0, x1, y1), score, name))
    persons = [
        Person(p["id"], p["shot"], tuple(p["frames"]), tuple(tuple(b) for b in p["boxes"]))
        for p in doc["persons"]
    ]
    return Reference(
        clip=doc["clip"],
        frames=int(doc["frames"]),
        width=int(doc["width"]),
        height=int(doc["height"]),
        agreed=agreed,
        detections=detections,
        persons=persons,
        cuts=list(doc["cuts"]),
        provenance=doc["provenance"],
    )


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two x0,y0,x1,y1 boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _fmt_box(box: Box) -> str:
    return "(" + ",".join(f"{v:.0f}" for v in box) + ")"


@dataclass(frozen=True)
class _Stored:
    """A stored face reduced to what matching needs."""

    box: Box
    landmark_box: Box | None
    track_id: int | None
    person_id: int | None = None


def _stored(face) -> _Stored:
    box = tuple(float(v) for v in face.box)
    landmarks = getattr(face, "landmarks", None)
    lm_box = None
    if landmarks is not None and np.size(landmarks):
        pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
        lm_box = (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            float(pts[:, 0].max()),
            float(pts[:, 1].max()),
        )
    return _Stored(box, lm_box, face.track_id, getattr(face, "person_id", None))


def matches(reference_box: Box, stored_box: Box, landmark_box: Box | None = None) -> bool:
    """Whether a stored face stands for a reference box: IoU >= MATCH_IOU, or the reference centre inside
    the stored landmarks' bounding box."""
    if iou(reference_box, stored_box) >= MATCH_IOU:
        return True
    return landmark_box is not None and _inside(_centre(reference_box), landmark_box)


def assign(reference_boxes: list[Box], stored: list[_Stored]) -> dict[int, int]:
    """Reference index -> stored index, one-to-one, the best-overlapping matching pairs first."""
    pairs = []
    for i, ref in enumerate(reference_boxes):
        for j, face in enumerate(stored):
            if matches(ref, face.box, face.landmark_box):
                dist = float(np.hypot(*np.subtract(_centre(ref), _centre(face.box))))
                pairs.append((-iou(ref, face.box), dist, i, j))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, _, i, j in sorted(pairs):
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def _open_store(store_path: str | Path):
    from facegraft.store.alignments import AlignmentsStore

    return AlignmentsStore.open(store_path)


def _decode_index(frame: int, plate: dict) -> int:
    """The reference decode index of a stored frame number (video plates only)."""
    if plate.get("kind") != "video":
        raise ValueError(f"the real-footage reference is for video plates, not {plate.get('kind')!r}")
    return int(frame) - VIDEO_FIRST_FRAME


def read_store(store_path: str | Path) -> tuple[dict[int, list[_Stored]], list[int]]:
    """Stored faces by decode index, and the decode indices whose frame is flagged as a cut."""
    faces: dict[int, list[_Stored]] = {}
    cuts: list[int] = []
    with _open_store(store_path) as store:
        plate = store.plate()
        for rec in store.iter_frames():
            index = _decode_index(rec.frame, plate)
            faces[index] = [_stored(f) for f in rec.faces]
            if getattr(rec, "cut", False):
                cuts.append(index)
    return faces, sorted(cuts)


def stored_cut_frames(store_path: str | Path) -> list[int]:
    """Decode indices of the frames the store flags as the first of a new shot (FrameRecord.cut)."""
    return read_store(store_path)[1]


def score_extraction(store_path: str | Path, reference: Reference, min_width: float = 40) -> ExtractionScore:
    """Compare an extraction's store (a shot folder or .db) with a clip's reference."""
    stored, _ = read_store(store_path)
    found_faces = reference_faces = found_frames = reference_frames = 0
    by_shot: dict[int, list[int]] = {}
    # (decode index, agreed box) -> stored track id, for every matched agreed face
    matched: dict[tuple[int, Box], int | None] = {}
    for index in range(reference.frames):
        agreed = reference.agreed.get(index, [])
        faces = stored.get(index, [])
        pairs = assign([f.box for f in agreed], faces)
        big = [i for i, f in enumerate(agreed) if f.width >= min_width]
        for i, j in pairs.items():
            matched[(index, agreed[i].box)] = faces[j].track_id
        if big:
            reference_frames += 1
            hits = sum(1 for i in big if i in pairs)
            found_faces += hits
            reference_faces += len(big)
            found_frames += 1 if hits else 0
            tally = by_shot.setdefault(reference.shot_of(index), [0, 0])
            tally[0] += hits
            tally[1] += len(big)
    non_faces = []
    for index in sorted(stored):
        seen = [d.box for name in DETECTORS for d in reference.detections.get(name, {}).get(index, [])]
        for face in stored[index]:
            if not any(matches(box, face.box, face.landmark_box) for box in seen):
                non_faces.append((index, face.box))
    consistency: dict[int, float] = {}
    consistent = total = 0
    for person in reference.persons:
        tracks = [
            matched[(i, box)]
            for i, box in zip(person.frames, person.boxes)
            if box[2] - box[0] >= min_width and (i, box) in matched
        ]
        if len(tracks) < MIN_PERSON_FRAMES:
            continue
        majority_id, majority = Counter(tracks).most_common(1)[0]
        if majority_id is None:
            majority = 0
        consistency[person.id] = majority / len(tracks)
        consistent += majority
        total += len(tracks)
    shots_of_track: dict[int, set[int]] = {}
    for index, faces in stored.items():
        for face in faces:
            if face.track_id is not None:
                shots_of_track.setdefault(face.track_id, set()).add(reference.shot_of(index))
    crossing = {t: tuple(sorted(s)) for t, s in shots_of_track.items() if len(s) > 1}
    return ExtractionScore(
        clip=reference.stem,
        frames=reference.frames,
        min_width=min_width,
        stored_frames=sum(1 for faces in stored.values() if faces),
        stored_faces=sum(len(faces) for faces in stored.values()),
        reference_faces=reference_faces,
        found_faces=found_faces,
        reference_frames=reference_frames,
        found_frames=found_frames,
        non_faces=non_faces,
        persons_scored=len(consistency),
        person_consistency=consistency,
        consistent_frames=consistent,
        matched_person_frames=total,
        tracks_across_cuts=crossing,
        recall_by_shot={s: (f, n) for s, (f, n) in by_shot.items()},
    )


def score_cuts(found_cut_frames: list[int], reference_cuts: list[int], tolerance: int = 0) -> CutScore:
    """Match found cuts to reference cuts one-to-one within tolerance frames (nearest first)."""
    found_set = sorted(set(int(f) for f in found_cut_frames))
    pairs = sorted((abs(f - r), r, f) for r in reference_cuts for f in found_set if abs(f - r) <= tolerance)
    hit_ref: set[int] = set()
    hit_found: set[int] = set()
    for _, r, f in pairs:
        if r not in hit_ref and f not in hit_found:
            hit_ref.add(r)
            hit_found.add(f)
    return CutScore(
        found=sorted(hit_ref),
        missed=sorted(set(reference_cuts) - hit_ref),
        false=[f for f in found_set if f not in hit_found],
        tolerance=tolerance,
    )
