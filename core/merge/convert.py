"""`facegraft convert`: the learned face put back on every target frame, written as passes.

The job reads the plate and the shot's alignments store, smooths each face track, swaps and merges frame
by frame (merge/frame.py) and hands each frame to the `--format`'s writer (writers.py: EXR passes, PNG or
TIFF sequences, a comp video), signing as that format carries a manifest. Every output file records the
config hash and a hash of its inputs, so a rerun skips frames already converted the same way.
Results depend only on the inputs, never on which frame range a task was given: colour windows and
smoothing read the neighbouring frames from the store and the plate whatever the range.

Persons (issue 24). A face flagged not-target in the store is never swapped. With `--person` (with the
`--model`) or `--swap PERSON=MODELDIR` only the chosen persons' faces are swapped, each by its own model,
in one pass; every other face stays the plate's exact pixels (bit for bit outside the swapped persons'
mattes), and the passes carry a `matte_<label>.A` layer per chosen person beside the combined matte. The
selection (person ids and their models' hashes) enters the config hash, so a rerun with other persons
redoes every frame. Without either option every face that is not not-target is swapped, as before, and a
warning says so when the shot holds several persons.

Identity QC. Describing a face (dlib's 128-d descriptor) costs 60-100 ms on a CPU, close to what the
rest of a frame's merge costs, so it is sampled: on every `--identity-every`-th frame of each track (5 by
default; counted from the track's first stored frame, so a farm's frame ranges do not change which frames
are checked; 1 checks every frame, 0 none) the plate's face of each swapped face whose person has a
reference (the person's mean descriptor in the store) is described and its distance to the reference
recorded in ``<out>/<stem>.identity.json``::

    {"threshold": 0.6, "every": 5,
     "persons": {"1": {"label": "lead", "model": "<model hash>", "reference": true}},
     "frames": {"1001": [{"person": 1, "label": "lead", "face": 17, "track": 0, "distance": 0.31}]}}

merged with what earlier runs (other frame ranges) recorded, under a lock; frames not checked are absent.
Checked frames where a swapped person's face lies at SAME_PERSON (0.6) or more from its reference are
listed in a warning on stderr (a track that switched to someone else) and in the run's summary
(`identity`: file, every, checked, threshold, worst distance and switched frames per person label).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegraft import __version__
from facegraft.errors import InputError, MissingFramesError, TransientError
from facegraft.io.atomic import locked
from facegraft.io.colour import ColourConverter, active_config, config_source, resolve_colourspace
from facegraft.io.framespec import format_frame_spec, select_frames
from facegraft.io.plate import Plate, open_plate
from facegraft.io.prefetch import prefetch
from facegraft.mask.stored import stored_masks
from facegraft.merge.frame import merge_frame, pooled, prepare_frame, same_track, shot_pools
from facegraft.merge.merger import FaceTask, PreparedFace
from facegraft.merge.options import MergeOptions, OutputOptions, PersonOptions
from facegraft.merge.passes import MergedFrame, write_json, write_patch
from facegraft.merge.smoothing import smooth_track, velocity
from facegraft.merge.writers import WRITERS, WriterSetup, make_writer
from facegraft.models.swap_model import SwapModel, load_swap_model
from facegraft.progress import Progress
from facegraft.provenance.marking import describe, job_payload
from facegraft.provenance.release import get_release
from facegraft.provenance.release import metadata as provenance_metadata
from facegraft.provenance.signing import OutputSigner, signing_key
from facegraft.registry import lookup
from facegraft.store.alignments import NOT_TARGET, AlignmentsStore, Face, Person
from facegraft.store.shot import Shot

_TRANSIENT = {errno.ENOSPC, errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ESTALE, errno.EDQUOT}


@dataclass
class ConvertSummary:
    """What a convert run did."""

    out_dir: Path
    frames_total: int = 0
    frames_done: int = 0
    frames_skipped: int = 0
    faces: int = 0
    files: list[str] = field(default_factory=list)
    passes: list[str] = field(default_factory=list)  # file patterns, frames as ####
    first_frame: int | None = None
    last_frame: int | None = None
    model_hash: str = ""
    config_hash: str = ""
    seconds: float = 0.0
    persons: list[dict] = field(default_factory=list)  # the chosen persons: id, label, model hash
    faces_left: int = 0  # faces of the converted frames left as the plate (other persons, not-target)
    identity: dict = field(default_factory=dict)  # identity QC: file, faces checked, frames flagged

    def as_dict(self) -> dict:
        d = self.__dict__.copy()
        d["out_dir"] = str(self.out_dir)
        d["files"] = len(self.files)
        return d


def _track_key(face: Face) -> tuple:
    return ("track", face.track_id) if face.track_id is not None else ("face", face.id)


@dataclass
class ShotFaces:
    """The stored faces to swap grouped by frame, with smoothed landmarks and velocities per track;
    `stored` counts every stored face per frame (swapped or not), `track_start` the first frame of each
    track among the faces to swap."""

    by_frame: dict[int, list[FaceTask]]
    frames_done: set[int]
    stored: dict[int, int] = field(default_factory=dict)
    track_start: dict[tuple, int] = field(default_factory=dict)


def load_shot_faces(store: AlignmentsStore, opts: MergeOptions, persons: set[int] | None = None) -> ShotFaces:
    """The faces of the whole shot to swap as FaceTasks (smoothing looks across the whole track, whatever
    the range): never a face flagged not-target, and only the faces of `persons` (ids) when given."""
    every = store.faces()
    stored: dict[int, int] = {}
    for f in every:
        stored[f.frame] = stored.get(f.frame, 0) + 1
    faces = [f for f in every if NOT_TARGET not in f.flags and (persons is None or f.person_id in persons)]
    name = opts.stored_mask()
    masks = stored_masks(store, faces, name) if name is not None else {}
    tracks: dict[tuple, dict[int, np.ndarray]] = {}
    for f in faces:
        tracks.setdefault(_track_key(f), {})[f.frame] = np.asarray(f.landmarks, np.float64)
    smoothed = {k: smooth_track(t, opts.smooth_frames if opts.smooth else 0) for k, t in tracks.items()}
    by_frame: dict[int, list[FaceTask]] = {}
    for f in sorted(faces, key=lambda f: (f.frame, f.index)):
        key = _track_key(f)
        track = smoothed[key]
        by_frame.setdefault(f.frame, []).append(
            FaceTask(
                track[f.frame],
                int(f.size),
                velocity(track, f.frame),
                key,
                masks.get(int(f.id)),
                person=f.person_id,
                face_id=f.id,
            )
        )
    starts = {k: min(t) for k, t in tracks.items()}
    return ShotFaces(by_frame, store.frames_done(), stored, starts)


@dataclass
class Selection:
    """Whose faces a convert swaps and with which model.

    `persons` are the chosen persons in the order given, `models` each one's model by person id; with no
    person chosen every face is swapped with `default`. `references` holds every person of the shot by id
    (their mean descriptors are what identity QC measures against)."""

    default: SwapModel | None = None
    persons: list[Person] = field(default_factory=list)
    models: dict[int, SwapModel] = field(default_factory=dict)
    references: dict[int, Person] = field(default_factory=dict)

    @property
    def ids(self) -> set[int] | None:
        """The chosen person ids (None: every face)."""
        return {p.id for p in self.persons} if self.persons else None

    @property
    def primary(self) -> SwapModel:
        """The model the headers name: --model, else the first --swap's."""
        return self.default if self.default is not None else self.models[self.persons[0].id]

    def model_for(self, task: FaceTask) -> SwapModel | None:
        if not self.persons:
            return self.default
        return self.models.get(task.person) if task.person is not None else None

    def record(self) -> list[dict] | None:
        """The selection as the config hash and headers record it (None when no person was chosen)."""
        if not self.persons:
            return None
        return [{"id": p.id, "label": p.label, "model": self.models[p.id].hash} for p in self.persons]

    def all_models(self) -> list[SwapModel]:
        out = [] if self.default is None else [self.default]
        for m in self.models.values():
            if all(m is not o for o in out):
                out.append(m)
        return out


