"""Converting a plate: a linear EXR plate with highlights in, passes out, checked by reading the files back
with OpenImageIO and the OpenEXR package and measuring them against the plate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.io.images import read_image
from facegraft.merge.passes import read_passes
from facegraft.models.checkpoint import CheckpointStore
from facegraft.models.networks import ModelConfig, build_model
from facegraft.sample_plates import camera_path, render, write_exr_sequence, write_png_sequence

FIRST = 1001
N = 6
CHANNELS = {"R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "matte.A", "facemask.A"}


def _save_model(folder, seed=0) -> None:
    """A small untrained model saved the way training saves one (the passes' plumbing does not need a
    trained face; the demo measures a trained one)."""
    cfg = ModelConfig(arch="df", resolution=64, ae_dims=64, e_dims=16, d_dims=16, d_mask_dims=8)
    torch.manual_seed(seed)
    CheckpointStore(folder).save(build_model(cfg), None, 0, {"config": cfg.to_dict()})


def make_job(root, photos, frames: int = N) -> dict:
    """An n-frame linear EXR plate of Grace Hopper with highlights, its extraction and a small model."""
    images = [
        render(photos["grace_hopper"], m, (480, 360))[0] for m in camera_path(frames, amplitude=20, light=0.0)
    ]
    write_exr_sequence(images, root / "plate" / "plate.%04d.exr", first=FIRST, highlights=4.0)
    plate = root / "plate" / "plate.####.exr"
    extract(plate, root / "shot", ExtractOptions(size=128, embeddings=False), progress_mode="quiet")
    _save_model(root / "model")
    return {"root": root, "plate": plate, "shot": root / "shot", "model": root / "model"}


@pytest.fixture(scope="module")
def job(tmp_path_factory, photos):
    return make_job(tmp_path_factory.mktemp("convert"), photos)


def facegraft(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def convert(job, out, *extra) -> subprocess.CompletedProcess:
    return facegraft(
        "convert",
        job["plate"],
        "--shot",
        job["shot"],
        "--model",
        job["model"],
        "-o",
        out,
        "--progress",
        "json",
        *extra,
    )


def summary(proc) -> dict:
    return [json.loads(x) for x in proc.stdout.splitlines() if '"summary"' in x][-1]


@pytest.fixture(scope="module")
def passes(job):
    out = job["root"] / "passes"
    proc = convert(job, out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_every_frame_gets_one_half_float_zip_exr_with_named_passes(job, passes):
    files = sorted(passes.glob("plate.*.exr"))
    assert [f.name for f in files] == [f"plate.{FIRST + i:04d}.exr" for i in range(N)]
    inp = oiio.ImageInput.open(str(files[0]))
    spec = inp.spec()
    assert inp.seek_subimage(1, 0) is False  # single part
    inp.close()
    assert set(spec.channelnames) == CHANNELS
    assert spec.format == oiio.TypeDesc("half")
    assert spec.getattribute("compression") == "zip"
    assert spec.getattribute("facegraft/synthetic") == "true"
    assert spec.getattribute("facegraft/source_frame") == str(FIRST)
    assert len(spec.getattribute("facegraft/model")) == 64
    assert spec.getattribute("colorInteropID") == "lin_rec709_scene"
    assert spec.getattribute("chromaticities") == pytest.approx(
        (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.329)
    )
    assert spec.getattribute("framesPerSecond") is not None


def test_the_openexr_package_reads_the_same_header(passes):
    openexr = pytest.importorskip("OpenEXR")
    f = openexr.File(str(passes / f"plate.{FIRST + 2:04d}.exr"))
    header, channels = f.parts[0].header, f.parts[0].channels
    for key in (
        "chromaticities",
        "colorInteropID",
        "framesPerSecond",
        "facegraft/version",
        "facegraft/model",
        "facegraft/config",
        "facegraft/source_frame",
        "facegraft/synthetic",
    ):
        assert key in header, f"{key} missing from {sorted(header)}"
    assert str(header["facegraft/synthetic"]) == "true"
    # The package groups channels by layer: RGBA, swap (R, G, B, A), matte.A, facemask.A.
    assert set(channels) == {"RGBA", "swap", "matte.A", "facemask.A"}
    assert channels["swap"].pixels.shape[-1] == 4 and channels["RGBA"].pixels.shape[-1] == 4


def test_swap_is_premultiplied_and_the_plate_is_untouched_outside_the_matte(job, passes):
    for i in range(N):
        frame = FIRST + i
        ch = read_passes(passes / f"plate.{frame:04d}.exr")
        plate = read_image(job["plate"].parent / f"plate.{frame:04d}.exr").astype(np.float32)
        comp = np.stack([ch["R"], ch["G"], ch["B"]], -1)
        swap = np.stack([ch["swap.R"], ch["swap.G"], ch["swap.B"]], -1)
        matte, alpha = ch["matte.A"], ch["swap.A"]
        assert np.array_equal(matte, alpha)
        assert np.all(swap[alpha == 0] == 0), "swap must be premultiplied"
        outside = matte == 0
        assert np.array_equal(comp[outside], plate[outside]), "pixels outside the matte changed"
        bright = outside & (plate.max(-1) > 1.0)
        assert bright.sum() > 100 and comp[bright].max() > 3.0  # linear highlights kept above 1.0
        assert np.all(ch["A"] == 1.0)
        assert 0 < matte.max() <= 1.0 and ch["facemask.A"].max() <= 1.0


def _face_hull(job, frame: int) -> np.ndarray:
    """(H, W) bool: the convex hull of the stored landmarks of `frame` (jaw and brows) on the plate."""
    import cv2

    from facegraft.store.alignments import AlignmentsStore

    with AlignmentsStore.open(job["shot"]) as store:
        lm = store.faces(frame)[0].landmarks
    hull = np.zeros((360, 480), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm[:27]).astype(np.int32)), 1)
    return hull.astype(bool)


def test_landmark_matte_covers_the_face_and_erode_feather_shape_it(job, tmp_path):
    frame = FIRST + 1
    hull = _face_hull(job, frame)
    areas, soft = {}, {}
    for name, extra in {
        "plain": ("--feather", "0"),
        "eroded": ("--feather", "0", "--erode", "8"),
        "feathered": ("--feather", "24"),
    }.items():
        out = tmp_path / name
        assert convert(job, out, "--mask", "landmark", "--frames", str(frame), *extra).returncode == 0
        ch = read_passes(out / f"plate.{frame:04d}.exr")
        matte = ch["matte.A"]
        inside = (matte > 0.5) & hull
        areas[name] = (matte > 0.5).sum()
        soft[name] = ((matte > 0.02) & (matte < 0.98)).sum()
        if name == "plain":
            assert inside.sum() / hull.sum() > 0.85, "the matte should cover the face"
            assert (matte > 0.5).sum() < 1.1 * hull.sum(), "the matte should not spill past the face"
            assert np.array_equal(ch["facemask.A"] > 0.5, matte > 0.5)
    assert areas["eroded"] < 0.9 * areas["plain"]
    assert soft["feathered"] > 1.4 * soft["plain"], soft


def test_a_rerun_skips_converted_frames_and_an_interrupted_one_continues(job, tmp_path):
    out = tmp_path / "out"
    first = convert(job, out, "--frames", f"{FIRST}-{FIRST + 2}")
    assert first.returncode == 0, first.stderr
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.exr")}
    second = convert(job, out)
    assert second.returncode == 0, second.stderr
    s = summary(second)
    assert (s["frames_done"], s["frames_skipped"]) == (N - 3, 3)
    assert all(out.joinpath(n).stat().st_mtime_ns == t for n, t in mtimes.items())
    # Other options change the config hash: every frame is written again.
    third = convert(job, out, "--feather", "3")
    assert summary(third)["frames_done"] == N

    # Killed part way: no temporary or partial file is left under a final name, and a rerun finishes.
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facegraft",
            "convert",
            str(job["plate"]),
            "--shot",
            str(job["shot"]),
            "--model",
            str(job["model"]),
            "-o",
            str(killed),
            "--progress",
            "quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(killed.glob("plate.*.exr")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for p in killed.glob("plate.*.exr"):
        assert set(read_passes(p)) == CHANNELS  # every finished file is whole
    rerun = convert(job, killed)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in killed.iterdir() if not p.name.startswith(".")) == [
        f"plate.{FIRST + i:04d}.exr" for i in range(N)
    ]
    assert not [p for p in killed.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_bad_input_fails_with_one_clear_line_and_writes_nothing(job, tmp_path):
    cases = {
        "no model": (("--model", tmp_path / "nomodel"), 2, "nomodel"),
        "frames not in plate": (("--frames", "990-995"), 3, "not in the plate"),
        "bad option": (("--erode-sides", "up=4"), 2, "--erode-sides"),
        "bad colour mode": (("--colour", "sepia"), 2, "sepia"),
    }
    for name, (extra, code, words) in cases.items():
        out = tmp_path / name.replace(" ", "_")
        args = ["convert", job["plate"], "--shot", job["shot"], "--model", job["model"], "-o", out]
        for flag, value in zip(extra[::2], extra[1::2]):
            if flag in args:
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
        proc = facegraft(*args)
        assert proc.returncode == code, (name, proc.returncode, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("facegraft: error:") and words in lines[0], (
            name,
            lines,
        )
        assert not out.exists() or not any(out.iterdir()), name


def test_frames_that_were_never_extracted_exit_3(photos, tmp_path):
    frames = [render(photos["grace_hopper"], m, (320, 240))[0] for m in camera_path(3, amplitude=10)]
    write_png_sequence(frames, tmp_path / "plate" / "p.%04d.png", first=1)
    extract(
        tmp_path / "plate" / "p.####.png",
        tmp_path / "shot",
        ExtractOptions(frames="1-2", size=128, embeddings=False),
        progress_mode="quiet",
    )
    _save_model(tmp_path / "model")
    job = {"plate": tmp_path / "plate" / "p.####.png", "shot": tmp_path / "shot", "model": tmp_path / "model"}
    proc = convert(job, tmp_path / "out")
    assert proc.returncode == 3, proc.stderr
    assert "frame 3 was never extracted" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_truncated_plate_frame_fails_cleanly_after_the_good_frames(job, tmp_path):
    import shutil

    plate_dir = tmp_path / "plate"
    shutil.copytree(job["plate"].parent, plate_dir)
    bad = plate_dir / f"plate.{FIRST + 3:04d}.exr"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 3])
    out = tmp_path / "out"
    proc = facegraft(
        "convert", plate_dir / "plate.####.exr", "--shot", job["shot"], "--model", job["model"], "-o", out
    )
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr.strip().splitlines()[-1]
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"plate.{FIRST + i:04d}.exr" for i in range(3)], names


def test_layouts_formats_and_patches(job, tmp_path):
    multi = tmp_path / "multi"
    assert convert(job, multi, "--layout", "multipart", "--frames", str(FIRST)).returncode == 0
    inp = oiio.ImageInput.open(str(multi / f"plate.{FIRST}.exr"))
    parts = []
    while inp.seek_subimage(len(parts), 0):
        parts.append((inp.spec().getattribute("name"), tuple(inp.spec().channelnames)))
    inp.close()
    assert dict(parts) == {
        "rgba": ("R", "G", "B", "A"),
        "swap": ("swap.R", "swap.G", "swap.B", "swap.A"),
        "matte": ("matte.A",),
        "facemask": ("facemask.A",),
    }

    files = tmp_path / "files"
    assert convert(job, files, "--layout", "files", "--frames", f"{FIRST}-{FIRST + 1}").returncode == 0
    assert sorted(p.name for p in files.iterdir()) == sorted(
        f"plate.{kind}.{FIRST + i}.exr" for kind in ("comp", "swap", "matte", "facemask") for i in range(2)
    )

    png = tmp_path / "png"
    assert convert(job, png, "--format", "png", "--frames", str(FIRST)).returncode == 0
    comp = oiio.ImageInput.open(str(png / f"plate.comp.{FIRST}.png"))
    assert comp.spec().getattribute("facegraft/synthetic") == "true" and comp.spec().nchannels == 4
    comp.close()
    assert (png / f"plate.matte.{FIRST}.png").is_file()

    tif = tmp_path / "tif"
    assert convert(job, tif, "--format", "tiff", "--frames", str(FIRST)).returncode == 0
    t = oiio.ImageInput.open(str(tif / f"plate.comp.{FIRST}.tif"))
    meta = json.loads(t.spec().getattribute("ImageDescription"))
    t.close()
    assert meta["facegraft/synthetic"] == "true"

    patch = tmp_path / "patch"
    assert convert(job, patch, "--patch").returncode == 0
    matrices = json.loads((patch / "patch" / "matrices.json").read_text())
    assert matrices["resolution"] == 64 and len(matrices["frames"]) == N
    entry = matrices["frames"][str(FIRST)][0]
    p = oiio.ImageInput.open(str(patch / "patch" / entry["file"]))
    assert (p.spec().width, p.spec().height) == (64, 64)
    stored = np.array(json.loads(p.spec().getattribute("facegraft/face_to_frame")))
    assert np.allclose(stored, entry["face_to_frame"])
    p.close()
    # The corners are where the patch's corners land on the plate: inside the frame near the face.
    corners = np.array(entry["corners"])
    assert corners.shape == (4, 2) and np.all(corners > -200) and np.all(corners < 700)

    # Every file written says it is synthetic; only the comp carries the watermark, the other passes say so.
    written = sorted(
        p for folder in (multi, files, png, tif, patch / "patch") for p in folder.glob("*.[etp]*")
    )
    written = [p for p in written if p.suffix in (".exr", ".png", ".tif")]
    run = facegraft("verify", "--json", *written)
    assert run.returncode == 0, run.stderr
    reports = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(reports) == len(written) >= 12 and all(r["synthetic"] for r in reports), reports
    inp = oiio.ImageInput.open(str(multi / f"plate.{FIRST}.exr"))
    marks = {}
    while inp.seek_subimage(len(marks), 0):
        marks[inp.spec().getattribute("name")] = inp.spec().getattribute("facegraft/watermark")
    inp.close()
    assert marks["rgba"].startswith("comp: engine fa job ")
    assert {marks[k] for k in ("swap", "matte", "facemask")} == {"none: left unmarked for grading"}


def test_mp4_carries_the_comp_the_marking_and_every_frame(job, tmp_path):
    import av

    out = tmp_path / "mp4"
    proc = convert(job, out, "--format", "mp4")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out / "plate.mp4")) as c:
        assert c.metadata.get("facegraft/synthetic") == "true"
        assert len(c.metadata.get("facegraft/model", "")) == 64
        assert sum(1 for _ in c.decode(video=0)) == N
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    run = facegraft("verify", "--json", out / "plate.mp4")
    report = json.loads(run.stdout)
    assert run.returncode == 0 and report["synthetic"] and report["watermark"]["frames"] == N, report


def test_a_video_plate_converts_to_mov_with_its_audio(photos, tmp_path):
    import av

    frames = [render(photos["grace_hopper"], m, (320, 240))[0] for m in camera_path(12, amplitude=10)]
    plate = tmp_path / "plate.mov"
    with av.open(str(plate), "w") as c:
        v = c.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        a = c.add_stream("aac", rate=48000)
        a.layout = "mono"
        for f in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        t = np.arange(48000 // 2) / 48000.0
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        for i in range(0, tone.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone[:, i : i + 1024]), format="fltp", layout="mono"
            )
            chunk.sample_rate, chunk.pts = 48000, i
            for p in a.encode(chunk):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    extract(plate, tmp_path / "shot", ExtractOptions(size=128, embeddings=False), progress_mode="quiet")
    _save_model(tmp_path / "model")
    job = {"plate": plate, "shot": tmp_path / "shot", "model": tmp_path / "model"}
    proc = convert(job, tmp_path / "out", "--format", "mov")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(tmp_path / "out" / "plate.mov")) as c:
        assert c.metadata.get("facegraft/synthetic") == "true"
        assert len(c.streams.audio) == 1, "the plate's audio should be copied"
        samples = sum(f.samples for f in c.decode(audio=0))
        assert samples > 0.8 * 48000 * 12 / 24  # about the 0.5 s the frames cover
    with av.open(str(tmp_path / "out" / "plate.mov")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12
