"""Over time: on a static plate the matte holds still, and a shot converted in frame-range chunks (as a farm
does) comes out identical to one converted in one go."""

from __future__ import annotations

import numpy as np
import pytest
from test_convert import _save_model, convert  # the same tiny model and CLI runner

from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.merge.matte import edge_position
from facegraft.merge.passes import read_passes
from facegraft.sample_plates import Move, camera_path, render, write_png_sequence

N = 8


def _matte_edge_motion(out, frames) -> list[float]:
    """Per pair of consecutive frames: the mean movement of the matte's left and right edges, in px."""
    edges = [edge_position(read_passes(out / f"plate.{f:04d}.exr")["matte.A"]) for f in frames]
    moves = []
    for a, b in zip(edges, edges[1:]):
        ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        moves.append(float(np.abs(a[ok] - b[ok]).mean()))
    return moves


@pytest.fixture(scope="module")
def static(tmp_path_factory, photos):
    """One frame repeated, each copy with its own sensor grain (so the landmarks jitter as they would)."""
    root = tmp_path_factory.mktemp("static")
    still = render(photos["grace_hopper"], Move(0.0, 1.0, (0.0, 0.0), 1.0), (480, 360))[0]
    rng = np.random.default_rng(3)
    frames = [np.clip(still + rng.normal(0, 2.0, still.shape), 0, 255).astype(np.uint8) for _ in range(N)]
    write_png_sequence(frames, root / "plate" / "plate.%04d.png", first=1)
    extract(
        root / "plate" / "plate.####.png",
        root / "shot",
        ExtractOptions(size=128, embeddings=False),
        progress_mode="quiet",
    )
    _save_model(root / "model")
    return root


def test_on_a_static_plate_the_matte_edge_moves_less_than_half_a_pixel(static):
    out = static / "out"
    job = {"plate": static / "plate" / "plate.####.png", "shot": static / "shot", "model": static / "model"}
    # the landmark-driven matte: what landmark jitter would move
    proc = convert(job, out, "--mask", "landmark")
    assert proc.returncode == 0, proc.stderr
    moves = _matte_edge_motion(out, range(1, N + 1))
    assert max(moves) < 0.5, moves


def test_chunks_converted_separately_match_one_run(tmp_path, photos):
    frames = [render(photos["grace_hopper"], m, (320, 240))[0] for m in camera_path(N, amplitude=15)]
    write_png_sequence(frames, tmp_path / "plate" / "p.%04d.png", first=1)
    plate = tmp_path / "plate" / "p.####.png"
    extract(plate, tmp_path / "shot", ExtractOptions(size=128, embeddings=False), progress_mode="quiet")
    _save_model(tmp_path / "model")
    job = {"plate": plate, "shot": tmp_path / "shot", "model": tmp_path / "model"}
    options = ["--colour-window", "3", "--degrade", "noise=0.01", "--motion-blur", "1"]
    assert convert(job, tmp_path / "whole", *options).returncode == 0
    for spec in ("1-3", "4-6", "7-8"):
        proc = convert(job, tmp_path / "chunks", *options, "--frames", spec)
        assert proc.returncode == 0, proc.stderr
    for f in range(1, N + 1):
        a = read_passes(tmp_path / "whole" / f"p.{f:04d}.exr")
        b = read_passes(tmp_path / "chunks" / f"p.{f:04d}.exr")
        for name in a:
            assert np.array_equal(a[name], b[name]), (f, name)
