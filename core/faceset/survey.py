"""Measure every face of a faceset once: the columns that sorting, filtering, dedupe and reports read.

Store facts (pose, size in the plate, landmarks, embeddings) come from the alignments store; pixel facts
(sharpness, brightness, hue, histogram, thumbnail) from decoding each image once, in a thread pool
(OpenCV decodes without the GIL). Identity embeddings missing from the store are computed from the crop
and written back, so the next sort reads them for free.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from facegraft.errors import InputError
from facegraft.faceset import measures
from facegraft.faceset.collection import FaceItem, Faceset
from facegraft.geometry.alignment import face_size
from facegraft.progress import Progress
from facegraft.store.face_images import read_face_png

PIXEL_COLUMNS = ("sharpness", "brightness", "hue", "hist", "thumb", "dark")
STORE_COLUMNS = ("yaw", "pitch", "roll", "size", "mouth", "eyes", "outside")
ALL_COLUMNS = (*PIXEL_COLUMNS, *STORE_COLUMNS, "identity")


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _pixel_row(item: FaceItem) -> dict[str, object]:
    rgb = read_face_png(item.path)
    size = rgb.shape[0]
    region = measures.face_region(item.crop_landmarks(size), size)
    return {
        "sharpness": measures.sharpness(rgb, region),
        "brightness": measures.brightness(rgb, region),
        "hue": measures.hue(rgb, region),
        "hist": measures.colour_histogram(rgb, region),
        "thumb": measures.thumbnail(rgb),
        "dark": measures.dark_fraction(rgb),
    }


def _store_row(item: FaceItem, frame_sizes: dict[int, tuple[int, int]]) -> dict[str, float]:
    f = item.face
    if f is None:
        return {k: np.nan for k in STORE_COLUMNS}
    outside = np.nan
    if f.matrix is not None and f.frame in frame_sizes:
        outside = measures.outside_fraction(f.matrix, f.size, frame_sizes[f.frame])
    return {
        "yaw": f.pose[0],
        "pitch": f.pose[1],
        "roll": f.pose[2],
        "size": face_size(f.landmarks),
        "mouth": measures.mouth_openness(f.landmarks),
        "eyes": measures.eye_openness(f.landmarks),
        "outside": outside,
    }


def survey(
    faceset: Faceset, columns: Iterable[str], progress_mode: str = "quiet", cache_embeddings: bool = True
) -> dict[str, np.ndarray]:
    """The requested columns, one row per `faceset.items` entry (NaN where a face has no store record)."""
    wanted = set(columns)
    unknown = wanted - set(ALL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown survey columns {sorted(unknown)}")
    n = len(faceset.items)
    out: dict[str, np.ndarray] = {}
    if wanted & set(STORE_COLUMNS):
        sizes: dict[int, tuple[int, int]] = {}
        if faceset.store_path is not None:
            with faceset.open_store() as store:
                sizes = store.frame_sizes()
        rows = [_store_row(item, sizes) for item in faceset.items]
        for key in wanted & set(STORE_COLUMNS):
            out[key] = np.array([r[key] for r in rows], np.float64)
    if wanted & set(PIXEL_COLUMNS):
        progress = Progress(n, "faceset-measure", progress_mode, unit="faces")
        rows_px = []
        with ThreadPoolExecutor(_workers()) as pool:
            for row in pool.map(_pixel_row, faceset.items):
                rows_px.append(row)
                progress.update(1)
        progress.close()
        for key in wanted & set(PIXEL_COLUMNS):
            values = [r[key] for r in rows_px]
            out[key] = np.stack(values) if values and np.ndim(values[0]) else np.array(values, np.float64)
    if "identity" in wanted:
        out["identity"] = embeddings(faceset, progress_mode, cache_embeddings)
    return out


def embeddings(faceset: Faceset, progress_mode: str = "quiet", cache: bool = True) -> np.ndarray:
    """(N, 128) float32 identity embeddings: stored ones, the rest computed from the crops (and stored)."""
    from facegraft.extract import identity

    n = len(faceset.items)
    out = np.zeros((n, 128), np.float32)
    todo = []
    for i, item in enumerate(faceset.items):
        emb = item.face.embedding if item.face is not None else None
        if emb is not None and emb.shape == (128,):
            out[i] = emb
        else:
            todo.append(i)
    if not todo:
        return out
    progress = Progress(len(todo), "faceset-identity", progress_mode, unit="faces")

    def compute(i: int) -> np.ndarray:
        item = faceset.items[i]
        rgb = read_face_png(item.path)
        return identity.embed(rgb, item.crop_landmarks(rgb.shape[0]))

    computed: dict[int, np.ndarray] = {}
    with ThreadPoolExecutor(_workers()) as pool:
        for i, emb in zip(todo, pool.map(compute, todo)):
            out[i] = emb
            computed[i] = emb
            progress.update(1)
    progress.close()
    if cache and faceset.store_path is not None:
        by_id = {
            faceset.items[i].face.id: emb  # type: ignore[union-attr]
            for i, emb in computed.items()
            if faceset.items[i].face is not None
        }
        if by_id:
            with faceset.open_store() as store:
                store.set_embeddings(by_id)  # type: ignore[arg-type]
            for i in computed:
                if faceset.items[i].face is not None:
                    faceset.items[i].face.embedding = out[i]  # type: ignore[union-attr]
    return out


def require_store_columns(faceset: Faceset, what: str) -> None:
    """InputError unless every image has its store record (pose, landmarks and size live there)."""
    if faceset.store_path is None:
        raise InputError(f"{what} needs the shot's alignments store (give the shot folder)", faceset.folder)
    missing = [item.path.name for item in faceset.items if item.face is None]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(
            f"{what}: {len(missing)} images are not faces of this store ({shown}); run `faceset clean`",
            faceset.folder,
        )
