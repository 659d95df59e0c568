"""Output writers, one per `--format`, registered in `WRITERS` like the other plugins: each takes convert's
merged frames in order and writes them its way, through `facegraft.io.images.write_parts` (sequences) or
`facegraft.merge.video_out.VideoWriter` (video), every file under a temporary name first.

- ``exr``: the passes, by `--layout`: ``single`` (one EXR per frame with every pass as named channels),
  ``multipart`` (a part per pass) or ``files`` (one plain-named sequence per pass). Channels: `R,G,B,A` comp,
  `swap.R,swap.G,swap.B,swap.A` the premultiplied swap, `matte.A` the blend matte, `facemask.A` the raw
  mask, and `matte_<label>.A` for each chosen person. Scene-linear, half (float for float plates).
- ``png``: 16-bit display-encoded comp and matte sequences (and a matte per person).
- ``tiff``: float comp and matte sequences, the header facts in ImageDescription (JSON).
- ``mov``, ``mp4``: the display-encoded comp as H.264 with the plate's audio.

A writer also says how its files carry a C2PA manifest (`signing`): embedded in each file, one sidecar
beside the sequence, or not at all; convert signs in one place from that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import OpenImageIO as oiio

from facegraft.io.images import Window, part_spec, write_parts
from facegraft.merge.passes import (
    CONFIG_KEY,
    INPUT_KEY,
    PASS_CHANNELS,
    WATERMARK_KEY,
    MergedFrame,
    header_attributes,
    person_layer,
)
from facegraft.provenance.signing import EMBEDDED, SIDECAR
from facegraft.registry import lookup


@dataclass
class WriterSetup:
    """What every writer is told: where, the file name stem, the EXR layout, the frame rate, the colour
    space's interop id, the persons whose mattes get layers of their own, the frame number padding."""

    out_dir: Path
    stem: str
    layout: str = "single"
    fps: float | None = None
    interop_id: str | None = None
    persons: tuple[str, ...] | list[str] = ()
    padding: int = 4
    data: Window | None = None  # the plate's data and display windows, for EXR passes that line up with it
    display: Window | None = None
    pixel_aspect: float = 1.0


class OutputWriter:
    """One output format. `write` is called with each frame in order (from one writer thread), between
    `open` and `close` (or `abort` when the run fails)."""

    name: ClassVar[str] = ""
    video: ClassVar[bool] = False  # one file for the run rather than files per frame
    display: ClassVar[bool] = False  # needs the comp in the display-referred encoding (comp_display)
    signing: ClassVar[str | None] = None  # EMBEDDED, SIDECAR, or None: cannot be signed

    def __init__(self, setup: WriterSetup) -> None:
        self.setup = setup
        self.person_layers = [person_layer(label) for label in setup.persons]
        self.pixel_type = "half"  # "float" for float32 plates, so the comp keeps their exact values

    def patterns(self) -> list[str]:
        """The file patterns of a sequence's passes, frame numbers as ``#`` (what a Read node takes)."""
        return []

    def done(self, frame: int, config: str, input_hash: str) -> bool:
        """Whether `frame` is already written with the same settings and input (a rerun skips it)."""
        return False

    def open(self, frames: list[int], metadata: dict[str, str], audio_from: str | None, start: float) -> None:
        """Before the first frame: the frames to come, the file-level facts, the plate to take audio from."""

    def write(self, m: MergedFrame) -> list[Path]:
        """Write one frame; the files finished by it."""
        raise NotImplementedError

    def close(self) -> list[Path]:
        """After the last frame; the files finished by it."""
        return []

    def abort(self) -> None:
        """Drop what a failed run left half written."""

    def _person_mattes(self, m: MergedFrame) -> list[np.ndarray]:
        """The frame's person mattes in layer order (zero for a person the frame lacks)."""
        by_layer = {person_layer(k): v for k, v in m.person_mattes.items()}
        return [by_layer.get(layer, np.zeros_like(m.matte)) for layer in self.person_layers]


