"""The alignments store: one SQLite file per plate holding frames, faces, landmarks, matrices and masks.

Every write is one transaction (rollback journal, so the database is a single file once closed): a process
killed mid-write leaves each frame either whole or absent. Arrays are little-endian BLOBs (landmarks and
embedding float32, matrix float64). Masks are stored losslessly as PNG (OpenCV, compression 3; codec
``"png"``); version-1 masks stay readable as raw zlib (codec ``"zlib"``).

Face ids come from a counter in ``meta`` (never AUTOINCREMENT): writing the same frames in the same order
into a fresh store gives the same ids, ids are never reused, and rewriting a frame gives its faces fresh ids.

Each frame records whether a hard cut lies just before it (``cut``); `facegraft.store.shots` groups the
frames into shots from that. Each face carries a landmark confidence (0..1) and flags: names from
`FACE_FLAGS` saying what a consumer should beware of (unknown names are refused on write).

Hand edits (the review page) go through `AlignmentsStore.edit`: each checks the revision of every face it
changes against the one its editor saw (a moved-on face raises `RevisionConflict`, nothing is written),
and journals what it replaced, so `AlignmentsStore.undo` puts the latest edit back in one transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegraft.errors import StoreError
from facegraft.io.png import encode_png
from facegraft.store import schema, versioned
from facegraft.store.shot import STORE_NAME, store_path

_FACE_COLUMNS = (
    "id, frame, idx, x0, y0, x1, y1, score, landmarks, yaw, pitch, roll, embedding, track_id, matrix,"
    " face_type, size, image, landmark_confidence, flags, person_id"
)
# Every faces column: what reads return and what the edit journal copies out and back.
_FACE_ALL = f"{_FACE_COLUMNS}, revision"
_FACE_MARKS = ", ".join("?" * len(_FACE_COLUMNS.split(",")))
_MASK_ALL = "face_id, name, data, codec, height, width"
_FRAME_COLUMNS = "frame, pts, pts_raw, time_base, width, height, cut"
_PAGE = 512  # frames fetched per query while iterating
_TOUCH = "INSERT OR REPLACE INTO meta (key, value) SELECT key, value FROM meta WHERE key = 'format'"
_INSERT_MASK = "INSERT INTO masks (face_id, name, data, codec, height, width) VALUES (?, ?, ?, ?, ?, ?)"

# Face flags: what a face's consumers (faceset tools, training, the review page) should beware of.
LANDMARKS_UNRELIABLE = "landmarks-unreliable"
"""The 68-point model could not fit (large yaw, heavy occlusion): the stored landmarks are only a coarse
fit from the detector's 5 points."""
NOT_TARGET = "not-target"
"""Someone dropped the face (faceset filter or clean, the review page): it is not the person to replace,
so training never learns from it and convert never swaps it."""
FACE_FLAGS: tuple[str, ...] = (LANDMARKS_UNRELIABLE, NOT_TARGET)


@dataclass
class Face:
    """One detected face of one frame, in plate pixels."""

    frame: int
    index: int
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    embedding: np.ndarray | None = None
    track_id: int | None = None
    matrix: np.ndarray | None = None
    face_type: str = "full"
    size: int = 512
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    image: str | None = None
    id: int | None = None
    revision: int = 0  # set when read from the store: 1 when written, +1 on each change (0: not stored)
    landmark_confidence: float = 1.0  # 0..1: how well the 68 landmarks sit on the face
    flags: tuple[str, ...] = ()  # names from FACE_FLAGS
    person_id: int | None = None  # the person the face belongs to (None: not grouped into persons)


@dataclass
class Person:
    """One person of the shot: its faces carry its id; `name` is '' until someone names it."""

    id: int
    name: str = ""
    embedding: np.ndarray | None = None  # (128,) float32 mean identity descriptor
    photo: str | None = None  # the reference photo the person was matched to, if any

    @property
    def label(self) -> str:
        """The name, or ``person<id>`` for an unnamed person."""
        return self.name or f"person{self.id}"


@dataclass
class FrameRecord:
    """One plate frame that extraction has visited, with the faces found on it (possibly none)."""

    frame: int
    pts: float | None = None
    pts_raw: int | None = None
    time_base: str | None = None
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    cut: bool = False  # first frame of a new shot: a hard cut lies just before it (not the plate's first)


@dataclass(frozen=True)
class FrameSummary:
    """One stored frame at a glance: whether a cut lies before it, its face count, how many of its faces
    carry flags, its lowest face score (None without faces) and its faces' track ids (sorted)."""

    frame: int
    cut: bool
    faces: int
    flagged: int
    lowest_score: float | None
    tracks: tuple[int, ...]


def _f32(array: np.ndarray, what: str, shape: tuple[int | None, ...]) -> bytes:
    """Check an array's shape (None = any length) and return it as little-endian float32 bytes."""
    return _blob(array, what, shape, "<f4")


