"""Plates and image files: sequences, single frames, channels by name, native dtypes, video and errors."""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.io.images import image_spec, read_image, write_image
from facegraft.io.plate import FrameInfo, open_plate
from facegraft.io.video import VideoReader

W, H = 64, 48


def pattern(frame: int, dtype: type = np.float16) -> np.ndarray:
    """A (H, W, 3) test image whose mean encodes the frame number."""
    ramp = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :, None]
    img = np.broadcast_to(ramp * 0.1 + (frame % 50) / 100.0, (H, W, 3)).astype(np.float32)
    img = img * np.array([1.0, 0.8, 0.6], np.float32)
    if np.dtype(dtype).kind == "u":
        return (img * np.iinfo(dtype).max).round().astype(dtype)
    return img.astype(dtype)


def write_exr_sequence(directory: Path, frames: range, name: str = "plate") -> list[Path]:
    paths = [directory / f"{name}.{f:04d}.exr" for f in frames]
    for frame, path in zip(frames, paths, strict=True):
        write_image(path, pattern(frame))
    return paths


# ---- images -------------------------------------------------------------------------------------------


def test_write_read_round_trip_and_spec(tmp_path: Path) -> None:
    img = pattern(3)
    path = tmp_path / "a.exr"
    write_image(path, img)
    assert [p.name for p in tmp_path.iterdir()] == ["a.exr"]  # no temporary left behind
    back = read_image(path)
    assert back.dtype == np.float16 and back.shape == (H, W, 3)
    np.testing.assert_array_equal(back, img)
    info = image_spec(path)
    assert (info.width, info.height, info.channels, info.dtype) == (W, H, ("R", "G", "B"), np.float16)
    assert info.attributes["compression"] == "zip"


def test_channels_by_name_from_scrambled_exr(tmp_path: Path) -> None:
    planes = {
        name: np.full((H, W), value, np.float16)
        for name, value in {"swap.R": 0.5, "A": 0.25, "B": 0.125, "G": 2.0, "R": 4.0}.items()
    }
    names = list(planes)  # written in this (unsorted) order; OIIO reads back sorted
    path = tmp_path / "passes.exr"
    write_image(path, np.stack([planes[n] for n in names], axis=-1), channels=names)
    assert image_spec(path).channels == ("R", "G", "B", "A", "swap.R")
    rgba = read_image(path, ("R", "G", "B", "A"))
    assert rgba[0, 0].tolist() == [4.0, 2.0, 0.125, 0.25]
    assert read_image(path, ("swap.R", "B"))[0, 0].tolist() == [0.5, 0.125]
    with pytest.raises(InputError, match="missing channels matte.A") as err:
        read_image(path, ("R", "matte.A"))
    assert str(path) in str(err.value)


def test_grey_is_replicated_and_missing_alpha_is_opaque(tmp_path: Path) -> None:
    grey = (np.arange(H * W) % 256).astype(np.uint8).reshape(H, W)
    path = tmp_path / "grey.png"
    write_image(path, grey)
    rgba = read_image(path, ("R", "G", "B", "A"))
    assert rgba.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgba[..., c], grey)
    assert (rgba[..., 3] == 255).all()


def test_native_dtypes(tmp_path: Path) -> None:
    write_image(tmp_path / "deep.tif", pattern(7, np.uint16))
    img = read_image(tmp_path / "deep.tif")
    assert img.dtype == np.uint16
    np.testing.assert_array_equal(img, pattern(7, np.uint16))
    write_image(tmp_path / "full.exr", pattern(7, np.float32))
    assert read_image(tmp_path / "full.exr").dtype == np.float32
    write_image(tmp_path / "eight.png", pattern(7, np.uint8))
    assert read_image(tmp_path / "eight.png").dtype == np.uint8
    write_image(tmp_path / "a.exr", pattern(7, np.float32), dtype="half")
    assert read_image(tmp_path / "a.exr").dtype == np.float16


