"""Writes extracted frames in a background thread: masks, aligned crops, face PNGs and the store.

The analysis thread hands over each frame's face records and its working image; this thread renders the
landmark masks and aligned crops, commits the frames to the store in batches (one transaction each), then
writes the face images and records how far the images are complete, so a killed run redoes only frames
whose images may be missing.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np

from facegraft.geometry.alignment import warp_face
from facegraft.geometry.masks import landmark_masks
from facegraft.store.alignments import AlignmentsStore, FrameRecord
from facegraft.store.face_images import write_face_image

IMAGES_DONE_KEY = "extract.images_complete_through"
Rendered = tuple[FrameRecord, list[np.ndarray | None]]  # a frame's records and its faces' aligned crops


class ShotWriter:
    """Background writer for one extraction; `put` frames in order, then `close` (raises any failure)."""

    def __init__(
        self,
        db: Path,
        faces_dir: Path | None,
        masks: tuple[str, ...],
        batch_frames: int,
        tags: dict[str, str],
    ) -> None:
        self.db, self.faces_dir, self.masks, self.tags = db, faces_dir, masks, tags
        self.batch_frames = max(1, batch_frames)
        self._queue: queue.Queue = queue.Queue(maxsize=2 * self.batch_frames)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="facegraft-writer", daemon=True)
        self._thread.start()

    def put(self, rec: FrameRecord, rgb: np.ndarray) -> None:
        """Queue one frame (its faces without masks) and the (H, W, 3) uint8 working image they come from."""
        self._raise()
        self._queue.put((rec, rgb))

    def close(self) -> None:
        """Write what is queued and stop; re-raises a failure of the writer thread."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        store = None
        try:
            store = AlignmentsStore.open(self.db)
            batch: list[Rendered] = []
            while True:
                item = self._queue.get()
                if item is not None:
                    batch.append(self._render(*item))
                if batch and (item is None or len(batch) >= self.batch_frames):
                    self._flush(store, batch)
                    batch = []
                if item is None:
                    return
        except BaseException as exc:
            self._error = exc
            # Drain so the producer never blocks on a dead writer.
            while True:
                try:
                    if self._queue.get(timeout=0.5) is None:
                        break
                except queue.Empty:
                    break
        finally:
            if store is not None:
                store.close()

    def _render(self, rec: FrameRecord, rgb: np.ndarray) -> Rendered:
        """Masks and aligned crops of one frame's faces, made as soon as the frame arrives so the frame
        (6 MB at 1080p) is let go at once rather than held until its batch is written."""
        crops: list[np.ndarray | None] = []
        for face in rec.faces:
            face.masks = landmark_masks(face.landmarks, face.matrix, face.size, self.masks)
            crops.append(warp_face(rgb, face.matrix, face.size) if self.faces_dir else None)
        return rec, crops

    def _flush(self, store: AlignmentsStore, batch: list[Rendered]) -> None:
        store.write_frames([rec for rec, _ in batch])
        if self.faces_dir is None:
            return
        for rec, crops in batch:
            for face, crop in zip(rec.faces, crops):
                tags = {
                    **self.tags,
                    "face_id": face.id,
                    "frame": rec.frame,
                    "index": face.index,
                    "face_type": face.face_type,
                    "size": face.size,
                }
                write_face_image(self.faces_dir / face.image, crop, tags)
        store.set_setting(IMAGES_DONE_KEY, max(rec.frame for rec, _ in batch))
