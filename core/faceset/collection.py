"""A faceset on disk: a folder of tagged face PNGs and, where there is one, the shot's alignments store.

`open_faceset` takes a shot folder (``alignments.db`` + ``faces/``), its ``faces/`` folder, or a bare
folder of face PNGs. Images are matched to store faces by the face id in their tags, never by file name,
so files renamed by a sort or grouped into sub-folders still resolve. Group folders made by a sort carry
a marker file; only those are searched, so a folder the user made to keep rejects out stays out.

The commands that gather faces from shots into a new faceset (`faceset merge`, `faceset export`) leave
out faces flagged ``landmarks-unreliable`` unless `GatherOptions.include_unreliable` says otherwise: their
landmarks are a coarse 5-point fit, so their crops and masks are not aligned like the others. Faces
flagged ``not-target`` are always left out: someone said they are not the person to replace.

`PersonChoice` is the ``--person`` of sort, filter, export and report: the faces of one person of a
grouped shot (`facegraft alignments persons`), named by id, name or photo.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.geometry.alignment import canonical_crop_landmarks, transform_points
from facegraft.io.atomic import move
from facegraft.options import opt
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, NOT_TARGET, AlignmentsStore, Face, Person
from facegraft.store.face_images import face_image_name, read_face_tags
from facegraft.store.shot import FACES_DIR, Shot

GROUP_MARKER = ".facegraft-group"
_SORT_PREFIX = re.compile(r"^\d+-")


@dataclass
class GatherOptions:
    """Options of the faceset commands that gather faces from shots into a new faceset (merge, export)."""

    include_unreliable: bool = opt(
        False,
        f"also take faces flagged {LANDMARKS_UNRELIABLE} (the 68-point fit failed: coarse landmarks, "
        "misaligned crops); they are skipped by default",
    )

    def left_out_by(self, face: Face | None) -> str | None:
        """The flag that keeps a face (None: an image without a store record) out of the new faceset, or
        None when it goes in."""
        if face is None:
            return None
        if NOT_TARGET in face.flags:
            return NOT_TARGET
        if not self.include_unreliable and LANDMARKS_UNRELIABLE in face.flags:
            return LANDMARKS_UNRELIABLE
        return None

    def takes(self, face: Face | None) -> bool:
        """Whether a face (None: an image without a store record) goes into the new faceset."""
        return self.left_out_by(face) is None


@dataclass
class PersonChoice:
    """The person a faceset command works on (sort, filter, export, report)."""

    person: str = opt(
        "",
        "only the faces of this person: a person id, name or reference photo "
        "(the shot must be grouped: facegraft alignments persons SHOTDIR)",
    )


def left_out_counts(gather: GatherOptions, faces: Iterable[Face | None]) -> dict[str, int]:
    """{flag: faces that flag kept out} for a gathering command's summary (only flags that did)."""
    counts: dict[str, int] = {}
    for f in faces:
        why = gather.left_out_by(f)
        if why is not None:
            counts[why] = counts.get(why, 0) + 1
    return counts


def flag_counts(faces: Iterable[Face | None]) -> dict[str, int]:
    """{flag: faces carrying it} for the flags some of the faces carry (None: an image without a record)."""
    counts: dict[str, int] = {}
    for f in faces:
        for flag in f.flags if f is not None else ():
            counts[flag] = counts.get(flag, 0) + 1
    return dict(sorted(counts.items()))


@dataclass
class FaceItem:
    """One face image of a faceset: its file, its face id (from the tags) and its store record."""

    path: Path
    face_id: int | None
    face: Face | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def canonical_name(self) -> str:
        """The name the image goes back to: ``frame_index.png`` from the store or the tags, else the file
        name without a sort prefix."""
        if self.face is not None:
            return face_image_name(self.face.frame, self.face.index)
        frame, index = self.tags.get("frame"), self.tags.get("index")
        if frame is not None and index is not None and _is_int(frame) and _is_int(index):
            return face_image_name(int(frame), int(index))
        return _SORT_PREFIX.sub("", self.path.name)

    def crop_landmarks(self, size: int) -> np.ndarray:
        """(68, 2) landmarks in the pixels of a `size` crop: the stored ones through the stored matrix, or
        the mean face of the tagged face type (an aligned crop puts the face there by construction)."""
        f = self.face
        if f is not None and f.matrix is not None:
            return transform_points(f.landmarks, f.matrix) * (size / f.size)
        return canonical_crop_landmarks(self.tags.get("face_type", "full"), size)


