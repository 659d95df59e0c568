"""`facegraft mask apply`: predict the visible face of every stored face and store it as a named mask.

Masks are stored in each face's aligned crop space at its stored size, uint8 0..255: the network's
probability made decisive (its 0.5 contour with an anti-aliased edge, model.decisive). All of a shot's
masks are replaced in one transaction: a killed run leaves the previous masks whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facegraft.errors import InputError
from facegraft.geometry.masks import MASKERS
from facegraft.mask.faces import face_crops
from facegraft.mask.model import load_mask_model
from facegraft.mask.options import LABEL, PREDICTED
from facegraft.progress import Progress
from facegraft.store.alignments import AlignmentsStore

BATCH = 16


@dataclass
class ApplySummary:
    """What an apply run did."""

    shot: Path
    name: str
    faces: int
    model_hash: str
    model_iteration: int

    def as_dict(self) -> dict:
        return {**self.__dict__, "shot": str(self.shot)}


def check_predicted_name(name: str) -> None:
    """Refuse names that would overwrite the landmark masks or the hand-made labels."""
    if not name or not name.isprintable():
        raise InputError(f"bad mask name {name!r}")
    if name in MASKERS or name == LABEL:
        raise InputError(
            f"--name {name} would overwrite the {'hand-made labels' if name == LABEL else 'landmark mask'}; "
            f"choose another name (default: {PREDICTED})"
        )


def apply_mask_model(
    shot: str | Path, model_dir: str | Path, name: str = PREDICTED, progress_mode: str = "auto"
) -> ApplySummary:
    """Store the mask model's prediction as mask `name` for every face of `shot` that has a matrix."""
    check_predicted_name(name)
    model = load_mask_model(model_dir)
    with AlignmentsStore.open(shot) as store:
        faces = [f for f in store.faces() if f.matrix is not None]
        if not faces:
            raise InputError("the shot holds no aligned faces to mask", store.path)
        other = sorted({f.face_type for f in faces} - {model.config.face_type})
        if other:
            raise InputError(
                f"the mask model learned '{model.config.face_type}' faces, this shot holds "
                f"'{other[0]}' faces (train a mask model on labels of this face type)",
                store.path,
            )
        progress = Progress(len(faces), "mask-apply", progress_mode, unit="faces")
        pending: list = []

        def flush() -> None:
            masks = model.predict_crops([crop for _, crop in pending])
            for (face, _), mask in zip(pending, masks):
                store.set_mask(int(face.id), name, mask)
            progress.update(len(pending), frame=pending[-1][0].frame)
            pending.clear()

        try:
            with store.transaction():
                for face, crop in face_crops(store, faces):
                    pending.append((face, crop))
                    if len(pending) == BATCH:
                        flush()
                if pending:
                    flush()
        except BaseException:
            progress.fail()
            raise
        progress.close()
    return ApplySummary(Path(shot), name, len(faces), model.hash, model.iteration)
