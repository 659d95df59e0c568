"""Is an image file completely written? Checked from its bytes with the standard library alone.

OpenEXR writes the chunk offset table as zeros first and fills it in when the file is closed, so a single-
part scanline or one-level tiled EXR is complete when every offset is set and the last chunk ends inside
the file. A PNG is complete when it ends with its IEND chunk. Other formats are judged by a stable size.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

EXR_MAGIC = 20000630
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _attributes(data: bytes, pos: int) -> tuple[dict[str, tuple[str, bytes]], int]:
    attrs = {}
    while True:
        end = data.index(b"\0", pos)
        name = data[pos:end].decode("latin-1")
        pos = end + 1
        if not name:
            return attrs, pos
        end = data.index(b"\0", pos)
        kind = data[pos:end].decode("latin-1")
        (size,) = struct.unpack_from("<i", data, end + 1)
        pos = end + 5
        if size < 0 or pos + size > len(data):
            raise ValueError("attribute runs past the end")
        attrs[name] = (kind, data[pos : pos + size])
        pos += size


def exr_state(path: str | Path) -> str:
    """'complete', 'incomplete', 'unknown' (a layout this check does not read) or 'invalid'."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return "incomplete"
    if len(data) < 8:
        return "incomplete"
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != EXR_MAGIC:
        return "invalid"
    if version & (0x800 | 0x1000):  # deep or multi-part: judged by a stable size only
        return "unknown"
    try:
        attrs, pos = _attributes(data, 8)
        x0, y0, x1, y1 = struct.unpack("<iiii", attrs["dataWindow"][1])
        (compression,) = attrs["compression"][1][:1]
        if version & 0x200:
            tw, th, mode = struct.unpack_from("<IIB", attrs["tiles"][1])
            if mode & 0x0F != 0:
                return "unknown"  # mipmap/ripmap levels
            chunks = math.ceil((x1 - x0 + 1) / tw) * math.ceil((y1 - y0 + 1) / th)
            chunk_head = 20
        else:
            chunks = math.ceil((y1 - y0 + 1) / _LINES_PER_CHUNK[compression])
            chunk_head = 8
    except (ValueError, KeyError, struct.error, IndexError):
        return "incomplete" if len(data) < 1 << 16 else "invalid"
    if pos + 8 * chunks > len(data):
        return "incomplete"
    offsets = struct.unpack_from(f"<{chunks}Q", data, pos)
    if min(offsets) == 0:
        return "incomplete"
    last = max(offsets)
    if last + chunk_head > len(data):
        return "incomplete"
    (size,) = struct.unpack_from("<i", data, last + chunk_head - 4)
    return "complete" if last + chunk_head + size <= len(data) else "incomplete"


def png_state(path: str | Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 12))
            tail = fh.read(12)
    except OSError:
        return "incomplete"
    if head != b"\x89PNG\r\n\x1a\n":
        return "incomplete" if size < 8 else "invalid"
    return "complete" if tail == _PNG_END else "incomplete"


def file_state(path: str | Path) -> str:
    """'complete', 'incomplete', 'invalid' or 'unknown' for an image file, by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        return exr_state(path)
    if suffix == ".png":
        return png_state(path)
    return "unknown"
