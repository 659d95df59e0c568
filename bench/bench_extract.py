"""Extraction benchmark: frames/s on 1920x1080 plates with the dlib backend, FAN's forward time per face in
the same run, and how far tracked landmarks stray from full-resolution detection on every frame."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from facegraft.extract.alignment import eye_distance, transform_points
from facegraft.extract.pipeline import ExtractOptions, build_tracker, extract
from facegraft.sample_data import grace_hopper
from facegraft.sample_plates import Move, camera_path, move_matrix, render, srgb_to_linear, write_video
from facegraft.store.alignments import AlignmentsStore

SIZE = (1920, 1080)
FACE_SCALE = 1.6  # the photo's face at 1.6x: a ~300 px face box, a medium close-up at 1080p


def make_frames(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """n 1080p frames of a hand-held move over Grace Hopper's photo, and their photo->plate matrices."""
    photo = grace_hopper()
    frames, mats = [], []
    for m in camera_path(n, amplitude=120, zoom=0.2, roll=6, light=0.3):
        move = Move(m.angle, FACE_SCALE * m.scale, m.shift, m.gain)
        img, _ = render(photo, move, SIZE)
        frames.append(img)
        mats.append(move_matrix((photo.shape[1], photo.shape[0]), SIZE, move))
    return frames, mats


def write_plates(frames: list[np.ndarray], work: Path) -> dict[str, str]:
    """The same frames as an H.264 video, an 8-bit PNG sequence and a half-float PIZ EXR sequence."""
    import cv2

    from facegraft.io.images import write_image

    plates = {"h264": str(write_video(frames, work / "plate.mp4", crf=18))}
    (work / "png").mkdir(exist_ok=True)
    (work / "exr").mkdir(exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(
            str(work / "png" / f"plate.{1001 + i:04d}.png"),
            cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_PNG_COMPRESSION, 1],
        )
        write_image(
            work / "exr" / f"plate.{1001 + i:04d}.exr",
            srgb_to_linear(f / 255.0),
            channels=("R", "G", "B"),
            dtype="half",
            compression="piz",
        )
    plates["png"] = str(work / "png" / "plate.####.png")
    plates["exr-piz"] = str(work / "exr" / "plate.####.exr")
    return plates


def timed_extract(plate: str, shot: Path, frames: str | None, **opts) -> float:
    t = time.perf_counter()
    extract(plate, shot, ExtractOptions(restart=True, frames=frames, **opts), progress_mode="quiet")
    return time.perf_counter() - t


def fps(plate: str, work: Path, first: int, n_short: int, n_long: int, **opts) -> dict:
    """Frames/s with everything on (tracking, embeddings, masks, face PNGs, store), from a short and a
    long run so model loading and start-up drop out of the steady rate."""
    short = timed_extract(plate, work / "s1", f"{first}-{first + n_short - 1}", **opts)
    long_ = timed_extract(plate, work / "s2", f"{first}-{first + n_long - 1}", **opts)
    return {
        "frames": n_long,
        "seconds": round(long_, 2),
        "fps_overall": round(n_long / long_, 1),
        "fps_steady": round((n_long - n_short) / max(long_ - short, 1e-6), 1),
        "startup_s": round(short - n_short * (long_ - short) / (n_long - n_short), 2),
    }


def fan_forward_ms(repeats: int = 5) -> float:
    """Milliseconds for one 2D-FAN-4 forward pass on one 256x256 face on this CPU (random weights cost
    the same compute as trained ones)."""
    import torch
    from face_alignment.models import FAN

    torch.set_flush_denormal(True)
    net = FAN(4).eval()
    x = torch.rand(1, 3, 256, 256)
    with torch.inference_mode():
        net(x)
        t = time.perf_counter()
        for _ in range(repeats):
            net(x)
    return (time.perf_counter() - t) / repeats * 1000


DEFAULT_ENSEMBLE = ExtractOptions().ensemble


