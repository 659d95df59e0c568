"""`facegraft verify FILE...`: read back what an output says about itself — the synthetic flag, engine,
model and config hashes, source identity and likeness release — from EXR/PNG/TIFF metadata (OpenImageIO)
or MP4/MOV container tags (PyAV), and its embedded C2PA manifest where there is one."""

from __future__ import annotations

import json
from pathlib import Path

from facegraft.errors import InputError

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


def verify(path: str | Path) -> dict:
    """What the file says about itself: {'file', 'synthetic', 'marked', and the facegraft tags}."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", p)
    from facegraft.provenance.c2pa_manifest import TRAINED_MEDIA
    from facegraft.provenance.c2pa_manifest import read as read_c2pa

    tags = _video_tags(p) if p.suffix.lower() in VIDEO else _image_tags(p)
    manifest = read_c2pa(p)
    ai = manifest is not None and manifest["digital_source_type"] == TRAINED_MEDIA
    return {
        "file": str(p),
        "marked": bool(tags) or manifest is not None,
        "synthetic": tags.get("synthetic") == "true" or ai,
        **{k: v for k, v in sorted(tags.items()) if k != "synthetic"},
        "c2pa": manifest,
    }
