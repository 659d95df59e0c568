"""The extract stage: plate frames in, faces (landmarks, pose, identity, masks, aligned crops) out into a
shot folder (`alignments.db`, `faces/`, `debug/`). Resumable: frames already stored are skipped."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from facegraft import __version__
from facegraft.errors import InputError, StoreError
from facegraft.extract import identity
from facegraft.extract.cuts import mark_cuts
from facegraft.extract.detectors import DETECTORS, make_detector
from facegraft.extract.landmarkers import LANDMARKERS, MAX_ENSEMBLE, make_landmarker
from facegraft.extract.tracker import (
    NORMALISERS,
    FaceFinder,
    TrackedFace,
    Tracker,
    normalise_for_detection,
)
from facegraft.extract.writer import IMAGES_DONE_KEY, ShotWriter
from facegraft.geometry.alignment import FACE_TYPES, alignment_matrix
from facegraft.geometry.masks import MASKERS
from facegraft.geometry.pose import head_pose
from facegraft.io.atomic import remove_leftovers
from facegraft.io.colour import ColourConverter, resolve_colourspace
from facegraft.io.framespec import select_frames
from facegraft.io.plate import Plate, open_plate
from facegraft.io.prefetch import prefetch
from facegraft.options import check, opt
from facegraft.progress import Progress
from facegraft.store.alignments import AlignmentsStore, Face, FrameRecord
from facegraft.store.face_images import face_image_name
from facegraft.store.shot import DEBUG_DIR, FACES_DIR, Shot


@dataclass
class ExtractOptions:
    """Everything `facegraft extract` can be told; the CLI, the service and host panels build on this."""

    detector: str = opt("retinaface", "face detector", choices=lambda: list(DETECTORS))
    landmarker: str = opt("facemesh", "68-point landmarker", choices=lambda: list(LANDMARKERS))
    weights: str = opt("", "landmarker weights file (fan); default: face-alignment's cache", path="file")
    detector_weights: str = opt(
        "", "detector weights file (sfd); default: face-alignment's cache", path="file"
    )
    face_type: str = opt(
        "full", "region of the head the aligned crop covers", choices=lambda: list(FACE_TYPES)
    )
    size: int = opt(512, "aligned crop size in pixels", bounds=(16, 4096))
    min_size: int = opt(
        24,
        "smallest face kept, as its detector box width in plate pixels; detection runs at a scale that "
        "finds faces this small (0: keep all, detect at --detect-width)",
        bounds=(0, None),
    )
    frames: str | None = opt(None, "frames to extract, farm syntax: 1001-1100, 1001-1100x2, 1001,1005")
    every: int = opt(1, "extract every Nth frame of those", bounds=(1, None))
    normalise: str = opt(
        "none", "equalise lightness for detection and landmarks in bad light", choices=NORMALISERS
    )
    rotate_retry: bool = opt(False, "when no face is found, try the frame turned 90/180/270 degrees")
    detect_every: int = opt(
        5, "run the detector every N frames and track faces in between (1: always detect)", bounds=(1, None)
    )
    detect_width: int = opt(
        960,
        "downscale frames to at most this width for keyframe detection (0: full resolution), never so far "
        "that faces of --min-size are lost",
    )
    ensemble: int = opt(
        6,
        f"boxes averaged in the final landmark pass (1..{MAX_ENSEMBLE}): more is steadier and slower "
        "(each box costs ~2 ms a face; make bench reports the jitter), 1 for speed",
        bounds=(1, MAX_ENSEMBLE),
    )
    min_confidence: float = opt(
        0.0,
        "detector score a new face needs (0: the detector's own level; retinaface gives a face "
        "probability, 0.7 by default); a followed face stays down to half of it",
        bounds=(0, None),
    )
    coast: float = opt(
        1.0,
        "seconds a person missed by the detector (a turn, a hand over the face) is waited for, "
        "unstored, to get the same track id back",
        bounds=(0, None),
    )
    colourspace: str | None = opt(None, "plate colour space (default: scene-linear for EXR, sRGB otherwise)")
    embeddings: bool = opt(True, "compute 128-d identity embeddings (once per track segment)")
    persons: bool = opt(
        True,
        "group the tracks into persons by identity when extraction ends (facegraft alignments persons "
        "lists, names, merges and splits them)",
    )
    masks: tuple[str, ...] = opt(
        ("components", "extended"), "landmark masks to store", choices=lambda: list(MASKERS)
    )
    write_faces: bool = opt(True, "write aligned face PNGs to SHOTDIR/faces")
    debug: bool = opt(False, "write frames with boxes and landmarks drawn to SHOTDIR/debug")
    restart: bool = opt(False, "discard the shot's stored alignments and start again")
    redo: bool = opt(False, "extract the --frames again even where stored (a plate frame was replaced)")
    batch_frames: int = opt(8, "frames committed to the store per transaction", cli=False)
    plugin_options: dict = opt(
        {},
        "{plugin name: {option: value}}: the chosen detector's and landmarker's own options, given on the "
        "command line as --<plugin>-<option> (facegraft.commands.plugin_groups); unset ones keep their own",
        cli=False,
    )

    # Options that change results; a resumed run must use the same values.
    RESULT_KEYS: ClassVar[tuple[str, ...]] = (
        "detector",
        "landmarker",
        "face_type",
        "size",
        "min_size",
        "every",
        "normalise",
        "rotate_retry",
        "detect_every",
        "detect_width",
        "min_confidence",
        "coast",
        "ensemble",
        "colourspace",
        "embeddings",
        "masks",
    )

    def validate(self) -> None:
        """InputError naming the option for any out-of-range or unknown value."""
        check(self)  # choices and bounds, as declared
        if self.weights and not hasattr(LANDMARKERS[self.landmarker].Options(), "weights"):
            raise InputError(f"--weights is for the fan landmarker; {self.landmarker} ships its own model")
        if self.detector_weights and not hasattr(DETECTORS[self.detector].Options(), "weights"):
            raise InputError(f"--detector-weights is for the sfd detector; {self.detector} needs none")

    def result_settings(self, colourspace: str) -> dict:
        d = {k: getattr(self, k) for k in self.RESULT_KEYS}
        d["colourspace"] = colourspace
        d["masks"] = list(self.masks)
        chosen = {k: v for k, v in self.plugin_options.items() if k in (self.detector, self.landmarker) and v}
        if chosen:  # only then: the settings of shots made before plugin options stay the same
            d["plugin_options"] = chosen
        return d


@dataclass
class ExtractSummary:
    """What an extraction did, for the CLI, the service and tests."""

    shot_dir: Path
    frames_total: int = 0
    frames_skipped: int = 0  # already in the store (resume)
    frames_done: int = 0
    faces: int = 0
    frames_without_faces: list[int] = field(default_factory=list)
    persons: int = 0  # persons the shot's faces were grouped into (0: not grouped)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["shot_dir"] = str(self.shot_dir)
        return d


def settings_hash(settings: dict) -> str:
    """Short stable hash of a settings dict (for stores and output headers)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def build_tracker(opts: ExtractOptions, fps: float = 25.0) -> Tracker:
    """Detector, landmarker and tracker as the options say, for a plate of `fps` frames per second."""
    det_opts: dict = {"detect_width": opts.detect_width, "min_face": opts.min_size}
    if opts.detector_weights:
        det_opts["weights"] = opts.detector_weights
    lmk_opts: dict = {"ensemble": opts.ensemble}
    if opts.weights:
        lmk_opts["weights"] = opts.weights
    det_opts.update(opts.plugin_options.get(opts.detector, {}))
    lmk_opts.update(opts.plugin_options.get(opts.landmarker, {}))
    detector = make_detector(opts.detector, **det_opts)
    finder = FaceFinder(
        detector,
        make_landmarker(opts.landmarker, **lmk_opts),
        min_confidence=opts.min_confidence or detector.accept,
        rotate_retry=opts.rotate_retry,
    )
    return Tracker(
        finder,
        detect_every=opts.detect_every,
        embed=identity.embed if opts.embeddings else None,
        max_coast=round(opts.coast * (fps if fps and fps > 0 else 25.0) / opts.every),
    )


