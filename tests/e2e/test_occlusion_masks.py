"""Occlusion-aware masks, the user's way: a plate where a hand covers part of Grace Hopper's face on every
other frame (its matte known), eight faces labelled by importing their true visible-face masks, a mask
network trained from them and applied to the whole shot; then the predicted masks are measured against
the truth on the frames nobody labelled, and a swap converted with the occlusion mask is measured where
the hand is. Masks exported and imported again must not change a byte."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import cv2
import numpy as np
import pytest

from facegraft.cli import main
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.merge.passes import read_passes
from facegraft.sample_plates import camera_path, occluded_plate, visible_face, write_png_sequence
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import face_image_name

FIRST = 1001
FRAMES = 24  # the hand is over the face on every second frame: 12 occluded frames
LABELLED = 8  # at most 10 faces are labelled by hand
MASK_NET = ["--resolution", "64", "--dims", "8", "--batch", "8", "--iterations", "300", "--save-every", "150"]
SWAP_NET = [
    "--resolution", "64", "--ae-dims", "64", "--e-dims", "16", "--d-dims", "16", "--d-mask-dims", "8",
    "--batch", "4", "--lr", "5e-4", "--workers", "0", "--iterations", "10", "--save-every", "10",
]  # fmt: skip
CONVERTED = 4  # unlabelled occluded frames converted


def facegraft(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def shot(tmp_path_factory, photos, reference_landmarks):
    """The occluded plate, its extraction, and the truth: per face id (frame, visible face in its crop,
    whether the hand is on that frame)."""
    root = tmp_path_factory.mktemp("occlusion")
    landmarks = reference_landmarks["grace_hopper"]
    moves = camera_path(FRAMES, amplitude=20, light=0.2)
    frames = occluded_plate(photos["grace_hopper"], landmarks, moves, (480, 360), "hand", every=2, seed=1)
    write_png_sequence([f.image for f in frames], root / "plate" / "plate.%04d.png", first=FIRST)
    plate = root / "plate" / "plate.####.png"
    extract(plate, root / "shot", ExtractOptions(size=128, embeddings=False), progress_mode="quiet")
    truth = {}
    with AlignmentsStore.open(root / "shot") as store:
        faces = store.faces()
        for f in faces:
            frame = frames[f.frame - FIRST]
            truth[f.id] = (
                f.frame,
                visible_face(landmarks, frame, f.matrix, f.size),
                bool(frame.matte.max() > 0),
            )
    assert len(faces) >= FRAMES - 2, "the plate should be extracted on (almost) every frame"
    ids = sorted(truth)
    labelled = [i for k, i in enumerate(ids) if k % 4 in (0, 1)][:LABELLED]
    assert sum(truth[i][2] for i in labelled) == LABELLED // 2  # half the labels show the hand
    return {"root": root, "plate": plate, "shot": root / "shot", "frames": frames, "truth": truth,
            "labelled": labelled, "faces": {f.id: f for f in faces}}  # fmt: skip


@pytest.fixture(scope="module")
def masked(shot):
    """Labels imported (named by face id and by face image name), a mask model trained and applied."""
    labels = shot["root"] / "labels"
    labels.mkdir()
    for k, i in enumerate(shot["labelled"]):
        f = shot["faces"][i]
        name = f"{i}.png" if k % 2 else face_image_name(f.frame, f.index)
        cv2.imwrite(str(labels / name), shot["truth"][i][1].astype(np.uint8) * 255)
    model = shot["root"] / "maskmodel"
    steps = [
        ("import", shot["shot"], labels),
        ("train", shot["shot"], "--model", model, *MASK_NET),
        ("apply", shot["shot"], "--model", model),
    ]
    summaries = {}
    for job, *args in steps:
        proc = facegraft("mask", job, *args, "--progress", "json")
        assert proc.returncode == 0, proc.stderr
        summaries[job] = [json.loads(x) for x in proc.stdout.splitlines() if '"summary"' in x][-1]
    return {**shot, "model": model, "summaries": summaries}


def test_masks_learned_from_eight_labels_find_the_visible_face_on_unlabelled_frames(masked):
    s = masked["summaries"]
    assert s["import"]["faces"] == LABELLED and s["train"]["labelled_faces"] == LABELLED
    assert s["apply"]["faces"] == len(masked["truth"])
    ious, landmark_ious, on_hand = {True: [], False: []}, [], []
    with AlignmentsStore.open(masked["shot"]) as store:
        for face_id, (frame, truth, occluded) in masked["truth"].items():
            masks = store.masks(face_id)
            if face_id in masked["labelled"]:
                assert np.array_equal(masks["label"], truth.astype(np.uint8) * 255)
                continue
            predicted = masks["occlusion"] > 127
            ious[occluded].append(_iou(predicted, truth))
            if occluded:
                landmark_ious.append(_iou(masks["components"] > 127, truth))
                f = masked["faces"][face_id]
                hand = cv2.warpAffine(masked["frames"][frame - FIRST].matte, f.matrix, (f.size, f.size)) > 0.5
                on_hand.append(predicted[hand & (masks["components"] > 127)].mean())
    every = ious[True] + ious[False]
    assert len(ious[True]) >= 7 and len(every) >= 14
    print(f"IoU occluded {np.mean(ious[True]):.3f} clear {np.mean(ious[False]):.3f} min {min(every):.3f}")
    assert np.mean(every) >= 0.85 and np.mean(ious[True]) >= 0.85, ious
    assert min(every) >= 0.75, every
    # The landmark hull cannot see the hand: the learned mask leaves out what it covers.
    assert np.mean(landmark_ious) < np.mean(ious[True]) - 0.05
    assert np.mean(on_hand) < 0.15, on_hand


@pytest.fixture(scope="module")
def swapped(masked):
    """A tiny face-swap model trained with the occlusion masks in its loss, and the unlabelled occluded
    frames converted with the occlusion mask mode and, for comparison, the landmark one."""
    root = masked["root"]
    proc = facegraft(
        "train", "--src", masked["shot"], "--dst", masked["shot"], "--model", root / "swap",
        "--train-mask", "occlusion", *SWAP_NET, "--progress", "quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    frames = sorted(
        {
            frame
            for i, (frame, _, occluded) in masked["truth"].items()
            if occluded and i not in masked["labelled"]
        }
    )[:CONVERTED]
    outs = {}
    for mode in ("occlusion", "landmark"):
        out = root / f"comp-{mode}"
        proc = facegraft(
            "convert", masked["plate"], "--shot", masked["shot"], "--model", root / "swap", "-o", out,
            "--mask", mode, "--frames", ",".join(map(str, frames)), "--progress", "quiet",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outs[mode] = out
    return {**masked, "converted": frames, "outs": outs}


def _measures(swapped, mode: str) -> dict[str, float]:
    """Means over the converted frames: |comp - plate| (0..1 units) on the hand's pixels and on the
    swapped face's, and the facemask pass on the hand."""
    hand, face, facemask = [], [], []
    for frame in swapped["converted"]:
        truth = swapped["frames"][frame - FIRST]
        ch = read_passes(swapped["outs"][mode] / f"plate.{frame:04d}.exr")
        comp = np.stack([ch["R"], ch["G"], ch["B"]], -1)
        diff = np.abs(comp - truth.image.astype(np.float32) / 255.0).mean(-1)
        hand.append(diff[truth.matte > 0.5])
        face.append(diff[ch["matte.A"] > 0.9])
        facemask.append(ch["facemask.A"][truth.matte > 0.5])
    return {
        k: float(np.concatenate(v).mean()) for k, v in (("hand", hand), ("face", face), ("mask", facemask))
    }


