"""Training data: facesets read back from an extracted shot, and augmentations measured on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.imaging.augment import clahe, flip, lab_shift, random_warp, random_warp_maps
from facegraft.sample_plates import camera_path, render, write_png_sequence
from facegraft.train.faceset import load_faceset, yaw_balanced_weights


@pytest.fixture(scope="module")
def shot(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("faceset")
    frames = [render(photos["astronaut"], m, (640, 480))[0] for m in camera_path(6)]
    write_png_sequence(frames, root / "plate.%04d.png")
    extract(
        root / "plate.####.png",
        root / "shot",
        ExtractOptions(size=128, embeddings=False),
        progress_mode="quiet",
    )
    return root / "shot"


def test_faceset_holds_the_faces_with_landmarks_on_them(shot):
    fs = load_faceset(shot, 64)
    assert fs.images.shape == (6, 64, 64, 3) and fs.images.dtype == np.uint8
    assert fs.landmarks.shape == (6, 68, 2)
    # The aligned face is centred: eye centres level and in the upper half, the mouth below them.
    eyes = (fs.landmarks[:, 36:42].mean(1), fs.landmarks[:, 42:48].mean(1))
    assert np.all(np.abs(eyes[0][:, 1] - eyes[1][:, 1]) < 1.5)
    assert np.all(fs.landmarks[:, 48:68, 1].mean(1) > eyes[0][:, 1])
    assert np.all((fs.landmarks > 0) & (fs.landmarks < 64))


def test_deleted_face_images_are_left_out(shot, tmp_path):
    import shutil

    copy = tmp_path / "shot"
    shutil.copytree(shot, copy)
    victim = sorted((copy / "faces").glob("*.png"))[2]
    victim.unlink()
    fs = load_faceset(copy, 64)
    assert len(fs) == 5
    for f in (copy / "faces").glob("*.png"):
        f.unlink()
    with pytest.raises(InputError, match="no face images"):
        load_faceset(copy, 64)


def test_face_type_mismatch_is_refused(shot):
    with pytest.raises(InputError, match="'full'"):
        load_faceset(shot, 64, face_type="head")


def test_yaw_balancing_gives_rare_poses_the_same_weight_as_common_ones():
    yaw = np.array([0.0] * 90 + [30.0] * 10)
    w = yaw_balanced_weights(yaw, bins=2)
    assert w[:90].sum() == pytest.approx(0.5) and w[90:].sum() == pytest.approx(0.5)


def test_random_warp_is_smooth_keeps_borders_and_changes_the_face(photos):
    rng = np.random.default_rng(0)
    mx, my = random_warp_maps(rng, 64)
    gx, gy = np.meshgrid(np.arange(64), np.arange(64))
    assert np.abs(mx[0] - gx[0]).max() < 1e-3 and np.abs(my[:, 0] - gy[:, 0]).max() < 1e-3  # borders fixed
    assert np.abs(np.diff(mx, axis=1)).max() < 3.0  # smooth: neighbours move together
    face = photos["astronaut"][80:208, 150:278].copy()
    warped = random_warp(face, np.random.default_rng(1))
    diff = np.abs(warped.astype(int) - face.astype(int)).mean()
    assert 1.0 < diff < 40.0


def test_flip_mirrors_pixels_and_relabels_landmarks():
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, 0] = 255
    lm = np.zeros((68, 2), np.float32)
    lm[36] = [1.0, 3.0]  # outer corner of the image-left eye
    out, lm2 = flip(img, lm)
    assert out[:, 7].min() == 255 and out[:, 0].max() == 0
    assert np.allclose(lm2[45], [6.0, 3.0])  # it becomes the outer corner of the image-right eye


def test_colour_augmentation_changes_light_not_layout(photos):
    face = photos["grace_hopper"][150:278, 200:328].copy()
    shifted = lab_shift(face, np.random.default_rng(3), lightness=0.3, ab=0.05)
    assert shifted.shape == face.shape
    assert abs(float(shifted.mean()) - float(face.mean())) > 1.0
    corr = np.corrcoef(shifted[:, :, 1].ravel(), face[:, :, 1].ravel())[0, 1]
    assert corr > 0.9
    eq = clahe(face)
    assert eq.std() >= face.std() * 0.9


def test_batches_pair_warped_inputs_with_clean_targets_and_masks(shot):
    from facegraft.train.sampler import SampleOptions, batch_for_seed

    fs = load_faceset(shot, 64)
    b = batch_for_seed(fs, fs, 4, seed=7, opts=SampleOptions())
    assert b["src_in"].shape == (4, 64, 64, 3) and b["dst_mask"].shape == (4, 64, 64, 1)
    assert all(0.0 <= float(v.min()) and float(v.max()) <= 1.0 for v in b.values())
    # Inputs are bent versions of the targets: close but not equal.
    d = np.abs(b["src_in"] - b["src_target"]).mean()
    assert 0.005 < d < 0.2
    # Masks cover the face centre and leave the crop corners empty.
    assert b["src_mask"][:, 32, 32, 0].min() > 0.5 and b["src_mask"][:, 0, 0, 0].max() == 0
    # Same seed, same batch; another seed, another batch.
    again = batch_for_seed(fs, fs, 4, seed=7, opts=SampleOptions())
    assert all(np.array_equal(b[k], again[k]) for k in b)
    other = batch_for_seed(fs, fs, 4, seed=8, opts=SampleOptions())
    assert not np.array_equal(b["src_in"], other["src_in"])


def test_colour_transfer_in_training_recolours_source_faces_like_destination(shot):
    from facegraft.train.sampler import SampleOptions, batch_for_seed

    src = load_faceset(shot, 64)
    dst = load_faceset(shot, 64)
    dst.images = np.clip(dst.images.astype(int) * np.array([0.6, 0.8, 1.3]), 0, 255).astype(np.uint8)
    opts = SampleOptions(random_warp=False, random_flip=False, colour_aug=False)
    plain = batch_for_seed(src, dst, 4, seed=1, opts=opts)
    opts.ct_mode = "rct"
    moved = batch_for_seed(src, dst, 4, seed=1, opts=opts)
    dst_mean = dst.images.reshape(-1, 3).mean(0) / 255
    assert np.linalg.norm(moved["src_target"].reshape(-1, 3).mean(0) - dst_mean) < 0.5 * np.linalg.norm(
        plain["src_target"].reshape(-1, 3).mean(0) - dst_mean
    )


def test_warp_to_landmarks_bends_inputs_towards_a_similar_face_and_is_reproducible(shot):
    from facegraft.train.sampler import SampleOptions, _similar_shape, batch_for_seed

    fs = load_faceset(shot, 64)
    base = SampleOptions(random_warp=False, random_flip=False, colour_aug=False)
    plain = batch_for_seed(fs, fs, 4, seed=3, opts=base)
    assert np.array_equal(plain["src_in"], plain["src_target"])  # nothing else bends the input here
    opts = SampleOptions(random_warp=False, random_flip=False, colour_aug=False, warp_to_landmarks=True)
    bent = batch_for_seed(fs, fs, 4, seed=3, opts=opts)
    d = np.abs(bent["src_in"] - bent["src_target"]).mean(axis=(1, 2, 3))
    # Moved, but still the same face. (These faces are one photo moved about: a face whose nearest shapes
    # are nearly its own hardly moves, so not every input of the batch needs to.)
    assert np.count_nonzero(d > 0.002) >= len(d) // 2 and np.all(d < 0.1), d
    again = batch_for_seed(fs, fs, 4, seed=3, opts=opts)
    assert all(np.array_equal(bent[k], again[k]) for k in bent)
    # The target shape is another face of the faceset, one of the closest.
    rng = np.random.default_rng(0)
    for i in range(len(fs)):
        other = _similar_shape(fs, i, rng)
        j = int(np.argmin(np.abs(fs.landmarks - other).sum(axis=(1, 2))))
        assert j != i


def test_eye_mouth_masks_ride_along_when_asked(shot):
    from facegraft.train.sampler import SampleOptions, batch_for_seed

    fs = load_faceset(shot, 64)
    assert "src_em" not in batch_for_seed(fs, fs, 2, seed=1, opts=SampleOptions())
    b = batch_for_seed(fs, fs, 2, seed=1, opts=SampleOptions(eye_mouth_masks=True))
    for who in ("src", "dst"):
        em, face = b[f"{who}_em"], b[f"{who}_mask"]
        assert em.shape == (2, 64, 64, 1) and em.dtype == np.float32
        assert 0.02 < em.mean() < 0.25  # eyes and mouth: a small part of the crop
        assert (em * (face < 0.5)).sum() < 0.1 * em.sum()  # and inside the face
