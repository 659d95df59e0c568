"""A fast 8-bit PNG encoder for what extraction writes every frame: aligned faces and their masks.

Rows go through PNG's Up filter (numpy) and are deflated by ISA-L at level 1: a 512x512 face in ~3 ms and
a 512x512 mask in ~0.1 ms, against ~12 ms and ~2 ms through OpenCV's libpng at its fastest useful
settings, for files of the same size or smaller. Any PNG reader decodes them; extra chunks (text tags) go
right after IHDR.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UP = 2  # PNG filter type: each byte minus the byte above it
_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type (grey, truecolour)
_DEFLATE_LEVEL = 1  # ISA-L's levels run 0..3: 1 is as fast as 0 and ~20% smaller on faces; 3 is 10x slower


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def up_filtered(pixels: np.ndarray) -> bytes:
    """The scanlines of an (H, W) or (H, W, C) uint8 image as PNG stores them under the Up filter: each
    row is a filter-type byte, then the row minus the row above (modulo 256; the first row as it is)."""
    h = pixels.shape[0]
    rows = np.ascontiguousarray(pixels).reshape(h, -1)
    out = np.empty((h, rows.shape[1] + 1), np.uint8)
    out[:, 0] = _UP
    out[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
    return out.tobytes()


def encode_png(pixels: np.ndarray, extra_chunks: bytes = b"") -> bytes:
    """PNG bytes of an (H, W) grey or (H, W, 3) RGB uint8 image, with `extra_chunks` after IHDR.

    ValueError for any other shape or type."""
    a = np.asarray(pixels)
    channels = 1 if a.ndim == 2 else (a.shape[2] if a.ndim == 3 else 0)
    if a.dtype != np.uint8 or channels not in _COLOUR_TYPES or 0 in a.shape:
        raise ValueError(f"expected an (H, W) or (H, W, 3) uint8 image, got {a.dtype} {a.shape}")
    ihdr = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 8, _COLOUR_TYPES[channels], 0, 0, 0)
    idat = isal_zlib.compress(up_filtered(a), _DEFLATE_LEVEL)
    return SIGNATURE + chunk(b"IHDR", ihdr) + extra_chunks + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