def tracking_agreement(
    frames: list[np.ndarray], mats: list[np.ndarray], ensemble: int = DEFAULT_ENSEMBLE
) -> dict:
    """Per frame: tracked landmarks vs full-resolution detection on that frame alone, and each vs the
    ground truth (the photo's landmarks through the known move), in % of the eye-centre distance."""
    photo = grace_hopper()
    reference = build_tracker(ExtractOptions(embeddings=False, detect_every=1)).step(photo, 0)[0].landmarks
    full = build_tracker(ExtractOptions(embeddings=False, detect_every=1, detect_width=0, ensemble=ensemble))
    tracked = build_tracker(ExtractOptions(embeddings=False, ensemble=ensemble))
    vs_full, full_gt, tracked_gt = [], [], []
    for i, rgb in enumerate(frames):
        a = full.step(rgb, i)[0].landmarks
        b = tracked.step(rgb, i)[0].landmarks
        truth = transform_points(reference, mats[i])
        ed = eye_distance(a)
        vs_full.append(np.linalg.norm(a - b, axis=1).mean() / ed * 100)
        full_gt.append(np.linalg.norm(a - truth, axis=1).mean() / ed * 100)
        tracked_gt.append(np.linalg.norm(b - truth, axis=1).mean() / ed * 100)

    def stats(v: list[float]) -> dict:
        return {
            "max": round(float(np.max(v)), 3),
            "mean": round(float(np.mean(v)), 3),
            "frames_over_1pct": int(np.sum(np.array(v) > 1.0)),
        }

    return {
        "frames": len(frames),
        "tracked_vs_full_detection_pct": stats(vs_full),
        "full_detection_vs_truth_pct": stats(full_gt),
        "tracked_vs_truth_pct": stats(tracked_gt),
    }


def run(quick: bool = False, work: str | None = None) -> dict:
    n_long, n_short = (60, 20) if quick else (150, 30)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        frames, mats = make_frames(n_long)
        plates = write_plates(frames, root)
        result = {
            "size": list(SIZE),
            "detector": "dlib-hog (960 px wide, every 5th frame)",
            "landmarker": "dlib68 (tracked between detections)",
            "plates": {},
        }
        for name, plate in plates.items():
            first = 1 if name == "h264" else 1001
            result["plates"][name] = fps(plate, root / name, first, n_short, n_long)
        for ensemble in (9, 1):
            result["plates"][f"h264 --ensemble {ensemble}"] = fps(
                plates["h264"], root / f"ensemble{ensemble}", 1, n_short, n_long, ensemble=ensemble
            )
        fan = fan_forward_ms()
        dlib_ms = 1000 / result["plates"]["h264"]["fps_steady"]
        result["fan_forward_ms_per_face"] = round(fan, 1)
        result["dlib_pipeline_ms_per_frame"] = round(dlib_ms, 1)
        result["fan_over_dlib_ratio"] = round(fan / dlib_ms, 1)
        result["tracking"] = tracking_agreement(frames[: 40 if quick else 90], mats)
        for ensemble in (9, 1):
            result[f"tracking_ensemble_{ensemble}"] = tracking_agreement(
                frames[: 40 if quick else 90], mats, ensemble=ensemble
            )
        with AlignmentsStore.open(root / "h264" / "s2") as store:
            result["faces_found"] = sum(len(r.faces) for r in store.iter_frames())
    return result


def report(r: dict) -> str:
    lines = [
        f"# Extraction benchmark ({r['size'][0]}x{r['size'][1]}, {r['detector']}, {r['landmarker']})",
        "",
        "| plate | frames | fps steady | fps overall | start-up s |",
        "|---|---|---|---|---|",
    ]
    for name, p in r["plates"].items():
        lines.append(
            f"| {name} | {p['frames']} | {p['fps_steady']} | {p['fps_overall']} | {p['startup_s']} |"
        )
    lines += [
        "",
        f"FAN (2D-FAN-4) forward: {r['fan_forward_ms_per_face']} ms per face; dlib pipeline "
        f"{r['dlib_pipeline_ms_per_frame']} ms per frame (h264, default options); "
        f"ratio {r['fan_over_dlib_ratio']}x",
    ]
    for key, label in (
        ("tracking", f"default (--ensemble {DEFAULT_ENSEMBLE})"),
        ("tracking_ensemble_9", "--ensemble 9"),
        ("tracking_ensemble_1", "--ensemble 1"),
    ):
        t = r[key]
        lines += [
            "",
            f"Tracking, {label}, over {t['frames']} frames (% of eye distance, mean landmark distance):",
            f"- tracked vs full-resolution detection: {t['tracked_vs_full_detection_pct']}",
            f"- full-resolution detection vs ground truth: {t['full_detection_vs_truth_pct']}",
            f"- tracked vs ground truth: {t['tracked_vs_truth_pct']}",
        ]
    lines += ["", "Targets: >= 30 fps at 1080p on 2 cores; tracked within 1% of full-resolution detection."]
    return "\n".join(lines) + "\n"
