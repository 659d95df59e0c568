"""The loss plot written beside a checkpoint (by the swap and the mask trainers): the loss history on a
log scale, raw and smoothed, as a PNG written atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.png import encode_png


def loss_plot(history: list[float], width: int = 640, height: int = 240) -> np.ndarray:
    """(H, W, 3) uint8 plot of the loss history on a log scale, raw in grey and smoothed in white."""
    img = np.full((height, width, 3), 24, np.uint8)
    if len(history) < 2:
        return img
    y = np.log10(np.maximum(np.asarray(history, np.float64), 1e-8))
    k = max(1, len(y) // 50)
    smooth = np.convolve(y, np.ones(k) / k, mode="valid")
    lo, hi = float(y.min()), float(y.max()) + 1e-9
    pad = 30

    def pts(v: np.ndarray) -> np.ndarray:
        x = np.linspace(pad, width - 10, len(v))
        yy = height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)
        return np.stack([x, yy], 1).astype(np.int32)

    cv2.polylines(img, [pts(y)], False, (110, 110, 110), 1, cv2.LINE_AA)
    cv2.polylines(img, [pts(smooth)], False, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(img, f"loss {10**hi:.4f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 200, 200), 1)
    cv2.putText(
        img,
        f"{10**lo:.4f}   steps 0..{len(history)}",
        (4, height - 8),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.4,
        (200, 200, 200),
        1,
    )
    return img


def write_loss_plot(history: list[float], path: Path) -> None:
    """The loss plot as a PNG at `path`."""
    write_bytes_atomic(path, encode_png(loss_plot(history)), "the loss plot")
