"""The comp as a video (H.264 in MP4 or MOV) through PyAV, with the source plate's audio copied across.

Frames arrive as (H, W, 3) uint8 in the working encoding (sRGB). The file is written under a temporary
name and renamed when complete. Metadata carries the same `facegraft/...` keys as the EXR headers.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from facegraft.errors import InputError
from facegraft.io.atomic import move, temporary_name


def _rate(fps: float | None) -> Fraction:
    if not fps or fps <= 0:
        return Fraction(24, 1)
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """Writes comp frames in order; `close()` adds the audio of `audio_from` (a video plate) and renames."""

    def __init__(
        self,
        path: str | Path,
        fps: float | None,
        metadata: dict[str, str],
        audio_from: str | Path | None = None,
        start_time: float = 0.0,
        crf: int = 16,
    ) -> None:
        self.path = Path(path)
        self.temp = temporary_name(self.path, keep_extension=True)  # PyAV picks the container by the name
        self.rate = _rate(fps)
        self.audio_from, self.start_time, self.crf = audio_from, start_time, crf
        self.frames = 0
        self._container = av.open(str(self.temp), "w", options={"movflags": "+use_metadata_tags"})
        for key, value in metadata.items():
            self._container.metadata[key] = str(value)
        self._stream = None
        self._audio = self._open_audio()

    def _open_audio(self):
        """(input container, input stream, output stream) for the plate's first audio stream, or None."""
        if self.audio_from is None:
            return None
        try:
            src = av.open(str(self.audio_from))
        except (av.FFmpegError, OSError):
            return None
        if not src.streams.audio:
            src.close()
            return None
        stream = src.streams.audio[0]
        try:
            out = self._container.add_stream_from_template(stream)
            copy = True
        except (ValueError, av.FFmpegError):
            out = self._container.add_stream("aac", rate=stream.rate or 48000)
            copy = False
        return src, stream, out, copy

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame."""
        h, w = rgb.shape[:2]
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.rate)
            self._stream.width, self._stream.height = w + (w % 2), h + (h % 2)
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf), "preset": "medium"}
        if w % 2 or h % 2:  # 4:2:0 needs even sizes: repeat the last row/column
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def _copy_audio(self) -> None:
        src, stream, out, copy = self._audio
        end = self.start_time + self.frames / float(self.rate)
        try:
            if copy:
                for packet in src.demux(stream):
                    if packet.pts is None or packet.dts is None:
                        continue
                    t = float(packet.pts * stream.time_base)
                    if t < self.start_time or t >= end:
                        continue
                    shift = int(round(self.start_time / stream.time_base))
                    packet.pts -= shift
                    packet.dts -= shift
                    packet.stream = out
                    self._container.mux(packet)
            else:
                for frame in src.decode(stream):
                    if frame.time is None or not self.start_time <= frame.time < end:
                        continue
                    frame.pts = None
                    for packet in out.encode(frame):
                        self._container.mux(packet)
                for packet in out.encode():
                    self._container.mux(packet)
        finally:
            src.close()

    def close(self) -> Path:
        """Finish the video and move it into place."""
        if self._stream is None:
            self.abort()
            raise InputError("no frames to write", self.path)
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            if self._audio is not None:
                self._copy_audio()
            self._container.close()
            move(self.temp, self.path, "the video")
        finally:
            if self.temp.exists():
                self.temp.unlink()
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001, S110 - the file is removed anyway
            pass
        if self._audio is not None:
            self._audio[0].close()
        self.temp.unlink(missing_ok=True)
