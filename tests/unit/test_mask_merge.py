"""Occlusion mask modes in the merge: a mask stored in the face's own crop lands in the model's crop where
the same face region is, the modes combine it as named, and a face without it is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.geometry.alignment import alignment_matrix, mean_face, transform_points
from facegraft.geometry.masks import components_mask
from facegraft.io.colour import ColourConverter
from facegraft.mask.stored import StoredMask
from facegraft.merge.merger import FaceTask, prepare_faces, raw_mask, stored_mask_in_crop
from facegraft.merge.options import MASK_MODES, MergeOptions
from facegraft.models.networks import ModelConfig, build_model
from facegraft.models.swap_model import SwapModel


def _plate_landmarks(angle: float = 12.0, scale: float = 140.0, at=(260.0, 190.0)) -> np.ndarray:
    """(68, 2) landmarks of a rolled, scaled mean face on a 480x360 plate."""
    a = np.radians(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (mean_face() - 0.5) @ rot.T * scale + np.asarray(at)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("model_type", ["full", "whole", "half"])
def test_a_stored_mask_lands_where_the_face_is_in_the_model_crop(model_type):
    lm = _plate_landmarks()
    stored_matrix = alignment_matrix(lm, "full", 128)
    stored = StoredMask(components_mask(transform_points(lm, stored_matrix), 128), stored_matrix)
    to_crop = alignment_matrix(lm + [3.0, -2.0], model_type, 64)  # smoothed landmarks differ a little
    moved = stored_mask_in_crop(stored, to_crop, 64)
    drawn = components_mask(transform_points(lm, to_crop), 64) > 127
    assert moved.dtype == np.float32 and moved.shape == (64, 64) and 0 <= moved.min() and moved.max() <= 1
    assert _iou(moved > 0.5, drawn) > 0.93


def test_mask_modes_combine_the_masks_they_name():
    rng = np.random.default_rng(0)
    learned, landmark, occlusion = (rng.random((8, 8)).astype(np.float32) for _ in range(3))
    assert np.array_equal(raw_mask("occlusion", learned, landmark, occlusion), occlusion)
    assert np.allclose(raw_mask("occlusion*learned", learned, landmark, occlusion), occlusion * learned)
    assert np.allclose(raw_mask("occlusion*landmark", learned, landmark, occlusion), occlusion * landmark)
    assert np.allclose(raw_mask("learned*landmark", learned, landmark), learned * landmark)
    with pytest.raises(InputError, match="occlusion"):
        raw_mask("occlusion*landmark", learned, landmark, None)
    assert {"occlusion", "occlusion*learned", "occlusion*landmark"} <= set(MASK_MODES)
    assert MergeOptions(mask="occlusion*learned").stored_mask() == "occlusion"
    assert MergeOptions(mask="occlusion", occlusion_mask="label").stored_mask() == "label"
    assert MergeOptions(mask="learned*landmark").stored_mask() is None
    with pytest.raises(InputError, match="occlusion-mask"):
        MergeOptions(mask="occlusion", occlusion_mask="").validate()


def _model() -> SwapModel:
    cfg = ModelConfig(arch="df", resolution=64, ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=4)
    return SwapModel(build_model(cfg).eval(), cfg, "test", 0, Path("."))


def test_the_occlusion_mode_uses_the_stored_mask_and_refuses_a_face_without_one():
    lm = _plate_landmarks()
    plate = np.full((360, 480, 3), 120, np.uint8)
    matrix = alignment_matrix(lm, "full", 128)
    half = np.zeros((128, 128), np.uint8)
    half[:, :64] = 255  # the image-left half of the face is visible, the rest covered
    task = FaceTask(lm, 128, occlusion=StoredMask(half, matrix))
    conv = ColourConverter("srgb")
    opts = MergeOptions(mask="occlusion*landmark")
    (face,) = prepare_faces(plate, conv, [task], _model(), opts)
    assert np.allclose(face.raw, face.landmark * stored_mask_in_crop(task.occlusion, face.to_crop, 64))
    left, right = face.raw[:, :28], face.raw[:, 36:]
    assert left.mean() > 0.2 and right.max() == 0.0
    with pytest.raises(InputError, match="mask apply"):
        prepare_faces(plate, conv, [FaceTask(lm, 128)], _model(), opts)