def select_persons(
    store: AlignmentsStore, model_dir: str | Path | None, persons: PersonOptions, load=load_swap_model
) -> Selection:
    """The Selection the options ask for: --person (each with `model_dir`) and --swap PERSON=MODELDIR,
    resolved against the shot's persons; InputError naming the problem (an unknown person, one given
    twice, a missing model)."""
    from facegraft.persons.select import resolve_person

    persons.validate()
    specs, pairs = persons.specs(), persons.pairs()
    references = {p.id: p for p in store.persons()}
    if not specs and not pairs:
        if model_dir is None:
            raise InputError("give --model MODELDIR (or --swap PERSON=MODELDIR for each person to swap)")
        return Selection(load(model_dir), references=references)
    if specs and model_dir is None:
        raise InputError(
            "--person swaps with --model: give --model MODELDIR, or --swap PERSON=MODELDIR for each person"
        )
    if pairs and not specs and model_dir is not None:
        raise InputError(
            "--model and --swap: say whom --model swaps with --person (or give every person with --swap)"
        )
    loaded: dict[str, SwapModel] = {}

    def model(path) -> SwapModel:
        key = str(Path(path).resolve())
        if key not in loaded:
            loaded[key] = load(path)
        return loaded[key]

    chosen: list[Person] = []
    models: dict[int, SwapModel] = {}
    given: dict[int, str] = {}
    asked = [(s, model_dir, "--person") for s in specs] + [(w, m, "--swap") for w, m in pairs]
    for spec, path, flag in asked:
        person = resolve_person(store, spec)
        if person.id in given:
            if flag == "--person" and given[person.id] == "--person":
                continue  # `--person 2,lead` naming one person twice asks for nothing more
            raise InputError(
                f"person {person.id} ({person.label}) is given twice ({given[person.id]} and {flag} {spec}): "
                "one model a person"
            )
        given[person.id] = flag
        chosen.append(person)
        models[person.id] = model(path)
    labels = [p.label for p in chosen]
    if len(set(labels)) != len(labels):
        raise InputError(f"two chosen persons have one label ({', '.join(labels)}): name them apart")
    default = model(model_dir) if model_dir is not None else None
    return Selection(default, chosen, models, references)


