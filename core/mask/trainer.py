"""`facegraft mask train`: learn the visible face of a shot's faces from a few labelled ones.

The labelled faces (stored mask `label`, or `--label NAME`) are augmented hard (augment.py) and the U-Net
(network.py) is trained with Adam on binary cross-entropy plus a soft Dice term, the Dice term keeping thin
occluders from being drowned by the large easy areas. Saves go through the face models' crash-safe
checkpoint store (safetensors, manifest, atomic LATEST, never a NaN save) with `kind: mask` recorded, so a
resumed run continues where it stopped and a face-swap model folder is never trained over.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from facegraft import __version__
from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.mask.augment import AugmentOptions, batch_for_seed
from facegraft.mask.faces import LabelledFaces, load_labelled
from facegraft.mask.model import mask_config_of
from facegraft.mask.network import KIND, MaskConfig, build_mask_net
from facegraft.mask.options import MaskTrainOptions
from facegraft.models.checkpoint import CheckpointStore
from facegraft.models.loss_plot import write_loss_plot
from facegraft.progress import Progress

PREVIEW_FACES = 4


@dataclass
class MaskTrainSummary:
    """What a mask training run did."""

    model_dir: Path
    iteration: int
    labelled_faces: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    resumed_from: int | None = None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model_dir"] = str(self.model_dir)
        return d


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss: logits and target (N, 1, R, R), target 0..1 -> scalar."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2, 3))
    dice = 1.0 - (2.0 * inter + 1.0) / (p.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1.0)
    return bce + dice.mean()


def preview_grid(net: torch.nn.Module, faces: LabelledFaces) -> np.ndarray:
    """(rows*R, 3*R, 3) uint8: per labelled face the face | its label over it | the prediction over it
    (non-face darkened and tinted red, so a missed occluder shows as a bright patch)."""
    x = torch.from_numpy(faces.images[:PREVIEW_FACES].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    x = x.to(next(net.parameters()).device)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        pred = torch.sigmoid(net(x.contiguous(memory_format=torch.channels_last)).float())[:, 0].cpu().numpy()
    net.train(was_training)
    rows = []
    for img, label, p in zip(faces.images, faces.masks, pred):
        cells = [img]
        for m in (label.astype(np.float32) / 255.0, p):
            shade = 0.35 + 0.65 * m[..., None]
            cells.append(np.clip(img * shade + (1 - m[..., None]) * [90, 0, 0], 0, 255).astype(np.uint8))
        rows.append(np.hstack(cells))
    return np.vstack(rows)


def _check_resume(store: CheckpointStore, cfg: MaskConfig, model_dir: Path):
    """The latest save to resume from (None for a new model) after checking it is a mask model of the
    same shape and face type."""
    latest = store.load_latest(fallback=True)
    if latest is None:
        return None
    saved = mask_config_of(latest)
    changed = [f"{k}={v}" for k, v in saved.to_dict().items() if cfg.to_dict()[k] != v]
    if changed:
        raise InputError(
            f"the mask model was created with {', '.join(changed)}; keep them to resume or train into a "
            "new folder",
            model_dir,
        )
    return latest


def train_mask(
    shots: Sequence[str | Path],
    model_dir: str | Path,
    opts: MaskTrainOptions | None = None,
    progress_mode: str = "auto",
) -> MaskTrainSummary:
    """Train (or resume) the mask network in `model_dir` on the labelled faces of `shots`."""
    opts = opts or MaskTrainOptions()
    opts.validate()
    torch.set_flush_denormal(True)  # denormals made optimiser steps take hundreds of ms on CPU
    torch.manual_seed(opts.seed)
    torch.set_num_threads(opts.threads or max(1, os.cpu_count() or 1))
    faces = load_labelled(shots, opts.resolution, opts.label)
    cfg = MaskConfig(opts.resolution, opts.dims, faces.face_type)
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    store = CheckpointStore(model_dir, keep=opts.keep)
    latest = _check_resume(store, cfg, model_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = build_mask_net(cfg).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    iteration, history = 0, []
    if latest is not None:
        store.restore(net, optimizer, latest)
        iteration, history = int(latest.iteration), list(latest.state.get("loss_history", []))
    resumed_from = iteration if latest is not None else None
    bf16 = opts.use_bf16(cuda=device.type == "cuda")
    augment = AugmentOptions(
        flip=opts.random_flip, occluder_chance=opts.occluder_chance, blur_chance=opts.blur_chance
    )
    target = opts.iterations if opts.iterations > 0 else None
    progress = Progress(max((target or 0) - iteration, 0), "mask-train", progress_mode, unit="steps")
    start, first_loss, last_loss = time.monotonic(), None, None
    deadline = start + opts.minutes * 60 if opts.minutes > 0 else math.inf

    def save() -> None:
        state = {
            "kind": KIND,
            "config": cfg.to_dict(),
            "loss_history": history[-5000:],
            "engine": __version__,
            "options": dataclasses.asdict(opts),
            "labelled_faces": [list(o) for o in faces.origins],
        }
        store.save(net, optimizer, iteration, state, last_loss)
        write_bytes_atomic(model_dir / "preview.png", _png(preview_grid(net, faces)), "the preview")
        write_loss_plot(history, model_dir / "loss.png")

    net.train()
    try:
        while (target is None or iteration < target) and time.monotonic() < deadline:
            seed = opts.seed * 1_000_003 + iteration
            x, y = batch_for_seed(faces.images, faces.masks, opts.batch, seed, augment)
            xt = (
                torch.from_numpy(x)
                .to(device)
                .permute(0, 3, 1, 2)
                .contiguous(memory_format=torch.channels_last)
            )
            yt = torch.from_numpy(y).to(device)[:, None]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = net(xt)
            loss = segmentation_loss(logits.float(), yt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            iteration += 1
            last_loss = float(loss.detach())
            first_loss = last_loss if first_loss is None else first_loss
            history.append(last_loss)
            progress.update(1, it=iteration, loss=f"{last_loss:.4f}")
            if iteration % opts.save_every == 0:
                save()
            elif iteration % opts.preview_every == 0:
                write_bytes_atomic(model_dir / "preview.png", _png(preview_grid(net, faces)), "the preview")
    except BaseException:
        progress.fail()
        raise
    if (resumed_from is None or iteration > resumed_from) and iteration % opts.save_every:
        save()
    progress.close()
    return MaskTrainSummary(
        model_dir, iteration, len(faces), first_loss, last_loss, time.monotonic() - start, resumed_from
    )


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise InputError("could not PNG-encode the preview")
    return buf.tobytes()
