"""A shot's persons: its tracks grouped by identity, kept in the store, named, merged and split by hand.

Each track lends up to `SAMPLES` faces spread over its frames (the best of each stretch: large, with
landmarks that sit well), embedded from their aligned face images; without images, the embedding the
tracker stored for the track is used. `group` clusters the tracks (grouping.py) over the whole plate, so a
person who comes back after a cut gets the same id. Regrouping keeps the id, name and photo of a person
whose faces mostly land in one new group, so names survive a re-run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facegraft.errors import InputError
from facegraft.geometry.alignment import eye_distance, transform_points
from facegraft.persons.grouping import THRESHOLD, TrackSamples, group_tracks
from facegraft.progress import Progress
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, AlignmentsStore, Face, Person
from facegraft.store.face_images import read_face_png
from facegraft.store.shot import Shot

if TYPE_CHECKING:
    from facegraft.extract.pipeline import ExtractOptions, ExtractSummary

SAMPLES = 5  # faces embedded per track
UNRELIABLE_WEIGHT = 0.25  # a face whose 68-point fit failed is a poor identity sample
SMALL_EYES = 14.0  # plate px between the eye centres below which a face is too small to say who it is
SPLIT_TIGHTER = 0.75  # `split` without tracks regroups a person's tracks at this fraction of the threshold

Embedder = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PersonSummary:
    """One person at a glance: faces, tracks, the frame ranges they cover and the shots they appear in."""

    id: int
    label: str
    name: str
    faces: int
    tracks: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    shots: tuple[int, ...]
    photo: str | None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "name": self.name,
            "faces": self.faces,
            "tracks": list(self.tracks),
            "ranges": [list(r) for r in self.ranges],
            "shots": list(self.shots),
            "photo": self.photo,
        }


def track_key(face: Face) -> int:
    """The track a face belongs to (a face without a track is a track of its own: minus its id)."""
    return int(face.track_id) if face.track_id is not None else -int(face.id or 0)


def _quality(face: Face) -> float:
    q = eye_distance(face.landmarks) * max(face.landmark_confidence, 0.05)
    return q * (UNRELIABLE_WEIGHT if LANDMARKS_UNRELIABLE in face.flags else 1.0)


def pick_samples(faces: Sequence[Face], k: int = SAMPLES) -> list[Face]:
    """Up to `k` faces of one track spread over its frames: the best face of each of k equal stretches."""
    ordered = sorted(faces, key=lambda f: f.frame)
    if len(ordered) <= k:
        return ordered
    stretches = np.array_split(np.arange(len(ordered)), k)
    return [max((ordered[i] for i in s), key=_quality) for s in stretches if len(s)]


def face_descriptor(face: Face, faces_dir: Path | None, embed: Embedder) -> np.ndarray | None:
    """(128,) descriptor of one face from its aligned image, else the one stored with it, else None."""
    if faces_dir is not None and face.image and face.matrix is not None:
        path = faces_dir / face.image
        if path.is_file():
            try:
                rgb = read_face_png(path)
            except InputError:
                rgb = None
            if rgb is not None:
                crop = transform_points(face.landmarks, face.matrix) * (rgb.shape[0] / face.size)
                return np.asarray(embed(rgb, crop), np.float32)
    return None if face.embedding is None else np.asarray(face.embedding, np.float32)


def _samples_of(key: int, faces: list[Face], faces_dir: Path | None, embed: Embedder) -> TrackSamples | None:
    """A track's identity samples (None when none of its sampled faces can be embedded)."""
    chosen = [(f, face_descriptor(f, faces_dir, embed)) for f in pick_samples(faces)]
    usable = [(f, d) for f, d in chosen if d is not None]
    if not usable:
        return None
    unreliable = sum(LANDMARKS_UNRELIABLE in f.flags for f in faces)
    small = float(np.median([eye_distance(f.landmarks) for f, _ in usable])) < SMALL_EYES
    weak = small or 2 * unreliable > len(faces)
    return TrackSamples(key, np.stack([d for _, d in usable]), frozenset(f.frame for f in faces), weak)


def _default_embed() -> Embedder:
    from facegraft.extract.identity import embed

    return embed


