"""SQLite layout of the alignments store, one CREATE list per schema version, and the upgrade steps.

Versions are kept the OpenTimelineIO way: the version lives in the data (``meta.schema_version``), every
past layout stays written down here, and ``UPGRADES[n]`` turns a version-n database into version n+1.

History of the format:

- **1** (facegraft 0.0): ``meta``, ``frames``, ``faces`` without ``track_id``, and ``masks(face_id, name,
  data)`` where ``data`` was the zlib deflate of the raw ``(size, size)`` uint8 mask. Face ids were plain
  rowids, so deleting the newest face let the next insert reuse its id.
- **2** (facegraft 0.1): ``faces.track_id`` (+ index) for the tracker; ``masks`` gains ``codec``
  (``"zlib"`` raw deflate or ``"png"`` lossless PNG), ``height`` and ``width``, so a mask no longer has
  to be the face size and new masks are PNG-compressed; ``meta.next_face_id`` hands out face ids that are
  never reused, so a face image tagged with a deleted face's id can never match a new face.
- **3** (facegraft 0.2): ``faces.revision`` (1 when written, +1 on every later change of the face) so an
  editor can refuse an edit made against a state that has moved on; ``frames.reviewed`` (when a person
  accepted the frame on the review page, NULL otherwise); and the edit journal for undo: ``edits`` (one
  row per edit) with ``edit_faces``, ``edit_masks`` and ``edit_frames`` holding what each edit replaced.
  ``edit_faces`` repeats the ``faces`` columns (all nullable): a later upgrade that adds a face column
  adds it there too.
- **4** (facegraft 0.3): ``frames.cut`` (1 on the first frame of a new shot: a hard cut lies just before
  it; the plate's first frame starts a shot without being a cut), ``faces.landmark_confidence`` (0..1, how
  well the 68 landmarks sit on the face; 1 for faces written before) and ``faces.flags`` (comma-separated
  flag names, ``''`` for none; see ``alignments.FACE_FLAGS``). ``edit_faces`` repeats both face columns.
- **5** (facegraft 0.4): ``persons`` (one row per person of the shot: ``id``, ``name`` (``''`` until
  someone names it), ``embedding`` (the person's mean identity descriptor, float32), ``photo`` (the
  reference photo it was matched to, if any)) and ``faces.person_id`` (+ index; NULL: not grouped).
  ``edit_faces`` repeats it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from facegraft.store.versioned import Layout, set_meta
from facegraft.store.versioned import read_version as versioned_read

FORMAT = "facegraft.alignments"
CURRENT_VERSION = 5

_V1: tuple[str, ...] = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE frames (
        frame INTEGER PRIMARY KEY, pts REAL, pts_raw INTEGER, time_base TEXT,
        width INTEGER NOT NULL DEFAULT 0, height INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        frame INTEGER NOT NULL REFERENCES frames(frame) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        score REAL NOT NULL,
        landmarks BLOB NOT NULL,
        yaw REAL NOT NULL DEFAULT 0, pitch REAL NOT NULL DEFAULT 0, roll REAL NOT NULL DEFAULT 0,
        embedding BLOB,
        matrix BLOB,
        face_type TEXT NOT NULL DEFAULT 'full',
        size INTEGER NOT NULL DEFAULT 512,
        image TEXT,
        UNIQUE (frame, idx))""",
    """CREATE TABLE masks (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (face_id, name))""",
)

# Version 2 keeps the v1 column order and appends the new columns, so a fresh v2 database and an upgraded
# v1 database have the same columns in the same order.
_V2: tuple[str, ...] = (
    _V1[0],
    _V1[1],
    _V1[2].replace("image TEXT,", "image TEXT,\n        track_id INTEGER,"),
    """CREATE TABLE masks (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        codec TEXT NOT NULL DEFAULT 'zlib',
        height INTEGER,
        width INTEGER,
        PRIMARY KEY (face_id, name))""",
    "CREATE INDEX faces_track ON faces(track_id)",
)


# Version 3 appends faces.revision and frames.reviewed (as the upgrade's ALTER TABLE does) and adds the
# edit journal.
_JOURNAL: tuple[str, ...] = (
    """CREATE TABLE edits (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        undone INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE edit_faces (
        edit_id INTEGER NOT NULL REFERENCES edits(id) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        existed INTEGER NOT NULL,
        after_revision INTEGER,
        frame INTEGER, idx INTEGER, x0 REAL, y0 REAL, x1 REAL, y1 REAL, score REAL, landmarks BLOB,
        yaw REAL, pitch REAL, roll REAL, embedding BLOB, matrix BLOB, face_type TEXT, size INTEGER,
        image TEXT, track_id INTEGER, revision INTEGER,
        PRIMARY KEY (edit_id, id))""",
    """CREATE TABLE edit_masks (
        edit_id INTEGER NOT NULL REFERENCES edits(id) ON DELETE CASCADE,
        face_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        codec TEXT NOT NULL,
        height INTEGER,
        width INTEGER,
        PRIMARY KEY (edit_id, face_id, name))""",
    """CREATE TABLE edit_frames (
        edit_id INTEGER NOT NULL REFERENCES edits(id) ON DELETE CASCADE,
        frame INTEGER NOT NULL,
        reviewed REAL,
        PRIMARY KEY (edit_id, frame))""",
)
_V3: tuple[str, ...] = (
    _V2[0],
    _V2[1].replace(
        "height INTEGER NOT NULL DEFAULT 0)", "height INTEGER NOT NULL DEFAULT 0,\n        reviewed REAL)"
    ),
    _V2[2].replace("track_id INTEGER,", "track_id INTEGER,\n        revision INTEGER NOT NULL DEFAULT 1,"),
    *_V2[3:],
    *_JOURNAL,
)

