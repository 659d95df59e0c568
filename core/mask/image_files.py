"""`facegraft mask export|import`: named masks as image files, for compositors and for editing.

Face space: one 8-bit grey PNG per face, at the face's stored crop size, named like its face image
(``001001_0.png``: frame and index); import also takes ``<face id>.png`` and the face's current image
name in faces/. An 8-bit grey PNG goes back into the store exactly (export then import changes no byte).
Frame space: one plate-sized PNG per frame (``<name>.1001.png``), every face's mask warped back onto the
plate with the inverse of its alignment matrix (the maximum where faces overlap); frames without a face
get a black image so the sequence has no holes. Importing frame-space images warps them into each face's
crop (resampled, so not byte-exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.images import read_image
from facegraft.io.sequence import IMAGE_EXTENSIONS, frame_of_name
from facegraft.progress import Progress
from facegraft.registry import require_choice
from facegraft.store.alignments import AlignmentsStore, Face
from facegraft.store.face_images import face_image_name

SPACES = ("face", "frame")


@dataclass
class TransferSummary:
    """What an export or import did: files written or read, faces touched, faces lacking the mask."""

    folder: Path
    name: str
    space: str
    files: int
    faces: int
    without_mask: int = 0

    def as_dict(self) -> dict:
        return {**self.__dict__, "folder": str(self.folder)}


def _space(space: str) -> None:
    require_choice(space, SPACES, "mask space")


def _png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(mask))
    if not ok:
        raise InputError("could not PNG-encode a mask")
    return buf.tobytes()


def warp_mask(mask: np.ndarray, matrix: np.ndarray, size: tuple[int, int], to_frame: bool) -> np.ndarray:
    """A uint8 mask moved between the plate and a face's crop by its (2, 3) plate -> crop matrix: with
    `to_frame` an (S, S) crop mask onto a plate of `size` (W, H), else a plate mask into a crop of `size`
    (S, S); 0 wherever the source does not reach."""
    flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if to_frame else 0)
    matrix = np.asarray(matrix, np.float64)
    return cv2.warpAffine(mask, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def export_masks(
    shot: str | Path, out: str | Path, name: str, space: str = "face", progress_mode: str = "quiet"
) -> TransferSummary:
    """Write the stored mask `name` of every face of `shot` into `out` as PNGs in face or frame space."""
    _space(space)
    out = Path(out)
    files = faces_done = lacking = 0
    with AlignmentsStore.open(shot) as store:
        if not any(name in store.masks(int(f.id)) for f in store.faces()):
            raise InputError(f"no face of this shot carries a '{name}' mask", store.path)
        out.mkdir(parents=True, exist_ok=True)
        sizes = store.frame_sizes()
        progress = Progress(len(sizes), "mask-export", progress_mode, unit="frames")
        for rec in store.iter_frames(load_masks=True):
            carrying = [f for f in rec.faces if name in f.masks and f.matrix is not None]
            lacking += len(rec.faces) - len(carrying)
            if space == "face":
                for f in carrying:
                    write_bytes_atomic(out / face_image_name(f.frame, f.index), _png(f.masks[name]), "a mask")
            else:
                canvas = np.zeros((rec.height, rec.width), np.uint8)
                for f in carrying:
                    plate_mask = warp_mask(f.masks[name], f.matrix, (rec.width, rec.height), to_frame=True)
                    canvas = np.maximum(canvas, plate_mask)
                write_bytes_atomic(out / f"{name}.{rec.frame:04d}.png", _png(canvas), "a mask")
                files += 1
            faces_done += len(carrying)
            progress.update(1, frame=rec.frame)
        progress.close()
    return TransferSummary(out, name, space, faces_done if space == "face" else files, faces_done, lacking)


def read_mask_image(path: Path) -> np.ndarray:
    """(H, W) uint8 mask from an image file: its first (or only, or grey) channel; 16-bit and float
    images are scaled to 0..255."""
    pixels = read_image(path, ("R",))[:, :, 0]
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return np.clip(np.nan_to_num(pixels.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _mask_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError("no such folder of mask images", folder)
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lstrip(".").lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise InputError("the folder holds no mask images", folder)
    return files


def _face_index(faces: list[Face]) -> dict[str, Face]:
    """Face-space file stems -> faces: the face id, the face image's current name and its store name."""
    index: dict[str, Face] = {}
    for f in faces:
        index[str(f.id)] = f
        index[Path(face_image_name(f.frame, f.index)).stem] = f
        if f.image:
            index[Path(f.image).stem] = f
    return index


def import_masks(
    shot: str | Path, folder: str | Path, name: str, space: str = "face", progress_mode: str = "quiet"
) -> TransferSummary:
    """Store the mask images of `folder` as mask `name` of the faces they name, all in one transaction.

    Every image must name a face of the shot (face space) or a stored frame (frame space) and have its
    size (the face's crop size, or the plate frame's); otherwise nothing is stored."""
    _space(space)
    if not name or not name.isprintable():
        raise InputError(f"bad mask name {name!r}")
    folder = Path(folder)
    files = _mask_files(folder)
    with AlignmentsStore.open(shot) as store:
        faces = [f for f in store.faces() if f.matrix is not None]
        if space == "face":
            todo = _face_masks(files, _face_index(faces))
        else:
            todo = _frame_masks(files, faces, store.frame_sizes())
        progress = Progress(len(todo), "mask-import", progress_mode, unit="faces")
        with store.transaction():
            for face_id, mask in todo.items():
                store.set_mask(face_id, name, mask)
                progress.update(1)
        progress.close()
    return TransferSummary(folder, name, space, len(files), len(todo))


def _face_masks(files: list[Path], index: dict[str, Face]) -> dict[int, np.ndarray]:
    todo: dict[int, np.ndarray] = {}
    for path in files:
        face = index.get(path.stem)
        if face is None:
            raise InputError(
                "names no face of this shot (name face-space masks by face id, e.g. 17.png, or by face "
                "image, e.g. 001001_0.png)",
                path,
            )
        mask = read_mask_image(path)
        if mask.shape != (face.size, face.size):
            raise InputError(
                f"is {mask.shape[1]}x{mask.shape[0]}, face {face.id} is a {face.size}x{face.size} crop",
                path,
            )
        if int(face.id) in todo:
            raise InputError(f"a second mask for face {face.id} (frame {face.frame})", path)
        todo[int(face.id)] = mask
    return todo


def _frame_masks(
    files: list[Path], faces: list[Face], sizes: dict[int, tuple[int, int]]
) -> dict[int, np.ndarray]:
    by_frame: dict[int, list[Face]] = {}
    for f in faces:
        by_frame.setdefault(f.frame, []).append(f)
    todo: dict[int, np.ndarray] = {}
    seen: set[int] = set()
    for path in files:
        frame = frame_of_name(path.name)
        if frame is None or frame not in sizes:
            raise InputError("names no stored frame of this shot (expected NAME.<frame>.png)", path)
        if frame in seen:
            raise InputError(f"a second mask image for frame {frame}", path)
        seen.add(frame)
        mask = read_mask_image(path)
        width, height = sizes[frame]
        if mask.shape != (height, width):
            raise InputError(f"is {mask.shape[1]}x{mask.shape[0]}, the plate is {width}x{height}", path)
        for f in by_frame.get(frame, []):
            todo[int(f.id)] = warp_mask(mask, f.matrix, (f.size, f.size), to_frame=False)
    return todo
