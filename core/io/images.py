"""Image files through OpenImageIO: read channels by name in the native pixel type, write atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from facegraft.errors import InputError
from facegraft.io.atomic import replacing

# Pixel types kept as they are on read; anything else (int8, int32, double...) is read as float32.
_NATIVE = {"uint8": np.uint8, "uint16": np.uint16, "half": np.float16, "float": np.float32}
_WRITE_TYPES = {"half": "half", "float": "float", "uint8": "uint8", "uint16": "uint16"}
_DTYPE_NAMES = {
    np.dtype(np.float16): "half",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "float",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16",
}
_DEFAULT_CHANNELS = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
# Header attributes reported by image_spec (OIIO names); "fps" is added as a float when the file has one.
_INFO_ATTRIBUTES = (
    "FramesPerSecond",
    "oiio:ColorSpace",
    "compression",
    "oiio:BitsPerSample",
    "smpte:TimeCode",
    "PixelAspectRatio",
)


@dataclass(frozen=True)
class Window:
    """A pixel rectangle in an image's display coordinates: origin (x, y), size (width, height). EXR's
    data window (the pixels stored) and display window (the frame a compositor sees) are both Windows."""

    x: int
    y: int
    width: int
    height: int

    def union(self, other: Window) -> Window:
        x, y = min(self.x, other.x), min(self.y, other.y)
        right = max(self.x + self.width, other.x + other.width)
        bottom = max(self.y + self.height, other.y + other.height)
        return Window(x, y, right - x, bottom - y)


@dataclass
class ImageInfo:
    """An image header: size, channel names (in OIIO's order), native dtype and a few attributes; `data`
    and `display` are the data and display windows (the same rectangle at 0, 0 for most formats)."""

    width: int
    height: int
    channels: tuple[str, ...]
    dtype: np.dtype
    attributes: dict[str, object] = field(default_factory=dict)
    data: Window | None = None
    display: Window | None = None


def _windows(spec: oiio.ImageSpec) -> tuple[Window, Window]:
    data = Window(spec.x, spec.y, spec.width, spec.height)
    display = Window(spec.full_x, spec.full_y, spec.full_width, spec.full_height)
    return data, display if display.width > 0 and display.height > 0 else data


def _open(path: Path) -> oiio.ImageInput:
    """An open ImageInput, or InputError naming the file and OIIO's reason."""
    if not path.exists():
        raise InputError("no such file", str(path))
    if path.is_dir():
        raise InputError("is a directory, not an image file", str(path))
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(f"cannot open image ({oiio_error()})", str(path))
    return inp


def oiio_error(source: object = oiio) -> str:
    """OpenImageIO's pending error (global, or of an ImageInput/ImageOutput) as one line: its first line,
    whatever bytes a damaged file put in it."""
    try:
        text = source.geterror() or ""
    except UnicodeDecodeError as exc:  # a damaged header's bytes in the message
        text = exc.object.decode("utf-8", "replace") if isinstance(exc.object, bytes) else ""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _native_dtype(spec: oiio.ImageSpec) -> tuple[np.dtype, str]:
    """The numpy dtype and OIIO type name used to read pixels of this spec."""
    name = str(spec.format)
    if name in _NATIVE:
        return np.dtype(_NATIVE[name]), name
    return np.dtype(np.float32), "float"


def _type_max(dtype: np.dtype) -> float:
    """The value that means 1.0 (opaque) in this pixel type."""
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


def _channel_sources(names: tuple[str, ...], wanted: Sequence[str], path: Path) -> list[int | None]:
    """For each wanted channel, the index of the file channel that provides it (None: fill with opaque)."""
    grey = names.index("Y") if "Y" in names else (0 if len(names) == 1 else None)
    sources: list[int | None] = []
    missing = []
    for channel in wanted:
        if channel in names:
            sources.append(names.index(channel))
        elif channel in ("R", "G", "B") and grey is not None:
            sources.append(grey)
        elif channel == "A":
            sources.append(None)
        else:
            missing.append(channel)
    if missing:
        raise InputError(
            f"missing channels {', '.join(missing)} (the file has {', '.join(names)})", str(path)
        )
    return sources


def read_image(
    path: str | Path,
    channels: Sequence[str] = ("R", "G", "B"),
    canvas: Window | None = None,
    display: Window | None = None,
) -> np.ndarray:
    """Pixels (H, W, len(channels)) in the file's native type, channels picked by name; grey becomes RGB.

    Without `canvas` the image is its data window as stored. With it, (canvas.height, canvas.width): the
    data window placed where it lies in display coordinates, zero where the file stores no pixels (EXR's
    meaning of outside the data window), anything beyond the canvas left out. A deep image is refused, and
    so is a file whose display window is not `display` when that is given (a frame of another size)."""
    path = Path(path)
    inp = _open(path)
    try:
        spec = inp.spec()
        if spec.deep:
            raise InputError("a deep image (samples per pixel): flatten it to a plain EXR first", str(path))
        if display is not None and _windows(spec)[1] != display:
            shown = _windows(spec)[1]
            raise InputError(
                f"frame is {shown.width}x{shown.height} at {shown.x},{shown.y}, the plate is "
                f"{display.width}x{display.height} at {display.x},{display.y}",
                str(path),
            )
        names = tuple(spec.channelnames)
        sources = _channel_sources(names, channels, path)
        used = [s for s in sources if s is not None]
        lo, hi = (min(used), max(used) + 1) if used else (0, 1)
        dtype, type_name = _native_dtype(spec)
        data = inp.read_image(0, 0, lo, hi, type_name)
        if data is None or inp.has_error:
            reason = inp.geterror().strip() or "read failed"
            raise InputError(f"cannot read image ({reason})", str(path))
    finally:
        inp.close()
    data = np.asarray(data).reshape(spec.height, spec.width, hi - lo)
    out = np.empty((spec.height, spec.width, len(sources)), dtype=dtype)
    for i, source in enumerate(sources):
        out[..., i] = _type_max(dtype) if source is None else data[..., source - lo]
    where = _windows(spec)[0]
    return out if canvas is None or canvas == where else place(out, where, canvas)


def place(pixels: np.ndarray, where: Window, canvas: Window) -> np.ndarray:
    """(canvas.height, canvas.width, C) zeros with `pixels` (the rectangle `where`) copied in where the
    two overlap: a data window put into display coordinates (pure)."""
    out = np.zeros((canvas.height, canvas.width, pixels.shape[2]), pixels.dtype)
    x0, y0 = max(where.x, canvas.x), max(where.y, canvas.y)
    x1 = min(where.x + where.width, canvas.x + canvas.width)
    y1 = min(where.y + where.height, canvas.y + canvas.height)
    if x1 > x0 and y1 > y0:
        out[y0 - canvas.y : y1 - canvas.y, x0 - canvas.x : x1 - canvas.x] = pixels[
            y0 - where.y : y1 - where.y, x0 - where.x : x1 - where.x
        ]
    return out


def _attributes(spec: oiio.ImageSpec) -> dict[str, object]:
    """A small set of header attributes, plus "fps" as a float when the file states a frame rate."""
    attributes: dict[str, object] = {}
    for name in _INFO_ATTRIBUTES:
        value = spec.getattribute(name)
        if value is not None:
            attributes[name] = value
    fps = attributes.get("FramesPerSecond")
    if isinstance(fps, tuple) and len(fps) == 2 and fps[1]:
        attributes["fps"] = fps[0] / fps[1]
    elif isinstance(fps, (int, float)) and fps:
        attributes["fps"] = float(fps)
    return attributes


def image_spec(path: str | Path) -> ImageInfo:
    """The header of an image file, without reading pixels."""
    path = Path(path)
    inp = _open(path)
    try:
        spec = inp.spec()
        dtype, _ = _native_dtype(spec)
        data, display = _windows(spec)
        names = tuple(spec.channelnames)
        return ImageInfo(spec.width, spec.height, names, dtype, _attributes(spec), data, display)
    finally:
        inp.close()


Attribute = tuple[str, "oiio.TypeDesc | None", object]  # (name, type or None for a string/number, value)


def part_spec(
    width: int,
    height: int,
    channels: Sequence[str],
    dtype: str,
    attributes: Sequence[Attribute] = (),
    compression: str | None = None,
    data: Window | None = None,
    display: Window | None = None,
) -> oiio.ImageSpec:
    """The header of one image part: size, named channels, pixel type, compression and attributes; the
    data window's origin and the display window when given (an EXR pass lined up with its plate)."""
    spec = oiio.ImageSpec(width, height, len(channels), dtype)
    spec.channelnames = tuple(channels)
    if data is not None:
        spec.x, spec.y = data.x, data.y
    if display is not None:
        spec.full_x, spec.full_y = display.x, display.y
        spec.full_width, spec.full_height = display.width, display.height
    if compression:
        spec.attribute("compression", compression)
    for name, type_desc, value in attributes:
        if type_desc is None:
            spec.attribute(name, value)
        else:
            spec.attribute(name, type_desc, value)
    return spec


def write_parts(path: str | Path, parts: Sequence[tuple[oiio.ImageSpec, np.ndarray]]) -> None:
    """Write one or several parts (an EXR's subimages) to a temporary name beside `path`, then rename it
    into place: the one image writer of the engine."""
    path = Path(path)
    ext = path.suffix.lstrip(".").lower()
    out = oiio.ImageOutput.create(ext) if ext else None
    if out is None:
        raise InputError(f"no image writer for '.{ext}' files", str(path))
    with replacing(path, "the image") as temp:
        specs = [s for s, _ in parts]
        ok = out.open(str(temp), specs) if len(specs) > 1 else out.open(str(temp), specs[0])
        for i, (spec, pixels) in enumerate(parts):
            if i:
                ok = ok and out.open(str(temp), spec, "AppendSubimage")
            ok = ok and out.write_image(np.ascontiguousarray(pixels))
        error = out.geterror()
        ok = out.close() and ok
        if not ok:
            raise InputError(
                f"cannot write image ({error.strip() or out.geterror() or 'unknown error'})", str(path)
            )


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    channels: Sequence[str] | None = None,
    dtype: str | None = None,
    attributes: Mapping[str, str | int | float] | None = None,
    compression: str | None = None,
) -> None:
    """Write (H, W) or (H, W, C) pixels to a temporary name beside `path`, then rename it into place."""
    path = Path(path)
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise ValueError(f"pixels must be (H, W) or (H, W, C), not {pixels.shape}")
    height, width, count = pixels.shape
    names = tuple(channels) if channels is not None else _DEFAULT_CHANNELS.get(count)
    if names is None or len(names) != count:
        raise ValueError(f"{count} channels need {count} channel names, got {names}")
    if pixels.dtype == np.float64:
        pixels = pixels.astype(np.float32)
    type_name = _WRITE_TYPES.get(dtype or "") or _DTYPE_NAMES.get(pixels.dtype)
    if type_name is None:
        raise ValueError(f"cannot write pixel type {dtype or pixels.dtype}")
    ext = path.suffix.lstrip(".").lower()
    compression = compression or ("zip" if ext == "exr" else None)
    attrs = [(key, None, value) for key, value in (attributes or {}).items()]
    write_parts(path, [(part_spec(width, height, names, type_name, attrs, compression), pixels)])
