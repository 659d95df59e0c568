"""The alignments store: round trips, replace semantics, atomic writes under kill, resume, versions."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from facegraft.errors import StoreError
from facegraft.store import schema
from facegraft.store.alignments import (
    FACE_FLAGS,
    LANDMARKS_UNRELIABLE,
    AlignmentsStore,
    EditConflict,
    Face,
    FrameRecord,
    RevisionConflict,
)
from facegraft.store.shots import Shot, shots


def make_face(rng: np.random.Generator, frame: int, index: int, full: bool = True) -> Face:
    """A synthetic face with random values in every field (masks and optional arrays when ``full``)."""
    lms = (rng.random((68, 2)) * 1000).astype(np.float32)
    return Face(
        frame=frame,
        index=index,
        box=tuple(float(v) for v in rng.random(4) * 1000),
        score=float(rng.random()),
        landmarks=lms,
        pose=tuple(float(v) for v in rng.normal(0, 30, 3)),
        embedding=rng.normal(size=128).astype(np.float32) if full else None,
        track_id=int(rng.integers(0, 50)) if full else None,
        matrix=rng.normal(size=(2, 3)) if full else None,
        face_type="whole" if full else "full",
        size=256,
        masks={"seg": rng.integers(0, 256, (256, 256), dtype=np.uint8)} if full else {},
        image=f"{frame:06d}_{index}.png" if full else None,
        landmark_confidence=float(rng.random()) if full else 1.0,
        flags=(LANDMARKS_UNRELIABLE,) if full and rng.random() < 0.5 else (),
    )


def make_frame(rng: np.random.Generator, frame: int, n_faces: int, full: bool = True) -> FrameRecord:
    return FrameRecord(
        frame=frame,
        pts=frame / 24.0,
        pts_raw=frame * 3750,
        time_base="1/90000",
        width=1920,
        height=1080,
        faces=[make_face(rng, frame, i, full) for i in range(n_faces)],
        cut=frame % 2 == 0,
    )


def assert_same_face(got: Face, want: Face, masks: bool = True) -> None:
    assert (got.frame, got.index, got.id) == (want.frame, want.index, want.id)
    assert got.box == pytest.approx(want.box, abs=0) and got.score == want.score
    assert got.pose == pytest.approx(want.pose, abs=0)
    assert got.landmarks.dtype == np.float32 and got.landmarks.shape == (68, 2)
    np.testing.assert_array_equal(got.landmarks, want.landmarks)
    for name in ("embedding", "matrix"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    assert (got.track_id, got.face_type, got.size, got.image, got.flags) == (
        want.track_id,
        want.face_type,
        want.size,
        want.image,
        tuple(want.flags),
    )
    assert got.landmark_confidence == want.landmark_confidence
    if masks:
        assert got.masks.keys() == want.masks.keys()
        for name in want.masks:
            np.testing.assert_array_equal(got.masks[name], want.masks[name])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_round_trip_every_field(tmp_path: Path, rng: np.random.Generator) -> None:
    recs = [make_frame(rng, 1001, 2), make_frame(rng, 1002, 1, full=False), make_frame(rng, 1003, 0)]
    with AlignmentsStore.open(tmp_path, create=True) as store:
        assert store.path == tmp_path / "alignments.db" and store.shot_dir == tmp_path
        ids = store.write_frame(recs[0])
        assert ids == [f.id for f in recs[0].faces] and len(set(ids)) == 2
        store.write_frames(recs[1:])
    with AlignmentsStore.open(tmp_path / "alignments.db") as store:
        for want in recs:
            got = store.frame(want.frame, load_masks=True)
            assert got is not None
            assert (got.pts, got.pts_raw, got.time_base, got.width, got.height, got.cut) == (
                want.pts,
                want.pts_raw,
                want.time_base,
                1920,
                1080,
                want.frame % 2 == 0,
            )
            assert len(got.faces) == len(want.faces)
            for g, w in zip(got.faces, want.faces, strict=True):
                assert_same_face(g, w)
        # Masks are loaded only on request.
        assert store.frame(1001).faces[0].masks == {}
        assert_same_face(store.face(recs[0].faces[1].id), recs[0].faces[1])
        assert store.face(10**6) is None
        assert [f.id for f in store.faces()] == [f.id for r in recs for f in r.faces]
        assert [f.index for f in store.faces(1001)] == [0, 1]
        assert [r.frame for r in store.iter_frames()] == [1001, 1002, 1003]
        assert store.frame(5) is None
    # A closed store is one file: no journal left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alignments.db"]


def test_plate_settings_masks_images(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path / "shot", create=True) as store:
        assert store.plate() == {} and store.setting("detector", "sfd") == "sfd"
        store.set_plate({"path": "/plates/a.####.exr", "fps": 24.0, "width": 4096})
        store.set_setting("size", 512)
        store.set_setting("detector", {"name": "sfd", "threshold": 0.5})
        rec = make_frame(rng, 1, 1, full=False)
        (fid,) = store.write_frame(rec)
        mask = rng.integers(0, 256, (64, 48), dtype=np.uint8)
        store.set_mask(fid, "hull", mask)
        store.set_mask(fid, "hull", mask[::-1].copy())  # replace
        np.testing.assert_array_equal(store.masks(fid)["hull"], mask[::-1])
        store.set_face_image(fid, "x.png")
        with pytest.raises(StoreError):
            store.set_mask(fid + 99, "hull", mask)
        with pytest.raises(StoreError):
            store.set_face_image(fid + 99, "y.png")
        with pytest.raises(StoreError):
            store.set_mask(fid, "bad", mask.astype(np.float32))
    with AlignmentsStore.open(tmp_path / "shot") as store:
        assert store.plate()["fps"] == 24.0
        assert store.setting("detector") == {"name": "sfd", "threshold": 0.5} and store.setting("size") == 512
        assert store.face(fid).image == "x.png" and list(store.face(fid).masks) == ["hull"]


def test_replace_frame_and_remove_faces(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        store.write_frames([make_frame(rng, f, 2) for f in range(5)])
        old_ids = [f.id for f in store.faces(2)]
        new = make_frame(rng, 2, 3)
        new_ids = store.write_frame(new)
        # The old faces and their masks are gone; the new ones are fresh ids never used before.
        assert len(store.faces(2)) == 3 and not set(old_ids) & set(new_ids)
        assert min(new_ids) > max(f.id for f in store.faces() if f.frame != 2)
        assert all(store.face(i) is None and store.masks(i) == {} for i in old_ids)
        assert_same_face(store.face(new_ids[2]), new.faces[2])
        n_masks = store._conn.execute("SELECT COUNT(*) FROM masks").fetchone()[0]
        assert n_masks == 4 * 2 + 3
        assert store.write_frame(FrameRecord(frame=3)) == []
        assert store.remove_faces([*new_ids[:2], 10**6]) == 2
        assert store.has_frame(2) and [f.index for f in store.faces(2)] == [2]
        assert store.stats() == {
            "frames": 5,
            "faces": 7,
            "frames_without_faces": 1,
            "frames_with_several_faces": 3,
            "flagged_faces": sum(bool(f.flags) for f in store.faces()),
            "shots": 3,  # frame 0 (cut or not), and the cuts before frames 2 and 4
        }
        assert store.frames_without_faces() == [3]
        assert store.frames_with_several_faces() == [0, 1, 4]
        # A removed id is never handed out again.
        ids = store.write_frame(make_frame(rng, 9, 1))
        assert ids[0] > max(new_ids)


def test_bad_writes_roll_back(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        store.write_frame(make_frame(rng, 1, 1))
        good, bad = make_frame(rng, 2, 1), make_frame(rng, 3, 2)
        bad.faces[1].landmarks = np.zeros((68, 3), np.float32)
        with pytest.raises(StoreError, match="landmarks"):
            store.write_frames([good, bad])
        dup = make_frame(rng, 1, 2)
        dup.faces[1].index = 0
        with pytest.raises(StoreError, match="repeat"):
            store.write_frame(dup)
        assert store.frames_done() == {1} and len(store.faces(1)) == 1


def test_ids_are_deterministic(tmp_path: Path) -> None:
    ids = []
    for name in ("a", "b"):
        rng = np.random.default_rng(3)
        with AlignmentsStore.open(tmp_path / name, create=True) as store:
            store.write_frames([make_frame(rng, f, f % 3) for f in range(10)])
            store.write_frame(make_frame(rng, 4, 2))
            ids.append([(f.frame, f.index, f.id) for f in store.faces()])
    assert ids[0] == ids[1]


def test_resume_helpers(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        assert store.frames_done() == set() and store.max_track_id() == -1
        assert store.last_frame_before(100) is None
        for f in (10, 12, 20):
            rec = make_frame(rng, f, 1, full=False)
            rec.faces[0].track_id = f // 2
            store.write_frame(rec)
        store.write_frame(FrameRecord(frame=15))
        assert store.frames_done() == {10, 12, 15, 20}
        assert store.has_frame(15) and not store.has_frame(11)
        assert store.max_track_id() == 10
        assert store.last_frame_before(15).frame == 12
        assert store.last_frame_before(15).faces[0].track_id == 6
        assert store.last_frame_before(16).frame == 15
        assert store.last_frame_before(10) is None


def test_iter_frames_pages(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        frames = list(range(-3, 1200))
        store.write_frames([FrameRecord(frame=f, faces=[make_face(rng, f, 0, full=False)]) for f in frames])
        seen = [(r.frame, len(r.faces), r.faces[0].frame) for r in store.iter_frames()]
        assert seen == [(f, 1, f) for f in frames]


def test_missing_corrupt_foreign_and_newer(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no alignments store"):
        AlignmentsStore.open(tmp_path)
    db = tmp_path / "alignments.db"
    db.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError) as err:
        AlignmentsStore.open(tmp_path)
    assert str(err.value).startswith(f"{db}: ") and "corrupt" in str(err.value)
    with pytest.raises(StoreError):
        AlignmentsStore.open(db, create=True)  # never overwrites what it cannot read
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StoreError, match="not a facegraft alignments store"):
        AlignmentsStore.open(other)
    newer = tmp_path / "newer"
    AlignmentsStore.open(newer, create=True).close()
    with sqlite3.connect(newer / "alignments.db") as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(schema.CURRENT_VERSION + 1),)
        )
    conn.close()
    newest = schema.CURRENT_VERSION
    with pytest.raises(StoreError, match=rf"newer facegraft \(schema {newest + 1} > {newest}\)"):
        AlignmentsStore.open(newer)


JOURNAL_TABLES = ("edits", "edit_faces", "edit_masks", "edit_frames")


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _assert_fresh_layout(db: Path, fresh: Path) -> None:
    """An upgraded database has the columns, in the same order, of one created at the current version."""
    AlignmentsStore.open(fresh, create=True).close()
    a, b = sqlite3.connect(db), sqlite3.connect(fresh / "alignments.db")
    try:
        for table in ("meta", "frames", "faces", "masks", *JOURNAL_TABLES):
            assert _columns(a, table) == _columns(b, table), table
    finally:
        a.close()
        b.close()


def test_upgrade_v1_database(tmp_path: Path, rng: np.random.Generator) -> None:
    db = tmp_path / "alignments.db"
    conn = sqlite3.connect(db)
    schema.create_v1(conn)
    lms = [(rng.random((68, 2)) * 500).astype("<f4") for _ in range(3)]
    masks = [rng.integers(0, 256, (128, 128), dtype=np.uint8) for _ in range(2)]
    conn.execute(
        "INSERT INTO frames (frame, pts, width, height) VALUES (1, 0.5, 640, 480), (2, 1.0, 640, 480)"
    )
    for i, (frame, idx) in enumerate([(1, 0), (1, 1), (2, 0)]):
        conn.execute(
            "INSERT INTO faces (id, frame, idx, x0, y0, x1, y1, score, landmarks, yaw, size, image)"
            " VALUES (?, ?, ?, 1, 2, 3, 4, 0.9, ?, 12.5, 128, ?)",
            (i + 1, frame, idx, lms[i].tobytes(), f"{frame}_{idx}.png"),
        )
    for i, m in enumerate(masks):
        conn.execute("INSERT INTO masks VALUES (?, 'seg', ?)", (i + 1, zlib.compress(m.tobytes())))
    conn.commit()
    conn.close()

    with AlignmentsStore.open(tmp_path) as store:
        assert store.schema_version == schema.CURRENT_VERSION
        faces = store.faces()
        assert [(f.frame, f.index, f.id) for f in faces] == [(1, 0, 1), (1, 1, 2), (2, 0, 3)]
        for face, want in zip(faces, lms, strict=True):
            np.testing.assert_array_equal(face.landmarks, want)
            assert face.track_id is None and face.pose == (12.5, 0.0, 0.0) and face.size == 128
        for i, m in enumerate(masks):
            np.testing.assert_array_equal(store.masks(i + 1)["seg"], m)
        assert store.frame(1).pts == 0.5 and store.max_track_id() == -1
        # v2 features work on the upgraded store: track ids, PNG masks, fresh ids above the old ones.
        new = FrameRecord(frame=3, faces=[make_face(rng, 3, 0)])
        assert store.write_frame(new) == [4]
        assert_same_face(store.face(4), new.faces[0])
    _assert_fresh_layout(db, tmp_path / "fresh")


def test_upgrade_v2_database_gets_revisions_and_an_empty_journal(tmp_path: Path, rng: np.random.Generator):
    db = tmp_path / "alignments.db"
    conn = sqlite3.connect(db)
    schema.create_v1(conn)
    schema.UPGRADES[1](conn)  # a real v2 store: v1 plus the 1 -> 2 step, as facegraft 0.1 left it
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.execute("INSERT INTO frames (frame, width, height) VALUES (7, 640, 480), (8, 640, 480)")
    lms = (rng.random((68, 2)) * 400).astype("<f4")
    for fid, frame in ((1, 7), (2, 7), (3, 8)):
        conn.execute(
            "INSERT INTO faces (id, frame, idx, x0, y0, x1, y1, score, landmarks, track_id)"
            " VALUES (?, ?, ?, 1, 2, 3, 4, 0.8, ?, 5)",
            (fid, frame, fid - 1 if frame == 7 else 0, lms.tobytes()),
        )
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_face_id', '4')")
    conn.commit()
    conn.close()
    with AlignmentsStore.open(tmp_path) as store:
        assert store.schema_version == schema.CURRENT_VERSION
        assert [(f.id, f.revision, f.track_id) for f in store.faces()] == [(1, 1, 5), (2, 1, 5), (3, 1, 5)]
        assert store.reviewed_frames() == {} and store.last_edit() is None
        np.testing.assert_array_equal(store.face(2).landmarks, lms)
        with store.edit("delete") as edit:
            edit.expect(2, 1)
            edit.remove_face(2)
        assert store.undo().restored == [2] and store.face(2).revision == 2
    _assert_fresh_layout(db, tmp_path / "fresh")


_V3_FACE_COLUMNS = (
    "id, frame, idx, x0, y0, x1, y1, score, landmarks, yaw, pitch, roll, embedding, matrix, face_type, size,"
    " image, track_id, revision"
)


def test_upgrade_v3_database_keeps_data_and_its_undo(tmp_path: Path, rng: np.random.Generator) -> None:
    db = tmp_path / "alignments.db"
    conn = sqlite3.connect(db)
    schema.create_v1(conn)
    schema.UPGRADES[1](conn)
    schema.UPGRADES[2](conn)  # a real v3 store, as facegraft 0.2 left it
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.execute(
        "INSERT INTO frames (frame, width, height, reviewed) VALUES (1, 640, 480, 5.0), (2, 640, 480, NULL)"
    )
    lms = (rng.random((68, 2)) * 400).astype("<f4")
    for fid, frame, idx in ((1, 1, 0), (2, 1, 1), (3, 2, 0)):
        conn.execute(
            "INSERT INTO faces (id, frame, idx, x0, y0, x1, y1, score, landmarks, track_id, revision)"
            " VALUES (?, ?, ?, 1, 2, 3, 4, 0.7, ?, 9, 2)",
            (fid, frame, idx, lms.tobytes()),
        )
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_face_id', '4')")
    # A journaled delete of face 2, as a v3 editor journals it.
    conn.execute("INSERT INTO edits (id, at, kind) VALUES (1, 1.0, 'delete')")
    conn.execute(
        f"INSERT INTO edit_faces (edit_id, existed, {_V3_FACE_COLUMNS}) SELECT 1, 1, {_V3_FACE_COLUMNS}"
        " FROM faces WHERE id = 2"
    )
    conn.execute("DELETE FROM faces WHERE id = 2")
    conn.commit()
    conn.close()
    with AlignmentsStore.open(tmp_path) as store:
        assert store.schema_version == schema.CURRENT_VERSION
        assert [(f.id, f.revision, f.track_id, f.landmark_confidence, f.flags) for f in store.faces()] == [
            (1, 2, 9, 1.0, ()),
            (3, 2, 9, 1.0, ()),
        ]
        assert [r.cut for r in store.iter_frames()] == [False, False]
        assert store.reviewed_frames() == {1: 5.0}
        np.testing.assert_array_equal(store.face(3).landmarks, lms)
        # The edit journaled before the upgrade still undoes: the face comes back with the defaults.
        assert store.undo().restored == [2]
        back = store.face(2)
        assert (back.index, back.revision, back.landmark_confidence, back.flags) == (1, 3, 1.0, ())
        assert store.stats()["shots"] == 1 and store.stats()["flagged_faces"] == 0
        rec = make_frame(rng, 4, 1)
        rec.faces[0].flags = (LANDMARKS_UNRELIABLE,)
        store.write_frame(rec)
        assert store.face(4).flags == (LANDMARKS_UNRELIABLE,) and store.frame(4).cut
    _assert_fresh_layout(db, tmp_path / "fresh")


def test_flags_and_confidence_are_checked_on_write(tmp_path: Path, rng: np.random.Generator) -> None:
    assert LANDMARKS_UNRELIABLE == "landmarks-unreliable" and LANDMARKS_UNRELIABLE in FACE_FLAGS
    with AlignmentsStore.open(tmp_path, create=True) as store:
        store.write_frame(make_frame(rng, 1, 1))
        for flags, confidence, message in [
            (("no-such-flag",), 0.5, "unknown face flag 'no-such-flag'"),
            (LANDMARKS_UNRELIABLE, 0.5, "not the string"),
            ((), 1.5, "landmark_confidence must be a number in 0..1"),
            ((), float("nan"), "landmark_confidence"),
        ]:
            good, bad = make_frame(rng, 2, 1), make_frame(rng, 3, 2)
            bad.faces[1].flags, bad.faces[1].landmark_confidence = flags, confidence  # type: ignore[assignment]
            with pytest.raises(StoreError, match=message):
                store.write_frames([good, bad])
            assert store.frames_done() == {1}
        # A flag named twice is stored once.
        rec = make_frame(rng, 5, 1)
        rec.faces[0].flags = (LANDMARKS_UNRELIABLE, LANDMARKS_UNRELIABLE)
        store.write_frame(rec)
        assert store.faces(5)[0].flags == (LANDMARKS_UNRELIABLE,)
        with pytest.raises(StoreError, match="unknown face flag"):
            with store.edit("box") as edit:
                face = edit.expect(rec.faces[0].id, 1)
                face.flags = ("odd",)
                edit.replace_face(face)
        assert store.last_edit() is None


def test_undo_restores_confidence_and_flags(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        rec = make_frame(rng, 1, 2)
        rec.faces[0].flags, rec.faces[0].landmark_confidence = (LANDMARKS_UNRELIABLE,), 0.25
        rec.faces[1].flags, rec.faces[1].landmark_confidence = (), 0.75
        a, b = store.write_frame(rec)
        before = {i: store.face(i) for i in (a, b)}
        with store.edit("box") as edit:
            face = edit.expect(a, 1)
            face.flags, face.landmark_confidence = (), 0.875
            edit.replace_face(face)
        assert (store.face(a).flags, store.face(a).landmark_confidence) == ((), 0.875)
        with store.edit("delete") as edit:
            edit.expect(b, 1)
            edit.remove_face(b)
        assert store.undo().restored == [b]
        assert_same_face(store.face(b), before[b])
        assert store.undo().restored == [a]
        assert_same_face(store.face(a), before[a])
        assert store.flagged_faces()[0].id == a and len(store.flagged_faces()) == 1


def test_shots_follow_the_cuts(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        assert shots(store) == [] and store.stats()["shots"] == 0
        recs = []
        for f in (10, 11, 12, 13, 14, 16, 17, 18):  # frame 15 not extracted: it does not split a shot
            rec = FrameRecord(frame=f, cut=f in (10, 14, 17), faces=[make_face(rng, f, 0, full=False)])
            rec.faces[0].track_id = {10: 0, 11: 0, 12: 0, 13: 1, 14: 2, 16: 2, 17: 3, 18: 3}[f]
            recs.append(rec)
        recs[4].faces.append(make_face(rng, 14, 1, full=False))
        recs[4].faces[1].flags = (LANDMARKS_UNRELIABLE,)
        recs[6].faces = []
        store.write_frames(recs)
        assert shots(store) == [
            Shot(0, 10, 13, 4, 4, (0, 1)),  # a cut on the first stored frame starts no extra shot
            Shot(1, 14, 16, 2, 3, (2,)),
            Shot(2, 17, 18, 2, 1, (3,)),
        ]
        assert shots(store)[1].as_dict() == {
            "index": 1,
            "first_frame": 14,
            "last_frame": 16,
            "frames": 2,
            "faces": 3,
            "tracks": [2],
        }
        summary = {s.frame: s for s in store.frame_summaries()}
        assert (summary[14].cut, summary[14].faces, summary[14].flagged, summary[14].tracks) == (
            True,
            2,
            1,
            (2,),
        )
        assert (summary[17].faces, summary[17].lowest_score, summary[17].tracks) == (0, None, ())
        stats = store.stats()
        assert (stats["shots"], stats["flagged_faces"]) == (3, 1)
        assert [(f.frame, f.index) for f in store.flagged_faces()] == [(14, 1)]


def test_edits_check_revisions_and_undo_puts_back_exactly(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        store.write_frames([make_frame(rng, 1, 2), make_frame(rng, 2, 1)])
        a, b = store.faces(1)
        (c,) = store.faces(2)
        before = {f.id: store.face(f.id) for f in (a, b, c)}
        assert {f.revision for f in before.values()} == {1}
        assert store.frame_overview() == [(1, 2, min(a.score, b.score)), (2, 1, c.score)]
        # A changed face: every field written, its masks replaced by name, its revision moved on.
        with store.edit("landmark", {"point": 30}) as edit:
            moved = edit.expect(a.id, 1)
            moved.landmarks = moved.landmarks + 5
            moved.masks = {"label": np.full((256, 256), 255, np.uint8)}
            edit.replace_face(moved)
        got = store.face(a.id)
        assert got.revision == 2 and sorted(got.masks) == ["label", "seg"]
        np.testing.assert_array_equal(got.landmarks, before[a.id].landmarks + 5)
        # An edit against the old revision is refused whole: nothing of it is written.
        with pytest.raises(RevisionConflict) as err:
            with store.edit("delete") as edit:
                edit.expect(b.id, 1)
                edit.remove_face(b.id)
                edit.expect(a.id, 1)
        assert (err.value.face_id, err.value.expected, err.value.current) == (a.id, 1, 2)
        assert store.face(b.id) is not None and store.last_edit().kind == "landmark"
        # Delete one face, add another, accept a frame, paint a mask: one edit each.
        with store.edit("delete") as edit:
            edit.expect(b.id, 1)
            edit.remove_face(b.id)
        new = make_face(rng, 2, 1)
        with store.edit("add") as edit:
            new_id = edit.add_face(new)
        assert new_id > c.id and store.face(new_id).revision == 1
        with store.edit("accept") as edit:
            edit.set_reviewed(2, True)
        assert list(store.reviewed_frames()) == [2]
        with store.edit("mask") as edit:
            edit.expect(c.id, 1)
            edit.set_mask(c.id, "label", np.zeros((256, 256), np.uint8))
        assert store.face(c.id).revision == 2
        # Undo takes the latest edit only, and names the one it expects.
        with pytest.raises(EditConflict, match="not the latest"):
            store.undo(1)
        assert store.undo().edit.kind == "mask"
        assert_same_face(store.face(c.id), before[c.id]) and store.face(c.id).revision == 3
        assert store.undo().frames == [2] and store.reviewed_frames() == {}
        undone = store.undo()
        assert undone.removed == {new_id: new.image} and store.face(new_id) is None
        assert store.undo().restored == [b.id]
        assert_same_face(store.face(b.id), before[b.id])
        # A face changed after an edit blocks that edit's undo; the store is left as it was.
        store.set_mask(a.id, "seg", np.zeros((256, 256), np.uint8))
        with pytest.raises(EditConflict, match=f"face {a.id} was changed"):
            store.undo()
        assert store.face(a.id).revision == 3 and store.last_edit().kind == "landmark"
        with pytest.raises(EditConflict, match="no edit"):
            AlignmentsStore.open(tmp_path / "empty", create=True).undo()


def test_two_editors_of_one_face_one_wins(tmp_path: Path, rng: np.random.Generator) -> None:
    with AlignmentsStore.open(tmp_path, create=True) as store:
        (fid,) = store.write_frame(make_frame(rng, 1, 1))
    first, second = AlignmentsStore.open(tmp_path), AlignmentsStore.open(tmp_path)
    try:
        seen = first.face(fid).revision
        assert second.face(fid).revision == seen
        with first.edit("box") as edit:
            face = edit.expect(fid, seen)
            face.score = 0.25
            edit.replace_face(face)
        with pytest.raises(RevisionConflict):
            with second.edit("box") as edit:
                edit.expect(fid, seen)
        assert second.face(fid).score == 0.25 and second.face(fid).revision == seen + 1
    finally:
        first.close()
        second.close()


def test_failed_upgrade_leaves_v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "alignments.db"
    conn = sqlite3.connect(db)
    schema.create_v1(conn)
    conn.commit()
    conn.close()

    def broken(c: sqlite3.Connection) -> None:
        c.execute("ALTER TABLE faces ADD COLUMN track_id INTEGER")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(schema.UPGRADES, 1, broken)
    with pytest.raises(RuntimeError):
        AlignmentsStore.open(tmp_path)
    conn = sqlite3.connect(db)
    assert schema.read_version(conn) == 1 and "track_id" not in _columns(conn, "faces")
    conn.close()


_WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from facegraft.store.alignments import AlignmentsStore, EditConflict, Face, FrameRecord, RevisionConflict
    store = AlignmentsStore.open(sys.argv[1], create=True)
    rng = np.random.default_rng(0)
    crash_at = int(sys.argv[2])
    if crash_at >= 0:
        real = store._write
        def dying(rec):
            if rec.frame == crash_at:
                # Enough to spill past the page cache, so the database file itself is half-changed.
                big = [Face(rec.frame + 100000, i, (0, 0, 1, 1), 0.5, np.zeros((68, 2)),
                            masks={"m": rng.integers(0, 256, (512, 512), dtype=np.uint8)}) for i in range(40)]
                real(FrameRecord(frame=rec.frame + 100000, faces=big))
                os._exit(3)
            return real(rec)
        store._write = dying
    for frame in range(100000):
        n = frame % 4 + 1
        faces = [Face(frame, i, (0, 0, 1, 1), 0.5, rng.random((68, 2)).astype(np.float32),
                      masks={"m": rng.integers(0, 256, (96, 96), dtype=np.uint8)}) for i in range(n)]
        store.write_frame(FrameRecord(frame=frame, faces=faces))
        print(frame, flush=True)
    """
)


