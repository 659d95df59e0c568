"""The ``alignments`` jobs run on a shot: list frames, drop faces whose image was deleted, restore names.

Pure logic over the store and the faces folder; each job returns what it found or did, the CLI prints it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from facegraft.errors import InputError
from facegraft.io.atomic import move_batch, recover_moves
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import face_image_name, read_face_tags
from facegraft.store.shot import Shot

log = logging.getLogger(__name__)


def frames_without_faces(store: AlignmentsStore) -> list[int]:
    """Stored frames with no face, in order."""
    return store.frames_without_faces()


def frames_with_several_faces(store: AlignmentsStore) -> list[int]:
    """Stored frames with more than one face, in order."""
    return store.frames_with_several_faces()


def _faces_dir(store: AlignmentsStore, faces_dir: Path | None) -> Path:
    folder = Path(faces_dir) if faces_dir is not None else Shot(store.shot_dir).faces
    if not folder.is_dir():
        # Refuse rather than treat every face image as deleted.
        raise InputError("faces folder not found", str(folder))
    return folder


def remove_deleted_faces(store: AlignmentsStore, faces_dir: Path | None = None) -> list[int]:
    """Remove (in one transaction) the faces whose image file is gone; faces with no image are kept."""
    folder = _faces_dir(store, faces_dir)
    gone = [f.id for f in store.faces() if f.image is not None and not (folder / f.image).is_file()]
    store.remove_faces(gone)  # type: ignore[arg-type]
    if gone:
        log.info("removed %d faces whose image was deleted from %s", len(gone), folder)
    return gone  # type: ignore[return-value]


@dataclass
class RenameResult:
    """What rename_face_images did: renames (old, new), and files it left alone with the reason."""

    renamed: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[tuple[str, str]] = field(default_factory=list)  # (file name, why it was left)
    updated: list[int] = field(default_factory=list)  # face ids whose stored image name changed


def rename_face_images(store: AlignmentsStore, faces_dir: Path | None = None) -> RenameResult:
    """Give every tagged face PNG its store name again (frame_index.png) and record it on the face.

    Files are moved through temporary names first, so swapped names never clobber each other; a file
    without a known face id, a second file claiming a face, or a file whose target name is held by a file
    that stays put is left where it is and reported in ``orphans``.
    """
    folder = _faces_dir(store, faces_dir)
    recover_moves(folder)
    result = RenameResult()
    faces = {face.id: face for face in store.faces()}
    claims: dict[int, str] = {}
    stay: set[str] = set()
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()):
        name = path.name
        if name.startswith("."):
            continue
        try:
            tag = read_face_tags(path).get("face_id")
        except InputError as exc:
            result.orphans.append((name, f"unreadable: {exc}"))
            stay.add(name)
            continue
        face_id = int(tag) if tag is not None and tag.strip().lstrip("-").isdigit() else None
        if face_id is None or face_id not in faces:
            why = "no face id" if face_id is None else f"face id {face_id} not in store"
            result.orphans.append((name, why))
            stay.add(name)
            continue
        target = face_image_name(faces[face_id].frame, faces[face_id].index)
        previous = claims.get(face_id)
        if previous is not None:
            # Two files claim one face: keep the one already at the right name.
            keep, drop = (name, previous) if name == target else (previous, name)
            claims[face_id] = keep
            result.orphans.append((drop, f"another file already holds face id {face_id}"))
            stay.add(drop)
            continue
        claims[face_id] = name
    moves = {}
    for face_id, name in claims.items():
        target = face_image_name(faces[face_id].frame, faces[face_id].index)
        if name == target:
            stay.add(name)
        else:
            moves[face_id] = (name, target)
    blocked = True
    while blocked:  # a file that cannot move holds its own name too, which may block another move
        blocked = False
        for face_id, (name, target) in list(moves.items()):
            if target in stay:
                result.orphans.append((name, f"its name {target} is held by another file"))
                del moves[face_id]
                stay.add(name)
                blocked = True
    # One batch through temporary names (a crash between its phases leaves files that the next run's
    # recover_moves names visibly again, and renames by their tags).
    ordered = sorted(moves.items())
    move_batch(folder, [(folder / name, folder / target) for _, (name, target) in ordered], "the face image")
    for face_id, (name, target) in ordered:
        claims[face_id] = target
        result.renamed.append((name, target))
    with store.transaction():
        for face_id, name in claims.items():
            if faces[face_id].image != name:
                store.set_face_image(face_id, name)
                result.updated.append(face_id)
    for name, why in result.orphans:
        log.warning("%s: left alone (%s)", folder / name, why)
    return result