# Version 4 appends frames.cut, faces.landmark_confidence and faces.flags (and the two face columns to
# edit_faces), in the order the upgrade's ALTER TABLE statements give them.
_V4_FACE_COLUMNS = "landmark_confidence REAL NOT NULL DEFAULT 1,\n        flags TEXT NOT NULL DEFAULT '',"
_V4: tuple[str, ...] = (
    _V3[0],
    _V3[1].replace("reviewed REAL)", "reviewed REAL,\n        cut INTEGER NOT NULL DEFAULT 0)"),
    _V3[2].replace(
        "revision INTEGER NOT NULL DEFAULT 1,",
        f"revision INTEGER NOT NULL DEFAULT 1,\n        {_V4_FACE_COLUMNS}",
    ),
    *_V3[3:6],
    _V3[6].replace(
        "track_id INTEGER, revision INTEGER,",
        "track_id INTEGER, revision INTEGER,\n        landmark_confidence REAL, flags TEXT,",
    ),
    *_V3[7:],
)

# Version 5 appends faces.person_id (as the upgrade's ALTER TABLE does) and adds the persons table.
_PERSONS: tuple[str, ...] = (
    """CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        embedding BLOB,
        photo TEXT)""",
    "CREATE INDEX faces_person ON faces(person_id)",
)
_V5: tuple[str, ...] = (
    _V4[0],
    _V4[1],
    _V4[2].replace(
        "flags TEXT NOT NULL DEFAULT '',", "flags TEXT NOT NULL DEFAULT '',\n        person_id INTEGER,"
    ),
    *_V4[3:6],
    _V4[6].replace(
        "landmark_confidence REAL, flags TEXT,", "landmark_confidence REAL, flags TEXT, person_id INTEGER,"
    ),
    *_V4[7:],
    *_PERSONS,
)


def create_v1(conn: sqlite3.Connection) -> None:
    """Create an empty version-1 database (kept so tests can build real old stores to upgrade)."""
    for statement in _V1:
        conn.execute(statement)
    set_meta(conn, "format", FORMAT)
    set_meta(conn, "schema_version", "1")


def _create(conn: sqlite3.Connection) -> None:
    """Create the tables of an empty database at the current version (versioned.prepare adds the meta
    format and version)."""
    for statement in _V5:
        conn.execute(statement)
    set_meta(conn, "next_face_id", "1")


def _upgrade_1_to_2(conn: sqlite3.Connection) -> None:
    """Add faces.track_id, the masks codec and shape (v1 blobs: zlib of a size x size mask), next_face_id."""
    conn.execute("ALTER TABLE faces ADD COLUMN track_id INTEGER")
    conn.execute("CREATE INDEX faces_track ON faces(track_id)")
    conn.execute("ALTER TABLE masks ADD COLUMN codec TEXT NOT NULL DEFAULT 'zlib'")
    conn.execute("ALTER TABLE masks ADD COLUMN height INTEGER")
    conn.execute("ALTER TABLE masks ADD COLUMN width INTEGER")
    conn.execute(
        "UPDATE masks SET height = (SELECT size FROM faces WHERE faces.id = masks.face_id),"
        " width = (SELECT size FROM faces WHERE faces.id = masks.face_id)"
    )
    (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM faces").fetchone()
    set_meta(conn, "next_face_id", str(top + 1))


def _upgrade_2_to_3(conn: sqlite3.Connection) -> None:
    """Add faces.revision (every face starts at 1), frames.reviewed and the empty edit journal."""
    conn.execute("ALTER TABLE faces ADD COLUMN revision INTEGER NOT NULL DEFAULT 1")
    conn.execute("ALTER TABLE frames ADD COLUMN reviewed REAL")
    for statement in _JOURNAL:
        conn.execute(statement)


def _upgrade_3_to_4(conn: sqlite3.Connection) -> None:
    """Add frames.cut (no cuts known), faces.landmark_confidence (1) and faces.flags (none), also to the
    edit journal's copies of faces (NULL there: journaled before they existed)."""
    conn.execute("ALTER TABLE frames ADD COLUMN cut INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE faces ADD COLUMN landmark_confidence REAL NOT NULL DEFAULT 1")
    conn.execute("ALTER TABLE faces ADD COLUMN flags TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE edit_faces ADD COLUMN landmark_confidence REAL")
    conn.execute("ALTER TABLE edit_faces ADD COLUMN flags TEXT")
    # Faces journaled before version 4 had neither: undo puts them back with the defaults.
    conn.execute("UPDATE edit_faces SET landmark_confidence = 1, flags = '' WHERE existed = 1")


def _upgrade_4_to_5(conn: sqlite3.Connection) -> None:
    """Add faces.person_id (not grouped) and its copy in the edit journal, and the empty persons table."""
    conn.execute("ALTER TABLE faces ADD COLUMN person_id INTEGER")
    conn.execute("ALTER TABLE edit_faces ADD COLUMN person_id INTEGER")
    for statement in _PERSONS:
        conn.execute(statement)


UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
    3: _upgrade_3_to_4,
    4: _upgrade_4_to_5,
}


LAYOUT = Layout(FORMAT, CURRENT_VERSION, _create, UPGRADES, "alignments store")


def read_version(conn: sqlite3.Connection) -> int | None:
    """The alignments schema version of an open database, None when it is no alignments store."""
    return versioned_read(conn, LAYOUT)
