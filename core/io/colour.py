"""Colour conversion with OpenColorIO between a plate's colour space and the working encoding.

The config is the studio's when it names one (``--ocio-config FILE``, else ``$OCIO``), else the built-in ACES
studio config, which carries the camera log spaces (ARRI LogC3/LogC4, S-Log3, Log3G10, Canon Log 2/3,
V-Log) beside the linear and display ones. With a studio config, ``scene-linear`` is that config's
``scene_linear`` role, and any role name is taken as a colour space.

The working encoding is display-referred sRGB (the sRGB curve on Rec.709 primaries, 0..1), with no view
transform or tone mapping. Per-channel transforms run through 1-D lookup tables, others through OCIO.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import PyOpenColorIO as ocio

from facegraft.errors import InputError
from facegraft.options import opt
from facegraft.registry import unknown

# Built-in configs tried in order when the user names none (no file needed): the ACES studio config (camera
# log spaces included), else this OCIO version's default.
_BUILT_IN = ("ocio://studio-config-latest", "ocio://default", "ocio://cg-config-latest")
_chosen: list[str] = []  # the config `use_config` chose for this process, over $OCIO
# Short names accepted on the command line -> candidate colour space names in the config, first found wins.
_ALIASES: dict[str, tuple[str, ...]] = {
    "scene-linear": ("lin_rec709", "Linear Rec.709 (sRGB)", "Utility - Linear - sRGB"),
    "linear": ("lin_rec709", "Linear Rec.709 (sRGB)", "Utility - Linear - sRGB"),
    "lin-rec709": ("lin_rec709", "Linear Rec.709 (sRGB)", "Utility - Linear - sRGB"),
    "srgb": ("srgb_tx", "sRGB Encoded Rec.709 (sRGB)", "sRGB - Texture", "Utility - sRGB - Texture"),
    "acescg": ("ACEScg", "lin_ap1"),
    "aces2065-1": ("ACES2065-1", "lin_ap0"),
    "aces": ("ACES2065-1", "lin_ap0"),
    "rec709": ("g24_rec709", "Gamma 2.4 Encoded Rec.709", "Utility - Rec.709 - Display"),
    "raw": ("Raw", "Utility - Raw"),
    "data": ("Raw", "Utility - Raw"),
    "acescct": ("ACEScct", "ACES - ACEScct"),
    # Camera log spaces, as the ACES studio config (and ACES 1.x configs) name them.
    "logc3": ("ARRI LogC3 (EI800)", "Input - ARRI - V3 LogC (EI800) - Wide Gamut"),
    "alexav3logc": ("ARRI LogC3 (EI800)", "Input - ARRI - V3 LogC (EI800) - Wide Gamut"),  # Nuke's name
    "logc4": ("ARRI LogC4",),
    "slog3": ("S-Log3 S-Gamut3.Cine", "Input - Sony - S-Log3 - S-Gamut3.Cine"),
    "slog3-sgamut3": ("S-Log3 S-Gamut3", "Input - Sony - S-Log3 - S-Gamut3"),
    "log3g10": ("Log3G10 REDWideGamutRGB", "Input - RED - REDLog3G10 - REDWideGamutRGB"),
    "canonlog2": ("CanonLog2 CinemaGamut D55", "Input - Canon - Canon-Log2 - Cinema Gamut Daylight"),
    "canonlog3": ("CanonLog3 CinemaGamut D55", "Input - Canon - Canon-Log3 - Cinema Gamut Daylight"),
    "vlog": ("V-Log V-Gamut", "Input - Panasonic - V-Log - V-Gamut"),
}
# Aliases a studio's own config answers with its roles (config.getColorSpace takes a role name).
_ROLE_ALIASES = {"scene-linear": "scene_linear", "linear": "scene_linear"}
_CHOICES = (
    "scene-linear, srgb, acescg, acescct, aces2065-1, rec709, raw, logc3, logc4, slog3, log3g10, canonlog2, "
    "canonlog3, vlog, or a colour space or role name from the OCIO config"
)
_WORKING_ALIAS = "srgb"
# Tables and images at least this large are looked up in row bands on several threads (numpy frees the GIL).
_PARALLEL_ELEMENTS = 1 << 20
_THREADS = max(1, min(4, os.cpu_count() or 1))
# Measured (2-core x86_64, 1920x1080 float16 -> uint8): one-thread LUT ~16 ms; in two row bands ~7 ms.
# The OCIO CPU processor on a 1080p float32 frame takes ~28 ms (PackedImageDesc; applyRGB ~80 ms).


@dataclass
class ColourConfigOptions:
    """Which OpenColorIO config names the plate's colour space, for every command that reads plates."""

    ocio_config: str = opt(
        "",
        "OpenColorIO config file whose colour spaces --colourspace names (default: $OCIO, else the built-in "
        "ACES studio config)",
        path="file",
    )


