"""The colour modes of merge (`convert --colour`), one table: every registered colour transfer (``none``
among them), with statistics pooled over the face's colour window, and ``seamless``, Poisson blending
inside the mask that uses this frame only. Convert reads a mode's `pooled` to know whether neighbouring
frames are needed; nothing else special-cases a mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import cv2
import numpy as np

from facegraft.imaging.colour_transfer import COLOUR_TRANSFERS, colour_transfer
from facegraft.registry import lookup


@dataclass(frozen=True)
class ColourMode:
    """How a mode recolours one prepared face (its `swap` towards its `crop` inside its `raw` mask), and
    whether it pools the statistics of other faces (the colour window)."""

    apply: Callable[[Any, Sequence[Any]], np.ndarray]
    pooled: bool


def _transfer(name: str, face: Any, pool: Sequence[Any]) -> np.ndarray:
    """The transfer `name` with statistics over this face and `pool` (the track's neighbouring faces)."""
    faces = [face, *pool]
    src = np.concatenate([f.swap for f in faces], axis=0)
    ref = np.concatenate([f.crop for f in faces], axis=0)
    mask = np.concatenate([f.raw for f in faces], axis=0)
    out = colour_transfer(name, src, ref, mask, mask)
    return out[: face.swap.shape[0]].astype(np.float32)


def _seamless(face: Any, pool: Sequence[Any] = ()) -> np.ndarray:
    """Poisson blending of the swap into the plate's face inside the (slightly eroded) mask."""
    mask = (face.raw > 0.5).astype(np.uint8) * 255
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    if cv2.countNonZero(mask) < 16:
        return face.swap
    x, y, w, h = cv2.boundingRect(mask)
    to_u8 = lambda img: np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    out = cv2.seamlessClone(
        to_u8(face.swap), to_u8(face.crop), mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE
    )
    return out.astype(np.float32) / 255.0


RECOLOUR_MODES: dict[str, ColourMode] = {
    **{name: ColourMode(partial(_transfer, name), pooled=name != "none") for name in COLOUR_TRANSFERS},
    "seamless": ColourMode(_seamless, pooled=False),
}


def recolour(face: Any, mode: str, pool: Sequence[Any] = ()) -> np.ndarray:
    """The swap of a prepared face recoloured to match the plate's face: (R, R, 3) float32, working
    encoding. `pool`: the same track's faces on neighbouring frames, or a sample of the shot, so that the
    statistics change slowly over time (used by pooled modes only)."""
    return lookup(RECOLOUR_MODES, mode, "colour mode").apply(face, pool)