def test_unreadable_images_name_the_file(tmp_path: Path) -> None:
    text = tmp_path / "text.exr"
    text.write_text("not an image\n")
    with pytest.raises(InputError, match="cannot open image") as err:
        read_image(text)
    assert str(err.value).startswith(f"{text}: ")
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "absent.exr")


def test_truncated_exr_raises(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.exr"
    write_image(path, rng.random((240, 320, 3), dtype=np.float32), dtype="half")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read image") as err:
        read_image(path)
    assert str(path) in str(err.value)


# ---- sequences and single images -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["plate.####.exr", "plate.%04d.exr", "plate.$F4.exr", "plate.@@@@.exr", ""])
def test_open_sequence_forms(tmp_path: Path, name: str) -> None:
    write_exr_sequence(tmp_path, range(1001, 1006))
    with open_plate(tmp_path / name if name else tmp_path) as plate:
        assert plate.kind == "sequence"
        assert plate.frames == [1001, 1002, 1003, 1004, 1005]
        assert (plate.width, plate.height, plate.default_colourspace) == (W, H, "scene-linear")
        assert plate.frame_path(1003) == str(tmp_path / "plate.1003.exr")
        assert plate.info(1003) == FrameInfo(1003)
        got = [(info.frame, float(img.mean())) for info, img in plate.iter_frames()]
        assert [f for f, _ in got] == plate.frames
        for frame, mean in got:
            assert mean == pytest.approx(float(pattern(frame).astype(np.float32).mean()), abs=1e-3)


def test_open_range_pattern(tmp_path: Path) -> None:
    write_exr_sequence(tmp_path, range(1001, 1006))
    plate = open_plate(tmp_path / "plate.1002-1003#.exr")
    assert plate.frames == [1002, 1003]
    with pytest.raises(InputError, match=r"frame 1001 is not in the plate \(1002,1003\)"):
        plate.read(1001)


def test_single_files(tmp_path: Path) -> None:
    write_exr_sequence(tmp_path, range(1001, 1003))
    plate = open_plate(tmp_path / "plate.1002.exr")
    assert (plate.kind, plate.frames) == ("image", [1002])
    np.testing.assert_array_equal(plate.read(1002), pattern(1002))
    write_image(tmp_path / "still.png", pattern(1, np.uint8))
    still = open_plate(str(tmp_path / "still.png"))
    assert (still.kind, still.frames, still.default_colourspace) == ("image", [1], "sRGB")
    assert still.read(1).dtype == np.uint8


def test_frame_missing_or_truncated_on_disk(tmp_path: Path) -> None:
    paths = write_exr_sequence(tmp_path, range(1, 5))
    plate = open_plate(tmp_path / "plate.####.exr")
    paths[1].unlink()
    with pytest.raises(InputError) as err:
        plate.read(2)
    assert str(paths[1]) in str(err.value)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        list(plate.iter_frames([3, 4]))
    assert str(paths[2]) in str(err.value)


def test_open_plate_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory") as err:
        open_plate(tmp_path / "absent.mov")
    assert err.value.path == str(tmp_path / "absent.mov")
    with pytest.raises(InputError, match="no such file or directory"):
        open_plate(tmp_path / "absent.exr")
    (tmp_path / "notes.xyz").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        open_plate(tmp_path / "notes.xyz")
    (tmp_path / "text.exr").write_text("not an image")
    with pytest.raises(InputError, match="text.exr"):
        open_plate(tmp_path / "text.exr")


# ---- video --------------------------------------------------------------------------------------------


def level(index: int) -> int:
    """The grey level encoded into video frame `index` (0-based): far enough apart to survive H.264."""
    return 16 + index * 9


def encode_video(
    path: Path,
    count: int,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    size: tuple[int, int] = (W, H),
) -> None:
    """An H.264 yuv420p file whose frame i is flat grey at level(i); `pts` sets irregular timestamps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"g": "6", "bf": "2", "crf": "10"}
        if time_base is not None:
            stream.codec_context.time_base = time_base
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), level(i), np.uint8), "rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def frame_index(img: np.ndarray) -> int:
    """Which encoded frame a decoded image is (nearest level)."""
    return round((float(img.mean()) - 16) / 9)


@pytest.fixture(scope="module")
def cfr_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "cfr.mp4"
    encode_video(path, 24)
    return path


VFR_PTS = [
    0,
    3000,
    6750,
    8250,
    14250,
    17253,
    19255,
    22255,
    26005,
    27505,
    33505,
    36508,
    38510,
    47000,
    47001,
    51000,
    90000,
    93003,
]


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "vfr.mp4"
    encode_video(path, len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 90000))
    return path


def test_cfr_video_sequential_and_random(cfr_video: Path) -> None:
    with open_plate(cfr_video) as plate:
        assert (plate.kind, plate.frames, plate.width, plate.height) == ("video", list(range(1, 25)), W, H)
        assert plate.fps == pytest.approx(24.0)
        assert plate.default_colourspace == "sRGB" and plate.frame_path(1) is None
        seen = [(info.frame, img) for info, img in plate.iter_frames()]
        assert [f for f, _ in seen] == plate.frames
        for frame, img in seen:
            assert img.dtype == np.uint8 and img.shape == (H, W, 3)
            assert abs(float(img.mean()) - level(frame - 1)) < 2.5
        order = plate.frames * 2
        random.Random(3).shuffle(order)
        for frame in order:
            assert frame_index(plate.read(frame)) == frame - 1
        assert plate.info(13).pts == pytest.approx(12 / 24)


def test_vfr_video_keeps_every_frame_and_pts(vfr_video: Path) -> None:
    reader = VideoReader(vfr_video)
    assert reader.frames == list(range(1, len(VFR_PTS) + 1))
    assert str(reader.time_base) == "1/90000"
    infos = [reader.info(f) for f in reader.frames]
    assert [i.pts_raw for i in infos] == VFR_PTS
    assert infos[-1].pts == pytest.approx(93003 / 90000) and infos[-1].time_base == "1/90000"
    got = list(reader.iter_frames(reversed(reader.frames)))
    assert [info.frame for info, _ in got] == reader.frames
    assert [frame_index(img) for _, img in got] == list(range(len(VFR_PTS)))
    for frame in [18, 1, 14, 15, 9, 9, 2, 17]:
        assert frame_index(reader.read(frame)) == frame - 1
    subset = list(reader.iter_frames([15, 3, 3, 16]))
    assert [(i.frame, frame_index(img)) for i, img in subset] == [(3, 2), (15, 14), (16, 15)]
    reader.close()


def test_video_frame_out_of_range(cfr_video: Path) -> None:
    with (
        open_plate(cfr_video) as plate,
        pytest.raises(InputError, match=r"frame 25 is not in the video \(1-24\)"),
    ):
        plate.read(25)


def test_corrupt_videos_name_the_file(tmp_path: Path, cfr_video: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(20000))
    with pytest.raises(InputError) as err:
        open_plate(garbage)
    assert str(err.value).startswith(f"{garbage}: ")
    truncated = tmp_path / "truncated.mp4"
    data = cfr_video.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        open_plate(truncated)
    assert str(truncated) in str(err.value)
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.mov"):
        open_plate(empty)


def test_faststart_mp4_truncated_keeps_only_intact_frames(tmp_path: Path) -> None:
    """moov first, mdat cut at 60%: the intact frames come back, the right ones; the cut packet is dropped."""
    path = tmp_path / "fast.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"g": "6", "crf": "10"}
        for i in range(24):
            img = np.full((240, 320, 3), level(i), np.uint8)
            img[:120, :160] = rng.integers(0, 255, (120, 160, 3))  # noise makes packets big enough to cut
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with open_plate(path) as plate:
        assert 5 < len(plate.frames) < 24
        for info, img in plate.iter_frames():
            assert frame_index(img[120:]) == info.frame - 1
        with pytest.raises(InputError, match=r"frame 24 is not in the video") as err:
            plate.read(24)
        assert str(path) in str(err.value)


# ---- orientation (display matrix) ----------------------------------------------------------------------


def blocks(index: int) -> np.ndarray:
    """A (H, W, 3) picture of 8-pixel random blocks, different for every frame index and asymmetric."""
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)


def encode_oriented(
    path: Path,
    stored: list[np.ndarray],
    degrees: float | None = None,
    hflip: bool = False,
    vflip: bool = False,
    tags: dict[str, str] | None = None,
) -> Path:
    """A lossless (PNG-in-MOV, FFV1-in-MKV) clip of `stored` frames with PyAV's display matrix or tags."""
    codec = "ffv1" if path.suffix == ".mkv" else "png"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.height, stream.width = stored[0].shape[:2]
        stream.pix_fmt = "bgr0" if codec == "ffv1" else "rgb24"
        if degrees is not None:
            stream.set_display_rotation(degrees, hflip, vflip)
        stream.metadata.update(tags or {})
        for i, img in enumerate(stored):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), "rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("ccw", [90, 180, 270])
