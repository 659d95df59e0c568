"""A trained mask network loaded for use: the latest verified save, refused clearly when it is missing,
damaged or not a mask model; `predict` turns aligned faces into visible-face probabilities."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from facegraft.errors import InputError
from facegraft.mask.network import KIND, MaskConfig, MaskNet, build_mask_net
from facegraft.models.checkpoint import MANIFEST, MODEL_FILE, STATE_FILE, Checkpoint, CheckpointStore

DECISIVE_RAMP = 0.125  # probability span of the stored mask's edge ramp (about a crop pixel wide)


def mask_config_of(ckpt: Checkpoint) -> MaskConfig:
    """The MaskConfig a save records; InputError naming its state file when the save is not a mask model."""
    state_file = ckpt.folder / STATE_FILE
    kind = ckpt.state.get("kind")
    if kind != KIND:
        what = (
            "a face-swap model"
            if kind is None and "arch" in ckpt.state.get("config", {})
            else f"kind {kind!r}"
        )
        raise InputError(f"not a mask model ({what}; train one with facegraft mask train)", state_file)
    try:
        return MaskConfig.from_dict(ckpt.state["config"])
    except (KeyError, TypeError, InputError) as exc:
        raise InputError(f"the save has no usable mask config ({exc})", state_file) from exc


@dataclass
class MaskModel:
    """A mask network ready to predict, with the hash of the save it came from."""

    net: MaskNet
    config: MaskConfig
    hash: str
    iteration: int
    folder: Path

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """(N, R, R, 3) float32 0..1 working-encoded aligned faces -> (N, R, R) float32 0..1 probability
        that each pixel is visible face."""
        if len(faces) == 0:
            r = self.resolution
            return np.zeros((0, r, r), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(faces, np.float32)).permute(0, 3, 1, 2)
        with torch.inference_mode():
            logits = self.net(x.contiguous(memory_format=torch.channels_last))
        return torch.sigmoid(logits.float())[:, 0].contiguous().numpy()

    def predict_crops(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Aligned (S, S, 3) uint8 crops of any sizes -> (S, S) uint8 masks at each crop's own size: the
        probability upsampled to the crop, then made decisive (`decisive`)."""
        r = self.resolution
        small = [cv2.resize(c, (r, r), interpolation=cv2.INTER_AREA) for c in crops]
        probs = self.predict(np.stack(small).astype(np.float32) / 255.0) if crops else []
        out = []
        for crop, p in zip(crops, probs):
            s = crop.shape[0]
            big = p if s == r else cv2.resize(p, (s, s), interpolation=cv2.INTER_LINEAR)
            out.append(np.clip(decisive(big) * 255.0 + 0.5, 0, 255).astype(np.uint8))
        return out


def decisive(probability: np.ndarray, ramp: float = DECISIVE_RAMP) -> np.ndarray:
    """(H, W) float32 0..1 probability -> (H, W) float32 0..1 mask: 0 below 0.5 - ramp/2, 1 above
    0.5 + ramp/2, linear between, i.e. the 0.5 contour with an anti-aliased edge about a pixel wide.

    A probability is a confidence, not a coverage: a hand the network gives a 10% chance of being face
    must not print 10% of the swap over it (DeepFaceLab's XSeg thresholds its masks at 0.5 likewise)."""
    return np.clip((probability - 0.5) / ramp + 0.5, 0.0, 1.0).astype(np.float32)


def load_mask_model(model_dir: str | Path) -> MaskModel:
    """The latest good save of a mask model folder, in eval mode. Refused with an InputError or StoreError
    naming the file when the folder is missing, holds no save, its saves are damaged, or it holds
    another kind of model."""
    folder = Path(model_dir)
    if not folder.exists():
        raise InputError("no such mask model folder", folder)
    if not folder.is_dir():
        raise InputError("not a mask model folder (it is a file)", folder)
    ckpt = CheckpointStore(folder).load_latest(fallback=True)
    if ckpt is None:
        raise InputError("the folder holds no saved mask model (train one with facegraft mask train)", folder)
    config = mask_config_of(ckpt)
    net = build_mask_net(config)
    try:
        CheckpointStore.restore(net, None, ckpt)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(
            f"weights unlike the saved mask config ({reason})", ckpt.folder / MODEL_FILE
        ) from exc
    manifest = (ckpt.folder / MANIFEST).read_bytes()
    return MaskModel(
        net.eval(), config, hashlib.sha256(manifest).hexdigest(), int(ckpt.iteration), ckpt.folder
    )