def test_the_hand_stays_in_the_comp_with_the_occlusion_mask(swapped):
    occlusion, landmark = _measures(swapped, "occlusion"), _measures(swapped, "landmark")
    hand, face = occlusion["hand"], occlusion["face"]
    print(
        f"hand differs by {hand:.4f} (landmark mask: {landmark['hand']:.4f}); the swapped face by {face:.4f}"
    )
    assert occlusion["hand"] < 0.01, "the occluder must stay the plate's"
    assert occlusion["face"] > 0.03, "the visible face must be swapped"
    assert occlusion["mask"] < 0.1 < landmark["mask"], "the facemask pass carries the chosen mask"
    assert landmark["hand"] > 2 * 0.01, "the landmark mask pastes the swap over the hand"


def _stored_bytes(shot, name: str) -> dict[int, bytes]:
    with sqlite3.connect(shot / "alignments.db") as db:
        return dict(db.execute("SELECT face_id, data FROM masks WHERE name = ?", (name,)).fetchall())


def test_exported_masks_import_back_byte_for_byte_and_frame_exports_fit_the_plate(masked, tmp_path):
    shot = masked["shot"]
    before = _stored_bytes(shot, "occlusion")
    assert main(["mask", "export", str(shot), "-o", str(tmp_path / "faces"), "--quiet"]) == 0
    files = sorted((tmp_path / "faces").glob("*.png"))
    assert len(files) == len(before)
    first = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    assert first.dtype == np.uint8 and first.shape == (128, 128)
    assert main(["mask", "import", str(shot), str(tmp_path / "faces"), "--name", "occlusion", "--quiet"]) == 0
    assert _stored_bytes(shot, "occlusion") == before
    assert main(["mask", "import", str(shot), str(tmp_path / "faces"), "--name", "copy", "--quiet"]) == 0
    assert _stored_bytes(shot, "copy") == before

    # Full frames: plate-sized, the hand left out, the face in; read back into the crops they came from.
    out = tmp_path / "frames"
    assert (
        main(["mask", "export", str(shot), "-o", str(out), "--name", "label", "--space", "frame", "--quiet"])
        == 0
    )
    assert len(list(out.glob("label.*.png"))) == FRAMES
    frame_id = next(i for i in masked["labelled"] if masked["truth"][i][2])
    f = masked["faces"][frame_id]
    plate_mask = cv2.imread(str(out / f"label.{f.frame:04d}.png"), cv2.IMREAD_UNCHANGED)
    assert plate_mask.shape == (360, 480)
    hand = masked["frames"][f.frame - FIRST].matte > 0.5
    assert (plate_mask[hand] > 127).mean() < 0.02
    area_in_crop = masked["truth"][frame_id][1].sum()
    crop_px_per_plate_px = abs(np.linalg.det(f.matrix[:, :2]))
    assert (plate_mask > 127).sum() == pytest.approx(area_in_crop / crop_px_per_plate_px, rel=0.05)
    assert (
        main(["mask", "import", str(shot), str(out), "--name", "reframed", "--space", "frame", "--quiet"])
        == 0
    )
    with AlignmentsStore.open(shot) as store:
        back = store.masks(frame_id)["reframed"] > 127
    assert _iou(back, masked["truth"][frame_id][1]) > 0.95


