"""Hand edits of a shot's alignments, as the review page makes them: each one store transaction, journaled
for undo, refused with a conflict when a face it touches has moved past the revision its editor saw.

The work that needs pixels (the landmarker, the detector, identity embeddings) runs before the edit's
transaction, with the extraction's own functions, so the database is locked only for the write. A face
whose landmarks change gets what extraction would have given it: a new alignment matrix, pose, landmark
masks, identity embedding and aligned image; painted masks are carried to its new crop.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from facegraft.errors import InputError, StoreError
from facegraft.extract import identity
from facegraft.extract.pipeline import build_faces
from facegraft.extract.tracker import FaceFinder, TrackedFace, landmark_box
from facegraft.geometry.alignment import alignment_matrix, invert_affine, transform_points
from facegraft.geometry.masks import MASKERS, landmark_masks
from facegraft.geometry.pose import head_pose
from facegraft.review.masks import carried, carry_mask, paint_stroke, start_mask
from facegraft.review.shot import ReviewShot
from facegraft.store.alignments import (
    NOT_TARGET,
    AlignmentsStore,
    EditConflict,
    EditRecord,
    Face,
    Person,
    RevisionConflict,
    check_person_name,
)
from facegraft.store.face_images import face_image_name

TURNS = (90, 180, 270)  # degrees clockwise on screen a face can be turned to be found upright
TURNED_FACE_PX = 160  # a turned face is searched at about this size (the HOG window is 80 px)
MIN_BOX_PX = 8.0


@dataclass(frozen=True)
class FaceRef:
    """A face as the editor saw it: its id and revision."""

    id: int
    revision: int


@dataclass
class EditOutcome:
    """What an edit did: its journal number and kind, a line for the page, the frames it touched, faces
    whose aligned images must be rewritten and image names of faces that are gone."""

    edit: int
    kind: str
    message: str
    frames: set[int] = field(default_factory=set)
    changed: list[int] = field(default_factory=list)
    removed: list[str | None] = field(default_factory=list)


def current_face(store: AlignmentsStore, ref: FaceRef, masks: bool = True) -> Face:
    """The face (with its masks unless `masks` is false) when it is still at the editor's revision;
    RevisionConflict otherwise."""
    face = store.face(ref.id, load_masks=masks)
    if face is None or face.revision != ref.revision:
        raise RevisionConflict(ref.id, ref.revision, None if face is None else face.revision, store.path)
    return face


def refit(face: Face, landmarks: np.ndarray, rgb: np.ndarray, embed: bool) -> Face:
    """The face with new (68, 2) plate-pixel landmarks and everything derived from them, as extraction
    derives it from the (H, W, 3) uint8 working frame: matrix, pose, landmark masks, embedding; other
    masks (painted, imported, predicted) move to the new crop."""
    lms = np.asarray(landmarks, np.float32)
    matrix = alignment_matrix(lms, face.face_type, face.size)
    masks = dict(face.masks)
    names = tuple(n for n in face.masks if n in MASKERS)
    masks.update(landmark_masks(lms, matrix, face.size, names) if names else {})
    if face.matrix is not None:
        masks.update(
            {n: carry_mask(m, face.matrix, matrix, face.size) for n, m in carried(face.masks).items()}
        )
    return dataclasses.replace(
        face,
        landmarks=lms,
        matrix=matrix,
        pose=head_pose(lms, (rgb.shape[1], rgb.shape[0])),
        masks=masks,
        embedding=identity.embed(rgb, lms) if embed else face.embedding,
    )


def check_box(box: Sequence[float], width: int, height: int) -> np.ndarray:
    """(4,) float64 x0, y0, x1, y1 of a box drawn on a frame of width x height; InputError when it is not
    at least MIN_BOX_PX on a side, misses the frame or reaches far beyond it."""
    b = np.asarray(box, np.float64).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise InputError("a box is four numbers: x0, y0, x1, y1")
    if b[2] - b[0] < MIN_BOX_PX or b[3] - b[1] < MIN_BOX_PX:
        raise InputError(f"the box must be at least {MIN_BOX_PX:g} plate pixels wide and high")
    if b[2] <= 0 or b[3] <= 0 or b[0] >= width or b[1] >= height:
        raise InputError(f"the box lies outside the {width}x{height} frame")
    if b[0] < -width or b[1] < -height or b[2] > 2 * width or b[3] > 2 * height:
        raise InputError(f"the box reaches far outside the {width}x{height} frame")
    return b


def _ids_text(ids: Sequence[int], most: int = 8) -> str:
    """'face 3' or 'faces 3, 4, 5' (the first `most` and a count when there are more)."""
    shown = ", ".join(str(i) for i in ids[:most])
    more = f", ... ({len(ids)} in all)" if len(ids) > most else ""
    return f"face{'s' if len(ids) > 1 else ''} {shown}{more}"


def delete_faces(store: AlignmentsStore, refs: Sequence[FaceRef]) -> EditOutcome:
    """Remove faces (all or none) from the store; their aligned images go too."""
    if not refs:
        raise InputError("no faces named")
    faces = [current_face(store, r) for r in refs]
    detail = {"faces": [f.id for f in faces], "frames": sorted({f.frame for f in faces})}
    with store.edit("delete", detail) as edit:
        for ref in refs:
            edit.expect(ref.id, ref.revision)
            edit.remove_face(ref.id)
    return EditOutcome(
        edit.id,
        "delete",
        f"deleted: {_ids_text([int(f.id) for f in faces])}",  # type: ignore[arg-type]
        frames={f.frame for f in faces},
        removed=[f.image for f in faces],
    )


def mark_not_target(store: AlignmentsStore, refs: Sequence[FaceRef], on: bool = True) -> EditOutcome:
    """Mark faces as not the person to replace (kind `not-target`: flagged NOT_TARGET, so training and
    convert skip them) or as the target after all (kind `target`: the flag cleared). The faces and their
    images stay; faces already so are left as they are; one journaled edit, so undo puts the flags back."""
    if not refs:
        raise InputError("no faces named")
    kind = "not-target" if on else "target"
    faces = [current_face(store, r, masks=False) for r in refs]
    todo = [f for f in faces if (NOT_TARGET in f.flags) != on]
    if not todo:
        said = "already marked not the target" if on else "not marked as not the target"
        raise InputError(f"{_ids_text([int(f.id) for f in faces])}: {said}")  # type: ignore[arg-type]
    ids = [int(f.id) for f in todo]  # type: ignore[arg-type]
    detail = {"faces": ids, "frames": sorted({f.frame for f in todo}), "flag": NOT_TARGET, "on": on}
    with store.edit(kind, detail) as edit:
        for ref in refs:
            checked = edit.expect(ref.id, ref.revision)
            if (NOT_TARGET in checked.flags) == on:
                continue
            flags = (*checked.flags, NOT_TARGET) if on else tuple(f for f in checked.flags if f != NOT_TARGET)
            edit.replace_face(dataclasses.replace(checked, flags=tuple(dict.fromkeys(flags)), masks={}))
    what = "not the target person (kept, skipped by training and convert)" if on else "the target again"
    return EditOutcome(edit.id, kind, f"{_ids_text(ids)}: {what}", frames={f.frame for f in todo})


def _replace(store: AlignmentsStore, ref: FaceRef, new: Face, kind: str, detail: dict, message: str):
    with store.edit(kind, {"face": ref.id, "frame": new.frame, **detail}) as edit:
        edit.expect(ref.id, ref.revision)
        edit.replace_face(new)
    return EditOutcome(edit.id, kind, message, frames={new.frame}, changed=[ref.id])


def move_landmark(
    shot: ReviewShot, store: AlignmentsStore, ref: FaceRef, point: int, xy: Sequence[float]
) -> EditOutcome:
    """Put one of a face's 68 landmarks at plate pixel `xy`; the rest follows from the landmarks."""
    face = current_face(store, ref)
    if not 0 <= int(point) < len(face.landmarks):
        raise InputError(f"landmark {point} does not exist (0..{len(face.landmarks) - 1})")
    rgb = shot.frame_rgb(store, face.frame)
    height, width = rgb.shape[:2]
    target = np.asarray(xy, np.float64).reshape(-1)
    if target.shape != (2,) or not np.isfinite(target).all():
        raise InputError("a landmark position is two numbers: x, y")
    if not (-width <= target[0] <= 2 * width and -height <= target[1] <= 2 * height):
        raise InputError(f"landmark position {target.tolist()} is far outside the {width}x{height} frame")
    lms = face.landmarks.copy()
    before = [float(v) for v in lms[point]]
    lms[point] = target
    new = refit(face, lms, rgb, shot.options(store).embeddings)
    detail = {"point": int(point), "from": before, "to": [float(v) for v in target]}
    return _replace(store, ref, new, "landmark", detail, f"moved landmark {point} of face {face.id}")


