"""`make demo`: the pipeline so far on plates made from the photos that ship with the dependencies.

Builds a moving target plate (Grace Hopper, a scene-linear half-float EXR sequence with highlights above
1.0) and a moving source plate (the astronaut, an 8-bit PNG sequence), extracts both, writes the overlay
frames and a contact sheet, and a report whose figures are measured against the known camera moves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facegraft.extract import identity
from facegraft.extract.alignment import eye_distance, transform_points
from facegraft.extract.pipeline import ExtractOptions, build_tracker, extract
from facegraft.sample_data import astronaut, grace_hopper
from facegraft.sample_plates import (
    Move,
    camera_path,
    move_matrix,
    render,
    write_exr_sequence,
    write_png_sequence,
)
from facegraft.store.alignments import AlignmentsStore

CANVAS = (1280, 720)
FIRST = 1001


def build_plate(
    photo: np.ndarray, n: int, scale: float, roll: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """n frames of a hand-held move over `photo` and their photo->plate matrices."""
    frames, mats = [], []
    for m in camera_path(n, amplitude=80, zoom=0.25, roll=roll, light=0.4):
        move = Move(m.angle, scale * m.scale, m.shift, m.gain)
        frames.append(render(photo, move, CANVAS)[0])
        mats.append(move_matrix((photo.shape[1], photo.shape[0]), CANVAS, move))
    return frames, mats


def landmark_errors(store: AlignmentsStore, reference: np.ndarray, mats: list[np.ndarray]) -> list[float]:
    """Per frame: mean landmark distance to the truth, in % of the eye distance (inf where none found)."""
    out = []
    for i, m in enumerate(mats):
        rec = store.frame(FIRST + i)
        truth = transform_points(reference, m)
        if rec is None or not rec.faces:
            out.append(float("inf"))
            continue
        out.append(
            min(float(np.linalg.norm(f.landmarks - truth, axis=1).mean()) for f in rec.faces)
            / eye_distance(truth)
            * 100
        )
    return out


def contact_sheet(images: list[Path], out: Path, columns: int = 4, width: int = 480) -> None:
    """A grid of the given images, each scaled to `width`, written as PNG."""
    tiles = []
    for p in images:
        img = cv2.imread(str(p))
        h = int(img.shape[0] * width / img.shape[1])
        tiles.append(cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(out), np.vstack(rows))


def run(out: Path, frames: int = 48) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    plates = out / "plates"
    report: dict = {"plates": {}, "shots": {}}
    people = {
        "target": ("grace_hopper", grace_hopper(), 1.0, 6.0),
        "source": ("astronaut", astronaut(), 1.3, 10.0),
    }
    refs = {}
    for role, (name, photo, scale, roll) in people.items():
        imgs, mats = build_plate(photo, frames, scale, roll)
        if role == "target":
            write_exr_sequence(imgs, plates / role / f"{name}.%04d.exr", first=FIRST, highlights=4.0)
            plate = str(plates / role / f"{name}.####.exr")
        else:
            write_png_sequence(imgs, plates / role / f"{name}.%04d.png", first=FIRST)
            plate = str(plates / role / f"{name}.####.png")
        ref = build_tracker(ExtractOptions(embeddings=False, detect_every=1)).step(photo, 0)[0].landmarks
        refs[role] = (photo, ref)
        shot = out / "shots" / role
        print(f"extracting the {role} plate {plate}")
        t = time.perf_counter()
        summary = extract(plate, shot, ExtractOptions(debug=True, restart=True), progress_mode="auto")
        seconds = time.perf_counter() - t
        with AlignmentsStore.open(shot) as store:
            errs = landmark_errors(store, ref, mats)
            faces = store.faces()
        finite = [e for e in errs if np.isfinite(e)]
        report["plates"][role] = plate
        report["shots"][role] = {
            "shot": str(shot),
            "frames": summary.frames_done,
            "faces": summary.faces,
            "frames_without_faces": summary.frames_without_faces,
            "seconds": round(seconds, 2),
            "landmark_error_pct_eye_distance": {
                "mean": round(float(np.mean(finite)), 2) if finite else None,
                "max": round(float(np.max(errs)), 2),
            },
            "tracks": sorted({f.track_id for f in faces}),
            "identity": faces[0].embedding.tolist() if faces and faces[0].embedding is not None else None,
        }
        debug = sorted((shot / "debug").glob("*.jpg"))
        contact_sheet(debug[:: max(1, len(debug) // 8)][:8], out / f"contact_{role}.png")
    emb_t = np.asarray(report["shots"]["target"].pop("identity"))
    emb_s = np.asarray(report["shots"]["source"].pop("identity"))
    photo_t, ref_t = refs["target"]
    report["identity_distance_source_target"] = round(identity.distance(emb_t, emb_s), 3)
    report["identity_distance_target_to_its_photo"] = round(
        identity.distance(emb_t, identity.embed(photo_t, ref_t)), 3
    )
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def print_report(r: dict, out: Path) -> None:
    print("\nfacegraft demo: extraction")
    for role, s in r["shots"].items():
        e = s["landmark_error_pct_eye_distance"]
        print(
            f"  {role:6s} {s['frames']} frames, {s['faces']} faces, tracks {s['tracks']}, "
            f"landmark error vs the known move: mean {e['mean']}% / max {e['max']}% of the eye distance, "
            f"{s['frames'] / s['seconds']:.1f} frames/s"
        )
    print(
        f"  identity distance source<->target: {r['identity_distance_source_target']} (other people > 0.6); "
        f"target plate <-> target photo: {r['identity_distance_target_to_its_photo']} (same person < 0.6)"
    )
    print(f"\n  plates:         {out / 'plates'}")
    print(f"  shots:          {out / 'shots'} (alignments.db, faces/, debug/ overlays)")
    print(f"  contact sheets: {out / 'contact_target.png'}, {out / 'contact_source.png'}")
    print(f"  report:         {out / 'report.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo_out")
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    report = run(out, args.frames)
    print_report(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
