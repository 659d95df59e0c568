"""A phone clip of a portrait face stored sideways with a display matrix (how phones mark portrait video):
the plate reads upright, as players show it, extraction finds upright faces on it, and a movie written from
its frames (as convert writes the comp) is upright with no matrix of its own."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from facegraft.geometry.alignment import eye_distance
from facegraft.io.plate import open_plate
from facegraft.merge.video_out import VideoWriter
from facegraft.sample_plates import write_video
from facegraft.store.alignments import AlignmentsStore

FRAMES = 3
# Display rotation (clockwise degrees to show the stored frame upright) -> np.rot90 k storing the picture.
STORE_TURNS = {90: 1, 180: 2, 270: 3}
JPEG_NOISE = 6.0  # mean absolute difference H.264 at crf 18 leaves on the photo, 0..255 levels
LANDMARK_EYE_FRACTION = 0.05  # mean distance to the photo's own landmarks / eye-centre distance


def _box(data: bytes | bytearray, start: int, end: int, kind: bytes) -> tuple[int, int]:
    """(body start, body end) of the first ISO-BMFF box of `kind` among the boxes in data[start:end]."""
    at = start
    while at + 8 <= end:
        size, name = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8 : at + 16])[0], 16
        elif size == 0:
            size = end - at
        if name == kind:
            return at + header, at + size
        at += size
    raise AssertionError(f"no {kind.decode()} box")


def _tkhd_matrix_at(data: bytes | bytearray) -> int:
    """Offset of the 3x3 matrix in the first track's header (moov/trak/tkhd)."""
    moov = _box(data, 0, len(data), b"moov")
    trak = _box(data, *moov, b"trak")
    tkhd, _ = _box(data, *trak, b"tkhd")
    times = 32 if data[tkhd] == 1 else 20  # version 1 has 64-bit times and duration
    return tkhd + 4 + times + 16  # version/flags, times/ids/duration, reserved/layer/group/volume


def tkhd_matrix(path: Path) -> tuple[int, ...]:
    """a, b, c, d of the first track header's matrix (16.16 fixed point)."""
    data = path.read_bytes()
    at = _tkhd_matrix_at(data)
    a, b, _, c, d = struct.unpack(">5i", data[at : at + 20])
    return a, b, c, d


def write_phone_clip(upright: np.ndarray, rotation: int, path: Path) -> Path:
    """An H.264 MP4 storing `upright` turned `rotation` degrees anticlockwise, with the track-header matrix
    that turns it back clockwise patched in, as a phone writes a portrait clip."""
    stored = np.ascontiguousarray(np.rot90(upright, STORE_TURNS[rotation]))
    write_video([stored] * FRAMES, path)
    data = bytearray(path.read_bytes())
    turn = np.linalg.matrix_power(np.array([[0, -1], [1, 0]]), rotation // 90)  # clockwise, y down
    (a, c), (b, d) = turn * 65536
    h, w = stored.shape[:2]
    tx = {90: h, 180: w, 270: 0}[rotation] * 65536  # phones move the turned picture back on screen
    ty = {90: 0, 180: h, 270: w}[rotation] * 65536
    struct.pack_into(">9i", data, _tkhd_matrix_at(data), a, b, 0, c, d, 0, tx, ty, 1 << 30)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def upright(photos) -> np.ndarray:
    """The portrait photo (512 wide, 600 high) that the clips show upright."""
    return photos["grace_hopper"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, upright) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("phone")
    return {r: write_phone_clip(upright, r, folder / f"portrait_{r}.mp4") for r in STORE_TURNS}


def test_clip_is_stored_sideways_with_a_phone_matrix(clips) -> None:
    """The patched clip reads as a phone's: sideways pixels, and FFmpeg takes the tkhd matrix as -90."""
    path = clips[90]
    assert tkhd_matrix(path) == (0, 65536, -65536, 0)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (600, 512, -90)


@pytest.mark.parametrize("rotation", sorted(STORE_TURNS))
def test_frames_come_out_upright(clips, upright, rotation) -> None:
    with open_plate(clips[rotation]) as plate:
        assert (plate.width, plate.height) == (upright.shape[1], upright.shape[0])
        assert (plate.rotation, plate.mirrored) == (rotation, False)
        images = [img for _, img in plate.iter_frames()]
    assert len(images) == FRAMES
    for img in images:
        error = np.abs(img.astype(np.float32) - upright).mean()
        assert error < JPEG_NOISE, error
        assert np.abs(img.astype(np.float32) - upright[::-1, ::-1]).mean() > 4 * JPEG_NOISE


def _check_upright_faces(shot: Path, upright: np.ndarray, reference: np.ndarray) -> None:
    """Every frame has one face whose eyes sit above its mouth, with no roll, where the photo's face is."""
    with AlignmentsStore.open(shot) as store:
        info = store.plate()
        recs = list(store.iter_frames())
    assert (info["width"], info["height"]) == (upright.shape[1], upright.shape[0])
    assert info["rotation"] in STORE_TURNS and info["mirrored"] is False
    assert len(recs) == FRAMES
    for rec in recs:
        assert (rec.width, rec.height) == (upright.shape[1], upright.shape[0])
        assert len(rec.faces) == 1, f"frame {rec.frame}: {len(rec.faces)} faces"
        face = rec.faces[0]
        pts = face.landmarks.astype(np.float64)
        eyes_y, mouth_y = pts[36:48, 1].mean(), pts[48:68, 1].mean()
        assert eyes_y < mouth_y - 0.5 * eye_distance(pts), (rec.frame, eyes_y, mouth_y)
        assert abs(face.pose[2]) < 10.0, f"frame {rec.frame}: roll {face.pose[2]:.1f}"
        offset = np.linalg.norm(pts - reference, axis=1).mean() / eye_distance(reference)
        assert offset < LANDMARK_EYE_FRACTION, (rec.frame, offset)


def test_extract_cli_finds_upright_faces(tmp_path, clips, upright, reference_landmarks) -> None:
    shot = tmp_path / "shot"
    cmd = [sys.executable, "-m", "facegraft", "extract", str(clips[90]), "-o", str(shot)]
    result = subprocess.run([*cmd, "--no-embeddings", "--quiet"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    _check_upright_faces(shot, upright, reference_landmarks["grace_hopper"])


@pytest.mark.parametrize("rotation", [180, 270])
def test_extract_finds_upright_faces_on_other_turns(tmp_path, clips, upright, reference_landmarks, rotation):
    from facegraft.extract.pipeline import ExtractOptions, extract

    shot = tmp_path / "shot"
    extract(clips[rotation], shot, ExtractOptions(embeddings=False), progress_mode="quiet")
    _check_upright_faces(shot, upright, reference_landmarks["grace_hopper"])


def test_movie_written_from_the_plate_is_upright(tmp_path, clips, upright) -> None:
    """Convert writes the comp from the frames the plate reader gives, through this writer: upright in,
    upright out, and the output carries no display matrix that a player would turn again."""
    out = tmp_path / "comp.mp4"
    with open_plate(clips[90]) as plate:
        writer = VideoWriter(out, plate.fps, {}, audio_from=plate.path)
        for _, img in plate.iter_frames():
            writer.write(img)
        writer.close()
    with open_plate(out) as comp:
        assert (comp.rotation, comp.mirrored) == (0, False)
        assert (comp.width, comp.height) == (upright.shape[1], upright.shape[0])
        assert np.abs(comp.read(1).astype(np.float32) - upright).mean() < 2 * JPEG_NOISE
    assert tkhd_matrix(out) == (65536, 0, 0, 65536)