def move_box(shot: ReviewShot, store: AlignmentsStore, ref: FaceRef, box: Sequence[float]) -> EditOutcome:
    """Give a face a new box and run the landmarker inside it (as extraction does with a detection)."""
    face = current_face(store, ref)
    rgb = shot.frame_rgb(store, face.frame)
    b = check_box(box, rgb.shape[1], rgb.shape[0])
    pts, confidence = shot.finder(store).locate(rgb, b)
    new = refit(face, pts, rgb, shot.options(store).embeddings)
    new = dataclasses.replace(new, box=tuple(float(v) for v in b), score=float(confidence))
    detail = {"box": [float(v) for v in b], "score": float(confidence)}
    return _replace(store, ref, new, "box", detail, f"new box for face {face.id}: landmarks found again")


def turned_crop(rgb: np.ndarray, box: np.ndarray, degrees: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, S, 3) crop of the (H, W, 3) frame around `box`, turned `degrees` clockwise on screen with the face
    at about TURNED_FACE_PX, and its (2, 3) frame -> crop matrix."""
    centre = (np.asarray(box[:2], np.float64) + np.asarray(box[2:], np.float64)) / 2
    side = float(max(box[2] - box[0], box[3] - box[1]))
    scale = float(np.clip(TURNED_FACE_PX / side, 0.25, 4.0))
    size = int(np.ceil(2.2 * side * scale))
    a = np.radians(degrees)
    turn = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # y runs down the screen
    matrix = np.hstack([turn, (size / 2 - turn @ centre)[:, None]])
    crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop), matrix


def turned_search(
    finder: FaceFinder, rgb: np.ndarray, box: np.ndarray, degrees: int
) -> tuple[np.ndarray, float]:
    """(68, 2) landmarks and verification score of the face in `box` once the (H, W, 3) uint8 frame is
    turned `degrees` clockwise: found upright in the turned crop, then refined in the frame itself (the
    landmarker turns every face upright from rough landmarks). InputError when no face is found."""
    crop, matrix = turned_crop(rgb, box, degrees)
    found = finder.find(crop)
    if not found:
        raise InputError(f"no face found in the box turned {degrees} degrees clockwise")
    middle = np.array(crop.shape[1::-1], np.float64) / 2
    best = min(found, key=lambda f: float(np.linalg.norm(f.landmarks.mean(0) - middle)))
    pts, _ = finder.converge(rgb, transform_points(best.landmarks, invert_affine(matrix)))
    pts, confidence = finder.settle(rgb, pts)
    return finder.landmarker.refine(rgb, pts, final=True), float(confidence)


def turn_face(shot: ReviewShot, store: AlignmentsStore, ref: FaceRef, degrees: int) -> EditOutcome:
    """Find a face again with the frame turned 90, 180 or 270 degrees (clockwise) around its box: for
    faces landmarked upside down or on their side."""
    if int(degrees) not in TURNS:
        raise InputError(f"a face can be turned {', '.join(map(str, TURNS))} degrees, not {degrees}")
    face = current_face(store, ref)
    rgb = shot.frame_rgb(store, face.frame)
    pts, confidence = turned_search(shot.finder(store), rgb, np.asarray(face.box, np.float64), int(degrees))
    new = refit(face, pts, rgb, shot.options(store).embeddings)
    new = dataclasses.replace(new, box=tuple(float(v) for v in landmark_box(pts)), score=confidence)
    detail = {"degrees": int(degrees), "score": confidence}
    return _replace(store, ref, new, "turn", detail, f"face {face.id} found again turned {degrees} degrees")


def add_face(shot: ReviewShot, store: AlignmentsStore, frame: int, box: Sequence[float]) -> EditOutcome:
    """A face the detector missed: the landmarker runs in the drawn box and the face is stored as
    extraction stores one (fresh id, index, track, matrix, pose, masks, embedding, aligned image)."""
    rec = store.frame(frame)
    if rec is None:
        raise InputError(f"frame {frame} is not in the store (extract it first)", str(store.path))
    rgb = shot.frame_rgb(store, frame)
    b = check_box(box, rgb.shape[1], rgb.shape[0])
    opts = dataclasses.replace(shot.options(store), min_size=0)
    pts, confidence = shot.finder(store).locate(rgb, b)
    pts = pts.astype(np.float32)
    emb = identity.embed(rgb, pts) if opts.embeddings else None
    found = TrackedFace(pts, b, confidence, confidence, store.max_track_id() + 1, True, emb)
    (face,) = build_faces(frame, (rgb.shape[1], rgb.shape[0]), [found], opts)
    face.index = max((f.index for f in rec.faces), default=-1) + 1
    face.image = face_image_name(frame, face.index) if shot.faces_dir() is not None else None
    face.masks = landmark_masks(face.landmarks, face.matrix, face.size, tuple(opts.masks))
    with store.edit("add", {"frame": int(frame), "box": [float(v) for v in b], "score": confidence}) as edit:
        face_id = edit.add_face(face)
    return EditOutcome(edit.id, "add", f"added face {face_id} to frame {frame}", {int(frame)}, [face_id])


def paint_mask(
    store: AlignmentsStore,
    ref: FaceRef,
    points: Sequence[Sequence[float]],
    radius: float,
    include: bool,
    name: str,
) -> EditOutcome:
    """One brush stroke (crop pixels) on a face's painted mask `name`, started from its landmark mask the
    first time."""
    if not name or name in MASKERS:
        raise InputError(f"'{name}' cannot be painted: it is drawn from the landmarks")
    face = current_face(store, ref)
    try:
        pts = np.asarray(points, np.float64)
    except ValueError:
        pts = np.zeros((0, 0))
    if pts.ndim != 2 or pts.shape[1] != 2 or not len(pts) or not np.isfinite(pts).all():
        raise InputError("a stroke is a list of [x, y] points in the face's crop pixels")
    if np.abs(pts).max() > 4 * face.size or not 0 < float(radius) <= face.size:
        raise InputError(f"a stroke must stay near the {face.size} px crop, its brush radius 0..{face.size}")
    base, source = start_mask(face.masks, name, face.size)
    mask = paint_stroke(base, pts, float(radius), include)
    detail = {"face": face.id, "frame": face.frame, "name": name, "from": source, "include": bool(include)}
    with store.edit("mask", detail) as edit:
        edit.expect(ref.id, ref.revision)
        edit.set_mask(ref.id, name, mask)
    verb = "included in" if include else "excluded from"
    return EditOutcome(edit.id, "mask", f"painted: {verb} the '{name}' mask of face {face.id}", {face.frame})


def accept_frames(store: AlignmentsStore, frames: Sequence[int], accepted: bool = True) -> EditOutcome:
    """Mark frames as looked at and right (or not): they stop counting as problem frames."""
    if not frames:
        raise InputError("no frames named")
    wanted = sorted({int(f) for f in frames})
    with store.edit("accept", {"frames": wanted, "accepted": bool(accepted)}) as edit:
        for frame in wanted:
            edit.set_reviewed(frame, accepted)
    shown = ", ".join(map(str, wanted))
    return EditOutcome(
        edit.id, "accept", f"{'accepted' if accepted else 'reopened'} frame {shown}", set(wanted)
    )


# -- persons ------------------------------------------------------------------------------------------
# The persons table is not part of the store's edit journal (it journals faces), so a person edit records
# what it changes in its detail and `undo` puts that back in the same transaction. A face's person is a face
# column: moving faces between persons goes through `Edit.replace_face`, journaled like any face change.
PERSON_KINDS = ("person-name", "merge-persons", "person")
# Edits that leave every face's pixels as they were: undoing them rewrites no aligned image.
IMAGE_FREE_KINDS = (*PERSON_KINDS, "target")
OTHER_PERSON_NAME = re.compile(r"person(\d+)")


def _persons(store: AlignmentsStore) -> dict[int, Person]:
    return {p.id: p for p in store.persons()}


def _person(persons: dict[int, Person], person_id: int) -> Person:
    if int(person_id) not in persons:
        listed = ", ".join(f"{p.id} ({p.label})" for p in persons.values()) or "none: not grouped"
        raise InputError(f"no person {person_id} in this shot (persons: {listed})")
    return persons[int(person_id)]


def _assignment(store: AlignmentsStore) -> dict[int, int]:
    """Every grouped face's person, as `replace_persons` takes it."""
    return {int(f.id): int(f.person_id) for f in store.faces() if f.person_id is not None}  # type: ignore[arg-type]


