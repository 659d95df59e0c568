"""Pass writers: the merged frame as EXR passes (single-part, multipart or one file per pass), PNG/TIFF
comp and matte sequences, or a comp video; plus the header attributes every output carries.

EXR channels are addressed by name: `R,G,B,A` comp, `swap.R,swap.G,swap.B,swap.A` the premultiplied swap,
`matte.A` the blend matte, `facemask.A` the raw mask; when convert is given persons (--person, --swap),
`matte_<label>.A` for each of them (its label: the person's name or ``person<id>``), covering that person's
faces only, beside the combined `matte.A` (multipart: a part per person named `matte_<label>`; files and
PNG/TIFF: a `<stem>.matte_<label>.<frame>` sequence each). Every file is written to a temporary name and
renamed into place, so a killed convert never leaves a half-written frame under its final name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from facegraft.errors import InputError
from facegraft.io.atomic import replacing, write_text_atomic

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


def person_layer(label: str) -> str:
    """The layer (and multipart part) name of a person's matte: ``matte_<label>``; its channel is
    ``matte_<label>.A``."""
    return f"matte_{label}"


def _channels(layer: str) -> tuple[str, ...]:
    return PASS_CHANNELS.get(layer) or (f"{layer}.A",)


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


def _spec(
    width: int, height: int, channels: tuple[str, ...], dtype: str, attrs, compression: str | None
) -> oiio.ImageSpec:
    spec = oiio.ImageSpec(width, height, len(channels), dtype)
    spec.channelnames = channels
    if compression:
        spec.attribute("compression", compression)
    for name, type_desc, value in attrs:
        if type_desc is None:
            spec.attribute(name, value)
        else:
            spec.attribute(name, type_desc, value)
    return spec


def write_parts(path: Path, parts: list[tuple[oiio.ImageSpec, np.ndarray]]) -> None:
    """Write one or several parts (subimages) to `path` through a temporary name, then rename."""
    out = oiio.ImageOutput.create(path.suffix.lstrip(".").lower())
    if out is None:
        raise InputError(f"no image writer for '{path.suffix}' files", str(path))
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
            raise InputError(f"cannot write image ({error.strip() or 'unknown error'})", str(path))


def _display_u16(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


class PassWriter:
    """Writes MergedFrames as files named `<stem>[.<pass>].<frame>.<ext>` in one folder."""

    def __init__(
        self,
        out_dir: Path,
        stem: str,
        layout: str = "single",
        fmt: str = "exr",
        fps: float | None = None,
        interop_id: str | None = None,
        padding: int = 4,
        persons: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.out_dir, self.stem, self.layout, self.format = Path(out_dir), stem, layout, fmt
        self.fps, self.interop_id, self.padding = fps, interop_id, padding
        self.person_layers = [person_layer(label) for label in persons]  # a matte layer per person
        self.pixel_type = "half"  # "float" for float32 plates, so the comp keeps their exact values

    def files(self, frame: int) -> list[Path]:
        """The files one frame is written to (the first holds the header `skip` reads)."""
        return self._named(f"{frame:0{self.padding}d}")

    def patterns(self) -> list[str]:
        """The file patterns of the passes, frame numbers as ``#`` (what a host's Read node takes)."""
        marker = "\0"
        return [str(p).replace(marker, "#" * self.padding) for p in self._named(marker)]

    def _named(self, n: str) -> list[Path]:
        if self.format in ("png", "tiff"):
            ext = "png" if self.format == "png" else "tif"
            return [
                self.out_dir / f"{self.stem}.{p}.{n}.{ext}" for p in ("comp", "matte", *self.person_layers)
            ]
        if self.layout == "files":
            return [
                self.out_dir / f"{self.stem}.{p}.{n}.exr"
                for p in ("comp", "swap", "matte", "facemask", *self.person_layers)
            ]
        return [self.out_dir / f"{self.stem}.{n}.exr"]

    def done(self, frame: int, config: str, input_hash: str) -> bool:
        """True when every file of `frame` exists and its header records the same config and input."""
        paths = self.files(frame)
        if not all(p.is_file() for p in paths):
            return False
        inp = oiio.ImageInput.open(str(paths[0]))
        if inp is None:
            return False
        try:
            spec = inp.spec()
            stored = spec.getattribute(CONFIG_KEY), spec.getattribute(INPUT_KEY)
            if self.format == "tiff":
                try:
                    meta = json.loads(spec.getattribute("ImageDescription") or "{}")
                except ValueError:
                    return False
                stored = meta.get(CONFIG_KEY), meta.get(INPUT_KEY)
        finally:
            inp.close()
        return stored == (config, input_hash)

    def write(self, m: MergedFrame) -> list[Path]:
        """Write one frame's passes; returns the files written."""
        h, w = m.matte.shape
        alpha = np.ones((h, w, 1), np.float32)
        attrs = header_attributes(self.fps, self.interop_id, m.attributes)
        paths = self.files(m.frame)
        if self.format == "png":
            meta = [(k, t, v) for k, t, v in attrs if t is None]
            rgba = np.concatenate(
                [_display_u16(m.comp_display), _display_u16(alpha[..., 0])[..., None]], axis=2
            )
            write_parts(paths[0], [(_spec(w, h, ("R", "G", "B", "A"), "uint16", meta, None), rgba)])
            for path, matte in zip(paths[1:], [m.matte, *self._person_mattes(m)]):
                write_parts(path, [(_spec(w, h, ("A",), "uint16", meta, None), _display_u16(matte))])
            return paths
        if self.format == "tiff":
            desc = json.dumps({k: v for k, t, v in attrs if t is None})
            meta = [("ImageDescription", None, desc)]
            comp = np.concatenate([m.comp, alpha], axis=2)
            write_parts(paths[0], [(_spec(w, h, ("R", "G", "B", "A"), "float", meta, "zip"), comp)])
            for path, matte in zip(paths[1:], [m.matte, *self._person_mattes(m)]):
                write_parts(path, [(_spec(w, h, ("A",), "float", meta, "zip"), matte)])
            return paths
        dtype = np.float32 if self.pixel_type == "float" else np.float16
        layers = {
            "rgba": np.concatenate([m.comp, alpha], axis=2),
            "swap": np.concatenate([m.swap, m.matte[..., None]], axis=2),
            "matte": m.matte[..., None],
            "facemask": m.facemask[..., None],
            **{k: v[..., None] for k, v in zip(self.person_layers, self._person_mattes(m))},
        }
        if self.layout == "single":
            names = sum((_channels(k) for k in layers), ())
            pixels = np.concatenate(list(layers.values()), axis=2).astype(dtype)
            write_parts(paths[0], [(_spec(w, h, names, self.pixel_type, attrs, "zip"), pixels)])
        elif self.layout == "multipart":
            parts = []
            for name, pixels in layers.items():
                spec = _spec(
                    w,
                    h,
                    _channels(name),
                    self.pixel_type,
                    _for_pass(attrs, name) + [("name", None, name)],
                    "zip",
                )
                parts.append((spec, pixels.astype(dtype)))
            write_parts(paths[0], parts)
        else:  # files: one plain-named sequence per pass, the comp's header first
            plain = {
                "rgba": ("R", "G", "B", "A"),
                "swap": ("R", "G", "B", "A"),
                "matte": ("A",),
                "facemask": ("A",),
            }
            for path, (name, pixels) in zip(paths, layers.items()):
                spec = _spec(w, h, plain.get(name, ("A",)), self.pixel_type, _for_pass(attrs, name), "zip")
                write_parts(path, [(spec, pixels.astype(dtype))])
        return paths

    def _person_mattes(self, m: MergedFrame) -> list[np.ndarray]:
        """The frame's person mattes in the writer's layer order (zero for a person the frame lacks)."""
        by_layer = {person_layer(k): v for k, v in m.person_mattes.items()}
        return [by_layer.get(layer, np.zeros_like(m.matte)) for layer in self.person_layers]


def _for_pass(attrs: list, name: str) -> list:
    """A pass's own header: only the comp carries the watermark; the others say they were left unmarked."""
    if name == "rgba":
        return attrs
    return [(k, t, "none: left unmarked for grading" if k == WATERMARK_KEY else v) for k, t, v in attrs]


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
    write_parts(path, [(_spec(size, size, ("R", "G", "B", "A"), "half", header, "zip"), pixels)])


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