def _blob(array: np.ndarray, what: str, shape: tuple[int | None, ...], dtype: str) -> bytes:
    a = np.asarray(array)
    if a.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(a.shape, shape, strict=True)
    ):
        want_text = "x".join("N" if s is None else str(s) for s in shape)
        raise StoreError(f"{what} must have shape {want_text}, got {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


def encode_mask(mask: np.ndarray) -> tuple[bytes, str, int, int]:
    """Compress a 2-D uint8 mask losslessly; returns (data, codec, height, width)."""
    m = np.asarray(mask)
    if m.ndim != 2 or m.dtype != np.uint8 or 0 in m.shape:
        raise StoreError(f"a mask must be a non-empty 2-D uint8 array, got {m.dtype} {m.shape}")
    return encode_png(m), "png", m.shape[0], m.shape[1]


def decode_mask(data: bytes, codec: str, height: int, width: int) -> np.ndarray:
    """Inverse of encode_mask, also reading version-1 raw zlib masks."""
    if codec == "png":
        m = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if m is None or m.shape != (height, width):
            raise StoreError(f"a stored mask is corrupt (expected PNG {height}x{width})")
        return m
    if codec == "zlib":
        raw = zlib.decompress(data)
        if len(raw) != height * width:
            raise StoreError(f"a stored mask is corrupt ({len(raw)} bytes for {height}x{width})")
        return np.frombuffer(raw, np.uint8).reshape(height, width).copy()
    raise StoreError(f"a stored mask uses unknown codec {codec!r}")


class EditConflict(StoreError):
    """An edit or undo refused because what it was made against has changed since (HTTP 409)."""


class RevisionConflict(EditConflict):
    """An edit named a face revision the store has moved past: another editor changed or removed the face."""

    def __init__(self, face_id: int, expected: int, current: int | None, path: str | Path | None = None):
        self.face_id, self.expected, self.current = int(face_id), int(expected), current
        state = "has been removed" if current is None else f"is now at revision {current}"
        super().__init__(f"face {face_id} {state}; the edit was made against revision {expected}", path)


@dataclass
class EditRecord:
    """One journaled edit: its number, time (seconds since the epoch), kind, details, and if undone."""

    id: int
    at: float
    kind: str
    detail: dict
    undone: bool = False


@dataclass
class UndoResult:
    """What an undo did: the edit, faces put back (ids), faces it took away again (id -> image name, the
    faces the edit had added) and frames whose review state it restored."""

    edit: EditRecord
    restored: list[int]
    removed: dict[int, str | None]
    frames: list[int]


class Edit:
    """One journaled change inside the store's transaction; get one from `AlignmentsStore.edit`.

    Every existing face is checked with `expect` (its revision must be the one the editor saw) before it
    is changed or removed, and what it held is copied to the journal then, so undo can put it back."""

    def __init__(self, store: AlignmentsStore, edit_id: int) -> None:
        self._store = store
        self.id = edit_id
        self._seen: set[int] = set()

    def expect(self, face_id: int, revision: int) -> Face:
        """The face (with its masks) once checked to be at `revision`; RevisionConflict otherwise."""
        current = self._store.face_revision(face_id)
        if current != int(revision):
            raise RevisionConflict(face_id, revision, current, self._store.path)
        if face_id not in self._seen:
            self._seen.add(int(face_id))
            conn, args = self._store._conn, (self.id, int(face_id))
            conn.execute(
                f"INSERT INTO edit_faces (edit_id, existed, {_FACE_ALL}) SELECT ?, 1, {_FACE_ALL}"
                " FROM faces WHERE id = ?",
                args,
            )
            conn.execute(
                f"INSERT INTO edit_masks (edit_id, {_MASK_ALL}) SELECT ?, {_MASK_ALL} FROM masks"
                " WHERE face_id = ?",
                args,
            )
        return self._store.face(face_id, load_masks=True)  # type: ignore[return-value]

    def _require(self, face_id: int | None) -> int:
        if face_id is None or int(face_id) not in self._seen:
            raise StoreError(f"edit {self.id}: face {face_id} was changed without being checked first")
        return int(face_id)

    def replace_face(self, face: Face) -> None:
        """Write every field of a checked face (id, frame and index kept) and its `masks` (replacing those
        names; other stored masks stay); its revision moves on by one."""
        face_id = self._require(face.id)
        names = [c.strip() for c in _FACE_COLUMNS.split(",")][1:]
        sets = ", ".join(f"{c} = ?" for c in names)
        conn = self._store._conn
        conn.execute(
            f"UPDATE faces SET {sets}, revision = revision + 1 WHERE id = ?", (*_face_row(face)[1:], face_id)
        )
        for name, mask in face.masks.items():
            conn.execute("DELETE FROM masks WHERE face_id = ? AND name = ?", (face_id, name))
            conn.execute(_INSERT_MASK, (face_id, name, *encode_mask(mask)))

    def set_mask(self, face_id: int, name: str, mask: np.ndarray) -> None:
        """Store (or replace) one named mask of a checked face; its revision moves on by one."""
        fid = self._require(face_id)
        conn = self._store._conn
        conn.execute("DELETE FROM masks WHERE face_id = ? AND name = ?", (fid, name))
        conn.execute(_INSERT_MASK, (fid, name, *encode_mask(mask)))
        conn.execute("UPDATE faces SET revision = revision + 1 WHERE id = ?", (fid,))

    def remove_face(self, face_id: int) -> None:
        """Delete a checked face and its masks."""
        self._store._conn.execute("DELETE FROM faces WHERE id = ?", (self._require(face_id),))

    def add_face(self, face: Face) -> int:
        """Insert a new face of a stored frame at a free index, with a fresh id (set on `face`, returned)."""
        if not self._store.has_frame(face.frame):
            raise StoreError(f"frame {face.frame} is not in the store", str(self._store.path))
        taken = {f.index for f in self._store.faces(face.frame)}
        if face.index in taken:
            raise StoreError(f"frame {face.frame} already has a face at index {face.index}")
        (face_id,) = self._store._insert_faces([face])
        self._seen.add(face_id)
        self._store._conn.execute(
            "INSERT INTO edit_faces (edit_id, id, existed) VALUES (?, ?, 0)", (self.id, face_id)
        )
        return face_id

    def set_reviewed(self, frame: int, reviewed: bool) -> None:
        """Mark a stored frame as accepted by a person (or not)."""
        conn = self._store._conn
        conn.execute(
            "INSERT OR IGNORE INTO edit_frames (edit_id, frame, reviewed) SELECT ?, frame, reviewed"
            " FROM frames WHERE frame = ?",
            (self.id, int(frame)),
        )
        cur = conn.execute(
            "UPDATE frames SET reviewed = ? WHERE frame = ?", (time.time() if reviewed else None, int(frame))
        )
        if cur.rowcount == 0:
            raise StoreError(f"frame {frame} is not in the store", str(self._store.path))

    def _finish(self) -> None:
        self._store._conn.execute(
            "UPDATE edit_faces SET after_revision ="
            " (SELECT revision FROM faces WHERE faces.id = edit_faces.id) WHERE edit_id = ?",
            (self.id,),
        )


class AlignmentsStore:
    """Frames and faces of one plate in ``SHOTDIR/alignments.db``; open with ``AlignmentsStore.open``."""

    DEFAULT_NAME = STORE_NAME

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.shot_dir = path.parent
        self._depth = 0

    # -- opening ---------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = False) -> AlignmentsStore:
        """Open the store at a .db file or a shot folder; create it when asked; upgrade an older schema."""
        db = store_path(Path(path))
        if not db.is_file():
            if not create:
                raise StoreError("no alignments store here (run extract first)", str(db))
            db.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(db), timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the alignments store ({exc})", str(db)) from exc
        store = cls(conn, db)
        try:
            store._prepare(create)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"not an SQLite database or corrupt ({exc})", str(db)) from exc
        except BaseException:
            conn.close()
            raise
        return store

    def _prepare(self, create: bool) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA foreign_keys=ON")
        versioned.prepare(conn, schema.LAYOUT, self.path, create, self.transaction)
        if Path(f"{self.path}-journal").exists():
            # A killed writer left a journal: reading rolled back a hot one; a real write removes an
            # unfinished one, so the closed store is one file again.
            with self.transaction():
                conn.execute(_TOUCH)

    def close(self) -> None:
        """Close the connection (the database is then one file on disk)."""
        self._conn.close()

    def __enter__(self) -> AlignmentsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AlignmentsStore({str(self.path)!r})"

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes into one atomic transaction (nested calls join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    # -- meta ------------------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        """The schema version of the open database (always schema.CURRENT_VERSION once opened)."""
        return int(self._meta("schema_version"))

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def set_plate(self, info: dict) -> None:
        """Record the plate (path, kind, colourspace, fps, width, height, ...) as JSON."""
        self._set_meta("plate", _to_json(info, "plate info"))

    def plate(self) -> dict:
        """The recorded plate info, {} when unset."""
        value = self._meta("plate")
        return {} if value is None else json.loads(value)

    def set_setting(self, key: str, value: Any) -> None:
        """Record one JSON-able extraction setting, so a resumed run can refuse an incompatible change."""
        self._set_meta(f"setting:{key}", _to_json(value, f"setting {key!r}"))

    def setting(self, key: str, default: Any = None) -> Any:
        """One recorded extraction setting, or default."""
        value = self._meta(f"setting:{key}")
        return default if value is None else json.loads(value)

    def settings(self) -> dict[str, Any]:
        """All recorded extraction settings."""
        rows = self._conn.execute("SELECT key, value FROM meta WHERE key LIKE 'setting:%' ORDER BY key")
        return {key[len("setting:") :]: json.loads(value) for key, value in rows}

    # -- writing ---------------------------------------------------------------------------------------
    def write_frame(self, rec: FrameRecord) -> list[int]:
        """Store one frame and its faces (and their masks) atomically, replacing any stored version of it.

        Faces are inserted in index order; the ids are returned in the order of ``rec.faces`` and also set
        on the Face objects.
        """
        with self.transaction():
            return self._write(rec)

    def write_frames(self, recs: Sequence[FrameRecord]) -> None:
        """Store several frames in one transaction (all or none)."""
        with self.transaction():
            for rec in recs:
                self._write(rec)

    def _write(self, rec: FrameRecord) -> list[int]:
        conn = self._conn
        for face in rec.faces:
            if face.frame != rec.frame:
                raise StoreError(f"face {face.index} says frame {face.frame}, its record {rec.frame}")
        indices = [face.index for face in rec.faces]
        if len(set(indices)) != len(indices):
            raise StoreError(f"frame {rec.frame}: face indices repeat: {indices}")
        conn.execute("DELETE FROM frames WHERE frame = ?", (int(rec.frame),))
        conn.execute(
            f"INSERT INTO frames ({_FRAME_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                int(rec.frame),
                None if rec.pts is None else float(rec.pts),
                None if rec.pts_raw is None else int(rec.pts_raw),
                rec.time_base,
                int(rec.width),
                int(rec.height),
                int(bool(rec.cut)),
            ),
        )
        self._insert_faces(sorted(rec.faces, key=lambda f: f.index))
        return [int(face.id) for face in rec.faces]  # type: ignore[arg-type]

    def _insert_faces(self, faces: Sequence[Face]) -> list[int]:
        """Insert faces (and their masks) in order with fresh ids from the counter; returns the ids."""
        next_id = int(self._meta("next_face_id") or 1)
        face_rows, mask_rows = [], []
        for face in faces:
            face.id = next_id
            next_id += 1
            face_rows.append(_face_row(face))
            mask_rows.extend((face.id, name, *encode_mask(m)) for name, m in face.masks.items())
        self._conn.executemany(f"INSERT INTO faces ({_FACE_COLUMNS}) VALUES ({_FACE_MARKS})", face_rows)
        self._conn.executemany(_INSERT_MASK, mask_rows)
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'next_face_id'", (str(next_id),))
        return [int(face.id) for face in faces]  # type: ignore[arg-type]

    def set_mask(self, face_id: int, name: str, mask: np.ndarray) -> None:
        """Store (or replace) one named mask of a stored face; the face's revision moves on by one."""
        data, codec, height, width = encode_mask(mask)
        with self.transaction() as conn:
            self._require_face(face_id)
            conn.execute("DELETE FROM masks WHERE face_id = ? AND name = ?", (int(face_id), name))
            conn.execute(_INSERT_MASK, (int(face_id), name, data, codec, height, width))
            conn.execute("UPDATE faces SET revision = revision + 1 WHERE id = ?", (int(face_id),))

    def set_face_image(self, face_id: int, image: str | None) -> None:
        """Record the aligned face image file name (relative to SHOTDIR/faces/) of a stored face."""
        with self.transaction() as conn:
            cur = conn.execute("UPDATE faces SET image = ? WHERE id = ?", (image, int(face_id)))
            if cur.rowcount == 0:
                raise StoreError(f"no face with id {face_id}", str(self.path))

    def set_face_images(self, names: dict[int, str | None]) -> None:
        """Record new image names (relative to SHOTDIR/faces/) for many faces in one transaction."""
        with self.transaction() as conn:
            for face_id, image in names.items():
                cur = conn.execute("UPDATE faces SET image = ? WHERE id = ?", (image, int(face_id)))
                if cur.rowcount == 0:
                    raise StoreError(f"no face with id {face_id}", str(self.path))

    def set_embeddings(self, embeddings: dict[int, np.ndarray]) -> None:
        """Store (N,) float32 identity embeddings for many faces in one transaction."""
        with self.transaction() as conn:
            for face_id, emb in embeddings.items():
                blob = _f32(emb, "embedding", (None,))
                cur = conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (blob, int(face_id)))
                if cur.rowcount == 0:
                    raise StoreError(f"no face with id {face_id}", str(self.path))

    def set_flag(self, face_ids: Iterable[int], flag: str, on: bool = True) -> int:
        """Add (or remove) one flag on many faces in one transaction; returns how many faces changed (their
        revisions move on by one)."""
        if flag not in FACE_FLAGS:
            raise StoreError(f"unknown face flag {flag!r} (known: {', '.join(FACE_FLAGS)})")
        changed = 0
        with self.transaction() as conn:
            for face_id in sorted({int(i) for i in face_ids}):
                row = conn.execute("SELECT flags FROM faces WHERE id = ?", (face_id,)).fetchone()
                if row is None:
                    raise StoreError(f"no face with id {face_id}", str(self.path))
                flags = tuple(row[0].split(",")) if row[0] else ()
                new = tuple(dict.fromkeys((*flags, flag))) if on else tuple(f for f in flags if f != flag)
                if new != flags:
                    conn.execute(
                        "UPDATE faces SET flags = ?, revision = revision + 1 WHERE id = ?",
                        (_flags_text(new), face_id),
                    )
                    changed += 1
        return changed

    # -- persons ---------------------------------------------------------------------------------------
    def persons(self) -> list[Person]:
        """Every person of the shot, by id."""
        rows = self._conn.execute("SELECT id, name, embedding, photo FROM persons ORDER BY id").fetchall()
        return [
            Person(int(i), name, None if emb is None else np.frombuffer(emb, "<f4").astype(np.float32), photo)
            for i, name, emb, photo in rows
        ]

    def replace_persons(self, persons: Sequence[Person], assignment: dict[int, int]) -> None:
        """Store a new grouping in one transaction: exactly these persons (their ids as given) and each face
        of `assignment` (face id -> person id) given its person; every other face gets none. Faces whose
        person changes move on one revision."""
        ids = [int(p.id) for p in persons]
        if len(set(ids)) != len(ids):
            raise StoreError(f"person ids repeat: {ids}", str(self.path))
        names = [p.name for p in persons if p.name]
        for name in names:
            check_person_name(name)
        if len(set(names)) != len(names):
            raise StoreError(f"person names repeat: {names}", str(self.path))
        unknown = set(assignment.values()) - set(ids)
        if unknown:
            raise StoreError(f"faces given to unknown persons {sorted(unknown)}", str(self.path))
        with self.transaction() as conn:
            conn.execute("DELETE FROM persons")
            conn.executemany(
                "INSERT INTO persons (id, name, embedding, photo) VALUES (?, ?, ?, ?)",
                [
                    (
                        int(p.id),
                        p.name,
                        None if p.embedding is None else _f32(p.embedding, "embedding", (None,)),
                        p.photo,
                    )
                    for p in persons
                ],
            )
            current = dict(conn.execute("SELECT id, person_id FROM faces").fetchall())
            missing = set(assignment) - set(current)
            if missing:
                raise StoreError(f"no faces with ids {sorted(missing)[:10]}", str(self.path))
            updates = [
                (assignment.get(fid), fid)
                for fid, now in current.items()
                if assignment.get(fid) != (None if now is None else int(now))
            ]
            conn.executemany("UPDATE faces SET person_id = ?, revision = revision + 1 WHERE id = ?", updates)

    def set_person_name(self, person_id: int, name: str) -> None:
        """Name a person ('' clears the name); names are unique and never look like an id."""
        if name:
            check_person_name(name)
        with self.transaction() as conn:
            taken = conn.execute(
                "SELECT id FROM persons WHERE name = ? AND id != ?", (name, int(person_id))
            ).fetchone()
            if name and taken:
                raise StoreError(f"person {taken[0]} is already named {name!r}", str(self.path))
            cur = conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, int(person_id)))
            if cur.rowcount == 0:
                raise StoreError(f"no person with id {person_id}", str(self.path))

    def person_faces(self, person_id: int) -> list[Face]:
        """The faces of one person, by frame then index (masks not loaded)."""
        return self._faces("WHERE person_id = ? ORDER BY frame, idx", (int(person_id),), False)

    def remove_faces(self, face_ids: Iterable[int]) -> int:
        """Delete faces and their masks in one transaction; their frames stay recorded. Returns the count."""
        ids = sorted({int(i) for i in face_ids})
        with self.transaction() as conn:
            # rowcount counts the face rows only, not the masks removed by the cascade.
            return sum(conn.execute("DELETE FROM faces WHERE id = ?", (i,)).rowcount for i in ids)

    # -- hand edits ------------------------------------------------------------------------------------
    @contextmanager
    def edit(self, kind: str, detail: dict | None = None) -> Iterator[Edit]:
        """One journaled edit in one transaction: all of it is stored with its undo record, or nothing."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO edits (at, kind, detail) VALUES (?, ?, ?)",
                (time.time(), kind, _to_json(detail or {}, "edit detail")),
            )
            edit = Edit(self, int(cur.lastrowid))  # type: ignore[arg-type]
            yield edit
            edit._finish()

    def face_revision(self, face_id: int) -> int | None:
        """The stored revision of a face, None when there is no such face."""
        row = self._conn.execute("SELECT revision FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        return None if row is None else int(row[0])

    def last_edit(self) -> EditRecord | None:
        """The latest edit not undone, or None."""
        row = self._conn.execute(
            "SELECT id, at, kind, detail, undone FROM edits WHERE undone = 0 ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else EditRecord(row[0], row[1], row[2], json.loads(row[3]), bool(row[4]))

    def edits(self) -> list[EditRecord]:
        """The edit journal, oldest first (undone edits included, marked)."""
        rows = self._conn.execute("SELECT id, at, kind, detail, undone FROM edits ORDER BY id").fetchall()
        return [EditRecord(r[0], r[1], r[2], json.loads(r[3]), bool(r[4])) for r in rows]

    def undo(self, edit_id: int | None = None) -> UndoResult:
        """Undo the latest edit not yet undone (it must be `edit_id` when one is named), in one transaction.

        EditConflict when `edit_id` is not the latest edit, or when a face the edit touched has changed since
        (its revision is not the one the edit left): undo never overwrites a later change."""
        with self.transaction() as conn:
            last = self.last_edit()
            if last is None:
                raise EditConflict("there is no edit to undo", str(self.path))
            if edit_id is not None and int(edit_id) != last.id:
                raise EditConflict(
                    f"edit {edit_id} is not the latest (edit {last.id}, {last.kind}, came after it)",
                    str(self.path),
                )
            touched = conn.execute(
                "SELECT id, existed, after_revision FROM edit_faces WHERE edit_id = ? ORDER BY id", (last.id,)
            ).fetchall()
            for face_id, _, after in touched:
                now = self.face_revision(face_id)
                if now != after:
                    state = "was removed" if now is None else f"was changed (revision {now})"
                    raise EditConflict(
                        f"face {face_id} {state} after edit {last.id} ({last.kind}); it cannot be undone",
                        str(self.path),
                    )
            removed = {
                int(fid): self.face(fid, load_masks=False).image  # type: ignore[union-attr]
                for fid, existed, after in touched
                if not existed and after is not None
            }
            conn.executemany("DELETE FROM faces WHERE id = ?", [(fid,) for fid, _, _ in touched])
            # A restored face gets a revision above any it had, so a tab holding either state must reload.
            restored_columns = f"{_FACE_COLUMNS}, MAX(revision, COALESCE(after_revision, 0)) + 1"
            try:
                conn.execute(
                    f"INSERT INTO faces ({_FACE_ALL}) SELECT {restored_columns} FROM edit_faces"
                    " WHERE edit_id = ? AND existed = 1",
                    (last.id,),
                )
            except sqlite3.IntegrityError as exc:
                raise EditConflict(
                    f"edit {last.id} ({last.kind}) cannot be undone: its frame changed since ({exc})",
                    str(self.path),
                ) from exc
            conn.execute(
                f"INSERT INTO masks ({_MASK_ALL}) SELECT {_MASK_ALL} FROM edit_masks WHERE edit_id = ?",
                (last.id,),
            )
            frames = [
                int(f) for (f,) in conn.execute("SELECT frame FROM edit_frames WHERE edit_id = ?", (last.id,))
            ]
            conn.execute(
                "UPDATE frames SET reviewed = (SELECT e.reviewed FROM edit_frames e"
                " WHERE e.edit_id = ? AND e.frame = frames.frame)"
                " WHERE frame IN (SELECT frame FROM edit_frames WHERE edit_id = ?)",
                (last.id, last.id),
            )
            # The edits before this one left these faces at their snapshot revisions; that state now has a
            # new revision, so those edits stay undoable.
            conn.execute(
                "UPDATE edit_faces SET after_revision ="
                " (SELECT f.revision FROM faces f WHERE f.id = edit_faces.id)"
                " WHERE edit_id < ? AND edit_id IN (SELECT id FROM edits WHERE undone = 0)"
                " AND after_revision = (SELECT s.revision FROM edit_faces s"
                " WHERE s.edit_id = ? AND s.id = edit_faces.id AND s.existed = 1)",
                (last.id, last.id),
            )
            conn.execute("UPDATE edits SET undone = 1 WHERE id = ?", (last.id,))
            last.undone = True
        restored = [int(fid) for fid, existed, _ in touched if existed]
        return UndoResult(last, restored, removed, frames)

    def reviewed_frames(self) -> dict[int, float]:
        """Frames a person accepted on the review page -> when (seconds since the epoch)."""
        query = "SELECT frame, reviewed FROM frames WHERE reviewed IS NOT NULL ORDER BY frame"
        return {int(f): float(t) for f, t in self._conn.execute(query)}

    def frame_overview(self) -> list[tuple[int, int, float | None]]:
        """(frame, faces, lowest face score or None) for every stored frame, in order."""
        return [(s.frame, s.faces, s.lowest_score) for s in self.frame_summaries()]

    def frame_summaries(self) -> list[FrameSummary]:
        """A FrameSummary of every stored frame, in order: one query for a timeline of thousands of frames."""
        query = (
            "SELECT frames.frame, frames.cut, COUNT(faces.id), COUNT(CASE WHEN faces.flags != '' THEN 1 END),"
            " MIN(faces.score), GROUP_CONCAT(DISTINCT faces.track_id) FROM frames"
            " LEFT JOIN faces ON faces.frame = frames.frame GROUP BY frames.frame ORDER BY frames.frame"
        )
        return [
            FrameSummary(
                int(f),
                bool(cut),
                int(n),
                int(flagged),
                None if low is None else float(low),
                tuple(sorted(int(t) for t in tracks.split(","))) if tracks else (),
            )
            for f, cut, n, flagged, low, tracks in self._conn.execute(query)
        ]

    def flagged_faces(self) -> list[Face]:
        """Faces carrying at least one flag, ordered by frame then index (masks not loaded)."""
        return self._faces("WHERE flags != '' ORDER BY frame, idx", (), False)

    def _require_face(self, face_id: int) -> None:
        if not self._conn.execute("SELECT 1 FROM faces WHERE id = ?", (int(face_id),)).fetchone():
            raise StoreError(f"no face with id {face_id}", str(self.path))

    # -- reading ---------------------------------------------------------------------------------------
    def frames_done(self) -> set[int]:
        """Numbers of every stored frame (with or without faces)."""
        return {row[0] for row in self._conn.execute("SELECT frame FROM frames")}

    def frame_sizes(self) -> dict[int, tuple[int, int]]:
        """(width, height) of every stored frame, by frame number."""
        return {f: (w, h) for f, w, h in self._conn.execute("SELECT frame, width, height FROM frames")}

    def has_frame(self, frame: int) -> bool:
        """Whether this frame has been stored."""
        row = self._conn.execute("SELECT 1 FROM frames WHERE frame = ?", (int(frame),)).fetchone()
        return row is not None

    def frame(self, frame: int, load_masks: bool = False) -> FrameRecord | None:
        """One stored frame with its faces, or None."""
        recs = self._frames("WHERE frame = ?", (int(frame),), load_masks)
        return recs[0] if recs else None

    def iter_frames(self, load_masks: bool = False) -> Iterator[FrameRecord]:
        """Every stored frame in frame order, read a page at a time."""
        last: int | None = None
        while True:
            if last is None:
                page = self._frames(f"ORDER BY frame LIMIT {_PAGE}", (), load_masks)
            else:
                page = self._frames(f"WHERE frame > ? ORDER BY frame LIMIT {_PAGE}", (last,), load_masks)
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1].frame

    def last_frame_before(self, frame: int) -> FrameRecord | None:
        """The stored frame with the largest number below ``frame`` (to resume a tracker), or None."""
        recs = self._frames("WHERE frame < ? ORDER BY frame DESC LIMIT 1", (int(frame),), False)
        return recs[0] if recs else None

    def _frames(self, where: str, args: tuple, load_masks: bool) -> list[FrameRecord]:
        rows = self._conn.execute(f"SELECT {_FRAME_COLUMNS} FROM frames {where}", args).fetchall()
        recs = [FrameRecord(*row[:6], cut=bool(row[6])) for row in rows]
        if not recs:
            return recs
        by_frame = {rec.frame: rec for rec in recs}
        marks = ", ".join("?" * len(recs))
        faces = self._faces(f"WHERE frame IN ({marks}) ORDER BY frame, idx", tuple(by_frame), load_masks)
        for face in faces:
            by_frame[face.frame].faces.append(face)
        return recs

    def faces(self, frame: int | None = None) -> list[Face]:
        """All stored faces, or one frame's, ordered by frame then index (masks not loaded)."""
        if frame is None:
            return self._faces("ORDER BY frame, idx", (), False)
        return self._faces("WHERE frame = ? ORDER BY idx", (int(frame),), False)

    def face(self, face_id: int, load_masks: bool = True) -> Face | None:
        """One face by id, or None."""
        found = self._faces("WHERE id = ?", (int(face_id),), load_masks)
        return found[0] if found else None

    def _faces(self, where: str, args: tuple, load_masks: bool) -> list[Face]:
        rows = self._conn.execute(f"SELECT {_FACE_ALL} FROM faces {where}", args).fetchall()
        faces = [_face_from_row(row) for row in rows]
        if load_masks and faces:
            by_id = {face.id: face for face in faces}
            for chunk_start in range(0, len(faces), 500):
                ids = [face.id for face in faces[chunk_start : chunk_start + 500]]
                marks = ", ".join("?" * len(ids))
                for face_id, name, mask in self._mask_rows(f"face_id IN ({marks})", tuple(ids)):
                    by_id[face_id].masks[name] = mask
        return faces

    def masks(self, face_id: int) -> dict[str, np.ndarray]:
        """The named masks of one face ({} when none)."""
        return {name: mask for _, name, mask in self._mask_rows("face_id = ?", (int(face_id),))}

    def _mask_rows(self, where: str, args: tuple) -> Iterator[tuple[int, str, np.ndarray]]:
        query = f"SELECT face_id, name, data, codec, height, width FROM masks WHERE {where} ORDER BY name"
        for face_id, name, data, codec, height, width in self._conn.execute(query, args).fetchall():
            yield face_id, name, decode_mask(data, codec, height, width)

    def max_track_id(self) -> int:
        """The largest stored track id, -1 when none."""
        (top,) = self._conn.execute("SELECT MAX(track_id) FROM faces").fetchone()
        return -1 if top is None else int(top)

    def stats(self) -> dict:
        """Counts: frames, faces, frames_without_faces, frames_with_several_faces, flagged_faces (faces
        with any flag) and shots (the first stored frame and every cut start one)."""
        (frames,) = self._conn.execute("SELECT COUNT(*) FROM frames").fetchone()
        (faces,) = self._conn.execute("SELECT COUNT(*) FROM faces").fetchone()
        (several,) = self._conn.execute(
            "SELECT COUNT(*) FROM (SELECT frame FROM faces GROUP BY frame HAVING COUNT(*) > 1)"
        ).fetchone()
        (with_faces,) = self._conn.execute("SELECT COUNT(DISTINCT frame) FROM faces").fetchone()
        (flagged,) = self._conn.execute("SELECT COUNT(*) FROM faces WHERE flags != ''").fetchone()
        (shots,) = self._conn.execute(
            "SELECT COUNT(*) FROM frames WHERE cut != 0 OR frame = (SELECT MIN(frame) FROM frames)"
        ).fetchone()
        return {
            "frames": frames,
            "faces": faces,
            "frames_without_faces": frames - with_faces,
            "frames_with_several_faces": several,
            "flagged_faces": flagged,
            "shots": shots,
        }

    def frames_without_faces(self) -> list[int]:
        """Stored frames where no face was found (or all were removed), in order."""
        query = (
            "SELECT frame FROM frames WHERE NOT EXISTS"
            " (SELECT 1 FROM faces WHERE faces.frame = frames.frame) ORDER BY frame"
        )
        return [row[0] for row in self._conn.execute(query)]

    def frames_with_several_faces(self) -> list[int]:
        """Stored frames holding more than one face, in order."""
        query = "SELECT frame FROM faces GROUP BY frame HAVING COUNT(*) > 1 ORDER BY frame"
        return [row[0] for row in self._conn.execute(query)]


