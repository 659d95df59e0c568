"""What the review page shows, read from the store as JSON-able dicts: the shot's timeline with its problem
markers, one frame's faces, and the faces grouped by person.

Problem frames are the ones the alignments jobs list (`alignments no-faces`, `alignments multi-faces`,
`alignments flagged`) plus frames holding a face scored below the extraction's `--min-confidence` (a track
kept below the new-face threshold, a weak detection); a frame a person has accepted stops being a problem.
The timeline also marks the shot boundaries: frames with a hard cut just before them. A face marked "not
the target" stays in the store but is no problem of its frame: face counts and the several-faces, flagged
and low-confidence markers leave it out (a frame holding only dropped faces is no frame without faces).

When the shot's faces are grouped into persons (`facegraft alignments persons`, or extraction), the faces are
listed by stored person, each with its label, counts, frame ranges and a thumbnail face; otherwise they are
grouped by identity clustering, as `faceset sort --by identity` groups them.
"""

from __future__ import annotations

import numpy as np

from facegraft.extract.identity import SAME_PERSON
from facegraft.faceset.collection import Faceset, open_faceset
from facegraft.faceset.ordering import identity_order
from facegraft.faceset.survey import embeddings
from facegraft.persons.shot import frame_ranges
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, NOT_TARGET, AlignmentsStore, EditRecord, Face
from facegraft.store.shot import FACES_DIR
from facegraft.store.shots import shots

DEFAULT_MIN_CONFIDENCE = 0.5
PER_FRAME_READS = 200  # frames with dropped faces read one by one for the summary, up to this many


def _r(value: float) -> float:
    return round(float(value), 3)


def edit_json(edit: EditRecord | None) -> dict | None:
    """A journal entry as the page shows it (None when there is none)."""
    if edit is None:
        return None
    return {"id": edit.id, "kind": edit.kind, "at": edit.at, "detail": edit.detail, "undone": edit.undone}


def _dropped_counts(store: AlignmentsStore) -> tuple[dict[int, int], dict[int, int], dict[int, float]]:
    """By frame: faces marked not the target, other flagged faces still in play, and for frames holding a
    dropped face the lowest score of the faces still in play."""
    dropped: dict[int, int] = {}
    flagged: dict[int, int] = {}
    for f in store.flagged_faces():
        if NOT_TARGET in f.flags:
            dropped[f.frame] = dropped.get(f.frame, 0) + 1
        else:
            flagged[f.frame] = flagged.get(f.frame, 0) + 1
    lowest: dict[int, float] = {}
    if dropped:  # a query per frame, or one read of every face when that is fewer
        many = len(dropped) > PER_FRAME_READS
        faces = store.faces() if many else [f for frame in dropped for f in store.faces(frame)]
        for f in faces:
            if f.frame in dropped and NOT_TARGET not in f.flags:
                lowest[f.frame] = min(lowest.get(f.frame, f.score), f.score)
    return dropped, flagged, lowest


def shot_summary(store: AlignmentsStore) -> dict:
    """The shot, its plate, every stored frame with its face count and markers, and the latest edit."""
    settings = store.setting("extract", {}) or {}
    threshold = float(settings.get("min_confidence", DEFAULT_MIN_CONFIDENCE))
    reviewed = store.reviewed_frames()
    dropped, flagged, lowest = _dropped_counts(store)
    frames = []
    for s in store.frame_summaries():
        faces = s.faces - dropped.get(s.frame, 0)
        low = lowest.get(s.frame) if s.frame in dropped else s.lowest_score
        frames.append(
            {
                "frame": s.frame,
                "faces": faces,
                "no_face": s.faces == 0,  # a dropped face was found: its frame is not one without faces
                "multi_face": faces > 1,
                "low_confidence": low is not None and low < threshold,
                "flagged": flagged.get(s.frame, 0),
                "not_target": dropped.get(s.frame, 0),
                "cut": s.cut,
                "reviewed": s.frame in reviewed,
            }
        )
    kinds = ("no_face", "multi_face", "low_confidence", "flagged", "not_target", "cut")
    plate = store.plate()
    return {
        "shot": str(store.shot_dir),
        "name": store.shot_dir.name,
        "plate": {k: plate.get(k) for k in ("path", "width", "height", "fps", "colourspace", "kind")},
        "face_type": settings.get("face_type"),
        "size": settings.get("size"),
        "min_confidence": threshold,
        "frames": frames,
        "markers": {k: [f["frame"] for f in frames if f[k]] for k in kinds},
        "shots": 1 + sum(f["cut"] for f in frames[1:]) if frames else 0,  # as alignments.stats counts
        "reviewed": sorted(reviewed),
        "persons": len(store.persons()),
        "last_edit": edit_json(store.last_edit()),
    }


def face_json(face: Face) -> dict:
    """One face as the page draws and edits it (plate pixels)."""
    return {
        "id": face.id,
        "frame": face.frame,
        "index": face.index,
        "revision": face.revision,
        "box": [_r(v) for v in face.box],
        "score": _r(face.score),
        "landmarks": [[_r(x), _r(y)] for x, y in np.asarray(face.landmarks, np.float64)],
        "pose": [_r(v) for v in face.pose],
        "landmark_confidence": _r(face.landmark_confidence),
        "flags": list(face.flags),
        "track_id": face.track_id,
        "person_id": face.person_id,
        "face_type": face.face_type,
        "size": face.size,
        "image": face.image,
        "masks": sorted(face.masks),
    }