def person_json(person: Person) -> dict:
    """A person row as an edit's detail keeps it (the embedding as base64 little-endian float32)."""
    emb = None
    if person.embedding is not None:
        emb = base64.b64encode(np.asarray(person.embedding, "<f4").tobytes()).decode("ascii")
    return {"id": person.id, "name": person.name, "embedding": emb, "photo": person.photo}


def person_from_json(data: dict) -> Person:
    emb = data.get("embedding")
    vector = None if emb is None else np.frombuffer(base64.b64decode(emb), "<f4").astype(np.float32)
    return Person(int(data["id"]), str(data.get("name") or ""), vector, data.get("photo"))


def _write_persons(store: AlignmentsStore, persons: Sequence[Person], why: str) -> None:
    """`replace_persons` with every face's person as it stands; a clash (a name taken since) is a
    conflict: the edit or undo it belongs to is refused whole."""
    try:
        store.replace_persons(list(persons), _assignment(store))
    except StoreError as exc:
        raise EditConflict(f"{why}: {exc}", str(store.path)) from exc


def rename_person(store: AlignmentsStore, person_id: int, name: str, was: str | None = None) -> EditOutcome:
    """Name a person ('' clears the name: the label goes back to person<id>); `was` is the name the editor
    saw (EditConflict when it is no longer). Journaled, so undo gives the old name back."""
    name = name.strip()
    with store.transaction():
        persons = _persons(store)
        person = _person(persons, person_id)
        if was is not None and was != person.name:
            now = repr(person.name) if person.name else "no name"
            raise EditConflict(
                f"person {person.id} was renamed elsewhere (it now has {now}); nothing was changed"
            )
        if name == person.name:
            raise InputError(f"person {person.id} is already {'named ' + repr(name) if name else 'unnamed'}")
        if name:
            check_person_name(name)
            other = OTHER_PERSON_NAME.fullmatch(name)
            if other and int(other.group(1)) != person.id:
                raise InputError(f"{name!r} is the label of another person's id; choose another name")
        with store.edit("person-name", {"person": person.id, "from": person.name, "to": name}) as edit:
            store.set_person_name(person.id, name)
    said = f"named {name!r}" if name else "unnamed (person" + str(person.id) + ")"
    return EditOutcome(edit.id, "person-name", f"person {person.id} {said}")


