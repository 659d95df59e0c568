"""Convert benchmark: time per 1920x1080 frame against the model's forward pass plus the EXR write of the
same passes, measured in the same run, and peak memory as the frame count grows (it must stay flat).

The plate is a scene-linear half-float EXR sequence; long plates repeat a few distinct frames through
symbolic links (reading costs the same, the disk does not fill) and their alignments are copied per frame.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.bench_extract import make_frames
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.io.colour import ColourConverter
from facegraft.io.images import read_image, write_image
from facegraft.merge.merger import align_face
from facegraft.merge.passes import MergedFrame
from facegraft.merge.writers import WriterSetup, make_writer
from facegraft.models.checkpoint import CheckpointStore
from facegraft.models.networks import ModelConfig, build_model
from facegraft.models.swap_model import load_swap_model
from facegraft.sample_plates import srgb_to_linear
from facegraft.store.alignments import AlignmentsStore, FrameRecord

DISTINCT = 8
FIRST = 1001
# The model: the default df architecture at 128 px (what a user trains first).
MODEL = {"arch": "df", "resolution": 128}


def _plate(work: Path, n: int) -> Path:
    """An n-frame EXR plate made of DISTINCT frames, repeated through links."""
    src = work / "distinct"
    folder = work / f"plate{n}"
    folder.mkdir(exist_ok=True)
    for i in range(n):
        link = folder / f"plate.{FIRST + i:04d}.exr"
        if not link.exists():
            link.symlink_to(src / f"plate.{FIRST + i % DISTINCT:04d}.exr")
    return folder / "plate.####.exr"


def _shot(work: Path, n: int) -> Path:
    """A shot whose frame f holds the faces extracted from distinct frame f mod DISTINCT."""
    base = work / "shot_distinct"
    shot = work / f"shot{n}"
    with AlignmentsStore.open(base) as store:
        plate_info, settings = store.plate(), store.settings()
        records = [store.frame(FIRST + i) for i in range(DISTINCT)]
    with AlignmentsStore.open(shot / AlignmentsStore.DEFAULT_NAME, create=True) as store:
        store.set_plate(plate_info)
        for key, value in settings.items():
            store.set_setting(key, value)
        recs = []
        for i in range(n):
            r = records[i % DISTINCT]
            faces = [replace(f, frame=FIRST + i, id=None, image=None) for f in r.faces]
            recs.append(FrameRecord(FIRST + i, None, None, None, r.width, r.height, faces))
        store.write_frames(recs)
    return shot


def _convert(plate: Path, shot: Path, model: Path, out: Path) -> dict:
    """Run `facegraft convert` in its own process; its summary plus its peak resident memory."""
    cmd = [
        sys.executable,
        "-m",
        "facegraft",
        "convert",
        str(plate),
        "--shot",
        str(shot),
        "--model",
        str(model),
    ]
    cmd += ["-o", str(out), "--progress", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"convert failed: {stderr}")
    summary = [json.loads(x) for x in stdout.splitlines() if '"summary"' in x][-1]
    summary["wall_s"] = wall
    summary["peak_rss_mb"] = usage.ru_maxrss / 1024
    return summary


def _reference(plate: Path, shot: Path, model_dir: Path, out: Path) -> dict:
    """In this process: one face's forward pass and one frame's EXR write, medians of several runs."""
    model = load_swap_model(model_dir)
    native = read_image(str(plate).replace("####", f"{FIRST:04d}"))
    with AlignmentsStore.open(shot) as store:
        face = store.faces(FIRST)[0]
    crop, _ = align_face(native, ColourConverter("scene-linear"), face.landmarks, model.face_type, 512, 128)
    batch = crop[None]
    for _ in range(3):
        model.predict(batch)
    fwd = []
    for _ in range(15):
        t = time.perf_counter()
        model.predict(batch)
        fwd.append(time.perf_counter() - t)
    h, w = native.shape[:2]
    rng = np.random.default_rng(0)
    plate_f = native.astype(np.float32)
    matte = np.zeros((h, w), np.float32)
    matte[300:700, 800:1100] = rng.random((400, 300)).astype(np.float32)
    frame = MergedFrame(FIRST, plate_f, plate_f * matte[..., None], matte, matte)
    writer = make_writer("exr", WriterSetup(out, "ref", fps=24.0, interop_id="lin_rec709_scene"))
    writes = []
    for _ in range(5):
        t = time.perf_counter()
        writer.write(frame)
        writes.append(time.perf_counter() - t)
    return {"forward_s": float(np.median(fwd)), "exr_write_s": float(np.median(writes))}


def run(quick: bool = False, work: str | None = None) -> dict:
    torch.set_num_threads(os.cpu_count() or 1)
    sizes = (10, 40) if quick else (50, 500)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        frames, _ = make_frames(DISTINCT)
        (root / "distinct").mkdir()
        for i, f in enumerate(frames):
            write_image(
                root / "distinct" / f"plate.{FIRST + i:04d}.exr",
                srgb_to_linear(f / 255.0),
                channels=("R", "G", "B"),
                dtype="half",
            )
        extract(
            root / "distinct" / "plate.####.exr",
            root / "shot_distinct",
            ExtractOptions(embeddings=False),
            progress_mode="quiet",
        )
        cfg = ModelConfig(**MODEL)
        torch.manual_seed(0)
        CheckpointStore(root / "model").save(build_model(cfg), None, 0, {"config": cfg.to_dict()})
        runs = {}
        for n in sizes:
            plate, shot = _plate(root, n), _shot(root, n)
            s = _convert(plate, shot, root / "model", root / f"out{n}")
            runs[n] = {
                "frames": s["frames_done"],
                "seconds": round(s["seconds"], 2),
                "per_frame_s": round(s["seconds"] / s["frames_done"], 4),
                "peak_rss_mb": round(s["peak_rss_mb"], 1),
            }
            for p in (root / f"out{n}").glob("*.exr"):
                p.unlink()
        ref = _reference(_plate(root, sizes[0]), _shot(root, sizes[0]), root / "model", root)
    small, big = runs[sizes[0]], runs[sizes[-1]]
    denominator = ref["forward_s"] + ref["exr_write_s"]
    return {
        "plate": "1920x1080 half-float EXR, one face per frame",
        "model": {**MODEL, "config": "defaults otherwise"},
        "runs": {str(k): v for k, v in runs.items()},
        "forward_s": round(ref["forward_s"], 4),
        "exr_write_s": round(ref["exr_write_s"], 4),
        "ratio_per_frame_to_forward_plus_write": round(big["per_frame_s"] / denominator, 3),
        "ratio_target": 1.3,
        "peak_rss_growth": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "cpus": os.cpu_count(),
    }


def report(r: dict) -> str:
    lines = ["# Convert benchmark", "", f"{r['plate']}; model {r['model']}; {r['cpus']} CPUs", ""]
    lines += ["| frames | seconds | per frame (s) | peak RSS (MB) |", "|---|---|---|---|"]
    for n, v in r["runs"].items():
        lines.append(f"| {n} | {v['seconds']} | {v['per_frame_s']} | {v['peak_rss_mb']} |")
    ok = "met" if r["ratio_per_frame_to_forward_plus_write"] <= r["ratio_target"] else "MISSED"
    lines += [
        "",
        f"- forward pass of one face: {r['forward_s'] * 1000:.1f} ms; EXR write of the frame's passes: "
        f"{r['exr_write_s'] * 1000:.1f} ms",
        f"- convert time per frame / (forward + write): **{r['ratio_per_frame_to_forward_plus_write']}** "
        f"(target <= {r['ratio_target']}: {ok})",
        f"- peak memory, longest run / shortest run: **{r['peak_rss_growth']}** (flat is 1.0)",
    ]
    return "\n".join(lines) + "\n"
