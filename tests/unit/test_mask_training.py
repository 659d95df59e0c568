"""Mask models and masks in training, on a small extracted shot whose faces carry labels: the mask trainer
saves crash-safe checkpoints and resumes, refuses other shapes and other kinds of model; apply masks every
face, even one whose image was deleted; `--train-mask` puts the stored mask into the face model's loss."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.mask.apply import apply_mask_model
from facegraft.mask.model import decisive, load_mask_model
from facegraft.mask.options import MaskTrainOptions
from facegraft.mask.trainer import train_mask
from facegraft.models.checkpoint import CheckpointStore
from facegraft.models.networks import ModelConfig, build_model
from facegraft.sample_plates import camera_path, render, write_png_sequence
from facegraft.store.alignments import AlignmentsStore
from facegraft.train.faceset import load_faceset
from facegraft.train.sampler import SampleOptions, batch_for_seed

TINY = {"resolution": 64, "dims": 4, "batch": 2, "save_every": 2, "preview_every": 2}


@pytest.fixture(scope="module")
def shot(tmp_path_factory, photos):
    """Six extracted frames; every face labelled: its landmark mask less a bar where a 'microphone' is."""
    root = tmp_path_factory.mktemp("maskshot")
    frames = [render(photos["astronaut"], m, (640, 480))[0] for m in camera_path(6)]
    write_png_sequence(frames, root / "plate" / "plate.%04d.png")
    extract(
        root / "plate" / "plate.####.png", root / "shot", ExtractOptions(size=64, embeddings=False), "quiet"
    )
    with AlignmentsStore.open(root / "shot") as store:
        for face in store.faces():
            label = store.masks(face.id)["components"].copy()
            label[:, 38:46] = 0
            store.set_mask(face.id, "label", label)
    return root / "shot"


def test_mask_training_saves_resumes_and_refuses_another_shape_or_kind(shot, tmp_path):
    model = tmp_path / "mask"
    first = train_mask([shot], model, MaskTrainOptions(**TINY, iterations=4), "quiet")
    assert (first.iteration, first.labelled_faces, first.resumed_from) == (4, 6, None)
    ckpt = CheckpointStore(model).load_latest(fallback=False)
    assert ckpt.iteration == 4 and ckpt.state["kind"] == "mask" and len(ckpt.state["loss_history"]) == 4
    assert (model / "preview.png").stat().st_size > 0 and (model / "loss.png").stat().st_size > 0
    second = train_mask([shot], model, MaskTrainOptions(**TINY, iterations=6), "quiet")
    assert (second.iteration, second.resumed_from) == (6, 4)
    loaded = load_mask_model(model)
    assert loaded.iteration == 6 and loaded.config.face_type == "full"
    with pytest.raises(InputError, match="dims=4"):
        train_mask([shot], model, MaskTrainOptions(**{**TINY, "dims": 6}, iterations=8), "quiet")

    swap = tmp_path / "swap"
    cfg = ModelConfig(arch="df", resolution=64, ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=4)
    CheckpointStore(swap).save(build_model(cfg), None, 0, {"config": cfg.to_dict()})
    for call in (
        lambda: load_mask_model(swap),
        lambda: train_mask([shot], swap, MaskTrainOptions(**TINY, iterations=2)),
    ):
        with pytest.raises(InputError, match="state.json: not a mask model"):
            call()
    with pytest.raises(InputError, match="give --iterations or --minutes"):
        train_mask([shot], tmp_path / "m2", MaskTrainOptions(**TINY))


def test_bad_mask_options_are_refused_by_name():
    bad = {"resolution": 72, "dims": 2, "occluder_chance": 1.5, "threads": -1, "batch": 0}
    for field, value in bad.items():
        with pytest.raises(InputError, match=field.replace("_", "-")):
            MaskTrainOptions(**{field: value}, iterations=1).validate()


def test_a_shot_without_labels_is_refused(shot, tmp_path):
    with pytest.raises(InputError, match="no face carries a 'painted' mask"):
        train_mask([shot], tmp_path / "m", MaskTrainOptions(**TINY, iterations=1, label="painted"))


def test_predictions_are_stored_decisively():
    p = np.array([[0.0, 0.3, 0.44, 0.5, 0.56, 0.7, 1.0]], np.float32)
    assert decisive(p)[0].tolist() == pytest.approx([0, 0, 0.02, 0.5, 0.98, 1, 1], abs=1e-6)


def test_apply_masks_every_face_even_one_whose_image_was_deleted(shot, tmp_path):
    model = tmp_path / "mask"
    train_mask([shot], model, MaskTrainOptions(**TINY, iterations=2), "quiet")
    copy = tmp_path / "shot"
    shutil.copytree(shot, copy)
    gone = sorted((copy / "faces").glob("*.png"))[3]
    gone.unlink()
    for where in (shot, copy):
        assert apply_mask_model(where, model, "occlusion", "quiet").faces == 6
    with AlignmentsStore.open(shot) as a, AlignmentsStore.open(copy) as b:
        for face in a.faces():
            mine, theirs = a.masks(face.id)["occlusion"], b.masks(face.id)["occlusion"]
            assert mine.dtype == np.uint8 and mine.shape == (64, 64)
            assert np.array_equal(mine, theirs), "a face cut again from the plate is the face extracted"
    with pytest.raises(InputError, match="hand-made labels"):
        apply_mask_model(shot, model, "label", "quiet")


def test_train_mask_puts_the_stored_mask_into_the_masked_loss(shot):
    fs = load_faceset(shot, 32, mask="label")
    with AlignmentsStore.open(shot) as store:
        labels = [store.masks(i)["label"] for i in fs.face_ids]
    assert fs.masks.shape == (6, 32, 32) and fs.masks.dtype == np.uint8
    assert np.all(fs.masks[:, :, 19:23] == 0)  # the bar (crop columns 38..45 at 64 px) is not face
    assert np.allclose(fs.masks.mean(axis=(1, 2)), [m.mean() for m in labels], atol=1.0)
    opts = SampleOptions(random_warp=False, colour_aug=False, random_flip=True)
    batch = batch_for_seed(fs, fs, 8, 5, opts)
    flipped = 0
    for target, mask in zip(batch["dst_target"], batch["dst_mask"][..., 0]):
        image = np.round(target * 255).astype(np.uint8)
        matches = [i for i, c in enumerate(fs.images) if np.array_equal(image, c)]
        mirrored = [i for i, c in enumerate(fs.images) if np.array_equal(image, c[:, ::-1])]
        assert len(matches) + len(mirrored) == 1
        expected = fs.masks[matches[0]] if matches else fs.masks[mirrored[0]][:, ::-1]
        assert np.array_equal(mask, expected / np.float32(255.0))
        flipped += bool(mirrored)
    assert 0 < flipped < 8
    with pytest.raises(InputError, match="6 faces lack the stored mask 'hair'.*mask apply"):
        load_faceset(shot, 32, mask="hair")