def merge_persons(store: AlignmentsStore, into: int, other: int, refs: Sequence[FaceRef]) -> EditOutcome:
    """Give every face of person `other` to person `into` and remove `other`, as one journaled edit (undo
    brings the person and its faces back). `refs` are the faces of `other` as the editor saw them: a face
    at another revision is a RevisionConflict, a face it did not see an EditConflict. The merged person's
    descriptor is the face-weighted mean of the two."""
    into, other = int(into), int(other)
    if into == other:
        raise InputError("a person cannot be merged into itself")
    with store.transaction():
        persons = _persons(store)
        keep, gone = _person(persons, into), _person(persons, other)
        faces = store.person_faces(other)
        now = {int(f.id): f.revision for f in faces}  # type: ignore[arg-type]
        for ref in refs:
            if now.get(ref.id) != ref.revision:
                current = now.get(ref.id, store.face_revision(ref.id))
                raise RevisionConflict(ref.id, ref.revision, current, store.path)
        unseen = sorted(set(now) - {r.id for r in refs})
        if unseen:
            raise EditConflict(
                f"person {other} has {_ids_text(unseen)} the page did not show (changed elsewhere); nothing "
                "was changed"
            )
        merged = dataclasses.replace(keep)
        if (
            keep.embedding is not None
            and gone.embedding is not None
            and keep.embedding.shape == gone.embedding.shape
        ):
            n_keep, n_gone = max(len(store.person_faces(into)), 1), max(len(faces), 1)
            mean = keep.embedding.astype(np.float64) * n_keep + gone.embedding.astype(np.float64) * n_gone
            merged.embedding = (mean / (n_keep + n_gone)).astype(np.float32)
        elif keep.embedding is None:
            merged.embedding = gone.embedding
        ids = sorted(now)
        detail = {
            "into": into,
            "person": other,
            "faces": ids,
            "frames": sorted({f.frame for f in faces}),
            "before": [person_json(keep), person_json(gone)],
        }
        with store.edit("merge-persons", detail) as edit:
            for ref in refs:
                checked = edit.expect(ref.id, ref.revision)
                edit.replace_face(dataclasses.replace(checked, person_id=into, masks={}))
            rest = [merged if p.id == into else p for p in persons.values() if p.id != other]
            _write_persons(store, rest, "the merge")
    message = f"merged {gone.label} into {keep.label}: {len(ids)} face{'s' if len(ids) != 1 else ''} moved"
    return EditOutcome(edit.id, "merge-persons", message, frames={f.frame for f in faces})


