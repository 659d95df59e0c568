"""Mask benchmark: how well a mask network learned from eight labelled faces finds the visible face of the
frames nobody labelled, at full resolution (256 px crops and network), with a longer training than a test
can afford; and how fast it trains and applies.

Each scenario is a plate made from a shipped photo with an occluder over part of the face on every other
frame (sample_plates.occluded_plate: a skin-coloured hand, or a dark bar like a microphone boom), whose
true matte is known. Eight faces (half of them occluded) get their true visible-face masks as labels; the
rest are measured: IoU of the stored prediction with the truth, against the landmark hull's IoU, and the
share of the occluder (inside the face) that the prediction still calls face.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from facegraft.extract.pipeline import ExtractOptions, build_tracker, extract
from facegraft.mask.apply import apply_mask_model
from facegraft.mask.options import MaskTrainOptions
from facegraft.mask.trainer import train_mask
from facegraft.sample_data import reference_photos
from facegraft.sample_plates import camera_path, occluded_plate, visible_face, write_png_sequence
from facegraft.store.alignments import AlignmentsStore

TARGET_IOU = 0.85
LABELS = 8
FULL = {"resolution": 256, "dims": 16, "batch": 4, "iterations": 400, "crop": 256, "frames": 24}
QUICK = {"resolution": 64, "dims": 8, "batch": 8, "iterations": 150, "crop": 128, "frames": 16}
SCENARIOS = (("astronaut", "hand"), ("grace_hopper", "bar"))


def _scenario(work: Path, photo_name: str, shape: str, cfg: dict) -> dict:
    """Plate, extraction, labels, training, apply and the measures of one scenario."""
    photo = reference_photos()[photo_name]
    tracker = build_tracker(ExtractOptions(embeddings=False, detect_every=1))
    landmarks = tracker.step(photo, 0)[0].landmarks.astype(np.float64)
    zoom = 2.0 if cfg["crop"] > 128 else 1.0  # a face big enough on the plate for its crop size
    # The camera frames the face: its centre is moved to the canvas centre, then the path moves it.
    off = (landmarks.mean(0) - np.array([photo.shape[1], photo.shape[0]]) / 2) * zoom
    moves = [
        replace(m, scale=m.scale * zoom, shift=(m.shift[0] * zoom - off[0], m.shift[1] * zoom - off[1]))
        for m in camera_path(cfg["frames"], amplitude=30, light=0.25)
    ]
    canvas = (int(480 * zoom), int(360 * zoom))
    frames = occluded_plate(photo, landmarks, moves, canvas, shape)
    root = work / f"{photo_name}-{shape}"
    write_png_sequence([f.image for f in frames], root / "plate" / "plate.%04d.png", first=1)
    extract(
        root / "plate" / "plate.####.png", root / "shot", ExtractOptions(size=cfg["crop"], embeddings=False)
    )
    with AlignmentsStore.open(root / "shot") as store:
        faces = store.faces()
        truth = {
            f.id: (visible_face(landmarks, frames[f.frame - 1], f.matrix, f.size), frames[f.frame - 1])
            for f in faces
        }
        ids = sorted(truth)
        labelled = [i for k, i in enumerate(ids) if k % 4 in (0, 1)][:LABELS]
        with store.transaction():
            for i in labelled:
                store.set_mask(i, "label", truth[i][0].astype(np.uint8) * 255)
    opts = MaskTrainOptions(
        resolution=cfg["resolution"],
        dims=cfg["dims"],
        batch=cfg["batch"],
        iterations=cfg["iterations"],
        save_every=cfg["iterations"],
        preview_every=cfg["iterations"],
    )
    trained = train_mask([root / "shot"], root / "mask", opts, "quiet")
    start = time.perf_counter()
    applied = apply_mask_model(root / "shot", root / "mask", "occlusion", "quiet")
    apply_s = time.perf_counter() - start
    occluded, clear, landmark, on_occluder = [], [], [], []
    with AlignmentsStore.open(root / "shot") as store:
        for f in faces:
            if f.id in labelled:
                continue
            visible, frame = truth[f.id]
            masks = store.masks(f.id)
            predicted, hull = masks["occlusion"] > 127, masks["components"] > 127
            iou = float((predicted & visible).sum() / max((predicted | visible).sum(), 1))
            if frame.matte.max() == 0:
                clear.append(iou)
                continue
            occluded.append(iou)
            landmark.append(float((hull & visible).sum() / max((hull | visible).sum(), 1)))
            covered = hull & ~visible
            on_occluder.append(float(predicted[covered].mean()) if covered.any() else 0.0)
    return {
        "photo": photo_name,
        "occluder": shape,
        "frames": len(frames),
        "faces": len(faces),
        "labelled": len(labelled),
        "iou_occluded": round(float(np.mean(occluded)), 4),
        "iou_clear": round(float(np.mean(clear)), 4),
        "iou_min": round(float(min(occluded + clear)), 4),
        "iou_landmark_hull_occluded": round(float(np.mean(landmark)), 4),
        "occluder_called_face": round(float(np.mean(on_occluder)), 4),
        "train_steps_s": round(trained.iteration / trained.seconds, 2),
        "train_seconds": round(trained.seconds, 1),
        "apply_faces_s": round(applied.faces / apply_s, 1),
    }


def run(quick: bool = False, work: str | None = None) -> dict:
    cfg = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        scenarios = [_scenario(Path(tmp), photo, shape, cfg) for photo, shape in SCENARIOS]
    return {
        "config": cfg,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "cpus": os.cpu_count(),
        "scenarios": scenarios,
    }


def report(r: dict) -> str:
    """The results as a Markdown page."""
    c = r["config"]
    where = "CUDA" if r["cuda"] else f"CPU, {r['threads']} threads"
    lines = [
        f"# Mask benchmark ({where}, torch {r['torch']})",
        "",
        f"Mask network at {c['resolution']} px (dims {c['dims']}), batch {c['batch']}, "
        f"{c['iterations']} steps; faces extracted at {c['crop']} px from {c['frames']}-frame plates with an "
        f"occluder on every other frame. {LABELS} faces labelled with their true visible-face masks (half of "
        "them occluded); every other face measured against its truth.",
        "",
        "| plate | occluder | IoU occluded | IoU clear | IoU min | landmark hull IoU (occluded) | occluder "
        "called face | train steps/s | apply faces/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["scenarios"]:
        lines.append(
            f"| {s['photo']} | {s['occluder']} | {s['iou_occluded']} | {s['iou_clear']} | {s['iou_min']} | "
            f"{s['iou_landmark_hull_occluded']} | {s['occluder_called_face']} | {s['train_steps_s']} | "
            f"{s['apply_faces_s']} |"
        )
    worst = min(min(s["iou_occluded"], s["iou_clear"]) for s in r["scenarios"])
    met = "met" if worst >= TARGET_IOU else "NOT met"
    lines += ["", f"- lowest mean IoU **{worst}** (target >= {TARGET_IOU} on unlabelled frames: {met})"]
    return "\n".join(lines) + "\n"