def track_samples(
    store: AlignmentsStore,
    faces_dir: Path | None,
    embed: Embedder | None = None,
    progress_mode: str = "quiet",
) -> tuple[list[TrackSamples], dict[int, list[Face]]]:
    """Identity samples of every track holding at least one usable face, and every track's faces."""
    embed = embed or _default_embed()
    by_track: dict[int, list[Face]] = {}
    for f in store.faces():
        by_track.setdefault(track_key(f), []).append(f)
    progress = Progress(len(by_track), "persons", progress_mode, unit="tracks")
    samples = []
    for key, faces in sorted(by_track.items()):
        sample = _samples_of(key, faces, faces_dir, embed)
        if sample is not None:
            samples.append(sample)
        progress.update(1)
    progress.close()
    return samples, by_track


def group(
    store: AlignmentsStore,
    faces_dir: Path | None = None,
    threshold: float = THRESHOLD,
    embed: Embedder | None = None,
    progress_mode: str = "quiet",
) -> list[PersonSummary]:
    """Group the shot's tracks into persons and store them (ids, names and photos kept where a person's
    faces mostly stay together); returns the persons, the one with the most faces first."""
    if faces_dir is None:
        faces_dir = Shot(store.shot_dir).faces
    samples, by_track = track_samples(store, faces_dir, embed, progress_mode)
    labels = group_tracks(samples, threshold)
    groups: dict[int, list[TrackSamples]] = {}
    for s, label in zip(samples, labels, strict=True):
        groups.setdefault(label, []).append(s)
    new_groups = [
        ([f for s in members for f in by_track[s.key]], np.concatenate([s.descriptors for s in members]))
        for _, members in sorted(groups.items())
    ]
    _store_groups(store, new_groups)
    return summaries(store)


def extract_shot(
    plate_path: str | Path,
    shot_dir: str | Path,
    opts: ExtractOptions | None = None,
    progress_mode: str = "auto",
) -> ExtractSummary:
    """A plate extracted into `shot_dir` (extract.pipeline.extract), then its tracks grouped into persons
    when the options ask for it (`persons`, with the identity embeddings it needs): what `facegraft
    extract` does."""
    from facegraft.extract.pipeline import ExtractOptions, extract

    opts = opts or ExtractOptions()
    summary = extract(plate_path, shot_dir, opts, progress_mode)
    if opts.persons and opts.embeddings and summary.frames_done:
        start = time.monotonic()
        with AlignmentsStore.open(Path(shot_dir)) as store:
            summary.persons = len(group(store, Shot(Path(shot_dir)).faces, progress_mode=progress_mode))
        summary.seconds += time.monotonic() - start
    return summary


def _store_groups(store: AlignmentsStore, groups: list[tuple[list[Face], np.ndarray]]) -> None:
    """Write groups of faces (with their descriptor samples) as the shot's persons, reusing the old
    person (id, name, photo) that held most of a group's faces when that is over half of them."""
    old = {p.id: p for p in store.persons()}
    taken: set[int] = set()
    next_id = max(old, default=0) + 1
    persons, assignment = [], {}
    for faces, descriptors in groups:
        counts: dict[int, int] = {}
        for f in faces:
            if f.person_id is not None:
                counts[f.person_id] = counts.get(f.person_id, 0) + 1
        best = max(counts, key=lambda p: (counts[p], -p), default=None)
        if best is not None and best in old and best not in taken and counts[best] * 2 > len(faces):
            prior = old[best]
            person = Person(prior.id, prior.name, descriptors.mean(0).astype(np.float32), prior.photo)
        else:
            person = Person(next_id, "", descriptors.mean(0).astype(np.float32))
            next_id += 1
        taken.add(person.id)
        persons.append(person)
        for f in faces:
            assignment[int(f.id)] = person.id  # type: ignore[arg-type]
    store.replace_persons(persons, assignment)


def summaries(store: AlignmentsStore) -> list[PersonSummary]:
    """Every person of the shot with its counts, the one with the most faces first."""
    from facegraft.store.shots import shots

    starts = [s.first_frame for s in shots(store)]
    faces: dict[int, list[Face]] = {}
    for f in store.faces():
        if f.person_id is not None:
            faces.setdefault(f.person_id, []).append(f)
    out = []
    for p in store.persons():
        mine = faces.get(p.id, [])
        frames = sorted({f.frame for f in mine})
        out.append(
            PersonSummary(
                p.id,
                p.label,
                p.name,
                len(mine),
                tuple(sorted({track_key(f) for f in mine})),
                frame_ranges(frames),
                tuple(sorted({int(np.searchsorted(starts, fr, side="right")) - 1 for fr in frames})),
                p.photo,
            )
        )
    return sorted(out, key=lambda s: (-s.faces, s.id))


