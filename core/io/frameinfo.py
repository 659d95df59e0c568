"""The identity of one plate frame: its number and, for video, its presentation time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameInfo:
    """Frame number plus presentation time in seconds, raw pts and time base ("1/90000") where known."""

    frame: int
    pts: float | None = None
    pts_raw: int | None = None
    time_base: str | None = None
