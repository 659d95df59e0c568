"""The pure maths behind the faceset tools: orderings, pose coverage, near-duplicates, PNG retagging."""

from __future__ import annotations

import numpy as np

from facegraft.faceset import measures, ordering
from facegraft.faceset.coverage import Grid, missing_poses, nearest_pose_distance
from facegraft.faceset.merge import duplicates
from facegraft.store.face_images import encode_face_png, read_face_tags, retag_face_png


def people(rng, centres, n, spread=0.02):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(0, spread, (n, centres.shape[1])), labels


def test_identity_order_gives_each_person_one_run_biggest_first():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 0.1, (3, 128))  # ~1.6 apart
    emb, labels = people(rng, centres, 60)
    emb = np.vstack([emb, centres[0] + 0.9])  # a stray far from all
    order, clusters = ordering.identity_order(emb, 0.6)
    seq = clusters[order]
    assert sorted(set(seq)) == [0, 1, 2, 3]
    assert all(seq[i] <= seq[i + 1] for i in range(len(seq) - 1)), "clusters are contiguous and ordered"
    sizes = np.bincount(clusters)
    assert list(sizes) == sorted(sizes, reverse=True) and sizes[-1] == 1
    assert order[-1] == 60, "the stray comes last"
    # each cluster is one true person
    for k in range(3):
        assert len(set(labels[clusters[:60] == k])) == 1


def test_mean_distances_match_a_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    direct = np.array([np.linalg.norm(x - x[i], axis=1).sum() / 49 for i in range(50)])
    assert np.allclose(ordering.mean_distances(x, chunk=7), direct, atol=1e-4)


def test_similarity_chain_visits_every_face_once_walking_to_neighbours():
    values = np.array([0.0, 10.0, 1.0, 9.0, 2.0])
    sim = -np.abs(values[:, None] - values[None, :])
    order = ordering.similarity_chain(sim)
    assert sorted(order) == list(range(5))
    steps = np.abs(np.diff(values[order]))
    assert steps.sum() <= 12.0  # a greedy walk along the line, one jump between the two groups


def test_final_selection_spreads_over_pose_and_takes_the_sharpest():
    yaw = np.array([0, 1, 2, 3, 40, 41, -40], float)
    pitch = np.zeros(7)
    sharp = np.array([5, 9, 1, 7, 3, 8, 2], float)
    size = np.ones(7)
    chosen = ordering.final_selection(yaw, pitch, sharp, size, 3)
    assert sorted(chosen) == [1, 5, 6]
    chosen = ordering.final_selection(yaw, pitch, sharp, size, 5)
    assert sorted(chosen) == [1, 3, 4, 5, 6], "spare places go to the cell that has more faces"
    assert len(ordering.final_selection(yaw, pitch, sharp, size, 99)) == 7


def test_missing_poses_flags_only_targets_far_from_every_source():
    src_yaw, src_pitch = np.array([-5.0, 0.0, 5.0]), np.zeros(3)
    dst_yaw = np.array([0.0, 12.0, 35.0, 36.0, -50.0])
    dst_pitch = np.zeros(5)
    d = nearest_pose_distance(dst_yaw, dst_pitch, src_yaw, src_pitch)
    assert np.allclose(d, [0, 7, 30, 31, 45])
    cells = missing_poses(src_yaw, src_pitch, dst_yaw, dst_pitch, radius=10)
    assert [sorted(c.indices) for c in cells] == [[2, 3], [4]]
    assert cells[0].yaw == (30.0, 40.0) and cells[0].nearest == 30.0
    grid = Grid(10)
    counts = grid.counts(dst_yaw, dst_pitch)
    assert counts.shape == (12, 18) and counts.sum() == 5


def test_duplicates_need_the_same_person_and_the_same_look():
    a = np.zeros(128, np.float32)
    b = a + 1.0  # someone else
    t0 = np.zeros(12, np.float32)
    emb = np.stack([a, a, a, b, a])
    thumbs = np.stack([t0, t0 + 0.01, t0 + 0.2, t0, t0])
    dropped = duplicates(emb, thumbs, 0.04)
    assert sorted(dropped) == [1, 4], dropped  # near copy and exact copy; other look and other person stay
    assert dropped[4] == (0, 0.0)


def test_retagging_keeps_pixels_and_replaces_tags(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    png = encode_face_png(rgb, {"face_id": 3, "plate": "x"})
    again = retag_face_png(png, {"face_id": 9, "note": "é"})
    path = tmp_path / "f.png"
    path.write_bytes(again)
    assert read_face_tags(path) == {"face_id": "9", "note": "é"}
    import cv2

    assert np.array_equal(cv2.imread(str(path))[:, :, ::-1], rgb)


def test_measures_read_what_they_say():
    import cv2

    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    region = np.zeros((128, 128), bool)
    region[32:96, 32:96] = True
    assert measures.sharpness(img, region) > measures.sharpness(cv2.GaussianBlur(img, (0, 0), 3), region)
    assert measures.brightness(np.full((8, 8, 3), 255, np.uint8), np.ones((8, 8), bool)) == 1.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    assert abs(measures.hue(red, np.ones((8, 8), bool))) < 2 or measures.hue(red, np.ones((8, 8), bool)) > 358
    inside = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert measures.outside_fraction(inside, 100, (100, 100)) == 0.0
    shifted = np.array([[1.0, 0, 50], [0, 1.0, 0]])  # crop x = plate x + 50: the left half is off-frame
    assert abs(measures.outside_fraction(shifted, 100, (100, 100)) - 0.5) < 0.03


def test_final_selection_gives_places_left_over_to_the_fullest_cells_not_the_lowest_yaw():
    # 6 faces turned left, 1 just left of frontal, 5 frontal, 6 turned right; 6 places for 4 cells
    yaw = np.array([-25.0] * 6 + [-5.0] + [5.0] * 5 + [25.0] * 6)
    n = len(yaw)
    chosen = ordering.final_selection(yaw, np.zeros(n), np.arange(n, dtype=float), np.ones(n), 6)
    per_cell = [int(np.sum(np.isin(chosen, idx))) for idx in (range(0, 6), [6], range(7, 12), range(12, 18))]
    assert per_cell == [2, 1, 1, 2], "both sides of the head get the spare places"