def config_hash(
    model: SwapModel,
    opts: MergeOptions,
    output: OutputOptions,
    colourspace: str,
    persons: list[dict] | None = None,
) -> str:
    """Hash of everything that shapes the output besides the frame's own inputs; `persons` is the person
    selection (Selection.record(): ids, labels and model hashes), left out when no person was chosen."""
    payload = {
        "engine": __version__,
        "model": model.hash,
        "merge": opts.to_dict(),
        "layout": output.layout,
        "format": output.format,
        "colourspace": colourspace,
    }
    if persons:
        payload["persons"] = persons
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def input_hash(plate: Plate, frame: int, tasks: list[FaceTask]) -> str:
    """Hash of one frame's inputs: the plate frame's file (size and time) and its smoothed landmarks."""
    h = hashlib.sha256()
    path = plate.frame_path(frame)
    if path is not None:
        st = os.stat(path)
        h.update(f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}".encode())
    else:
        st = os.stat(plate.path)
        h.update(f"{Path(plate.path).name}:{frame}:{st.st_size}:{st.st_mtime_ns}".encode())
    for t in tasks:
        h.update(np.asarray(t.landmarks, np.float64).round(4).tobytes())
        if t.person is not None:  # a regrouped shot can change whose face this is
            h.update(f"person:{t.person}".encode())
        if t.occlusion is not None:  # a re-applied mask model makes the frame's output stale
            h.update(t.occlusion.mask.tobytes())
    return h.hexdigest()[:32]


