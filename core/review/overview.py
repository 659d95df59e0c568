"""What the review page shows, read from the store as JSON-able dicts: the shot's timeline with its problem
markers, one frame's faces, and the faces grouped by person.

Problem frames are the ones the alignments jobs list (`alignments no-faces`, `alignments multi-faces`,
`alignments flagged`) plus frames holding a face scored below the extraction's `--min-confidence` (a track
kept below the new-face threshold, a weak detection); a frame a person has accepted stops being a problem.
The timeline also marks the shot boundaries: frames with a hard cut just before them.
"""

from __future__ import annotations

import numpy as np

from facegraft.extract.identity import SAME_PERSON
from facegraft.faceset.collection import FACES_DIR, Faceset, open_faceset
from facegraft.faceset.ordering import identity_order
from facegraft.faceset.survey import embeddings
from facegraft.store.alignments import AlignmentsStore, EditRecord, Face

DEFAULT_MIN_CONFIDENCE = 0.5


def _r(value: float) -> float:
    return round(float(value), 3)


def edit_json(edit: EditRecord | None) -> dict | None:
    """A journal entry as the page shows it (None when there is none)."""
    if edit is None:
        return None
    return {"id": edit.id, "kind": edit.kind, "at": edit.at, "detail": edit.detail, "undone": edit.undone}


def shot_summary(store: AlignmentsStore) -> dict:
    """The shot, its plate, every stored frame with its face count and markers, and the latest edit."""
    settings = store.setting("extract", {}) or {}
    threshold = float(settings.get("min_confidence", DEFAULT_MIN_CONFIDENCE))
    reviewed = store.reviewed_frames()
    frames = []
    for s in store.frame_summaries():
        frames.append(
            {
                "frame": s.frame,
                "faces": s.faces,
                "no_face": s.faces == 0,
                "multi_face": s.faces > 1,
                "low_confidence": s.lowest_score is not None and s.lowest_score < threshold,
                "flagged": s.flagged,
                "cut": s.cut,
                "reviewed": s.frame in reviewed,
            }
        )
    kinds = ("no_face", "multi_face", "low_confidence", "flagged", "cut")
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


def identity_groups(store: AlignmentsStore, threshold: float = SAME_PERSON) -> list[dict]:
    """Faces grouped by person, as `faceset sort --by identity` groups them: the largest group first (the
    shot's main person, as a rule), each nearest its mean first; faces without an identity come last."""
    faces = store.faces()
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


def _grid_face(face: Face) -> dict:
    return {
        "id": face.id,
        "frame": face.frame,
        "revision": face.revision,
        "score": _r(face.score),
        "flags": list(face.flags),
    }
