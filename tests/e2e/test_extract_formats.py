"""One plate delivered four ways: an 8-bit sRGB PNG sequence, a 16-bit TIFF sequence, a scene-linear
half-float EXR sequence with highlights above 1.0, and an H.264 movie. The colour pipeline brings each to the
same working image, so each extraction must find the landmarks the PNG extraction finds: within a pixel for
the lossless formats, within 2% of the eye distance for the compressed movie."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.geometry.alignment import eye_distance
from facegraft.io.images import read_image, write_image
from facegraft.sample_plates import Move, render, write_exr_sequence, write_png_sequence, write_video
from facegraft.store.alignments import AlignmentsStore

CANVAS = (640, 480)
MOVES = [Move(shift=(40, -20)), Move(scale=0.9, shift=(-30, 15)), Move(angle=12, shift=(10, 10))]
FIRST = 1001
LOSSLESS_PX = 1.0  # mean landmark distance to the PNG extraction, plate pixels
VIDEO_EYE_FRACTION = 0.02  # mean landmark distance to the PNG extraction / eye-centre distance


def _extract(plate, shot) -> dict[int, np.ndarray]:
    """Landmarks of the single face of every frame, keyed by frame number."""
    extract(plate, shot, ExtractOptions(embeddings=False, detect_every=1), progress_mode="quiet")
    with AlignmentsStore.open(shot) as store:
        out = {}
        for rec in store.iter_frames():
            assert len(rec.faces) == 1, f"{plate}: frame {rec.frame} has {len(rec.faces)} faces"
            out[rec.frame] = rec.faces[0].landmarks.astype(np.float64)
    return out


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=1).mean())


@pytest.fixture(scope="module")
def plate_frames(photos) -> list[np.ndarray]:
    return [render(photos["astronaut"], move, CANVAS)[0] for move in MOVES]


@pytest.fixture(scope="module")
def png_landmarks(tmp_path_factory, plate_frames) -> dict[int, np.ndarray]:
    root = tmp_path_factory.mktemp("png")
    write_png_sequence(plate_frames, root / "plate.%04d.png", first=FIRST)
    landmarks = _extract(root / "plate.####.png", root / "shot")
    assert sorted(landmarks) == [FIRST + i for i in range(len(MOVES))]
    return landmarks


def _assert_close_to_png(landmarks: dict[int, np.ndarray], png: dict[int, np.ndarray], what: str) -> None:
    assert sorted(landmarks) == sorted(png), f"{what}: frames {sorted(landmarks)} != {sorted(png)}"
    errors = {f: round(_mean_distance(landmarks[f], png[f]), 3) for f in png}
    assert max(errors.values()) <= LOSSLESS_PX, f"{what}: mean landmark distance to the PNG's (px): {errors}"


def test_16bit_tiff_matches_png(tmp_path, plate_frames, png_landmarks):
    for i, frame in enumerate(plate_frames):
        write_image(tmp_path / f"plate.{FIRST + i:04d}.tif", frame.astype(np.uint16) * 257, dtype="uint16")
    assert read_image(tmp_path / f"plate.{FIRST:04d}.tif").dtype == np.uint16
    _assert_close_to_png(_extract(tmp_path / "plate.####.tif", tmp_path / "shot"), png_landmarks, "tiff16")


def test_linear_exr_with_highlights_matches_png(tmp_path, plate_frames, png_landmarks):
    paths = write_exr_sequence(plate_frames, tmp_path / "plate.%04d.exr", first=FIRST, highlights=4.0)
    first = read_image(paths[0])
    assert first.dtype == np.float16
    assert float(first.max()) > 1.0, "the EXR plate should hold highlights above 1.0"
    landmarks = _extract(tmp_path / "plate.####.exr", tmp_path / "shot")
    with AlignmentsStore.open(tmp_path / "shot") as store:
        assert store.plate()["colourspace"] == store.setting("extract")["colourspace"]
        assert "lin" in store.plate()["colourspace"].lower(), store.plate()
    _assert_close_to_png(landmarks, png_landmarks, "exr")


def test_h264_movie_matches_png(tmp_path, plate_frames, png_landmarks):
    write_video(plate_frames, tmp_path / "plate.mp4", crf=18)
    landmarks = _extract(tmp_path / "plate.mp4", tmp_path / "shot")
    assert sorted(landmarks) == list(range(1, len(MOVES) + 1)), "movie frames are numbered 1..N"
    errors = {}
    for i, frame in enumerate(sorted(landmarks)):
        reference = png_landmarks[FIRST + i]
        errors[frame] = round(_mean_distance(landmarks[frame], reference) / eye_distance(reference), 4)
    assert max(errors.values()) <= VIDEO_EYE_FRACTION, f"mean landmark distance / eye distance: {errors}"
