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
_INFO_ATTRIBUTES = ("FramesPerSecond", "oiio:ColorSpace", "compression", "oiio:BitsPerSample", "timecode")


@dataclass
class ImageInfo:
    """An image header: size, channel names (in OIIO's order), native dtype and a few attributes."""

    width: int
    height: int
    channels: tuple[str, ...]
    dtype: np.dtype
    attributes: dict[str, object] = field(default_factory=dict)


def _open(path: Path) -> oiio.ImageInput:
    """An open ImageInput, or InputError naming the file and OIIO's reason."""
    if not path.exists():
        raise InputError("no such file", str(path))
    if path.is_dir():
        raise InputError("is a directory, not an image file", str(path))
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        reason = oiio.geterror().strip() or "unknown error"
        raise InputError(f"cannot open image ({reason})", str(path))
    return inp


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


def read_image(path: str | Path, channels: Sequence[str] = ("R", "G", "B")) -> np.ndarray:
    """Pixels (H, W, len(channels)) in the file's native type, channels picked by name; grey becomes RGB."""
    path = Path(path)
    inp = _open(path)
    try:
        spec = inp.spec()
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
        return ImageInfo(spec.width, spec.height, tuple(spec.channelnames), dtype, _attributes(spec))
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
) -> oiio.ImageSpec:
    """The header of one image part: size, named channels, pixel type, compression and attributes."""
    spec = oiio.ImageSpec(width, height, len(channels), dtype)
    spec.channelnames = tuple(channels)
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