def convert(
    plate_path: str | Path,
    shot_dir: str | Path,
    model_dir: str | Path,
    out_dir: str | Path,
    frames: str | None = None,
    opts: MergeOptions | None = None,
    output: OutputOptions | None = None,
    progress_mode: str = "auto",
    persons: PersonOptions | None = None,
) -> ConvertSummary:
    """Swap the faces of `plate_path` stored in `shot_dir` with the model in `model_dir` (or only the
    persons `persons` chooses, each with its model; `model_dir` may then be None); write into `out_dir`.
    Frames already converted with the same config and inputs are skipped."""
    opts = opts or MergeOptions()
    output = output or OutputOptions()
    persons = persons or PersonOptions()
    opts.validate()
    persons.validate()
    carries = lookup(WRITERS, output.format, "--format").signing
    # Refuse a bad key, or a format that cannot be signed, before any work.
    signing = signing_key(output.sign_key, output.sign_cert, carries, output.format)
    t0 = time.monotonic()
    shot_dir, out_dir = Path(shot_dir), Path(out_dir)
    if not Shot(shot_dir).db.is_file():
        raise InputError("no alignments store here (run facegraft extract on the plate first)", shot_dir)
    with AlignmentsStore.open(shot_dir) as store:
        selection = select_persons(store, model_dir, persons)
    if output.patch and len({m.resolution for m in selection.all_models()}) > 1:
        raise InputError("--patch writes one resolution: give --swap models of one resolution")
    with open_plate(plate_path) as plate, AlignmentsStore.open(shot_dir) as store:
        stored_plate = store.plate()
        colourspace = resolve_colourspace(
            output.colourspace or stored_plate.get("colourspace") or plate.default_colourspace
        )
        requested = select_frames(plate.frames, frames)
        shot = load_shot_faces(store, opts, selection.ids)
        grouped = [p for p in selection.references.values() if store.person_faces(p.id)]
        if not selection.persons and len(grouped) > 1:
            print(
                f"facegraft: warning: {shot_dir}: the shot holds {len(grouped)} persons "
                f"({', '.join(p.label for p in grouped)}) and all of them are swapped with the one model "
                "(choose with --person SPEC, or --swap PERSON=MODELDIR for each)",
                file=sys.stderr,
            )
        never = [f for f in requested if f not in shot.frames_done]
        if never:
            noun, verb = ("frame", "was") if len(never) == 1 else ("frames", "were")
            raise MissingFramesError(
                f"{noun} {format_frame_spec(never)} {verb} never extracted into this shot "
                f"(run facegraft extract --frames {format_frame_spec(never)})",
                shot_dir,
            )
        size = (stored_plate.get("width"), stored_plate.get("height"))
        if None not in size and size != (plate.width, plate.height):
            raise InputError(
                f"the shot was extracted from a {size[0]}x{size[1]} plate, this plate is "
                f"{plate.width}x{plate.height}",
                plate_path,
            )
        converter = ColourConverter(colourspace)
        out_dir.mkdir(parents=True, exist_ok=True)
        release = get_release(store)
        if release is None:
            print(
                f"facegraft: warning: {shot_dir}: no likeness release recorded for the source identity "
                "(facegraft release set SHOTDIR|--project DIR --identity NAME --reference ID); "
                "outputs say 'none recorded'",
                file=sys.stderr,
            )
        job = _Job(plate, shot, selection, converter, opts, output, out_dir, colourspace)
        job.provenance = provenance_metadata(release)
        job.signer.key = signing
        job.identity_every = persons.identity_every
        summary = job.run(requested, progress_mode)
    summary.seconds = time.monotonic() - t0
    _warn_identity(summary)
    return summary


