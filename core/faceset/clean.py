"""`faceset clean`: make the store and the faces folder agree again after a user edited the folder.

Images the user kept get their store names back (``frame_index.png``, out of any group folder a sort
made); faces whose image the user deleted stay in the store flagged not-target, so training and convert
leave them out and the review page can bring them back (`alignments remove-deleted` removes them for
good); images that are not faces of this store are left where they are and reported. Files move first,
then one transaction updates the store, so a run killed half way is finished by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facegraft.faceset.collection import (
    open_faceset,
    remove_empty_groups,
)
from facegraft.io.atomic import move_batch, recover_moves
from facegraft.store.alignments import NOT_TARGET


@dataclass
class CleanResult:
    """Renamed files (old, new), the ids of faces whose image was deleted (now flagged not-target), and
    files left alone with the reason."""

    renamed: list[tuple[Path, Path]] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    orphans: list[tuple[Path, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "renamed": len(self.renamed),
            "dropped": self.dropped,
            "orphans": [[str(p), why] for p, why in self.orphans],
        }


def clean_faceset(shot: str | Path) -> CleanResult:
    """Rename kept images back to their store names and flag not-target the faces whose image was
    deleted."""
    first = open_faceset(shot)
    recover_moves(first.folder)
    faceset = open_faceset(shot)
    store = faceset.open_store()  # a shot is required: the store is what gets cleaned
    result = CleanResult()
    folder = faceset.folder
    orphan_paths = {item.path for item in faceset.items if item.face is None}
    kept: dict[int, str] = {}
    clear = []
    holders = {item.face_id for item in faceset.items if item.face is not None}
    for item in faceset.items:
        if item.face is None:
            if item.face_id is None:
                why = "no face id in its tags"
            elif item.face_id in holders:
                why = f"another file already holds face id {item.face_id}"
            else:
                why = f"face id {item.face_id} is not in this store"
            result.orphans.append((item.path, why))
            continue
        face_id = int(item.face.id)  # type: ignore[arg-type]
        target = folder / item.canonical_name
        if target in orphan_paths and target != item.path:
            why = f"its store name {target.name} is held by a file that is not its face"
            result.orphans.append((item.path, why))
            kept[face_id] = faceset.relative(item.path)
        else:
            kept[face_id] = item.canonical_name
            clear.append((item.path, target))
    result.renamed = move_batch(folder, clear)
    remove_empty_groups(folder)
    with store, store.transaction():
        faces = {int(f.id): f for f in store.faces()}  # type: ignore[arg-type]
        gone = [
            fid
            for fid, f in faces.items()
            if f.image is not None and fid not in kept and NOT_TARGET not in f.flags
        ]
        store.set_flag(gone, NOT_TARGET)
        store.set_face_images({fid: name for fid, name in kept.items() if faces[fid].image != name})
    result.dropped = sorted(gone)
    return result