def test_quarter_turns_come_out_as_opencv_shows_them(tmp_path: Path, ccw: int) -> None:
    """OpenCV's FFmpeg backend rotates by the display matrix as players do: an independent reference."""
    import cv2

    stored = [blocks(i) for i in range(4)]
    path = encode_oriented(tmp_path / f"turn{ccw}.mov", stored, degrees=ccw)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    shown = []
    while (grabbed := capture.read())[0]:
        shown.append(grabbed[1][..., ::-1])
    capture.release()
    assert len(shown) == 4
    with open_plate(path) as plate:
        assert (plate.rotation, plate.mirrored) == ((360 - ccw) % 360, False)
        assert (plate.width, plate.height) == ((H, W) if ccw != 180 else (W, H))
        for frame in [3, 1, 4, 2, 2]:  # out of order: seeks keep the turn
            np.testing.assert_array_equal(plate.read(frame), shown[frame - 1])
        for info, img in plate.iter_frames():
            assert img.flags.c_contiguous
            np.testing.assert_array_equal(img, shown[info.frame - 1])


@pytest.mark.parametrize("ccw", [0, 90])
@pytest.mark.parametrize(("hflip", "vflip"), [(True, False), (False, True), (True, True)])
def test_mirrored_display_matrices(tmp_path: Path, ccw: int, hflip: bool, vflip: bool) -> None:
    """Mirrors are applied from the matrix itself (frame.rotation alone reads an hflip as a half turn)."""
    picture = blocks(7)
    upright = np.rot90(picture, ccw // 90)
    upright = upright[:, ::-1] if hflip else upright
    upright = upright[::-1] if vflip else upright
    path = encode_oriented(tmp_path / "mirror.mov", [picture], degrees=ccw, hflip=hflip, vflip=vflip)
    with open_plate(path) as plate:
        np.testing.assert_array_equal(plate.read(1), upright)
        assert (plate.height, plate.width) == upright.shape[:2]
        assert plate.mirrored == (hflip != vflip)


def test_plain_clip_and_images_are_not_turned(tmp_path: Path, cfr_video: Path) -> None:
    with open_plate(cfr_video) as plate:
        assert (plate.rotation, plate.mirrored, plate.width, plate.height) == (0, False, W, H)
    write_image(tmp_path / "still.png", blocks(1))
    with open_plate(tmp_path / "still.png") as plate:
        assert (plate.rotation, plate.mirrored) == (0, False)


def test_old_rotate_tag_is_honoured(tmp_path: Path) -> None:
    """A `rotate` tag (as FFmpeg before 5 copied into remuxed files; Matroska upper-cases it) turns frames
    clockwise when the stream has no display matrix."""
    picture = blocks(2)
    path = encode_oriented(tmp_path / "tagged.mkv", [picture], tags={"rotate": "90"})
    with open_plate(path) as plate:
        assert plate.rotation == 90 and (plate.width, plate.height) == (H, W)
        np.testing.assert_array_equal(plate.read(1), np.rot90(picture, -1))
    odd = encode_oriented(tmp_path / "odd.mkv", [picture], tags={"rotate": "30"})
    with pytest.raises(InputError, match="rotate tag turns the picture 30 degrees") as err:
        open_plate(odd)
    assert str(err.value).startswith(f"{odd}: ")


def test_non_quarter_turns_and_skews_are_refused(tmp_path: Path) -> None:
    """Any other angle would need resampling onto a new canvas: refused at open with one clear line."""
    tilted = encode_oriented(tmp_path / "tilted.mov", [blocks(3)], degrees=-45)
    with pytest.raises(InputError, match="turns the picture 45 degrees clockwise") as err:
        open_plate(tilted)
    message = str(err.value)
    assert message.startswith(f"{tilted}: ") and "\n" not in message and "export the clip upright" in message


def test_orientation_from_matrix_ignores_scale_and_refuses_skew() -> None:
    from facegraft.io.video import orientation_from_matrix

    one, w = 65536, 1 << 30
    assert orientation_from_matrix([0, 2 * one, 0, -2 * one, 0, 0, 0, 0, w], "x.mp4").rotation == 90
    assert orientation_from_matrix([one, 0, 0, 0, one, 0, 0, 0, w], "x.mp4").rotation == 0
    with pytest.raises(InputError, match="x.mp4: .*skews"):
        orientation_from_matrix([one, one // 2, 0, 0, one, 0, 0, 0, w], "x.mp4")
    with pytest.raises(InputError, match="unreadable display matrix"):
        orientation_from_matrix([one, 0, 0], "x.mp4")


# ---- streams without a clean timeline (MPEG-PS/TS, raw elementary streams) ------------------------------


def drifting(index: int, count: int, size: tuple[int, int]) -> np.ndarray:
    """A random block texture panned 2 px a frame: close enough from frame to frame for P- and B-frames."""
    w, h = size
    rng = np.random.default_rng(5)
    texture = rng.integers(0, 256, (h // 8, (w + 2 * count) // 8 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(texture.repeat(8, 0).repeat(8, 1)[:, 2 * index : 2 * index + w])


def write_clip(
    path: Path, fmt: str, codec: str, count: int, size: tuple[int, int], b_frames: int, skip_gops: int
) -> None:
    """`count` drifting frames in 12-frame GOPs. The first packet's negative dts is clamped to 0, so the
    two first packets share a dts, as in the MPEG-1 program streams some muxers write (a seek to the first
    timestamp then lands a packet late); `skip_gops` leaves out the first GOPs in decode order, as a
    capture that starts mid-stream does: open-GOP B-frames that lost their reference."""
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.gop_size = 12
        if codec == "libx264":
            stream.options = {"bf": str(b_frames), "x264-params": "keyint=12:min-keyint=12:scenecut=0"}
        else:
            stream.codec_context.max_b_frames = b_frames
        packets = []
        for i in range(count):
            packets += stream.encode(av.VideoFrame.from_ndarray(drifting(i, count, size), "rgb24"))
        packets += stream.encode()
        keys = [i for i, p in enumerate(packets) if p.is_keyframe]
        for packet in packets[keys[skip_gops] :]:
            if packet.dts is not None and packet.dts < 0:
                packet.dts = 0
            container.mux(packet)


TIMELINE_STREAMS = {
    # MPEG-1 program stream: 90 kHz pts from 0.5 s, reordered B-frames, packets without a PES pts; a seek
    # to the first frame's dts lands on the second packet (the grid_*.mpg clips did the same).
    "mpeg1-ps": ("clip.mpg", "mpeg", "mpeg1video", (176, 144), 2, 0),
    # Small frames, several to a PES packet: after a seek FFmpeg gives their packets the wrong timestamps.
    "mpeg1-ps-small": ("clip.mpg", "mpeg", "mpeg1video", (96, 64), 0, 0),
    # MPEG-2 transport stream cut mid-stream: its first B-frames never decode.
    "mpeg2-ts-cut": ("clip.ts", "mpegts", "mpeg2video", (96, 64), 2, 1),
    # Raw H.264: no pts or dts on any packet.
    "h264-raw": ("clip.h264", "h264", "libx264", (96, 64), 2, 0),
}


@pytest.mark.parametrize("kind", list(TIMELINE_STREAMS))
def test_streams_without_a_clean_timeline_read_as_decoded(tmp_path: Path, kind: str) -> None:
    """Frames are the ones PyAV decodes from the start, in order, with increasing pts; any frame read on its
    own after a seek has the pixels of the sequential decode."""
    name, fmt, codec, size, b_frames, skip_gops = TIMELINE_STREAMS[kind]
    count = 48
    path = tmp_path / name
    write_clip(path, fmt, codec, count, size, b_frames, skip_gops)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.dts) for p in container.demux(stream) if p.size]
    with av.open(str(path)) as container:
        decoded = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    if fmt == "mpeg":
        assert packets[0][1] == packets[1][1] and packets[0][0] > 0  # shared first dts, pts not from 0
        assert len(decoded) == count
    if b_frames and fmt != "h264":
        assert any(b[0] < a[0] for a, b in zip(packets, packets[1:]))  # reordered in decode order
    if skip_gops:
        assert len(decoded) < len(packets) < count  # the leading B-frames of the first GOP never decode
    if fmt == "h264":
        assert all(p == (None, None) for p in packets) and len(decoded) == count

    reader = VideoReader(path)
    n = len(decoded)
    assert reader.frames == list(range(1, n + 1))
    pts = [reader.info(f).pts_raw for f in reader.frames]
    assert all(a < b for a, b in zip(pts, pts[1:])), pts
    if fmt != "h264":
        assert pts == [p for p, _ in decoded]
    for info, img in reader.iter_frames(reader.frames):
        np.testing.assert_array_equal(img, decoded[info.frame - 1][1], err_msg=f"frame {info.frame}")
    order = reader.frames[:]
    random.Random(7).shuffle(order)
    for frame in order[:20]:
        np.testing.assert_array_equal(reader.read(frame), decoded[frame - 1][1], err_msg=f"frame {frame}")
    reader.close()
    for frame in range(1, n + 1, 3):  # alone in a fresh reader: one seek (or rewind) and a decode
        with VideoReader(path) as fresh:
            np.testing.assert_array_equal(fresh.read(frame), decoded[frame - 1][1], err_msg=f"frame {frame}")


@pytest.mark.parametrize(
    ("ext", "fmt", "codec"), [("wmv", "asf", "wmv2"), ("flv", "flv", "flv1"), ("mts", "mpegts", "mpeg2video")]
)
def test_a_container_is_probed_not_judged_by_its_extension(
    tmp_path: Path, ext: str, fmt: str, codec: str
) -> None:
    """WMV, FLV and AVCHD-style MTS plates open as video because FFmpeg reads them, whatever their name;
    the same bytes under a made-up extension open too."""
    import av

    path = tmp_path / f"plate.{ext}"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    for name in (f"plate.{ext}", "plate.camera"):
        if not (tmp_path / name).exists():
            path = path.rename(tmp_path / name)
        with open_plate(tmp_path / name) as plate:
            assert (
                plate.kind == "video" and len(plate.frames) == 8 and (plate.width, plate.height) == (64, 48)
            )
            _, pixels = next(iter(plate.iter_frames(plate.frames[-1:])))
            assert abs(float(pixels.mean()) - 210) < 12
