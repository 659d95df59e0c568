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

from facegraft.faceset.collection import open_faceset, remove_empty_groups
from facegraft.io.atomic import recover_moves
from facegraft.store.alignments import NOT_TARGET
from facegraft.store.reconcile import ImageFile, reconcile


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
    deleted (the reconcile of `facegraft.store.reconcile`, then the flags)."""
    recover_moves(open_faceset(shot).folder)
    faceset = open_faceset(shot)
    store = faceset.open_store()  # a shot is required: the store is what gets cleaned
    folder = faceset.folder
    files = [ImageFile(item.path, item.face_id) for item in faceset.items]
    with store, store.transaction():
        done = reconcile(store, folder, files)
        gone = [
            int(f.id)  # type: ignore[arg-type]
            for f in store.faces()
            if f.image is not None and int(f.id) not in done.names and NOT_TARGET not in f.flags  # type: ignore[arg-type]
        ]
        store.set_flag(gone, NOT_TARGET)
    remove_empty_groups(folder)
    return CleanResult(done.moved, sorted(gone), done.orphans)