class _Job:
    """One convert run: reading, swapping and writing, with a writer thread."""

    def __init__(
        self,
        plate: Plate,
        shot: ShotFaces,
        selection: Selection | SwapModel,
        converter: ColourConverter,
        opts: MergeOptions,
        output: OutputOptions,
        out_dir: Path,
        colourspace: str,
    ) -> None:
        if isinstance(selection, SwapModel):
            selection = Selection(selection)
        self.selection = selection
        model = selection.primary
        self.plate, self.shot, self.model, self.converter = plate, shot, model, converter
        self.opts, self.output, self.out_dir = opts, output, out_dir
        self.config = config_hash(model, opts, output, colourspace, selection.record())
        self.colourspace = colourspace
        self.stem = output.name or _plate_stem(plate.path)
        interop = _interop_id(colourspace)
        self.fps = output.fps or plate.fps or 24.0
        labels = [p.label for p in selection.persons]
        setup = WriterSetup(
            out_dir,
            self.stem,
            output.layout,
            self.fps,
            interop,
            persons=labels,
            data=plate.data_window,
            display=plate.display_window,
            pixel_aspect=plate.pixel_aspect,
        )
        self.writer = make_writer(output.format, setup)
        self.summary = ConvertSummary(
            out_dir, model_hash=model.hash, config_hash=self.config, persons=selection.record() or []
        )
        self.identity_every = PersonOptions.identity_every  # identity QC on every Nth frame of a track
        self.identity: dict[int, list[dict]] = {}
        self.provenance: dict[str, str] = {}
        self.signer = OutputSigner(None, self.writer.signing, self.writer.patterns, self.stem)
        # The mark's job id is the same for every frame range a farm splits this conversion into.
        self.payload = job_payload(f"{Path(plate.path).name}:{self.config}")

    def _attributes(self, frame: int, inputs: str) -> dict[str, str]:
        persons = self.selection.record()
        return {
            **({"persons": json.dumps(persons)} if persons else {}),
            **self.provenance,
            "version": __version__,
            "model": self.model.hash,
            "config": self.config,
            "input": inputs,
            "source_frame": str(frame),
            "plate": Path(self.plate.path).name,
            "colourspace": self.colourspace,
            "ocio_config": config_source() or f"built-in {active_config().getName()}",
            "watermark": f"comp: {describe(self.payload)}; swap, matte, facemask unmarked for grading",
        }

    def run(self, requested: list[int], progress_mode: str) -> ConvertSummary:
        s = self.summary
        s.frames_total = len(requested)
        s.passes = self.writer.patterns()
        s.first_frame, s.last_frame = (min(requested), max(requested)) if requested else (None, None)
        inputs = {f: input_hash(self.plate, f, self.shot.by_frame.get(f, [])) for f in requested}
        todo = [f for f in requested if not self.writer.done(f, self.config, inputs[f])]
        s.frames_skipped = len(requested) - len(todo)
        if not todo:
            self.signer.end(
                self._file_facts(0)
            )  # a rerun with signing still leaves a sidecar covering the frames
            return s
        window = self.opts.colour_window
        whole_shot = window == 0 and pooled(self.opts)
        pools = shot_pools(self.plate, self.shot.by_frame, self._prepare) if whole_shot else {}
        # Frames read: the ones to write plus the earlier frames their colour windows reach.
        reach = max(window - 1, 0) if pooled(self.opts) else 0
        wanted, known = set(todo), set(self.plate.frames)
        for f in todo:
            wanted.update(g for g in range(f - reach, f) if g in known and g in self.shot.frames_done)
        order = sorted(wanted)
        write_set = set(todo)
        recent: deque[tuple[int, list[PreparedFace]]] = deque()
        patches: dict[str, list] = {}
        max_faces = max((len(self.shot.by_frame.get(f, [])) for f in todo), default=0)
        if self.output.patch:
            (self.out_dir / "patch").mkdir(exist_ok=True)
        self._open_writer(todo)
        progress = Progress(len(todo), "convert", progress_mode, unit="frames")
        pending: deque[Future] = deque()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facegraft-write")
        try:
            for info, native in prefetch(self.plate.iter_frames(order), depth=3):
                frame = info.frame
                if (
                    native.dtype == np.float32
                ):  # keep a float plate's precision so untouched pixels stay exact
                    self.writer.pixel_type = "float"
                tasks = self.shot.by_frame.get(frame, [])
                prepared = self._prepare(native, tasks)
                while recent and recent[0][0] <= frame - max(window, 1):
                    recent.popleft()
                if frame in write_set:
                    pool_of = (
                        (lambda p: pools.get(p.task.key, []))
                        if window == 0
                        else same_track(q for _, qs in recent for q in qs)
                    )
                    chosen = self.selection.persons
                    done = merge_frame(
                        native,
                        self.converter,
                        prepared,
                        self.opts,
                        frame,
                        [p.id for p in chosen],
                        self.payload,
                        pool_of,
                    )
                    pairs, layers, marked = done.pairs, done.layers, done.marked
                    merged = MergedFrame(
                        frame,
                        marked.comp,
                        layers.swap,
                        layers.matte,
                        layers.facemask,
                        attributes=self._attributes(frame, inputs[frame]),
                        person_mattes={p.label: layers.person_mattes[p.id] for p in chosen},
                        timecode=self.plate.timecode(frame),
                    )
                    if self.writer.display:
                        merged.comp_display = marked.display
                    if self.output.patch:
                        patches[str(frame)] = self._write_patches(
                            frame, pairs, layers.faces, max_faces, merged
                        )
                    pending.append(pool.submit(self._write, merged))
                    while len(pending) > 2:
                        pending.popleft().result()
                    self._check_identity(frame, native, prepared)
                    s.frames_done += 1
                    s.faces += len(prepared)
                    s.faces_left += self.shot.stored.get(frame, 0) - len(prepared)
                    progress.update(1, frame=frame, faces=len(prepared))
                if window != 1:
                    recent.append((frame, prepared))
            while pending:
                pending.popleft().result()
            closed = self.writer.close()
            self.signer.finished(closed, self._file_facts(todo[0]), self._video_source())
            s.files.extend(str(p) for p in closed)
            self.signer.end(self._file_facts(0))
            if self.output.patch:
                self._write_matrices(patches)
            self._write_identity()
        except BaseException:
            progress.fail()
            for f in pending:  # frames already merged are still written: a rerun need not redo them
                try:
                    f.result()
                except Exception:  # noqa: BLE001, S110 - the first error is the one to report
                    pass
            pool.shutdown(wait=True)
            self.writer.abort()
            raise
        pool.shutdown(wait=True)
        progress.close()
        return s

    def _prepare(self, native: np.ndarray, tasks: list[FaceTask]) -> list[PreparedFace]:
        """Every face of a frame aligned and swapped by its person's model (merge.frame.prepare_frame)."""
        return prepare_frame(native, self.converter, tasks, self.selection.model_for, self.opts)

    def _check_identity(self, frame: int, native: np.ndarray, prepared: list[PreparedFace]) -> None:
        """Identity QC of one frame: the plate's face of each swapped face whose person has a reference,
        on every `identity_every`-th frame of its track, described and measured against the reference."""
        every = self.identity_every
        if every <= 0:
            return
        refs = self.selection.references
        due = [
            p
            for p in prepared
            if p.task.person in refs
            and refs[p.task.person].embedding is not None
            and (frame - self.shot.track_start.get(p.task.key, frame)) % every == 0
        ]
        if not due:
            return
        from facegraft.extract import identity

        rgb = self.converter.to_working_uint8(native)
        rows = []
        for p in due:
            person = refs[p.task.person]
            d = identity.distance(identity.embed(rgb, p.task.landmarks), person.embedding)
            key = p.task.key
            rows.append(
                {
                    "person": person.id,
                    "label": person.label,
                    "face": p.task.face_id,
                    "track": key[1] if key[0] == "track" else None,
                    "distance": round(d, 4),
                }
            )
        self.identity[frame] = rows

    def _write_identity(self) -> None:
        """Merge this run's identity QC into <stem>.identity.json (under a lock: farm tasks share it)."""
        s = self.summary
        if self.identity_every <= 0:
            return
        from facegraft.extract.identity import SAME_PERSON

        path = self.out_dir / f"{self.stem}.identity.json"
        persons = {
            str(p.id): {
                "label": p.label,
                "model": self.selection.models.get(p.id, self.model).hash,
                "reference": p.embedding is not None,
            }
            for p in (self.selection.persons or self.selection.references.values())
        }
        with locked(path, "the identity QC file"):
            data = {"threshold": SAME_PERSON, "every": self.identity_every, "persons": persons, "frames": {}}
            if path.is_file():
                try:
                    old = json.loads(path.read_text())
                    if old.get("every") == self.identity_every and old.get("persons") == persons:
                        data["frames"].update(old.get("frames", {}))
                except (ValueError, OSError, AttributeError):
                    pass
            data["frames"].update({str(f): rows for f, rows in self.identity.items()})
            data["frames"] = dict(sorted(data["frames"].items(), key=lambda kv: int(kv[0])))
            if self.identity or path.is_file():
                write_json(path, data)
        flagged: dict[str, list[int]] = {}
        worst: dict[str, float] = {}
        for frame, rows in sorted(self.identity.items()):
            for row in rows:
                worst[row["label"]] = max(worst.get(row["label"], 0.0), row["distance"])
                if row["distance"] >= SAME_PERSON:
                    flagged.setdefault(row["label"], []).append(frame)
        s.identity = {
            "file": str(path) if path.is_file() else None,
            "every": self.identity_every,
            "checked": sum(len(r) for r in self.identity.values()),
            "threshold": SAME_PERSON,
            "worst": worst,  # the largest distance measured this run, per person
            "switched": {k: format_frame_spec(v) for k, v in flagged.items()},
        }

    def _file_facts(self, frame: int) -> dict[str, str]:
        """The facts a whole-file manifest records (a video's, a sequence's sidecar): no per-frame input."""
        return {k: v for k, v in self._attributes(frame, "").items() if k not in ("input", "source_frame")}

    def _video_source(self) -> str | None:
        return self.plate.path if self.plate.kind == "video" else None

    def _write(self, merged: MergedFrame) -> None:
        try:
            paths = self.writer.write(merged)
            facts = {k: v for k, v in merged.attributes.items() if k != "input"}
            self.signer.finished(paths, facts, self.plate.frame_path(merged.frame))
            self.summary.files.extend(str(p) for p in paths)
        except OSError as exc:
            if exc.errno in _TRANSIENT:
                raise TransientError(
                    f"cannot write frame {merged.frame} ({exc.strerror})", self.out_dir
                ) from exc
            raise InputError(f"cannot write frame {merged.frame} ({exc})", self.out_dir) from exc

    def _open_writer(self, frames: list[int]) -> None:
        """Open the writer with the file-level facts (a video's container tags) and the plate's audio."""
        meta = {f"facegraft/{k}": v for k, v in self._attributes(frames[0], "").items() if k != "input"}
        meta["facegraft/synthetic"] = "true"
        meta["facegraft/frames"] = format_frame_spec(frames)
        audio = self._video_source()
        start = self.plate.info(frames[0]).pts or 0.0 if audio else 0.0
        self.writer.open(frames, meta, audio, start)

    def _write_patches(self, frame, pairs, records, max_faces, merged) -> list[dict]:
        r = self.model.resolution  # every model has it (convert refuses --patch with mixed resolutions)
        out = []
        for i in range(max_faces):
            path = self.out_dir / "patch" / f"{self.stem}.face{i}.{frame:04d}.exr"
            attrs = dict(merged.attributes)
            if i < len(pairs) and i < len(records):
                face, colour = pairs[i]
                rec = records[i]
                attrs["face_to_frame"] = json.dumps(rec["face_to_frame"])
                attrs["corners"] = json.dumps(rec["corners"])
                write_patch(path, np.clip(colour, 0, 1), face.raw, r, attrs)
                out.append(
                    {
                        "face": i,
                        "file": path.name,
                        "face_to_frame": rec["face_to_frame"],
                        "corners": rec["corners"],
                    }
                )
            else:
                write_patch(path, None, None, r, attrs)
                out.append({"face": i, "file": path.name, "empty": True})
        return out

    def _write_matrices(self, patches: dict[str, list]) -> None:
        path = self.out_dir / "patch" / "matrices.json"
        data = {"resolution": self.model.resolution, "face_type": self.model.face_type, "frames": {}}
        if path.is_file():
            try:
                old = json.loads(path.read_text())
                if old.get("resolution") == data["resolution"]:
                    data["frames"].update(old.get("frames", {}))
            except (ValueError, OSError):
                pass
        data["frames"].update(patches)
        data["frames"] = dict(sorted(data["frames"].items(), key=lambda kv: int(kv[0])))
        write_json(path, data)


