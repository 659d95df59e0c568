"""`faceset filter`: keep one person. Every face is compared with a reference identity (a face id of the
store, one of the faceset's images, any photo of the person, or with `--person` the stored person's mean
identity) by embedding distance; the others are listed, or moved out of the faces folder and flagged
not-target in the store, so neither training nor convert uses them (the review page can undo the flag).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.extract.identity import SAME_PERSON
from facegraft.extract.photo import photo_embedding
from facegraft.faceset.collection import Faceset, open_faceset
from facegraft.faceset.survey import embeddings
from facegraft.io.atomic import move_batch
from facegraft.options import opt
from facegraft.store.alignments import NOT_TARGET


@dataclass
class FilterOptions:
    """Options of `faceset filter`."""

    reference: str = opt("", "a face id of the store, a face image, or a photo of the person to keep")
    threshold: float = opt(SAME_PERSON, "embedding distance below which a face is the reference person")
    move: str = opt("", "move the other faces' images into this folder (default: only list them)")


@dataclass
class FilterResult:
    """Faces kept and the others, each as (path, distance to the reference)."""

    kept: list[tuple[Path, float]] = field(default_factory=list)
    others: list[tuple[Path, float]] = field(default_factory=list)
    moved_to: Path | None = None
    flagged: list[int] = field(default_factory=list)  # face ids flagged not-target by the move
    person: str | None = None

    def as_dict(self) -> dict:
        return {
            "kept": len(self.kept),
            "person": self.person,
            "others": [{"path": str(p), "distance": round(d, 4)} for p, d in self.others],
            "moved_to": None if self.moved_to is None else str(self.moved_to),
            "flagged_not_target": self.flagged,
        }


def reference_embedding(faceset: Faceset, reference: str, all_embeddings: np.ndarray) -> np.ndarray:
    """(128,) embedding of the reference: a face id, an image of this faceset, or a photo (detected)."""
    ref = reference.strip()
    if not ref:
        raise InputError("--reference is required (a face id, a face image or a photo)")
    if ref.lstrip("-").isdigit() and not Path(ref).exists():
        for i, item in enumerate(faceset.items):
            if item.face is not None and item.face.id == int(ref):
                return all_embeddings[i]
        raise InputError(f"face id {ref} has no image in this faceset", faceset.folder)
    path = Path(ref)
    if not path.is_file():
        raise InputError("reference not found (give a face id, a face image or a photo)", path)
    resolved = path.resolve()
    for i, item in enumerate(faceset.items):
        if item.path.resolve() == resolved:
            return all_embeddings[i]
    return photo_embedding(path)


def filter_faceset(
    path: str | Path, opts: FilterOptions, progress_mode: str = "quiet", person: str = ""
) -> FilterResult:
    """Split a faceset into the reference person and the others; move the others when asked, flagging
    their store faces not-target. With `person` only that person's faces are filtered, against the
    person's stored identity unless a reference is given (faces grouped into the wrong person go)."""
    faceset = open_faceset(path, person)
    if not faceset.items:
        who = f" of {faceset.person.label}" if faceset.person is not None else ""
        raise InputError(f"no face images{who} to filter", faceset.folder)
    emb = embeddings(faceset, progress_mode)
    chosen = faceset.person
    if not opts.reference.strip() and chosen is not None and chosen.embedding is not None:
        ref = chosen.embedding.astype(np.float64)
    else:
        ref = reference_embedding(faceset, opts.reference, emb)
    dist = np.linalg.norm(emb.astype(np.float64) - ref.astype(np.float64), axis=1)
    result = FilterResult(person=None if chosen is None else chosen.label)
    for item, d in zip(faceset.items, dist):
        (result.kept if d < opts.threshold else result.others).append((item.path, float(d)))
    if opts.move and result.others:
        dest = Path(opts.move)
        dest.mkdir(parents=True, exist_ok=True)
        by_path = {item.path: item for item in faceset.items}
        leaving = [by_path[p] for p, _ in result.others]
        ids = [int(i.face.id) for i in leaving if i.face is not None]  # type: ignore[arg-type]
        if ids:  # flagged first: a move cut short leaves faces flagged, never used unflagged
            with faceset.open_store() as store:
                store.set_flag(ids, NOT_TARGET)
        move_batch(faceset.folder, [(i.path, dest / i.canonical_name) for i in leaving])
        result.moved_to, result.flagged = dest, sorted(ids)
    return result
