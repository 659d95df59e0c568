"""Training batches: pairs of (warped input, target, mask) for source and destination faces.

Pure numpy on uint8 facesets; each batch is drawn from an explicit seed, so a run is reproducible and a
worker process can produce batches on its own (`batch_for_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegraft.geometry.masks import components_mask
from facegraft.imaging.augment import clahe, flip, flip_landmarks, lab_shift, random_warp, warp_to_landmarks
from facegraft.imaging.colour_transfer import COLOUR_TRANSFERS, colour_transfer
from facegraft.options import opt
from facegraft.train.faceset import Faceset, yaw_balanced_weights


@dataclass
class SampleOptions:
    """Augmentation options, declared once for the CLI, the service and panels."""

    random_warp: bool = opt(
        True, "bend inputs with a smooth random grid (the model learns faces, not pixels)"
    )
    warp_to_landmarks: bool = opt(
        False, "bend inputs so their landmarks move towards those of a similar face of the same faceset"
    )
    random_flip: bool = opt(True, "mirror half of the faces left/right")
    colour_aug: bool = opt(True, "random LAB lightness and a/b shifts")
    clahe_chance: float = opt(0.0, "probability of contrast-limited equalisation of a face")
    ct_mode: str = opt(
        "none", "recolour source faces like random destination faces", choices=tuple(COLOUR_TRANSFERS)
    )
    yaw_balance: bool = opt(False, "sample faces uniformly over yaw rather than over the faceset")
    train_mask: str = opt(
        "",
        "stored mask the masked loss uses instead of the landmark mask, e.g. occlusion (facegraft mask "
        "apply): occluders then cost nothing; every face must carry it",
    )
    # Set by the trainer, not a user option: add eye/mouth masks (`*_em`) for the eye/mouth priority loss.
    eye_mouth_masks: bool = False


NEIGHBOURS = 8  # warp-to-landmarks picks its target shape among this many closest faces


def _similar_shape(fs: Faceset, i: int, rng: np.random.Generator) -> np.ndarray | None:
    """The landmarks of a random face among the NEIGHBOURS whose shapes are closest to face i (None when
    the faceset has only one face)."""
    if len(fs) < 2:
        return None
    d = ((fs.landmarks - fs.landmarks[i]) ** 2).sum(axis=(1, 2))
    d[i] = np.inf
    k = min(NEIGHBOURS, len(fs) - 1)
    near = np.argpartition(d, k - 1)[:k]
    return fs.landmarks[int(near[rng.integers(k)])]


def _one(
    fs: Faceset, i: int, rng: np.random.Generator, opts: SampleOptions, ref: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    img, lm = fs.images[i], fs.landmarks[i]
    stored = fs.masks[i] if fs.masks is not None else None
    shape = _similar_shape(fs, i, rng) if opts.warp_to_landmarks else None
    if opts.random_flip and rng.random() < 0.5:
        img, lm = flip(img, lm)
        stored = None if stored is None else np.ascontiguousarray(stored[:, ::-1])
        shape = None if shape is None else flip_landmarks(shape, img.shape[1])
    if ref is not None and opts.ct_mode != "none":
        out = colour_transfer(opts.ct_mode, img.astype(np.float32) / 255, ref.astype(np.float32) / 255)
        img = np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
    if opts.colour_aug:
        img = lab_shift(img, rng)
    if opts.clahe_chance and rng.random() < opts.clahe_chance:
        img = clahe(img)
    warped = img
    if shape is not None:
        warped = warp_to_landmarks(warped, lm, shape, amount=rng.uniform(0.5, 1.0))
    if opts.random_warp:
        warped = random_warp(warped, rng)
    mask = stored if stored is not None else components_mask(lm, img.shape[0])
    return warped, img, mask, lm


def batch_for_seed(
    src: Faceset, dst: Faceset, n: int, seed: int, opts: SampleOptions
) -> dict[str, np.ndarray]:
    """One batch of `n` source and `n` destination samples: `*_in` (N, R, R, 3) float32 0..1 inputs,
    `*_target` the unwarped faces, `*_mask` (N, R, R, 1) float32 face masks (the facesets' stored masks
    when they were loaded with one, `--train-mask`, else drawn from the landmarks), and with
    `opts.eye_mouth_masks` also `*_em` (N, R, R, 1) float32 eye and mouth masks."""
    if opts.eye_mouth_masks:
        from facegraft.train.losses import landmark_region_masks  # torch: kept out of option imports
    rng = np.random.default_rng(seed)
    keys = ("in", "target", "mask", "em") if opts.eye_mouth_masks else ("in", "target", "mask")
    out: dict[str, list] = {f"{who}_{k}": [] for who in ("src", "dst") for k in keys}
    for name, fs in (("src", src), ("dst", dst)):
        p = yaw_balanced_weights(fs.yaw) if opts.yaw_balance else None
        idx = rng.choice(len(fs), size=n, replace=len(fs) < n, p=p)
        for i in idx:
            ref = dst.images[rng.integers(len(dst))] if name == "src" else None
            x, y, m, lm = _one(fs, int(i), rng, opts, ref)
            out[f"{name}_in"].append(x)
            out[f"{name}_target"].append(y)
            out[f"{name}_mask"].append(m)
            if opts.eye_mouth_masks:
                out[f"{name}_em"].append(landmark_region_masks(lm, x.shape[0])[1][0, 0].numpy())
    batch = {}
    for k, v in out.items():
        if k.endswith("_em"):
            batch[k] = np.stack(v)[..., None]
        elif k.endswith("_mask"):
            batch[k] = (np.stack(v).astype(np.float32) / 255.0)[..., None]
        else:
            batch[k] = np.stack(v).astype(np.float32) / 255.0
    return batch
