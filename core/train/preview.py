"""Training previews: a PNG grid (source, its reconstruction, destination, its reconstruction, the swap),
written atomically into the model folder (the loss plot beside it is `models.loss_plot`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.png import encode_png


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
    write_bytes_atomic(path, encode_png(preview_grid(model, batch)), "the preview")
