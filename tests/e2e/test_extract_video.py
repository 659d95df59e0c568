"""A phone clip with a variable frame rate: frames arrive at irregular times. Every frame must be extracted
exactly once, numbered 1..N in presentation order, and carry the presentation time it was written with."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest

from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.sample_plates import camera_path, render, write_video
from facegraft.store.alignments import AlignmentsStore

CANVAS = (640, 480)
TIME_BASE = 90000
GAPS = [3000, 3750, 1500, 6000, 3000, 4500, 2250, 3750, 1500, 6000, 3000]  # 1/90000 s between frames


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory, photos):
    """An H.264 mp4 of the face moving, with hand-set irregular presentation times; returns (path, pts)."""
    pts = [0]
    for gap in GAPS:
        pts.append(pts[-1] + gap)
    frames = [render(photos["grace_hopper"], move, CANVAS)[0] for move in camera_path(len(pts))]
    path = tmp_path_factory.mktemp("vfr") / "clip.mp4"
    write_video(frames, path, pts=pts, time_base=TIME_BASE)
    return path, pts


def test_variable_frame_rate_clip_keeps_every_frame_and_its_time(tmp_path, vfr_clip):
    clip, pts = vfr_clip
    n = len(pts)
    summary = extract(clip, tmp_path / "shot", ExtractOptions(embeddings=False), progress_mode="quiet")
    assert summary.frames_done == n and summary.frames_skipped == 0
    with AlignmentsStore.open(tmp_path / "shot") as store:
        assert store.frames_done() == set(range(1, n + 1))
        recs = {rec.frame: rec for rec in store.iter_frames()}
    stored_raw = [recs[f].pts_raw for f in range(1, n + 1)]
    assert stored_raw == pts, f"stored pts_raw {stored_raw} != written {pts}"
    for f in range(1, n + 1):
        rec = recs[f]
        assert rec.pts == pytest.approx(pts[f - 1] / TIME_BASE, abs=1e-6), (f, rec.pts)
        assert Fraction(rec.time_base) == Fraction(1, TIME_BASE), rec.time_base
        assert (rec.width, rec.height) == CANVAS
    without = [f for f, rec in recs.items() if not rec.faces]
    assert not without, f"no face found on frames {without}"
    assert all(len(rec.faces) == 1 for rec in recs.values()), {f: len(r.faces) for f, r in recs.items()}


def test_frame_spec_with_step_on_a_clip(tmp_path, vfr_clip):
    clip, pts = vfr_clip
    shot = tmp_path / "shot"
    cmd = [sys.executable, "-m", "facegraft", "extract", str(clip), "-o", str(shot)]
    result = subprocess.run(
        [*cmd, "--frames", "3-8x2", "--no-embeddings", "--quiet"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    with AlignmentsStore.open(shot) as store:
        assert store.frames_done() == {3, 5, 7}
        for f in (3, 5, 7):
            rec = store.frame(f)
            assert rec.pts_raw == pts[f - 1], (f, rec.pts_raw, pts[f - 1])
            assert len(rec.faces) == 1, (f, len(rec.faces))


PS_FRAMES = 14


@pytest.fixture(scope="module")
def mpeg_ps_clip(tmp_path_factory, photos):
    """An MPEG-1 program stream (.mpg) of the face moving: 90 kHz pts from 0.5 s, 6-frame GOPs with
    reordered B-frames, and the first two packets sharing a dts, as some muxers write it (the first
    timestamp seek then lands a packet late). Returns (path, pts PyAV decodes in order)."""
    import av

    path = tmp_path_factory.mktemp("mpeg_ps") / "clip.mpg"
    frames = [render(photos["grace_hopper"], move, CANVAS)[0] for move in camera_path(PS_FRAMES)]
    with av.open(str(path), "w", format="mpeg") as container:
        stream = container.add_stream("mpeg1video", rate=25)
        stream.width, stream.height, stream.pix_fmt = *CANVAS, "yuv420p"
        stream.codec_context.gop_size, stream.codec_context.max_b_frames = 6, 2
        stream.codec_context.bit_rate = 4_000_000
        packets = []
        for img in frames:
            packets += stream.encode(av.VideoFrame.from_ndarray(img, "rgb24"))
        packets += stream.encode()
        for packet in packets:
            packet.dts = max(packet.dts, 0)
            container.mux(packet)
    with av.open(str(path)) as container:
        pts = [f.pts for f in container.decode(video=0)]
    assert len(pts) == PS_FRAMES and pts[0] > 0 and pts == sorted(pts)
    return path, pts


def test_mpeg_program_stream_extracts_every_frame_with_its_pts(tmp_path, mpeg_ps_clip):
    """`facegraft extract clip.mpg` (it failed: "frame 1 (pts ...) is missing from the decoded stream"):
    every frame once, in order, with the pts PyAV decodes it with; a stepped frame spec reads the same."""
    clip, pts = mpeg_ps_clip
    shot = tmp_path / "shot"
    cmd = [sys.executable, "-m", "facegraft", "extract", str(clip), "-o", str(shot), "--no-embeddings"]
    result = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with AlignmentsStore.open(shot) as store:
        assert store.frames_done() == set(range(1, PS_FRAMES + 1))
        recs = {rec.frame: rec for rec in store.iter_frames()}
    assert [recs[f].pts_raw for f in range(1, PS_FRAMES + 1)] == pts
    for f, rec in recs.items():
        assert Fraction(rec.time_base) == Fraction(1, 90000), rec.time_base
        assert rec.pts == pytest.approx(pts[f - 1] / 90000, abs=1e-6)
        assert (rec.width, rec.height) == CANVAS
        assert len(rec.faces) == 1, (f, len(rec.faces))
    stepped = tmp_path / "stepped"
    cmd[cmd.index(str(shot))] = str(stepped)
    result = subprocess.run(
        [*cmd, "--frames", "4-13x3", "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    with AlignmentsStore.open(stepped) as store:
        assert store.frames_done() == {4, 7, 10, 13}
        for f in (4, 7, 10, 13):
            rec = store.frame(f)
            assert rec.pts_raw == pts[f - 1], (f, rec.pts_raw, pts[f - 1])
            assert len(rec.faces) == 1, (f, len(rec.faces))
