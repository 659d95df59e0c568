"""Persons: tracks grouped by identity (pure clustering maths) and kept in the store (schema 5)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facegraft.errors import InputError, StoreError
from facegraft.persons.grouping import (
    NOISY,
    THRESHOLD,
    TrackSamples,
    cluster,
    group_tracks,
    sample_distances,
    sample_spread,
    track_distances,
)
from facegraft.persons.select import resolve_person
from facegraft.persons.shot import frame_ranges, merge, pick_samples, split, summaries
from facegraft.store import schema
from facegraft.store.alignments import NOT_TARGET, AlignmentsStore, Face, FrameRecord, Person


def _identity(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=128)
    return v / np.linalg.norm(v) * 0.9  # dlib descriptors of different people lie ~0.8-1.0 apart


def _track(rng, key, centre, frames, n=4, spread=0.02, weak=False) -> TrackSamples:
    desc = centre + rng.normal(scale=spread, size=(n, 128))
    return TrackSamples(key, desc.astype(np.float32), frozenset(frames), weak)


def test_tracks_of_one_identity_join_across_cuts_and_two_people_on_screen_never_do() -> None:
    rng = np.random.default_rng(1)
    a, b, c = (_identity(rng) for _ in range(3))
    tracks = [
        _track(rng, 0, a, range(0, 50)),  # shot 1: A and B together
        _track(rng, 1, b, range(0, 50)),
        _track(rng, 2, a, range(60, 90)),  # shot 2: A again, then C
        _track(rng, 3, c, range(60, 90)),
        _track(rng, 4, b, range(100, 120), n=2),  # shot 3: B again
    ]
    labels = group_tracks(tracks)
    assert labels[0] == labels[2] and labels[1] == labels[4]
    assert len({labels[0], labels[1], labels[3]}) == 3
    # The person with the most samples comes first.
    assert labels[0] == 0
    # Even the same descriptors cannot make two faces of one frame one person.
    twin = [_track(rng, 0, a, range(10)), _track(rng, 1, a, range(5, 15))]
    assert group_tracks(twin) == [0, 1]


def test_average_linkage_stops_at_the_threshold_and_weak_evidence_needs_more() -> None:
    d = np.array([[0, 0.3, 0.9], [0.3, 0, 0.8], [0.9, 0.8, 0]])
    assert cluster(d, [1, 1, 1]) == [0, 0, 1]
    assert cluster(d, [1, 1, 1], threshold=0.2) == [0, 1, 2]
    assert cluster(d, [1, 1, 1], threshold=0.95) == [0, 0, 0]  # average (0.9 + 0.8) / 2 < 0.95
    assert cluster(np.array([[0, np.inf], [np.inf, 0]]), [1, 1], threshold=10) == [0, 1]
    rng = np.random.default_rng(2)
    a = _identity(rng)
    near = THRESHOLD * 0.7  # close enough for strong tracks, not for two weak ones
    x = _track(rng, 0, a, range(5), spread=0.0)
    y = TrackSamples(1, x.descriptors + near / np.sqrt(128), frozenset(range(10, 15)))
    assert track_distances([x, y])[0, 1] == pytest.approx(near, rel=1e-3)
    assert group_tracks([x, y]) == [0, 0]
    weak = [TrackSamples(t.key, t.descriptors, t.frames, True) for t in (x, y)]
    assert group_tracks(weak) == [0, 1]


def test_a_track_whose_own_samples_disagree_needs_closer_evidence() -> None:
    """Small moving faces give descriptors as far apart within one track as between two people: such a
    pair just under the threshold stays two persons, while tight tracks at that distance join."""
    rng = np.random.default_rng(3)
    a = _identity(rng)
    b = a + rng.normal(size=128) * (0.05 / np.sqrt(128))  # a look-alike: centres 0.05 apart
    tight = [_track(rng, 0, a, range(5), n=5, spread=0.01), _track(rng, 1, b, range(9, 14), n=5, spread=0.01)]
    assert track_distances(tight)[0, 1] < THRESHOLD and group_tracks(tight) == [0, 0]
    noisy = [
        _track(rng, 0, a, range(5), n=5, spread=0.0315),
        _track(rng, 1, b, range(9, 14), n=5, spread=0.0315),
    ]
    assert all(sample_spread(t.descriptors) >= NOISY for t in noisy)
    assert sample_distances(noisy[0].descriptors, noisy[1].descriptors) < THRESHOLD
    assert group_tracks(noisy) == [0, 1]


def test_samples_spread_over_the_track_and_frame_ranges() -> None:
    faces = [
        Face(frame=f, index=0, box=(0, 0, 10, 10), score=1, landmarks=np.zeros((68, 2), np.float32))
        for f in range(100)
    ]
    picked = pick_samples(faces, 5)
    assert len(picked) == 5 and [f.frame // 20 for f in picked] == [0, 1, 2, 3, 4]
    assert frame_ranges([1, 2, 3, 7, 9, 10]) == ((1, 3), (7, 7), (9, 10))
    assert frame_ranges([]) == ()


def _store_with_tracks(tmp_path: Path) -> AlignmentsStore:
    """Frames 0-9 with tracks 0 and 1 side by side, frames 10-19 (after a cut) with track 2."""
    store = AlignmentsStore.open(tmp_path / "shot", create=True)
    lms = np.zeros((68, 2), np.float32)
    recs = []
    for frame in range(20):
        tracks = (0, 1) if frame < 10 else (2,)
        faces = [
            Face(frame=frame, index=i, box=(0, 0, 50, 50), score=0.9, landmarks=lms + 60 * i, track_id=t)
            for i, t in enumerate(tracks)
        ]
        recs.append(FrameRecord(frame=frame, width=200, height=100, faces=faces, cut=frame == 10))
    store.write_frames(recs)
    return store


def _by_track(store: AlignmentsStore, groups: dict[int, list[int]]) -> None:
    emb = {pid: np.full(128, pid / 10, np.float32) for pid in groups}
    persons = [Person(pid, "", emb[pid]) for pid in groups]
    owner = {t: pid for pid, ts in groups.items() for t in ts}
    store.replace_persons(persons, {f.id: owner[f.track_id] for f in store.faces() if f.track_id in owner})


def test_store_keeps_persons_names_and_merges_and_splits_them(tmp_path: Path) -> None:
    with _store_with_tracks(tmp_path) as store:
        _by_track(store, {1: [0, 2], 2: [1]})
        found = {s.id: s for s in summaries(store)}
        assert found[1].faces == 20 and found[1].tracks == (0, 2) and found[1].shots == (0, 1)
        assert found[2].ranges == ((0, 9),) and found[2].label == "person2"
        store.set_person_name(1, "lead")
        assert resolve_person(store, "lead").id == 1 and resolve_person(store, "2").id == 2
        with pytest.raises(InputError, match="no person named 'nobody'"):
            resolve_person(store, "nobody")
        with pytest.raises(InputError, match="no person 7 in this shot"):
            resolve_person(store, "7")
        for bad in ("12", "has space", "x" * 41, "-lead"):
            with pytest.raises(StoreError, match="not allowed"):
                store.set_person_name(2, bad)
        with pytest.raises(StoreError, match="already named 'lead'"):
            store.set_person_name(2, "lead")
        new = split(store, 1, tracks=[2])
        assert [len(store.person_faces(p)) for p in (1, *new)] == [10, 10]
        assert store.persons()[0].name == "lead"
        merge(store, 1, new)
        assert len(store.person_faces(1)) == 20 and [p.id for p in store.persons()] == [1, 2]
        with pytest.raises(InputError, match="nothing would be left"):
            split(store, 2, tracks=[1])
        revision = store.faces()[0].revision
        assert store.set_flag([store.faces()[0].id], NOT_TARGET) == 1
        assert store.set_flag([store.faces()[0].id], NOT_TARGET) == 0  # already flagged
        face = store.faces()[0]
        assert face.flags == (NOT_TARGET,) and face.revision == revision + 1
        with pytest.raises(StoreError, match="unknown face flag"):
            store.set_flag([face.id], "bogus")


def test_a_v4_store_upgrades_with_no_persons(tmp_path: Path) -> None:
    db = tmp_path / "alignments.db"
    conn = sqlite3.connect(db)
    schema.create_v1(conn)
    for step in (1, 2, 3):
        schema.UPGRADES[step](conn)
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.execute("INSERT INTO frames (frame, width, height) VALUES (1, 64, 64)")
    conn.execute(
        "INSERT INTO faces (id, frame, idx, x0, y0, x1, y1, score, landmarks, track_id)"
        " VALUES (1, 1, 0, 1, 2, 3, 4, 0.7, ?, 3)",
        (np.zeros((68, 2), "<f4").tobytes(),),
    )
    conn.commit()
    conn.close()
    with AlignmentsStore.open(tmp_path) as store:
        assert store.schema_version == schema.CURRENT_VERSION == 5
        assert store.persons() == [] and store.faces()[0].person_id is None
        with pytest.raises(InputError, match="not grouped into persons"):
            resolve_person(store, "1")
        store.replace_persons([Person(4, "solo")], {1: 4})
        assert store.faces()[0].person_id == 4 and store.persons()[0].label == "solo"
