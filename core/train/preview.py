"""Training previews: a PNG grid (source, its reconstruction, destination, its reconstruction, the swap)
and a loss plot, written atomically into the model folder."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch


def _write_png(path: Path, rgb: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    os.replace(tmp, path)


def preview_grid(model: torch.nn.Module, batch: dict[str, np.ndarray]) -> np.ndarray:
    """(rows*R, 5*R, 3) uint8: per row source | source rebuilt | destination | destination rebuilt | swap."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        src = torch.from_numpy(batch["src_target"]).permute(0, 3, 1, 2).contiguous()
        dst = torch.from_numpy(batch["dst_target"]).permute(0, 3, 1, 2).contiguous()
        out = model(src, dst)
        swap, _ = model.swap(dst)
    model.train(was_training)
    cols = [src, out["src_rec"], dst, out["dst_rec"], swap]
    rows = [np.hstack([c[i].permute(1, 2, 0).float().numpy() for c in cols]) for i in range(src.shape[0])]
    return np.clip(np.vstack(rows) * 255 + 0.5, 0, 255).astype(np.uint8)


def write_preview(model: torch.nn.Module, batch: dict[str, np.ndarray], path: Path) -> None:
    """The preview grid as a PNG at `path`."""
    _write_png(path, preview_grid(model, batch))


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
    _write_png(path, loss_plot(history))
