"""One shot open on the review page: its store, its plate read in the working encoding, the face finder its
extraction used, and the aligned face images rewritten after an edit.

The engine service keeps one `ReviewShot` per shot (`ShotRegistry`), so the plate stays open, recent frames
stay decoded and the detector and landmarker load once. Edits run one at a time (`ShotRegistry.edit_lock`);
each is also one store transaction checked against face revisions, so other processes are safe too.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.extract.pipeline import ExtractOptions, build_tracker
from facegraft.extract.tracker import FaceFinder
from facegraft.geometry.alignment import warp_face
from facegraft.io.colour import ColourConverter, resolve_colourspace
from facegraft.io.plate import Plate, open_plate
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import write_face_image
from facegraft.store.shot import FACES_DIR, Shot

KEEP_FRAMES = 6  # decoded working frames kept per shot: the frame on screen and its neighbours


class NoStore(InputError):
    """The review page was asked for a folder that holds no alignments store (HTTP 404)."""


def extract_options(settings: dict) -> ExtractOptions:
    """The extraction options a shot was made with (its stored `extract` setting), defaults elsewhere."""
    known = {f.name for f in dataclasses.fields(ExtractOptions)}
    values = {k: v for k, v in settings.items() if k in known}
    if "masks" in values:
        values["masks"] = tuple(values["masks"])
    return ExtractOptions(**values)


class ReviewShot:
    """A shot's plate, finder and face images for the review page; `check_path` vets the plate's path."""

    def __init__(self, db: Path, check_path: Callable[[str], str]) -> None:
        self.db = db
        self.shot_dir = db.parent
        self.lock = threading.RLock()  # the open plate and its decoded frames
        self._check_path = check_path
        self._plate: Plate | None = None
        self._plate_key: tuple[str, str] | None = None
        self._converter: ColourConverter | None = None
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._finder: tuple[str, FaceFinder] | None = None

    def store(self) -> AlignmentsStore:
        """A new connection to the shot's store (one per request: connections stay in their thread)."""
        return AlignmentsStore.open(self.db)

    def options(self, store: AlignmentsStore) -> ExtractOptions:
        """The shot's extraction options."""
        return extract_options(store.setting("extract", {}) or {})

    def _open_plate(self, store: AlignmentsStore) -> Plate:
        info = store.plate()
        if not info.get("path"):
            raise InputError("the store does not record its plate", str(self.db))
        path = self._check_path(str(info["path"]))
        key = (path, str(info.get("colourspace") or ""))
        if self._plate is None or self._plate_key != key:
            if self._plate is not None:
                self._plate.close()
            self._plate = open_plate(path)
            space = info.get("colourspace") or self._plate.default_colourspace
            self._converter = ColourConverter(resolve_colourspace(space))
            self._plate_key = key
            self._frames.clear()
        return self._plate

    def frame_rgb(self, store: AlignmentsStore, frame: int) -> np.ndarray:
        """(H, W, 3) uint8 plate frame in the working (display-referred) encoding, as extraction saw it."""
        with self.lock:
            plate = self._open_plate(store)
            if frame in self._frames:
                self._frames.move_to_end(frame)
                return self._frames[frame]
            assert self._converter is not None
            rgb = self._converter.to_working_uint8(plate.read(int(frame)))
            rgb.flags.writeable = False
            self._frames[frame] = rgb
            while len(self._frames) > KEEP_FRAMES:
                self._frames.popitem(last=False)
            return rgb

    def finder(self, store: AlignmentsStore) -> FaceFinder:
        """The detector, landmarker and verifier the shot was extracted with, loaded once."""
        opts = self.options(store)
        key = repr((opts.detector, opts.landmarker, opts.detect_width, opts.min_confidence, opts.ensemble))
        with self.lock:
            if self._finder is None or self._finder[0] != key:
                self._finder = (key, build_tracker(dataclasses.replace(opts, embeddings=False)).finder)
            return self._finder[1]

    def faces_dir(self) -> Path | None:
        """SHOTDIR/faces, or None when the shot was extracted without face images."""
        folder = self.shot_dir / FACES_DIR
        return folder if folder.is_dir() else None

    def image_path(self, name: str | None) -> Path | None:
        """The file of a stored face image name, inside SHOTDIR/faces only (a store naming a file outside
        it gets None: the service never reads or writes there)."""
        folder = self.faces_dir()
        if folder is None or not name:
            return None
        path = (folder / name).resolve()
        return path if folder.resolve() in path.parents else None

    def write_face_images(self, store: AlignmentsStore, face_ids: Iterable[int]) -> list[str]:
        """Rewrite the aligned face PNG of each face (those with an image name) from the plate; returns
        the names written. Tags are the ones extraction writes."""
        plate_name = Path(str(store.plate().get("path", ""))).name
        written = []
        for face_id in face_ids:
            face = store.face(face_id, load_masks=False)
            path = self.image_path(face.image) if face is not None else None
            if face is None or path is None or face.matrix is None:
                continue
            crop = warp_face(self.frame_rgb(store, face.frame), face.matrix, face.size)
            tags = dict(plate=plate_name, shot=self.shot_dir.name, face_id=face.id, frame=face.frame)
            tags.update(index=face.index, face_type=face.face_type, size=face.size)
            write_face_image(path, crop, tags)
            written.append(str(face.image))
        return written

    def remove_face_images(self, names: Iterable[str | None]) -> None:
        """Delete the face PNGs of faces that are gone (so the folder and the store agree)."""
        for name in names:
            path = self.image_path(name)
            if path is not None:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the plate."""
        with self.lock:
            if self._plate is not None:
                self._plate.close()
                self._plate = None


class ShotRegistry:
    """The shots open on review pages of this service, by store path; `check_path` vets every path.

    `edit_lock` runs edits one at a time: they share the detector, landmarker and identity models, which
    are not safe to call from two threads at once, and an edit's face images must follow its commit."""

    def __init__(self, check_path: Callable[[str], str]) -> None:
        self._check_path = check_path
        self._shots: dict[Path, ReviewShot] = {}
        self._lock = threading.Lock()
        self.edit_lock = threading.Lock()

    def get(self, shot: str) -> ReviewShot:
        """The shot at this folder (or .db path), which must hold an alignments store."""
        path = Path(self._check_path(shot))
        db = path if path.suffix == ".db" else Shot(path).db
        if not db.is_file():
            raise NoStore("no alignments store here (run extract first)", str(db))
        with self._lock:
            if db not in self._shots:
                self._shots[db] = ReviewShot(db, self._check_path)
            return self._shots[db]