def build_faces(
    frame: int, size: tuple[int, int], tracked: list[TrackedFace], opts: ExtractOptions
) -> list[Face]:
    """Store records for the faces tracked in one frame of (width, height); masks are left to the writer."""
    faces = []
    for t in tracked:
        if opts.min_size and t.box[2] - t.box[0] < opts.min_size:
            continue
        index = len(faces)
        faces.append(
            Face(
                frame=frame,
                index=index,
                box=tuple(float(v) for v in t.box),
                score=float(t.score),
                landmarks=np.asarray(t.landmarks, np.float32),
                pose=head_pose(t.landmarks, size),
                embedding=t.embedding,
                track_id=t.track_id,
                matrix=alignment_matrix(t.landmarks, opts.face_type, opts.size),
                face_type=opts.face_type,
                size=opts.size,
                image=face_image_name(frame, index) if opts.write_faces else None,
                landmark_confidence=float(t.confidence),
                flags=tuple(t.flags),
            )
        )
    return faces


def draw_debug(rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
    """(H, W, 3) uint8 copy of the frame with boxes, landmarks and track ids drawn."""
    out = rgb.copy()
    for f in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 200, 0), 2)
        for x, y in f.landmarks:
            cv2.circle(out, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1, lineType=cv2.LINE_AA)
        cv2.putText(
            out,
            f"#{f.index} t{f.track_id} {f.score:.2f}",
            (x0, max(12, y0 - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 0),
            1,
            cv2.LINE_AA,
        )
    return out


def _previous_state(store: AlignmentsStore, frames: list[int], position: int) -> list[TrackedFace]:
    """Tracker state from the stored frame just before `frames[position]`, if it was the previous one."""
    if position == 0:
        return []
    prev = store.frame(frames[position - 1])
    if prev is None:
        return []
    return [
        TrackedFace(
            np.asarray(f.landmarks, np.float32),
            np.asarray(f.box, np.float64),
            f.score,
            f.landmark_confidence,
            -1 if f.track_id is None else f.track_id,
            False,
            f.embedding,
            flags=tuple(f.flags),
        )
        for f in prev.faces
    ]


def extract(
    plate_path: str | Path,
    shot_dir: str | Path,
    opts: ExtractOptions | None = None,
    progress_mode: str = "auto",
) -> ExtractSummary:
    """Extract faces from a plate into `shot_dir`; frames already stored are skipped (resume). The tracks
    are grouped into persons (`opts.persons`) by `persons.shot.extract_shot`, which calls this."""
    opts = opts or ExtractOptions()
    opts.validate()
    t0 = time.monotonic()
    shot = Path(shot_dir)
    with open_plate(plate_path) as plate:
        colourspace = resolve_colourspace(opts.colourspace or plate.default_colourspace)
        converter = ColourConverter(colourspace)
        frames = select_frames(plate.frames, opts.frames, opts.every)
        tracker = build_tracker(opts, plate.fps)
        created = [p for p in (shot, shot / FACES_DIR, shot / DEBUG_DIR) if not p.exists()]
        new_store = not Shot(shot).db.exists() or opts.restart
        shot.mkdir(parents=True, exist_ok=True)
        store = _open_store(shot, plate, opts, colourspace)
        remove_leftovers(shot / FACES_DIR)  # a face image a killed run was writing when it stopped
        try:
            summary = _run(plate, store, shot, frames, tracker, converter, opts, progress_mode)
        except BaseException:
            empty = new_store and not store.frames_done()
            store.close()
            if empty:  # nothing was extracted: leave no half-made shot behind
                _remove_new(Shot(shot).db, created)
            raise
        store.close()
    summary.seconds = time.monotonic() - t0
    return summary


def _remove_new(db: Path, created: list[Path]) -> None:
    """Remove a store and the folders this run created, when nothing was stored in them."""
    for extra in (db, db.with_name(db.name + "-journal")):
        extra.unlink(missing_ok=True)
    for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only if empty
        except OSError:
            pass


def _open_store(shot: Path, plate: Plate, opts: ExtractOptions, colourspace: str) -> AlignmentsStore:
    db = Shot(shot).db
    if opts.restart and db.exists():
        db.unlink()
    store = AlignmentsStore.open(db, create=True)
    settings = opts.result_settings(colourspace)
    stored = store.setting("extract")
    if stored is not None and stored != settings and store.frames_done():
        changed = sorted(k for k in settings if stored.get(k) != settings[k])
        store.close()
        raise StoreError(
            f"was extracted with other settings ({', '.join(changed)}); rerun with the same "
            "options to resume, or add --restart to start again",
            db,
        )
    store.set_setting("extract", settings)
    store.set_setting("extract_hash", settings_hash(settings))
    store.set_plate(
        {
            "path": str(Path(plate.path).resolve()) if Path(plate.path).exists() else plate.path,
            "kind": plate.kind,
            "width": plate.width,
            "height": plate.height,
            "fps": plate.fps,
            "colourspace": colourspace,
            "rotation": plate.rotation,
            "mirrored": plate.mirrored,
            "engine": f"facegraft {__version__}",
        }
    )
    return store


def _run(
    plate: Plate,
    store: AlignmentsStore,
    shot: Path,
    frames: list[int],
    tracker: Tracker,
    converter: ColourConverter,
    opts: ExtractOptions,
    progress_mode: str,
) -> ExtractSummary:
    summary = ExtractSummary(shot_dir=shot, frames_total=len(frames))
    done = store.frames_done()
    images_through = store.setting(IMAGES_DONE_KEY)
    if opts.write_faces and images_through is not None:
        # A run killed between a commit and its face images: redo the frames whose images may be missing.
        done = {f for f in done if f <= images_through}
    elif opts.write_faces and done:
        done = set()
    if opts.redo:
        done = done - set(frames)
    todo = [i for i, f in enumerate(frames) if f not in done]
    todo_set = set(todo)
    summary.frames_skipped = len(frames) - len(todo)
    tracker.next_track_id = store.max_track_id() + 1
    faces_dir = shot / FACES_DIR
    if opts.write_faces:
        faces_dir.mkdir(exist_ok=True)
    if opts.debug:
        (shot / DEBUG_DIR).mkdir(exist_ok=True)
    writer = ShotWriter(
        store.path,
        faces_dir if opts.write_faces else None,
        tuple(opts.masks),
        opts.batch_frames,
        {"plate": Path(plate.path).name, "shot": shot.name},
    )
    progress = Progress(len(todo), "extract", progress_mode)
    last_position = None

    def frames_in_working_space():
        # Runs in the prefetch thread: decoding, colour, cut and keyframe detection overlap the landmarks.
        decoded = zip(todo, plate.iter_frames([frames[i] for i in todo]))
        working = (
            ((p, info), converter.to_working_uint8(px, copy=False), p - 1 in todo_set)
            for p, (info, px) in decoded
        )
        for (position, info), rgb, cut in mark_cuts(working):
            seen = normalise_for_detection(rgb, opts.normalise)
            key = cut or tracker.keyframe(position)
            yield position, info, rgb, seen, tracker.finder.detector.detect(seen) if key else None, cut

    try:
        for position, info, rgb, seen, ahead, cut in prefetch(frames_in_working_space(), depth=4):
            if last_position is None or position != last_position + 1:
                tracker.resume(_previous_state(store, frames, position), tracker.next_track_id)
            last_position = position
            tracked = tracker.step(seen, position, ahead, cut=cut)
            faces = build_faces(info.frame, (rgb.shape[1], rgb.shape[0]), tracked, opts)
            rec = FrameRecord(
                frame=info.frame,
                pts=info.pts,
                pts_raw=info.pts_raw,
                time_base=info.time_base,
                width=rgb.shape[1],
                height=rgb.shape[0],
                faces=faces,
                cut=cut,
            )
            writer.put(rec, rgb)
            if opts.debug:
                cv2.imwrite(
                    str(shot / DEBUG_DIR / f"{info.frame:06d}.jpg"),
                    cv2.cvtColor(draw_debug(rgb, faces), cv2.COLOR_RGB2BGR),
                )
            summary.frames_done += 1
            summary.faces += len(faces)
            if not faces:
                summary.frames_without_faces.append(info.frame)
            progress.update(1, frame=info.frame, faces=len(faces))
    except BaseException:
        progress.fail()
        try:
            writer.close()
        except Exception:  # noqa: S110 - the first error is the one to report
            pass
        raise
    writer.close()
    progress.close()
    summary.persons = len(store.persons())
    return summary
