"""Make a shot's faces folder and its store agree again after someone renamed, moved or deleted images:
the one reconcile, used by `alignments rename` and `faceset clean`.

Every tagged image of a stored face goes back to its store name (``frame_index.png`` at the folder's top,
out of any group folder a sort made); a file that is not a face of this store (no face id in its tags,
a face id the store lacks, a second file claiming a face, an unreadable file) stays where it is and is
reported, and so does a face's file whose store name such a file holds. Files move first as one batch
(through temporary names, so swapped names never clobber each other), then one transaction records
where every face's image now is; a run killed half way is finished by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facegraft.io.atomic import move_batch
from facegraft.store.alignments import AlignmentsStore, Face
from facegraft.store.face_images import face_image_name


@dataclass
class ImageFile:
    """One image found in the folder: its path, the face id its tags name (None: none), and why it could
    not be read (None: it could)."""

    path: Path
    face_id: int | None
    unreadable: str | None = None


@dataclass
class Reconciled:
    """What a reconcile did: files moved (old, new), each face's image name now (relative to the
    folder), files left alone with the reason, and the ids of faces whose recorded name changed."""

    moved: list[tuple[Path, Path]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    orphans: list[tuple[Path, str]] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)


def plan(folder: Path, files: list[ImageFile], faces: dict[int, Face]) -> Reconciled:
    """Decide, without touching anything, which files move to their store names and which stay (pure)."""
    out = Reconciled()
    claims: dict[int, Path] = {}
    stay: set[Path] = set()

    def orphan(path: Path, why: str) -> None:
        out.orphans.append((path, why))
        stay.add(path)

    for f in files:
        if f.unreadable is not None:
            orphan(f.path, f"unreadable: {f.unreadable}")
        elif f.face_id is None:
            orphan(f.path, "no face id in its tags")
        elif f.face_id not in faces:
            orphan(f.path, f"face id {f.face_id} is not in this store")
        elif f.face_id in claims:
            # Two files claim one face: the one already at the store name keeps it.
            target = folder / _store_name(faces[f.face_id])
            keep, drop = (f.path, claims[f.face_id]) if f.path == target else (claims[f.face_id], f.path)
            claims[f.face_id] = keep
            orphan(drop, f"another file already holds face id {f.face_id}")
        else:
            claims[f.face_id] = f.path
    moves = {fid: (path, folder / _store_name(faces[fid])) for fid, path in claims.items()}
    blocked = True
    while blocked:  # a file that stays holds its own name, which may block another move in turn
        blocked = False
        for fid, (path, target) in list(moves.items()):
            if target != path and target in stay:
                orphan(path, f"its store name {target.name} is held by a file that stays")
                del moves[fid]
                blocked = True
    for fid, path in claims.items():
        path, target = moves.get(fid, (path, path))
        out.names[fid] = target.relative_to(folder).as_posix()
        if target != path:
            out.moved.append((path, target))
    return out


def reconcile(store: AlignmentsStore, folder: Path, files: list[ImageFile]) -> Reconciled:
    """`plan`, then the moves as one batch and the new names in one transaction."""
    faces = {int(f.id): f for f in store.faces()}  # type: ignore[arg-type]
    out = plan(folder, files, faces)
    out.moved = move_batch(folder, sorted(out.moved), "the face image")
    changed = {fid: name for fid, name in out.names.items() if faces[fid].image != name}
    store.set_face_images(changed)  # type: ignore[arg-type]
    out.updated = sorted(changed)
    return out


def _store_name(face: Face) -> str:
    return face_image_name(face.frame, face.index)
