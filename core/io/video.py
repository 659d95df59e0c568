"""Video plates through PyAV: a demux-only presentation-order frame index and frame-accurate reads."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from facegraft.errors import InputError
from facegraft.io.frameinfo import FrameInfo
from facegraft.io.framespec import format_frame_spec

# Reading this many frames forward is cheaper than a seek even across a keyframe.
_FORWARD_LIMIT = 16
# Errors PyAV raises for files it cannot demux or decode (av.FFmpegError covers av.error.*).
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)


class VideoReader:
    """Frames of the first video stream, numbered 1.. in presentation order (as Nuke numbers a movie).

    Pixels come back as (H, W, 3) uint8 RGB; 10/12/16-bit sources are reduced to 8 bits for now.
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
            first = self.read(self.frames[0])
        except BaseException:
            self._container.close()
            raise
        self.height, self.width = first.shape[:2]

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
        """One frame as (H, W, 3) uint8 RGB: seek to the keyframe at or before, then decode forward."""
        target = self._pts_of(frame)
        if self._last is not None and self._last[0] == target:
            return self._last[1].copy()
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
                pixels = decoded.to_ndarray(format="rgb24")
                self._last = (target, pixels)
                return pixels.copy()
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