class SequenceWriter(OutputWriter):
    """Files per frame named `<stem>[.<pass>].<frame>.<ext>`; the first holds the header `done` reads."""

    ext: ClassVar[str] = ""

    def pass_names(self) -> list[str | None]:
        """The passes that get a file of their own (None: one file for every pass)."""
        return ["comp", "matte", *self.person_layers]

    def files(self, frame: int) -> list[Path]:
        return self._named(f"{frame:0{self.setup.padding}d}")

    def patterns(self) -> list[str]:
        marker = "\0"
        return [str(p).replace(marker, "#" * self.setup.padding) for p in self._named(marker)]

    def _named(self, n: str) -> list[Path]:
        s = self.setup
        return [
            s.out_dir / (f"{s.stem}.{p}.{n}.{self.ext}" if p else f"{s.stem}.{n}.{self.ext}")
            for p in self.pass_names()
        ]

    def done(self, frame: int, config: str, input_hash: str) -> bool:
        paths = self.files(frame)
        if not all(p.is_file() for p in paths):
            return False
        inp = oiio.ImageInput.open(str(paths[0]))
        if inp is None:
            return False
        try:
            return self._stored(inp.spec()) == (config, input_hash)
        finally:
            inp.close()

    def _stored(self, spec: oiio.ImageSpec) -> tuple:
        return spec.getattribute(CONFIG_KEY), spec.getattribute(INPUT_KEY)

    def _attributes(self, m: MergedFrame) -> list:
        return header_attributes(self.setup.fps, self.setup.interop_id, m.attributes)


class ExrWriter(SequenceWriter):
    name, ext, signing = "exr", "exr", SIDECAR

    def pass_names(self) -> list[str | None]:
        if self.setup.layout == "files":
            return ["comp", "swap", "matte", "facemask", *self.person_layers]
        return [None]

    def write(self, m: MergedFrame) -> list[Path]:
        h, w = m.matte.shape
        attrs = [*self._attributes(m), ("PixelAspectRatio", None, float(self.setup.pixel_aspect))]
        if m.timecode is not None:
            attrs.append(("smpte:TimeCode", oiio.TypeDesc("timecode"), m.timecode))
        paths = self.files(m.frame)
        dtype = np.float32 if self.pixel_type == "float" else np.float16
        layers = {
            "rgba": np.concatenate([m.comp, np.ones((h, w, 1), np.float32)], axis=2),
            "swap": np.concatenate([m.swap, m.matte[..., None]], axis=2),
            "matte": m.matte[..., None],
            "facemask": m.facemask[..., None],
            **{k: v[..., None] for k, v in zip(self.person_layers, self._person_mattes(m))},
        }
        layout = self.setup.layout
        if layout == "single":
            names = sum((_channels(k) for k in layers), ())
            pixels = np.concatenate(list(layers.values()), axis=2).astype(dtype)
            write_parts(paths[0], [(self._spec(w, h, names, attrs), pixels)])
        elif layout == "multipart":
            parts = []
            for name, pixels in layers.items():
                header = [*_for_pass(attrs, name), ("name", None, name)]
                parts.append((self._spec(w, h, _channels(name), header), pixels.astype(dtype)))
            write_parts(paths[0], parts)
        else:  # files: one plain-named sequence per pass, the comp's header first
            for path, (name, pixels) in zip(paths, layers.items()):
                plain = ("R", "G", "B", "A") if name in ("rgba", "swap") else ("A",)
                spec = self._spec(w, h, plain, _for_pass(attrs, name))
                write_parts(path, [(spec, pixels.astype(dtype))])
        return paths

    def _spec(self, w: int, h: int, channels: tuple[str, ...], attrs: list):
        """A pass part's header: the plate's data window origin and display window kept."""
        s = self.setup
        return part_spec(w, h, channels, self.pixel_type, attrs, "zip", s.data, s.display)


