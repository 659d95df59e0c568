"""The per-frame wire format of the engine service: a fixed little-endian header, JSON options, pixels.

Version 1 header, 40 bytes (``HEADER``): magic ``b"FGFR"``, version u16, header size u16, width u32,
height u32, channels u16, dtype u16 (1 = float32), frame i32, request id u64, options length u32,
reserved u32 (0). Then ``options length`` bytes of UTF-8 JSON, then ``height x width x channels`` float32
pixels, rows top-down. A reply uses the same layout (its JSON says what was done). Parsing is a pure
function that either returns a request or raises ProtocolError with the reason; it never trusts a
length before checking it against the limits and the bytes actually present.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"FGFR"
VERSION = 1
HEADER = struct.Struct("<4sHHIIHHiQII")
DTYPE_FLOAT32 = 1
MAX_SIDE = 16384
MAX_PIXELS = 8192 * 8192
MAX_OPTIONS = 1 << 20
CHANNELS = (1, 3, 4)


class ProtocolError(ValueError):
    """A malformed frame message; `status` is the HTTP status to answer with (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class FrameMessage:
    """A decoded frame message: pixels (H, W, C) float32, the frame number, request id and options."""

    pixels: np.ndarray
    frame: int = 0
    request_id: int = 0
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Header:
    """The fixed header's fields, checked."""

    width: int
    height: int
    channels: int
    frame: int
    request_id: int
    options_length: int

    @property
    def pixel_bytes(self) -> int:
        return self.width * self.height * self.channels * 4

    @property
    def total(self) -> int:
        return HEADER.size + self.options_length + self.pixel_bytes


def parse_header(data: bytes) -> Header:
    """Check and decode the fixed header at the start of `data` (which may hold only the header)."""
    if len(data) < HEADER.size:
        raise ProtocolError(f"truncated header: {len(data)} bytes, a header is {HEADER.size}")
    magic, version, size, width, height, channels, dtype, frame, request_id, opt_len, reserved = (
        HEADER.unpack_from(data)
    )
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {magic!r} (expected {MAGIC!r}): not a facegraft frame message")
    if version != VERSION:
        raise ProtocolError(f"unsupported protocol version {version} (this service speaks {VERSION})")
    if size != HEADER.size:
        raise ProtocolError(f"header size {size} does not match version {version} ({HEADER.size})")
    if dtype != DTYPE_FLOAT32:
        raise ProtocolError(f"unsupported pixel type {dtype} (1 = float32 is the only one)")
    if channels not in CHANNELS:
        raise ProtocolError(f"unsupported channel count {channels} (1, 3 or 4)")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ProtocolError(f"image size {width}x{height} outside 1..{MAX_SIDE}", 413)
    if width * height > MAX_PIXELS:
        raise ProtocolError(f"image of {width * height} pixels is over the limit of {MAX_PIXELS}", 413)
    if opt_len > MAX_OPTIONS:
        raise ProtocolError(f"options of {opt_len} bytes are over the limit of {MAX_OPTIONS}", 413)
    if reserved != 0:
        raise ProtocolError("reserved header field must be 0")
    return Header(width, height, channels, frame, request_id, opt_len)


def parse_message(data: bytes) -> FrameMessage:
    """Decode a whole message; the body must hold exactly what the header declares."""
    head = parse_header(data)
    if len(data) != head.total:
        word = "short" if len(data) < head.total else "long"
        raise ProtocolError(f"body is {len(data)} bytes, the header declares {head.total} (too {word})")
    raw = data[HEADER.size : HEADER.size + head.options_length]
    options: dict = {}
    if raw:
        try:
            options = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"options are not UTF-8 JSON ({exc})") from exc
        if not isinstance(options, dict):
            raise ProtocolError("options must be a JSON object")
    start = HEADER.size + head.options_length
    pixels = np.frombuffer(data, "<f4", count=head.pixel_bytes // 4, offset=start)
    return FrameMessage(
        pixels.reshape(head.height, head.width, head.channels).astype(np.float32),
        head.frame,
        head.request_id,
        options,
    )


def build_message(
    pixels: np.ndarray, frame: int = 0, request_id: int = 0, options: dict | None = None
) -> bytes:
    """Encode (H, W, C) or (H, W) float pixels and JSON options as one message."""
    a = np.asarray(pixels, np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    blob = json.dumps(options or {}, separators=(",", ":")).encode("utf-8")
    head = HEADER.pack(
        MAGIC, VERSION, HEADER.size, w, h, c, DTYPE_FLOAT32, int(frame), int(request_id), len(blob), 0
    )
    return head + blob + np.ascontiguousarray(a, "<f4").tobytes()
