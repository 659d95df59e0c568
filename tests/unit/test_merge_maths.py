"""The image maths of merging, measured on synthetic images: compositing, matte shaping, smoothing, colour
windows and motion blur."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegraft.merge import blend, matte
from facegraft.merge.merger import FaceTask, PreparedFace
from facegraft.merge.options import MergeOptions
from facegraft.merge.recolour import recolour
from facegraft.merge.smoothing import smooth_track, velocity


def disc(size: int = 128, radius: int = 40, centre=(64, 64)) -> np.ndarray:
    m = np.zeros((size, size), np.float32)
    cv2.circle(m, centre, radius, 1.0, -1)
    return m


def test_over_keeps_the_plate_exactly_where_the_matte_is_zero():
    rng = np.random.default_rng(1)
    plate = (rng.random((64, 64, 3)) * 5).astype(np.float32)  # scene-linear, highlights above 1
    face = rng.random((64, 64, 3)).astype(np.float32)
    a = disc(64, 20, (32, 32))
    comp = blend.over(face * a[..., None], a, plate)
    assert np.array_equal(comp[a == 0], plate[a == 0])
    assert np.allclose(comp[a == 1], face[a == 1])


def test_erode_shrinks_dilate_grows_and_feather_stays_inside_the_edge():
    m = disc()
    area = m.sum()
    r_eroded = np.sqrt(matte.erode(m, 5).sum() / np.pi)
    r_grown = np.sqrt(matte.erode(m, -5).sum() / np.pi)
    assert r_eroded == pytest.approx(35, abs=1.0) and r_grown == pytest.approx(45, abs=1.0)
    soft = matte.feather(m, 10)
    assert soft[m == 0].max() == 0.0, "the feather must not reach past the mask"
    assert soft[64, 64] == pytest.approx(1.0)
    assert 0.5 * area < soft.sum() < area


def test_per_side_erosion_moves_only_that_side():
    m = disc()
    dirs = matte.face_directions(np.array([[1.0, 0, 0], [0, 1.0, 0]]))  # upright face
    shaped = matte.shape_matte(m, sides={"top": 8}, directions=dirs)
    rows = np.nonzero(shaped.max(1) > 0.5)[0]
    cols = np.nonzero(shaped.max(0) > 0.5)[0]
    orig_rows = np.nonzero(m.max(1) > 0.5)[0]
    orig_cols = np.nonzero(m.max(0) > 0.5)[0]
    assert rows[0] == pytest.approx(orig_rows[0] + 8, abs=1)  # top edge moved down 8 px
    assert rows[-1] == orig_rows[-1]  # bottom edge kept
    assert abs(cols[0] - orig_cols[0]) <= 1 and abs(cols[-1] - orig_cols[-1]) <= 1


def test_edge_position_is_sub_pixel():
    row = np.clip(np.arange(20, dtype=np.float32) - 9.3, 0, 1)[None, :].repeat(3, 0)
    left, right = matte.edge_position(row)[0]
    assert left == pytest.approx(9 + 0.5 / 0.7, abs=1e-4) and right == 19


def test_smoothing_removes_jitter_but_not_across_a_gap():
    rng = np.random.default_rng(0)
    base = rng.random((68, 2)) * 100
    track = {f: base + rng.normal(0, 1.0, (68, 2)) for f in range(10)}
    track.update({f: base + 50 + rng.normal(0, 1.0, (68, 2)) for f in range(12, 20)})  # a cut after a gap
    smooth = smooth_track(track, frames=2)
    jitter = np.std([track[f] - base for f in range(2, 8)])
    after = np.std([smooth[f] - base for f in range(2, 8)])
    assert after < 0.7 * jitter
    assert np.abs(smooth[12] - (base + 50)).mean() < 2.0, "smoothing must not reach across the gap"
    assert smooth_track(track, frames=0)[3] == pytest.approx(track[3])


def test_velocity_and_motion_blur_follow_the_motion():
    track = {f: np.full((68, 2), 10.0 * f) for f in range(5)}
    assert velocity(track, 2) == pytest.approx([10.0, 10.0])
    k = blend.motion_kernel(np.array([12.0, 0.0]), 1.0)
    assert k is not None and k.sum() == pytest.approx(1.0)
    assert np.count_nonzero(k.sum(0)) >= 11 and np.count_nonzero(k.sum(1)) == 1  # horizontal streak
    assert blend.motion_kernel(np.array([0.3, 0.2]), 1.0) is None
    a = disc(64, 15, (32, 32))
    face = np.ones((64, 64, 3), np.float32) * 0.5
    p, m = blend.motion_blur(face * a[..., None], a, k)
    inside = m > 0.01
    assert np.allclose(p[inside] / m[inside, None], 0.5, atol=1e-4)  # no fringes: colour unchanged


def test_face_scale_grows_about_the_crop_centre():
    f2p = np.array([[2.0, 0.0, 100.0], [0.0, 2.0, 50.0]])
    bigger = blend.scaled_about_centre(f2p, 64, 10)
    centre = np.array([31.5, 31.5, 1.0])
    assert bigger @ centre == pytest.approx(f2p @ centre)
    corner = np.array([0.0, 0.0, 1.0])
    assert np.linalg.norm(bigger @ corner - bigger @ centre) == pytest.approx(
        1.1 * np.linalg.norm(f2p @ corner - f2p @ centre)
    )


def _face(level: float, swap_level: float = 0.5) -> PreparedFace:
    r = 32
    crop = np.full((r, r, 3), level, np.float32)
    crop += np.random.default_rng(int(level * 1000)).normal(0, 0.02, crop.shape).astype(np.float32)
    swap = np.full((r, r, 3), swap_level, np.float32)
    swap += np.random.default_rng(7).normal(0, 0.02, swap.shape).astype(np.float32)
    ones = np.ones((r, r), np.float32)
    return PreparedFace(FaceTask(np.zeros((68, 2))), np.eye(3)[:2], crop, swap, ones, ones, ones)


def test_a_colour_window_damps_flicker():
    levels = [0.4, 0.6, 0.4, 0.6, 0.4, 0.6]  # the plate's face flickers
    faces = [_face(v) for v in levels]
    alone = [recolour(f, "rct").mean() for f in faces]
    pooled = [recolour(f, "rct", faces[max(0, i - 2) : i]).mean() for i, f in enumerate(faces)]
    assert np.ptp(alone[2:]) > 0.1
    assert np.ptp(pooled[2:]) < 0.5 * np.ptp(alone[2:])


def test_every_colour_mode_runs_and_moves_the_swap_towards_the_plate():
    from facegraft.merge.options import COLOUR_MODES

    face = _face(0.7, 0.3)
    for mode in COLOUR_MODES:
        out = recolour(face, mode)
        assert out.shape == face.swap.shape and np.isfinite(out).all(), mode
        if mode != "none":
            assert abs(out.mean() - 0.7) < abs(face.swap.mean() - 0.7), mode


def test_options_reject_bad_values_by_name():
    from facegraft.errors import InputError

    for kwargs, words in [
        ({"erode_sides": "up=3"}, "--erode-sides"),
        ({"degrade": "blur=-1"}, "--degrade"),
        ({"face_scale": 80}, "--face-scale"),
        ({"colour": "sepia"}, "sepia"),
    ]:
        with pytest.raises(InputError, match=words):
            MergeOptions(**kwargs).validate()
    assert MergeOptions(erode_sides="top=6, bottom=2").sides()["top"] == 6.0
