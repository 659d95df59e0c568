"""`facegraft verify FILE_OR_SEQUENCE...`: read back what an output says about itself — the synthetic flag,
engine, model and config hashes, source identity and likeness release — from EXR/PNG/TIFF metadata
(OpenImageIO) or MP4/MOV container tags (PyAV), its C2PA manifest where there is one (embedded, or the
.c2pa sidecar of an EXR sequence), and the invisible watermark in its faces. Any one of the three marks
makes a file synthetic: metadata and manifests are stripped by a re-encode, the watermark is not."""

from __future__ import annotations

import json
from pathlib import Path

from facegraft.errors import InputError
from facegraft.io.sequence import parse_sequence

VIDEO = {".mp4", ".mov", ".m4v"}


def _image_tags(path: Path) -> dict[str, str]:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(f"cannot read ({oiio.geterror() or 'unknown format'})", path)
    try:
        tags = {}
        for sub in range(64):
            if not inp.seek_subimage(sub, 0):
                break
            spec = inp.spec()
            for attr in spec.extra_attribs:
                name = attr.name.split(":", 1)[-1] if attr.name.lower().startswith("png:") else attr.name
                if name.startswith("facegraft/"):
                    tags.setdefault(name[len("facegraft/") :], str(attr.value))
            desc = spec.getattribute("ImageDescription")
            if isinstance(desc, str) and desc.startswith("{"):
                try:
                    extra = json.loads(desc)
                except json.JSONDecodeError:
                    extra = {}
                for k, v in extra.items():
                    if str(k).startswith("facegraft/"):
                        tags.setdefault(str(k)[len("facegraft/") :], str(v))
        return tags
    finally:
        inp.close()


def _video_tags(path: Path) -> dict[str, str]:
    import av

    try:
        with av.open(str(path)) as container:
            meta = dict(container.metadata)
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot read ({exc})", path) from exc
    return {k[len("facegraft/") :]: str(v) for k, v in meta.items() if k.startswith("facegraft/")}


MAX_FRAMES = 240  # frames of a video or sequence read for the watermark, spread over its length


def verify(path: str | Path) -> dict:
    """What a file or image sequence says about itself: {'file', 'synthetic', 'marked', 'metadata', 'c2pa',
    'watermark', and the facegraft tags also at the top level}."""
    p = Path(path)
    first = p
    if not p.is_file():
        sequence = parse_sequence(p)  # InputError for a missing file with no frame token
        if sequence is None or not sequence.frames:
            raise InputError("no such file or sequence", p)
        first = sequence.path(sequence.frames[0])
    from facegraft.provenance.c2pa_manifest import TRAINED_MEDIA
    from facegraft.provenance.c2pa_manifest import read as read_c2pa
    from facegraft.provenance.c2pa_sidecar import read_sidecar

    tags = _video_tags(first) if first.suffix.lower() in VIDEO else _image_tags(first)
    manifest = read_c2pa(first)
    if manifest is None and first.suffix.lower() == ".exr":  # EXR sequences carry a .c2pa sidecar
        manifest = read_sidecar(p)
    mark = read_watermark(p, tags)
    ai = manifest is not None and manifest["digital_source_type"] == TRAINED_MEDIA
    return {
        "file": str(p),
        "marked": bool(tags) or manifest is not None or mark["detected"],
        "synthetic": tags.get("synthetic") == "true" or ai or mark["detected"],
        **{k: v for k, v in sorted(tags.items()) if k != "synthetic"},
        "metadata": dict(sorted(tags.items())),
        "c2pa": manifest,
        "watermark": mark,
    }


def read_watermark(path: str | Path, tags: dict[str, str]) -> dict:
    """The watermark decision for an image, a sequence or a video.

    Each frame's faces are read alone; for several frames, the payload most of them decoded is then looked
    for in the frames that did not decode alone or decoded to another job (a far stronger test, see
    `watermark.read_face`).
    `confidence` is the agreement of the soft bits with the codeword for one image, and the share of the
    frames with a face that carry the mark for several."""
    from facegraft.io.colour import ColourConverter, resolve_colourspace
    from facegraft.io.plate import open_plate
    from facegraft.provenance import watermark as wm

    plate = open_plate(path)
    frames = plate.frames
    if len(frames) > MAX_FRAMES:
        frames = [frames[round(i * (len(frames) - 1) / (MAX_FRAMES - 1))] for i in range(MAX_FRAMES)]
    # Float EXR/TIFF comps are in the plate's colour space; PNG, JPEG and video carry the display encoding.
    space = plate.default_colourspace
    if Path(path).suffix.lower() in (".exr", ".tif", ".tiff"):
        space = tags.get("colourspace") or space
    try:
        converter = ColourConverter(resolve_colourspace(space))
    except Exception:  # noqa: BLE001 - a colour space this config lacks: read as the file type suggests
        converter = ColourConverter(resolve_colourspace(plate.default_colourspace))

    def read(known: wm.Payload | None, which: list[int]) -> dict[int, wm.Reading | None]:
        return {
            info.frame: wm.read_frame(converter.to_working_uint8(native), known)
            for info, native in plate.iter_frames(which)
        }

    readings = read(None, frames)
    payload = wm.sequence_payload(list(readings.values()))
    missed = [f for f, r in readings.items() if wm.needs_recheck(r, payload)]
    if missed and len(frames) > 1:
        readings.update({f: wm.rechecked(readings[f], known) for f, known in read(payload, missed).items()})
    with_face = [r for r in readings.values() if r is not None]
    hits = [r for r in with_face if r.detected]
    if len(frames) == 1:
        confidence = with_face[0].confidence if with_face else 0.0
        detected = bool(hits)
    else:
        confidence = len(hits) / len(with_face) if with_face else 0.0
        detected = payload is not None and confidence >= 0.5
    written = tags.get("watermark", "")
    report = {
        "detected": detected,
        "confidence": round(float(confidence), 4),
        "payload": None,
        "frames": len(frames),
        "frames_with_faces": len(with_face),
        "frames_marked": len(hits),
    }
    if detected and payload is not None:
        from facegraft.provenance.marking import describe

        report["payload"] = {"engine": f"{payload.engine:02x}", "job": f"{payload.job:04x}"}
        if written:
            report["matches_metadata"] = describe(payload) in written
    return report