PERSON_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def check_person_name(name: str) -> str:
    """A person name as allowed (a letter, then up to 39 letters, digits, '_' or '-': it becomes part of
    EXR layer and file names, and never reads as a person id); StoreError otherwise."""
    if not isinstance(name, str) or not PERSON_NAME.fullmatch(name):
        raise StoreError(
            f"person name {name!r} is not allowed (a letter, then up to 39 letters, digits, '_' or '-')"
        )
    return name


def _to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} is not JSON-able: {exc}") from exc


def _face_row(face: Face) -> tuple:
    x0, y0, x1, y1 = (float(v) for v in face.box)
    yaw, pitch, roll = (float(v) for v in face.pose)
    return (
        face.id,
        int(face.frame),
        int(face.index),
        x0,
        y0,
        x1,
        y1,
        float(face.score),
        _f32(face.landmarks, "landmarks", (None, 2)),
        yaw,
        pitch,
        roll,
        None if face.embedding is None else _f32(face.embedding, "embedding", (None,)),
        None if face.track_id is None else int(face.track_id),
        None if face.matrix is None else _blob(face.matrix, "matrix", (2, 3), "<f8"),
        face.face_type,
        int(face.size),
        face.image,
        _confidence(face.landmark_confidence),
        _flags_text(face.flags),
        None if face.person_id is None else int(face.person_id),
    )


