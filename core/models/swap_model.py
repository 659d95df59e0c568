"""A trained model loaded for merging: the latest verified save, its config, and a hash that names it.

The hash is the SHA-256 of the save's manifest (which lists the SHA-256 of every weight file), so two
saves with the same weights have the same hash and any retrained weights a different one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facegraft.errors import InputError
from facegraft.models.checkpoint import MANIFEST, CheckpointStore
from facegraft.models.networks import FaceSwapModel, ModelConfig, build_model


@dataclass
class SwapModel:
    """A model ready to swap faces: `predict` takes aligned destination faces, returns swaps and masks."""

    model: FaceSwapModel
    config: ModelConfig
    hash: str
    iteration: int
    folder: Path

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def face_type(self) -> str:
        return self.config.face_type

    def predict(self, faces: np.ndarray, control: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(N, R, R, 3) float32 0..1 working-encoded faces -> swapped faces (N, R, R, 3) float32 0..1 and
        learned masks (N, R, R) float32 0..1. `control` renders them through their own (destination) path."""
        if len(faces) == 0:
            r = self.resolution
            return np.zeros((0, r, r, 3), np.float32), np.zeros((0, r, r), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(faces, np.float32)).permute(0, 3, 1, 2)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            face, mask = (self.model.reconstruct_dst if control else self.model.swap)(x)
        face = face.float().permute(0, 2, 3, 1).contiguous().numpy()
        return face, mask.float()[:, 0].contiguous().numpy()


def load_swap_model(model_dir: str | Path) -> SwapModel:
    """The latest good save of `model_dir` in eval mode; InputError naming the folder when there is none."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise InputError("no such model folder", folder)
    ckpt = CheckpointStore(folder).load_latest(fallback=True)
    if ckpt is None:
        raise InputError("the model folder holds no saved model (train it first)", folder)
    try:
        config = ModelConfig.from_dict(ckpt.state["config"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"the save has no usable model config ({exc})", ckpt.folder) from exc
    model = build_model(config)
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as exc:
        raise InputError(
            f"the weights do not fit the saved config ({str(exc).splitlines()[0]})", ckpt.folder
        ) from exc
    model.eval().to(memory_format=torch.channels_last)
    digest = hashlib.sha256((ckpt.folder / MANIFEST).read_bytes()).hexdigest()
    return SwapModel(model, config, digest, int(ckpt.iteration), ckpt.folder)
