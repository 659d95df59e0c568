"""Head pose and landmark masks, checked with symmetry, known in-plane rotations and geometry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegraft.geometry.alignment import MIRROR_68, alignment_matrix, transform_points
from facegraft.geometry.masks import MASKERS, components_mask, extended_mask, landmark_masks
from facegraft.geometry.pose import head_pose

NAMES = ["astronaut", "grace_hopper"]


def _frame_size(photo: np.ndarray) -> tuple[int, int]:
    return photo.shape[1], photo.shape[0]


def _mirror(landmarks: np.ndarray, width: int) -> np.ndarray:
    """The landmarks of the horizontally flipped frame, relabelled so point i is the same feature again."""
    flipped = np.asarray(landmarks, np.float64).copy()
    flipped[:, 0] = width - flipped[:, 0]
    return flipped[MIRROR_68]


# --- pose --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_frontal_photos_have_modest_yaw_and_pitch(photos, reference_landmarks, name: str) -> None:
    yaw, pitch, roll = head_pose(reference_landmarks[name], _frame_size(photos[name]))
    assert all(np.isfinite([yaw, pitch, roll]))
    assert abs(yaw) < 20, yaw
    assert abs(pitch) < 20, pitch
    assert abs(roll) < 10, roll


@pytest.mark.parametrize("name", NAMES)
def test_mirrored_face_flips_yaw_and_roll(photos, reference_landmarks, name: str) -> None:
    size = _frame_size(photos[name])
    yaw, pitch, roll = head_pose(reference_landmarks[name], size)
    myaw, mpitch, mroll = head_pose(_mirror(reference_landmarks[name], size[0]), size)
    assert myaw == pytest.approx(-yaw, abs=3.0)
    if abs(yaw) > 3:
        assert np.sign(myaw) == -np.sign(yaw)
    assert mpitch == pytest.approx(pitch, abs=3.0)
    assert mroll == pytest.approx(-roll, abs=0.5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("angle", [-20.0, 15.0])
def test_in_plane_rotation_changes_roll_only(photos, reference_landmarks, name: str, angle: float) -> None:
    size = _frame_size(photos[name])
    lm = reference_landmarks[name]
    yaw, pitch, roll = head_pose(lm, size)
    # Rotate about the frame centre (where the pose camera looks): positive = counter-clockwise on screen.
    m = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), angle, 1.0)
    ryaw, rpitch, rroll = head_pose(transform_points(lm, m), size)
    assert rroll - roll == pytest.approx(angle, abs=2.0)
    assert ryaw == pytest.approx(yaw, abs=5.0)
    assert rpitch == pytest.approx(pitch, abs=5.0)


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_nose_moved_right_reads_as_a_turn_right_however_little(
    photos, reference_landmarks, name: str
) -> None:
    """Near frontal a flat-ish set of points also fits a mirrored pose; a nose tip moved right and up by a
    pixel or a few (an artist's drag on the review page) must read as turned right and looking up, growing
    with the move."""
    size = _frame_size(photos[name])
    lm = reference_landmarks[name]
    yaw0, pitch0, _ = head_pose(lm, size)
    last = (0.0, 0.0)
    for step in (1, 2, 4, 8):
        moved = lm.copy()
        moved[30] += (step, -step * 2 / 3)
        yaw, pitch, _ = head_pose(moved, size)
        assert yaw - yaw0 > last[0] and pitch - pitch0 > last[1], (step, yaw - yaw0, pitch - pitch0)
        last = (yaw - yaw0, pitch - pitch0)


def _project_head(yaw: float, pitch: float, points: np.ndarray) -> np.ndarray:
    """Image points of a 3D head (x right, y up, z to the camera; mm) turned by yaw about the vertical
    (nose towards the image right) and pitch about the horizontal (nose up), seen by a 1000 px camera."""
    y, p = np.radians(yaw), np.radians(pitch)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    turned = points @ (ry @ rx).T
    depth = 600.0 - turned[:, 2]
    return np.stack([500 + 1000 * turned[:, 0] / depth, 500 - 1000 * turned[:, 1] / depth], axis=1)


@pytest.mark.parametrize(("yaw", "pitch"), [(0, 0), (25, 0), (-25, 0), (0, 20), (0, -20), (15, -10)])
def test_known_head_turns_are_read_back_with_their_signs(yaw: float, pitch: float) -> None:
    """Documented signs: yaw > 0 when the face turns towards the image's right, pitch > 0 when it looks up.
    A head with the average proportions of an adult (independent of the pose model's own numbers: eye
    corners, nose, chin from anthropometric tables) is turned by a known amount and projected."""
    ids = [27, 30, 33, 36, 39, 42, 45, 8, 48, 54]
    head = np.array(
        [
            [0, 35, -20],
            [0, 0, 0],
            [0, -12, -13],
            [-45, 34, -32],
            [-15, 33, -25],
            [15, 33, -25],
            [45, 34, -32],
            [0, -65, -18],
            [-26, -30, -22],
            [26, -30, -22],
        ],
        np.float64,
    )
    lm = np.full((68, 2), 500.0)
    lm[ids] = _project_head(yaw, pitch, head)
    # Fill the remaining points between known ones so the roll fit sees a face-like layout.
    lm[17:27] = np.linspace(lm[36] - [0, 40], lm[45] - [0, 40], 10)
    lm[37:39] = np.linspace(lm[36], lm[39], 4)[1:3]
    lm[40:42] = lm[37:39][::-1]
    lm[43:45] = np.linspace(lm[42], lm[45], 4)[1:3]
    lm[46:48] = lm[43:45][::-1]
    lm[0:17] = np.linspace(lm[36] - [20, 0], lm[45] + [20, 0], 17)
    lm[8] = _project_head(yaw, pitch, head[7:8])[0]
    lm[49:54] = np.linspace(lm[48], lm[54], 7)[1:6]
    lm[55:68] = lm[50]
    got_yaw, got_pitch, _ = head_pose(lm, (1000, 1000))
    assert got_yaw == pytest.approx(yaw, abs=4.0)
    assert got_pitch == pytest.approx(pitch, abs=4.0)


# --- masks -------------------------------------------------------------------------------------------

SIZE = 256


def _masks(reference_landmarks, name: str, size: int = SIZE, ft: str = "full") -> dict[str, np.ndarray]:
    lm = reference_landmarks[name]
    return landmark_masks(lm, alignment_matrix(lm, ft, size), size)


def test_maskers_registry() -> None:
    assert {"components", "extended"} <= set(MASKERS)


@pytest.mark.parametrize("name", NAMES)
def test_components_inside_extended(reference_landmarks, name: str) -> None:
    masks = _masks(reference_landmarks, name)
    comp, ext = masks["components"], masks["extended"]
    for m in (comp, ext):
        assert m.shape == (SIZE, SIZE) and m.dtype == np.uint8
        assert set(np.unique(m)) <= set(range(256)) and m.max() == 255
    assert np.all(ext[comp > 0] > 0)
    assert np.all(ext >= comp)


@pytest.mark.parametrize("name", NAMES)
def test_extended_adds_a_forehead(reference_landmarks, name: str) -> None:
    lm = reference_landmarks[name]
    m = alignment_matrix(lm, "full", SIZE)
    crop_pts = transform_points(lm, m)
    comp, ext = components_mask(crop_pts, SIZE), extended_mask(crop_pts, SIZE)
    a_comp, a_ext = int((comp > 127).sum()), int((ext > 127).sum())
    assert 1.05 * a_comp < a_ext < 1.6 * a_comp, (a_comp, a_ext)
    # The extra pixels lie above the brows.
    extra_rows = np.nonzero((ext > 127) & (comp <= 127))[0]
    brow_y = crop_pts[17:27, 1].max()
    assert np.mean(extra_rows < brow_y) > 0.95
    # Above the brows' centre, components is empty and extended is not.
    bx, by = crop_pts[17:27].mean(0)
    fy = int(by - 0.1 * (crop_pts[8, 1] - by))
    assert comp[fy, int(bx)] == 0 and ext[fy, int(bx)] == 255


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ft", ["half", "full", "head"])
def test_masks_hold_the_inner_features_and_not_the_corners(reference_landmarks, name: str, ft: str) -> None:
    lm = reference_landmarks[name]
    m = alignment_matrix(lm, ft, SIZE)
    crop_pts = transform_points(lm, m)
    masks = landmark_masks(lm, m, SIZE)
    inner = np.round(crop_pts[27:68]).astype(int)  # nose, eyes, mouth
    inner = inner[(inner >= 0).all(1) & (inner < SIZE).all(1)]
    assert len(inner) == 41
    for mask in masks.values():
        assert np.all(mask[inner[:, 1], inner[:, 0]] > 0)
        # Points well inside the face (eye centres, nose tip, mouth centre) are fully set.
        for p in (crop_pts[36:42].mean(0), crop_pts[42:48].mean(0), crop_pts[30], crop_pts[60:68].mean(0)):
            assert mask[int(round(p[1])), int(round(p[0]))] == 255
        for y, x in ((0, 0), (0, SIZE - 1), (SIZE - 1, 0), (SIZE - 1, SIZE - 1)):
            assert mask[y, x] == 0


@pytest.mark.parametrize("name", NAMES)
def test_mask_area_scales_with_size_squared(reference_landmarks, name: str) -> None:
    small = _masks(reference_landmarks, name, 128)
    large = _masks(reference_landmarks, name, 512)
    for key in ("components", "extended"):
        a_small = small[key].astype(np.float64).sum() / 255
        a_large = large[key].astype(np.float64).sum() / 255
        assert a_large / a_small == pytest.approx(16.0, rel=0.03)
        # And a sane share of the crop: the face is most of a `full` crop, never all of it.
        assert 0.25 < a_large / 512**2 < 0.9


def test_mask_is_left_right_symmetric_for_a_symmetric_face() -> None:
    from facegraft.geometry.alignment import mean_face

    pts = mean_face() * 160 + 48  # a symmetric face centred in a 256 crop
    for fn in (components_mask, extended_mask):
        mask = fn(pts, SIZE).astype(np.int32)
        flipped = mask[:, ::-1]
        # The crop centre line is x = 127.5 while the face's is x = 128: allow a one-pixel column shift.
        shifted = np.roll(flipped, 1, axis=1)
        assert min(np.abs(mask - flipped).mean(), np.abs(mask - shifted).mean()) < 2.0