class PngWriter(SequenceWriter):
    name, ext, display, signing = "png", "png", True, EMBEDDED

    def write(self, m: MergedFrame) -> list[Path]:
        h, w = m.matte.shape
        meta = [(k, t, v) for k, t, v in self._attributes(m) if t is None]
        paths = self.files(m.frame)
        rgba = np.concatenate([_u16(m.comp_display), _u16(np.ones((h, w, 1), np.float32))], axis=2)
        write_parts(paths[0], [(part_spec(w, h, ("R", "G", "B", "A"), "uint16", meta), rgba)])
        for path, matte in zip(paths[1:], [m.matte, *self._person_mattes(m)]):
            write_parts(path, [(part_spec(w, h, ("A",), "uint16", meta), _u16(matte))])
        return paths


class TiffWriter(SequenceWriter):
    name, ext = "tiff", "tif"

    def write(self, m: MergedFrame) -> list[Path]:
        h, w = m.matte.shape
        desc = json.dumps({k: v for k, t, v in self._attributes(m) if t is None})
        meta = [("ImageDescription", None, desc)]
        paths = self.files(m.frame)
        comp = np.concatenate([m.comp, np.ones((h, w, 1), np.float32)], axis=2)
        write_parts(paths[0], [(part_spec(w, h, ("R", "G", "B", "A"), "float", meta, "zip"), comp)])
        for path, matte in zip(paths[1:], [m.matte, *self._person_mattes(m)]):
            write_parts(path, [(part_spec(w, h, ("A",), "float", meta, "zip"), matte)])
        return paths

    def _stored(self, spec: oiio.ImageSpec) -> tuple:
        try:
            meta = json.loads(spec.getattribute("ImageDescription") or "{}")
        except ValueError:
            return (None, None)
        return meta.get(CONFIG_KEY), meta.get(INPUT_KEY)


class VideoFileWriter(OutputWriter):
    """The comp as one video `<stem>.<format>`, every frame of the run in order, the plate's audio kept."""

    video, display, signing = True, True, EMBEDDED

    def open(self, frames: list[int], metadata: dict[str, str], audio_from: str | None, start: float) -> None:
        from facegraft.merge.video_out import VideoWriter

        path = self.setup.out_dir / f"{self.setup.stem}.{self.name}"
        self._video = VideoWriter(path, self.setup.fps, metadata, audio_from, start)

    def write(self, m: MergedFrame) -> list[Path]:
        self._video.write(np.clip(m.comp_display * 255.0 + 0.5, 0, 255).astype(np.uint8))
        return []

    def close(self) -> list[Path]:
        video, self._video = self._video, None
        return [video.close()]

    def abort(self) -> None:
        if getattr(self, "_video", None) is not None:
            self._video.abort()
            self._video = None


class MovWriter(VideoFileWriter):
    name = "mov"


class Mp4Writer(VideoFileWriter):
    name = "mp4"


WRITERS: dict[str, type[OutputWriter]] = {
    w.name: w for w in (ExrWriter, PngWriter, TiffWriter, MovWriter, Mp4Writer)
}


def make_writer(name: str, setup: WriterSetup) -> OutputWriter:
    """The writer registered as `name`; InputError naming the formats otherwise."""
    return lookup(WRITERS, name, "--format")(setup)


def _channels(layer: str) -> tuple[str, ...]:
    return PASS_CHANNELS.get(layer) or (f"{layer}.A",)


def _for_pass(attrs: list, name: str) -> list:
    """A pass's own header: only the comp carries the watermark; the others say they were left unmarked."""
    if name == "rgba":
        return attrs
    return [(k, t, "none: left unmarked for grading" if k == WATERMARK_KEY else v) for k, t, v in attrs]


def _u16(values: np.ndarray) -> np.ndarray:
    return np.clip(values * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