_HOT_JOURNAL = bytes.fromhex("d9d505f920a163d7")  # rollback-journal magic, written once the db may change


def _check_complete(shot: Path) -> set[int]:
    with AlignmentsStore.open(shot) as store:
        done = store.frames_done()
        for frame in done:
            rec = store.frame(frame, load_masks=True)
            assert len(rec.faces) == frame % 4 + 1, frame
            assert all("m" in f.masks for f in rec.faces)
            assert [f.index for f in rec.faces] == list(range(len(rec.faces)))
        assert done == set(range(len(done)))
        return done


def test_exit_inside_a_transaction_keeps_frames_whole(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path), "7"], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert (tmp_path / "alignments.db-journal").read_bytes()[:8] == _HOT_JOURNAL
    assert _check_complete(tmp_path) == set(range(7))
    assert not (tmp_path / "alignments.db-journal").exists()


def test_sigkill_mid_write_keeps_frames_whole(tmp_path: Path) -> None:
    # Most kills land inside a transaction (a journal is left behind); some after the file began to change.
    for attempt, delay in enumerate((0.003, 0.011, 0.019)):
        shot = tmp_path / str(attempt)
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(shot), "-1"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + 60
            while int(proc.stdout.readline() or -1) < 30 and time.monotonic() < deadline:
                pass
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert len(_check_complete(shot)) >= 31
        assert not (shot / "alignments.db-journal").exists()