def frame_detail(store: AlignmentsStore, frame: int) -> dict | None:
    """One stored frame: its size, whether accepted, its faces with the names of their masks; None if the
    frame is not stored."""
    rec = store.frame(frame, load_masks=True)
    if rec is None:
        return None
    return {
        "frame": rec.frame,
        "width": rec.width,
        "height": rec.height,
        "reviewed": rec.frame in store.reviewed_frames(),
        "faces": [face_json(f) for f in rec.faces],
    }


def _face_embeddings(store: AlignmentsStore, faces: list[Face]) -> dict:
    """(128,) embedding by face id: stored ones, the rest computed from the face images the way `faceset
    sort` does (and stored, so the next look is free). Faces with neither are left out."""
    found = {f.id: f.embedding for f in faces if f.embedding is not None and f.embedding.shape == (128,)}
    if len(found) == len(faces) or not (store.shot_dir / FACES_DIR).is_dir():
        return found
    faceset = open_faceset(store.shot_dir)
    todo = [item for item in faceset.items if item.face is not None and item.face.id not in found]
    if todo:
        computed = embeddings(Faceset(faceset.folder, faceset.store_path, todo))
        found.update({item.face.id: emb for item, emb in zip(todo, computed) if item.face is not None})
    return found


def identity_groups(
    store: AlignmentsStore, threshold: float = SAME_PERSON, faces: list[Face] | None = None
) -> list[dict]:
    """Faces grouped by person, as `faceset sort --by identity` groups them: the largest group first (the
    shot's main person, as a rule), each nearest its mean first; faces without an identity come last."""
    faces = store.faces() if faces is None else faces
    emb = _face_embeddings(store, faces)
    known = [f for f in faces if f.id in emb]
    groups: list[dict] = []
    if known:
        order, labels = identity_order(np.stack([emb[f.id] for f in known]), threshold)
        for i in order:
            label = int(labels[i])
            if not groups or groups[-1]["label"] != label:
                groups.append({"label": label, "faces": []})
            groups[-1]["faces"].append(_grid_face(known[i]))
    unknown = [_grid_face(f) for f in faces if f.id not in emb]
    if unknown:
        groups.append({"label": None, "faces": unknown})
    return groups


def _thumb_face(faces: list[Face]) -> Face | None:
    """The face that shows a person best: one with an image, still a target, landmarks that sat, then the
    largest box (by score when sizes tie)."""

    def merit(f: Face) -> tuple:
        side = min(f.box[2] - f.box[0], f.box[3] - f.box[1])
        return (
            f.image is not None,
            NOT_TARGET not in f.flags,
            LANDMARKS_UNRELIABLE not in f.flags,
            side,
            f.score,
        )

    return max(faces, key=merit, default=None)


def person_groups(store: AlignmentsStore) -> dict:
    """The faces grouped as the page lists them. With stored persons (``by: person``): one group per person,
    the one with the most faces first, each with its `person` (id, label, name, face counts, frame ranges,
    shots, thumbnail face) and its faces by frame; faces of no person last. Without (``by: identity``): the
    identity clusters of `identity_groups`."""
    faces = store.faces()
    persons = store.persons()
    if not persons:
        return {"by": "identity", "persons": [], "groups": identity_groups(store, faces=faces)}
    starts = [s.first_frame for s in shots(store)]
    mine: dict[int | None, list[Face]] = {}
    known = {p.id for p in persons}
    for f in faces:
        mine.setdefault(f.person_id if f.person_id in known else None, []).append(f)
    rows = []
    for p in persons:
        held = sorted(mine.get(p.id, []), key=lambda f: (f.frame, f.index))
        frames = sorted({f.frame for f in held})
        thumb = _thumb_face(held)
        rows.append(
            (
                {
                    "id": p.id,
                    "label": p.label,
                    "name": p.name,
                    "faces": len(held),
                    "targets": sum(NOT_TARGET not in f.flags for f in held),
                    "ranges": [list(r) for r in frame_ranges(frames)],
                    "shots": sorted({int(np.searchsorted(starts, fr, side="right")) - 1 for fr in frames}),
                    "tracks": len({f.track_id for f in held if f.track_id is not None}),
                    "photo": p.photo,
                    "thumb": None
                    if thumb is None
                    else {"id": thumb.id, "revision": thumb.revision, "frame": thumb.frame},
                },
                held,
            )
        )
    rows.sort(key=lambda r: (-r[0]["faces"], r[0]["id"]))
    groups = [
        {"label": row["id"], "person": row, "faces": [_grid_face(f) for f in held]} for row, held in rows
    ]
    loose = sorted(mine.get(None, []), key=lambda f: (f.frame, f.index))
    if loose:
        groups.append({"label": None, "person": None, "faces": [_grid_face(f) for f in loose]})
    return {"by": "person", "persons": [row for row, _ in rows], "groups": groups}


def _grid_face(face: Face) -> dict:
    return {
        "id": face.id,
        "frame": face.frame,
        "revision": face.revision,
        "score": _r(face.score),
        "flags": list(face.flags),
        "person_id": face.person_id,
    }
