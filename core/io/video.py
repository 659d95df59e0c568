"""Video plates through PyAV: a demux-only presentation-order frame index and frame-accurate reads.

Frames come back upright, as players show them: the stream's display matrix (how phones mark a portrait
clip stored sideways) is read once when the file is opened and applied to every decoded frame.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.stream import VideoStream

from facegraft.errors import InputError
from facegraft.io.frameinfo import FrameInfo
from facegraft.io.framespec import format_frame_spec

# Reading this many frames forward is cheaper than a seek even across a keyframe.
_FORWARD_LIMIT = 16
# Errors PyAV raises for files it cannot demux or decode (av.FFmpegError covers av.error.*).
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)
# A display matrix holds a, b, c, d as 16.16 fixed point (FFmpeg's AV_PKT_DATA_DISPLAYMATRIX layout).
_FIXED_ONE = 65536.0


@dataclass(frozen=True)
class Orientation:
    """How stored frames are turned to be shown upright: `rotation` degrees clockwise (a quarter-turn
    multiple), then a left-right mirror when `mirrored`."""

    rotation: int = 0
    mirrored: bool = False

    @property
    def swaps_axes(self) -> bool:
        """Whether the upright picture's width is the stored height (a 90 or 270 degree turn)."""
        return self.rotation % 180 == 90

    def matrix(self) -> np.ndarray:
        """(2, 2) integer map of stored (x, y) to upright (x, y) offsets, y pointing down the picture."""
        turn = np.array([[0, -1], [1, 0]])  # a quarter turn clockwise on screen
        m = np.linalg.matrix_power(turn, self.rotation // 90)
        return np.diag([-1, 1]) @ m if self.mirrored else m

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """The upright (H, W, C) picture of one stored frame (a contiguous copy when anything changes)."""
        if self.rotation == 0 and not self.mirrored:
            return pixels
        out = np.rot90(pixels, k=-(self.rotation // 90))  # np.rot90 turns anticlockwise for positive k
        if self.mirrored:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


_ORIENTATIONS = tuple(Orientation(r, m) for m in (False, True) for r in (0, 90, 180, 270))


def orientation_from_matrix(matrix: Sequence[int], path: str) -> Orientation:
    """The quarter turn and mirror a display matrix describes; InputError for any other angle or a skew.

    Scale is not applied (the plate keeps the stored pixel count); a turn that is not a multiple of 90
    degrees is refused rather than resampled, since the passes would no longer line up pixel for pixel
    with the footage, and ignoring it would hand the artist a tilted plate that no player shows.
    """
    if len(matrix) != 9:
        raise InputError(f"unreadable display matrix ({len(matrix)} values, expected 9)", path)
    a, b, c, d = (matrix[i] / _FIXED_ONE for i in (0, 1, 3, 4))
    # FFmpeg's convention: upright x = a*x + c*y, upright y = b*x + d*y (plus an offset), y down.
    m = np.array([[a, c], [b, d]])
    scale = math.sqrt(abs(a * d - b * c))
    if scale > 0:
        for orientation in _ORIENTATIONS:
            if np.allclose(m / scale, orientation.matrix(), atol=1e-3):
                return orientation
    angle = math.degrees(math.atan2(b, a)) if scale > 0 else float("nan")
    raise InputError(
        f"the display matrix turns the picture {angle:.4g} degrees clockwise (or skews it); only "
        "quarter turns and mirrors are supported: export the clip upright",
        path,
    )


def orientation_from_tag(metadata: Mapping[str, str], path: str) -> Orientation:
    """The quarter turn of an old-style `rotate` tag (clockwise degrees, as FFmpeg before 5 exported it
    and copied into remuxed files); identity when there is no such tag or it is not a number."""
    value = next((v for k, v in metadata.items() if k.lower() == "rotate"), None)
    try:
        degrees = float(value) if value is not None else 0.0
    except ValueError:
        return Orientation()
    if not math.isfinite(degrees) or degrees % 90:
        raise InputError(
            f"the rotate tag turns the picture {value} degrees; only quarter turns are supported: "
            "export the clip upright",
            path,
        )
    return Orientation(int(degrees) % 360)


def probe_orientation(frame: av.VideoFrame, stream: VideoStream, path: str) -> Orientation:
    """The stream's display orientation, from the display matrix FFmpeg attaches to decoded frames (the
    container's tkhd matrix for MP4/MOV) or else a `rotate` tag. Read from the raw matrix, not
    `frame.rotation`, which reports a mirror as a 180 degree turn."""
    side_data = frame.side_data
    if SideDataType.DISPLAYMATRIX in side_data:
        raw = bytes(side_data[SideDataType.DISPLAYMATRIX])
        return orientation_from_matrix(np.frombuffer(raw, np.int32).tolist(), path)
    return orientation_from_tag(stream.metadata, path)


class VideoReader:
    """Frames of the first video stream, numbered 1.. in presentation order (as Nuke numbers a movie).

    Pixels come back as (H, W, 3) uint8 RGB, upright (`orientation` applied; `width`/`height` are the
    upright size, `stored_size` the coded one); 10/12/16-bit sources are reduced to 8 bits for now.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._container = av.open(self.path)
        except _AV_ERRORS as exc:
            raise InputError(f"cannot open video ({_reason(exc)})", self.path) from exc
        try:
            if not self._container.streams.video:
                raise InputError("no video stream in this file", self.path)
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            self._build_index()
            self._decoder: Iterator[av.VideoFrame] | None = None
            self._position: int | None = None  # pts of the last frame the decoder produced
            self._fresh = False  # True until the first frame after a seek has been decoded
            self._last: tuple[int, np.ndarray] | None = None
            target = self._pts_of(self.frames[0])
            first = self._decode(self.frames[0], target)
            self.orientation = probe_orientation(first, self._stream, self.path)
            pixels = self.orientation.apply(first.to_ndarray(format="rgb24"))
            self._last = (target, pixels)
        except BaseException:
            self._container.close()
            raise
        self.stored_size = (first.width, first.height)
        self.height, self.width = pixels.shape[:2]

    def _build_index(self) -> None:
        """Demux every packet (no decoding) and sort their pts into the presentation-order frame index."""
        pts_list: list[int] = []
        keyframes: list[tuple[int, int]] = []
        earliest: int | None = None
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 or packet.is_discard or packet.is_corrupt:
                    continue
                pts = packet.pts if packet.pts is not None else packet.dts
                if pts is None:
                    raise InputError("video packets carry no timestamps", self.path)
                dts = packet.dts if packet.dts is not None else pts
                earliest = dts if earliest is None else min(earliest, dts)
                pts_list.append(pts)
                if packet.is_keyframe:
                    keyframes.append((pts, dts))
        except _AV_ERRORS as exc:
            raise InputError(f"cannot read video ({_reason(exc)})", self.path) from exc
        if not pts_list:
            raise InputError("no video frames in this file", self.path)
        self._pts = sorted(set(pts_list))
        self._index = {pts: i for i, pts in enumerate(self._pts)}
        keyframes.sort()
        self._key_pts = [pts for pts, _ in keyframes]
        self._key_dts = [dts for _, dts in keyframes]
        self._earliest_dts = earliest if earliest is not None else self._pts[0]
        self.frames = list(range(1, len(self._pts) + 1))
        self.time_base: Fraction = self._stream.time_base or Fraction(1, 1)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps: float | None = float(rate) if rate else None

    def _pts_of(self, frame: int) -> int:
        """The stored pts of a frame number, or InputError when the video has no such frame."""
        if not isinstance(frame, (int, np.integer)) or not 1 <= frame <= len(self._pts):
            raise InputError(
                f"frame {frame} is not in the video ({format_frame_spec(self.frames)})", self.path
            )
        return self._pts[int(frame) - 1]

    def info(self, frame: int) -> FrameInfo:
        """Frame number with its presentation time (seconds), raw pts and time base."""
        pts = self._pts_of(frame)
        tb = self.time_base
        return FrameInfo(int(frame), float(pts * tb), pts, f"{tb.numerator}/{tb.denominator}")

    def _seek(self, target: int, back: int = 0) -> bool:
        """Seek to the keyframe at or before `target` (`back` keyframes earlier); False once at the start."""
        i = bisect.bisect_right(self._key_pts, target) - 1 - back
        offset = self._key_dts[i] if i >= 0 else self._earliest_dts
        try:
            self._container.seek(offset, stream=self._stream, backward=True, any_frame=False)
        except _AV_ERRORS as exc:
            raise InputError(f"cannot seek in video ({_reason(exc)})", self.path) from exc
        self._decoder = self._decode_packets()
        self._position, self._fresh, self._last = None, True, None
        return i >= 0

    def _decode_packets(self) -> Iterator[av.VideoFrame]:
        """Frames decoded from the current demux position; truncated packets are never fed to the decoder."""
        for packet in self._container.demux(self._stream):
            if packet.is_corrupt and packet.size:
                continue
            yield from packet.decode()

    def _can_continue(self, target: int) -> bool:
        """Whether decoding forward from the current position reaches `target` sooner than a seek."""
        if self._decoder is None or self._position is None or self._position >= target:
            return False
        i = bisect.bisect_right(self._key_pts, target) - 1
        same_gop = i >= 0 and self._key_pts[i] <= self._position
        near = self._index[target] - self._index.get(self._position, -_FORWARD_LIMIT - 1) <= _FORWARD_LIMIT
        return same_gop or near

    def _next_frame(self, frame: int) -> av.VideoFrame:
        """The next decoded frame, or InputError naming the frame being looked for."""
        assert self._decoder is not None
        try:
            return next(self._decoder)
        except StopIteration:
            raise InputError(f"frame {frame} could not be decoded (stream ended)", self.path) from None
        except _AV_ERRORS as exc:
            raise InputError(f"frame {frame} could not be decoded ({_reason(exc)})", self.path) from exc

    def read(self, frame: int) -> np.ndarray:
        """One frame as upright (H, W, 3) uint8 RGB."""
        target = self._pts_of(frame)
        if self._last is not None and self._last[0] == target:
            return self._last[1].copy()
        pixels = self.orientation.apply(self._decode(frame, target).to_ndarray(format="rgb24"))
        self._last = (target, pixels)
        return pixels.copy()

    def _decode(self, frame: int, target: int) -> av.VideoFrame:
        """The decoded frame of pts `target`, as stored: seek to the keyframe at or before, decode forward."""
        back = 0
        at_start = False
        if not self._can_continue(target):
            at_start = not self._seek(target)
        while True:
            decoded = self._next_frame(frame)
            pts = decoded.pts
            if pts is None:
                continue
            if pts > target and self._fresh and not at_start:
                back += 1  # the keyframe found starts after the target (open GOP or dts index): go earlier
                at_start = not self._seek(target, back)
                continue
            self._fresh = False
            self._position = pts
            if pts == target:
                return decoded
            if pts > target:
                raise InputError(
                    f"frame {frame} (pts {target}) is missing from the decoded stream", self.path
                )

    def iter_frames(self, frames: Sequence[int]) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        """The given frames in ascending order, each exactly once, decoding forward in one pass."""
        ordered = sorted(set(int(f) for f in frames))
        for frame in ordered:
            self._pts_of(frame)
        for frame in ordered:
            yield self.info(frame), self.read(frame)

    def close(self) -> None:
        """Release the file and the decoder."""
        self._decoder = None
        self._last = None
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    """A one-line reason from a PyAV error (without the repeated file name)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip()
