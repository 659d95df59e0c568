"""Aligned face PNGs that carry their face id, so a faceset folder can be matched back to the store.

Extraction writes one per face per frame, so they go through facegraft's fast encoder (`io.png`), with the
tags in ``tEXt`` chunks (``iTXt`` for non-Latin-1 values) named ``facegraft/<key>`` after IHDR.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.png import SIGNATURE as _SIGNATURE
from facegraft.io.png import chunk as _chunk
from facegraft.io.png import encode_png

PREFIX = "facegraft/"


def face_image_name(frame: int, index: int) -> str:
    """The file name of a face image: ``000123_0.png`` (negative frames: ``-00001_0.png``)."""
    return f"{int(frame):06d}_{int(index)}.png"


def _text_chunk(key: str, value: str) -> bytes:
    keyword = (PREFIX + key).encode("latin-1")
    if not 1 <= len(keyword) <= 79 or b"\0" in keyword:
        raise InputError(f"bad face image tag name {key!r}")
    try:
        return _chunk(b"tEXt", keyword + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # iTXt: keyword, no compression, no language tag, no translated keyword, UTF-8 text.
        return _chunk(b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8"))


def encode_face_png(rgb: np.ndarray, tags: Mapping[str, str | int]) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB face with ``facegraft/<key>`` text chunks."""
    a = np.asarray(rgb)
    if a.ndim != 3:  # encode_png also takes grey images; a face is always RGB
        raise InputError(f"a face image must be (H, W, 3) uint8 RGB, got {a.dtype} {a.shape}")
    try:
        return encode_png(a, b"".join(_text_chunk(str(k), str(v)) for k, v in tags.items()))
    except ValueError:
        raise InputError(f"a face image must be (H, W, 3) uint8 RGB, got {a.dtype} {a.shape}") from None


def write_face_image(path: str | Path, rgb: np.ndarray, tags: Mapping[str, str | int]) -> None:
    """Write a tagged face PNG to a temporary name in the same folder, then rename it into place."""
    write_bytes_atomic(path, encode_face_png(rgb, tags), "the face image")


def read_face_png(path: str | Path) -> np.ndarray:
    """The pixels of a face image as (H, W, 3) uint8 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError("cannot read this face image", str(path))
    return np.ascontiguousarray(bgr[:, :, ::-1])


def read_face_tags(path: str | Path) -> dict[str, str]:
    """The ``facegraft/*`` text tags of a PNG, keys without the prefix ({} when it has none)."""
    tags: dict[str, str] = {}
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != _SIGNATURE:
                raise InputError("not a PNG file", str(path))
            while True:
                head = fh.read(8)
                if len(head) < 8:
                    raise InputError("truncated PNG (no IEND chunk)", str(path))
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IEND":
                    return tags
                if kind in (b"tEXt", b"zTXt", b"iTXt"):
                    data = fh.read(length)
                    if len(data) < length:
                        raise InputError("truncated PNG", str(path))
                    parsed = _parse_text(kind, data)
                    if parsed and parsed[0].startswith(PREFIX):
                        tags[parsed[0][len(PREFIX) :]] = parsed[1]
                    fh.seek(4, os.SEEK_CUR)
                else:
                    fh.seek(length + 4, os.SEEK_CUR)
    except OSError as exc:
        raise InputError(f"cannot read this face image ({exc.strerror or exc})", str(path)) from exc


def _parse_text(kind: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt/zTXt/iTXt chunk body, None when malformed."""
    key, sep, rest = data.partition(b"\0")
    if not sep:
        return None
    try:
        if kind == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        compressed = rest[0]
        _, _, after_lang = rest[2:].partition(b"\0")
        _, _, text = after_lang.partition(b"\0")
        return key.decode("latin-1"), (zlib.decompress(text) if compressed else text).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, IndexError):
        return None


def retag_face_png(data: bytes, tags: Mapping[str, str | int]) -> bytes:
    """The PNG with its ``facegraft/*`` text chunks replaced by `tags`; the pixels stay byte-identical."""
    if data[:8] != _SIGNATURE:
        raise InputError("not a PNG file")
    kept, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise InputError("truncated PNG")
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            parsed = _parse_text(kind, data[pos + 8 : pos + 8 + length])
            if parsed and parsed[0].startswith(PREFIX):
                pos = end
                continue
        kept.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    if not kept or kept[0][4:8] != b"IHDR" or kept[-1][4:8] != b"IEND":
        raise InputError("malformed PNG (no IHDR or IEND chunk)")
    text = b"".join(_text_chunk(str(k), str(v)) for k, v in tags.items())
    return _SIGNATURE + kept[0] + text + b"".join(kept[1:])
