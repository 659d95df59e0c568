"""Training batches: pairs of (warped input, target, mask) for source and destination faces.

Pure numpy on uint8 facesets; each batch is drawn from an explicit seed, so a run is reproducible and a
worker process can produce batches on its own (`batch_for_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegraft.extract.masks import components_mask
from facegraft.merge.colour_transfer import COLOUR_TRANSFERS, colour_transfer
from facegraft.options import opt
from facegraft.train.augment import clahe, flip, lab_shift, random_warp
from facegraft.train.faceset import Faceset, yaw_balanced_weights


@dataclass
class SampleOptions:
    """Augmentation options, declared once for the CLI, the service and panels."""

    random_warp: bool = opt(
        True, "bend inputs with a smooth random grid (the model learns faces, not pixels)"
    )
    random_flip: bool = opt(True, "mirror half of the faces left/right")
    colour_aug: bool = opt(True, "random LAB lightness and a/b shifts")
    clahe_chance: float = opt(0.0, "probability of contrast-limited equalisation of a face")
    ct_mode: str = opt(
        "none", "recolour source faces like random destination faces", choices=("none", *COLOUR_TRANSFERS)
    )
    yaw_balance: bool = opt(False, "sample faces uniformly over yaw rather than over the faceset")


def _one(
    fs: Faceset, i: int, rng: np.random.Generator, opts: SampleOptions, ref: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    img, lm = fs.images[i], fs.landmarks[i]
    if opts.random_flip and rng.random() < 0.5:
        img, lm = flip(img, lm)
    if ref is not None and opts.ct_mode != "none":
        out = colour_transfer(opts.ct_mode, img.astype(np.float32) / 255, ref.astype(np.float32) / 255)
        img = np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
    if opts.colour_aug:
        img = lab_shift(img, rng)
    if opts.clahe_chance and rng.random() < opts.clahe_chance:
        img = clahe(img)
    warped = random_warp(img, rng) if opts.random_warp else img
    mask = components_mask(lm, img.shape[0])
    return warped, img, mask


def batch_for_seed(
    src: Faceset, dst: Faceset, n: int, seed: int, opts: SampleOptions
) -> dict[str, np.ndarray]:
    """One batch of `n` source and `n` destination samples: `*_in` (N, R, R, 3) float32 0..1 inputs,
    `*_target` the unwarped faces, `*_mask` (N, R, R, 1) float32 face masks from the landmarks."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {
        k: [] for k in ("src_in", "src_target", "src_mask", "dst_in", "dst_target", "dst_mask")
    }
    for name, fs in (("src", src), ("dst", dst)):
        p = yaw_balanced_weights(fs.yaw) if opts.yaw_balance else None
        idx = rng.choice(len(fs), size=n, replace=len(fs) < n, p=p)
        for i in idx:
            ref = dst.images[rng.integers(len(dst))] if name == "src" else None
            x, y, m = _one(fs, int(i), rng, opts, ref)
            out[f"{name}_in"].append(x)
            out[f"{name}_target"].append(y)
            out[f"{name}_mask"].append(m)
    return {
        k: (np.stack(v).astype(np.float32) / 255.0)[..., None]
        if k.endswith("mask")
        else np.stack(v).astype(np.float32) / 255.0
        for k, v in out.items()
    }