def reassign_face(store: AlignmentsStore, ref: FaceRef, person: int | str | None) -> EditOutcome:
    """Give one face to another person: an id, "new" (a new person holding this face alone) or None (not
    grouped). Journaled; undo gives the face its person back (and removes a person it created)."""
    with store.transaction():
        persons = _persons(store)
        face = current_face(store, ref, masks=False)
        created = person == "new"
        if created:
            target: int | None = max(persons, default=0) + 1
        elif person is None:
            target = None
        else:
            target = _person(persons, int(person)).id
        if target == face.person_id:
            said = "is not grouped" if target is None else f"already belongs to {persons[target].label}"
            raise InputError(f"face {face.id} {said}")
        detail = {
            "face": face.id,
            "frame": face.frame,
            "from": face.person_id,
            "to": target,
            "created": created,
        }
        with store.edit("person", detail) as edit:
            checked = edit.expect(ref.id, ref.revision)
            if created:
                emb = None if checked.embedding is None else checked.embedding.astype(np.float32)
                _write_persons(store, [*persons.values(), Person(int(target), "", emb)], "a new person")  # type: ignore[arg-type]
            edit.replace_face(dataclasses.replace(checked, person_id=target, masks={}))
    label = (
        "no person"
        if target is None
        else (f"a new person, person{target}" if created else persons[target].label)
    )
    return EditOutcome(edit.id, "person", f"face {face.id} moved to {label}", frames={face.frame})