@dataclass
class Faceset:
    """The images of a faces folder, each matched to its store face when a store is known."""

    folder: Path
    store_path: Path | None
    items: list[FaceItem]
    person: Person | None = None  # the person the items were chosen from (None: every image)

    def __len__(self) -> int:
        return len(self.items)

    def open_store(self) -> AlignmentsStore:
        """The faceset's alignments store; InputError when the folder has none."""
        if self.store_path is None:
            raise InputError(
                "this folder has no alignments store beside it (a shot folder is needed)", self.folder
            )
        return AlignmentsStore.open(self.store_path)

    def relative(self, path: Path) -> str:
        """A path as the store records it: relative to the faces folder, with forward slashes."""
        return path.relative_to(self.folder).as_posix()


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


def locate(path: str | Path) -> tuple[Path, Path | None]:
    """(faces folder, alignments.db or None) for a shot folder, a faces folder or a bare image folder."""
    p = Path(path)
    if not p.is_dir():
        raise InputError("not a folder (give a shot folder or a folder of face images)", p)
    if Shot(p).db.is_file():
        faces = p / FACES_DIR
        if not faces.is_dir():
            raise InputError("the shot has no faces/ folder (extract with face images)", p)
        return faces, Shot(p).db
    if Shot(p.parent).db.is_file():
        return p, Shot(p.parent).db
    return p, None


def image_files(folder: Path) -> list[Path]:
    """Face PNGs of a faces folder and of the group folders a sort made in it, sorted by path."""
    found = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.name.lower().endswith(".png"):
            found.append(Path(entry.path))
        elif entry.is_dir() and (Path(entry.path) / GROUP_MARKER).is_file():
            found.extend(
                Path(e.path)
                for e in sorted(os.scandir(entry.path), key=lambda e: e.name)
                if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(".png")
            )
    return found


def open_faceset(path: str | Path, person: str = "") -> Faceset:
    """Scan a faceset folder and match every image to its store face (by the tagged face id).

    A tagged image whose face id the store does not hold keeps ``face=None``; two files claiming one
    face are both listed, the second without its store record, so nothing silently disappears. With
    `person` (an id, name or photo) only the images of that person's faces are listed."""
    from facegraft.persons.select import chosen_person

    folder, db = locate(path)
    faces: dict[int, Face] = {}
    chosen = None
    if person.strip() and db is None:
        raise InputError("--person needs a shot folder (its alignments store holds the persons)", folder)
    if db is not None:
        with AlignmentsStore.open(db) as store:
            faces = {int(f.id): f for f in store.faces()}  # type: ignore[arg-type]
            chosen = chosen_person(store, person)
    items: list[FaceItem] = []
    claimed: set[int] = set()
    for file in image_files(folder):
        tags = read_face_tags(file)
        tag = tags.get("face_id")
        face_id = int(tag) if tag is not None and _is_int(tag) else None
        face = faces.get(face_id) if face_id is not None and face_id not in claimed else None
        if face is not None:
            claimed.add(face_id)  # type: ignore[arg-type]
        items.append(FaceItem(file, face_id, face, tags))
    if chosen is not None:
        items = [i for i in items if i.face is not None and i.face.person_id == chosen.id]
    return Faceset(folder, db, items, chosen)


def make_group_folder(folder: Path, name: str) -> Path:
    """A group sub-folder of the faces folder, marked so that scans and `clean` know a sort made it."""
    group = folder / name
    group.mkdir(exist_ok=True)
    (group / GROUP_MARKER).write_text("made by facegraft faceset sort; `faceset clean` gathers it back\n")
    return group


def remove_empty_groups(folder: Path) -> list[Path]:
    """Delete group folders (marked ones only) that hold nothing but their marker."""
    removed = []
    for entry in os.scandir(folder):
        group = Path(entry.path)
        if entry.is_dir() and (group / GROUP_MARKER).is_file():
            if [e.name for e in os.scandir(group)] == [GROUP_MARKER]:
                (group / GROUP_MARKER).unlink()
                group.rmdir()
                removed.append(group)
    return removed


def require_new_folder(out: Path) -> None:
    """InputError unless `out` does not exist or is an empty folder (checked before any work starts)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("the output folder exists and is not empty", out)


@contextmanager
def new_shot_folder(out: Path, job: str) -> Iterator[Path]:
    """Build a new shot folder under a hidden temporary name (with its faces/ made) and rename it to `out`
    when the block succeeds; on failure nothing is left. `out` must not exist or be empty."""
    require_new_folder(out)
    tmp = out.parent / f".{out.name}.{job}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / FACES_DIR).mkdir(parents=True)
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        move(tmp, out, "the shot folder")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
