"""What every output of convert shares: the merged frame, the EXR pass channel names, the header
attributes every output carries (synthetic, config, input, watermark), the patch EXR and reading passes
back. The formats themselves are the writers of `facegraft.merge.writers`.

EXR channels are addressed by name: `R,G,B,A` comp, `swap.R,swap.G,swap.B,swap.A` the premultiplied swap,
`matte.A` the blend matte, `facemask.A` the raw mask; when convert is given persons (--person, --swap),
`matte_<label>.A` for each of them (its label: the person's name or ``person<id>``), covering that person's
faces only, beside the combined `matte.A`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from facegraft.errors import InputError
from facegraft.io.atomic import write_text_atomic
from facegraft.io.images import part_spec, write_parts

SYNTHETIC_KEY = "facegraft/synthetic"
WATERMARK_KEY = "facegraft/watermark"
CONFIG_KEY = "facegraft/config"
INPUT_KEY = "facegraft/input"
PASS_CHANNELS = {
    "rgba": ("R", "G", "B", "A"),
    "swap": ("swap.R", "swap.G", "swap.B", "swap.A"),
    "matte": ("matte.A",),
    "facemask": ("facemask.A",),
}
# CIE xy of the red, green, blue primaries and white, by the OCIO interop id's primaries part.
_CHROMATICITIES = {
    "rec709": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "ap1": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "ap0": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767),
    "p3d65": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "rec2020": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
}


@dataclass
class MergedFrame:
    """One converted frame, every image (H, W[, 3]) float32 in the plate's colour space.

    `comp` is the finished frame, `swap` the premultiplied face, `matte` the blend matte, `facemask` the
    raw mask; `comp_display` the comp in the display-referred working encoding (for PNG and video);
    `person_mattes` each swapped person's own matte by label (the writer's `persons`)."""

    frame: int
    comp: np.ndarray
    swap: np.ndarray
    matte: np.ndarray
    facemask: np.ndarray
    comp_display: np.ndarray | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    patches: list[dict] = field(default_factory=list)
    person_mattes: dict[str, np.ndarray] = field(default_factory=dict)
    timecode: tuple[int, int] | None = None  # the plate frame's SMPTE timecode, carried to its passes


def person_layer(label: str) -> str:
    """The layer (and multipart part) name of a person's matte: ``matte_<label>``; its channel is
    ``matte_<label>.A``."""
    return f"matte_{label}"


def chromaticities(interop_id: str | None) -> tuple[float, ...] | None:
    """EXR chromaticities for an OCIO interop id such as 'lin_rec709_scene' or 'lin_ap1_scene'."""
    if not interop_id:
        return None
    parts = interop_id.split("_")
    return _CHROMATICITIES.get(parts[1]) if len(parts) > 1 else None


def header_attributes(
    fps: float | None, interop_id: str | None, facegraft: dict[str, str]
) -> list[tuple[str, oiio.TypeDesc | None, object]]:
    """The (name, type, value) attributes of an EXR pass header; `facegraft` keys are written as
    `facegraft/<key>` strings and `facegraft/synthetic` is always `true`."""
    attrs: list[tuple[str, oiio.TypeDesc | None, object]] = []
    chroma = chromaticities(interop_id)
    if chroma is not None:
        attrs.append(("chromaticities", oiio.TypeDesc("float[8]"), chroma))
    if interop_id:
        attrs.append(("colorInteropID", None, interop_id))
    if fps:
        num, den = (int(round(fps * 1000)), 1000) if abs(fps - round(fps)) > 1e-6 else (int(round(fps)), 1)
        attrs.append(("framesPerSecond", oiio.TypeDesc("rational"), (num, den)))
    for key, value in sorted(facegraft.items()):
        attrs.append((f"facegraft/{key}", None, str(value)))
    attrs.append((SYNTHETIC_KEY, None, "true"))
    return attrs


def write_patch(
    path: Path, face: np.ndarray | None, mask: np.ndarray | None, size: int, attrs: dict[str, str]
) -> None:
    """The aligned swapped face (R, R, 3) float32 with its mask as alpha, in an EXR at model resolution;
    a frame without a face gets an empty (zero) patch so the sequence stays unbroken."""
    if face is None:
        pixels = np.zeros((size, size, 4), np.float16)
    else:
        pixels = np.concatenate([face, mask[..., None]], axis=2).astype(np.float16)
    header = header_attributes(None, None, attrs)
    write_parts(path, [(part_spec(size, size, ("R", "G", "B", "A"), "half", header, "zip"), pixels)])


def write_json(path: Path, data: object) -> None:
    """JSON through a temporary name and a rename."""
    write_text_atomic(path, json.dumps(data, indent=1), "the JSON file")


def read_passes(path: str | Path) -> dict[str, np.ndarray]:
    """Every channel of every part of a pass file by name: {'R': (H, W) float32, 'matte.A': ...}.

    In a multipart file, a part named `swap` holding `swap.R` is read under the names it holds."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(f"cannot open ({oiio.geterror().strip()})", str(path))
    out: dict[str, np.ndarray] = {}
    try:
        part = 0
        while inp.seek_subimage(part, 0):
            spec = inp.spec()
            pixels = inp.read_image(part, 0, 0, spec.nchannels, "float")  # this part's pixels
            if pixels is None:
                raise InputError(f"cannot read part {part} ({inp.geterror().strip()})", str(path))
            pixels = pixels.reshape(spec.height, spec.width, spec.nchannels)
            for i, name in enumerate(spec.channelnames):
                out[name] = np.ascontiguousarray(pixels[..., i])
            part += 1
    finally:
        inp.close()
    return out