def _undo_persons(store: AlignmentsStore, edit: EditRecord) -> None:
    """Put back the person rows a person edit changed (inside the undo's transaction)."""
    detail = edit.detail
    why = f"edit {edit.id} ({edit.kind}) cannot be undone"
    persons = _persons(store)
    if edit.kind == "person-name":
        pid = int(detail["person"])
        if pid not in persons or persons[pid].name != detail["to"]:
            raise EditConflict(f"{why}: person {pid} was renamed or removed since", str(store.path))
        try:
            store.set_person_name(pid, str(detail["from"]))
        except StoreError as exc:
            raise EditConflict(f"{why}: {exc}", str(store.path)) from exc
    elif edit.kind == "merge-persons":
        keep, gone = (person_from_json(d) for d in detail["before"])
        if gone.id in persons:
            raise EditConflict(f"{why}: person {gone.id} exists again (regrouped since)", str(store.path))
        restored = [keep if p.id == keep.id else p for p in persons.values()]
        _write_persons(store, [*restored, gone], why)
    elif edit.kind == "person" and detail.get("created"):
        pid = int(detail["to"])
        if pid in persons and not store.person_faces(pid):
            _write_persons(store, [p for p in persons.values() if p.id != pid], why)


def undo(store: AlignmentsStore, edit_id: int | None) -> EditOutcome:
    """Undo the latest edit (which must be `edit_id` when given), person rows included, in one transaction."""
    with store.transaction():
        done = store.undo(edit_id)
        if done.edit.kind in PERSON_KINDS:
            _undo_persons(store, done.edit)
    frames = set(done.frames)
    for face_id in done.restored:
        face = store.face(face_id, load_masks=False)
        if face is not None:
            frames.add(face.frame)
    frames.update(int(f) for f in done.edit.detail.get("frames", []))
    if "frame" in done.edit.detail:
        frames.add(int(done.edit.detail["frame"]))
    message = f"undid edit {done.edit.id} ({done.edit.kind})"
    # A not-target edit that flagged faces (rather than removing them, as it once did) changed no pixels.
    flagged = done.edit.kind == "not-target" and done.edit.detail.get("flag") == NOT_TARGET
    changed = [] if done.edit.kind in IMAGE_FREE_KINDS or flagged else done.restored
    return EditOutcome(done.edit.id, "undo", message, frames, changed, list(done.removed.values()))


def write_images(shot: ReviewShot, store: AlignmentsStore, outcome: EditOutcome) -> None:
    """Bring the faces folder in line with an edit: the edited faces' aligned images only."""
    shot.remove_face_images(outcome.removed)
    shot.write_face_images(store, outcome.changed)
