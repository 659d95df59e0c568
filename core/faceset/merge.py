"""`faceset merge`: several extractions' facesets into one training faceset, optionally without the
near-duplicates (a held shot gives hundreds of the same face) that only slow training.

The merged faceset is a shot folder of its own: ``alignments.db`` + ``faces/``. Source frames are
renumbered 1.. in argument order; each face keeps its landmarks, pose, embedding, matrix and masks, and
the store's ``faceset_origins`` setting maps every new face id to (source index, source face id, source
frame) with the sources listed in the plate record. Images are copied byte for byte with new tags. The
folder is built under a temporary name and renamed into place. Faces flagged landmarks-unreliable are left
out unless `GatherOptions.include_unreliable` (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.faceset.collection import (
    FACES_DIR,
    Faceset,
    GatherOptions,
    left_out_counts,
    new_shot_folder,
    open_faceset,
    require_new_folder,
)
from facegraft.faceset.survey import embeddings, require_store_columns, survey
from facegraft.io.atomic import write_bytes_atomic
from facegraft.progress import Progress
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, NOT_TARGET, AlignmentsStore, Face, FrameRecord
from facegraft.store.face_images import face_image_name, retag_face_png

# Near-duplicates are the same person (embedding distance below this) AND look the same (thumbnail
# distance below --dedupe). The identity gate keeps two people in the same light and pose apart.
# Measured on 32 px thumbnails of one face: re-exposed by 3-10% and shifted 1-3 px 0.006-0.027, head
# turned 10 degrees 0.07-0.08, light halved 0.12; so 0.04 drops the copies and keeps poses and light.
DUPLICATE_IDENTITY = 0.3
DEFAULT_DEDUPE = 0.04


@dataclass
class MergeResult:
    """Faces written, the dropped duplicates as (dropped image, the kept image it copies, distance), and
    how many flagged landmarks-unreliable or not-target were skipped."""

    out: Path
    faces: int = 0
    dropped: list[tuple[Path, Path, float]] = field(default_factory=list)
    skipped_unreliable: int = 0
    skipped_not_target: int = 0

    def as_dict(self) -> dict:
        return {
            "out": str(self.out),
            "faces": self.faces,
            "skipped_unreliable": self.skipped_unreliable,
            "skipped_not_target": self.skipped_not_target,
            "dropped": [
                {"image": str(a), "duplicate_of": str(b), "distance": round(d, 4)} for a, b, d in self.dropped
            ],
        }


def thumbnail_distances(thumb: np.ndarray, others: np.ndarray) -> np.ndarray:
    """RMS difference (0..1 units) between one (D,) thumbnail and each row of (K, D) thumbnails."""
    if len(others) == 0:
        return np.zeros(0)
    diff = others.astype(np.float32) - thumb.astype(np.float32)[None, :]
    return np.sqrt((diff * diff).mean(1))


def duplicates(emb: np.ndarray, thumbs: np.ndarray, threshold: float) -> dict[int, tuple[int, float]]:
    """{dropped index: (kept index it repeats, thumbnail distance)}: walking in order, a face is dropped
    when a face already kept is the same person and its thumbnail lies within `threshold`."""
    kept: list[int] = []
    dropped: dict[int, tuple[int, float]] = {}
    e = np.asarray(emb, np.float32)
    for i in range(len(e)):
        if kept:
            k = np.asarray(kept)
            same = np.linalg.norm(e[k] - e[i], axis=1) < DUPLICATE_IDENTITY
            if same.any():
                d = thumbnail_distances(thumbs[i], thumbs[k[same]])
                j = int(np.argmin(d))
                if d[j] < threshold:
                    dropped[i] = (int(k[same][j]), float(d[j]))
                    continue
        kept.append(i)
    return dropped


def merge_facesets(
    inputs: list[str | Path],
    out: str | Path,
    dedupe: float | None = None,
    progress_mode: str = "quiet",
    gather: GatherOptions | None = None,
) -> MergeResult:
    """Merge the facesets of several shot folders into the new shot folder `out`."""
    if not inputs:
        raise InputError("give at least one faceset to merge")
    gather = gather or GatherOptions()
    out = Path(out)
    require_new_folder(out)
    sets = [open_faceset(p) for p in inputs]
    for fs in sets:
        require_store_columns(fs, "merging")
    taken = [[item for item in fs.items if gather.takes(item.face)] for fs in sets]
    left_out = left_out_counts(gather, (item.face for fs in sets for item in fs.items))
    sets = [Faceset(fs.folder, fs.store_path, items) for fs, items in zip(sets, taken)]
    if left_out and not any(taken):
        raise InputError(
            "every face is flagged not-target or landmarks-unreliable (--include-unreliable takes the "
            "unreliable ones)",
            out,
        )
    kinds = {(i.face.face_type, i.face.size) for fs in sets for i in fs.items}  # type: ignore[union-attr]
    if len({k for k, _ in kinds}) > 1:
        raise InputError(
            "the facesets use different face types "
            f"({', '.join(sorted({k for k, _ in kinds}))}); rebuild them with `faceset export --face-type`",
            out,
        )
    entries = [(s, item) for s, fs in enumerate(sets) for item in sorted(fs.items, key=lambda i: i.face.id)]  # type: ignore[union-attr]
    dropped: dict[int, tuple[int, float]] = {}
    if dedupe is not None:
        emb = np.concatenate([embeddings(fs, progress_mode) for fs in sets])
        thumbs = np.concatenate([survey(fs, ["thumb"], progress_mode)["thumb"] for fs in sets])
        # survey/embeddings follow each faceset's item order; entries sort by face id within a faceset.
        flat = [(s, item) for s, fs in enumerate(sets) for item in fs.items]
        pos = {id(item): n for n, (_, item) in enumerate(flat)}
        perm = np.array([pos[id(item)] for _, item in entries], np.int64)
        dropped = duplicates(emb[perm], thumbs[perm], dedupe)
    result = MergeResult(
        out=out,
        skipped_unreliable=left_out.get(LANDMARKS_UNRELIABLE, 0),
        skipped_not_target=left_out.get(NOT_TARGET, 0),
    )
    result.dropped = [(entries[i][1].path, entries[j][1].path, d) for i, (j, d) in sorted(dropped.items())]
    with new_shot_folder(out, "merging") as tmp:
        kept = [e for i, e in enumerate(entries) if i not in dropped]
        result.faces = _write(tmp, sets, kept, progress_mode)
    return result


def _write(tmp: Path, sets: list[Faceset], entries: list, progress_mode: str) -> int:
    stores = [fs.open_store() for fs in sets]
    try:
        return _write_from(tmp, sets, stores, entries, progress_mode)
    finally:
        for store in stores:
            store.close()


def _write_from(
    tmp: Path, sets: list[Faceset], stores: list[AlignmentsStore], entries: list, progress_mode: str
) -> int:
    sources = [{"shot": str(fs.folder.parent.resolve()), "plate": st.plate()} for fs, st in zip(sets, stores)]
    sizes = [st.frame_sizes() for st in stores]
    origins: dict[str, list[int]] = {}
    progress = Progress(len(entries), "faceset-merge", progress_mode, unit="faces")
    frame_of: dict[tuple[int, int], int] = {}
    records: dict[int, FrameRecord] = {}
    with AlignmentsStore.open(tmp, create=True) as out_store:
        out_store.set_plate({"kind": "faceset", "sources": sources})
        track_base = [0]
        for fs in sets[:-1]:
            tracks = [i.face.track_id for i in fs.items if i.face.track_id is not None]  # type: ignore[union-attr]
            track_base.append(track_base[-1] + (max(tracks) + 1 if tracks else 0))
        pending: list[tuple[int, object, Face]] = []
        for s, item in entries:
            src_face: Face = item.face
            key = (s, src_face.frame)
            if key not in frame_of:
                frame_of[key] = len(frame_of) + 1
                width, height = sizes[s].get(src_face.frame, (0, 0))
                records[frame_of[key]] = FrameRecord(frame=frame_of[key], width=width, height=height)
            rec = records[frame_of[key]]
            masks = stores[s].masks(int(src_face.id))  # type: ignore[arg-type]
            face = Face(
                frame=rec.frame,
                index=len(rec.faces),
                box=src_face.box,
                score=src_face.score,
                landmarks=src_face.landmarks,
                pose=src_face.pose,
                embedding=src_face.embedding,
                track_id=None if src_face.track_id is None else src_face.track_id + track_base[s],
                matrix=src_face.matrix,
                face_type=src_face.face_type,
                size=src_face.size,
                masks=masks,
                image=face_image_name(rec.frame, len(rec.faces)),
                landmark_confidence=src_face.landmark_confidence,
                flags=src_face.flags,
            )
            rec.faces.append(face)
            pending.append((s, item, face))
        out_store.write_frames(list(records.values()))
        for s, item, face in pending:
            origins[str(face.id)] = [s, int(item.face.id), int(item.face.frame)]
            data = retag_face_png(
                item.path.read_bytes(),
                {
                    **{k: v for k, v in item.tags.items() if k not in ("face_id", "frame", "index")},
                    "face_id": face.id,
                    "frame": face.frame,
                    "index": face.index,
                    "shot": tmp.name.split(".merging-")[0].lstrip("."),
                    "source_face_id": item.face.id,
                },
            )
            write_bytes_atomic(tmp / FACES_DIR / face.image, data, "the face image")  # type: ignore[operator]
            progress.update(1)
        out_store.set_setting("faceset_origins", origins)
    progress.close()
    return len(pending)