def _error(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    return code, "\n".join(err)


def test_a_mask_model_that_cannot_be_loaded_is_refused_naming_the_file(swapped, tmp_path, capsys):
    masked = swapped
    shot = str(masked["shot"])
    code, err = _error(capsys, ["mask", "apply", shot, "--model", str(tmp_path / "nothing")])
    assert code == 2 and "nothing" in err and "no such mask model folder" in err and "\n" not in err

    broken = tmp_path / "broken"
    shutil.copytree(masked["model"], broken)
    for weights in broken.glob("checkpoints/*/model.safetensors"):
        weights.write_bytes(weights.read_bytes()[:1000])  # truncated, every save
    code, err = _error(capsys, ["mask", "apply", shot, "--model", str(broken)])
    assert code == 2 and "model.safetensors" in err and "\n" not in err

    code, err = _error(capsys, ["mask", "apply", shot, "--model", str(masked["root"] / "swap")])
    assert code == 2 and "not a mask model" in err and "state.json" in err
    with AlignmentsStore.open(masked["shot"]) as store:  # nothing was written by the refused runs
        assert all("occlusion" in store.masks(i) for i in masked["truth"])


def test_bad_mask_input_is_refused_before_anything_changes(swapped, tmp_path, capsys):
    masked = swapped
    shot = str(masked["shot"])
    before = _stored_bytes(masked["shot"], "label")
    folder = tmp_path / "labels"
    folder.mkdir()
    cv2.imwrite(str(folder / f"{masked['labelled'][0]}.png"), np.zeros((128, 128), np.uint8))
    cv2.imwrite(str(folder / "holiday.png"), np.zeros((128, 128), np.uint8))
    code, err = _error(capsys, ["mask", "import", shot, str(folder)])
    assert code == 2 and "holiday.png" in err and "names no face" in err
    (folder / "holiday.png").unlink()
    cv2.imwrite(str(folder / f"{masked['labelled'][1]}.png"), np.zeros((64, 64), np.uint8))
    code, err = _error(capsys, ["mask", "import", shot, str(folder)])
    assert code == 2 and "64x64" in err and "128x128" in err
    assert _stored_bytes(masked["shot"], "label") == before

    code, err = _error(capsys, ["mask", "apply", shot, "--model", str(masked["model"]), "--name", "label"])
    assert code == 2 and "hand-made labels" in err
    proc = facegraft(
        "convert", masked["plate"], "--shot", shot, "--model", masked["root"] / "swap", "-o", tmp_path / "o",
        "--mask", "occlusion*landmark", "--occlusion-mask", "hair",
    )  # fmt: skip
    assert proc.returncode == 2 and "stored mask 'hair'" in proc.stderr and "mask apply" in proc.stderr
