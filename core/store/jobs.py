"""The ``alignments`` jobs run on a shot: list frames, drop faces whose image was deleted, restore names.

Pure logic over the store and the faces folder; each job returns what it found or did, the CLI prints it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from facegraft.errors import InputError
from facegraft.io.atomic import recover_moves
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import read_face_tags
from facegraft.store.reconcile import ImageFile, Reconciled, reconcile
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


def rename_face_images(store: AlignmentsStore, faces_dir: Path | None = None) -> Reconciled:
    """Give every tagged face PNG of the faces folder its store name again (``frame_index.png``) and record
    it on the face; files that are not faces of this store, or whose name is held, are left alone and
    reported (`facegraft.store.reconcile`)."""
    folder = _faces_dir(store, faces_dir)
    recover_moves(folder)
    files = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()):
        if path.name.startswith("."):
            continue
        try:
            tag = read_face_tags(path).get("face_id")
        except InputError as exc:
            files.append(ImageFile(path, None, str(exc)))
            continue
        face_id = int(tag) if tag is not None and tag.strip().lstrip("-").isdigit() else None
        files.append(ImageFile(path, face_id))
    with store.transaction():
        result = reconcile(store, folder, files)
    for path, why in result.orphans:
        log.warning("%s: left alone (%s)", path, why)
    return result
