"""Video plates through PyAV: a demux-only presentation-order frame index and frame-accurate reads.

Frames come back upright, as players show them: the stream's display matrix (how phones mark a portrait
clip stored sideways) is read once when the file is opened and applied to every decoded frame.
"""

from __future__ import annotations

import bisect
import math
import zlib
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
# Bytes from each end of a keyframe that, with its size, recognise it again after a seek.
_SIGNATURE_BYTES = 64


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


@dataclass(frozen=True, slots=True)
class _Packet:
    """One packet of the index, in decode order: its size and the timestamps of the first, full pass."""

    size: int
    pts: int | None
    dts: int | None


class _Resync(Exception):
    """The demuxer, after a seek, came back later than the start point asked for, or out of step with the
    index: the caller seeks further back (or rewinds) and tries again."""


class VideoReader:
    """Frames of the first video stream, numbered 1.. in presentation order (as Nuke numbers a movie).

    Pixels come back as (H, W, 3) uint8 RGB, upright (`orientation` applied; `width`/`height` are the
    upright size, `stored_size` the coded one); 10/12/16-bit sources are reduced to 8 bits for now.

    The frame index is built by demuxing the whole stream once from the start, without decoding. Random
    access seeks to a keyframe, but never trusts the timestamps the demuxer gives after a seek: MPEG program
    and transport streams (and some AVI) have no index, so FFmpeg seeks by searching the file for a
    timestamp, can land a packet or a GOP off, and interpolates the timestamps of packets that carry none
    (most of them in MPEG-PS) from wherever it landed. So each packet after a seek is identified against the
    index (the keyframe it starts from by size and content, every later one by its place and size) and is
    given the timestamps of the first pass before it is decoded; a seek that lands past its keyframe goes
    further back, and the stream start is reached by reopening the file when a seek cannot find it. A stream
    whose packets lack presentation timestamps is numbered in decode-output order and read forward.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._container = self._open()
        try:
            if not self._container.streams.video:
                raise InputError("no video stream in this file", self.path)
            self._stream_index = self._container.streams.video[0].index
            self._stream = self._select_stream()
            self._build_index()
            self._decoder: Iterator[av.VideoFrame] | None = None
            self._position: int | None = None  # presentation index of the last frame the decoder produced
            self._seek_rewinds = True  # False once a seek to the first packet has missed it
            self._seek_early = 0  # 1 once a seek has landed past its keyframe: seek a tick earlier
            self._rewinding = False  # True while decoding from a seek to the first packet
            self._last: tuple[int, np.ndarray] | None = None
            first = self._first_frame()
            self.orientation = probe_orientation(first, self._stream, self.path)
            pixels = self.orientation.apply(first.to_ndarray(format="rgb24"))
            self._last = (0, pixels)
        except BaseException:
            self._container.close()
            raise
        self.stored_size = (first.width, first.height)
        self.height, self.width = pixels.shape[:2]

    def _open(self) -> av.container.InputContainer:
        try:
            return av.open(self.path)
        except _AV_ERRORS as exc:
            raise InputError(f"cannot open video ({_reason(exc)})", self.path) from exc

    def _select_stream(self) -> VideoStream:
        stream = self._container.streams[self._stream_index]
        stream.thread_type = "AUTO"
        return stream

    def _build_index(self) -> None:
        """Demux every packet (no decoding): the decode-order packet list, the keyframes a decode can start
        from (with a signature to recognise each after a seek) and the presentation-order frame index."""
        packets: list[_Packet] = []
        shown: list[int | None] = []  # pts of every packet that is displayed (not a discarded pre-roll)
        starts: list[int] = []  # decode indices of the keyframes
        signatures: dict[tuple[int, int], list[int]] = {}
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 or packet.is_corrupt:
                    continue  # the end-of-stream flush, or a truncated packet that is never decoded
                d = len(packets)
                packets.append(_Packet(packet.size, packet.pts, packet.dts))
                if not packet.is_discard:
                    shown.append(packet.pts)
                if packet.is_keyframe or d == 0:
                    starts.append(d)
                    signatures.setdefault(_signature(packet), []).append(d)
        except _AV_ERRORS as exc:
            raise InputError(f"cannot read video ({_reason(exc)})", self.path) from exc
        if not shown:
            raise InputError("no video frames in this file", self.path)
        self._packets = packets
        self._signatures = signatures
        self.time_base: Fraction = self._stream.time_base or Fraction(1, 1)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps: float | None = float(rate) if rate else None
        # Without a distinct pts on every shown packet the presentation order cannot be known before
        # decoding (a raw elementary stream, a dts-only stream with reordered frames, a pts repeated by
        # FFmpeg's interpolation in MPEG-PS): frames are numbered as the decoder puts them out, timed at
        # the frame rate from the first pts, and read forward from the start.
        stamped = [pts for pts in shown if pts is not None]
        self._ordinal = len(set(stamped)) < len(shown)
        self._starts: list[tuple[int, int]] = []  # (pts, decode index) of the keyframes, by pts
        if self._ordinal:
            step = max(1, round(1 / (rate * self.time_base))) if rate else 1
            first = min(stamped, default=0)
            self._pts = [first + i * step for i in range(len(shown))]
        else:
            self._pts = sorted(stamped)
            self._starts = sorted((pts, d) for d in starts if (pts := packets[d].pts) is not None)
        self._set_frames()

    def _set_frames(self) -> None:
        self._index = {pts: i for i, pts in enumerate(self._pts)}
        self._start_pts = [pts for pts, _ in self._starts]
        self.frames = list(range(1, len(self._pts) + 1))

    def _first_frame(self) -> av.VideoFrame:
        """Decode from the stream start to its first frame. Frames indexed before it never decode (the
        leading B-frames of an open GOP when a capture starts mid-stream): they are not in the plate."""
        self._rewind()
        while True:
            try:
                decoded = self._next_frame(1)
                break
            except _Resync:
                self._resync(0, 0)
        first = None if self._ordinal or decoded.pts is None else self._index.get(decoded.pts)
        if first:
            self._pts = self._pts[first:]
            self._set_frames()
        self._position = 0
        return decoded

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

    def _rewind(self) -> None:
        """Position the decoder at the first packet of the stream: a seek to its timestamp where that
        lands there, else the file is opened again (MPEG-PS, where a seek to the first timestamp can land
        a packet late, and streams with no timestamps at all)."""
        ts = self._seek_ts(0)
        if ts is not None and self._seek_rewinds:
            try:
                self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
            except _AV_ERRORS:
                self._seek_rewinds = False
            else:
                self._start_decoder(self._aligned_packets(0))
                self._position, self._rewinding = -1, True
                return
        self._container.close()
        self._container = self._open()
        self._stream = self._select_stream()
        self._start_decoder(self._aligned_packets(0, opened=True))
        self._position = -1

    def _start_decoder(self, packets: Iterator[av.Packet | None]) -> None:
        self._decoder = self._decode_packets(packets)
        self._position, self._last, self._rewinding = None, None, False

    def _seek_ts(self, d: int) -> int | None:
        """The timestamp to seek to for a decode starting at packet `d` (None where there is none). Once a
        seek has landed past its keyframe, a tick earlier: MPEG-PS then lands on the packet before, whose
        remains are dropped, instead of inside the keyframe's PES packet, from where the keyframe comes
        out merged with the end of the frame before it (a packet the index has never seen)."""
        if self._ordinal:
            return None
        packet = self._packets[d]
        ts = packet.dts if packet.dts is not None else packet.pts
        return None if ts is None else ts - self._seek_early

    def _seek(self, want: int, back: int) -> None:
        """Start decoding from the keyframe `back` keyframes before the last one at or before frame index
        `want` (presentation order), or from the stream start when there is none."""
        i = bisect.bisect_right(self._start_pts, self._pts[want]) - 1 - back
        ts = None if i < 0 else self._seek_ts(self._starts[i][1])
        if ts is None:
            self._rewind()
            return
        try:
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
        except _AV_ERRORS:
            self._rewind()  # a stream FFmpeg cannot seek in is read forward from the start
            return
        self._start_decoder(self._aligned_packets(self._starts[i][1]))

    def _resync(self, want: int, back: int) -> int:
        """Start again after _Resync: the same start point from a tick earlier, then ever further back; a
        rewind that still misses the start reopens the file (and does from then on). Returns the new
        `back`."""
        rewinding = self._rewinding
        if not self._seek_early:
            self._seek_early = 1
        elif rewinding:
            self._seek_rewinds = False
        else:
            back = 2 * back or 1
        if rewinding:
            self._rewind()
        else:
            self._seek(want, back)
        return back

    def _aligned_packets(self, start: int, opened: bool = False) -> Iterator[av.Packet | None]:
        """Packets from the demuxer's position, from decode index `start` on, stamped with the timestamps
        of the index; None stands for the end-of-stream flush. Packets before the start point are dropped
        unfed. `opened`: the container was just opened, so the first packet is the stream's first.
        _Resync when the demuxer is past `start` or out of step with the index."""
        at = start if opened else None  # decode index of the next packet, once found
        for packet in self._container.demux(self._stream):
            if packet.size == 0:
                if at is None:
                    raise _Resync  # the seek went past the keyframe, to the end of the stream
                yield None
                continue
            if packet.is_corrupt:
                continue
            if at is None:
                found = self._locate(packet, start)
                if found is None or found < start:
                    continue  # before the keyframe looked for (or in the middle of a packet): not fed
                if found > start:
                    raise _Resync
                at = found
            if at >= len(self._packets) or packet.size != self._packets[at].size:
                if opened:
                    raise InputError("the video demuxes differently on a second pass", self.path)
                raise _Resync
            entry = self._packets[at]
            packet.pts, packet.dts = entry.pts, entry.dts
            at += 1
            yield packet

    def _locate(self, packet: av.Packet, start: int) -> int | None:
        """The decode index of a packet that is one of the indexed keyframes (by size and content; the
        candidate nearest the demuxer's own timestamp, or `start` itself, when several look alike)."""
        candidates = self._signatures.get(_signature(packet))
        if not candidates:
            return None
        if start in candidates:
            return start
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None or len(candidates) == 1:
            return candidates[0]

        def distance(d: int) -> int:
            entry = self._packets[d]
            other = entry.dts if entry.dts is not None else entry.pts
            return abs(other - ts) if other is not None else 1 << 62

        return min(candidates, key=distance)

    def _decode_packets(self, packets: Iterator[av.Packet | None]) -> Iterator[av.VideoFrame]:
        """Frames decoded from the given packets, then the decoder's flush."""
        for packet in packets:
            if packet is None:
                yield from self._stream.decode(None)
            else:
                yield from packet.decode()

    def _can_continue(self, want: int) -> bool:
        """Whether decoding forward from the current position reaches frame index `want` sooner than a
        seek."""
        if self._decoder is None or self._position is None or self._position >= want:
            return False
        if self._ordinal or self._position < 0:
            return True  # at the start already, or seeking would mean reading from the start again
        i = bisect.bisect_right(self._start_pts, self._pts[want]) - 1
        same_gop = i >= 0 and self._start_pts[i] <= self._pts[self._position]
        return same_gop or want - self._position <= _FORWARD_LIMIT

    def _next_frame(self, frame: int) -> av.VideoFrame:
        """The next decoded frame, or InputError naming the frame being looked for; _Resync passes."""
        assert self._decoder is not None
        try:
            return next(self._decoder)
        except StopIteration:
            raise InputError(f"frame {frame} could not be decoded (stream ended)", self.path) from None
        except _AV_ERRORS as exc:
            raise InputError(f"frame {frame} could not be decoded ({_reason(exc)})", self.path) from exc

    def _place(self, decoded: av.VideoFrame) -> int | None:
        """The presentation index of a decoded frame (by its pts, which the index stamped on its packet, or
        else by counting); None for one that is not in the plate or cannot be placed."""
        if self._ordinal or decoded.pts is None:
            return None if self._position is None else self._position + 1
        return self._index.get(decoded.pts)

    def read(self, frame: int) -> np.ndarray:
        """One frame as upright (H, W, 3) uint8 RGB."""
        self._pts_of(frame)
        want = int(frame) - 1
        if self._last is not None and self._last[0] == want:
            return self._last[1].copy()
        pixels = self.orientation.apply(self._decode(int(frame), want).to_ndarray(format="rgb24"))
        self._last = (want, pixels)
        return pixels.copy()

    def _decode(self, frame: int, want: int) -> av.VideoFrame:
        """The decoded frame of presentation index `want`, as stored: from the keyframe at or before it
        (further back while a seek lands past that keyframe), decoding forward."""
        back = 0
        if not self._can_continue(want):
            self._seek(want, back)
        while True:
            try:
                decoded = self._next_frame(frame)
            except _Resync:
                back = self._resync(want, back)
                continue
            pos = self._place(decoded)
            if pos is None:
                continue  # a leading frame that never decodes from the start, or a pre-roll
            self._position = pos
            if pos == want:
                return decoded
            if pos > want:
                raise InputError(
                    f"frame {frame} (pts {self._pts[want]}) is missing from the decoded stream", self.path
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


def _signature(packet: av.Packet) -> tuple[int, int]:
    """Size and a checksum of the first and last bytes: tells an indexed keyframe from a packet the demuxer
    cut differently after a seek (a partial frame), without reading the whole packet."""
    view = memoryview(packet)
    return packet.size, zlib.crc32(view[-_SIGNATURE_BYTES:], zlib.crc32(view[:_SIGNATURE_BYTES]))


def _reason(exc: BaseException) -> str:
    """A one-line reason from a PyAV error (without the repeated file name)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip()
