"""Alignment maths checked against independent facts: known similarity transforms, mirror symmetry,
level eyes in aligned crops, and alignment undoing a known move of the photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegraft.geometry.alignment import (
    FACE_TYPES,
    MIRROR_68,
    alignment_matrix,
    eye_distance,
    face_type,
    invert_affine,
    mean_face,
    roll_degrees,
    transform_points,
    umeyama,
    warp_face,
)

ORDER = ["half", "mid", "full", "whole", "head"]  # crop coverage grows in this order


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.radians(angle_deg)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = np.eye(3)
    m[:2, :2] = scale * r
    m[:2, 2] = shift
    return m


def _screen_rotation(angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """(2, 3) rotation by `angle_deg` counter-clockwise on screen (image y points down) about `centre`."""
    a = np.radians(angle_deg)
    c, s = np.cos(a), np.sin(a)
    cx, cy = centre
    # Counter-clockwise on a y-down screen: (1, 0) -> (cos, -sin).
    return np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy]])


# --- umeyama -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_umeyama_recovers_a_known_similarity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    src = rng.normal(size=(30, 2)) * 100
    m = _similarity(rng.uniform(-180, 180), rng.uniform(0.2, 5.0), tuple(rng.uniform(-500, 500, 2)))
    dst = src @ m[:2, :2].T + m[:2, 2]
    got = umeyama(src, dst)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, m, atol=1e-9)


def test_umeyama_without_scale_recovers_a_rigid_move() -> None:
    rng = np.random.default_rng(7)
    src = rng.normal(size=(20, 2)) * 50
    m = _similarity(33.0, 1.0, (12.5, -40.0))
    dst = src @ m[:2, :2].T + m[:2, 2]
    np.testing.assert_allclose(umeyama(src, dst, scale=False), m, atol=1e-9)


def test_umeyama_without_scale_keeps_unit_scale() -> None:
    rng = np.random.default_rng(8)
    src = rng.normal(size=(20, 2)) * 50
    m = _similarity(-20.0, 2.5, (3.0, 4.0))
    dst = src @ m[:2, :2].T + m[:2, 2]
    got = umeyama(src, dst, scale=False)
    assert np.linalg.det(got[:2, :2]) == pytest.approx(1.0, abs=1e-9)
    # The rotation is still the right one.
    np.testing.assert_allclose(got[:2, :2], m[:2, :2] / 2.5, atol=1e-9)


def test_umeyama_of_mirrored_points_is_reflection_free() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(40, 2)) * 10
    dst = src * np.array([-1.0, 1.0]) + np.array([5.0, 6.0])  # a mirror: no rotation maps src onto it
    m = umeyama(src, dst)
    a = m[:2, :2]
    assert np.linalg.det(a) > 0
    # A proper similarity: a = c * R with R orthonormal.
    c = np.sqrt(np.linalg.det(a))
    np.testing.assert_allclose(a.T @ a, c**2 * np.eye(2), atol=1e-9)
    assert np.all(np.isfinite(m)) and m[2].tolist() == [0.0, 0.0, 1.0]


# --- invert_affine / transform_points ----------------------------------------------------------------


def test_transform_points_known_rotation_and_shift() -> None:
    m = np.array([[0.0, -1.0, 10.0], [1.0, 0.0, 20.0]])  # 90 degrees, then +(10, 20)
    pts = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(transform_points(pts, m), [[10.0, 21.0], [9.0, 20.0], [7.0, 22.0]])
    m3 = np.vstack([m, [0, 0, 1]])
    np.testing.assert_allclose(transform_points(pts, m3), transform_points(pts, m))


def test_invert_affine_round_trip() -> None:
    m = _similarity(25.0, 1.7, (30.0, -12.0))[:2]
    m[0, 1] += 0.3  # a general affine, not just a similarity
    inv = invert_affine(m)
    assert inv.shape == (2, 3)
    pts = np.random.default_rng(1).uniform(-100, 100, (10, 2))
    np.testing.assert_allclose(transform_points(transform_points(pts, m), inv), pts, atol=1e-9)
    full = np.vstack([m, [0, 0, 1]]) @ np.vstack([inv, [0, 0, 1]])
    np.testing.assert_allclose(full, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(invert_affine(np.vstack([m, [0, 0, 1]])), inv)


# --- the canonical face ------------------------------------------------------------------------------


def test_mirror_68_is_an_involution_and_a_permutation() -> None:
    assert sorted(MIRROR_68.tolist()) == list(range(68))
    np.testing.assert_array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    # Known pairs of the iBUG layout: jaw ends, outer eye corners, mouth corners; the chin stays.
    assert MIRROR_68[0] == 16 and MIRROR_68[36] == 45 and MIRROR_68[48] == 54
    assert MIRROR_68[8] == 8 and MIRROR_68[30] == 30 and MIRROR_68[57] == 57


def test_mean_face_inner_face_spans_the_unit_square() -> None:
    mf = mean_face()
    assert mf.shape == (68, 2)
    inner = mf[17:]
    lo, hi = inner.min(0), inner.max(0)
    # The wider extent (x) touches both sides; everything lies inside the unit square.
    assert lo[0] == pytest.approx(0.0, abs=1e-6) and hi[0] == pytest.approx(1.0, abs=1e-6)
    assert lo[1] >= -1e-6 and hi[1] <= 1 + 1e-6
    assert (lo[1] + hi[1]) / 2 == pytest.approx(0.5, abs=0.02)


def test_mean_face_is_left_right_symmetric() -> None:
    mf = mean_face()
    mirrored = mf.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    mirrored = mirrored[MIRROR_68]
    np.testing.assert_allclose(mirrored, mf, atol=1e-3)


def test_mean_face_is_upright() -> None:
    mf = mean_face()
    eyes_y = (mf[36:42, 1].mean() + mf[42:48, 1].mean()) / 2
    assert mf[17:27, 1].max() < eyes_y < mf[30, 1] < mf[51, 1] < mf[57, 1] < mf[8, 1]
    assert mf[36:42, 0].mean() < mf[42:48, 0].mean()  # the image-left eye is on the left


def test_face_type_unknown_name_lists_choices() -> None:
    with pytest.raises(ValueError) as err:
        face_type("nope")
    text = str(err.value)
    assert "nope" in text
    for name in ORDER:
        assert name in text


def test_face_types_are_documented() -> None:
    assert set(ORDER) <= set(FACE_TYPES)
    for name in ORDER:
        assert face_type(name).name == name


# --- alignment of the reference photos ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
@pytest.mark.parametrize("ft", ORDER)
def test_alignment_levels_the_eyes_and_centres_the_face(reference_landmarks, name: str, ft: str) -> None:
    size = 256
    m = alignment_matrix(reference_landmarks[name], ft, size)
    assert m.shape == (2, 3)
    p = transform_points(reference_landmarks[name], m)
    left, right = p[36:42].mean(0), p[42:48].mean(0)
    assert abs(left[1] - right[1]) < 0.01 * size  # level eyes
    assert left[0] < right[0]  # not mirrored
    assert (left[0] + right[0]) / 2 == pytest.approx(size / 2, abs=0.04 * size)  # centred left/right
    assert p[30, 0] == pytest.approx(size / 2, abs=0.06 * size)  # nose tip on the centre line
    inner = p[17:]
    assert inner.min() >= 0 and inner.max() <= size  # the inner face is inside the crop
    # Top to bottom: brows above the eyes above the nose tip above the mouth above the chin.
    assert p[17:27, 1].mean() < left[1] < p[30, 1] < p[62, 1] < p[8, 1]
    assert 0.3 * size < inner[:, 1].mean() < 0.7 * size


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_crop_coverage_grows_from_half_to_head(reference_landmarks, name: str) -> None:
    size = 256
    eye_px = []
    for ft in ORDER:
        p = transform_points(reference_landmarks[name], alignment_matrix(reference_landmarks[name], ft, size))
        eye_px.append(eye_distance(p))
    assert all(a > b for a, b in zip(eye_px, eye_px[1:])), dict(zip(ORDER, eye_px))


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_crop_size_scales_the_matrix(reference_landmarks, name: str) -> None:
    lm = reference_landmarks[name]
    small = transform_points(lm, alignment_matrix(lm, "full", 128))
    large = transform_points(lm, alignment_matrix(lm, "full", 512))
    np.testing.assert_allclose(large, small * 4.0, atol=1e-6)


@pytest.mark.parametrize("ft", ["half", "full", "head"])
def test_alignment_undoes_a_known_move(photos, reference_landmarks, ft: str) -> None:
    photo = photos["astronaut"]
    lm = reference_landmarks["astronaut"]
    move = cv2.getRotationMatrix2D((256.0, 256.0), 23.0, 1.3)
    move[:, 2] += (60.0, 40.0)
    moved = cv2.warpAffine(photo, move, (700, 640), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    moved_lm = transform_points(lm, move)
    size = 256
    crop = warp_face(photo, alignment_matrix(lm, ft, size), size).astype(np.float64)
    again = warp_face(moved, alignment_matrix(moved_lm, ft, size), size).astype(np.float64)
    assert crop.shape == again.shape == (size, size, 3)
    diff = np.abs(crop - again).mean()
    assert diff < 6.0, diff
    # The comparison can fail: the moved photo through the unmoved face's matrix is another picture.
    wrong = warp_face(moved, alignment_matrix(lm, ft, size), size).astype(np.float64)
    assert np.abs(crop - wrong).mean() > 4 * max(diff, 1.0)


# --- roll and eye distance ---------------------------------------------------------------------------


def test_roll_of_the_mean_face_is_zero() -> None:
    assert roll_degrees(mean_face() * 200 + 50) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("angle", [-40.0, -12.0, 5.0, 30.0])
def test_roll_reads_a_known_rotation_of_the_mean_face(angle: float) -> None:
    pts = mean_face() * 200 + 50
    turned = transform_points(pts, _screen_rotation(angle, (150.0, 150.0)))
    assert roll_degrees(turned) == pytest.approx(angle, abs=1e-6)


@pytest.mark.parametrize("angle", [-25.0, 10.0, 35.0])
def test_roll_reads_a_known_rotation_of_the_photo_landmarks(reference_landmarks, angle: float) -> None:
    lm = reference_landmarks["grace_hopper"]
    base = roll_degrees(lm)
    assert abs(base) < 10  # an upright portrait
    # cv2.getRotationMatrix2D: positive angles turn counter-clockwise on screen.
    turned = transform_points(lm, cv2.getRotationMatrix2D((256.0, 300.0), angle, 0.8))
    assert roll_degrees(turned) - base == pytest.approx(angle, abs=2.0)


def test_roll_sign_from_the_eye_line() -> None:
    """An eye line that rises to the right on screen (y down) is a counter-clockwise (positive) roll."""
    pts = mean_face() * 100
    turned = transform_points(pts, _screen_rotation(15.0, (50.0, 50.0)))
    left, right = turned[36:42].mean(0), turned[42:48].mean(0)
    assert right[1] < left[1]  # the construction really raised the right eye
    assert roll_degrees(turned) > 0


def test_eye_distance_known_values() -> None:
    pts = np.zeros((68, 2))
    pts[36:42] = (10.0, 20.0)
    pts[42:48] = (13.0, 24.0)
    assert eye_distance(pts) == pytest.approx(5.0)
    mf = mean_face()
    d = eye_distance(mf)
    assert 0.3 < d < 0.8  # the eyes sit well inside the unit-wide inner face
    moved = transform_points(mf, _similarity(37.0, 3.0, (100.0, -5.0)))
    assert eye_distance(moved) == pytest.approx(3.0 * d, rel=1e-9)