def _warn_identity(summary: ConvertSummary) -> None:
    """A warning on stderr naming the frames where a swapped person's face looked like someone else."""
    switched = summary.identity.get("switched") or {}
    for label, frames in switched.items():
        every = summary.identity["every"]
        sampled = "every frame" if every == 1 else f"one frame in {every} of each track"
        print(
            f"facegraft: warning: identity QC: {label}'s face looks like someone else on frames {frames} "
            f"(distance to the person's reference >= {summary.identity['threshold']}, {sampled} checked; a "
            f"track may have switched people; see {summary.identity.get('file')})",
            file=sys.stderr,
        )


def _plate_stem(path: str) -> str:
    """'plate' for plate.####.exr, plate.%04d.exr, plate.$F4.exr, plate.mov or a folder 'plate'."""
    name = Path(path).name
    for marker in ("#", "%", "$F", "@"):
        if marker in name:
            name = name.split(marker)[0]
            return name.rstrip("._-") or "comp"
    stem = Path(name).stem if Path(path).suffix else name
    return stem.rstrip("._-") or "comp"


def _interop_id(colourspace: str) -> str | None:
    """The OCIO interop id of a colour space ('lin_rec709_scene'...), or None when the config has none."""
    from facegraft.io.colour import active_config

    space = active_config().getColorSpace(colourspace)
    try:
        return space.getInteropID() or None
    except AttributeError:  # OCIO < 2.5
        return None