def use_config(path: str | None) -> None:
    """Use the OCIO config file at `path` for this process (``--ocio-config``); None or '': $OCIO, else
    the built-in ACES studio config. The file is read now, so a bad one is refused before any work."""
    before = list(_chosen)
    _chosen[:] = [str(path)] if path else []
    try:
        active_config()
    except InputError:
        _chosen[:] = before
        raise


def config_source() -> str:
    """Where the active config comes from: the chosen file, else $OCIO, else '' (the built-in one)."""
    return _chosen[0] if _chosen else os.environ.get("OCIO", "").strip()


def active_config() -> ocio.Config:
    """The OCIO config in use: `use_config`'s file, else $OCIO's, else the built-in ACES studio config."""
    return _load(config_source())


@lru_cache(maxsize=4)
def _load(source: str) -> ocio.Config:
    if source:
        try:
            return ocio.Config.CreateFromFile(source)
        except ocio.Exception as exc:
            why = str(exc).splitlines()[0] if str(exc) else "unreadable"
            raise InputError(f"cannot use this OpenColorIO config ({why})", source) from None
    errors = []
    for name in _BUILT_IN:
        try:
            return ocio.Config.CreateFromFile(name)
        except ocio.Exception as exc:
            errors.append(f"{name}: {exc}")
    raise InputError(f"no built-in OpenColorIO config available ({'; '.join(errors)})")


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="facegraft-colour")


def resolve_colourspace(name: str) -> str:
    """The config's colour space name for an alias ("scene-linear", "srgb", ...) or a config name/alias."""
    config = active_config()
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key in _ROLE_ALIASES and config_source():
        # A studio's own config says what its scene-linear space is: its role wins over the built-in names.
        role = config.getColorSpace(_ROLE_ALIASES[key])
        if role is not None:
            return role.getName()
    if key in _ALIASES:
        for candidate in _ALIASES[key]:
            space = config.getColorSpace(candidate)
            if space is not None:
                return space.getName()
        raise InputError(f"colourspace '{name}' has no match in the OCIO config {config.getName()}")
    space = config.getColorSpace(str(name).strip())
    if space is None:
        raise unknown(name, [_CHOICES], "colourspace")
    return space.getName()


def working_colourspace() -> str:
    """The config's name of the working encoding (sRGB-encoded Rec.709)."""
    return resolve_colourspace(_WORKING_ALIAS)


def _apply(processor: ocio.CPUProcessor | None, rgb: np.ndarray) -> np.ndarray:
    """Apply an OCIO CPU processor in place to a contiguous (..., 3) float32 array; None is identity."""
    if processor is None or rgb.size == 0:
        return rgb
    flat = rgb.reshape(-1, 3)
    if flat.size < _PARALLEL_ELEMENTS:
        processor.apply(ocio.PackedImageDesc(flat, flat.shape[0], 1, 3))
        return rgb
    bands = np.array_split(flat, _THREADS * 2)
    list(_pool().map(lambda band: processor.apply(ocio.PackedImageDesc(band, band.shape[0], 1, 3)), bands))
    return rgb