def _confidence(value: float) -> float:
    """A landmark confidence checked to be a number in 0..1."""
    try:
        c = float(value)
    except (TypeError, ValueError):
        c = float("nan")
    if not 0.0 <= c <= 1.0:
        raise StoreError(f"landmark_confidence must be a number in 0..1, got {value!r}")
    return c


def _flags_text(flags: Sequence[str]) -> str:
    """Face flags as stored: known names, comma-separated, each once, in the given order."""
    if isinstance(flags, str):
        raise StoreError(f"flags must be a sequence of flag names, not the string {flags!r}")
    names = tuple(dict.fromkeys(flags))
    unknown = [name for name in names if name not in FACE_FLAGS]
    if unknown:
        known = ", ".join(FACE_FLAGS)
        raise StoreError(f"unknown face flag {', '.join(map(repr, unknown))} (known: {known})")
    return ",".join(names)


def _face_from_row(row: tuple) -> Face:
    (
        fid,
        frame,
        idx,
        x0,
        y0,
        x1,
        y1,
        score,
        lms,
        yaw,
        pitch,
        roll,
        emb,
        track,
        matrix,
        kind,
        size,
        image,
        confidence,
        flags,
        person,
        rev,
    ) = row
    return Face(
        frame=frame,
        index=idx,
        box=(x0, y0, x1, y1),
        score=score,
        landmarks=np.frombuffer(lms, "<f4").reshape(-1, 2).astype(np.float32),
        pose=(yaw, pitch, roll),
        embedding=None if emb is None else np.frombuffer(emb, "<f4").astype(np.float32),
        track_id=track,
        matrix=None if matrix is None else np.frombuffer(matrix, "<f8").reshape(2, 3).astype(np.float64),
        face_type=kind,
        size=size,
        image=image,
        id=fid,
        revision=rev,
        landmark_confidence=float(confidence),
        flags=tuple(flags.split(",")) if flags else (),
        person_id=person,
    )
