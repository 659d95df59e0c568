"""Plates: one interface over video files, image sequences and single images, addressed by frame number."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from facegraft.errors import InputError, MissingFramesError
from facegraft.io.frameinfo import FrameInfo
from facegraft.io.framespec import format_frame_spec
from facegraft.io.images import Window, image_spec, read_image
from facegraft.io.sequence import IMAGE_EXTENSIONS, frame_of_name, parse_sequence
from facegraft.io.video import VideoReader

__all__ = ["FrameInfo", "Plate", "ImagePlate", "VideoPlate", "open_plate", "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = frozenset(
    {"mp4", "mov", "mkv", "avi", "mxf", "webm", "m4v", "mpg", "mpeg", "ts", "y4m", "gif"}
)
# Formats whose pixel values are scene-linear by convention (float EXR/HDR), whatever their bit depth.
_LINEAR_EXTENSIONS = frozenset({"exr", "hdr"})


class Plate(ABC):
    """A plate: frames addressed by number, read as (H, W, 3) arrays in the file's native pixel type.

    Frames, `width` and `height` are upright: `rotation` (degrees clockwise) and then a left-right mirror
    when `mirrored` are what was applied to the stored pixels (a phone video's display matrix).
    """

    path: str
    kind: str
    frames: list[int]
    width: int
    height: int
    fps: float | None
    default_colourspace: str
    rotation: int = 0
    mirrored: bool = False
    # Image plates: the rectangle the frames are read as (`width` x `height`) and the display window, in
    # display coordinates (EXR's windows; both 0, 0, width, height for other formats). None for video.
    data_window: Window | None = None
    display_window: Window | None = None
    pixel_aspect: float = 1.0  # width / height of one pixel (anamorphic plates: 2.0)

    def timecode(self, frame: int) -> tuple[int, int] | None:
        """A frame's SMPTE timecode as its file stores it, or None."""
        return None

    _known: set[int]

    @abstractmethod
    def info(self, frame: int) -> FrameInfo:
        """Frame number and, for video, its presentation time."""

    @abstractmethod
    def read(self, frame: int) -> np.ndarray:
        """One frame, (H, W, 3) in the plate's native dtype (uint8 for video)."""

    def iter_frames(self, frames: Sequence[int] | None = None) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        """The given frames (None: all) in ascending order, each once."""
        ordered = self.frames if frames is None else sorted(set(int(f) for f in frames))
        for frame in ordered:
            self._check(frame)
        for frame in ordered:
            yield self.info(frame), self.read(frame)

    def frame_path(self, frame: int) -> str | None:
        """The file holding one frame of an image plate; None for video."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook: image plates hold no open files
        """Release open files."""

    def _check(self, frame: int) -> None:
        """InputError when the plate has no such frame."""
        if frame not in self._known:
            raise MissingFramesError(
                f"frame {frame} is not in the plate ({format_frame_spec(self.frames)})", self.path
            )

    def __enter__(self) -> Plate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        span = format_frame_spec(self.frames)
        return f"{type(self).__name__}({self.path!r}, {self.kind}, frames {span}, {self.width}x{self.height})"


class ImagePlate(Plate):
    """An image sequence (kind "sequence") or a single image (kind "image"): one file per frame number."""

    def __init__(self, path: str, kind: str, files: dict[int, Path]) -> None:
        self.path, self.kind = path, kind
        self._files = dict(sorted(files.items()))
        self.frames = list(self._files)
        self._known = set(self.frames)
        first = self._files[self.frames[0]]
        spec = image_spec(first)
        # Frames are read onto one canvas: the display window grown to hold the first frame's data window
        # (overscan kept, negative origins allowed); passes are written back with the same windows.
        self.display_window = spec.display
        self.data_window = spec.display.union(spec.data)
        self.width, self.height = self.data_window.width, self.data_window.height
        fps = spec.attributes.get("fps")
        self.fps = float(fps) if isinstance(fps, (int, float)) else None
        aspect = spec.attributes.get("PixelAspectRatio")
        self.pixel_aspect = float(aspect) if isinstance(aspect, (int, float)) and aspect > 0 else 1.0
        linear = first.suffix.lower().lstrip(".") in _LINEAR_EXTENSIONS or spec.dtype.kind == "f"
        self.default_colourspace = "scene-linear" if linear else "sRGB"

    def info(self, frame: int) -> FrameInfo:
        """Frame number only: image files carry no presentation time."""
        self._check(frame)
        return FrameInfo(int(frame))

    def frame_path(self, frame: int) -> str | None:
        """The file of one frame."""
        self._check(frame)
        return str(self._files[frame])

    def timecode(self, frame: int) -> tuple[int, int] | None:
        """The SMPTE timecode a frame's file carries (EXR ``timeCode``: packed time and user bits)."""
        self._check(frame)
        value = image_spec(self._files[frame]).attributes.get("smpte:TimeCode")
        return tuple(int(v) for v in value) if isinstance(value, tuple) and len(value) == 2 else None

    def read(self, frame: int) -> np.ndarray:
        """One frame, (H, W, 3) native dtype; a missing, truncated or resized file raises InputError."""
        self._check(frame)
        path = self._files[frame]
        return read_image(path, canvas=self.data_window, display=self.display_window)


class VideoPlate(Plate):
    """A video file: frames 1.. in presentation order, (H, W, 3) uint8 sRGB-encoded, turned upright."""

    def __init__(self, path: str) -> None:
        self.path, self.kind = path, "video"
        self._reader = VideoReader(path)
        self.frames = self._reader.frames
        self._known = set(self.frames)
        self.width, self.height, self.fps = self._reader.width, self._reader.height, self._reader.fps
        self.rotation, self.mirrored = self._reader.orientation.rotation, self._reader.orientation.mirrored
        self.default_colourspace = "sRGB"

    def info(self, frame: int) -> FrameInfo:
        """Frame number with its presentation time."""
        return self._reader.info(frame)

    def read(self, frame: int) -> np.ndarray:
        """One frame, (H, W, 3) uint8 RGB."""
        return self._reader.read(frame)

    def iter_frames(self, frames: Sequence[int] | None = None) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        """The given frames (None: all) in ascending order, decoded forward in one pass."""
        return self._reader.iter_frames(self.frames if frames is None else frames)

    def close(self) -> None:
        """Close the container."""
        self._reader.close()


def _extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _probe_video(path: Path) -> VideoPlate:
    """A file whose name is neither a known image nor a known video type (WMV, MTS, VOB, FLV, ...): opened
    as a video when FFmpeg reads one in it, since plates come in whatever container FFmpeg reads."""
    try:
        return VideoPlate(str(path))
    except InputError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise InputError(
            f"unknown file type '.{_extension(path)}': not an image type, and FFmpeg finds no video in it "
            f"({reason})",
            str(path),
        ) from None


def open_plate(path: str | Path) -> Plate:
    """Open a video, an image sequence (pattern or directory) or a single image; cheap, nothing decoded."""
    path = Path(path)
    ext = _extension(path)
    if ext in VIDEO_EXTENSIONS and not path.is_dir():
        if not path.exists():
            raise InputError("no such file or directory", str(path))
        return VideoPlate(str(path))
    if path.is_file():
        if ext not in IMAGE_EXTENSIONS:
            return _probe_video(path)
        frame = frame_of_name(path.name, separated=True)
        frame = 1 if frame is None else frame
        return ImagePlate(str(path), "image", {frame: path})
    sequence = parse_sequence(path)
    if sequence is None:  # cannot happen: parse_sequence returns None only for an existing file
        raise InputError("no such file or directory", str(path))
    if sequence.suffix.rsplit(".", 1)[-1].lower() not in IMAGE_EXTENSIONS:
        raise InputError(f"unknown file type '{sequence.suffix}' for an image sequence", str(path))
    files = {frame: sequence.path(frame) for frame in sequence.frames}
    return ImagePlate(str(path), "sequence", files)
