"""Who is in the plate: two people side by side come out as two faces that the identity embedding tells
apart and matches to the right person; a plate without a face records its frames with no faces at all; a
face followed through a move keeps one track id, one embedding and tagged face images."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.extract import identity
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.sample_data import no_face
from facegraft.sample_plates import Move, camera_path, render, write_png_sequence
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import read_face_tags

CANVAS = (640, 480)
TWO_SHOT = (1100, 640)  # width, height


def two_shot(photos, shift: int = 0) -> np.ndarray:
    """Astronaut on the left, Grace Hopper on the right, on a mid-grey canvas."""
    w, h = TWO_SHOT
    canvas = np.full((h, w, 3), 118, np.uint8)
    left, right = photos["astronaut"], photos["grace_hopper"]
    canvas[64 : 64 + left.shape[0], 20 + shift : 20 + shift + left.shape[1]] = left
    canvas[20 : 20 + right.shape[0], 568 - shift : 568 - shift + right.shape[1]] = right
    return canvas


@pytest.fixture(scope="module")
def reference_embeddings(photos, reference_landmarks) -> dict[str, np.ndarray]:
    return {name: identity.embed(photos[name], reference_landmarks[name]) for name in photos}


def test_two_people_are_told_apart(tmp_path, photos, reference_embeddings):
    write_png_sequence([two_shot(photos)], tmp_path / "plate.%04d.png", first=1)
    # The astronaut's face is ~100 px wide: --min-size 80 keeps faces that small findable.
    opts = ExtractOptions(min_size=80)
    summary = extract(tmp_path / "plate.####.png", tmp_path / "shot", opts, progress_mode="quiet")
    assert summary.faces == 2, f"expected two faces, found {summary.faces}"
    with AlignmentsStore.open(tmp_path / "shot") as store:
        faces = store.frame(1).faces
    assert len(faces) == 2
    assert all(f.embedding is not None and f.embedding.shape == (128,) for f in faces)
    assert len({f.track_id for f in faces}) == 2, [f.track_id for f in faces]
    apart = identity.distance(faces[0].embedding, faces[1].embedding)
    assert apart > identity.SAME_PERSON, f"the two people's descriptors are only {apart:.3f} apart"
    # Faces are ordered left to right: the astronaut first.
    by_x = sorted(faces, key=lambda f: float(f.landmarks[:, 0].mean()))
    for face, name, other in ((by_x[0], "astronaut", "grace_hopper"), (by_x[1], "grace_hopper", "astronaut")):
        own = identity.distance(face.embedding, reference_embeddings[name])
        wrong = identity.distance(face.embedding, reference_embeddings[other])
        assert own < wrong, f"{name}: {own:.3f} to own reference, {wrong:.3f} to {other}'s"
        assert own < identity.SAME_PERSON, f"{name}: {own:.3f} from own reference"


def test_two_shot_with_default_options_finds_both_faces(tmp_path, photos):
    """Known bug (core/extract/detectors.py): with the default --min-size 0 ("keep all") the detector still
    downscales the frame to --detect-width 640, so on this 1100-px-wide plate faces narrower than
    80 * 1100 / 640 = 137 px are never found: the astronaut (~100 px) is silently lost."""
    write_png_sequence([two_shot(photos)], tmp_path / "plate.%04d.png", first=1)
    summary = extract(tmp_path / "plate.####.png", tmp_path / "shot", progress_mode="quiet")
    assert summary.faces == 2, f"expected two faces with default options, found {summary.faces}"


def test_plate_without_faces_records_every_frame_empty(tmp_path):
    moves = [Move(shift=(dx, dy)) for dx, dy in ((0, 0), (12, -6), (-15, 8), (25, 10))]
    frames = [render(no_face(), move, CANVAS)[0] for move in moves]
    write_png_sequence(frames, tmp_path / "plate.%04d.png", first=1)
    summary = extract(tmp_path / "plate.####.png", tmp_path / "shot", progress_mode="quiet")
    assert summary.faces == 0
    assert summary.frames_without_faces == [1, 2, 3, 4]
    with AlignmentsStore.open(tmp_path / "shot") as store:
        assert store.frames_done() == {1, 2, 3, 4}
        found = {rec.frame: len(rec.faces) for rec in store.iter_frames()}
    assert found == {1: 0, 2: 0, 3: 0, 4: 0}, f"false positives: {found}"
    assert not list((tmp_path / "shot" / "faces").glob("*.png"))


def test_tracked_face_keeps_one_id_one_embedding_and_tagged_images(tmp_path, photos, reference_embeddings):
    frames = [render(photos["astronaut"], move, CANVAS)[0] for move in camera_path(10)]
    write_png_sequence(frames, tmp_path / "plate.%04d.png", first=1)
    shot = tmp_path / "shot"
    extract(tmp_path / "plate.####.png", shot, ExtractOptions(detect_every=5), progress_mode="quiet")
    with AlignmentsStore.open(shot) as store:
        recs = list(store.iter_frames())
    assert [rec.frame for rec in recs] == list(range(1, 11))
    counts = {rec.frame: len(rec.faces) for rec in recs}
    assert all(c == 1 for c in counts.values()), f"one face per frame expected: {counts}"
    faces = [rec.faces[0] for rec in recs]
    assert len({f.track_id for f in faces}) == 1, [f.track_id for f in faces]
    first = faces[0].embedding
    assert first is not None
    same = [np.array_equal(f.embedding, first) for f in faces]
    assert all(same), f"the embedding should be computed once per track: identical on frames {same}"
    assert identity.distance(first, reference_embeddings["astronaut"]) < identity.SAME_PERSON
    for face in faces:
        assert face.image is not None
        path = shot / "faces" / face.image
        assert path.is_file(), path
        tags = read_face_tags(path)
        assert tags.get("face_id") == str(face.id), (face.image, tags)
        assert tags.get("frame") == str(face.frame), (face.image, tags)