def _lookup(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """table[index] for a 1-D table, or per channel for a (3, N) table; row bands run on threads."""
    out = np.empty(index.shape, dtype=table.dtype)

    def band(rows: slice) -> None:
        if table.ndim == 1:
            table.take(index[rows], out=out[rows])
        else:
            for c in range(3):
                out[rows, ..., c] = table[c].take(index[rows, ..., c])

    if index.size < _PARALLEL_ELEMENTS or index.shape[0] < 2 * _THREADS:
        band(slice(None))
    else:
        step = -(-index.shape[0] // (_THREADS * 2))
        list(_pool().map(band, [slice(s, s + step) for s in range(0, index.shape[0], step)]))
    return out


def _as_index(img: np.ndarray) -> np.ndarray:
    """The integer lookup index of a uint8/uint16/float16 image (float16 by its raw bit pattern)."""
    return img.view(np.uint16) if img.dtype == np.float16 else img


def _input_values(dtype: np.dtype) -> np.ndarray:
    """Every value a uint8/uint16/float16 pixel can hold, as float32 in table order (raw, not normalised)."""
    if dtype == np.float16:
        return np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
    return np.arange(np.iinfo(dtype).max + 1, dtype=np.float32)


def _sanitise_values(values: np.ndarray, dtype: np.dtype, clip_negative: bool) -> np.ndarray:
    """Float32 values for a transform: ints scaled to 0..1, NaN and -Inf -> 0, +Inf -> the type's max."""
    if dtype.kind == "u":
        out = values.astype(np.float32) / np.float32(np.iinfo(dtype).max)
    else:
        out = values.astype(np.float32)
        if not np.isfinite(out).all():
            big = float(min(np.finfo(dtype).max, np.finfo(np.float32).max))
            np.nan_to_num(out, copy=False, nan=0.0, posinf=big, neginf=0.0)
    if clip_negative:
        np.maximum(out, 0.0, out=out)
    return out


@lru_cache(maxsize=8)
def _sanitising_table(dtype_name: str, clip_negative: bool) -> np.ndarray:
    """Sanitised float32 value of every uint8/uint16/float16 code (faster than numpy's float16 maths)."""
    dtype = np.dtype(dtype_name)
    return _sanitise_values(_input_values(dtype), dtype, clip_negative)


def _sanitise_input(img: np.ndarray, clip_negative: bool) -> np.ndarray:
    """A new contiguous float32 copy of an image, sanitised as by _sanitise_values."""
    if img.dtype in (np.uint8, np.uint16, np.float16):
        return _lookup(_sanitising_table(img.dtype.name, clip_negative), _as_index(img))
    return np.ascontiguousarray(_sanitise_values(img, img.dtype, clip_negative))


def _sanitise_output(rgb: np.ndarray) -> np.ndarray:
    """NaN -> 0 and +-Inf -> the float32 finite range, in place."""
    if not np.isfinite(rgb).all():
        big = np.finfo(np.float32).max
        np.nan_to_num(rgb, copy=False, nan=0.0, posinf=big, neginf=-big)
    return rgb


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Working float values to 8-bit code values, clipped to 0..1 and rounded (scratches `rgb`)."""
    np.clip(rgb, 0.0, 1.0, out=rgb)
    rgb *= 255.0
    rgb += 0.5
    return rgb.astype(np.uint8)


def _check_rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    if img.dtype not in (np.uint8, np.uint16, np.float16, np.float32, np.float64):
        raise ValueError(f"unsupported pixel type {img.dtype}")
    return img


def is_separable(processor: ocio.CPUProcessor | None, tolerance: float = 1e-4) -> bool:
    """Whether a transform acts on each channel alone: random colours vs each channel sent as a grey."""
    if processor is None:
        return True
    rng = np.random.default_rng(1)
    colours = rng.uniform(0.0, 1.25, size=(256, 3)).astype(np.float32)
    colours[:8] *= 16.0  # a few highlights
    full = _sanitise_output(_apply(processor, colours.copy()))
    greys = np.repeat(colours.reshape(-1, 1), 3, axis=1)  # (768, 3): each channel value as a grey
    per_channel = _sanitise_output(_apply(processor, greys)).reshape(-1, 3, 3)[:, np.arange(3), np.arange(3)]
    error = np.abs(full - per_channel) / np.maximum(1.0, np.abs(full))
    return float(error.max()) <= tolerance


class ColourConverter:
    """Converts (H, W, 3) plate pixels in `source` to the working encoding and working floats back again."""

    def __init__(self, source: str) -> None:
        config = active_config()
        self.source = resolve_colourspace(source)
        self.working = working_colourspace()
        space = config.getColorSpace(self.source)
        self.identity = self.source == self.working or bool(space.isData())
        self._forward: ocio.CPUProcessor | None = None
        self._inverse: ocio.CPUProcessor | None = None
        if not self.identity:
            self._forward = config.getProcessor(self.source, self.working).getDefaultCPUProcessor()
            self._inverse = config.getProcessor(self.working, self.source).getDefaultCPUProcessor()
        self.separable = is_separable(self._forward)
        self._tables: dict[tuple[str, str], np.ndarray] = {}

    def __repr__(self) -> str:
        mode = "identity" if self.identity else ("separable" if self.separable else "3-D")
        return f"ColourConverter({self.source!r} -> {self.working!r}, {mode})"

    def _table(self, dtype: np.dtype, target: str) -> np.ndarray:
        """Table from every value of `dtype` to working uint8/float32: (N,), or (3, N) per channel."""
        key = (dtype.name, target)
        if key not in self._tables:
            values = _sanitising_table(dtype.name, target == "uint8")
            rgb = _apply(self._forward, np.repeat(values[:, None], 3, axis=1))
            rgb = _sanitise_output(rgb)
            table = _to_uint8(rgb) if target == "uint8" else rgb.astype(np.float32)
            same = np.array_equal(table[:, 0], table[:, 1]) and np.array_equal(table[:, 0], table[:, 2])
            self._tables[key] = np.ascontiguousarray(table[:, 0] if same else table.T)
        return self._tables[key]

    def _via_processor(self, img: np.ndarray, clip_negative: bool) -> np.ndarray:
        """The float32 working values of an image through the OCIO processor (any input dtype)."""
        return _sanitise_output(_apply(self._forward, _sanitise_input(img, clip_negative)))

    def to_working_uint8(self, img: np.ndarray, copy: bool = True) -> np.ndarray:
        """(H, W, 3) any native dtype in the source space -> (H, W, 3) uint8 working sRGB, clipped 0..255.

        With `copy=False` an 8-bit image already in the working space comes back as it is (a frame the
        caller owns: saves a 6 MB copy per 1080p frame)."""
        img = _check_rgb(img)
        if img.dtype == np.uint8 and self.identity:
            return img.copy() if copy else img
        if self.separable and img.dtype in (np.uint8, np.uint16, np.float16):
            return _lookup(self._table(img.dtype, "uint8"), _as_index(img))
        return _to_uint8(self._via_processor(img, clip_negative=True))

    def to_working_float(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) any native dtype in the source space -> (H, W, 3) float32 working sRGB (keeps >1)."""
        img = _check_rgb(img)
        if self.separable and img.dtype in (np.uint8, np.uint16, np.float16):
            return _lookup(self._table(img.dtype, "float"), _as_index(img))
        return self._via_processor(img, clip_negative=False)

    def from_working_float(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 working sRGB -> (H, W, 3) float32 in the source space (for merge passes)."""
        img = _check_rgb(img)
        rgb = _sanitise_input(img.astype(np.float32, copy=False), clip_negative=False)
        return _sanitise_output(_apply(self._inverse, rgb))