def frame_ranges(frames: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Sorted frame numbers as (first, last) runs of consecutive frames."""
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return tuple((a, b) for a, b in runs)


def merge(store: AlignmentsStore, into: int, others: Sequence[int]) -> None:
    """Give every face of the `others` persons to person `into`; the others are removed."""
    persons = {p.id: p for p in store.persons()}
    for pid in (into, *others):
        if pid not in persons:
            raise InputError(f"no person {pid} in this shot", store.shot_dir)
    gone = {int(o) for o in others} - {into}
    counts = {p: len(store.person_faces(p)) for p in (into, *gone)}
    embs = [
        (persons[p].embedding, max(counts[p], 1)) for p in (into, *gone) if persons[p].embedding is not None
    ]
    if embs:
        total = sum(w for _, w in embs)
        persons[into].embedding = (sum(e.astype(np.float64) * w for e, w in embs) / total).astype(np.float32)
    assignment = {
        int(f.id): (into if f.person_id in gone else int(f.person_id))  # type: ignore[arg-type]
        for f in store.faces()
        if f.person_id is not None
    }
    store.replace_persons([p for pid, p in persons.items() if pid not in gone], assignment)


def split(
    store: AlignmentsStore,
    person_id: int,
    tracks: Sequence[int] = (),
    faces_dir: Path | None = None,
    threshold: float = THRESHOLD,
    embed: Embedder | None = None,
) -> list[int]:
    """Split a person: the named `tracks` move to one new person; without tracks, the person's tracks are
    regrouped at a tighter threshold. Returns the new persons' ids (the original keeps the rest)."""
    persons = {p.id: p for p in store.persons()}
    if person_id not in persons:
        raise InputError(f"no person {person_id} in this shot", store.shot_dir)
    mine = store.person_faces(person_id)
    own = {track_key(f) for f in mine}
    if tracks:
        stray = sorted(set(tracks) - own)
        if stray:
            raise InputError(
                f"person {person_id} holds no track {', '.join(map(str, stray))} (its tracks: "
                f"{', '.join(map(str, sorted(own)))})",
                store.shot_dir,
            )
        if set(tracks) == own:
            raise InputError(
                f"those are all of person {person_id}'s tracks: nothing would be left", store.shot_dir
            )
        parts = [
            [f for f in mine if track_key(f) not in set(tracks)],
            [f for f in mine if track_key(f) in set(tracks)],
        ]
    else:
        faces_dir = faces_dir if faces_dir is not None else Shot(store.shot_dir).faces
        embed = embed or _default_embed()
        by_track: dict[int, list[Face]] = {}
        for f in mine:
            by_track.setdefault(track_key(f), []).append(f)
        found_samples = (_samples_of(key, faces, faces_dir, embed) for key, faces in sorted(by_track.items()))
        samples = [s for s in found_samples if s is not None]
        labels = group_tracks(samples, threshold * SPLIT_TIGHTER)
        found = {s.key: label for s, label in zip(samples, labels, strict=True)}
        n = max(found.values(), default=0) + 1
        parts = [[f for f in mine if found.get(track_key(f), 0) == label] for label in range(n)]
        if len(parts) < 2:
            raise InputError(
                f"person {person_id}'s tracks all look like one person; name the tracks to split off "
                f"(--split {person_id}={','.join(map(str, sorted(own)[:2]))})",
                store.shot_dir,
            )
    next_id = max(persons) + 1
    assignment = {int(f.id): int(f.person_id) for f in store.faces() if f.person_id is not None}  # type: ignore[arg-type]
    new_ids = []
    base = persons[person_id]
    for part in parts[1:]:
        persons[next_id] = Person(next_id, "", base.embedding)
        for f in part:
            assignment[int(f.id)] = next_id  # type: ignore[arg-type]
        new_ids.append(next_id)
        next_id += 1
    store.replace_persons(list(persons.values()), assignment)
    return new_ids


def name(store: AlignmentsStore, spec: str, new_name: str) -> int:
    """Name the person `spec` gives (id, current name or a photo, which is also recorded); returns its id."""
    from facegraft.persons.select import resolve_person

    person = resolve_person(store, spec)
    store.set_person_name(person.id, new_name)
    if Path(spec).is_file() and not spec.isdigit():
        persons = store.persons()
        for p in persons:
            if p.id == person.id:
                p.photo = str(Path(spec).resolve())
        assignment = {int(f.id): int(f.person_id) for f in store.faces() if f.person_id is not None}  # type: ignore[arg-type]
        store.replace_persons(persons, assignment)
    return person.id
